from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditRecord, AuditStore
from lacuna.audit.record import GENESIS_HASH, canonical_json, chain_hash
from lacuna.errors import AuditError
from lacuna.model import Action


def test_record_first_links_to_genesis(store: AuditStore, mk: Any) -> None:
    op = mk.op()
    rec = store.record(mk.decision(op), op, session="s1")
    assert rec.seq == 1
    assert rec.prev_hash == GENESIS_HASH
    assert rec.hash == chain_hash(GENESIS_HASH, rec.body)
    assert store.get(rec.id) == rec


def test_record_body_holds_provenance_and_decision(store: AuditStore, mk: Any) -> None:
    op = mk.op(timestamp=mk.utc(2026, 1, 20, 14, 0, 0))
    rec = store.record(mk.decision(op), op, session="sess-1")
    body = json.loads(rec.body)
    assert body.pop("recorded_at")
    assert body == {
        "schema_version": "1",
        "id": rec.id,
        "seq": 1,
        "operation_id": op.id,
        "who": {"user_id": "analyst_alice", "role": "data_analyst", "session": "sess-1"},
        "what": {
            "action": "export",
            "sources": ["customers.csv"],
            "destination": "~/Downloads/export.csv",
            "environment": "development",
            "tier": "PROPRIETARY",
            "tags": ["PII", "GDPR"],
            "columns": {"email": "pii:email", "revenue": "financial"},
            "column_count": 3,
        },
        "when": "2026-01-20T14:00:00.000000+00:00",
        "why": {"purpose": "Q4 board report", "exception_id": None,
                "exception_approved": False},
        "how": {"method": "pandas.DataFrame.to_csv", "code_location": "analysis.py:42"},
        "decision": {
            "allowed": False,
            "policy_id": "P-2024-001",
            "policy_title": "PII Export Restrictions",
            "reasoning": "Cannot export PROPRIETARY data",
            "steward": None,
            "alternatives": [],
            "policies": [],
            "engine_error": None,
            "bundle_revision": "rev-1",
            "config_revision": None,  # a store of its own: no configuration recorded
            "eval_ms": 0.123,
        },
    }


def test_record_body_is_canonical_json(store: AuditStore, mk: Any) -> None:
    op = mk.op(user="zoë")
    rec = store.record(mk.decision(op), op, session="s")
    assert rec.body == canonical_json(json.loads(rec.body))
    assert " " not in rec.body.replace("Cannot export PROPRIETARY data", "").replace(
        "Q4 board report", ""
    ).replace("PII Export Restrictions", "")
    assert "zoë" in rec.body  # UTF-8, not \\u escapes


def test_record_timestamp_is_stored_in_utc(store: AuditStore, mk: Any) -> None:
    cet = timezone(timedelta(hours=1))
    op = mk.op(timestamp=mk.utc(2026, 1, 20, 14).astimezone(cet))
    rec = store.record(mk.decision(op), op, session="s")
    assert rec.data["when"] == "2026-01-20T14:00:00.000000+00:00"
    assert store.get(rec.seq).timestamp == mk.utc(2026, 1, 20, 14)  # type: ignore[union-attr]


def test_record_allowed_and_denied_are_both_appended(store: AuditStore, mk: Any) -> None:
    op = mk.op()
    store.record(mk.decision(op, allowed=True), op, session="s")
    store.record(mk.decision(op, allowed=False), op, session="s")
    assert [r.allowed for r in store.list()] == [False, True]


def test_list_is_newest_first_and_limited(store: AuditStore, fill: Callable[[int], None]) -> None:
    fill(10)
    assert [r.seq for r in store.list(limit=3)] == [10, 9, 8]
    assert len(store.list(limit=None)) == 10
    assert store.list(limit=0) == []


def test_list_filters(store: AuditStore, fill: Callable[[int], None], mk: Any) -> None:
    fill(9)  # users user0..user2 in turn; even i allowed
    assert [r.seq for r in store.list(denied_only=True)] == [8, 6, 4, 2]
    assert [r.seq for r in store.list(user="user1")] == [8, 5, 2]
    assert [r.seq for r in store.list(user="user1", denied_only=True)] == [8, 2]
    op = mk.op(action=Action.READ, destination=None)
    store.record(mk.decision(op, allowed=True), op, session="s")
    assert [r.seq for r in store.list(action="read")] == [10]
    assert store.list(action="write") == []


