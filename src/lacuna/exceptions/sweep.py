"""The sweep: when an exception's window ends, delete the files written under it and mark it
expired. ``lacuna exceptions sweep`` runs it once; :mod:`lacuna.scheduler` runs it periodically.

For every approved exception whose ``valid_until`` has passed, and every revoked or expired one
that still has files on record (judged by its signed record, never by the table's status column
alone):

1. each recorded file that still exists is deleted (``file-deleted`` on the audit trail and in
   the exception's history); a file that cannot be deleted is ``file-delete-failed``, logged at
   ERROR and retried by the next sweep;
2. a file not found at its recorded path is **not** claimed deleted: the user may have moved or
   renamed it, and the data may still exist elsewhere. It is ``file-missing`` ("not found at
   its recorded path, may have been moved"): audited, noted in the history and logged at
   WARNING the first time, reported by every sweep while it stays missing, and kept as not
   deleted (the compliance report says so). Lacuna searches nothing; if the file comes back
   to its path, the next sweep deletes it. A
   symbolic link at the recorded path is the same: unlinking it would not delete the data;
   a file with other hard links is deleted at its path and reported as failed (its data lives
   on under the other names);
3. only the file written under the exception is deleted: what is at the path must match what
   its signed record says was written (:func:`not_written_there`); anything else (a file
   written at the path later, say after an older record was written back over a deleted one)
   is reported as failed, every sweep, and never deleted;
4. an approved exception becomes ``expired`` (audited, the requester notified);
5. a file under a legal hold (``lacuna retention hold``, docs/retention.md) is not deleted: it is
   ``file-held`` (audited every sweep) until the hold is released;
6. a revocation, denial or expiry the audit trail could not record when it happened is
   recorded now (``recorded_late``), so the trail, not only the table, refuses the grant; an
   end seen on the trail is marked and not looked up again by later sweeps.

Files recorded under an exception whose record cannot be read or does not verify (edited or
removed outside Lacuna) are not deleted on the word of that record and not skipped silently:
each is reported as failed (``file-delete-failed``, logged at ERROR), every sweep. The same
holds for a file's own record (``lacuna_exception_files``, signed): one that does not verify
(inserted by hand, its ``deleted_at`` set by hand, or recorded before records were signed) is
never acted on and reported every sweep; and a file the audit trail records as written
(``file-written``) under an ended exception with no verified record is reported too. A
directory is removed only when its signed record says a directory (a Spark write) was written
there. Each such report, a missing file and a file replaced at its path included, stands until
a steward has checked the file, dealt with the data by hand and settles it
(:func:`lacuna.exceptions.settle_file`, ``lacuna exceptions settle``: audited, never by the
exception's requester or the file's writer).

The sweep is idempotent: a second run deletes and audits nothing new.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lacuna._files import identity, whole_folder
from lacuna.errors import LacunaError
from lacuna.exceptions import authority, events
from lacuna.exceptions.files import on_client
from lacuna.exceptions.model import Status
from lacuna.exceptions.store import TrailUnreadable
from lacuna.model import as_utc, utcnow

if TYPE_CHECKING:
    from lacuna.exceptions.context import Context
    from lacuna.exceptions.model import ExceptionRequest
    from lacuna.exceptions.store import ExceptionStore, WrittenFile
    from lacuna.retention.holds import Hold

log = logging.getLogger("lacuna.exceptions")
SWEEPER = "lacuna-sweep"
# how a steward stops a report once the data is dealt with (lacuna.exceptions.settle_file)
SETTLE = ", then settle it: lacuna exceptions settle {id} PATH --reason '...'"
MISSING = ("not found at its recorded path: it may have been moved or renamed, so it was not "
           "deleted and may still exist elsewhere")
UNTRUSTED = ("written under exception {id}, whose record cannot be trusted ({why}); not "
             "deleted: a steward must check the exception and delete the file" + SETTLE)
UNRECORDED = ("recorded on the audit trail as written under exception {id}, but its record in "
              "lacuna_exception_files is missing or does not verify (removed or edited outside "
              "Lacuna): not deleted on the trail's word; a steward must check and delete it"
              + SETTLE)
HARD_LINKED = ("deleted at its recorded path, but the file has {n} other hard link(s): its "
               "data still exists under another name")
NOT_WRITTEN = ("not the one written there under exception {id}: its signed record says "
               "{recorded}, the path now holds {found} (written or replaced after the write "
               "under the exception, e.g. a new file at the same path); not deleted: a steward "
               "must check it, and delete it by hand if it holds the exception's data" + SETTLE)
HELD = ("under legal hold {id} ({reason}) on {dataset}: not deleted; the next sweep deletes it "
        "once the hold is released")
LOST_HOLD = ("legal hold {id} ({reason}) names {dataset}, which no longer exists (moved or "
             "renamed?), so what it holds is unknown: not deleted. Place the hold on where the "
             "data is now, then release the old one (lacuna retention release {id})")
MODIFIED_AFTER = ("modified at {mtime:%Y-%m-%d %H:%M:%S} UTC, after exception {id} ended "
                  "({end}), and its record does not say what was written (the write did not "
                  "finish, or was recorded before Lacuna recorded that): it may be a file "
                  "written at that path later, so it was not deleted; a steward must check it "
                  "and delete it by hand if it holds the exception's data" + SETTLE)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    expired: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()  # paths
    missing: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # "path: reason"
    held: tuple[str, ...] = ()  # "path: reason": under a legal hold, not deleted
    at: datetime = field(default_factory=utcnow)

    def __str__(self) -> str:
        lines = [f"Sweep at {self.at:%Y-%m-%d %H:%M:%S} UTC: {len(self.expired)} exception(s) "
                 f"expired, {len(self.deleted)} file(s) deleted"]
        lines += [f"  expired  {e}" for e in self.expired]
        lines += [f"  deleted  {p}" for p in self.deleted]
        lines += [f"  missing  {p} ({MISSING})" for p in self.missing]
        lines += [f"  held     {p}" for p in self.held]
        lines += [f"  FAILED   {p}" for p in self.failed]
        return "\n".join(lines)


def sweep(gov: Context, *, now: datetime | None = None) -> SweepReport:
    """Delete files of ended exceptions and mark approved ones past their window expired."""
    from lacuna.exceptions.notify import announce

    at = utcnow() if now is None else as_utc(now)  # a naive now= is UTC
    store = gov.exceptions
    if getattr(store, "remote", False):  # server: this host's files, the server's word
        return _sweep_here(gov, at)
    # the records of files a server's clients wrote are swept on those hosts (their
    # `lacuna exceptions sweep`), never here: the path names a file on another machine
    rows = [w for w in store.files() if on_client(w.path) is None]
    verified = [store.file_verified(w) for w in rows]  # one signature check per row
    good = [w for w, ok in zip(rows, verified, strict=True) if ok]
    pending_ids = {w.exception_id for w in good if w.deleted_at is None}
    ended, untrusted = _judged(store, at, pending_ids)
    expired: list[str] = []
    deleted: list[str] = []
    missing: list[str] = []
    failed: list[str] = []
    held: list[str] = []
    holds = _holds(gov)

    def fail(exception_id: str, path: str, why: str) -> None:
        failed.append(f"{path}: {why}")
        log.error("file %s was not deleted: %s", path, why)
        events.audit(gov, "file-delete-failed", None, exception_id=exception_id or None,
                     allowed=False, detail={"path": path, "error": why})

    bad = {(w.exception_id, w.path): w for w, ok in zip(rows, verified, strict=True)
           if not ok and not _vouched(store, w)}
    for (exception_id, path), written in bad.items():  # never acted on; reported every sweep
        fail(exception_id, path, written.not_verified_note())
    for exception_id, why in untrusted.items():
        for path in _pending(good, exception_id):
            fail(exception_id, path, why)
    _unrecorded(store, at, good, bad, ended, untrusted, fail)
    for request in ended.values():
        for path, written in _pending(good, request.id).items():
            linked = _link_target(path)
            if linked is not None:  # unlinking it would delete a link, not the data
                missing.append(path)
                _missing(gov, request, path, at, why=linked)
                continue
            other = not_written_there(path, _records(good, request.id, path), request)
            if other is not None:  # never delete what was not written under the exception
                fail(request.id, path, other)
                continue
            hold = next((h for h in holds if h.lost or h.blocks(path)), None)
            if hold is not None:  # a legal hold wins over the exception's window
                why = (HELD if not hold.lost else LOST_HOLD).format(
                    id=hold.id, reason=hold.reason, dataset=hold.dataset)
                held.append(f"{path}: {why}")
                log.warning("file %s (exception %s ended) was not deleted: %s", path,
                            request.id, why)
                events.audit(gov, "file-held", request, allowed=False,
                             detail={"path": path, "hold": hold.id, "reason": why})
                continue
            try:
                links = _remove(path, directory=written.directory)
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
            detail: dict[str, object] = {"path": path, "by": SWEEPER}
            if links > 1:  # the data lives on under its other names: say so, never hide it
                detail["other_links"] = links - 1
                failed.append(f"{path}: {HARD_LINKED.format(n=links - 1)}")
                log.error("deleted %s (exception %s ended), but %s", path, request.id,
                          HARD_LINKED.format(n=links - 1))
            _noted(gov, request, step, path, at)
            events.audit(gov, step, request, detail=detail)
        if request.status is Status.APPROVED:
            try:
                updated = store.expire(request.id, now=at, by=SWEEPER)
            except LacunaError as exc:  # its files are handled; the state change is not
                failed.append(f"{request.id}: could not be marked expired ({exc})")
                log.error("could not mark exception %s expired: %s", request.id, exc)
                continue
            expired.append(request.id)
            events.audit(gov, "expired", updated, detail={"by": SWEEPER,
                         "valid_until": updated.valid_until.isoformat()
                         if updated.valid_until else None})
            announce(gov, updated, "expired")
    _late_ends(gov, store)
    return SweepReport(expired=tuple(expired), deleted=tuple(deleted), missing=tuple(missing),
                       failed=tuple(failed), held=tuple(held), at=at)


def _holds(gov: Context) -> list[Hold]:
    """The active legal holds (docs/retention.md): files under one are not deleted. These are
    the holds retention obeys: the table's rows and every hold the audit trail placed and never
    released (a row released or deleted by hand still holds). A row the trail does not bear out
    holds here too (the sweep keeps the file and audits ``file-held``); ``lacuna retention
    apply`` reports such items as errors.

    Raises:
        LacunaError: the hold store or the audit trail cannot be read: the sweep deletes
            nothing blind.
    """
    from lacuna.retention.api import active_holds

    return active_holds(gov)


def _late_ends(gov: Context, store: ExceptionStore) -> None:
    """Put on the trail the ends it missed: a revocation, denial or expiry whose event could
    not be written when it happened (the step stands in the table, logged at ERROR). Until it
    is on the trail, an older signed row written back would make the grant live again; from
    then on the trail refuses it (``ExceptionStore.ended_on_trail``).

    An end seen on the trail is marked (signed, ``lacuna_exception_ends``) and not looked up
    again: each sweep looks up only the ends it has not seen yet, not every exception that
    ever ended. A mark that does not verify hides nothing (``ExceptionStore.unseen_ends``)."""
    try:
        for request in store.unseen_ends():
            ended = store.ended_on_trail(request.id)
            if ended is not None:
                store.mark_end_seen(request.id, ended)
                continue
            log.warning("exception %s was %s without the audit trail recording it; "
                        "recorded now", request.id, request.status.value)
            events.audit(gov, request.status.value, request,
                         detail={"by": SWEEPER, "recorded_late": True})
    except LacunaError as exc:  # the trail cannot be read (TrailUnreadable): next sweep
        log.error("could not check that the audit trail records every ended exception: %s",
                  exc)


def _pending(good: list[WrittenFile], exception_id: str) -> dict[str, WrittenFile]:
    """The verified, not yet deleted records of one exception, one per path (a path written
    twice is deleted once), a directory record winning."""
    out: dict[str, WrittenFile] = {}
    for w in good:
        if w.exception_id == exception_id and w.deleted_at is None and (
                w.path not in out or w.directory):
            out[w.path] = w
    return out


def _records(good: list[WrittenFile], exception_id: str, path: str) -> list[WrittenFile]:
    """Every verified, not yet deleted record of ``path`` under one exception."""
    return [w for w in good
            if w.exception_id == exception_id and w.path == path and w.deleted_at is None]


def not_written_there(path: str, records: list[WrittenFile],
                      request: ExceptionRequest) -> str | None:
    """Why what is at ``path`` is not what was written there under ``request`` (so it must not
    be deleted on the word of ``records``, its verified records), or None when it is, or when
    nothing is there (the caller reports it missing).

    It is when it matches what one record says was written (device, inode, size, modification
    time: :func:`lacuna._files.identity`). A record that does not say (the write did not
    return, or was recorded before revision 0009; also an older copy of a record written back
    from before the write returned) vouches only for a file not modified after the exception
    ended: a file written at the path after the sweep deleted the one written under it is not
    deleted on the word of an older record written back."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode) and not any(w.directory for w in records):
        return None  # never removed on a file's record: lacuna._files.whole_folder says so
    if any(w.identity == identity(st, directory=w.directory) for w in records if w.identity):
        return None
    if any(w.identity is None for w in records):
        end = request.valid_until or request.decided_at
        mtime = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        if end is not None and mtime <= end:
            return None
        return MODIFIED_AFTER.format(mtime=mtime, id=request.id,
                                     end=f"{end:%Y-%m-%d %H:%M:%S} UTC" if end else "no end "
                                     "on record")
    recorded = " or ".join(sorted({_described(w.identity) for w in records if w.identity}))
    found = _described(identity(st, directory=stat.S_ISDIR(st.st_mode)))
    return NOT_WRITTEN.format(id=request.id, recorded=recorded, found=found)


