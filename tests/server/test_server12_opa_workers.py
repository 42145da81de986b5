"""The uploaded set's worker processes (server12): a slow caller holds one worker, not every
caller; a set replaced under a request leaves no worker behind; deterministic answers of an
uploaded set are cached."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

SLOW = ("package s12w\nimport rego.v1\n"
        "n := c if { input.n; c := count([1 | some a in numbers.range(1, input.n)]) }\n"
        "fast := input.x\n")


def _put(app_client, name: str, source: str) -> None:
    r = app_client.client.put(f"/v1/policies/{name}", content=source.encode(),
                              headers=app_client.headers("root"))
    assert r.status_code == 200, r.text


def _delete(app_client, name: str) -> None:
    app_client.client.delete(f"/v1/policies/{name}", headers=app_client.headers("root"))


def _ask(app_client, path: str, input_doc: object):
    return app_client.client.post(f"/v1/data/{path}", json={"input": input_doc},
                                  headers=app_client.headers("ana"))


def _workers() -> set[int]:
    """The policy worker processes this process started that still run."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"_rego_worker" in command:
            found.add(int(entry.name))
    return found


def _pids(workers) -> set[int]:
    """The running processes of an uploaded set's idle workers."""
    out = set()
    for evaluator in getattr(workers, "_idle", [workers]):
        process = evaluator._process
        if process is not None and process.poll() is None:
            out.add(process.pid)
    return out


@pytest.fixture
def slow_set(app_client, monkeypatch):
    monkeypatch.setattr(app_client.state.opa.engine, "eval_budget_s", 1.5)
    _put(app_client, "s12w.rego", SLOW)
    yield app_client
    _delete(app_client, "s12w.rego")


def test_server12_a_slow_caller_does_not_hold_the_others(slow_set, monkeypatch) -> None:
    """One worker answered every caller in turn: a caller of ``fast`` waited behind the slow
    input for up to the budget (7 such callers beside one slow one: 640 ms at the median).
    Now the slow input holds one worker until the budget stops it; the others answer."""
    from lacuna.policy.budget import IsolatedEvaluator

    asking = threading.Event()
    real = IsolatedEvaluator.eval_query

    def eval_query(self, doc, query, budget_s):
        if isinstance(doc, dict) and "n" in doc:
            asking.set()  # the slow input is on its worker
        return real(self, doc, query, budget_s)

    monkeypatch.setattr(IsolatedEvaluator, "eval_query", eval_query)
    pool = slow_set.state.opa._evaluator()
    if hasattr(pool, "_take"):  # two workers up before the clock starts (a loaded CI host)
        taken = [pool._take(), pool._take()]
        for evaluator in taken:
            evaluator.start()
            pool._give(evaluator)
    slow_answer = []
    slow = threading.Thread(target=lambda: slow_answer.append(
        _ask(slow_set, "s12w/n", {"n": 10**12})))
    started = time.monotonic()
    slow.start()
    assert asking.wait(30)
    fast = _ask(slow_set, "s12w/fast", {"x": 7})
    answered = time.monotonic() - started
    still_running = slow.is_alive()
    slow.join()
    assert fast.status_code == 200, fast.text
    assert fast.json()["result"] == 7
    assert still_running, f"the fast caller waited for the slow one ({answered:.2f} s)"
    assert slow_answer[0].status_code == 500  # the budget still stops the slow one
    assert "exceeded its 1500 ms budget" in slow_answer[0].json()["message"]
    assert _ask(slow_set, "s12w/fast", {"x": 8}).json()["result"] == 8  # and it is replaced


def test_server12_a_request_on_a_replaced_set_leaves_no_worker(app_client, monkeypatch) -> None:
    """A request that took the set's workers just before an upload replaced them started a
    worker for the old set again, which nothing stopped until the server exited. Now the old
    set answers no more (its worker closed), and the request is answered by the new set."""
    opa = app_client.state.opa
    _put(app_client, "s12r.rego", "package s12r\nimport rego.v1\nv := 1\n")
    try:
        stale = opa._worker[1]
        real = type(opa)._evaluator
        calls = []

        def racing(self):  # the upload lands between taking the workers and asking them
            calls.append(1)
            if len(calls) == 1:
                _put(app_client, "s12r.rego", "package s12r\nimport rego.v1\nv := 2\n")
                return stale
            return real(self)

        monkeypatch.setattr(type(opa), "_evaluator", racing)
        others = _workers() - _pids(stale)  # other tests' (the engine's own)
        got = _ask(app_client, "s12r/v", {"k": 1})
        assert got.status_code == 200, got.text
        assert got.json()["result"] == 2  # the set in place when it was answered
        assert len(calls) == 2
        assert _workers() - others == _pids(opa._worker[1]), (
            "a worker of the replaced set was started again")
        monkeypatch.undo()
    finally:
        _delete(app_client, "s12r.rego")


