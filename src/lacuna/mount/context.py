"""Who is calling: the uid, gid and pid of the process whose request the mount is serving.

:class:`~lacuna.mount.fs.GovernedFS` needs the caller's pid for every decision (the audit
record's code location, the read tracker's process group). Two transports serve it: libfuse
through mfusepy knows the caller in ``fuse_get_context``; the kernel session
(:mod:`lacuna.mount.kernel`) reads it from each request's header and sets it here for the
thread serving that request. :func:`caller` asks whichever applies, so the file system has
one way to ask.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    uid: int
    gid: int
    pid: int


_CURRENT = threading.local()


def serving(who: Caller | None) -> None:
    """The caller of the request this thread serves now (None once it is answered)."""
    _CURRENT.caller = who


def caller() -> Caller:
    """The caller of the request this thread serves: set by the kernel session, else libfuse's
    context (mfusepy)."""
    who: Caller | None = getattr(_CURRENT, "caller", None)
    if who is not None:
        return who
    from mfusepy import fuse_get_context

    uid, gid, pid = fuse_get_context()
    return Caller(int(uid), int(gid), int(pid))