def _described(recorded: str) -> str:
    """An identity (:func:`lacuna._files.identity`) as a steward reads it."""
    try:
        kind, dev, ino, size, mtime_ns = recorded.split(":")
        when = datetime.fromtimestamp(int(mtime_ns) / 1e9, tz=UTC)
    except ValueError:
        return recorded
    what = "a directory" if kind == "dir" else f"a file of {size} bytes"
    return (f"{what} (inode {ino} on device {dev}) modified at "
            f"{when:%Y-%m-%d %H:%M:%S.%f} UTC")


def _remove(path: str, *, directory: bool) -> int:
    """Delete what is at ``path``; the number of links the file had (1 for a directory).
    A directory is removed only when its signed record says a directory was written there."""
    if whole_folder(path, recorded_folder=directory):
        shutil.rmtree(path)
        return 1
    links = os.lstat(path).st_nlink
    os.unlink(path)
    return links


def _vouched(store: ExceptionStore, written: WrittenFile) -> bool:
    """A row recorded before file records were signed, already marked deleted, whose deletion
    the exception's signed history records (``file-deleted`` of that path): settled, not
    reported. Every other row that does not verify is reported."""
    if written.signature or written.deleted_at is None:
        return False
    try:
        request = store.get(written.exception_id)
    except LacunaError:
        return False
    return store.verified(request) and any(
        h.event == "file-deleted" and h.comment == written.path for h in request.history)


