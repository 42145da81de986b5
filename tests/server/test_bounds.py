"""Bounded server answers: list endpoints read at most ``limit + 1`` items and say when there
are more (``truncated``), the exception store pages newest first by id, and the audit trail is
walked at most once per interval, one walk at a time, without hiding a tampered record."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lacuna.errors import ConfigError
from server.conftest import USERS, InProcess, in_process_app, server_files

# -- the helper ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (None, 20), ("", 20), ("  ", 20), ("1", 1), ("7", 7), (" 30 ", 30), ("5000", 50)])
def test_bound_parse_gives_the_default_or_at_most_the_maximum(text: str | None,
                                                              expected: int) -> None:
    from lacuna.server.paging import Bound

    assert Bound(default=20, maximum=50).parse(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("ten", "limit must be a whole number from 1 to 50, not 'ten'"),
    ("0", "limit must be at least 1, not 0"),
    ("-3", "limit must be at least 1, not -3")])
def test_bound_parse_refuses_what_is_not_a_length(text: str, says: str) -> None:
    from lacuna.server.paging import Bound

    with pytest.raises(ConfigError) as caught:
        Bound(default=20, maximum=50).parse(text)
    assert str(caught.value) == says


def test_newest_reads_one_more_than_it_shows() -> None:
    from lacuna.server.paging import newest

    asked: list[int] = []

    def read(n: int) -> list[int]:
        asked.append(n)
        return list(range(10, 0, -1))[:n]

    assert (newest(read, 3).items, newest(read, 3).more) == ((10, 9, 8), True)
    assert (newest(read, 10).items, newest(read, 10).more) == (tuple(range(10, 0, -1)), False)
    assert asked == [4, 4, 11, 11]


# -- the exception store's pages ----------------------------------------------------------------

IDS = ["EXC-2025-998", "EXC-2025-1000", "EXC-2026-001", "EXC-2026-002", "EXC-2026-999",
       "EXC-2026-1000", "EXC-2026-1001"]  # in the order they were filed


@pytest.fixture
def filed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An exception store holding IDS (rows copied from one real, signed request; every
    third one denied)."""
    from sqlalchemy import insert

    from lacuna.exceptions import ExceptionRequest, ExceptionStore, Status
    from lacuna.exceptions.store import table

    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ab" * 32)
    store = ExceptionStore(f"sqlite:///{tmp_path / 'state.db'}")
    first = store.add(ExceptionRequest(
        id="", requested_by="ana", requester_role="analyst", action="export",
        destination="/tmp/x.csv", sources=(), tier="PROPRIETARY", tags=("PII",),
        purpose="Quarterly churn review", business_justification="", approver="jane",
        duration_hours=24.0, conditions=(), created_at=datetime(2025, 3, 1, tzinfo=UTC)))
    body = first.to_dict()
    with store._engine.begin() as conn:
        conn.execute(table.delete())
        for i, exc_id in enumerate(IDS):
            status = Status.DENIED if i % 3 == 2 else Status.PENDING
            conn.execute(insert(table).values(
                id=exc_id, year=exc_id[4:8], requested_by="ana", status=status.value,
                duration_hours=24.0, body=json.dumps({**body, "id": exc_id,
                                                      "status": status.value})))
    yield store
    store._engine.dispose()


def test_the_store_pages_newest_first_by_filing_order(filed: Any) -> None:
    """``before`` continues a list read newest first: by year, then number (EXC-2026-1000
    after EXC-2026-999), never skipping or repeating one."""
    assert [r.id for r in filed.list()] == IDS
    assert [r.id for r in filed.list(limit=2, before="EXC-2026-1000")] == [
        "EXC-2026-002", "EXC-2026-999"]
    assert [r.id for r in filed.list(limit=3, before="EXC-2026-001")] == [
        "EXC-2025-998", "EXC-2025-1000"]
    assert filed.list(before="EXC-2025-998") == []
    seen: list[str] = []
    cursor = None
    while True:
        page = filed.list(limit=2, before=cursor)
        seen[:0] = [r.id for r in page]
        if len(page) < 2:
            break
        cursor = page[0].id
    assert seen == IDS


