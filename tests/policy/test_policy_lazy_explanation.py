"""A denial's ``why`` and ``alternatives`` are evaluated when first read, not when decided.

The embedded engine decides with the votes and deny messages only and hands the decision a lazy
:class:`~lacuna.model.Explanation`. These tests hold it to the eager answer (a table of
operations and the seed's golden inputs), across threads, through the cache, the audit trail
and the decision log, and check that a failure to explain never changes the decision.
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from policy_seed_cases import SEED_CASES, load, seed_engine

from lacuna.config import Config
from lacuna.destinations import classify_destination
from lacuna.model import (
    EXPLANATION_UNAVAILABLE,
    Action,
    Alternative,
    Classification,
    ColumnClass,
    ColumnKind,
    Decision,
    Explanation,
    Operation,
    Sensitivity,
    Source,
    Tier,
    User,
)
from lacuna.policy import PolicyEngine, build_input
from lacuna.policy.compile import compile_bundle
from lacuna.policy.decide import decide as decide_eagerly
from lacuna.policy.decision_log import MemoryDecisionLog

CONFIG = Config()


def _operation(tier: Tier, tags: tuple[str, ...], action: Action, target: str | None, *,
               exception: bool = False, columns: bool = True) -> Operation:
    cols = {"email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                                 sensitivity=Sensitivity.HIGH),
            "amount": ColumnClass(classification=ColumnKind.FINANCIAL)} if columns else {}
    c = Classification(tier=tier, tags=tags, columns=cols)
    return Operation(
        action=action, user=User(id="alice", role="data_analyst"), classification=c,
        sources=(Source(name="customers.csv", classification=c),),
        destination=classify_destination(target, CONFIG.destinations) if target else None,
        method="pandas.DataFrame.to_csv", variable="df", code_location="analysis.py:12",
        exception_id="EXC-1" if exception else None)


# (label, operation): denials of each shape the default bundle explains, and allows.
CASES = [
    ("proprietary PII to Downloads", _operation(
        Tier.PROPRIETARY, ("PII", "GDPR"), Action.EXPORT, "~/Downloads/customers.csv")),
    ("proprietary PII written to /tmp", _operation(
        Tier.PROPRIETARY, ("PII",), Action.WRITE, "/tmp/out.parquet")),
    ("proprietary, no PII, to S3", _operation(
        Tier.PROPRIETARY, ("FINANCIAL",), Action.EXPORT, "s3://outside-bucket/x.csv")),
    ("proprietary PII, HIPAA, to HTTP", _operation(
        Tier.PROPRIETARY, ("PII", "PHI", "HIPAA"), Action.EXPORT, "https://example.org/up")),
    ("internal data outside", _operation(
        Tier.INTERNAL, (), Action.EXPORT, "https://example.org/upload")),
    ("internal data, no columns, to Downloads", _operation(
        Tier.INTERNAL, ("CCPA",), Action.EXPORT, "~/Downloads/x.csv", columns=False)),
    ("proprietary with an unapproved exception id", _operation(
        Tier.PROPRIETARY, ("PII",), Action.EXPORT, "~/Downloads/x.csv", exception=True)),
    ("proprietary to governed storage (allowed)", _operation(
        Tier.PROPRIETARY, ("PII",), Action.EXPORT, "/governed/workspace/customers.csv")),
    ("public anywhere (allowed)", _operation(Tier.PUBLIC, (), Action.EXPORT, "/tmp/x.csv")),
    ("read (allowed)", _operation(Tier.PROPRIETARY, ("PII",), Action.READ, None)),
]


def _eager(engine: PolicyEngine, doc: dict[str, Any], **grant: Any) -> Decision:
    """The same decision with everything evaluated at once, on the full input (the reference)."""
    rego = compile_bundle(engine.bundle, engine.data)
    return decide_eagerly(rego, engine.packages, doc, operation_id="ref",
                          revision=engine.revision, docs_url=engine.docs_url,
                          started=time.perf_counter())


def _same(lazy: Decision, eager: Decision) -> None:
    assert replace(lazy, eval_ms=0.0, operation_id="x", operation=None) == replace(
        eager, eval_ms=0.0, operation_id="x", operation=None)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.from_config(CONFIG, cache_size=0)


@pytest.mark.parametrize(("label", "op"), CASES, ids=[c[0] for c in CASES])
def test_a_denials_explanation_read_later_equals_the_eager_one(
        engine: PolicyEngine, label: str, op: Operation) -> None:
    decision = engine.decide(op, log=False)
    reference = _eager(engine, build_input(op))
    assert decision.allowed is reference.allowed
    if decision.denied:
        assert not decision.explained, "decided without evaluating why/alternatives"
        assert decision.reasoning == reference.reasoning  # the deny messages are eager
        assert reference.why, f"{label}: the reference explains the denial"
    _same(decision, reference)
    assert decision.explained


@pytest.mark.parametrize("path", SEED_CASES, ids=[p.stem for p in SEED_CASES])
def test_the_seed_bundles_golden_inputs_explain_the_same_lazily(path: Path) -> None:
    engine = seed_engine(cache_size=0)
    doc, expected = load(path)
    decision = engine.evaluate(doc)
    assert decision.allowed is expected["allowed"]
    _same(decision, _eager(engine, doc))


def test_the_explanation_is_evaluated_on_the_thread_that_reads_it(engine: PolicyEngine) -> None:
    """Decided on one thread, explained on others (each with its own regorus engine), at the
    same time, and again with other inputs in between on the deciding thread."""
    op = CASES[0][1]
    decisions = [engine.decide(op, log=False) for _ in range(8)]
    engine.decide(CASES[4][1], log=False)  # the deciding thread's engine has moved on
    reference = _eager(engine, build_input(op))
    barrier = threading.Barrier(8)
    seen: list[tuple[tuple[str, ...], tuple[Alternative, ...]]] = []
    errors: list[BaseException] = []

    def read(decision: Decision) -> None:
        try:
            barrier.wait(10)
            seen.append((decision.why, decision.alternatives))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(d,)) for d in decisions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert seen == [(reference.why, reference.alternatives)] * 8


def test_one_explanation_is_computed_once_whoever_reads_it_first() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def compute() -> tuple[tuple[str, ...], tuple[Alternative, ...]]:
        gate.wait(5)
        calls.append(1)
        return ("it matters",), (Alternative(title="do this instead"),)

    lazy = Explanation(compute)
    d = Decision(allowed=False, operation_id="1", reasoning="no", why=lazy, alternatives=lazy)
    copies = [d, d.evolve(operation_id="2"), d.evolve(eval_ms=1.0)]
    out: list[Any] = []
    threads = [threading.Thread(target=lambda c=c: out.append((c.why, c.alternatives)))
               for c in copies * 4]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert out == [(("it matters",), (Alternative(title="do this instead"),))] * 12


def test_a_failure_to_explain_keeps_the_denial_and_says_so() -> None:
    def broken() -> tuple[tuple[str, ...], tuple[Alternative, ...]]:
        msg = "the engine went away"
        raise RuntimeError(msg)

    lazy = Explanation(broken)
    d = Decision(allowed=False, operation_id="1", reasoning="Cannot export", why=lazy,
                 alternatives=lazy)
    assert d.denied
    assert d.why == (EXPLANATION_UNAVAILABLE.format(
        error="RuntimeError: the engine went away"),)
    assert "Explanation unavailable" in d.why[0]
    assert "denial stands" in d.why[0]
    assert d.alternatives == ()
    assert d.to_dict()["allowed"] is False
    assert d.to_dict()["why"] == list(d.why)


def test_a_denial_from_a_broken_why_rule_is_still_a_denial(write_bundle: Any) -> None:
    """A real engine whose ``why`` raises at evaluation time (a runtime error in Rego)."""
    root = write_bundle({"p.rego": (
        "package p\nimport rego.v1\n\n"
        "deny contains \"no\" if input.action == \"export\"\n\n"
        "why := [x | x := 1 / input.zero]\n")})
    engine = PolicyEngine(root, cache_size=0)
    decision = engine.evaluate({"action": "export", "zero": 0})
    assert decision.denied
    assert decision.reasoning == "no"
    assert decision.engine_error is None
    assert len(decision.why) == 1
    assert decision.why[0].startswith("Explanation unavailable")
    assert decision.denied


def test_copies_pickles_and_caches_keep_the_explanation(engine: PolicyEngine) -> None:
    cached = PolicyEngine.from_config(CONFIG)
    op = CASES[0][1]
    first = cached.decide(op, log=False)
    second = cached.decide(op, log=False)  # a cache hit: the same explanation, unevaluated
    assert not first.explained
    assert not second.explained
    assert second.why == first.why
    assert first.explained
    third = cached.decide(op, log=False)
    assert pickle.loads(pickle.dumps(third)) == third
    assert replace(third, why=("other",)).why == ("other",)
    assert third.evolve(operation_id="z").alternatives == third.alternatives
    with pytest.raises(TypeError, match="no field"):
        third.evolve(nonsense=1)


def test_the_audit_record_of_an_unread_denial_holds_what_an_auditor_needs(
        engine: PolicyEngine, tmp_path: Path) -> None:
    from lacuna.audit.store import AuditStore

    op = CASES[0][1]
    decision = engine.decide(op, log=False)
    assert not decision.explained
    reference = _eager(engine, build_input(op))
    store = AuditStore(f"sqlite:///{tmp_path}/audit.db")
    try:
        stored = store.record(decision, op, session="s")
        body = stored.data["decision"]
    finally:
        store.close()
    assert body["allowed"] is False
    assert body["reasoning"] == reference.reasoning
    assert body["policy_id"] == reference.policy_id
    assert body["bundle_revision"] == engine.revision
    assert body["policies"] == [{"package": p.package, "id": p.id, "effect": p.effect}
                                for p in reference.policies]
    assert body["alternatives"] == [a.title for a in reference.alternatives]


def test_the_decision_log_holds_the_explanation(engine: PolicyEngine) -> None:
    sink = MemoryDecisionLog()
    logged = PolicyEngine.from_config(CONFIG, decision_log=sink, cache_size=0)
    op = CASES[0][1]
    logged.decide(op)
    sink.close()  # the writer thread (which evaluated the explanation) ends with its engine
    (record,) = sink.records
    reference = _eager(engine, build_input(op))
    assert record["result"]["why"] == list(reference.why)
    assert record["result"]["alternatives"] == [a.to_dict() for a in reference.alternatives]


def test_the_written_out_constructor_sets_every_declared_field() -> None:
    # Decision's __init__ is hand-written (speed): it must take and set exactly the fields.
    import dataclasses
    import inspect

    declared = [f.name for f in dataclasses.fields(Decision)]
    assert list(inspect.signature(Decision.__init__).parameters)[1:] == declared
    values: dict[str, Any] = {
        "allowed": False, "operation_id": "op", "reasoning": "r", "policy_id": "P-1",
        "policy_title": "T", "why": ["w"], "alternatives": [Alternative(title="a")],
        "steward": "s@example.com", "docs_url": "https://d", "policies": (),
        "engine_error": "e", "bundle_revision": "rev", "eval_ms": 1.5,
        "exception_approved": True,
        "operation": Operation(action=Action.READ, user=User(id="a"),
                               classification=Classification()),
    }
    assert set(values) == set(declared)
    decision = Decision(**values)
    for name, value in values.items():
        expected = tuple(value) if name in ("why", "alternatives") else value
        assert getattr(decision, name) == expected, name
    assert set(decision.__dict__) == {f"_{n}" if n in ("why", "alternatives") else n
                                      for n in declared}
    minimal = Decision(allowed=True, operation_id="x", reasoning="ok")
    assert (minimal.why, minimal.alternatives, minimal.policies, minimal.operation) == (
        (), (), (), None)
    assert replace(decision, allowed=True) == Decision(**{**values, "allowed": True})
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = True  # type: ignore[misc]
    lazy = Explanation(lambda: (("later",), ()))
    unread = Decision(allowed=False, operation_id="x", reasoning="no", why=lazy,
                      alternatives=lazy)
    assert not unread.explained
    assert unread.why == ("later",)
