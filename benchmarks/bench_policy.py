"""Policy decision latency on the default bundle: allow and deny, plus building the input.

    python benchmarks/bench_policy.py [--quick]

Each case decides the same operation N times on one warmed-up engine (regorus, in-process) and
reports p50/p99 in microseconds. "allow" is a PROPRIETARY frame exported to governed storage;
"deny" is the seed's PROPRIETARY [PII, GDPR] frame exported to ~/Downloads, which also builds
the explanation (why this matters, three runnable alternatives). "read" is an operation the
baseline policy allows. Prints one markdown section to stdout.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from collections.abc import Callable

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
from lacuna.policy import PolicyEngine, build_input


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 decisions instead of 5,000")
    args = parser.parse_args()
    n = 500 if args.quick else 5000
    config = Config()
    started = time.perf_counter()
    engine = PolicyEngine.from_config(config)
    load_ms = (time.perf_counter() - started) * 1000
    allow = operation(config, Action.EXPORT, "/governed/workspace/customers.csv")
    deny = operation(config, Action.EXPORT, "~/Downloads/customers.csv")
    read = operation(config, Action.READ, None)
    for op, expected in ((allow, True), (read, True), (deny, False)):
        decision = engine.decide(op)
        if decision.allowed is not expected or decision.engine_error:
            raise SystemExit(f"unexpected decision for {op.action}: {decision.reasoning}")
    rows = [
        ("decide: export allowed (governed storage)", percentiles(lambda: engine.decide(allow), n)),
        ("decide: export denied (~/Downloads, with explanation)",
         percentiles(lambda: engine.decide(deny), n)),
        ("decide: read allowed (baseline)", percentiles(lambda: engine.decide(read), n)),
        ("build_input only", percentiles(lambda: build_input(deny), n)),
        ("classify_destination only", percentiles(
            lambda: classify_destination("~/Downloads/customers.csv", config.destinations), n)),
    ]
    print("## Policy decisions\n")
    print(f"Default bundle (revision `{engine.revision}`, {len(engine.packages)} policy packages), "
          f"regorus in-process, {n:,} decisions per case, one thread, Python "
          f"{platform.python_version()}. Bundle load and compile: {load_ms:.1f} ms.\n")
    print("| case | p50 (µs) | p99 (µs) | mean (µs) |")
    print("|---|---:|---:|---:|")
    for label, (p50, p99, mean) in rows:
        print(f"| {label} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")
    print()


if __name__ == "__main__":
    main()
