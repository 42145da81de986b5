"""The embedded engine's evaluation budget: a slow policy is denied, and stopped on a worker.

regorus holds the GIL while it evaluates, so the hard bound comes from a worker process
(lacuna.policy.budget); these tests run real slow Rego on real worker processes.
"""

from __future__ import annotations

import logging
import time

import pytest

from lacuna.config import Config, config_from_dict
from lacuna.errors import ConfigError
from lacuna.policy import PolicyEngine

# Work grows with input.n: n * 1000 products; n=1 is instant, n=200 ~150 ms (quiet, 2026-12).
SLOW = """package slow

import rego.v1

allow if {
\tinput.action == "read"
\tcount([x | some i in numbers.range(1, input.n); some j in numbers.range(1, 1000); x := i * j]) > 0
}
"""
BUDGET_MS = 150
SLACK_S = 0.4  # a busy CI machine; the stop itself is immediate


def timed(engine: PolicyEngine, n: int):
    started = time.monotonic()
    decision = engine.evaluate({"action": "read", "n": n})
    return decision, time.monotonic() - started


def test_process_isolation_stops_a_slow_policy_at_the_budget(write_bundle) -> None:
    engine = PolicyEngine(write_bundle({"slow.rego": SLOW}), eval_budget_ms=BUDGET_MS,
                          isolation="process")
    warm, _ = timed(engine, 1)  # starts the worker
    assert warm.allowed, warm.engine_error
    decision, took = timed(engine, 5000)  # minutes of work in-process
    assert decision.allowed is False
    assert f"exceeded its {BUDGET_MS} ms budget (stopped after" in (decision.engine_error or "")
    assert "lacuna policy check" in decision.reasoning
    assert took < BUDGET_MS / 1000 + SLACK_S
    again, _ = timed(engine, 1)  # a new worker answers the next decision
    assert again.allowed, again.engine_error


def test_auto_denies_an_overrun_then_bounds_the_next_ones(write_bundle, caplog) -> None:
    engine = PolicyEngine(write_bundle({"slow.rego": SLOW}), eval_budget_ms=BUDGET_MS,
                          cache_size=0)
    assert engine.isolation == "auto"
    assert timed(engine, 1)[0].allowed
    with caplog.at_level(logging.WARNING, logger="lacuna.policy.engine"):
        # ~5x the budget in-process; decided again on the worker, stopped there: denied
        first, _ = timed(engine, 1000)
    assert first.allowed is False
    assert f"exceeded its {BUDGET_MS} ms budget (stopped after" in (first.engine_error or "")
    assert "now run on a worker process" in caplog.text
    second, took = timed(engine, 5000)
    assert "(stopped after" in (second.engine_error or "")
    assert took < BUDGET_MS / 1000 + SLACK_S + 1.0  # + starting the worker once
    assert timed(engine, 1)[0].allowed


def test_an_overrun_is_not_cached(write_bundle) -> None:
    engine = PolicyEngine(write_bundle({"slow.rego": SLOW.replace("input.n", "1000")}),
                          eval_budget_ms=BUDGET_MS, isolation="none")
    assert engine.cache is not None
    first, _ = timed(engine, 0)
    assert "budget" in (first.engine_error or "")
    assert len(engine.cache) == 0


def test_process_isolation_gives_the_same_decisions(write_bundle) -> None:
    inproc = PolicyEngine.from_config(Config())
    isolated = PolicyEngine(None, isolation="process", cache_size=0,
                            settings=inproc.data["lacuna"], docs_url=inproc.docs_url)
    docs = [{"action": "read", "source": {"classification": "PUBLIC"}},
            {"action": "export", "source": {"classification": "CONFIDENTIAL", "tags": ["PII"]},
             "destination": {"path": "/home/u/Downloads/x.csv", "type": "unmanaged"}},
            {"action": "delete"}]
    for doc in docs:
        a, b = inproc.evaluate(doc), isolated.evaluate(doc)
        assert b.engine_error is None
        assert (a.allowed, a.reasoning, a.policy_id, a.why, a.alternatives) == (
            b.allowed, b.reasoning, b.policy_id, b.why, b.alternatives)


def test_a_budget_past_ten_minutes_is_refused_not_every_decision_denied() -> None:
    # 10**15 ms validated, then every isolated decision was denied: "timestamp out of range
    # for platform time_t" (select's timeout)
    with pytest.raises(ConfigError, match=r"policy\.eval_budget_ms.*less than or equal to "
                                          "600000"):
        config_from_dict({"policy": {"eval_budget_ms": 10**15, "isolation": "process"}})
    with pytest.raises(ConfigError, match=r"eval_budget_ms positive, at most 600000"):
        PolicyEngine(None, eval_budget_ms=10**15)
    config = config_from_dict({"policy": {"eval_budget_ms": 600_000, "isolation": "process"}})
    engine = PolicyEngine.from_config(config)  # the largest budget decides
    decision = engine.evaluate({"action": "read"})
    assert decision.allowed, decision.engine_error


