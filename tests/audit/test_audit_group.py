"""Group commit (lacuna.audit.group): many callers, one transaction per group, one chain."""

from __future__ import annotations

import itertools
import sqlite3
import textwrap
import threading
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest

import loops
from lacuna.audit import AuditStore
from lacuna.audit import schema as audit_schema
from lacuna.audit.group import GroupCommit
from lacuna.errors import AuditError
from writers import run_together


def test_record_many_chains_in_order(store: AuditStore, mk: Any) -> None:
    ops = [mk.op(user=f"u{i}") for i in range(5)]
    first = store.record(mk.decision(ops[0]), ops[0], session="s")
    stored = store.record_many([(mk.decision(op), op, "s") for op in ops[1:]])
    assert [r.seq for r in stored] == [2, 3, 4, 5]
    assert [r.user_id for r in stored] == ["u1", "u2", "u3", "u4"]
    assert stored[0].prev_hash == first.hash
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    assert store.get(stored[-1].id) == stored[-1]
    assert store.verify().ok


def test_group_commit_under_threads_keeps_one_chain(store: AuditStore, mk: Any) -> None:
    writer = GroupCommit(store)
    got: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        for _ in range(40):
            op = mk.op(user=name)
            rec = writer.record(mk.decision(op), op, session=name)
            assert store.get(rec.id) is not None  # committed before record() returned
            with lock:
                got.append(rec.seq)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert sorted(got) == list(range(1, 321))
    assert writer.records == 320
    assert writer.groups < 320  # eight callers at once: some groups held several records
    report = store.verify()
    assert report.ok, report.problem
    assert report.checked == 320


def test_failed_group_records_nothing_and_tells_every_caller(
        db_url: str, home: Path, mk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_schema, "BUSY_TIMEOUT_S", 0.05)
    store = AuditStore(db_url)
    writer = GroupCommit(store)
    op = mk.op()
    ok = writer.record(mk.decision(op), op, session="s")
    blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock too long
    try:
        futures = [writer.submit(mk.decision(op), op, session="s") for _ in range(5)]
        for future in futures:
            with pytest.raises(AuditError, match="lock"):
                future.result(10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    after = writer.record(mk.decision(op), op, session="s")
    writer.close()
    assert [r.seq for r in store.list(limit=None)] == [after.seq, ok.seq] == [2, 1]
    assert store.verify().ok
    store.close()


def test_closed_writer_refuses(store: AuditStore, mk: Any) -> None:
    writer = GroupCommit(store)
    writer.close()
    op = mk.op()
    with pytest.raises(AuditError, match="closed"):
        writer.record(mk.decision(op), op, session="s")
    assert store.list() == []


def test_async_callers_are_answered_after_their_group_commits(store: AuditStore,
                                                              mk: Any) -> None:
    """submit_async: every coroutine's record is on the trail when its future resolves, in one
    chain, and the loop is answered per group (fewer groups than callers)."""
    import asyncio

    writer = GroupCommit(store)

    async def one(i: int) -> int:
        op = mk.op(user=f"a{i % 4}")
        rec = await writer.submit_async(mk.decision(op, allowed=i % 2 == 0), op,
                                        session="s")
        assert store.get(rec.id) == rec  # committed before the answer
        return rec.seq

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(200)))

    seqs = loops.run(main())
    writer.close()
    assert sorted(seqs) == list(range(1, 201))
    assert writer.groups < 200
    report = store.verify()
    assert (report.ok, report.checked) == (True, 200), report.problem


