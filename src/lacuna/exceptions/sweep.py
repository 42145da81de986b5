"""The sweep: when an exception's window ends, delete the files written under it and mark it
expired. ``lacuna exceptions sweep`` runs it once; :mod:`lacuna.scheduler` runs it periodically.

For every approved exception whose ``valid_until`` has passed, and every revoked or expired one
that still has files on record:

1. each recorded file that still exists is deleted (``file-deleted`` on the audit trail and in
   the exception's history); a file that cannot be deleted is ``file-delete-failed``, logged at
   ERROR and retried by the next sweep;
2. a file not found at its recorded path is **not** claimed deleted: the user may have moved or
   renamed it, and the data may still exist elsewhere. It is ``file-missing`` ("not found at
   its recorded path, may have been moved"): audited, noted in the history and logged at
   WARNING the first time, reported by every sweep while it stays missing, and kept as not
   deleted (the compliance report says so). Lacuna records no fingerprint of such files, so
   it searches nothing; if the file comes back to its path, the next sweep deletes it;
3. an approved exception becomes ``expired`` (audited, the requester notified).

The sweep is idempotent: a second run deletes and audits nothing new.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lacuna.exceptions import events
from lacuna.exceptions.model import Status
from lacuna.model import utcnow

if TYPE_CHECKING:
    from lacuna.exceptions.context import Context
    from lacuna.exceptions.model import ExceptionRequest

log = logging.getLogger("lacuna.exceptions")
SWEEPER = "lacuna-sweep"
MISSING = ("not found at its recorded path: it may have been moved or renamed, so it was not "
           "deleted and may still exist elsewhere")


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    expired: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()  # paths
    missing: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # "path: reason"
    at: datetime = field(default_factory=utcnow)

    def __str__(self) -> str:
        lines = [f"Sweep at {self.at:%Y-%m-%d %H:%M:%S} UTC: {len(self.expired)} exception(s) "
                 f"expired, {len(self.deleted)} file(s) deleted"]
        lines += [f"  expired  {e}" for e in self.expired]
        lines += [f"  deleted  {p}" for p in self.deleted]
        lines += [f"  missing  {p} ({MISSING})" for p in self.missing]
        lines += [f"  FAILED   {p}" for p in self.failed]
        return "\n".join(lines)


def sweep(gov: Context, *, now: datetime | None = None) -> SweepReport:
    """Delete files of ended exceptions and mark approved ones past their window expired."""
    from lacuna.exceptions.notify import announce

    at = now or utcnow()
    store = gov.exceptions
    ended = {r.id: r for r in store.ended(at)}
    for written in store.files(pending_only=True):
        if written.exception_id in ended:
            continue
        try:
            request = store.get(written.exception_id)
        except Exception as exc:  # an unknown or broken exception: its files are not trusted
            log.error("file %s was written under exception %s, which cannot be read: %s",
                      written.path, written.exception_id, exc)
            continue
        if request.status in (Status.REVOKED, Status.EXPIRED, Status.DENIED):
            ended[request.id] = request
    expired: list[str] = []
    deleted: list[str] = []
    missing: list[str] = []
    failed: list[str] = []
    for request in ended.values():
        for written in store.files(request.id, pending_only=True):
            path = written.path
            try:
                os.unlink(path)
                step = "file-deleted"
                deleted.append(path)
            except FileNotFoundError:
                missing.append(path)
                _missing(gov, request, path, at)
                continue
            except OSError as exc:
                failed.append(f"{path}: {exc}")
                log.error("could not delete %s (exception %s ended): %s", path, request.id, exc)
                events.audit(gov, "file-delete-failed", request, allowed=False,
                             detail={"path": path, "error": str(exc)})
                continue
            store.mark_deleted(request.id, path, at)
            store.note(request.id, step, by=SWEEPER, comment=path, now=at)
            events.audit(gov, step, request, detail={"path": path, "by": SWEEPER})
        if request.status is Status.APPROVED:
            updated = store.expire(request.id, now=at, by=SWEEPER)
            expired.append(request.id)
            events.audit(gov, "expired", updated, detail={"by": SWEEPER,
                         "valid_until": updated.valid_until.isoformat()
                         if updated.valid_until else None})
            announce(gov, updated, "expired")
    return SweepReport(expired=tuple(expired), deleted=tuple(deleted), missing=tuple(missing),
                       failed=tuple(failed), at=at)


def _missing(gov: Context, request: ExceptionRequest, path: str, at: datetime) -> None:
    """A recorded file is not at its path: say so truthfully, once (audited, in the history,
    logged); the record stays not deleted, so every sweep reports it and would delete it if it
    came back."""
    comment = f"{path}: {MISSING}"
    if any(h.event == "file-missing" and h.comment == comment for h in request.history):
        return
    log.warning("file %s written under exception %s is %s", path, request.id, MISSING)
    gov.exceptions.note(request.id, "file-missing", by=SWEEPER, comment=comment, now=at)
    events.audit(gov, "file-missing", request, allowed=False,
                 detail={"path": path, "by": SWEEPER, "deleted": False, "why": MISSING})


__all__ = ["MISSING", "SweepReport", "sweep"]