def test_budget_and_isolation_come_from_config(tmp_path) -> None:
    config = config_from_dict({"policy": {"eval_budget_ms": 250, "isolation": "process"}})
    engine = PolicyEngine.from_config(config)
    assert (engine.eval_budget_s, engine.isolation) == (0.25, "process")
    with pytest.raises(ConfigError, match=r"policy\.isolation"):
        PolicyEngine(None, isolation="threads")
    with pytest.raises(ConfigError):
        config_from_dict({"policy": {"eval_budget_ms": 0}})


def test_a_stall_that_is_not_the_policys_cost_denies_nothing(write_bundle, monkeypatch) -> None:
    """In-process the budget counts the evaluating thread's CPU time: a decision the host kept
    waiting (descheduled under load, a collection, another thread holding the GIL) past the
    budget is not denied for it, while a slow rule still is (the tests above)."""
    from lacuna.policy import engine as engine_module

    real = engine_module.decide

    def stalled(*args, **kwargs):
        decision = real(*args, **kwargs)
        time.sleep(BUDGET_MS / 1000 * 2)  # wall time passes, no CPU is spent
        return decision

    monkeypatch.setattr(engine_module, "decide", stalled)
    engine = PolicyEngine(write_bundle({"slow.rego": SLOW}), eval_budget_ms=BUDGET_MS,
                          cache_size=0)
    decision, took = timed(engine, 1)
    assert took > BUDGET_MS / 1000
    assert decision.allowed, decision.engine_error
    assert engine._isolated == {}  # nothing moved to a worker either


def _burn_cpu(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_an_overrun_that_is_not_the_policys_is_decided_again_on_the_worker(
        write_bundle, monkeypatch, caplog) -> None:
    """Under ``auto`` an in-process overrun moves the bundle to the worker, which decides the
    same operation again within the budget: a fast policy whose one decision was slowed by
    something else (CPU time taken away) allows, where it used to deny; without a worker
    (``none``) the overrun still denies."""
    from lacuna.policy import engine as engine_module

    real = engine_module.decide
    slowed = iter([True])

    def once_slow(*args, **kwargs):
        if next(slowed, False):
            _burn_cpu(BUDGET_MS / 1000 * 2)  # CPU spent on this thread, not by the policy
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decide", once_slow)
    engine = PolicyEngine(write_bundle({"slow.rego": SLOW}), eval_budget_ms=BUDGET_MS,
                          cache_size=0)
    with caplog.at_level(logging.WARNING, logger="lacuna.policy.engine"):
        decision, _ = timed(engine, 1)
    assert decision.allowed, decision.engine_error
    assert "now run on a worker process" in caplog.text
    assert engine._isolated  # and the next decisions are bounded there
    assert timed(engine, 1)[0].allowed

    slowed = iter([True])
    none = PolicyEngine(write_bundle({"slow.rego": SLOW}), eval_budget_ms=BUDGET_MS,
                        cache_size=0, isolation="none")
    denied, _ = timed(none, 1)
    assert denied.allowed is False
    assert f"exceeded its {BUDGET_MS} ms budget (took" in (denied.engine_error or "")


def test_a_garbage_collection_during_a_decision_is_not_the_policys_cost(
        write_bundle, monkeypatch) -> None:
    """A full collection of a large heap, started by whatever allocation crossed the threshold
    during a decision, took 1.6 s of the evaluating thread's CPU in a long test session and
    the budget denied an allowed write for it (isolation ``none``: nothing to decide again)."""
    import gc

    from lacuna.policy import engine as engine_module
    from thread_drops import collect_and_freeze

    collect_and_freeze()  # each collection below walks this test's heap, not the session's
    real = engine_module.decide
    heap = [[i] for i in range(300_000)]  # containers the collector walks

    def collecting(*args, **kwargs):
        started = time.thread_time()
        while time.thread_time() - started < BUDGET_MS / 1000 * 2:
            gc.collect()
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decide", collecting)
    engine = PolicyEngine(write_bundle({"slow.rego": SLOW}), eval_budget_ms=BUDGET_MS,
                          cache_size=0, isolation="none")
    decision, _ = timed(engine, 1)
    assert decision.allowed, decision.engine_error
    assert len(heap) == 300_000
