"""WAL checkpoints of an SQLite state database, on a thread of their own, outside the writers'
transactions and turns.

SQLite copies its write-ahead log back into the database file in whichever commit takes the
log past ``wal_autocheckpoint`` pages (1,000 by default): that commit then also syncs the log,
copies a few MB and syncs the database file. On a server the committing writer holds the
writers' turn (:mod:`lacuna.audit.turn`) meanwhile, so every writer of every worker waits for
the disk, and the callers of their groups with them: a recorded decision's p99 went from
~16 ms to ~25 ms with those checkpoints in the commit path (``bench_server.py``, recorded case,
6 connections, load 2–3).

A :class:`WalCheckpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection and
thread, at most every ``interval_s`` while writers commit (:meth:`~WalCheckpointer.committed`
only sets a flag). A passive checkpoint waits for no one and blocks no writer: commits go on
appending to the log while it copies. The writers' own connections keep a high
``wal_autocheckpoint`` (:data:`BACKSTOP_PAGES`) as a backstop: if this thread cannot keep up
(a reader holding an old snapshot for long), SQLite still checkpoints in a commit, as before,
so the log stays bounded. Durability is unchanged: a commit is durable in the log (WAL,
``synchronous=NORMAL``) whether or not it has been copied yet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path

from lacuna._forks import no_fork

log = logging.getLogger(__name__)
BACKSTOP_PAGES = 16_000  # ~64 MB of log before a commit checkpoints by itself
INTERVAL_S = 0.1


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite file ``database`` (``None``: not a file, nothing to
    do) on a daemon thread, started in each process on its first commit."""

    def __init__(self, database: Path | None, *, interval_s: float = INTERVAL_S) -> None:
        self.path = database
        self.interval_s = interval_s
        self.runs = 0  # checkpoints run (for tests)
        self._pending = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()

    def committed(self) -> None:
        """A writer committed: checkpoint within ``interval_s`` (never blocks)."""
        if self.path is None or self._stop.is_set():
            return
        if self._thread is None or self._pid != os.getpid():  # a forked child starts its own
            self._start()
        self._pending = True
        self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._wake = threading.Event()  # a forked child's events start afresh
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="lacuna-wal-checkpoint",
                                            daemon=True)
            self._pid = os.getpid()
            self._thread.start()

    def _run(self) -> None:
        assert self.path is not None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:  # the writers' backstop checkpoints instead
            log.warning("no WAL checkpoints beside %s (%s): commits checkpoint by themselves",
                        self.path, exc)
            return
        try:
            while not self._stop.is_set():
                self._wake.wait()
                self._wake.clear()
                if self._stop.wait(self.interval_s):  # let commits gather, at most 1/interval
                    break
                if not self._pending:
                    continue
                self._pending = False
                try:
                    with no_fork():  # a child would inherit SQLite's locks taken
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error as exc:  # busy or gone: the next commit asks again
                    log.debug("WAL checkpoint of %s skipped: %s", self.path, exc)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (what is in the log stays there, durable; SQLite checkpoints it
        when the last connection closes)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)
        self._thread = None