def test_the_store_filters_by_several_statuses_and_counts_by_status(filed: Any) -> None:
    from lacuna.exceptions import Status

    denied = [i for n, i in enumerate(IDS) if n % 3 == 2]
    assert [r.id for r in filed.list(status=Status.DENIED)] == denied
    assert [r.id for r in filed.list(status=(Status.DENIED, Status.PENDING))] == IDS
    assert [r.id for r in filed.list(status=(Status.DENIED,), limit=1)] == denied[-1:]
    assert filed.counts() == {"denied": len(denied), "pending": len(IDS) - len(denied)}


# -- the API's lists ----------------------------------------------------------------------------


def _pair(i: int) -> tuple[Any, Any, str]:
    from lacuna.model import Action, Classification, Decision, Operation, Tier, User

    op = Operation(action=Action.READ, user=User(id=f"user{i % 3}", role="data_analyst"),
                   classification=Classification(tier=Tier.INTERNAL), method="bench",
                   purpose="bounds")
    decision = Decision(allowed=i % 4 != 0, operation_id=op.id, reasoning="test",
                        policy_id=None if i % 4 else "P-2024-001", operation=op)
    return decision, op, "bounds"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    """An app of this module's own, with the default settings (``audit_verify_interval_s``
    60: no test here waits it out)."""
    import os

    from lacuna.server.outer import serving

    root = tmp_path_factory.mktemp("bounds")
    db, config, _ = server_files(root)
    old = os.environ.get("LACUNA_HOME")
    os.environ["LACUNA_HOME"] = str(root / "home")
    app = in_process_app(db, config)
    state = app.state.lacuna
    tokens = {name: state.users.add(name, roles=roles) for name, roles in USERS.items()}
    state.governor.audit.record_many([_pair(i) for i in range(30)])
    with TestClient(serving(app)) as client:
        yield InProcess(app=app, client=client, state=state, tokens=tokens)
    if old is None:
        os.environ.pop("LACUNA_HOME", None)
    else:
        os.environ["LACUNA_HOME"] = old


def test_audit_search_says_when_more_records_match(served: InProcess) -> None:
    h = served.headers("carla")
    three = served.client.get("/api/v1/audit", params={"limit": 3}, headers=h).json()
    every = served.state.governor.audit.list(limit=None)
    assert [r["seq"] for r in three["records"]] == [r.seq for r in every[:3]]
    assert three["truncated"] is True
    user0 = served.client.get("/api/v1/audit", params={"user": "user0", "limit": 10_000},
                              headers=h).json()
    assert len(user0["records"]) == 10
    assert user0["truncated"] is False
    exact = served.client.get("/api/v1/audit", params={"user": "user0", "limit": 10},
                              headers=h).json()
    assert (len(exact["records"]), exact["truncated"]) == (10, False)
    assert served.client.get("/api/v1/audit", params={"limit": 10_001},
                             headers=h).status_code == 422


def test_lineage_runs_say_when_more_runs_exist(served: InProcess) -> None:
    h = served.headers("carla")
    answer = served.client.get("/api/v1/lineage/runs", params={"limit": 1}, headers=h)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    total = len(served.state.governor.lineage_store.runs(limit=None))
    assert body["truncated"] is (total > 1)
    assert len(body["runs"]) == min(total, 1)
    assert served.client.get("/api/v1/lineage/runs", params={"limit": 1001},
                             headers=h).status_code == 422


def test_metrics_count_exceptions_by_status(served: InProcess) -> None:
    h = served.headers("ana")
    for purpose in ("Board deck for the quarter", "Regulator's annual sample"):
        r = served.client.post("/api/v1/exceptions", headers=h, json={
            "destination": "/tmp/x.csv", "purpose": purpose, "approver": "jane"})
        assert r.status_code == 201, r.text
    got = served.client.get("/api/v1/metrics", headers=served.headers("carla")).json()
    listed = served.state.governor.exceptions.list()
    assert got["exceptions"] == {"pending": len(listed)}


