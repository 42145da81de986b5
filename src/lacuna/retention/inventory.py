"""What retention governs, and what is known about each item.

- **Files under the governed roots** (``destinations.governed``, local ones): the tier, tags and
  write time come from the file's signed sidecar (``.<file>.lacuna.json``, written by every
  governed write), and when its data was first seen (``first_seen``, which a re-save, a
  rename by hand or a copy keeps: :mod:`lacuna.lineage.clock`; the sealed header's too). A
  folder with a trusted sidecar (a partitioned Parquet dataset) is one
  item; under an untrusted one its files are items of their own. A sealed file whose sidecar
  is missing or not trusted (unsigned, forged, stale, unreadable) is dated by its
  authenticated sealed header (tier and write time), so removing or editing the sidecar does
  not keep it past its window; any other such file is treated as
  ``retention.unclassified_tier`` (PROPRIETARY by default) and dated by the later of its
  declared write time and its modification time (never later than its inode change time),
  and marked ``unverified``: unknown data is never deleted early, and is for review when its
  window by what is known is not over (:func:`lacuna.retention.plan.decide`).
- **Files written under an exception** (the exceptions store): due when the exception's window
  ended, or when it was revoked, expired or denied.
- **The audit trail**: one item, reported against its retention; it is never pruned.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from lacuna.errors import LacunaError
from lacuna.lineage.sidecar import Sidecar, SidecarError
from lacuna.model import Tier

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore
    from lacuna.exceptions.model import ExceptionRequest
    from lacuna.exceptions.store import ExceptionStore
    from lacuna.keystore import KeyStore
    from lacuna.retention.settings import RetentionSettings

Kind = Literal["file", "exception-file", "audit"]
# a sidecar is written when its file is closed, its sealed header when it is opened: an
# untrusted sidecar (one of a big file signed before 2026-12: ``sampled``) declares a write time
# a little after the header's, which is no claim to keep the file longer
SIDECAR_SLACK = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One governed thing retention decides about."""

    kind: Kind
    path: str
    tier: Tier
    tags: tuple[str, ...] = ()
    written_at: datetime
    written_by: str | None = None
    known_from: str = ""  # how the tier and time are known (sidecar, mtime, exception store)
    root: str | None = None  # the governed root it lies under
    exception_id: str | None = None
    ended_at: datetime | None = None  # exception files: when their window ended
    directory: bool = False  # exception files: its signed record says a directory was written
    records: int = 0  # the audit trail: how many records
    # files under a governed root: what said the path was this file when it was planned
    # (``lacuna._files.change_key`` of its lstat); apply deletes nothing that changed since
    stat: tuple[int, int, int, int, int] | None = None
    # why deleting it on what is known would be unsafe although the window says it is due (an
    # untrusted sidecar claiming more than the sealed header): a due item is then an error
    doubt: str | None = None
    # why its age and tier are not established from trusted evidence (no sidecar, an unusable
    # or untrusted one, and no sealed header that authenticates): it is due when its window
    # says so by what is known, and otherwise for **review**, never kept silently
    unverified: str | None = None
    # when its data was first seen, when that is earlier than ``written_at``: the earliest
    # trusted clock of the audit trail's (written at this path, or derived from data read in
    # the same session), its signed sidecar's and its sealed header's ``first_seen`` (carried
    # by a re-save, a rename by hand, a copy: lacuna.lineage.clock); how, in ``known_from``
    first_seen: datetime | None = None
    seen_note: str = ""  # what ``known_from`` says of a clock its declaration carried

    @property
    def clock(self) -> datetime:
        """When its retention counts from: the earlier of its write time and when its data
        was first seen (a rewrite, a rename or a copy does not restart it)."""
        if self.first_seen is not None and self.first_seen < self.written_at:
            return self.first_seen
        return self.written_at


def local_roots(governed: tuple[str, ...]) -> list[str]:
    """The governed roots that are local folders (URLs such as ``s3://`` are not walked)."""
    return [os.path.abspath(os.path.expanduser(r)) for r in governed if "://" not in r]


