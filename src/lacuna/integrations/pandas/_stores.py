"""Store objects (``pd.HDFStore``, ``pd.ExcelWriter``) and files written under an exception.

A store writes its file outside the calls Lacuna decides: ``HDFStore(path, mode="a")`` opens
the file for writing (PyTables touches it on open, HDF5 on close), ``ExcelWriter(path,
mode="a")`` re-saves the whole workbook on close. So the rules of
:mod:`lacuna.exceptions.appends` are applied where the store opens the file, and the record of a
write under an exception is completed when it closes:

- ``pd.HDFStore(path, mode="a" | "r+", exception_id=None)`` on a file that exists is checked as
  an append (:func:`lacuna.exceptions.appends.check_append`) before PyTables opens it; a
  refusal leaves the file untouched. ``exception_id=`` (Lacuna's keyword) records the file
  under that exception before it is opened, and the puts into the store are made under it
  (a put naming another exception is refused). ``mode="w"`` replaces the file in full: the
  records of the exceptions that held it are closed once the store is closed
  (:func:`lacuna.exceptions.appends.supersede`). ``store.open(mode=...)`` after ``close()``
  is checked the same way (pandas' constructor opens the file through it), under the
  exception the store was made under unless ``open(..., exception_id=...)`` names another.
- ``df.to_excel(writer, exception_id=...)`` into an ``ExcelWriter`` on a local path is recorded
  under the exception (a file the sweep deletes); ``mode="a"`` puts are checked as appends.
  An append-mode writer into which nothing was written (every put refused or denied) does not
  re-save the workbook on close. A ``mode="w"`` writer into which nothing was written saves
  nothing: the empty file its open made is removed, and the records that file leaves behind
  are closed (:func:`discard`), so the sweep does not report it missing.

Each store takes the turn of its path (:mod:`lacuna.exceptions.pathlock`) when it opens and
when it closes, not while it is open.

What is written into a store is recorded (``files.written``: what the file is) once the store
is closed, when the file is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from lacuna import _bypass
from lacuna.lineage.sidecar import is_local

if TYPE_CHECKING:
    from lacuna.exceptions.appends import Replaced
    from lacuna.exceptions.store import WrittenFile

HDF_WRITES = ("a", "r+", "w")  # PyTables' modes that open the file for writing


@dataclass(slots=True)
class _Opened:
    """What Lacuna holds about one open store: the exception it was opened under, the records
    to complete on close, the records a ``mode="w"`` open replaces."""

    exception_id: str | None = None
    records: list[WrittenFile] = field(default_factory=list)
    replaced: Replaced | None = None
    wrote: bool = False  # a governed put into it returned


_OPENED: weakref.WeakKeyDictionary[Any, _Opened] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def store_file(target: Any) -> str | None:
    """The local file of an ``HDFStore`` or ``ExcelWriter`` (absolute), or None (another
    target, or a store on a buffer)."""
    if isinstance(target, pd.HDFStore):
        named: Any = target.filename
    elif isinstance(target, pd.ExcelWriter):
        handle = getattr(getattr(target, "_handles", None), "handle", None)
        named = getattr(handle, "name", None)
    else:
        return None
    if not isinstance(named, (str, os.PathLike)) or not is_local(named):
        return None
    return os.path.abspath(os.path.expanduser(os.fspath(named)))


def excel_appends(target: Any) -> bool:
    """Whether ``target`` is an ``ExcelWriter`` opened in append mode (``mode="a"``)."""
    return isinstance(target, pd.ExcelWriter) and "r+" in str(getattr(target, "_mode", ""))


def store_exception(target: Any) -> str | None:
    """The exception ``target`` (an ``HDFStore``) was opened under, or None."""
    with _LOCK:
        opened = _OPENED.get(target)
    return None if opened is None else opened.exception_id


def record_put(gov: Any, target: Any, exception_id: str, method: str) -> None:
    """A put under ``exception_id`` into a store on a local file: record the file under it
    (once per store and exception), completed when the store is closed.

    Raises:
        ExceptionNotAuthorized: the store is not on a local file, or it was opened under
            another exception (or none) than the put's (an ``HDFStore``: open it with
            ``exception_id=``), or the file cannot be recorded; nothing is written.
    """
    from lacuna.exceptions import files

    path = store_file(target)
    if path is None:
        raise files.refuse_unsweepable(exception_id, repr(target), method)
    with _LOCK:
        opened = _OPENED.setdefault(target, _Opened())
    if isinstance(target, pd.HDFStore) and opened.exception_id != exception_id:
        how = (
            f"under exception {opened.exception_id}"
            if opened.exception_id
            else "without an exception"
        )
        msg = (
            f"{method} under exception {exception_id} into {path} is refused: the store "
            f"was opened {how}, and the file it opened is what the sweep deletes when the "
            f"exception ends. Open the store under the exception: pd.HDFStore({path!r}, "
            f"mode=..., exception_id={exception_id!r}). Nothing was written."
        )
        raise files.ExceptionNotAuthorized(msg)
    if any(r.exception_id == exception_id for r in opened.records):
        return
    record = files.remember(gov, exception_id, path, encrypted=False)
    with _LOCK:
        opened.records.append(record)


def put_done(target: Any) -> None:
    """A governed put into ``target`` (a store) returned: its close saves what it holds."""
    with _LOCK:
        _OPENED.setdefault(target, _Opened()).wrote = True


_NAMED: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()
# the clock the store's file had when the store opened it, before the open touched it
_CLOCK: weakref.WeakKeyDictionary[Any, datetime] = weakref.WeakKeyDictionary()


def _note_clock(target: Any, path: Any) -> None:
    """Before ``target`` (a store) opens the local file ``path``: the clock the data there has
    (:func:`lacuna.lineage.clock.existing`; its sidecar says it only until the store writes
    the file), the destination's part of the clock of every put into it."""
    from lacuna.lineage import clock

    seen = clock.existing(os.fspath(path))
    with _LOCK:
        known = _CLOCK.get(target)
        found = clock.earliest(known, seen)
        if found is not None:
            _CLOCK[target] = found


