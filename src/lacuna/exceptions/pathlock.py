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
  named after the path (``$LACUNA_HOME/file-locks/``), on any state database (SQLite or
  PostgreSQL: the lock is on the host where the file is, not in the database). It dies with its
  process. The folder is the user's own (not the shared temporary folder, where another
  account could make it first and hold every lock: each write would wait on them for ever);
  one that is not a real folder owned by this user and closed to others, or a lock file that
  cannot be made or locked (a read-only home, no ``flock``), is logged at WARNING and the
  write goes on with the in-process lock alone.

Paths are spread over :data:`STRIPES` locks (a hash of the resolved path), so the number of
lock files stays bounded; two paths sharing a stripe only take turns.

A write waits for its turn at most :data:`WAIT_S` seconds (a warning after
:data:`WARN_AFTER_S` names the process holding it, whose id the lock file holds); then it is
refused with :class:`WriteTurnTimeout` before anything is written: going on without the turn
could leave the sweep's records saying something else than the file holds.

Not covered: writers running as different OS users, or on different hosts writing one shared
folder (NFS), do not take turns; a store object open across user code (``pd.HDFStore``) takes
its turn when it opens and when it closes, not in between.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lacuna.errors import LacunaError

log = logging.getLogger("lacuna.exceptions")
STRIPES = 4096
WAIT_S = 300.0  # the longest a write waits for its turn before it is refused
WARN_AFTER_S = 10.0  # a wait this long is logged, naming the process that holds the turn


class WriteTurnTimeout(LacunaError, TimeoutError):
    """Another process held the turn of writes to a path for longer than :data:`WAIT_S`."""


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
    """Where the lock files are: ``$LACUNA_HOME/file-locks`` (the user's own)."""
    from lacuna.config import lacuna_home

    return os.path.join(lacuna_home(), "file-locks")


def _own_folder(folder: str) -> str | None:
    """Why ``folder`` cannot hold the lock files, or None: it must be a folder (not a link)
    owned by this user that no one else may write."""
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        return "not a folder (a link or a file is there)"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"owned by uid {st.st_uid}, not this user"
    if st.st_mode & 0o022:
        return f"writable by others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _flock(stripe: int, where: str) -> int | None:
    """An open, exclusively locked lock file for ``stripe`` (waits for it, at most
    :data:`WAIT_S`), or None when no lock file can be had (logged once at WARNING).

    Raises:
        WriteTurnTimeout: another process held the stripe for :data:`WAIT_S` seconds.
    """
    try:
        import fcntl  # noqa: F401 - whether flock exists here
    except ImportError:  # pragma: no cover - no flock (Windows): in-process only
        return None
    folder = lock_folder()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        why = _own_folder(folder)
        if why is not None:
            raise PermissionError(0, why)
        fd = os.open(os.path.join(folder, f"{stripe:03d}.lock"),
                     os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        if not _WARNED.is_set():
            _WARNED.set()
            log.warning("no lock file for writes to local paths in %s (%s): writers in other "
                        "processes do not take turns with this one", folder,
                        exc.strerror or exc)
        return None
    try:
        _wait_for(fd, where)
    except WriteTurnTimeout:
        os.close(fd)
        raise
    except OSError as exc:  # ENOLCK
        os.close(fd)
        if not _WARNED.is_set():
            _WARNED.set()
            log.warning("could not lock %s (%s): writers in other processes do not take "
                        "turns with this one", folder, exc.strerror)
        return None
    try:  # who holds the turn, for the messages of those waiting for it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    return fd


def _wait_for(fd: int, where: str) -> None:
    """Lock ``fd`` exclusively, polling (a blocking ``flock`` has no deadline)."""
    import fcntl

    started = time.monotonic()
    pause, warned = 0.001, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - started
            if waited >= WAIT_S:
                msg = (f"the write to {where} waited {waited:.0f} s for its turn, held by "
                       f"{_holder(fd)} (a write to this path, or to one sharing its lock); "
                       "nothing was written. Let that write finish, or stop the process if it "
                       "is stuck, then write again.")
                raise WriteTurnTimeout(msg) from None
            if not warned and waited >= WARN_AFTER_S:
                warned = True
                log.warning("the write to %s has waited %.0f s for its turn, held by %s",
                            where, waited, _holder(fd))
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _holder(fd: int) -> str:
    """The process the lock file names as holding it."""
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


@contextmanager
def path_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the turn of writes to ``path`` (see the module docstring) for the block."""
    where = resolved(path)
    stripe = _stripe_of(where)
    held = _STRIPES[stripe]
    with held.lock:
        held.depth += 1
        try:
            if held.depth == 1:  # the thread's first turn on it: across processes too
                held.fd = _flock(stripe, where)
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                os.close(held.fd)  # releases the flock
                held.fd = None


__all__ = ["STRIPES", "WAIT_S", "WriteTurnTimeout", "lock_folder", "path_lock", "resolved"]