def governed_files(roots: list[str], settings: RetentionSettings,
                   keystore: KeyStore | None = None) -> Iterator[Item]:
    """Every data file (or sidecar-declared folder) under ``roots``, with what it declares
    (``keystore``: opens sealed files whose sidecar is missing or not trusted, whose
    authenticated header then says when and at which tier they were written)."""
    from lacuna.lineage.sidecar import has_sidecar, is_declaration, is_sidecar

    archive = (os.path.abspath(os.path.expanduser(settings.archive_dir))  # as _archive does
               if settings.archive_dir else None)
    seen: set[str] = set()
    real_roots = [os.path.realpath(r) for r in roots]
    for root in roots:
        if not os.path.isdir(root):
            continue
        unlisted: list[OSError] = []
        for folder, dirs, files in os.walk(root, onerror=unlisted.append):
            if archive is not None and (folder == archive
                                        or folder.startswith(archive + os.sep)):
                dirs[:] = []
                continue
            for name in sorted(dirs):
                path = os.path.join(folder, name)
                # a folder dataset is one item only on a trusted sidecar: a hand-written one
                # next to a folder would otherwise hide every file in it (kept as PROPRIETARY,
                # never due); under an untrusted one, the folder's files are items of their own
                if has_sidecar(path):
                    declared = _declared(path)
                    if isinstance(declared, Sidecar) and declared.trusted:
                        dirs.remove(name)
                        if path not in seen:
                            seen.add(path)
                            yield from _described(path, root, settings, keystore, declared)
                        continue
                if os.path.islink(path) and path not in seen and not _under(path, real_roots):
                    seen.add(path)
                    yield _linked_out(path, root, settings)
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if not _holds_data(path):
                    continue  # a named pipe, socket or device (or a link to one): no data,
                    # and reading it (its sidecar's fingerprint) waited for ever
                if not has_sidecar(path) and (is_sidecar(path) or (
                        name.startswith(".lacuna-") and is_declaration(path))):
                    continue  # sidecars travel with their file; a sidecar's temp file is in
                    # flight. Only a declaration beside its file is one (is_sidecar, as a
                    # folder's fingerprint reads it): a data file renamed to such a name (with
                    # or without a sidecar of its own) is still an item
                if path not in seen:
                    seen.add(path)
                    yield from _described(path, root, settings, keystore)
        for problem in unlisted:  # after the walk: what it could not list
            if not isinstance(problem, FileNotFoundError):  # not removed while walked
                yield _unlisted(problem, root, settings)


def _under(path: str, real_roots: list[str]) -> bool:
    """Whether ``path`` resolves into one of the governed roots (walked there)."""
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in real_roots)


def _linked_out(path: str, root: str, settings: RetentionSettings) -> Item:
    """A symbolic link under ``root`` to a folder outside the governed roots (a folder moved
    out and a link left in its place: its files still read through the governed path). The
    walk does not follow links, so its files were no items and nothing said so: it is an item
    to **review** (dated now: never due; deleting the link would leave the data), as a due
    link to a file out there is an error (:func:`lacuna.retention.api._linked_elsewhere`)."""
    why = (f"it is a symbolic link to the folder {os.path.realpath(path)}, outside the governed "
           "roots, whose files retention does not walk; move the folder back in place of the "
           f"link (mv {os.path.realpath(path)} {path}) or remove the link, then plan again")
    return Item(kind="file", path=path, tier=settings.unclassified_tier,
                written_at=datetime.now(UTC), known_from=f"not walked: {why}", root=root,
                unverified=why)


def _unlisted(problem: OSError, root: str, settings: RetentionSettings) -> Item:
    """A folder under ``root`` that the walk could not list (no permission to read it, a
    path longer than the system allows): what is in it is not known, so it is an item of its
    own, **review** (:attr:`Item.unverified`, dated now: never due), never skipped. A sealed file
    of PII moved into a folder made unreadable (``chmod 000``), or nested deeper than
    ``PATH_MAX``, was left out of the plan in silence: never due, and ``apply`` exited 0."""
    where = os.fsdecode(problem.filename) if problem.filename is not None else root
    why = (f"its folder could not be listed ({type(problem).__name__}: "
           f"{problem.strerror or problem}), so what it holds is not known; make it readable "
           "(chmod u+rx) or move what it holds to a shorter path under the root, then plan "
           "again")
    return Item(kind="file", path=where, tier=settings.unclassified_tier,
                written_at=datetime.now(UTC), known_from=f"not listed: {why}", root=root,
                unverified=why)