def _unrecorded(store: ExceptionStore, at: datetime, good: list[WrittenFile],
                bad: dict[tuple[str, str], WrittenFile],
                ended: dict[str, ExceptionRequest], untrusted: dict[str, str],
                fail: Callable[[str, str, str], None]) -> None:
    """Report files the audit trail records as written under an exception that has ended (or
    cannot be trusted) but that have no verified record in the table (removed by hand, say):
    not deleted on the trail's word, reported every sweep."""
    try:
        on_trail = store.files_on_trail()
    except TrailUnreadable as exc:
        fail("", "(audit trail)", f"files written under exceptions could not be cross-checked "
             f"with the audit trail: {exc}")
        return
    recorded = {(w.exception_id, w.path) for w in good}
    for exception_id, path in sorted(on_trail - recorded - set(bad)):
        if on_client(path) is not None:  # a client's: its host's sweep answers for it
            continue
        why = untrusted.get(exception_id)
        if why is None and exception_id not in ended:
            request, why = _judge(store, exception_id)
            if request is not None and not _over(request, at):
                continue  # not due yet
        fail(exception_id, path, UNRECORDED.format(id=exception_id))


def _judge(store: ExceptionStore, exception_id: str) -> tuple[ExceptionRequest | None,
                                                               str | None]:
    """The exception's verified record, or why it cannot be trusted."""
    try:
        request = store.get(exception_id)
    except LacunaError as exc:
        return None, UNTRUSTED.format(id=exception_id, why=exc)
    if not store.verified(request):
        return None, UNTRUSTED.format(id=exception_id, why=authority.not_verified_note(request))
    return request, None


