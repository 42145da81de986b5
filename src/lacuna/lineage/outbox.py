"""The OpenLineage outbox: runs whose events no transport has accepted yet, in the state database.

The background sender (:mod:`lacuna.lineage.ol_emit`) keeps runs in memory: a process killed
(SIGKILL, the OOM killer) or ending before it got to them lost their events for good, although
the runs were in the lineage store. So each run to emit is marked pending in
``lacuna_lineage_outbox`` in the transaction that records it, claimed by the process that
recorded it, and cleared once the transport accepted its events.

A pending row is the process's own while that process lives. Another process may claim it when
it is claimed by nobody (its sender gave up on it, or dropped it from a full queue), by a
process of this host that is gone (its pid is not running, or runs another program: the start
time differs), or by a process of another host (a shared PostgreSQL store) that has not
touched it for :data:`LEASE` seconds. The claim is a compare-and-set under the database's write
lock (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two live processes never both send one run.
A row names its destination by a digest of the transport's configuration, never the
configuration itself: a process re-sends only to a transport it is configured with (a forged
row cannot point it at another endpoint).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from lacuna.audit.record import iso
from lacuna.lineage.schema import outbox
from lacuna.model import utcnow

if TYPE_CHECKING:
    from lacuna.lineage.store import LineageStore

LEASE = 600.0  # seconds: a claim of another host's process that old is taken as abandoned
BATCH = 50  # rows claimed per transaction
MAX_ATTEMPTS = 5  # a background re-send skips rows that failed this often (flush tries them)

_owner: list[str] = []


def _started(pid: int) -> str:
    """The start time of process ``pid`` (Linux: clock ticks since boot), or '' unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner() -> str:
    """This process's claim token: ``host:pid:start:nonce`` (a forked child gets its own)."""
    if not _owner:
        pid = os.getpid()
        _owner.append(f"{socket.gethostname()}:{pid}:{_started(pid)}:{uuid.uuid4().hex[:8]}")
    return _owner[0]


def forked() -> None:
    """A forked child is another process: it claims under a token of its own."""
    _owner.clear()


def _alive(token: str) -> bool | None:
    """Whether the process that claimed under ``token`` still runs; None when it is another
    host's (unknowable from here)."""
    host, _, rest = token.partition(":")
    pid_text, _, rest = rest.partition(":")
    start = rest.partition(":")[0]
    if host != socket.gethostname():
        return None
    try:
        pid = int(pid_text)
        if pid <= 0:  # 0 and -1 name a process group, all processes: no claimer
            return False
        os.kill(pid, 0)
    except (ValueError, OverflowError, ProcessLookupError):
        return False  # a malformed token is nobody's
    except PermissionError:
        pass  # another user's process, alive
    return not start or _started(pid) == start


def claimable(claimed_by: str | None, claimed_at: str | None, now: datetime) -> bool:
    """Whether a row claimed so may be taken by this process (see the module's docstring)."""
    if claimed_by is None:
        return True
    if claimed_by == owner():
        return False  # queued here: this process's sender has it
    alive = _alive(claimed_by)
    if alive is None:
        try:
            return datetime.fromisoformat(str(claimed_at)) < now - timedelta(seconds=LEASE)
        except ValueError:
            return True
    return not alive


def mark(conn: Connection, run_id: str, destination: str, offset: int | None) -> None:
    """Mark ``run_id`` pending for ``destination``, claimed by this process (inside the
    transaction that records the run); ``offset``: the file transport's size now."""
    now = iso(utcnow())
    conn.execute(_UNMARK, {"r": run_id, "d": destination})  # a run id recorded again
    conn.execute(_MARK, {"run_id": run_id, "destination": destination, "created": now,
                         "claimed_by": owner(), "claimed_at": now, "attempts": 0,
                         "mark": offset})


# built once: marking is on the recording caller's path
_UNMARK = delete(outbox).where(outbox.c.run_id == bindparam("r"),
                               outbox.c.destination == bindparam("d"))
_MARK = insert(outbox)


@dataclass(frozen=True, slots=True)
class Pending:
    """A row this process claimed: the run, and where its file lines may start."""

    run_id: str
    mark: int | None
    attempts: int


def claim(store: LineageStore, destination: str, *, after: str = "",
          max_attempts: int | None = MAX_ATTEMPTS) -> tuple[list[Pending], str | None]:
    """Claim up to :data:`BATCH` claimable rows of ``destination`` past run id ``after``;
    with the last run id looked at (None: nothing left to look at)."""
    now = utcnow()
    stmt = (select(outbox).where(outbox.c.destination == destination, outbox.c.run_id > after)
            .order_by(outbox.c.run_id).limit(BATCH))
    if max_attempts is not None:
        stmt = stmt.where(outbox.c.attempts < max_attempts)
    taken: list[Pending] = []
    with store._lock, store._transaction(write=True) as conn:
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = conn.execute(stmt).all()
        for row in rows:
            if not claimable(row.claimed_by, row.claimed_at, now):
                continue
            same = (outbox.c.claimed_by.is_(None) if row.claimed_by is None
                    else outbox.c.claimed_by == row.claimed_by)
            done = conn.execute(update(outbox).where(
                outbox.c.run_id == row.run_id, outbox.c.destination == destination, same,
            ).values(claimed_by=owner(), claimed_at=iso(now)))
            if done.rowcount == 1:
                taken.append(Pending(str(row.run_id), _offset(row.mark), int(row.attempts)))
    return taken, (str(rows[-1].run_id) if rows else None)


def _offset(value: Any) -> int | None:
    try:
        return max(0, int(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def clear(store: LineageStore, run_id: str, destination: str) -> None:
    """The transport accepted ``run_id``'s events: it is no longer pending."""
    with store._lock, store._transaction(write=True) as conn:
        conn.execute(delete(outbox).where(outbox.c.run_id == run_id,
                                          outbox.c.destination == destination))


def release(store: LineageStore, run_id: str, destination: str, *, failed: bool) -> None:
    """This process gives ``run_id`` up (its send failed, or its queue was full): claimed by
    nobody, so the next re-send (another process, ``lacuna lineage flush``) takes it."""
    values: dict[str, Any] = {"claimed_by": None, "claimed_at": None}
    if failed:
        values["attempts"] = outbox.c.attempts + 1
    with store._lock, store._transaction(write=True) as conn:
        conn.execute(update(outbox).where(
            outbox.c.run_id == run_id, outbox.c.destination == destination,
            outbox.c.claimed_by == owner()).values(**values))


def counts(store: LineageStore) -> dict[str, int]:
    """Pending runs per destination."""
    with store._transaction(write=False) as conn:
        rows = conn.execute(select(outbox.c.destination, func.count())
                            .group_by(outbox.c.destination)).all()
    return {str(d): int(n) for d, n in rows}


def file_size(path: Any) -> int | None:
    """The size of the file transport's file now (None when it does not exist yet)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
    except OSError:
        return None


__all__ = ["BATCH", "LEASE", "MAX_ATTEMPTS", "Pending", "claim", "claimable", "clear", "counts",
           "file_size", "forked", "mark", "owner", "release"]