def _holds_data(path: str) -> bool:
    """Whether ``path`` is a regular file (a symbolic link: names one), or is gone or dangling
    (:func:`describe` says so). A named pipe put in governed storage by whoever owns the files,
    its sidecar left beside it, hung ``lacuna retention plan`` and ``apply`` (and the server's
    scheduled apply, holding the apply lock) on reading it: nothing was ever due again."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _declared(path: str) -> Sidecar | SidecarError | None:
    """The sidecar of ``path`` as read once: the declaration, the error that made it unusable,
    or None when there is none."""
    from lacuna.lineage.sidecar import read_sidecar

    try:
        return read_sidecar(path)
    except SidecarError as exc:
        return exc
    except OSError as exc:  # the data file vanished or cannot be fingerprinted
        return SidecarError(str(exc))


_UNREAD = object()  # describe reads the sidecar itself


def _described(path: str, root: str, settings: RetentionSettings, keystore: KeyStore | None,
               declared: object = _UNREAD) -> Iterator[Item]:
    try:
        yield describe(path, root, settings, keystore, declared=declared)
    except FileNotFoundError:  # removed while the tree was walked: nothing to decide
        return


def describe(path: str, root: str | None, settings: RetentionSettings,
             keystore: KeyStore | None = None, *, declared: object = _UNREAD) -> Item:
    """What the sidecar of ``path`` says, or, when it cannot be used, what the authenticated
    header of a sealed file says, or else the fail-closed answer: an item whose age and tier
    are not established from trusted evidence (``Item.unverified``: due by its window when
    that is over, else for review). ``declared``: its sidecar, already read (the inventory
    reads a folder's sidecar once, to decide whether the folder is one item)."""
    from lacuna._files import change_key
    from lacuna.lineage.sidecar import read_sidecar

    key = change_key(os.lstat(path))
    st = os.stat(path)
    # dated by modification time: never later than the inode change time, which the file's
    # owner cannot set (os.utime sets it to now), so a modification time set into the future
    # does not keep a file forever
    mtime = datetime.fromtimestamp(min(st.st_mtime, st.st_ctime), UTC)
    changed = datetime.fromtimestamp(st.st_ctime, UTC)
    if declared is _UNREAD:
        try:
            declared = read_sidecar(path)
        except SidecarError as exc:
            declared = exc

    recorded: list[tuple[str, ...] | None] = [None]  # the tags its header records, if any

    def header(why: str) -> Item | None:
        sealed = sealed_origin(path, keystore)
        if sealed is None:
            return None
        recorded[0] = sealed[4]
        return _not_after(_from_header(path, root, settings, sealed, key, why), changed)

    if isinstance(declared, SidecarError):
        why = f"sidecar unusable ({_first_line(declared)})"
        return header(why) or Item(
            kind="file", path=path, tier=settings.unclassified_tier, written_at=mtime,
            known_from=f"{why}: treated as {settings.unclassified_tier}, dated by modification "
            "time", root=root, stat=key, unverified=why)
    if not isinstance(declared, Sidecar):
        return header("no sidecar") or Item(
            kind="file", path=path, tier=settings.unclassified_tier, written_at=mtime,
            known_from=f"no sidecar: treated as {settings.unclassified_tier}, dated by "
            "modification time", root=root, stat=key, unverified="no sidecar")
    c = declared.classification
    written = declared.written_at or mtime
    if written.tzinfo is None:
        written = written.replace(tzinfo=UTC)
    if declared.trusted:
        return _not_after(_seen(Item(kind="file", path=path, tier=c.tier, tags=tuple(c.tags),
                                     written_at=written, written_by=declared.written_by,
                                     known_from="signed sidecar", root=root, stat=key),
                                *_trusted_clock(path, declared)), changed)
    why = f"untrusted sidecar ({declared.problem})"
    item = header(why)
    if item is not None:
        # the tags are the header's (authenticated) when it records them: an untrusted sidecar
        # naming others (a tag a Rego rule shortens or holds by) set the rules' input, so
        # anyone who can write it deleted the data early or kept it. A header sealed before
        # tags were keeps the sidecar's, as before
        sealed = recorded[0]
        tags = tuple(c.tags) if sealed is None else sealed
        extra = [t for t in c.tags if sealed is not None and t not in sealed]
        if c.tier > item.tier or written > item.written_at + SIDECAR_SLACK or extra:
            # the untrusted sidecar asks for more than the authenticated header gives: never
            # obeyed silently (anyone can write it), never overruled by deleting
            more = f" tagged {', '.join(extra)}" if extra else ""
            return replace(item, tags=tags, doubt=(
                f"its sidecar is not trusted ({declared.problem}) and declares "
                f"{c.tier}{more} written {written:%Y-%m-%d}, where its sealed header says "
                f"{item.tier}{' tagged ' + ', '.join(sealed) if sealed else ''} written "
                f"{item.written_at:%Y-%m-%d}"))
        return replace(item, tags=tags)
    tier = max(c.tier, settings.unclassified_tier)
    return Item(kind="file", path=path, tier=tier, tags=tuple(c.tags),
                written_at=max(written, mtime), written_by=declared.written_by,
                known_from=f"{why}: treated as {tier}, dated "
                "by the later of its declared write time and modification time", root=root,
                stat=key, unverified=why)


def _not_after(item: Item, changed: datetime) -> Item:
    """``item`` dated no later than ``changed``, the file's inode change time, when its clock
    (signed or sealed, but taken from the writing process's clock) is later than that by more
    than :data:`SIDECAR_SLACK`. The kernel sets the change time at every write, rename and
    ``chmod``, and no process can set it: the data was there by then. A file written by a
    process whose clock was set ahead (``faketime``, a clock changed for the write) declared a
    write time years away, and was kept past its window in silence (inside its minimum until
    then)."""
    if item.clock <= changed + SIDECAR_SLACK:
        return item
    base = item.known_from.removesuffix(item.seen_note)
    return replace(item, written_at=changed, first_seen=None, seen_note="", known_from=(
        f"{base}; dated {changed:%Y-%m-%d} by its inode change time, as it declares "
        f"{item.clock:%Y-%m-%d}, later than the file last changed (written by a process whose "
        "clock was ahead)"))


def _seen(item: Item, at: datetime | None, how: str) -> Item:
    """``item`` with the clock its trusted declaration carries (``first_seen``: a re-save
    or a copy keeps its source's), when that is earlier than its write time."""
    if at is None or at >= item.clock:
        return item
    note = f"; its data first seen {at:%Y-%m-%d} ({how})"
    return replace(item, first_seen=at, known_from=f"{item.known_from}{note}", seen_note=note)


def _trusted_clock(path: str, declared: Sidecar) -> tuple[datetime | None, str]:
    """The ``first_seen`` of a trusted sidecar and, for a sealed file, of its header: the
    sidecar's signed fingerprint binds the header's bytes (``identity_digest``), so what the
    header says is as trusted as the sidecar, read without a key. The earlier, and where."""
    from lacuna.errors import StorageError
    from lacuna.lineage import clock
    from lacuna.storage.sealed import is_sealed, read_header

    at, how = declared.first_seen, "its signed sidecar"
    if is_sealed(path):
        try:
            sealed = clock.aware(read_header(path).meta.get(clock.FIELD))
        except (StorageError, OSError):
            sealed = None
        if sealed is not None and (at is None or sealed < at):
            at, how = sealed, "its sealed header"
    return at, how


def sealed_origin(path: str, keystore: KeyStore | None) -> tuple[
        datetime, Tier | None, str | None, datetime | None, tuple[str, ...] | None] | None:
    """``(written_at, tier, written_by, first_seen, tags)`` from the header of the sealed file
    at ``path``, once the header authenticates (:func:`lacuna.lineage.clock.sealed_header`);
    None for a file that is not sealed, a header that does not open or does not say when it
    was written. ``first_seen``: None in a header sealed before it carried one; ``tags``: None
    in one sealed before it carried them (or by a mount write). Nothing of the plaintext is
    kept or returned."""
    from lacuna.lineage import clock

    meta = clock.sealed_header(path, keystore)
    if meta is None:
        return None
    try:
        when = datetime.fromisoformat(str(meta["written_at"]))
        tier = Tier.parse(meta["tier"]) if meta.get("tier") else None
        by = str(meta["written_by"]) if meta.get("written_by") else None
    except (KeyError, ValueError, LacunaError):
        return None
    raw = meta.get("tags")
    tags = (tuple(dict.fromkeys(str(t)[:64] for t in raw[:64] if isinstance(t, str)))
            if isinstance(raw, list) else None)
    return ((when if when.tzinfo is not None else when.replace(tzinfo=UTC)), tier, by,
            clock.aware(meta.get(clock.FIELD)), tags)


def _from_header(path: str, root: str | None, settings: RetentionSettings,
                 sealed: tuple[datetime, Tier | None, str | None, datetime | None,
                               tuple[str, ...] | None],
                 key: tuple[int, int, int, int, int], why: str) -> Item:
    when, tier, by, seen, tags = sealed
    tier = tier or settings.unclassified_tier
    return _seen(Item(kind="file", path=path, tier=tier, tags=tags or (), written_at=when,
                      written_by=by,
                      known_from=f"{why}: tier and write time from its sealed header "
                      "(authenticated)", root=root, stat=key), seen, "its sealed header")


def exception_files(store: ExceptionStore, now: datetime) -> Iterator[Item]:
    """Files written under exceptions that have ended (window past, revoked, denied, expired),
    from records that verify (a record that does not is kept and reported by the sweep)."""
    from lacuna.exceptions.files import on_client
    from lacuna.exceptions.model import Status
    from lacuna.exceptions.sweep import not_written_there

    requests: dict[str, ExceptionRequest | None] = {}
    # one that does not verify is never acted on (the sweep reports it); a server's record of
    # a client's file names a file on that host (file://<host><path>), never one here
    good = [w for w in store.files(pending_only=True)
            if on_client(w.path) is None and store.file_verified(w)]
    for written in good:
        if written.exception_id not in requests:
            try:
                found = store.get(written.exception_id)
            except Exception:  # an unreadable exception: its files stay (the sweep reports it)
                found = None
            # an edited record says nothing about its window: its files stay (the sweep
            # reports them as failed until a steward deals with them)
            requests[written.exception_id] = (found if found is not None
                                              and store.verified(found) else None)
        request = requests[written.exception_id]
        if request is None:
            continue
        ended: datetime | None = None
        if request.status is Status.APPROVED:
            if request.valid_until is not None and request.valid_until <= now:
                ended = request.valid_until
        elif request.status in (Status.REVOKED, Status.EXPIRED, Status.DENIED):
            ended = request.valid_until or written.written_at
        if ended is None:
            continue
        records = [w for w in good
                   if (w.exception_id, w.path) == (written.exception_id, written.path)]
        if not_written_there(written.path, records, request) is not None:
            continue  # not the file written under the exception: kept (the sweep reports it)
        yield Item(kind="exception-file", path=written.path, tier=Tier.PROPRIETARY,
                   written_at=written.written_at, written_by=written.written_by,
                   known_from=f"exceptions store ({request.status.value})",
                   exception_id=written.exception_id, ended_at=ended,
                   directory=written.directory)


def audit_trail(store: AuditStore) -> Item:
    """The audit trail as one item: its record count and its oldest record's time."""
    from sqlalchemy import func, select

    from lacuna.audit.schema import records

    with store.snapshot() as conn:
        count, oldest = conn.execute(
            select(func.count(), func.min(records.c.timestamp))).one()
    when = _parse(oldest) if oldest else datetime.now(UTC)
    return Item(kind="audit", path=store.where, tier=Tier.PROPRIETARY, written_at=when,
                known_from="audit trail (oldest record)", records=int(count))


def _parse(value: object) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


__all__ = ["Item", "audit_trail", "describe", "exception_files", "governed_files",
           "local_roots"]
