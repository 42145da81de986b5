"""``governed()`` and modes are safe: a block restores exactly what was there before, blocks are
per thread, and reconfiguring while other threads decide never drops a regorus engine on the
wrong thread."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.governor import Governor, current, use
from lacuna.model import Action, Classification, Tier
from lacuna.policy.engine import PolicyEngine


def _export(sandbox: Path, name: str) -> None:
    frame = pd.read_csv(sandbox / "customers.csv")
    frame.to_csv(sandbox / "Downloads" / name)


def test_observe_block_restores_enforce(sandbox, sandbox_config):
    lacuna.enable(sandbox_config())
    before = current()
    with lacuna.governed(mode="observe"):
        assert current().config.mode == "observe"
        assert current().config.user.id == "analyst_alice"  # the block builds on the settings
        _export(sandbox, "observed.csv")  # observe: runs
    assert current() is before
    assert current().config.mode == "enforce"
    with pytest.raises(GovernanceViolation):
        _export(sandbox, "denied.csv")
    assert not (sandbox / "Downloads" / "denied.csv").exists()


def test_nested_blocks_and_errors_restore_each_level(sandbox, sandbox_config):
    lacuna.enable(sandbox_config())
    seen = []

    def fails_inside() -> None:
        with lacuna.governed(mode="observe"):
            seen.append(current().config.mode)
            raise RuntimeError("the user's code fails inside the block")

    with lacuna.governed(mode="warn"):
        with pytest.raises(RuntimeError, match="fails inside"):
            fails_inside()
        assert seen == ["observe"]
        assert current().config.mode == "warn"
    assert current().config.mode == "enforce"


def test_block_without_enable_leaves_pandas_exactly_as_it_was(sandbox, sandbox_config):
    read_csv, to_csv = pd.read_csv, pd.DataFrame.to_csv
    assert not lacuna.enabled()
    with lacuna.governed(sandbox_config(mode="observe")):
        assert lacuna.enabled()
        assert pd.read_csv is not read_csv
    assert not lacuna.enabled()
    assert pd.read_csv is read_csv
    assert pd.DataFrame.to_csv is to_csv


def test_one_threads_block_exit_never_ungoverns_another(sandbox, sandbox_config):
    """B leaves its observe block while A is inside its enforce block: A stays enforced, and a
    thread with no block of its own is not governed by either."""
    config = sandbox_config()
    a_inside, b_left, c_done = threading.Event(), threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def a() -> None:
        with lacuna.governed(config):
            a_inside.set()
            b_left.wait(30)
            c_done.wait(30)
            try:
                _export(sandbox, "from-a.csv")
                results["a"] = "allowed"
            except GovernanceViolation:
                results["a"] = "denied"
            results["a_mode"] = current().config.mode

    def b() -> None:
        a_inside.wait(30)
        with lacuna.governed(config, mode="observe"):
            _export(sandbox, "from-b.csv")
            results["b_mode"] = current().config.mode
        results["b_after"] = lacuna.enabled()
        b_left.set()

    def c() -> None:
        b_left.wait(30)
        results["c_enabled"] = lacuna.enabled()
        _export(sandbox, "from-c.csv")  # not governed here: plain pandas
        results["c_classified"] = "lacuna" in pd.read_csv(sandbox / "customers.csv").attrs
        c_done.set()

    threads = [threading.Thread(target=f) for f in (a, b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"b_mode": "observe", "b_after": False, "c_enabled": False,
                       "c_classified": False, "a": "denied", "a_mode": "enforce"}
    assert (sandbox / "Downloads" / "from-b.csv").exists()
    assert not (sandbox / "Downloads" / "from-a.csv").exists()
    assert not lacuna.enabled()


def test_many_threads_with_their_own_modes(sandbox, sandbox_config):
    config = sandbox_config()
    Governor(config).engine.decide  # noqa: B018 - create the state database's tables first
    outcomes: dict[int, str] = {}
    start = threading.Barrier(6)

    def worker(i: int) -> None:
        mode = "observe" if i % 2 else "enforce"
        with lacuna.governed(config, mode=mode):
            start.wait(30)
            for _ in range(3):
                try:
                    _export(sandbox, f"t{i}.csv")
                    outcomes[i] = "ran"
                except GovernanceViolation:
                    outcomes[i] = "denied"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes == {i: "ran" if i % 2 else "denied" for i in range(6)}


def _unraisable(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    seen: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
    return seen


def test_reconfiguring_while_threads_decide_drops_no_engine_on_the_wrong_thread(
    sandbox_config, monkeypatch
):
    from thread_drops import collect_and_freeze

    collect_and_freeze()  # the five collections below walk only what this test makes
    seen = _unraisable(monkeypatch)
    # A generous evaluation budget: this test is about threads, not a loaded machine's speed.
    config = sandbox_config(policy={"decision_log": {"type": "none"}, "eval_budget_ms": 60_000})

    def fresh() -> Governor:  # no decision cache: every thread compiles its own engine
        return Governor(config, engine=PolicyEngine.from_config(config, cache_size=0))

    use(fresh())
    stop = threading.Event()
    answers: list[bool] = []
    errors: list[str | None] = []

    def decide() -> None:
        while not stop.is_set():
            gov = current()
            d = gov.decide(gov.operation(Action.READ, Classification(tier=Tier.PUBLIC)))
            answers.append(d.allowed)
            if d.engine_error or not d.allowed:
                errors.append(d.engine_error or d.reasoning)

    threads = [threading.Thread(target=decide) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(4):  # replace the governor under their feet; the old one is dropped here
        use(fresh())
        gc.collect()
    stop.set()
    for t in threads:
        t.join(60)
    gc.collect()
    assert answers
    assert errors == []
    assert all(answers)
    assert seen == []


def test_dropping_an_engine_elsewhere_releases_no_thread_engine(sandbox_config, monkeypatch):
    """A thread keeps running with its engine while the PolicyEngine is dropped on another."""
    seen = _unraisable(monkeypatch)
    config = sandbox_config()
    held = [Governor(config, engine=PolicyEngine.from_config(config, cache_size=0))]
    op = held[0].operation(Action.READ, Classification(tier=Tier.PUBLIC))
    decided, dropped = threading.Event(), threading.Event()

    def worker() -> None:
        held[0].decide(op)  # compiles this thread's engine
        decided.set()
        dropped.wait(30)
        other = Governor(config, engine=PolicyEngine.from_config(config, cache_size=0))
        assert other.decide(op).allowed  # discards the stale engine here, on its own thread

    t = threading.Thread(target=worker)
    t.start()
    decided.wait(30)
    held.clear()  # the last reference: the PolicyEngine is dropped here, on the main thread
    gc.collect()
    dropped.set()
    t.join(60)
    gc.collect()
    assert seen == []



@pytest.mark.parametrize("bundle", [
    pytest.param({"broken.rego": "package p\n\ndeny contains msg if {\n  msg := \n}\n"},
                 id="does-not-parse"),
    pytest.param({"arity.rego": "package p\n\nf(a) := 1\n\nf(a, b) := 2\n\nx := f(1)\n"},
                 id="does-not-compile"),
    pytest.param({"meta.rego": "package governance.odd\n\nmetadata := 1\n\n"
                               "deny contains \"x\" if { false }\n"},
                 id="does-not-load"),
])
@pytest.mark.parametrize("how", ["engine", "check", "tests"])
def test_a_policy_error_raised_on_a_thread_carries_no_engine_to_another(
        tmp_path, monkeypatch, bundle, how):
    """A bundle rejected on a watcher or server thread: the error (its traceback, its context)
    is kept and dropped later on another thread. It must not hold the regorus engines of the
    thread that raised it: those would be dropped on the wrong thread."""
    from lacuna.errors import PolicyError
    from lacuna.policy.bundle import read_bundle
    from lacuna.policy.check import check_bundle
    from lacuna.policy.rego_tests import run_tests

    seen = _unraisable(monkeypatch)
    for name, text in bundle.items():
        (tmp_path / name).write_text(text)
    kept: list[object] = []

    def reject() -> None:
        try:
            if how == "check":
                report = check_bundle(tmp_path)
                kept.extend(report.errors)
            elif how == "tests":
                run_tests(read_bundle(tmp_path), {})
            else:
                PolicyEngine(tmp_path)
        except PolicyError as exc:
            kept.append(exc)

    t = threading.Thread(target=reject)
    t.start()
    t.join(60)
    if how == "tests" and "meta" in str(bundle):
        assert not kept  # tests do not read metadata: nothing rejected, nothing kept
    else:
        assert kept, "the bundle was expected to be rejected"
    kept.clear()  # dropped here, on the main thread
    gc.collect()
    assert seen == []


def test_the_data_apis_engines_stay_on_their_thread_when_the_server_state_goes(sandbox_config):
    """The OPA Data API compiles one engine per request thread; the server state dropped on
    another thread (a reconfiguration, the collector) must not drop those engines there."""
    from lacuna.server.opa import OpaData
    from thread_drops import unraisables_when_dropped_elsewhere

    config = sandbox_config()

    def use(opa: OpaData) -> None:
        result, _ = opa.evaluate("lacuna/settings", None)  # compiles the worker's engine
        assert result is None or isinstance(result, dict)

    assert unraisables_when_dropped_elsewhere(
        lambda: OpaData(PolicyEngine.from_config(config, cache_size=0)), use) == []
