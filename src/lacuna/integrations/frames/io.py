"""Reads and writes of polars, pyarrow and DuckDB objects: the same boundary as pandas'.

:func:`govern_read` classifies what a reader loaded (sidecar, Parquet metadata, the lineage
store, names and sampled values), audits the read and returns the state to attach;
:func:`govern_write` decides an export before anything is written (a denial raises
``GovernanceViolation`` with the usual message and runs nothing), records its lineage, and
writes the sidecar of an allowed local file. Both hand pandas frames to the governor, which is
where classification lives; nothing here applies a rule itself.

Governed storage (``lacuna.storage``, encryption at rest) goes through here too: a write into a
governed root is sealed (:func:`govern_write` hands ``run`` a sealing stream or a private
scratch path, :func:`lacuna.storage.frames.sealed_write`), and a read of a sealed file is
decided, audited and decrypted before the library sees it (:func:`read_source`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import pandas as pd

from lacuna import _bypass
from lacuna.classify.header import frame_names, read_header, unnamed
from lacuna.integrations.pandas._frames import (
    code_location,
    display_name,
    user_frame,
    variable_name,
)
from lacuna.lineage import clock
from lacuna.lineage.frames import read_origins, with_labels
from lacuna.lineage.recording import Produced, column_edges, inputs_of
from lacuna.lineage.records import DatasetRef
from lacuna.lineage.sidecar import (
    PARQUET_KEY,
    embedded_declaration,
    is_local,
    write_label,
)
from lacuna.lineage.state import ATTRS_KEY, DataState, LineageNode
from lacuna.model import Action, Classification, DestinationType, Source
from lacuna.storage import frames as sealed_frames

_SIDECAR_TYPES = (DestinationType.FILE, DestinationType.GOVERNED_STORAGE)
T = TypeVar("T")


def dataset_ref(target: Any) -> DatasetRef | None:
    if not isinstance(target, (str, os.PathLike)) or not os.fspath(target).strip():
        return None
    try:
        return DatasetRef.of(target)
    except ValueError:
        return None


def local_path(target: Any) -> str | None:
    """``target`` as a local file path (``~`` expanded, as polars, pyarrow and DuckDB expand
    it; a ``file://`` URL's path), or None (another URL, a buffer, a list of files)."""
    target = sealed_frames.file_url_path(target) or target
    if isinstance(target, (str, os.PathLike)) and is_local(target):
        return os.path.expanduser(os.fspath(target))
    return None


def metadata_with(declaration: dict[str, Any] | None, meta: Any = None) -> dict[bytes, bytes]:
    """Key-value metadata carrying ``declaration`` (other entries of ``meta`` kept)."""
    out = {bytes(k): bytes(v) for k, v in (meta or {}).items()}
    if declaration is None:
        out.pop(PARQUET_KEY, None)
        return out
    attrs: dict[str, Any] = {}
    if PARQUET_KEY in out:
        try:
            attrs = dict(json.loads(out[PARQUET_KEY]))
        except ValueError:
            attrs = {}
    attrs[ATTRS_KEY] = declaration
    out[PARQUET_KEY] = json.dumps(attrs).encode()
    return out


def govern_read(
    *,
    method: str,
    target: Any,
    frame: pd.DataFrame,
    rows: int | None = None,
    embedded: dict[str, Any] | None = None,
    how: str | None = None,
    decided: Classification | None = None,
) -> DataState:
    """Classify and audit a read of ``target`` whose content (or a sample of it) is ``frame``.

    Args:
        method: e.g. ``"polars.read_csv"`` (audited as the operation's method).
        target: the path or URL read (a buffer: named by its type).
        frame: the data as pandas: all of it for an eager read, a sample for a lazy scan.
        rows: the row count when ``frame`` is a sample (an embedded declaration binds to it).
        embedded: a declaration found inside the file (Parquet metadata).
        how: the reader and its arguments, for the classification cache (eager reads only).
        decided: the classification a sealed file's read was already decided and audited on
            (:func:`read_source`); decided again only when the values show more, and what
            is read never carries less (:func:`not_below_decided`).
    """
    from lacuna.governor import current

    gov = current()
    path = local_path(target)
    label = display_name(target)
    if rows is not None and rows != len(frame):
        how = None  # a sample: not the file's content, never cached as the file's
    with _bypass.bypass():
        classification, upstream, run_id, raised, seen = gov.classify_read_raised(
            path, frame, embedded=embedded, how=how)
    classification = not_below_decided(classification, decided, label)
    op = gov.operation(Action.READ, classification,
                       sources=[Source(name=label, classification=classification)],
                       method=method, code_location=code_location(user_frame()))
    if not _covered(classification, decided):
        gov.govern(op)
    parents = gov.read_parents(path, run_id, upstream)
    ref = dataset_ref(path if path is not None else target)
    node = LineageNode(name=label, operation=method.rsplit(".", 1)[-1], parents=parents,
                       ref=ref, classification=classification, raised=raised,
                       first_seen=seen)
    with _bypass.bypass():  # the labels that are values: records name them by position
        names = frame_names(frame, read_header(frame, gov.config.classification))
    # the state the frame carries is keyed by its labels, as a pandas read's is; the records
    # (the read's, the write's) name a label that is a value by its position
    return DataState(classification=unnamed(classification, names), lineage=node,
                     origins=read_origins(ref, [str(c) for c in frame.columns], names))


def not_below_decided(found: Classification, decided: Classification | None,
                      where: str) -> Classification:
    """``found`` (what a sealed file's values, sidecar and the lineage store say) raised to the
    tier and tags its read was decided on (``decided``; None: not a sealed file's read). They
    agree when the file has a trusted sidecar. Without one the read is decided PROPRIETARY
    with the tags sealed into its header (fail closed), and the data read must carry that
    too: an HIV status renamed ``a`` (0s and 1s), read from a sealed file whose owner had
    deleted its sidecar and pointed the audit database at a new one, was PUBLIC and written
    to an unmanaged folder."""
    if decided is None:
        return found
    more = tuple(t for t in decided.tags if t not in found.tags)
    if decided.tier <= found.tier and not more:
        return found
    top = max(found.tier, decided.tier)
    return replace(
        found, tier=top, floor=max(found.floor, top), tags=(*found.tags, *more),
        table_tags=(*found.table_tags, *more),
        reasoning=(*found.reasoning, f"{top}: the read of {where} was decided on "
                   f"{decided.tier}" + (f" ({', '.join(decided.tags)})" if decided.tags
                                        else "") + ", which what it read carries"))


def _covered(found: Classification, decided: Classification | None) -> bool:
    """Whether a decision already taken on a sealed file's declaration covers the values."""
    return (decided is not None and found.tier <= decided.tier
            and set(found.tags) <= set(decided.tags))


def read_source(target: Any, read: Callable[[Any], T], *, method: str,
                materialise: Callable[[T], T] | None = None,
                ) -> tuple[T, Classification | None]:
    """``read(source)``: ``source`` is ``target`` unless it is a sealed governed file (or a
    folder of them), then the decrypted stream or a private plaintext path
    (:func:`lacuna.storage.frames.read_sealed`: decided and audited first; a lazy result is
    ``materialise``-d before the plaintext is removed). Returns the result and the
    classification the sealed read was decided on (for :func:`govern_read`'s ``decided``)."""
    result, info = sealed_frames.read_sealed(
        target, read, method=method, materialise=materialise,
        code_location=code_location(user_frame()))
    return result, (info.decided if info is not None else None)


# ``run(declaration)`` performs the write to the target the hook was given; when the target is
# sealed governed storage it is called ``run(declaration, where)`` and must write to ``where``
# (a binary stream or a private scratch path) instead.
Run = Callable[..., Any]


def govern_write(
    obj: Any,
    state: DataState,
    target: Any,
    run: Run,
    *,
    method: str,
    columns: Sequence[str],
    rows: int | None = None,
    embeds: bool = False,
    exception_id: str | None = None,
    purpose: str | None = None,
    stream: bool = True,
    mkdir: bool = False,
    append: bool = False,
    folder: bool = False,
) -> Any:
    """Decide and, when allowed, perform a write of ``obj`` (state ``state``) to ``target``.
    ``stream=False``: this call writes a folder (polars' ``partition_by``) or needs the file's
    real name (polars checks a compressed file's extension), never a stream. ``mkdir``: the
    writer creates missing parent folders (polars' ``mkdir=True``), so does a sealed write.
    ``append``: the write adds to what is at ``target`` (a Delta table, whose every write keeps
    the files it holds): checked against the files written under exceptions before anything
    is written (:func:`lacuna.exceptions.appends.check_append`); any other write to a local
    file replaces it in full (:func:`lacuna.exceptions.appends.supersede`). ``folder``: the
    write makes a folder, recorded as one under ``exception_id``.

    ``run(declaration)`` performs the write; ``declaration`` is the signed declaration to embed
    in the file's metadata when ``embeds`` (Parquet), else None. Under a sealed governed root
    ``run(declaration, where)`` writes to ``where`` instead (see :data:`Run`), and the file (or
    the folder's files) is sealed. Returns what ``run`` returns.
    Raises ``GovernanceViolation`` when denied (``run`` never called), ``StorageError`` when the
    write cannot be sealed (nothing written).
    """
    from lacuna.governor import current

    gov = current()
    database = sealed_frames.database_file(target) if isinstance(target, str) else None
    if database is not None:  # write_database into a SQLite/DuckDB file there: refused
        sealed_frames.refuse_database(method, database, gov)
    labels = [str(c) for c in columns]  # what the file's header holds: its shape's names
    # the column names are written as the header: read as values, and a name that is a value
    # is named by its position in every record (lacuna.classify.header)
    state = with_labels(state, labels, gov.config.classification)
    name = display_name(target)
    frame_ = user_frame()
    op = gov.operation(
        Action.EXPORT, state.classification,
        sources=[Source(name=r, classification=state.classification)
                 for r in state.lineage.roots()],
        destination=gov.destination(name), method=method,
        code_location=code_location(frame_), variable=variable_name(obj, frame_),
        purpose=purpose, exception_id=exception_id,
    )
    sealed_frames.refuse_unnamed_file(method, name, gov)  # a file object, path unknown
    path = local_path(target)
    keeps_label = (path is not None and op.destination is not None
                   and op.destination.type in _SIDECAR_TYPES)
    sealed_root = (op.destination is not None
                   and op.destination.type is DestinationType.GOVERNED_STORAGE
                   and gov.config.storage.encrypt)
    seal = path is not None and sealed_root
    if sealed_root:  # sealed at rest, or not written at all: never a plaintext fallback
        from lacuna.integrations.pandas._patch import no_plaintext

        no_plaintext()
        if path is None:  # an open file object there: its bytes would land in plaintext
            from lacuna.storage import refuse_unsealable

            refuse_unsealable(method, name)  # raises StorageError, as pandas' writers do
        if method in sealed_frames.UNSEALABLE_WRITERS:
            sealed_frames.refuse(method, name)  # raises StorageError: nothing written
    out = dataset_ref(name)
    written = tuple(state.record_names.get(c, c) for c in labels)
    sources = state.lineage.roots()
    produced = Produced(
        operation="export", inputs=inputs_of(state.lineage, state.classification),
        outputs=(out,) if out is not None else (), classification=state.classification,
        columns=written, column_edges=column_edges(state.origins, written, out),
        fingerprint=path is not None,
    )

    def go() -> Any:
        if path is None:
            return write()
        from lacuna.exceptions.pathlock import path_lock

        with path_lock(path):  # what the sweep answers for is decided and recorded in turn
            return write()

    def write() -> Any:
        declaration = None
        # when its data was first seen: read before the file is replaced (its sidecar and
        # sealed header say it only until then)
        seen = (clock.of_write(path, state.lineage, state.classification.tier, gov.config)
                if path is not None and (keeps_label or seal) else None)
        if embeds:
            declaration = embedded_declaration(
                state.classification, columns=labels, rows=rows or 0,
                values=value_digests(obj, rows), sources=sources, written_by=op.user.id,
                run_id=produced.run_id, first_seen=seen)
        from lacuna.exceptions import appends

        replaced = None
        if path is not None and append:  # the sweep must still answer for it: see appends.py
            _check_append(gov, path, exception_id, method)
        elif path is not None:  # replaced in full: the exceptions that held it, closed after
            replaced = appends.replacing(gov, path, exception_id)
        record = None
        if exception_id:  # before writing: the sweep deletes it on expiry
            record = _remember(gov, exception_id, path, name, method, directory=folder)
        with _bypass.bypass():
            if seal and path is not None:
                result = sealed_frames.sealed_write(
                    path, lambda where: run(declaration, where), method=method,
                    classification=state.classification, gov=gov, stream=stream, mkdir=mkdir,
                    first_seen=seen)
            else:
                result = run(declaration)
        if record is not None:  # what was written: the sweep deletes that file, no other
            from lacuna.exceptions import files

            files.written(gov, record)
        appends.supersede(gov, replaced, exception_id=exception_id, method=method)
        if keeps_label and path is not None and os.path.exists(path):
            write_label(path, [(state.classification, sources, op.user.id, produced.run_id)],
                        gov.config.classification, first_seen=seen)
        return result

    return gov.execute(op, go, produced=produced)


def _check_append(gov: Any, path: str, exception_id: str | None, method: str) -> None:
    """:func:`lacuna.exceptions.appends.check_append`; a refusal is the answer to the user's
    call, not a failure of Lacuna (it stands in warn mode)."""
    from lacuna.exceptions import appends
    from lacuna.integrations.pandas._patch import users_error

    try:
        appends.check_append(gov, path, exception_id, method=method)
    except appends.AppendRefused as exc:
        users_error(exc)
        raise


def _remember(gov: Any, exception_id: str, path: str | None, name: str, method: str, *,
              directory: bool = False) -> Any:
    """Record the file as written under ``exception_id`` (as the pandas writers do), so the
    sweep deletes it when the exception ends; a refusal (not a local file, or a symbolic link
    at the path) is the answer to the user's call, not a failure of Lacuna. The record, for
    ``files.written``."""
    from lacuna.exceptions import files
    from lacuna.integrations.pandas._patch import users_error

    try:
        if path is None:
            raise files.refuse_unsweepable(exception_id, name, method)
        return files.remember(gov, exception_id, path, encrypted=False, directory=directory)
    except files.ExceptionNotAuthorized as exc:
        users_error(exc)
        raise


def value_digests(obj: Any, rows: int | None) -> dict[str, str] | None:
    """The digests of the values an embedded declaration is made for
    (:func:`lacuna.lineage.content.digests`), computed on ``obj`` as pandas, which is how a
    read sees it: a pandas frame, or an Arrow table or batch or a Polars frame (``to_pandas``).
    None when Lacuna does not hold the rows written (a lazy frame, a dataset, a stream): the
    declaration is then never trusted in the file."""
    from lacuna.lineage.content import digests

    if isinstance(obj, pd.DataFrame):
        frame: Any = obj
    elif rows is not None and callable(getattr(obj, "to_pandas", None)) and not callable(
            getattr(obj, "collect", None)):  # a LazyFrame's to_pandas does not exist; be sure
        try:
            with _bypass.bypass():
                frame = obj.to_pandas()
        except Exception:  # rows pandas cannot hold (Arrow refuses some dictionaries): no
            return None    # digests, so the declaration is never trusted
    else:
        return None
    if not isinstance(frame, pd.DataFrame) or len(frame) != rows:
        return None
    with _bypass.bypass():
        return digests(frame)


def pop_governance_kwargs(kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
    """``exception_id`` and ``purpose``, which governed writers accept on top of the library."""
    return kwargs.pop("exception_id", None), kwargs.pop("purpose", None)
