"""Audit layout 3: a decision's operation id in an indexed column, what ``of_operation`` looks
up; filled in on append and by the migration of an older trail; checked by ``verify``."""

from __future__ import annotations

import dataclasses
import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from lacuna.audit import AuditStore
from lacuna.audit.record import OPERATION_ID_INDEXED
from lacuna.audit.schema import LAYOUT_VERSION
from lacuna.state.schema import MIGRATIONS, head_revision

REVISION = MIGRATIONS / "versions" / "0010_audit_operation_id.py"


def _column(db: Path) -> dict[int, str | None]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, operation_id FROM lacuna_audit ORDER BY seq").fetchall()
    conn.close()
    return dict(rows)


def _trail(store: AuditStore, mk: Any) -> list[str]:
    """Decisions, outcomes and events, some of one operation: the operation ids, in order."""
    ids = []
    for i in range(12):
        op = mk.op(user=f"u{i % 3}")
        decision = mk.decision(op, allowed=i % 2 == 0)
        rec = store.record(decision, op, session="s")
        ids.append(op.id)
        if i % 3 == 0:  # an outcome and an event that name the same operation, after it
            store.record_outcome(decision, op, session="s", of=rec.id)
            store.record_event({"kind": "feedback", "operation_id": op.id,
                                "who": {"user_id": "u0"}, "what": {"action": "feedback"},
                                "when": rec.data["when"],
                                "decision": {"allowed": True, "policy_id": None}})
    again = mk.op()  # one operation decided twice: the newest decision is the answer
    again_id = again.id
    for _ in range(2):
        store.record(mk.decision(again), again, session="s")
    ids.append(again_id)
    return ids


def _answers(store: AuditStore, ids: list[str]) -> dict[str, int | None]:
    out = {}
    for op_id in [*ids, "no-such-operation"]:
        rec = store.of_operation(op_id)
        out[op_id] = None if rec is None else rec.seq
    return out


def _to_layout_2(db: Path) -> None:
    """What a trail written before layout 3 looks like: no column, no index, layout 2, its
    state schema at revision 0009."""
    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX ix_lacuna_audit_operation_id")
        conn.execute("ALTER TABLE lacuna_audit DROP COLUMN operation_id")
        conn.execute("UPDATE lacuna_audit_head SET layout_version = 2")
        conn.execute("UPDATE lacuna_alembic_version SET version_num = '0009'")
    conn.close()


def test_a_new_trail_indexes_decisions_only(db_url: str, home: Path, mk: Any) -> None:
    db = Path(db_url.removeprefix("sqlite:///"))
    with AuditStore(db_url) as store:
        ids = _trail(store, mk)
        by_seq = {r.seq: r for r in store.list(limit=None)}
        answers = _answers(store, ids)
        assert store.verify().ok
    column = _column(db)
    for seq, rec in by_seq.items():
        expected = rec.data["operation_id"] if "kind" not in rec.data else None
        assert column[seq] == expected, seq
    assert {by_seq[s].data.get("kind") for s, v in column.items() if v is None} == {
        "outcome", "feedback"}
    for op_id, seq in answers.items():  # the newest decision, never an outcome or event
        if op_id == "no-such-operation":
            assert seq is None
            continue
        assert seq is not None
        assert "kind" not in by_seq[seq].data
        assert seq == max(s for s, r in by_seq.items()
                          if "kind" not in r.data and r.data["operation_id"] == op_id)
    with sqlite3.connect(db) as conn:
        plan = str(conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM lacuna_audit WHERE operation_id = ? "
            "ORDER BY seq DESC", (ids[0],)).fetchall())
        layout = conn.execute("SELECT layout_version FROM lacuna_audit_head").fetchone()
    conn.close()
    assert "ix_lacuna_audit_operation_id" in plan
    assert layout == (LAYOUT_VERSION,) == (3,)


def test_a_layout_2_trail_is_migrated_on_open(db_url: str, home: Path, mk: Any) -> None:
    db = Path(db_url.removeprefix("sqlite:///"))
    with AuditStore(db_url) as store:
        ids = _trail(store, mk)
        answers = _answers(store, ids)
        head_before = store.verify().head
    filled = _column(db)
    _to_layout_2(db)

    # a reader (`lacuna audit verify`) before any writer has migrated it: unchanged, readable
    with AuditStore(db_url, create=False, read_only=True) as reader:
        report = reader.verify()
        assert (report.ok, report.head) == (True, head_before), report.problem
        assert _answers(reader, ids) == answers  # by the bodies, as before layout 3
    with sqlite3.connect(db) as conn:
        assert "operation_id" not in {r[1] for r in conn.execute("PRAGMA table_info(lacuna_audit)")}
    conn.close()

    with AuditStore(db_url) as store:  # a writer migrates it under the write lock
        report = store.verify()
        assert (report.ok, report.head) == (True, head_before), report.problem
        assert _answers(store, ids) == answers
        op = mk.op()
        store.record(mk.decision(op), op, session="s")
        assert store.of_operation(op.id) is not None
        assert store.verify().ok
    assert {s: v for s, v in _column(db).items() if s in filled} == filled
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT layout_version FROM lacuna_audit_head").fetchone() == (3,)
        assert conn.execute("SELECT version_num FROM lacuna_alembic_version").fetchone() == (
            head_revision(),)
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND name = "
                            "'ix_lacuna_audit_operation_id'").fetchone() is not None
    conn.close()


