"""A flood of refused requests cannot fill the audit trail (lacuna.server.refusals): each
caller's refusals are recorded one by one up to a budget, the rest counted in one summary
record, and every refusal is accounted for on the trail."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lacuna.server.refusals import OTHER_CALLERS, RefusalBudget, caller_key

from .conftest import in_process_app, server_files


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _budget(burst: int = 3, per_minute: float = 60.0, **kw: Any) -> tuple[RefusalBudget, Clock]:
    clock = Clock()
    return RefusalBudget(burst, per_minute, clock=clock, wall=clock, **kw), clock


def test_a_caller_is_recorded_up_to_the_burst_then_counted():
    budget, _ = _budget()
    admitted = [budget.admit("client 10.0.0.1", 401, "GET /api/v1/audit") for _ in range(10)]
    assert [a.record for a in admitted] == [True] * 3 + [False] * 7
    assert all(a.summary is None for a in admitted)
    assert budget.suppressed == 7
    # another caller has a budget of its own
    assert budget.admit("client 10.0.0.2", 401, "GET /x").record


def test_the_budget_refills_and_the_next_record_brings_the_summary():
    budget, clock = _budget(per_minute=60.0)  # one a second
    for _ in range(3):
        budget.admit("client 10.0.0.1", 401, "GET /a")
    budget.admit("client 10.0.0.1", 401, "GET /a")
    budget.admit("client 10.0.0.1", 403, "POST /b")
    assert not budget.admit("client 10.0.0.1", 401, "GET /a").record
    clock.now += 1.0
    admission = budget.admit("client 10.0.0.1", 401, "GET /a")
    assert admission.record
    summary = admission.summary
    assert summary is not None
    assert (summary.count, summary.caller) == (3, "client 10.0.0.1")
    assert summary.statuses == ((401, 2), (403, 1))
    assert summary.paths == (("GET /a", 2), ("POST /b", 1))
    assert (summary.first, summary.last) == (1000.0, 1000.0)
    text = summary.reasoning(3, 60)
    assert text.startswith("3 refused request(s) from client 10.0.0.1 between ")
    assert "audit_refusals_burst" in text
    assert "2 x HTTP 401" in text
    # counted once: nothing left for the periodic summary
    assert budget.due() == []


def test_due_takes_every_count_once_and_give_back_keeps_it():
    budget, _ = _budget(burst=1)
    for caller in ("client a", "client b"):
        budget.admit(caller, 401, "GET /x")
        budget.admit(caller, 401, "GET /x")
    due = budget.due()
    assert sorted((s.caller, s.count) for s in due) == [("client a", 1), ("client b", 1)]
    assert budget.due() == []
    budget.give_back(due)  # the write failed: counted again
    assert sorted((s.caller, s.count) for s in budget.due()) == [("client a", 1),
                                                                 ("client b", 1)]


def test_all_callers_together_are_capped_too():
    budget, _ = _budget(burst=2)  # all callers: 20 at once
    recorded = sum(budget.admit(f"client 10.0.{i}.1", 401, "GET /x").record
                   for i in range(50))
    assert recorded == 20
    assert sum(s.count for s in budget.due()) == 30


def test_rotating_addresses_neither_grow_memory_nor_lose_a_count():
    budget, _ = _budget(burst=1, max_callers=10)  # all callers together: 10 at once
    recorded = 0
    for i in range(100):
        recorded += budget.admit(f"client 10.1.{i}.1", 401, "GET /x").record
        budget.admit(f"client 10.1.{i}.1", 401, "GET /x")  # over budget: counted
    assert len(budget._callers) == 10
    due = budget.due()
    assert recorded == 10
    assert sum(s.count for s in due) == budget.suppressed == 190
    assert any(s.caller == OTHER_CALLERS for s in due)


@pytest.mark.parametrize(("client", "user", "key"), [
    ("203.0.113.7", None, "client 203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", None, "client 2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", None, "client 2001:db8:1:2::/64"),  # same /64, same budget
    ("::ffff:203.0.113.7", None, "client 203.0.113.7"),
    ("testclient", None, "client testclient"),
    (None, None, "client unknown"),
    ("203.0.113.7", "ana", "user ana"),
])
def test_whose_budget_a_refusal_spends(client, user, key):
    assert caller_key(client, user) == key


# -- through the server --------------------------------------------------------------------


def _app(root: Path, monkeypatch: pytest.MonkeyPatch, *, burst: int,
         summary_every_s: float) -> tuple[Any, str]:
    """A server app (and its state database) whose callers may have ``burst`` refusals
    recorded at once, then one every 100 s (none more during a test, however slow the
    machine)."""
    from lacuna.server import refusals

    monkeypatch.setattr(refusals, "SUMMARY_EVERY_S", summary_every_s)
    monkeypatch.setenv("LACUNA_HOME", str(root / "home"))
    db, config, _ = server_files(root)
    return in_process_app(db, config, audit_refusals_burst=burst,
                          audit_refusals_per_minute=0.6), db


@pytest.fixture
def small_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A served app with a budget of 3 refusals per caller, writing summaries every 0.3 s."""
    from fastapi.testclient import TestClient

    from lacuna.server.outer import serving

    app, _ = _app(tmp_path, monkeypatch, burst=3, summary_every_s=0.3)
    state = app.state.lacuna
    tokens = {"ana": state.users.add("ana", roles=["analyst"]),
              "carla": state.users.add("carla", roles=["compliance_officer"])}
    with TestClient(serving(app)) as client:
        yield client, state, tokens
    # (the app is stopped here: state.close() wrote what was left)


