"""Writes to one local path that Lacuna records for the sweep take turns.

A write to a local file decides what the sweep will answer for before it writes, and records it
after: which exceptions' records a full overwrite closes (:func:`lacuna.exceptions.appends.
replacing`, then :func:`~lacuna.exceptions.appends.supersede`), whether an append may add to
the file (:func:`~lacuna.exceptions.appends.check_append`), the record of a write under an
exception (:func:`lacuna.exceptions.files.remember`, then :func:`~lacuna.exceptions.files.
written`). Two writers of the same path interleaving those steps would leave records that do
not say what the file holds: an overwrite closing the record another writer under the
exception had just made (its file then outlives the exception), an append recorded on top of
content an overwrite put there. :func:`path_lock` makes the whole sequence one step per path:

- in one process: a lock per path (re-entrant for the thread holding it);
- across processes of the same OS user on one host: an exclusive ``flock`` on a lock file
  named after the path (``$TMPDIR/lacuna-<uid>/file-locks/``), on any state database (SQLite or
  PostgreSQL: the lock is on the host where the file is, not in the database). It dies with its
  process. A lock file that cannot be made or locked (a read-only temporary folder, no
  ``flock``) is logged at WARNING and the write goes on with the in-process lock alone.

Paths are spread over :data:`STRIPES` locks (a hash of the resolved path), so the number of
lock files stays bounded; two paths sharing a stripe only take turns.

Not covered: writers running as different OS users, or on different hosts writing one shared
folder (NFS), do not take turns; a store object open across user code (``pd.HDFStore``) takes
its turn when it opens and when it closes, not in between.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("lacuna.exceptions")
STRIPES = 256


class _Stripe:
    """One stripe: the in-process lock, how deep the holding thread is, its lock file."""

    __slots__ = ("depth", "fd", "lock")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None


_STRIPES = tuple(_Stripe() for _ in range(STRIPES))
_WARNED = threading.Event()


def resolved(path: str | os.PathLike[str]) -> str:
    """The path a lock is named after: absolute, ``~`` expanded, links resolved."""
    return os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _stripe_of(where: str) -> int:
    return int.from_bytes(hashlib.sha256(where.encode()).digest()[:4], "big") % STRIPES


def lock_folder() -> str:
    """Where the lock files are: one folder per OS user, in the temporary folder."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"lacuna-{uid}", "file-locks")


def _flock(stripe: int) -> int | None:
    """An open, exclusively locked lock file for ``stripe`` (waits for it), or None when no
    lock file can be had (logged once at WARNING)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock (Windows): in-process only
        return None
    folder = lock_folder()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(folder, f"{stripe:03d}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        if not _WARNED.is_set():
            _WARNED.set()
            log.warning("no lock file for writes to local paths in %s (%s): writers in other "
                        "processes do not take turns with this one", folder, exc.strerror)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:  # ENOLCK
        os.close(fd)
        if not _WARNED.is_set():
            _WARNED.set()
            log.warning("could not lock %s (%s): writers in other processes do not take "
                        "turns with this one", folder, exc.strerror)
        return None
    return fd


@contextmanager
def path_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the turn of writes to ``path`` (see the module docstring) for the block."""
    stripe = _stripe_of(resolved(path))
    held = _STRIPES[stripe]
    with held.lock:
        held.depth += 1
        try:
            if held.depth == 1:  # the thread's first turn on it: across processes too
                held.fd = _flock(stripe)
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                os.close(held.fd)  # releases the flock
                held.fd = None


__all__ = ["STRIPES", "lock_folder", "path_lock", "resolved"]
