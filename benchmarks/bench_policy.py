"""Policy decision latency: embedded (default and seed bundles, cached and uncached) and remote.

    python benchmarks/bench_policy.py [--quick]

Each case decides the same operation N times on one warmed-up engine and reports p50/p99 in
microseconds. Default bundle: "allow" is a PROPRIETARY frame exported to governed storage;
"deny" is the seed's PROPRIETARY [PII, GDPR] frame exported to ~/Downloads, which also builds
the explanation (why this matters, three runnable alternatives); "read" is an operation the
baseline policy allows. "cached" repeats one operation (a cache hit after the first);
"uncached" runs with the cache off. Seed bundle (lacuna/policies/examples/seed): its
time-based policy reads the clock, so it is never cached. Remote: the same decisions through
the Data API of tests/policy/opa_standin.py (a stand-in for OPA that evaluates the generated
aggregator with regorus) on 127.0.0.1, kept-alive connection. Prints one markdown section.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from lacuna.config import Config
from lacuna.destinations import classify_destination
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Operation,
    Sensitivity,
    Source,
    Tier,
    User,
)
from lacuna.policy import PolicyEngine, build_input, seed_bundle_root
from lacuna.policy.aggregate import FILENAME, RULE
from lacuna.policy.compile import compile_bundle
from lacuna.policy.engine import settings_from_config
from lacuna.policy.opa_bundle import write_opa_bundle
from lacuna.policy.remote import RemoteEngine


def operation(config: Config, action: Action, target: str | None) -> Operation:
    pii = {
        name: ColumnClass(classification=ColumnKind.PII, pii_type=name,
                          sensitivity=Sensitivity.HIGH)
        for name in ("email", "phone", "address")
    }
    columns = {**pii, "customer_id": ColumnClass(classification=ColumnKind.IDENTIFIER),
               "region": ColumnClass()}
    c = Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR"), columns=columns)
    return Operation(
        action=action, user=User(id="analyst_alice", role="data_analyst"), classification=c,
        sources=(Source(name="customers.csv", classification=c),),
        destination=classify_destination(target, config.destinations) if target else None,
        method="pandas.DataFrame.to_csv", variable="df", code_location="analysis.py:12",
    )


def percentiles(fn: Callable[[], object], n: int) -> tuple[float, float, float]:
    for _ in range(min(200, n)):  # warm-up: caches, branch predictors, the thread's engine
        fn()
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t = time.perf_counter_ns()
            fn()
            samples.append((time.perf_counter_ns() - t) / 1000.0)
    finally:
        gc.enable()
    samples.sort()
    return (statistics.median(samples), samples[int(len(samples) * 0.99) - 1],
            statistics.fmean(samples))


def standin_class() -> type:
    path = Path(__file__).resolve().parent.parent / "tests" / "policy" / "opa_standin.py"
    spec = importlib.util.spec_from_file_location("opa_standin", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["opa_standin"] = module
    spec.loader.exec_module(module)
    return module.OpaStandIn  # type: ignore[no-any-return]


def seed_inputs() -> dict[str, dict[str, object]]:
    customers = {"classification": "PROPRIETARY", "tags": ["PII", "GDPR"]}
    downloads = {"type": "file", "encrypted": False, "scope": "external", "managed": False}
    return {
        "export denied (P-2024-001, ~/Downloads)": {
            "action": "export", "environment": "production", "source": customers,
            "destination": downloads, "user": {"id": "alice", "role": "data_analyst"}},
        "export allowed by the marketing domain": {
            "action": "export", "environment": "production",
            "source": {"classification": "INTERNAL", "tags": ["MARKETING"]},
            "destination": {"type": "marketing_automation_platform", "scope": "external"},
            "user": {"id": "mia", "department": "marketing"}},
        "read of old customer data denied (time-based)": {
            "action": "read", "environment": "production",
            "source": {"classification": "INTERNAL", "tags": ["CUSTOMER_DATA"],
                       "created_at": "2020-01-01T00:00:00Z"},
            "user": {"id": "alice", "role": "data_analyst"}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 decisions instead of 5,000")
    args = parser.parse_args()
    n = 500 if args.quick else 5000
    config = Config()
    started = time.perf_counter()
    engine = PolicyEngine.from_config(config)
    load_ms = (time.perf_counter() - started) * 1000
    uncached = PolicyEngine.from_config(config, cache_size=0)
    allow = operation(config, Action.EXPORT, "/governed/workspace/customers.csv")
    deny = operation(config, Action.EXPORT, "~/Downloads/customers.csv")
    read = operation(config, Action.READ, None)
    for op, expected in ((allow, True), (read, True), (deny, False)):
        decision = engine.decide(op)
        if decision.allowed is not expected or decision.engine_error:
            raise SystemExit(f"unexpected decision for {op.action}: {decision.reasoning}")
    rows: list[tuple[str, str, tuple[float, float, float]]] = []
    for label, op in (("export allowed (governed storage)", allow),
                      ("export denied (~/Downloads, with explanation)", deny),
                      ("read allowed (baseline)", read)):
        rows.append(("default", f"{label}, uncached",
                     percentiles(lambda op=op: uncached.decide(op), n)))
        rows.append(("default", f"{label}, cached",
                     percentiles(lambda op=op: engine.decide(op), n)))
    seed = PolicyEngine(seed_bundle_root(), settings=settings_from_config(config),
                        docs_url=config.docs_url)
    for label, doc in seed_inputs().items():
        rows.append(("seed", f"{label}, never cached",
                     percentiles(lambda doc=doc: seed.evaluate(doc), n)))
    rows.append(("-", "build_input only", percentiles(lambda: build_input(deny), n)))
    rows.append(("-", "classify_destination only", percentiles(
        lambda: classify_destination("~/Downloads/customers.csv", config.destinations), n)))

    rego = compile_bundle(engine.bundle, engine.data)
    rego.add_policy(FILENAME, engine.aggregator())
    deny_json = json.dumps(build_input(deny))

    def aggregated() -> object:
        rego.set_input_json(deny_json)
        return rego.eval_rule_as_json(RULE)

    rows.append(("default", "export denied: aggregator Rego in regorus (what OPA evaluates)",
                 percentiles(aggregated, n)))
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "bundle.tar.gz"
        write_opa_bundle(engine, tar)
        server = standin_class()(tar).start()
        try:
            with RemoteEngine(server.url, docs_url=config.docs_url) as remote:
                for op in (allow, deny, read):  # the same decision, or the numbers mean nothing
                    there = replace(remote.decide(op), eval_ms=0.0)
                    if there != replace(engine.decide(op), eval_ms=0.0):
                        raise SystemExit(f"remote and embedded decisions differ: {there}")
                for label, op in (("export allowed", allow), ("export denied", deny),
                                  ("read allowed", read)):
                    rows.append(("default", f"remote (Data API, loopback): {label}",
                                 percentiles(lambda op=op: remote.decide(op), max(n // 5, 100))))
        finally:
            server.stop()
    print("## Policy decisions\n")
    print(f"regorus in-process; default bundle revision `{engine.revision}` "
          f"({len(engine.packages)} policy packages, load and compile {load_ms:.1f} ms); seed "
          f"bundle revision `{seed.revision}` ({len(seed.packages)} policy packages). {n:,} "
          f"decisions per embedded case, {max(n // 5, 100):,} per remote case; one thread; "
          f"Python {platform.python_version()}. Target: embedded p50 ≤ 50 µs, p99 ≤ 250 µs.\n")
    print("| bundle | case | p50 (µs) | p99 (µs) | mean (µs) |")
    print("|---|---|---:|---:|---:|")
    for bundle, label, (p50, p99, mean) in rows:
        print(f"| {bundle} | {label} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")
    print()


if __name__ == "__main__":
    main()