# -- audit/verify -------------------------------------------------------------------------------


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every whole-trail walk (``AuditStore.verify``) from now on, by the trail's head."""
    from lacuna.audit import AuditStore

    seen: list[int] = []
    walk = AuditStore.verify

    def counted(self: Any) -> Any:
        report = walk(self)
        seen.append(report.checked)
        return report

    monkeypatch.setattr(AuditStore, "verify", counted)
    return seen


def test_verify_is_for_those_who_audit(served: InProcess, walks: list[int]) -> None:
    """Stewards and compliance officers (and admins, who hold every role's rights); an
    analyst is refused before any walk."""
    assert served.client.get("/api/v1/audit/verify",
                             headers=served.headers("ana")).status_code == 403
    assert walks == []
    for user, code in (("root", 200), ("jane", 200), ("carla", 200)):
        got = served.client.get("/api/v1/audit/verify", headers=served.headers(user))
        assert got.status_code == code, (user, got.text)
    assert served.client.get("/api/v1/audit/verify").status_code == 401


def test_verify_walks_once_and_answers_later_calls_from_that_walk(
        served: InProcess, walks: list[int]) -> None:
    """Every call walked the whole trail. Within the interval every call answers from one
    walk, saying when it was made, which head it covers, and how many records were appended
    since."""
    h = served.headers("carla")
    first = served.client.get("/api/v1/audit/verify", headers=h).json()
    assert len(walks) <= 1  # none when another test of this module's app walked just now
    served.state.governor.audit.record_many([_pair(i) for i in range(3)])
    for _ in range(5):
        again = served.client.get("/api/v1/audit/verify", headers=h).json()
    assert len(walks) == (0 if first.get("cached") else 1)  # no second walk
    assert again["cached"] is True
    assert again["ok"] is True
    assert (again["verified_at"], again["verified_seq"], again["checked"]) == (
        first["verified_at"], first["verified_seq"], first["checked"])
    newest = served.state.governor.audit.list(limit=1)[0].seq
    assert again["appended_since"] == newest - first["verified_seq"] >= 3
    assert again["identities"]["ok"] is True  # checked on every call
    datetime.fromisoformat(again["verified_at"])


