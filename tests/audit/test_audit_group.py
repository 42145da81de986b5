"""Group commit (lacuna.audit.group): many callers, one transaction per group, one chain."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit import schema as audit_schema
from lacuna.audit.group import GroupCommit
from lacuna.errors import AuditError


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
