"""Writers of one SQLite state database take turns: an ``flock`` beside the database file.

SQLite serializes writers itself, but a writer that finds the database locked sleeps in its
busy handler (1, 2, 5, 10, ... up to 100 ms between retries) however soon the lock is free
again. With several processes appending all the time (the server's workers, each with its
audit group commit and its decision-log writer) those sleeps are what a request's latency
tail is made of. A writer that first takes its :class:`Turn` (an exclusive ``flock`` on
``<database>.append-lock``) is woken by the kernel as soon as the previous writer releases it,
and then finds SQLite's write lock free.

The turn only orders writers that take it: the chain is still serialized by the database's
own write lock, so a writer that does not take it (another tool, an older Lacuna) is as safe
as before, it just waits the old way. Each :class:`Turn` opens its own file description, so
two turns in one process exclude each other too; a forked child opens its own. The lock dies
with its process (``kill -9`` included). A lock file that cannot be opened (a read-only folder)
or locked is skipped: writers then wait on SQLite alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
SUFFIX = ".append-lock"


class Turn:
    """The writers' turn on the SQLite file ``database`` (``None``: not a file, no turn)."""

    def __init__(self, database: Path | None) -> None:
        self.path = None if database is None else Path(f"{database}{SUFFIX}")
        self._fd: int | None = None
        self._pid = 0

    @classmethod
    def at(cls, lock: Path) -> Turn:
        """A turn on the lock file ``lock`` itself, for work other than a database's writers
        (one ``lacuna retention apply`` at a time: :func:`lacuna.retention.api.apply`)."""
        turn = cls(None)
        turn.path = lock
        return turn

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for the turn, hold it for the block."""
        fd = self._open()
        if fd is None:
            yield
            return
        locked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # e.g. ENOLCK: go on without it, SQLite still serializes
            log.warning("could not take the writers' turn at %s (%s): waiting on SQLite alone",
                        self.path, exc.strerror)
            locked = False
        try:
            yield
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """Take the turn only if it is free now: yields whether it was taken (``True`` with no
        lock file at all, as :meth:`hold` then goes on without one). Never waits, so an event
        loop may call it; a caller that gets ``False`` hands its work to a thread that waits."""
        fd = self._open()
        if fd is None:
            yield self.path is None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EWOULDBLOCK: another writer has it (or ENOLCK: let hold() decide)
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def opens(self) -> bool:
        """Whether there is a lock file to take turns on (it opens, or is open already)."""
        return self._open() is not None

    def _open(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked child locks on its own
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                log.debug("no writers' turn at %s (%s): writers wait on SQLite alone",
                          self.path, exc.strerror)
                return None
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