def test_concurrent_verifies_share_one_walk(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight callers at once: one walk; the others wait for it and take its answer."""
    from lacuna.audit import AuditStore
    from lacuna.server.verifier import TrailVerifier

    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ef" * 32)
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    store = AuditStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.record_many([_pair(i) for i in range(200)])
    verifier = TrailVerifier(store, interval_s=3600)
    inside = threading.Event()
    release = threading.Event()
    walk = store.verify

    def slow_walk() -> Any:
        inside.set()
        release.wait(10)
        return walk()

    monkeypatch.setattr(store, "verify", slow_walk)
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(verifier.check()))
               for _ in range(8)]
    threads[0].start()
    assert inside.wait(10)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
    store.close()
    assert verifier.walks == 1
    assert len(answers) == 8
    assert {a.verified_at for a in answers} == {answers[0].verified_at}
    assert all(a.report.ok and a.report.checked == 200 for a in answers)
    assert sorted(a.cached for a in answers) == [False] + [True] * 7


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def trail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Path]]:
    from lacuna.audit import AuditStore

    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ef" * 32)
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    path = tmp_path / "state.db"
    store = AuditStore(f"sqlite:///{path}")
    store.record_many([_pair(i) for i in range(40)])
    yield store, path
    store.close()


def _sql(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql)
    conn.close()


def test_an_old_record_edited_after_a_walk_is_found_by_the_next_walk(trail: Any) -> None:
    """Editing record #5 leaves the head as it was: the answer of the walk before the edit is
    given until the interval is over, then the next call walks and names #5."""
    from lacuna.server.verifier import TrailVerifier

    store, path = trail
    clock = Clock()
    verifier = TrailVerifier(store, interval_s=60, clock=clock)
    assert verifier.check().report.ok
    _sql(path, "UPDATE lacuna_audit SET body = replace(body, '\"bounds\"', '\"forged\"') "
               "WHERE seq = 5")
    clock.now += 59
    stale = verifier.check()
    assert (stale.cached, stale.report.ok, verifier.walks) == (True, True, 1)
    clock.now += 2
    found = verifier.check()
    assert (found.cached, verifier.walks) == (False, 2)
    assert (found.report.ok, found.report.first_bad) == (False, 5)
    assert "record #5 was modified after it was written" in found.report.problem
    clock.now += 1
    assert verifier.check().report.first_bad == 5  # the failure is cached like a success
    assert verifier.walks == 2


def test_a_truncated_or_rebuilt_head_is_walked_at_once(trail: Any) -> None:
    """A head that went back, or a different record at the verified head's seq, is not
    answered from the cache: the next call walks, whatever the interval."""
    from lacuna.server.verifier import TrailVerifier

    store, path = trail
    verifier = TrailVerifier(store, interval_s=3600, clock=Clock())
    assert verifier.check().report.checked == 40
    _sql(path, f"UPDATE lacuna_audit SET hash = '{'0' * 63}7' WHERE seq = 40")
    rebuilt = verifier.check()
    assert (rebuilt.cached, rebuilt.report.ok, verifier.walks) == (False, False, 2)
    assert rebuilt.report.first_bad == 40  # its hash no longer matches its body
    broken = verifier.check()  # nothing changed since: the failure is answered, not re-walked
    assert (broken.cached, broken.report.ok, verifier.walks) == (True, False, 2)
    _sql(path, "UPDATE lacuna_audit SET hash = "
               "(SELECT hash FROM lacuna_audit_head WHERE id = 1) WHERE seq = 40")
    mended = verifier.check()  # #40 changed again: walked at once
    assert (mended.cached, mended.report.ok, verifier.walks) == (False, True, 3)
    _sql(path, "DELETE FROM lacuna_audit WHERE seq > 30")
    _sql(path, "UPDATE lacuna_audit_head SET seq = 30, "
               "hash = (SELECT hash FROM lacuna_audit WHERE seq = 30) WHERE id = 1")
    truncated = verifier.check()
    assert (truncated.cached, verifier.walks) == (False, 4)
    assert truncated.report.ok is False
    assert "were deleted" in truncated.report.problem


def test_an_interval_of_zero_walks_on_every_call(trail: Any) -> None:
    from lacuna.server.verifier import TrailVerifier

    store, path = trail
    verifier = TrailVerifier(store, interval_s=0, clock=Clock())
    assert verifier.check().report.ok
    _sql(path, "UPDATE lacuna_audit SET user_id = 'someone' WHERE seq = 2")
    found = verifier.check()
    assert (found.report.first_bad, verifier.walks) == (2, 2)


def test_the_server_setting_and_the_console_use_the_verifier(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """``audit_verify_interval_s`` reaches the verifier; the console's audit page answers from
    the same walk as the API and says when it was made."""
    import re

    from lacuna.server.outer import serving
    from lacuna.server.settings import load_settings

    assert load_settings(environ={}).audit_verify_interval_s == 60
    assert load_settings(environ={"LACUNA_SERVER_AUDIT_VERIFY_INTERVAL_S": "5"}
                         ).audit_verify_interval_s == 5
    with pytest.raises(ConfigError, match="audit_verify_interval_s"):
        load_settings(environ={"LACUNA_SERVER_AUDIT_VERIFY_INTERVAL_S": "-1"})
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    db, config, _ = server_files(tmp_path)
    app = in_process_app(db, config, audit_verify_interval_s=0)
    state = app.state.lacuna
    token = state.users.add("carla", roles=("compliance_officer",))
    with TestClient(serving(app)) as client:
        h = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/audit/verify", headers=h).json()["ok"] is True
        assert state.verifier.walks == 1
        path = Path(db.removeprefix("sqlite:///"))
        _sql(path, "UPDATE lacuna_audit SET body = body || ' ' WHERE seq = 1")
        bad = client.get("/api/v1/audit/verify", headers=h).json()
        assert (bad["ok"], bad["first_bad"], bad["cached"]) == (False, 1, False)
        form = client.get("/console/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        client.post("/console/login", data={"csrf_token": csrf, "token": token})
        page = client.get("/console/audit").text
        assert "Chain broken at record #1" in page
        assert 'class="verified-at"' in page
        assert state.verifier.walks == 3
    state.close()
