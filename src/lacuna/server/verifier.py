"""The server's audit-trail verification: one whole-trail walk at a time, at most one per
interval, and an answer that says what it covers.

:meth:`lacuna.audit.AuditStore.verify` walks every record (hash, link, signature, columns)
and compares the trail with its signed checkpoints: its cost grows with the trail. The
server's ``GET /api/v1/audit/verify`` and the console's audit page answer from the last walk
while it is younger than ``audit_verify_interval_s`` (a server setting, 60 s by default), and
run a new walk otherwise. Only one walk runs at a time; requests that arrive during a walk wait
for it and share its answer. So however many callers there are, the server walks the trail at
most once per interval (plus the walk's own time).

Why a walk is never "continued" from the last verified head: records are rows in a database,
and an edit of an old record's body or columns does not change the head. Its stored hash no
longer matches its body, but only recomputing that record's hash finds it, so a verification
that starts at the last verified head would miss it forever. What the chain does guarantee is
that such an edit cannot be hidden from a *whole* walk (without the signing key the record
cannot be re-hashed and re-signed, and re-hashing it would break the link of every later
record). So the server re-walks the whole trail, and the cached answer states when it was made
(``verified_at``), which head it covers (``verified_seq``) and how many records were appended
since (``appended_since``, not yet verified). An edit made after a walk is reported by the
first walk that starts after it: at most ``audit_verify_interval_s`` later.

Two changes are seen at once, without waiting for the interval: a head that went backwards (the
trail was truncated), and a record at the verified head's ``seq`` whose hash is no longer the
one verified (the trail was rebuilt or forked at or before it). Both make the next request
walk. ``lacuna audit verify`` (the CLI) always walks the whole trail.

The last walk is kept per worker process (``ServerState.verifier``, made on first use; every
uvicorn worker builds its own state): with ``--workers N`` the trail is walked at most N times
per interval, workers' walks may run at the same time (each holds one read snapshot, no
appends wait for it), and two workers may give different answers within an interval (one from
a walk before an edit, one from a walk after it: ``verified_at`` says which is newer). It is
not shared because sharing it is neither simple nor safe for what it saves, at most N - 1 walks
per interval: a shared answer would be stored beside the trail (the state database or a file),
where whoever can edit the trail could also write "ok" into it, so it would have to be signed
and bound to the head it covers; and one walk at a time across processes needs a lock in the
database (on SQLite, one that appends do not wait on). Tested in ``tests/server/test_bounds.py``
for one process; docs/server.md ("Not yet") says the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select

from lacuna.audit.schema import head, records
from lacuna.model import utcnow

if TYPE_CHECKING:
    from lacuna.audit import AuditStore, VerifyReport


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """One whole-trail walk's report, and what it covers."""

    report: VerifyReport
    verified_seq: int | None  # the head's seq when the walk began (None: no head row)
    verified_hash: str | None
    verified_at: datetime  # when the walk began
    took_s: float
    started: float  # the verifier's clock when the walk began
    finished: float
    cached: bool = False  # answered from an earlier walk
    current_seq: int | None = None  # the head's seq when this answer was given

    @property
    def appended_since(self) -> int:
        """Records appended after the verified head (not covered by this answer)."""
        if self.current_seq is None or self.verified_seq is None:
            return 0
        return max(self.current_seq - self.verified_seq, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of ``GET /api/v1/audit/verify`` (without ``identities``)."""
        r = self.report
        return {"ok": r.ok, "checked": r.checked, "first_bad": r.first_bad,
                "problem": r.problem, "head": r.head, "checkpoint": r.checkpoint,
                "verified_at": self.verified_at.isoformat(), "verified_seq": self.verified_seq,
                "took_s": round(self.took_s, 3), "cached": self.cached,
                "appended_since": self.appended_since}


class TrailVerifier:
    """The audit trail's verification for a server process (see the module docstring).

    Args:
        audit: the trail.
        interval_s: how long a walk's answer is given before the next request walks again.
        clock: a monotonic clock (tests pass their own).
    """

    def __init__(self, audit: AuditStore, *, interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._audit = audit
        self._interval = interval_s
        self._clock = clock
        self._walking = threading.Lock()
        self._last: Verified | None = None
        self.walks = 0  # whole-trail walks run by this verifier

    def check(self) -> Verified:
        """The last walk's answer while it still holds, or a new walk's.

        Raises:
            AuditError: the trail cannot be read, or the signing key is missing (not cached).
        """
        asked = self._clock()
        hit = self._reuse(asked)
        if hit is not None:
            return hit
        with self._walking:  # one walk at a time: the others wait here and share its answer
            hit = self._reuse(asked)
            if hit is not None:
                return hit
            return self._walk()

    def _reuse(self, asked: float) -> Verified | None:
        last = self._last
        if last is None:
            return None
        if last.started <= asked and self._clock() - last.finished >= self._interval:
            return None  # too old, and not a walk that began after this request
        current, at_verified = self._heads(last.verified_seq)  # only for an answer in date
        if last.verified_seq is not None:
            if current is None or current < last.verified_seq:
                return None  # the head went back (or is gone): truncated, walk now
            if last.verified_seq > 0 and at_verified != last.verified_hash:
                return None  # the verified head's record changed: rebuilt or forked
        return replace(last, cached=True, current_seq=current)

    def _walk(self) -> Verified:
        seq, digest = self._head()
        when, began = utcnow(), self._clock()
        report = self._audit.verify()
        done = self._clock()
        if report.ok:  # what the walk's own snapshot held (appends may have come meanwhile)
            seq, digest = report.checked, report.head
        elif seq:  # the record at the head's seq as it is now (a broken trail's head row may
            digest = self._heads(seq)[1]  # not match it): else every request would walk
        self.walks += 1
        verified = Verified(report=report, verified_seq=seq, verified_hash=digest,
                            verified_at=when, took_s=done - began, started=began,
                            finished=done, current_seq=seq)
        self._last = verified
        return verified

    def _head(self) -> tuple[int | None, str | None]:
        with self._audit.snapshot() as conn:
            if not inspect(conn).has_table(head.name):
                return None, None
            top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
        return (None, None) if top is None else (int(top.seq), str(top.hash))

    def _heads(self, seq: int | None) -> tuple[int | None, str | None]:
        """The head's seq now, and the hash of record ``#seq`` now (two indexed reads)."""
        with self._audit.snapshot() as conn:
            if not inspect(conn).has_table(head.name):
                return None, None
            top = conn.execute(select(head.c.seq).where(head.c.id == 1)).first()
            digest = None
            if seq is not None and seq > 0:
                digest = conn.execute(
                    select(records.c.hash).where(records.c.seq == seq)).scalar()
        return (None if top is None else int(top.seq)), digest