def _judged(store: ExceptionStore, at: datetime, pending_ids: set[str]) -> tuple[
        dict[str, ExceptionRequest], dict[str, str]]:
    """The exceptions whose window is over at ``at``, by their signed record (the table's
    status column is only an index: a row whose column was edited is judged by what was
    signed), and the exceptions with (verified) files on record whose record cannot be
    trusted, with why.
    """
    ids = {r.id for r in store.ended(at)} | pending_ids
    ended: dict[str, ExceptionRequest] = {}
    untrusted: dict[str, str] = {}
    for exception_id in sorted(ids):
        request, why = _judge(store, exception_id)
        if request is None:
            untrusted[exception_id] = why or ""
        elif _over(request, at):
            ended[exception_id] = request
    return ended, untrusted


def _over(request: ExceptionRequest, at: datetime) -> bool:
    if request.status in (Status.REVOKED, Status.EXPIRED, Status.DENIED):
        return True
    return (request.status is Status.APPROVED and request.valid_until is not None
            and request.valid_until <= at)


def _link_target(path: str) -> str | None:
    """Why ``path`` is not the file that was written, when it is a symbolic link now."""
    try:
        if not os.path.islink(path):
            return None
        return (f"{path} is a symbolic link (to {os.readlink(path)}), not the file written "
                "there: the data may be at the link's target or elsewhere, so nothing was "
                "deleted")
    except OSError:
        return None