def opened_clock(target: Any) -> datetime | None:
    """The clock the file of ``target`` (a store) had when the store opened it, or None."""
    with _LOCK:
        return _CLOCK.get(target)


def wrap_hdf_init(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pd.HDFStore(path, mode, ..., exception_id=None)``: the store is opened under
    ``exception_id`` (also when it is opened again: :func:`wrap_hdf_open`); pandas' own
    ``__init__`` opens it through ``HDFStore.open``, where the file is checked and recorded."""

    @functools.wraps(original)
    def init(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        exception_id = kwargs.pop("exception_id", None)
        if not _bypass.active():
            with _LOCK:
                _NAMED[self] = exception_id
        original(self, path, *args, **kwargs)

    return init


def wrap_hdf_open(original: Callable[..., Any]) -> Callable[..., Any]:
    """``HDFStore.open(mode="a", exception_id=...)``, called by ``pd.HDFStore(...)`` and again
    after ``close()``: a mode that writes (``a``, ``r+``, ``w``) is checked and recorded before
    PyTables opens the file (see the module docstring). ``exception_id`` defaults to the one
    the store was made under."""

    @functools.wraps(original)
    def open_(self: Any, mode: str = "a", **kwargs: Any) -> None:
        with _LOCK:
            named = _NAMED.get(self)
        exception_id = kwargs.pop("exception_id", named)
        if _bypass.active() or str(mode) not in HDF_WRITES:
            original(self, mode, **kwargs)
            return
        if getattr(self, "is_open", False):
            if mode == "w" and self._mode != "w":  # pandas refuses this (PossibleDataLossError)
                original(self, mode, **kwargs)
                return
            self.close()  # as pandas does before it opens again: the open store is completed
        from lacuna.exceptions import appends, files
        from lacuna.exceptions.pathlock import path_lock
        from lacuna.governor import current
        from lacuna.integrations.pandas._patch import users_error

        gov = current()
        method = "pandas.HDFStore"
        path = getattr(self, "_path", None)
        where = (
            os.path.abspath(os.path.expanduser(os.fspath(path)))
            if isinstance(path, (str, os.PathLike)) and is_local(path)
            else None
        )
        opened = _Opened(exception_id=exception_id)
        with path_lock(where) if where is not None else contextlib.nullcontext():
            try:
                if where is None:
                    if exception_id:
                        raise files.refuse_unsweepable(exception_id, str(path), method)
                elif mode == "w":
                    opened.replaced = appends.replacing(gov, where, exception_id)
                else:  # opened for writing in place: an append to the file as it is
                    appends.check_append(gov, where, exception_id, method=method)
                # before PyTables creates or opens it; with server: at the first put, under
                # the decision that allowed it (the server records a file only so), and
                # before the put writes its data (record_put)
                if (exception_id and where is not None
                        and not getattr(gov.exceptions, "remote", False)):
                    opened.records.append(
                        files.remember(gov, exception_id, where, encrypted=False))
            except files.ExceptionNotAuthorized as exc:  # AppendRefused too: the call's answer
                users_error(exc)
                raise
            if where is not None:  # before PyTables touches it
                _note_clock(self, where)
            original(self, mode, **kwargs)
        with _LOCK:
            _NAMED[self] = exception_id
            if exception_id or opened.replaced is not None:
                _OPENED[self] = opened

    return open_


def wrap_excel_open(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pd.ExcelWriter(path)`` (``mode="w"``, the default) truncates the file when it is made,
    before any sheet is decided: the exceptions that held it are noted then, and their records
    closed once the writer is closed (:func:`closed`), as for any write that replaces a file
    in full."""

    @functools.wraps(original)
    def init(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        mode = str(args[3] if len(args) > 3 else kwargs.get("mode", "w"))
        local = isinstance(path, (str, os.PathLike)) and is_local(path)
        if not _bypass.active() and local:  # before the open truncates or re-reads it
            _note_clock(self, os.path.abspath(os.path.expanduser(os.fspath(path))))
        if _bypass.active() or mode != "w" or not local:
            original(self, path, *args, **kwargs)
            return
        from lacuna.exceptions import appends
        from lacuna.exceptions.pathlock import path_lock
        from lacuna.governor import current

        with path_lock(path):  # the truncation, in turn with other writers of the file
            replaced = appends.replacing(current(), os.fspath(path), None)
            original(self, path, *args, **kwargs)
        if replaced is not None:
            with _LOCK:
                _OPENED[self] = _Opened(replaced=replaced)

    return init


def closed(gov: Any, target: Any, *, saved: bool = True) -> None:
    """After ``target`` (a store) was closed: complete the records of what was written under an
    exception (what the file is now), and close those a ``mode="w"`` open replaced.

    ``saved=False``: the store saved nothing (:func:`discard`): the records made for the puts
    under an exception are closed (``file-discarded``: nothing was written under it there),
    and, when nothing is left at the path, those of the exceptions whose file its open
    truncated (``file-superseded``), so the sweep does not report as missing, every sweep, a
    file whose content the store's open destroyed."""
    from lacuna.exceptions import appends, files
    from lacuna.exceptions.pathlock import path_lock

    with _LOCK:
        opened = _OPENED.pop(target, None)
    if opened is None:
        return
    path = store_file(target) or (opened.replaced.path if opened.replaced else None)
    method = f"pandas.{type(target).__name__}"
    with path_lock(path) if path is not None else contextlib.nullcontext():
        if saved:
            for record in opened.records:
                files.written(gov, record)
        else:
            files.discarded(gov, opened.records, method=method)
        replaced = opened.replaced
        # the exceptions the store was written under hold the new file: theirs stay open
        mine = sorted({r.exception_id for r in opened.records} - {None}) if saved else []
        if replaced is not None and mine:
            replaced = dataclasses.replace(
                replaced,
                holders=tuple(h for h in replaced.holders if h.request.id not in mine),
            )
        appends.supersede(
            gov,
            replaced,
            exception_id=opened.exception_id or (mine[0] if mine else None),
            method=method,
            removed=not saved and path is not None and not os.path.lexists(path),
        )


def discard(gov: Any, target: Any) -> None:
    """Close ``target`` (an ``ExcelWriter`` into which every put was denied or failed, with no
    sheet) without saving it: pandas would fail on a workbook without sheets and leave the
    empty file its open made, which is removed. Then :func:`closed` with ``saved=False``."""
    from lacuna.exceptions.pathlock import path_lock

    path = os.fspath(target)
    target._handles.close()
    with path_lock(path) if path else contextlib.nullcontext():
        if path and os.path.isfile(path) and os.path.getsize(path) == 0:
            os.unlink(path)
        closed(gov, target, saved=False)


def opened_under(gov: Any, target: Any, exception_id: str | None) -> bool:
    """Whether a put under ``exception_id`` into ``target`` adds to the file this process
    opened under it, with ``server:`` (an ``HDFStore``): its open checked the append already
    (:func:`wrap_hdf_open`), and the server records the file at the first put, under the
    decision that allowed it, so until then no record of it can answer for it."""
    if not exception_id or not isinstance(target, pd.HDFStore) or not getattr(
            gov.exceptions, "remote", False):
        return False
    with _LOCK:
        opened = _OPENED.get(target)
    return opened is not None and opened.exception_id == exception_id


def keeps_file(target: Any) -> bool:
    """Whether closing ``target`` must not re-save its file: an ``ExcelWriter`` in append mode
    into which no governed put was made (every one refused or denied), on a file written under
    an exception (re-saving it would change the file the sweep's record names)."""
    with _LOCK:
        opened = _OPENED.get(target)
    if (opened is not None and opened.wrote) or not excel_appends(target):
        return False
    path = store_file(target)
    if path is None:
        return False
    from lacuna.exceptions import appends
    from lacuna.governor import current

    return bool(appends.holders(current(), path))


__all__ = [
    "closed",
    "discard",
    "excel_appends",
    "keeps_file",
    "opened_clock",
    "opened_under",
    "put_done",
    "record_put",
    "store_exception",
    "store_file",
    "wrap_excel_open",
    "wrap_hdf_init",
    "wrap_hdf_open",
]