def test_async_callers_of_a_failed_group_all_learn_it(
        db_url: str, home: Path, mk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr(audit_schema, "BUSY_TIMEOUT_S", 0.05)
    store = AuditStore(db_url)
    writer = GroupCommit(store)
    op = mk.op()
    blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def main() -> list[BaseException | None]:
        futures = [writer.submit_async(mk.decision(op), op, session="s") for _ in range(5)]
        got = await asyncio.gather(*futures, return_exceptions=True)
        return [g if isinstance(g, BaseException) else None for g in got]

    try:
        errors = loops.run(main())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert all(isinstance(e, AuditError) and "lock" in str(e) for e in errors), errors
    ok = writer.record(mk.decision(op), op, session="s")  # and the writer carries on
    writer.close()
    assert ok.seq == 1
    assert store.verify().ok
    store.close()


def test_writer_waits_for_its_turn(store: AuditStore, mk: Any) -> None:
    """While another writer holds the turn (lacuna.audit.turn), nothing is committed; once it
    is released the queued records go in together, in one group."""
    from lacuna.audit.turn import Turn

    assert store.path is not None
    other = Turn(store.path)  # another process's writer, as far as flock can tell
    writer = GroupCommit(store)
    op = mk.op()
    writer.record(mk.decision(op), op, session="s")  # the writer has opened its lock file
    with other.hold():
        futures = [writer.submit(mk.decision(op), op, session="s") for _ in range(6)]
        done, _ = wait(futures, timeout=0.5)
        assert not done
        assert [r.seq for r in store.list(limit=None)] == [1]
    stored = [f.result(10) for f in futures]
    groups = writer.groups
    writer.close()
    other.close()
    assert [r.seq for r in stored] == [2, 3, 4, 5, 6, 7]
    assert groups <= 3  # the first one or two, then everything that waited for the turn
    assert store.verify().ok


def test_turn_without_a_lock_file_still_appends(tmp_path: Path, home: Path, mk: Any) -> None:
    """A lock file that cannot be made (here: its folder is gone) is skipped, not fatal."""
    from lacuna.audit.turn import Turn

    turn = Turn(tmp_path / "missing" / "audit.db")
    with turn.hold():
        pass
    turn.close()
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store._turn = Turn(tmp_path / "missing" / "audit.db")
    writer = GroupCommit(store)
    op = mk.op()
    assert writer.record(mk.decision(op), op, session="s").seq == 1
    writer.close()
    assert store.verify().ok
    store.close()


GROUP_WRITER = textwrap.dedent("""
    import sys
    import threading
    from lacuna.audit import AuditStore
    from lacuna.audit.group import GroupCommit
    from lacuna.model import Action, Classification, Decision, Operation, User

    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = AuditStore(url)
    writer = GroupCommit(store)
    print("ready", flush=True)
    sys.stdin.readline()  # start together

    def work(t):
        for _ in range(n):
            op = Operation(action=Action.WRITE, user=User(id=name), classification=Classification())
            writer.record(Decision(allowed=True, operation_id=op.id, reasoning="ok"), op,
                          session=f"{name}-{t}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    store.close()
""")


def test_group_commits_of_two_processes_take_turns_on_one_chain(db_url: str,
                                                                 home: Path) -> None:
    """The server's case: two workers, each with its group commit, on one SQLite trail."""
    n = 60
    run_together(GROUP_WRITER, db_url, n)
    with AuditStore(db_url) as store:
        report = store.verify()
        assert (report.ok, report.checked) == (True, 2 * 4 * n), report.problem
        users = [r.user_id for r in reversed(store.list(limit=None))]
        assert users.count("proc0") == users.count("proc1") == 4 * n
        assert any(a != b for a, b in itertools.pairwise(users))  # they interleaved


def test_a_group_is_inserted_by_one_statement_not_one_step_per_record(store: AuditStore,
                                                                     mk: Any) -> None:
    """Each statement lets go of the GIL and takes it back, which in a busy server worker can
    wait a switch interval while the writer holds the write lock: a group of 40 records is one
    INSERT (audit_schema.insert_rows), and reads back whole and in order."""
    ops = [mk.op(user=f"u{i}") for i in range(40)]
    store.record(mk.decision(ops[0]), ops[0], session="s")  # the raw connection opened
    statements: list[str] = []
    raw = store._raw_connection().dbapi_connection
    raw.set_trace_callback(statements.append)
    try:
        stored = store.record_many([(mk.decision(op), op, "s") for op in ops[1:]])
    finally:
        raw.set_trace_callback(None)
    inserts = [s for s in statements if s.startswith("INSERT INTO lacuna_audit ")]
    assert len(inserts) == 1
    assert [r.user_id for r in stored] == [f"u{i}" for i in range(1, 40)]
    assert [r.seq for r in store.list(limit=None)][:3] == [40, 39, 38]
    assert [store.get(r.id) for r in stored] == stored
    assert store.verify().ok


def test_insert_rows_splits_at_sqlites_variable_limit(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)  # two rows of three per statement
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    rows = [(i, f"b{i}", None) for i in range(5)]
    audit_schema.insert_rows(conn, "t (a, b, c)", 3, rows)
    audit_schema.insert_rows(conn, "t (a, b, c)", 3, [])
    conn.set_trace_callback(None)
    assert len(statements) == 3  # 2 + 2 + 1 rows
    assert conn.execute("SELECT a, b, c FROM t ORDER BY a").fetchall() == rows
    conn.close()