def test_list_pages_by_seq_policy_and_named_field(store: AuditStore,
                                                   fill: Callable[[int], None]) -> None:
    """``before`` (a seq), ``policy_id`` and ``naming`` narrow a read in the database: the
    console's review page reads feedback a batch at a time with them."""
    from lacuna.audit.record import event_body

    fill(6)
    assert [r.seq for r in store.list(before=5, limit=2)] == [4, 3]
    assert [r.seq for r in store.list(before=1)] == []
    assert [r.seq for r in store.list(after=4, limit=None)] == [6, 5]
    assert [r.seq for r in store.list(after=2, before=5, limit=None)] == [4, 3]
    by_id = {r.id: r for r in store.list(limit=None)}
    some_ids = [r.id for r in store.list(limit=None) if r.seq in (2, 5)]
    assert store.get_many([*some_ids, "0" * 32]) == {i: by_id[i] for i in some_ids}
    assert store.get_many([]) == {}
    policies = {r.seq: r.policy_id for r in store.list(limit=None)}
    some = next(p for p in policies.values() if p)
    assert [r.seq for r in store.list(policy_id=some, limit=None)] == [
        s for s, p in sorted(policies.items(), reverse=True) if p == some]

    def note(value: str, comment: str) -> int:
        return store.record_event(event_body(
            "note", user=("ann", "analyst"), session="s", what={"action": "note"},
            reasoning="r", policy_id="P-9", detail={"ref": value, "comment": comment})).seq

    a = note("abc", "")
    b = note("zzz", 'mentions "ref":"abc" in its text')  # escaped in the body: not a match
    c = note("abc\u202e", "")
    assert [r.seq for r in store.list(naming=("ref", ["abc"]), limit=None)] == [a]
    assert [r.seq for r in store.list(naming=("ref", ["abc", "zzz", "abc\u202e"]),
                                      action="note", limit=None)] == [c, b, a]
    assert store.list(naming=("ref", []), limit=None) == []
    assert "P-9" in store.policy_ids(action="note")
    assert store.policy_ids(action="note") == ["P-9"]
    assert store.policy_ids(action="nothing") == []


def test_list_since(store: AuditStore, mk: Any) -> None:
    for day in (1, 2, 3):
        op = mk.op(timestamp=mk.utc(2026, 1, day, 12))
        store.record(mk.decision(op), op, session="s")
    assert [r.seq for r in store.list(since=mk.utc(2026, 1, 2))] == [3, 2]
    assert [r.seq for r in store.list(since="2026-01-02T12:00:00+00:00")] == [3, 2]
    assert [r.seq for r in store.list(since="2026-01-03")] == [3]  # naive: UTC


def test_list_since_rejects_garbage(store: AuditStore) -> None:
    with pytest.raises(AuditError, match="ISO-8601"):
        store.list(since="last tuesday")


def test_get_by_seq_and_missing(store: AuditStore, fill: Callable[[int], None]) -> None:
    fill(3)
    rec = store.get(2)
    assert isinstance(rec, AuditRecord)
    assert rec.seq == 2
    assert store.get(99) is None
    assert store.get("no-such-id") is None


def test_record_view_fields(store: AuditStore, mk: Any) -> None:
    op = mk.op()
    rec = store.record(mk.decision(op), op, session="s")
    assert (rec.destination, rec.tier, rec.policy_title, rec.reasoning) == (
        "~/Downloads/export.csv",
        "PROPRIETARY",
        "PII Export Restrictions",
        "Cannot export PROPRIETARY data",
    )
    assert rec.to_dict()["hash"] == rec.hash
    assert rec.to_dict()["who"]["user_id"] == "analyst_alice"


def test_store_persists_and_continues_the_chain(db_url: str, home: Path, mk: Any) -> None:
    with AuditStore(db_url) as s:
        op = mk.op()
        first = s.record(mk.decision(op), op, session="a")
    with AuditStore(db_url) as s:
        op = mk.op()
        second = s.record(mk.decision(op), op, session="b")
        assert second.seq == 2
        assert second.prev_hash == first.hash
        assert s.verify().ok


def test_store_creates_parent_folder_in_wal_mode(tmp_path: Path, home: Path, mk: Any) -> None:
    path = tmp_path / "a" / "b" / "audit.db"
    with AuditStore(f"sqlite:///{path}") as s:
        op = mk.op()
        s.record(mk.decision(op), op, session="s")
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_store_expands_home_in_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with AuditStore("sqlite:///~/trail/audit.db") as s:
        assert s.path == tmp_path / "trail" / "audit.db"
    assert (tmp_path / "trail" / "audit.db").is_file()


def test_store_in_memory(home: Path, mk: Any) -> None:
    with AuditStore("sqlite://") as s:
        op = mk.op()
        s.record(mk.decision(op), op, session="s")
        s.record(mk.decision(op), op, session="s")
        assert s.verify().checked == 2
        assert "sqlite://" in repr(s)
