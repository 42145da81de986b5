"""WAL checkpoints off the commit path (lacuna.audit.walcheck): the server's group commit and
decision log leave copying the log back to a thread of their own, and the database file still
ends up holding every committed record."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from lacuna.audit import AuditStore
from lacuna.audit.group import GroupCommit
from lacuna.audit.walcheck import BACKSTOP_PAGES, WalCheckpointer


def _wait(done: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_group_commit_checkpoints_outside_its_commits(tmp_path: Path, home: Path, mk: Any
                                                       ) -> None:
    db = tmp_path / "audit.db"
    store = AuditStore(f"sqlite:///{db}")
    writer = GroupCommit(store)
    try:
        for i in range(60):
            op = mk.op(user=f"u{i % 3}")
            writer.record(mk.decision(op), op, session="s")
        raw = store._raw_connection().dbapi_connection
        # the append connection no longer checkpoints at SQLite's 1,000 pages, only as a
        # backstop far beyond them
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
        wal = store._wal
        assert wal is not None
        alone = tmp_path / "alone.db"

        def in_the_file_alone() -> int:
            """Records in a copy of the database file without its -wal: those copied back."""
            shutil.copyfile(db, alone)
            try:
                with sqlite3.connect(alone) as conn:
                    n: int = conn.execute("SELECT COUNT(*) FROM lacuna_audit").fetchone()[0]
            except sqlite3.DatabaseError:  # not even the table copied back yet, or a copy
                n = -1  # taken while the checkpointer wrote the file (a torn page: malformed)
            alone.unlink()
            return n

        # 60 small groups are far below SQLite's 1,000 pages: only the checkpointer copies
        # the log back, and it copies all of it, the last commit's too
        assert _wait(lambda: in_the_file_alone() == 60)
        # the checkpointer counts a run once its statement returned, a moment after the copy
        assert _wait(lambda: wal.runs > 0)
    finally:
        writer.close()
        store.close()
    assert store._wal is not None
    assert store._wal._thread is None  # closed with the store
    with AuditStore(f"sqlite:///{db}", read_only=True) as reader:
        report = reader.verify()
    assert report.ok, report.problem
    assert report.checked == 60


def test_a_store_without_group_commit_checkpoints_as_sqlite_does(tmp_path: Path, home: Path,
                                                                 mk: Any) -> None:
    """Only the server's writers move checkpoints out: a library store keeps SQLite's own."""
    with AuditStore(f"sqlite:///{tmp_path / 'a.db'}") as store:
        op = mk.op()
        store.record(mk.decision(op), op, session="s")
        raw = store._raw_connection().dbapi_connection
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert store._wal is None


def test_the_checkpointer_asks_nothing_of_a_database_that_is_not_a_file() -> None:
    wal = WalCheckpointer(None)
    wal.committed()
    assert wal._thread is None
    wal.close()


def test_a_closed_checkpointer_starts_no_thread(tmp_path: Path) -> None:
    wal = WalCheckpointer(tmp_path / "x.db")
    wal.close()
    wal.committed()
    assert wal._thread is None
    assert wal.runs == 0