def test_server12_deterministic_upload_answers_are_cached(app_client, monkeypatch) -> None:
    """The same input to a deterministic uploaded set is answered without its worker; a set
    that reads the clock is asked every time."""
    opa = app_client.state.opa
    asked = []
    real = type(opa)._evaluator

    def counting(self):
        asked.append(1)
        return real(self)

    monkeypatch.setattr(type(opa), "_evaluator", counting)
    for source, times in (("package s12c\nimport rego.v1\nv := input.k\n", 1),
                          ("package s12c\nimport rego.v1\nv := input.k\n"
                           "t := time.now_ns()\n", 3)):
        _put(app_client, "s12c.rego", source)
        try:
            asked.clear()
            for _ in range(3):
                assert _ask(app_client, "s12c/v", {"k": "a"}).json()["result"] == "a"
            assert len(asked) == times
            assert _ask(app_client, "s12c/v", {"k": "b"}).json()["result"] == "b"
        finally:
            _delete(app_client, "s12c.rego")
    _put(app_client, "s12c.rego", "package s12c\nimport rego.v1\nv := [input.k]\n")
    try:  # a new upload: nothing answered for the set before is served
        assert _ask(app_client, "s12c/v", {"k": "a"}).json()["result"] == ["a"]
    finally:
        _delete(app_client, "s12c.rego")


def test_server12_cached_answers_are_bounded_in_bytes(app_client, monkeypatch) -> None:
    """The answer cache was bounded by count alone: 4,096 distinct inputs of up to the body
    limit (10 MB) were all kept, gigabytes one caller could make the server hold. Now by bytes
    too, and an input too large to keep is answered, not kept."""
    import lacuna.server.opa as opa_module

    monkeypatch.setattr(opa_module, "CACHE_BYTES", 64 * 1024, raising=False)
    opa = app_client.state.opa
    assert opa.engine.cache is not None  # the default bundle: its answers are cached
    for i in range(80):  # ~950 bytes each
        got = _ask(app_client, "governance/baseline/allow", {"pad": "x" * 900, "i": i})
        assert got.json()["result"] is True
    kept = [key for key in opa._answers if key[0] == "governance/baseline/allow"]
    assert 50 < len(kept) < 80
    assert sum(len(p) + len(t) for p, t in opa._answers) <= 64 * 1024
    assert (_ask(app_client, "governance/baseline/allow", {"pad": "x" * 2000, "i": 1})
            .json()["result"] is True)
    assert not any(len(t) > 1024 for _, t in opa._answers)  # answered, not kept
    last = ("governance/baseline/allow", opa_module._input_text({"pad": "x" * 900, "i": 79}))
    assert last in opa._answers  # the latest are the ones kept


def test_server12_an_upload_another_one_calls_stays_callable(app_client) -> None:
    """Only the changed module was checked: replacing ``a`` without the ``f`` that ``b``
    calls, or deleting ``a``, was kept, and every evaluation of ``b`` was a 500. Both are
    now a 400 naming ``b``'s call (OPA refuses them too); the set stays, and changing
    them in the right order works."""
    h = app_client.headers("root")
    a = "package s12a\nimport rego.v1\nf(x) := x + 1\n"
    _put(app_client, "s12a.rego", a)
    _put(app_client, "s12b.rego", "package s12b\nimport rego.v1\nv := data.s12a.f(input.n)\n")
    try:
        replaced = app_client.client.put("/v1/policies/s12a.rego", headers=h,
                                         content=a.replace("f(x)", "g(x)").encode())
        deleted = app_client.client.delete("/v1/policies/s12a.rego", headers=h)
        for refused, change in ((replaced, "replacing"), (deleted, "deleting")):
            assert refused.status_code == 400, refused.text
            assert refused.json()["message"].startswith(
                f"{change} s12a.rego would leave another uploaded module unable to evaluate: "
                "s12b.rego:3:6: could not find function data.s12a.f")
        assert _ask(app_client, "s12b/v", {"n": 1}).json()["result"] == 2  # the set stayed
        _delete(app_client, "s12b.rego")  # the caller first: then its callee may go
        assert app_client.client.delete("/v1/policies/s12a.rego", headers=h).status_code == 200
    finally:
        _delete(app_client, "s12b.rego")
        _delete(app_client, "s12a.rego")