def _refusals(state: Any) -> tuple[list[Any], list[Any]]:
    records = state.governor.audit.list(limit=None)
    single = [r for r in records if r.policy_id in ("lacuna.server.http_401",
                                                     "lacuna.server.http_403")]
    summaries = [r for r in records if r.policy_id == "lacuna.server.refusals_suppressed"]
    return single, summaries


def _count(record: Any) -> int:
    match = re.match(r"(\d+) refused request", record.data["decision"]["reasoning"])
    assert match, record.data["decision"]["reasoning"]
    return int(match.group(1))


def test_an_anonymous_flood_is_refused_and_summarised_not_recorded_one_by_one(small_budget):
    client, state, tokens = small_budget
    for _ in range(40):
        assert client.get("/api/v1/audit").status_code == 401
    single, summaries = _refusals(state)
    assert len(single) == 3  # the trail grew by 3 records, not 40
    assert state.metrics.auth_failures["401"] == 40  # every refusal still counted
    assert state.metrics.refusals_suppressed == 37
    assert "lacuna_audit_refusals_suppressed_total 37" in client.get(
        "/metrics", headers={"Authorization": f"Bearer {tokens['carla']}"}).text
    # The flood stopped: all of it is summarised on the trail within the summary interval
    # (in one record, or in several when the flood outlasted an interval).
    deadline = time.monotonic() + 10
    while sum(map(_count, summaries)) < 37 and time.monotonic() < deadline:
        time.sleep(0.1)
        single, summaries = _refusals(state)
    assert sum(map(_count, summaries)) == 37
    for summary in summaries:
        n = _count(summary)
        assert (summary.user_id, summary.allowed) == ("anonymous", False)
        assert summary.data["how"]["code_location"] == "client testclient"
        assert f"{n} x HTTP 401" in summary.data["decision"]["reasoning"]
        assert f"GET /api/v1/audit ({n})" in summary.data["decision"]["reasoning"]
    assert len(single) == 3
    assert state.governor.audit.verify().ok
    # A known caller keeps working, and decisions are still recorded one by one.
    r = client.post("/api/v1/decide", json={"operation": {"action": "read"}},
                    headers={"Authorization": f"Bearer {tokens['ana']}"})
    assert r.status_code == 200
    assert r.json()["audit"] is not None


def test_a_known_callers_403s_spend_their_own_budget(small_budget):
    client, state, tokens = small_budget
    ana = {"Authorization": f"Bearer {tokens['ana']}"}
    for _ in range(5):  # an analyst may not verify the trail
        assert client.get("/api/v1/audit/verify", headers=ana).status_code == 403
    for _ in range(5):  # anonymous callers have a budget of their own
        assert client.get("/api/v1/audit").status_code == 401
    single, _ = _refusals(state)
    assert sorted(r.user_id for r in single) == ["ana"] * 3 + ["anonymous"] * 3
    assert state.refusals.suppressed == 4


def test_what_is_left_is_written_when_the_server_stops(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from lacuna.audit.store import AuditStore
    from lacuna.server.outer import serving

    # no summary before the stop
    app, db = _app(tmp_path, monkeypatch, burst=2, summary_every_s=3600.0)
    with TestClient(serving(app)) as client:
        for _ in range(12):
            assert client.get("/api/v1/exceptions").status_code == 401
        _, summaries = _refusals(app.state.lacuna)
        assert summaries == []
    store = AuditStore(db)
    try:
        records = store.list(limit=None)
        single = [r for r in records if r.policy_id == "lacuna.server.http_401"]
        summaries = [r for r in records if r.policy_id == "lacuna.server.refusals_suppressed"]
        assert len(single) == 2
        assert [_count(s) for s in summaries] == [10]  # 12 refusals, every one accounted for
        assert store.verify().ok
    finally:
        store.close()
