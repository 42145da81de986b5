"""A commit of another SQLite connection at a chosen moment of a transaction under test.

``meanwhile = CommitMeanwhile(db)``; call ``meanwhile()`` between the transaction's first read
and its first write: another connection (on a thread of its own) inserts a row and commits.
When nothing holds the write lock (a transaction begun ``DEFERRED`` that has only read), it
commits at once, and SQLite then refuses the transaction's write with "database is locked"
(a stale read snapshot cannot become a write). When the transaction took the write lock
first (``BEGIN IMMEDIATE``), the other connection waits its turn: ``meanwhile()`` gives up
waiting for it after ``wait`` seconds, and :meth:`landed` joins it after the transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class CommitMeanwhile:
    def __init__(self, db: Path, wait: float = 0.5) -> None:
        self.db, self.wait = db, wait
        with sqlite3.connect(db) as conn:
            conn.execute("create table if not exists meanwhile (n integer)")
        self.committed = threading.Event()
        self._thread = threading.Thread(target=self._commit)

    def _commit(self) -> None:
        conn = sqlite3.connect(self.db, timeout=30)
        conn.execute("insert into meanwhile values (1)")
        conn.commit()
        conn.close()
        self.committed.set()

    def __call__(self) -> None:
        self._thread.start()
        self.committed.wait(self.wait)  # at once unless the write lock is held

    def landed(self) -> bool:
        """Whether the other connection's commit landed (after the transaction ended)."""
        self._thread.join(30)
        return self.committed.is_set()