def test_the_backfill_reads_in_batches_and_matches_the_append(
        db_url: str, home: Path, mk: Any) -> None:
    """The migration's backfill, in batches smaller than the trail, gives every record the
    value the append gave it (also for bodies that are not JSON objects: none)."""
    spec = importlib.util.spec_from_file_location("rev0010", REVISION)
    assert spec is not None
    assert spec.loader is not None
    rev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rev)
    rev.BATCH = 5
    db = Path(db_url.removeprefix("sqlite:///"))
    with AuditStore(db_url) as store:
        _trail(store, mk)
    appended = _column(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lacuna_audit SET operation_id = NULL")
    conn.close()
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            reads: list[int] = []
            real = conn.execute
            conn.execute = lambda stmt, params=None: (  # type: ignore[method-assign]
                reads.append(1) if "SELECT" in str(stmt) else None) or real(stmt, params)
            filled = rev.backfill(conn)
    finally:
        engine.dispose()
    assert _column(db) == appended
    assert filled == sum(v is not None for v in appended.values())
    assert len(reads) == len(appended) // 5 + 1  # the last, short or empty, read ends it


def test_verify_reports_an_edited_operation_id_column(db_url: str, home: Path, mk: Any) -> None:
    db = Path(db_url.removeprefix("sqlite:///"))
    with AuditStore(db_url) as store:
        ids = _trail(store, mk)
        victim = store.of_operation(ids[4])
        other = store.of_operation(ids[5])
        assert victim is not None
        assert other is not None
        assert store.verify().ok
    with sqlite3.connect(db) as conn:  # hide a decision from the lookup
        conn.execute("UPDATE lacuna_audit SET operation_id = NULL WHERE seq = ?", (victim.seq,))
    conn.close()
    with AuditStore(db_url, create=False, read_only=True) as reader:
        assert reader.of_operation(ids[4]) is None  # hidden from the index ...
        report = reader.verify()  # ... and reported
    assert (report.ok, report.first_bad) == (False, victim.seq)
    assert f"record #{victim.seq}'s operation_id column says None" in report.problem
    assert repr(ids[4]) in report.problem

    with sqlite3.connect(db) as conn:  # now file another operation's decision under it
        conn.execute("UPDATE lacuna_audit SET operation_id = ? WHERE seq = ?",
                     (ids[4], victim.seq))
        conn.execute("UPDATE lacuna_audit SET operation_id = ? WHERE seq = ?",
                     (ids[4], other.seq))
    conn.close()
    with AuditStore(db_url, create=False, read_only=True) as reader:
        found = reader.of_operation(ids[4])  # the body is checked: never the other's record
        assert found is not None
        assert found.seq == victim.seq
        assert reader.of_operation(ids[5]) is None
        report = reader.verify()
    assert (report.ok, report.first_bad) == (False, other.seq)
    assert "operation_id column" in report.problem

    with sqlite3.connect(db) as conn:  # an outcome given an id
        conn.execute("UPDATE lacuna_audit SET operation_id = ? WHERE seq = ?",
                     (ids[5], other.seq))
        seq = conn.execute("SELECT seq FROM lacuna_audit WHERE body LIKE '%\"kind\":\"outcome\"%'"
                           " ORDER BY seq LIMIT 1").fetchone()[0]
        conn.execute("UPDATE lacuna_audit SET operation_id = 'x' WHERE seq = ?", (seq,))
    conn.close()
    with AuditStore(db_url, create=False, read_only=True) as reader:
        report = reader.verify()
    assert (report.ok, report.first_bad) == (False, seq)
    assert "body says None" in report.problem


def test_an_id_too_long_for_the_column_is_found_by_its_body(
        db_url: str, home: Path, mk: Any) -> None:
    db = Path(db_url.removeprefix("sqlite:///"))
    long_id = "op-" + "x" * OPERATION_ID_INDEXED
    with AuditStore(db_url) as store:
        op = dataclasses.replace(mk.op(), id=long_id)
        decision = mk.decision(op)
        rec = store.record(decision, op, session="s")
        store.record_outcome(decision, op, session="s", of=rec.id)
        found = store.of_operation(long_id)
        assert found is not None
        assert found.seq == rec.seq
        assert store.verify().ok
    assert _column(db)[rec.seq] is None


@pytest.mark.parametrize("layout", [4, 99])
def test_a_newer_layout_is_still_refused(db_url: str, home: Path, layout: int) -> None:
    AuditStore(db_url).close()
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE lacuna_audit_head SET layout_version = ?", (layout,))
    conn.close()
    with pytest.raises(Exception, match=rf"newer Lacuna \(audit layout {layout}, this one "
                                        r"reads 3\)"):
        AuditStore(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT layout_version FROM lacuna_audit_head")).scalar() == layout
    engine.dispose()
