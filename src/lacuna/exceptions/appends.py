"""Appends to a file written under an exception, and re-writes that keep what a file holds.

The sweep deletes a file written under an exception when the exception ends, and only the
file its signed record names (:func:`lacuna.exceptions.sweep.not_written_there`: device,
inode, size and modification time). A write that keeps what a file holds and adds to it (an
append; the re-seal of a governed file, which writes a new file in its place) breaks that in
one of two ways, so both are refused before a byte is written:

==========================================  ===============================================
append to a file the sweep would delete     refused unless made under that same exception:
under exception X, made without X           the re-written file is no longer the one on
                                            record, so X's rows would outlive X (a leak)
append under exception E to a file not      refused: the sweep would delete the whole file
written under E (it existed before)         when E ends, older rows too (data loss)
append under E to a file written under E    allowed: the append is recorded under E (a new
                                            record of what is there now), so the sweep
                                            deletes the grown file when E ends
==========================================  ===============================================

A re-write Lacuna makes itself without changing the content (``lacuna storage rewrap``,
:mod:`lacuna.storage.rotation`) moves the records that named the file to what is there after
it (:func:`follow`).

A write that replaces a file in full (``mode="w"``, the default) is not refused: what the file
held is gone once it returns, whoever writes. The records of the exceptions other than the
write's own that held the file (:func:`replacing`, taken before the write) are closed once it
returned (:func:`supersede`: marked deleted, ``file-superseded`` on the audit trail and in the
exception's history), so the sweep neither deletes the new content nor reports it forever. A
write under exception E records the new file under E (the sweep deletes it when E ends), also
when the file existed before: its older content is replaced by the write, not by the sweep.

A writer calls these, the write and the recording (:func:`supersede`,
:func:`lacuna.exceptions.files.written`) in the turn of the path
(:func:`lacuna.exceptions.pathlock.path_lock`), so two writers of one path never interleave
them; :func:`supersede` closes only the records :func:`replacing` read, never one made since.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from lacuna._files import identity
from lacuna.errors import LacunaError
from lacuna.exceptions import events
from lacuna.exceptions.authority import ExceptionNotAuthorized
from lacuna.exceptions.model import Status
from lacuna.exceptions.sweep import not_written_there
from lacuna.model import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from lacuna.exceptions.context import Context
    from lacuna.exceptions.model import ExceptionRequest
    from lacuna.exceptions.store import WrittenFile

log = logging.getLogger("lacuna.exceptions")
SUPERSEDED = "file-superseded"

class AppendRefused(ExceptionNotAuthorized):
    """An append (or a re-write that keeps what a file holds) that would break the tie between
    a file and the exception it was written under: the message says which file, which
    exception, and what to do instead. Nothing was written.

    Attributes:
        path: the file.
        exception_id: the exception the append was made under (None: without one).
        held_by: the exception the file was written under (None: none, the file is older).
        valid_until: when ``held_by`` ends (None: not known, or no ``held_by``).
    """

    def __init__(self, msg: str, *, path: str, exception_id: str | None,
                 held_by: str | None = None, valid_until: datetime | None = None) -> None:
        super().__init__(msg)
        self.path = path
        self.exception_id = exception_id
        self.held_by = held_by
        self.valid_until = valid_until


@dataclass(frozen=True, slots=True)
class Holder:
    """An exception whose sweep would delete the file now at a path, and its records there."""

    request: ExceptionRequest
    records: tuple[WrittenFile, ...]


def holders(gov: Context, path: str | os.PathLike[str]) -> list[Holder]:
    """The exceptions whose sweep would delete what is at ``path`` now, judged as the sweep
    judges it: verified records not yet deleted, of this file (the same path, or a path that
    resolves to the same place), of an exception whose signed record verifies, matching what
    is there (:func:`~lacuna.exceptions.sweep.not_written_there`). Records the sweep would not
    act on (a file replaced at the path since, a record edited by hand) hold nothing: the sweep
    reports those, whatever is appended. Empty when nothing is at ``path``."""
    where = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        st = os.lstat(where)
    except OSError:
        return []
    real = os.path.realpath(where)
    name = os.path.basename(real)
    store = gov.exceptions
    found: dict[str, list[WrittenFile]] = {}
    # a record of this file ends in its own name, or is the path as given (a link now)
    for w in store.pending_named(*{name, os.path.basename(where)}):
        # a record's path is the one written (never a link there), so it ends in the file's
        # own name: only those are resolved (a folder on the way may be a link)
        same = w.path in (where, real) or (os.path.basename(w.path) == name
                                          and os.path.realpath(w.path) == real)
        if same and store.file_verified(w):
            found.setdefault(w.exception_id, []).append(w)
    out = []
    for exception_id, records in sorted(found.items()):
        if stat.S_ISDIR(st.st_mode) and not any(w.directory for w in records):
            continue  # the sweep never removes a folder on a file's record
        try:
            request = store.get(exception_id)
        except LacunaError:
            continue  # the sweep reports it and deletes nothing on its word
        if store.verified(request) and not_written_there(where, records, request) is None:
            out.append(Holder(request, tuple(records)))
    return out


def check_append(gov: Context, path: str | os.PathLike[str], exception_id: str | None, *,
                 method: str, same: Callable[[str], str] | None = None) -> None:
    """Refuse an append to ``path`` made under ``exception_id`` (None: without one) that the
    sweep could not answer for; see the module's table. Call it before anything is written
    (and before :func:`lacuna.exceptions.files.remember`). Nothing happens when ``path`` does
    not exist: the append writes a new file. ``same``: how to make this append under the
    exception holding the file (given its id), for a writer that cannot take ``exception_id=``
    (a Spark table, which cannot be written under an exception: its folder can).

    Raises:
        AppendRefused: the file is held by another exception than ``exception_id``, or
            ``exception_id`` is given and the file was not written under it.
    """
    where = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.lexists(where):
        return
    if exception_id is not None and getattr(gov.exceptions, "remote", False):
        found = _server_holder(gov, where, exception_id, method)
    else:
        found = holders(gov, where)
    other = next((h for h in found if h.request.id != exception_id), None)
    how = "without an exception" if exception_id is None else f"under exception {exception_id}"
    if other is not None:
        held = other.request
        live = _live(held)
        if not live:
            instead = "let the sweep delete it first (lacuna exceptions sweep)"
        elif same is not None:
            instead = same(held.id)
        else:
            instead = f"append under the same exception (exception_id=\"{held.id}\")"
        msg = (f"{method}: appending to {where} {how} is refused: the file was written under "
               f"exception {held.id} ({_standing(held)}), and `lacuna exceptions sweep` "
               f"deletes it when {held.id} ends. The append would re-write it, so the sweep "
               f"would no longer know it as the file written under {held.id} and its data "
               f"would outlive the exception (or the appended rows, not covered by {held.id}, "
               f"would be deleted with it). Write these rows to a new file, or {instead}. "
               "Nothing was written.")
        raise AppendRefused(msg, path=where, exception_id=exception_id, held_by=held.id,
                            valid_until=held.valid_until)
    if exception_id is not None and not found:
        msg = (f"{method}: appending to {where} under exception {exception_id} is refused: "
               f"the file was not written under {exception_id} (it existed before, or was "
               f"written without it), and when {exception_id} ends `lacuna exceptions sweep` "
               "deletes the whole file, the rows it held before with the appended ones. Write "
               "these rows to a new file under the exception (a path that does not exist "
               "yet). Nothing was written.")
        raise AppendRefused(msg, path=where, exception_id=exception_id)


def _server_holder(gov: Context, where: str, exception_id: str, method: str) -> list[Holder]:
    """With ``server:``: ``exception_id`` as the holder of ``where`` when the server's records
    of the files written under it name this host's ``where`` (open) and what is there now is
    what one of them says was written (the sweep's own test, :func:`not_written_there`); none
    otherwise (the append is then refused as not written under it). The grant itself is the
    server's to check, as it decides the append.

    Raises:
        AppendRefused: the server could not be asked (fail closed: nothing is written).
    """
    from lacuna.exceptions.files import on_client, this_host

    here = this_host()
    try:
        records = [w for w in gov.exceptions.files(exception_id)
                   if w.deleted_at is None and on_client(w.path) == (here, where)]
        request = gov.exceptions.get(exception_id) if records else None
    except LacunaError as exc:
        msg = (f"{method}: appending to {where} under exception {exception_id} is refused: "
               f"the Lacuna server could not say which files were written under it ({exc}). "
               "Nothing was written.")
        raise AppendRefused(msg, path=where, exception_id=exception_id) from None
    if request is None or not_written_there(where, records, request) is not None:
        return []
    return [Holder(request, tuple(records))]


def follow(gov: Context, found: list[Holder], path: str | os.PathLike[str]) -> None:
    """After Lacuna re-wrote ``path`` in place without changing what it holds (a key re-wrap):
    move the records of ``found`` (:func:`holders`, taken before the re-write) to what is
    there now, so the sweep still deletes it when their exception ends.

    Raises:
        OSError: ``path`` cannot be read.
        LacunaError: a record cannot be updated (the sweep reports the file then).
    """
    st = os.lstat(os.path.expanduser(os.fspath(path)))
    for holder in found:
        for record in holder.records:
            now = identity(st, directory=record.directory)
            if record.identity is not None and record.identity != now:
                gov.exceptions.move_identity(record, now)


@dataclass(frozen=True, slots=True)
class Replaced:
    """A file a write is about to replace in full, and the exceptions (other than the write's
    own) whose sweep would delete it now, with what was there before (``lstat``)."""

    path: str
    holders: tuple[Holder, ...]
    before: os.stat_result


def replacing(gov: Context, path: str | os.PathLike[str],
              exception_id: str | None, *, folder: bool = False) -> Replaced | None:
    """Before a write that replaces the file at ``path`` in full (``mode="w"``), made under
    ``exception_id`` (None: without one): the exceptions other than ``exception_id`` holding
    it (:func:`holders`), for :func:`supersede` once the write returned. None when there are
    none, nothing is at ``path``, or it is no regular file (a folder: a write into it adds
    files; a symbolic link: a write follows it). ``folder``: the write replaces a folder in
    full (Spark's ``mode("overwrite")`` of a path), so a folder is what it replaces."""
    where = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        st = os.lstat(where)
    except OSError:
        return None
    if not (stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)):
        return None
    found = tuple(h for h in holders(gov, where) if h.request.id != exception_id)
    return Replaced(where, found, st) if found else None


def supersede(gov: Context, replaced: Replaced | None, *, exception_id: str | None,
              method: str, removed: bool = False) -> None:
    """After a write that replaced ``replaced.path`` in full returned: close the records of
    the exceptions that held the file before (:func:`replacing`), whose content is gone.
    Each record is marked deleted (signed again), and the step is ``file-superseded`` on the
    audit trail and in the exception's history, so the sweep neither deletes the new content
    nor reports it as "not the one written there" every sweep.

    A record is left open (the sweep reports the file, as before) when the path still holds
    what it says was written, when nothing is there any more, or when the write put a new
    file in place of one with other hard links (its data lives on under those names). Never
    fails the write: a record that cannot be closed is logged at ERROR.

    ``removed``: the write truncated the file in place, then saved nothing and its empty file
    was removed (a ``pd.ExcelWriter`` whose every put was denied): the content written under
    the exceptions is gone (in place: no other name keeps it), so their records are closed
    although nothing is at the path."""
    if replaced is None:
        return
    before = replaced.before
    folder = stat.S_ISDIR(before.st_mode)
    how = "without an exception" if exception_id is None else f"under exception {exception_id}"
    now: str | None = None
    if removed:
        how += ", which then saved nothing (the empty file it left was removed)"
    else:
        try:
            st = os.lstat(replaced.path)
        except OSError:
            return  # nothing there: the sweep reports it missing
        if stat.S_ISDIR(st.st_mode) != folder:
            return  # a folder where a file was, or the reverse: the sweep reports it
        if (not folder and (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino)
                and before.st_nlink > 1):
            log.warning("%s was replaced by a new file, but the file written under "
                        "exception(s) %s had %d other hard link(s): their records stay open, "
                        "and the sweep reports it", replaced.path,
                        ", ".join(h.request.id for h in replaced.holders),
                        before.st_nlink - 1)
            return
        now = identity(st, directory=folder)
    at = utcnow()
    for holder in replaced.holders:
        request = holder.request
        if now is not None and any(r.identity == now for r in holder.records):
            continue  # still what was written under it
        paths = sorted({r.path for r in holder.records})
        try:  # the records read before the write, none made since (pathlock.py)
            gov.exceptions.close_records(holder.records, at)
        except (LacunaError, SQLAlchemyError) as exc:
            log.error("could not close the record of %s under exception %s after it was "
                      "replaced in full (the sweep reports it): %s", replaced.path,
                      request.id, exc)
            continue
        try:
            gov.exceptions.note(request.id, SUPERSEDED, by=gov.config.user.id,
                                comment=f"{replaced.path}: replaced in full by a write {how} "
                                        f"({method})", now=at)
        except (LacunaError, SQLAlchemyError) as exc:  # closed and audited: the history lacks it
            log.error("could not note %s of %s in exception %s's history: %s", SUPERSEDED,
                      replaced.path, request.id, exc)
        events.audit(gov, SUPERSEDED, request, detail={
            "path": replaced.path, "records": paths, "by_exception": exception_id,
            "method": method, "identity": now})


def _live(request: ExceptionRequest) -> bool:
    return request.status is Status.APPROVED and (
        request.valid_until is None or utcnow() < request.valid_until)


def _standing(request: ExceptionRequest) -> str:
    """Where ``request`` stands, for a message."""
    until = request.valid_until
    if _live(request):
        return (f"approved until {until:%Y-%m-%d %H:%M} UTC" if until is not None
                else "approved")
    if request.status is Status.APPROVED and until is not None:
        return (f"it expired at {until:%Y-%m-%d %H:%M} UTC; the file is due for deletion by "
                "the next sweep")
    return (f"{request.status.value}; the file is due for deletion by the next sweep")


__all__ = ["SUPERSEDED", "AppendRefused", "Holder", "Replaced", "check_append", "follow",
           "holders", "replacing", "supersede"]