def _noted(gov: Context, request: ExceptionRequest, event: str, path: str,
           at: datetime) -> None:
    """Note a step in the exception's history; the file is already handled and audited."""
    try:
        gov.exceptions.note(request.id, event, by=SWEEPER, comment=path, now=at)
    except LacunaError as exc:
        log.error("could not note %s of %s in exception %s's history: %s", event, path,
                  request.id, exc)


def _missing(gov: Context, request: ExceptionRequest, path: str, at: datetime, *,
             why: str = MISSING) -> None:
    """A recorded file is not at its path: say so truthfully, once (audited, in the history,
    logged); the record stays not deleted, so every sweep reports it and would delete it if it
    came back."""
    comment = f"{path}: {why}"
    if any(h.event == "file-missing" and h.comment == comment for h in request.history):
        return
    log.warning("file %s written under exception %s: %s", path, request.id, why)
    try:
        gov.exceptions.note(request.id, "file-missing", by=SWEEPER, comment=comment, now=at)
    except LacunaError as exc:
        log.error("could not note file-missing of %s in exception %s's history: %s", path,
                  request.id, exc)
    events.audit(gov, "file-missing", request, allowed=False,
                 detail={"path": path, "by": SWEEPER, "deleted": False, "why": why})


def _sweep_here(gov: Context, at: datetime) -> SweepReport:
    """The sweep of a server's client (``server:``): the server says which of this user's
    files written on this host are due (their exception ended, or cannot be trusted), this
    host deletes them by the rules above (a link, a file that is not the one written, a legal
    hold: not deleted) and tells the server each step, which it audits. Exceptions are marked
    expired by the server's own sweep (its scheduler)."""
    from lacuna.exceptions.files import this_host

    store = gov.exceptions
    host = this_host()
    deleted: list[str] = []
    missing: list[str] = []
    failed: list[str] = []
    held: list[str] = []
    holds = list(gov.keeping.holds())  # type: ignore[attr-defined]  # the server's

    def tell(exception_id: str, path: str, step: str, detail: str) -> None:
        try:
            store.swept(exception_id, host, path, step, detail)  # type: ignore[attr-defined]
        except LacunaError as exc:  # the step stands; the server's record of it does not
            failed.append(f"{path}: {step} could not be recorded on the server ({exc})")
            log.error("could not tell the server of %s of %s (exception %s): %s", step, path,
                      exception_id, exc)

    for due in store.due_files(host):  # type: ignore[attr-defined]
        exception_id, path = str(due["exception_id"]), str(due["path"])
        if due.get("untrusted"):
            failed.append(f"{path}: {due['untrusted']}")
            log.error("file %s was not deleted: %s", path, due["untrusted"])
            tell(exception_id, path, "file-delete-failed", str(due["untrusted"]))
            continue
        linked = _link_target(path)
        if linked is not None:
            missing.append(path)
            tell(exception_id, path, "file-missing", linked)
            continue
        directory = bool(due.get("directory"))
        request = store.get(exception_id)
        other = not_written_there(path, _due_records(due, directory), request)
        if other is not None:
            failed.append(f"{path}: {other}")
            log.error("file %s was not deleted: %s", path, other)
            tell(exception_id, path, "file-delete-failed", other)
            continue
        hold = next((h for h in holds if h.lost or h.blocks(path)), None)
        if hold is not None:
            why = (HELD if not hold.lost else LOST_HOLD).format(
                id=hold.id, reason=hold.reason, dataset=hold.dataset)
            held.append(f"{path}: {why}")
            tell(exception_id, path, "file-held", why)
            continue
        try:
            links = _remove(path, directory=directory)
        except FileNotFoundError:
            missing.append(path)
            log.warning("file %s written under exception %s: %s", path, exception_id, MISSING)
            tell(exception_id, path, "file-missing", MISSING)
            continue
        except OSError as exc:
            failed.append(f"{path}: {exc}")
            log.error("could not delete %s (exception %s ended): %s", path, exception_id, exc)
            tell(exception_id, path, "file-delete-failed", str(exc))
            continue
        deleted.append(path)
        if links > 1:
            failed.append(f"{path}: {HARD_LINKED.format(n=links - 1)}")
        tell(exception_id, path, "file-deleted",
             "" if links <= 1 else HARD_LINKED.format(n=links - 1))
    return SweepReport(deleted=tuple(deleted), missing=tuple(missing), failed=tuple(failed),
                       held=tuple(held), at=at)


def _due_records(due: dict[str, object], directory: bool) -> list[WrittenFile]:
    """A due file's records as the server answered them (what each write said it wrote),
    for :func:`not_written_there`."""
    from lacuna.exceptions.store import WrittenFile

    found = due.get("identities")
    return [WrittenFile(exception_id=str(due["exception_id"]), path=str(due["path"]),
                        written_by="", written_at=utcnow(), encrypted=False,
                        directory=directory, identity=i if isinstance(i, str) else None)
            for i in (found if isinstance(found, list) else [None])]


judge = _judge  # the server's due-files route judges an exception as the sweep does
over = _over

__all__ = ["MISSING", "SweepReport", "judge", "not_written_there", "over", "sweep"]
