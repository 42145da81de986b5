"""Reads and writes: the I/O boundary, where every call becomes a decided, audited Operation.

Reads classify what they load (path, columns, sampled values, sidecar) and attach it to the
frame. Writes are exports: the policy decides before a byte is written; a denied write raises
``GovernanceViolation`` and creates nothing. An allowed local write also writes a sidecar, so the
classification travels with the file.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import inspect
import logging
import os
import re
import shutil
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from lacuna import _bypass, storage
from lacuna.classify.header import frame_names, read_header, unnamed
from lacuna.errors import ComponentImportError, ConfigError, GovernanceViolation, StorageError
from lacuna.integrations.frames.io import (
    dataset_ref,
    not_below_decided,
    read_source,
    value_digests,
)
from lacuna.integrations.pandas import _stores
from lacuna.integrations.pandas._chunks import ChunkReader, is_chunked, never_weaker
from lacuna.integrations.pandas._frames import (
    code_location,
    display_name,
    file_path,
    stream_name,
    user_frame,
    variable_name,
)
from lacuna.integrations.pandas._writers import Writer
from lacuna.lineage.frames import (
    appended,
    attach,
    effective_state,
    labels,
    read_origins,
    with_header,
    with_index,
)
from lacuna.lineage.recording import Produced, column_edges, file_completed, inputs_of
from lacuna.lineage.sidecar import (
    embedded_declaration,
    is_local,
    write_label,
)
from lacuna.lineage.state import ATTRS_KEY, DataState, LineageNode, get_state, set_state
from lacuna.model import Action, Classification, DestinationType, FrozenDict, Source, Tier
from lacuna.proxy.fingerprints import record_read
from lacuna.redact import redact_url

# reader name -> keyword of its path argument
READERS = {
    "read_csv": "filepath_or_buffer",
    "read_table": "filepath_or_buffer",
    "read_fwf": "filepath_or_buffer",
    "read_parquet": "path",
    "read_json": "path_or_buf",
    "read_excel": "io",
    "read_feather": "path",
    "read_orc": "path",
    "read_stata": "filepath_or_buffer",
    "read_sas": "filepath_or_buffer",
    "read_xml": "path_or_buffer",
    "read_html": "io",
    "read_pickle": "filepath_or_buffer",
    "read_hdf": "path_or_buf",
    "read_sql": "sql",
    "read_sql_table": "table_name",
    "read_sql_query": "sql",
}
SQL_READERS = frozenset({"read_sql", "read_sql_table", "read_sql_query"})

log = logging.getLogger("lacuna.integrations.pandas")
_SIDECAR_TYPES = (DestinationType.FILE, DestinationType.GOVERNED_STORAGE)


def _enveloped(target: str | os.PathLike[str]) -> bool:
    """Whether ``target`` is a file written with ``encrypt=True`` (:mod:`lacuna.crypto`'s
    envelope, which a reader cannot read as it is: only ``lacuna decrypt`` opens it)."""
    from lacuna.crypto import is_encrypted

    path = os.path.expanduser(os.fspath(target))
    return os.path.isfile(path) and is_encrypted(path)


def _enveloped_error(name: str, target: str | os.PathLike[str]) -> StorageError:
    path = os.fspath(target)
    return StorageError(  # passes through the hooks as it is, as a sealed file's errors do
        f"pd.{name}({path!r}): the file was written with encrypt=True (Lacuna's encrypted "
        "envelope): pandas cannot read it as it is, and it read it as bytes before. Decrypt a "
        f"copy first, which is decided and audited (its writer or a steward): lacuna decrypt "
        f"{path} -o <copy>, or lacuna.decrypt(path, output), then read the copy "
        "(docs/exceptions.md).")


def wrap_reader(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    keyword = READERS[name]

    @functools.wraps(original)
    def reader(*args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(*args, **kwargs)
        from lacuna.governor import current

        statement = None  # pd.read_sql of a statement that is not a plain read
        if name in SQL_READERS:
            target: Any = sql_target(args, kwargs, name_key=keyword)
            statement = _sql_statement(current(), args, kwargs, keyword, name)
            if statement is None:  # the hook's run_governed checks dbt's rules otherwise
                _restrict_sql(current(), args, kwargs, keyword, name)
        else:
            target = args[0] if args else kwargs.get(keyword)
            local = _file_url_path(target, kwargs)
            if local is not None and storage.is_sealed(local):  # file:///x.csv: /x.csv
                target = local
                if args:
                    args = (local, *args[1:])
                else:
                    kwargs[keyword] = local
            target = getattr(target, "filename", target)  # an HDFStore: its file
        decided = None  # a sealed file: the classification its read was decided on
        closing = None  # a sealed file read in chunks: its decrypted stream, open until then
        sql = None
        if statement is not None:  # decided as SQL before it runs; what it hands back, read
            result, sql = _run_sql(args, kwargs, keyword, original)
            decided = sql.classification if sql is not None else None
        elif (isinstance(target, (str, os.PathLike)) and is_local(target)
                and storage.is_sealed(os.path.expanduser(os.fspath(target)))):
            result, decided, closing = _read_sealed(name, original, target, args, kwargs)
        elif isinstance(target, (str, os.PathLike)) and is_local(target) and _enveloped(target):
            raise _enveloped_error(name, target)
        elif _sealed_folder(target):  # pd.read_parquet(folder) of sealed files
            result, decided = _read_sealed_folder(name, original, target, args, kwargs)
        else:
            if statement is None and name not in SQL_READERS:  # an open sealed file: refused
                from lacuna.storage.frames import refuse_sealed_bytes

                refuse_sealed_bytes(target, f"pandas.{name}")
            with _bypass.bypass():
                result = original(*args, **kwargs)
        label = display_name(target)
        how = f"{name}{args[1:]!r}{sorted(kwargs.items(), key=lambda kv: kv[0])!r}"
        if isinstance(result, dict):  # read_excel(sheet_name=None): one frame per sheet
            for sheet, frame in result.items():
                _govern_read(current(), name, f"{label}#{sheet}", target, frame, f"{how}#{sheet}",
                             decided=decided)
        elif isinstance(result, list):  # read_html: one frame per table
            for i, frame in enumerate(result):
                _govern_read(current(), name, f"{label}#{i}", target, frame, f"{how}#{i}",
                             decided=decided)
        elif isinstance(result, (pd.DataFrame, pd.Series)):
            if name in SQL_READERS and statement is None:
                sql = _sql_read(args, kwargs, keyword)
            _govern_read(current(), name, label, target, result, how, sql=sql, decided=decided)
        elif is_chunked(result):  # chunksize= / iterator=True: each frame governed (._chunks)
            if name in SQL_READERS and statement is None:
                sql = _sql_read(args, kwargs, keyword)
            chunks = _Chunks(current(), name, label, target, how, sql=sql, decided=decided)
            return ChunkReader(result, chunks, closing=closing)
        return result

    return reader


class _Chunks:
    """A chunked read's governance: each frame through :func:`_govern_read`, the source's
    classification and lineage node carried from one to the next (:mod:`._chunks`)."""

    def __init__(self, gov: Any, reader: str, label: str, target: Any, how: str, *,
                 sql: Any, decided: Classification | None) -> None:
        self.gov, self.reader, self.label, self.target, self.how = gov, reader, label, target, how
        self.sql, self.decided = sql, decided
        self.read: Read | None = None
        self.count = 0

    def __call__(self, frame: Any) -> None:
        read = _govern_read(self.gov, self.reader, self.label, self.target, frame,
                            f"{self.how}#chunk-{self.count}", sql=self.sql,
                            decided=self.decided, before=self.read)
        if read is not None:
            self.read, self.decided = read, read.decided
            self.count += 1


def _read_sealed(name: str, original: Callable[..., Any], target: Any,
                 args: tuple[Any, ...], kwargs: dict[str, Any],
                 ) -> tuple[Any, Classification, Any]:
    """A sealed governed file: decided and audited first (storage.open_governed), then pandas
    reads the decrypted stream in place of the path. Returns the result, the classification
    the read was decided on, and, for a chunked read, the stream (open: pandas reads it as the
    chunks are asked for; the reader closes it), else None (closed)."""
    from lacuna.governor import current

    handle = storage.open_governed(
        os.path.expanduser(os.fspath(target)), method=f"pandas.{name}",
        code_location=code_location(user_frame()), gov=current())
    decided: Classification = handle.raw.decided_on  # type: ignore[attr-defined]
    kwargs = dict(kwargs)
    _infer_compression(getattr(pd, name), name, args or (handle,), kwargs, target)
    try:
        result = _read_from(name, original, handle, args, kwargs)
    except BaseException:
        handle.close()
        raise
    if is_chunked(result):
        return result, decided, handle
    handle.close()
    return result, decided, None


def _sealed_folder(target: Any) -> bool:
    """A local folder (or glob) holding sealed governed files: pandas would read ciphertext."""
    from lacuna.storage import frames as sealed_frames

    return (isinstance(target, (str, os.PathLike)) and is_local(target)
            and not os.path.isfile(os.path.expanduser(os.fspath(target)))
            and bool(sealed_frames.sealed_files(target)))


def _read_sealed_folder(name: str, original: Callable[..., Any], target: Any,
                        args: tuple[Any, ...], kwargs: dict[str, Any],
                        ) -> tuple[Any, Classification | None]:
    """A folder of sealed files (``pd.read_parquet(folder)``): each file decided and audited
    first, then pandas reads a private plaintext copy of the folder, as pyarrow's and polars'
    folder readers do (:func:`lacuna.storage.frames.read_sealed`)."""

    return read_source(target, lambda source: _read_from(name, original, source, args, kwargs),
                       method=f"pandas.{name}")


def _read_from(name: str, original: Callable[..., Any], source: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """pandas' reader called as the user called it, ``source`` (a decrypted stream or a
    private plaintext copy) in place of the path it was given."""
    with _bypass.bypass():
        if args:
            return original(source, *args[1:], **kwargs)
        return original(**{**kwargs, READERS[name]: source})


def _restrict_sql(gov: Any, args: tuple[Any, ...], kwargs: dict[str, Any], keyword: str,
                  name: str) -> None:
    """A dbt project's restrict rules on the models the query reads (before it runs)."""
    if not gov.config.dbt:
        return
    from lacuna.sql.restrict import check_read_sql

    query = args[0] if args else kwargs.get(keyword)
    con = args[1] if len(args) > 1 else kwargs.get("con")
    try:
        with _bypass.bypass():
            check_read_sql(gov, query, con, f"pandas.{name}")
    except (GovernanceViolation, ComponentImportError):
        raise  # a denial; the SQL analysis not importing: refused in every mode (the guard)
    except Exception as exc:  # cannot tell what it reads: fail closed (enforce denies)
        gov.internal_error(exc, action=Action.READ, method=f"pandas.{name}")


def _sql_statement(gov: Any, args: tuple[Any, ...], kwargs: dict[str, Any], keyword: str,
                   name: str) -> Any:
    """The statement ``pd.read_sql`` would run when it is not a plain read (a write, an export,
    what Lacuna cannot read, a PostgreSQL query calling functions): it is then decided as the
    SQL governance decides it (:func:`lacuna.sql.run_read_sql`) before it runs. None for a
    read: pandas' read decides it, as for any file."""
    from lacuna import sql as governed_sql

    query = args[0] if args else kwargs.get(keyword)
    con = args[1] if len(args) > 1 else kwargs.get("con")
    try:
        with _bypass.bypass():
            return governed_sql.read_sql_statement(con, query)
    except ComponentImportError:
        raise  # the SQL analysis does not import: refused in every mode (the guard)
    except Exception as exc:  # cannot tell what it runs: fail closed (enforce denies)
        gov.internal_error(exc, action=Action.READ, method=f"pandas.{name}")
        return None


def _run_sql(args: tuple[Any, ...], kwargs: dict[str, Any], keyword: str,
             original: Callable[..., Any]) -> tuple[Any, Any]:
    """pandas' call, its statement decided by the SQL governance first; what it hands back."""
    from lacuna import sql as governed_sql

    query = args[0] if args else kwargs.get(keyword)  # text or a SQLAlchemy construct
    con = args[1] if len(args) > 1 else kwargs.get("con")
    params = args[4] if len(args) > 4 else kwargs.get("params")
    return governed_sql.run_read_sql(con, query, params, lambda: original(*args, **kwargs))


def _sql_read(args: tuple[Any, ...], kwargs: dict[str, Any], keyword: str) -> Any:
    """What ``pd.read_sql`` reads per column, from the SQL's lineage (lacuna.sql); None when
    Lacuna cannot tell (the values still decide)."""
    query = args[0] if args else kwargs.get(keyword)
    con = args[1] if len(args) > 1 else kwargs.get("con")
    if con is None or isinstance(con, str):
        return None
    from lacuna import sql as governed_sql

    params = args[4] if len(args) > 4 else kwargs.get("params")
    try:
        with _bypass.bypass():
            return governed_sql.query_classification(con, query, params)
    except Exception as exc:  # the values still classify the frame; say why lineage did not
        import logging

        logging.getLogger(__name__).warning("no SQL lineage for pd.read_sql: %s", exc)
        return None


@dataclass(frozen=True, slots=True)
class Read:
    """What a governed read attached to its frame, and the classification it was decided on
    (a chunked read carries both from one chunk to the next, :mod:`._chunks`)."""

    classification: Classification
    node: LineageNode
    decided: Classification | None


def _govern_read(gov: Any, reader: str, label: str, target: Any, data: Any,
                 how: str | None = None, *, sql: Any = None,
                 decided: Classification | None = None, before: Read | None = None,
                 ) -> Read | None:
    """Classify, decide, audit and attach one frame a reader returned. ``before``: the same
    source's earlier chunks (a chunked read): the frame is never classified below them, is
    decided again only when it shows more than was decided, and gets the same lineage node."""
    if not isinstance(data, (pd.DataFrame, pd.Series)):
        return None
    local = (
        isinstance(target, (str, os.PathLike)) and is_local(target) and reader not in SQL_READERS
    )
    path = os.fspath(target) if local else None
    embedded = data.attrs.pop(ATTRS_KEY, None)  # Parquet metadata, or a pickled state
    # a frame pickled with its state (pickle.dumps, then read_pickle): never trusted, so it
    # only restricts (below); it was ignored, so a salary renamed x came back PUBLIC
    pickled = embedded if isinstance(embedded, DataState) else None
    if not isinstance(embedded, dict):
        embedded = None
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    with _bypass.bypass():
        classification, upstream, run_id, raised, seen = gov.classify_read_raised(
            path, frame, embedded=embedded, how=how)
    if sql is not None:  # the query's column lineage: a renamed column keeps its class
        from lacuna.lineage.sidecar import restrict

        declared = replace(sql.classification, tier=sql.classification.floor)  # by column
        classification, _ = restrict(declared, classification,
                                     gov.config.classification, where="the SQL's lineage")
        upstream = tuple(str(s) for s in sql.sources)
    if pickled is not None:
        from lacuna.lineage.sidecar import restrict

        classification, _ = restrict(pickled.classification, classification,
                                     gov.config.classification, where="the pickled state")
    with _bypass.bypass():  # the labels that are values: records name them by position
        names = frame_names(frame, read_header(frame, gov.config.classification))
    if before is not None:  # a later chunk: never below what the earlier ones showed
        classification = never_weaker(gov, before.classification, before.node, classification,
                                      [names.get(str(c), str(c)) for c in frame.columns])
    elif sql is None:  # a sealed file's frame: never below what its read was decided on
        classification = not_below_decided(classification, decided, label)
    frame_ = user_frame()
    op = gov.operation(
        Action.READ,
        classification,
        sources=[Source(name=label, classification=classification)],
        method=f"pandas.{reader}",
        code_location=code_location(frame_),
    )
    if not _covered(classification, decided):  # a sealed file's read was decided already
        gov.govern(op)
        decided = classification
    with _bypass.bypass():  # what the egress proxy recognises later (lacuna.proxy.fingerprints)
        record_read(gov.config, label, frame.set_axis(
            [names.get(str(c), c) for c in frame.columns], axis=1) if names else frame,
            classification)
    ref = dataset_ref(path if local else target)
    if before is not None:  # the source's one lineage node, its classification kept current
        node = before.node
        if node.classification != classification:  # what a claim raised: no longer known
            node = replace(node, classification=classification, raised=None)
    else:
        node = LineageNode(name=label, operation=reader, parents=_parents(
            gov, path, run_id, upstream, sql), ref=ref, classification=classification,
            raised=raised if sql is None else None, first_seen=seen)
    attach(data, unnamed(classification, names), node,
           origins=read_origins(ref, labels(data), names))
    if reader not in SQL_READERS and _in_memory(target):
        _matched(reader, data)
    return Read(classification=classification, node=node, decided=decided)


def _in_memory(target: Any) -> bool:
    """A reader's source that is no file: a buffer (``io.BytesIO``, ``io.StringIO``), bytes."""
    return (target is not None and not isinstance(target, (str, os.PathLike, pd.HDFStore))
            and file_path(target) is None)


def _arrow(data: pd.DataFrame | pd.Series) -> Any:
    """``data`` as an Arrow table, its index levels as columns (None: Arrow cannot hold it)."""
    import pyarrow as pa

    frame = _without_state(data, None)  # pyarrow would warn that it cannot keep the state
    try:
        with _bypass.bypass():
            if isinstance(frame, pd.Series):
                frame = frame.to_frame()
            return pa.Table.from_pandas(frame, preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError):  # mixed objects: classified by values
        return None


def _indexed(data: Any) -> None:
    """A governed frame written into memory (``to_csv()``, ``to_parquet()`` returning bytes, a
    writer given an ``io.BytesIO``): not an export, but its columns are indexed by what they
    hold, as Arrow's and polars' are (:func:`lacuna.integrations.pyarrow._arrays.mark_table`),
    so a frame read back from that memory holds what they held (:func:`_matched`): a salary
    renamed ``x`` and read back from ``to_parquet()``'s bytes was PUBLIC."""
    if not isinstance(data, (pd.DataFrame, pd.Series)):
        return
    from lacuna.governor import current

    state = effective_state(data, current().config.classification)
    if state.classification.tier is Tier.PUBLIC:
        return
    table = _arrow(data)
    if table is not None:
        from lacuna.integrations.pyarrow import _arrays

        _arrays.mark_table(table, state, how="merge")


def _matched(reader: str, data: pd.DataFrame | pd.Series) -> None:
    """A frame read from memory: each column (or named index level) that holds, by what it
    holds, values of a governed frame written into memory before (:func:`_indexed`) holds them
    too, added to what the read found (never lower)."""
    from lacuna.integrations.pyarrow import _arrays

    read = get_state(data)
    if read is None or not _arrays.recording():
        return
    table = _arrow(data)
    names = labels(data)
    found = [(c, s) for c, s in _arrays.placed(table) if c in names] if table is not None else []
    if not found:
        return
    from lacuna.integrations.frames.placing import Placed, state_with_placed
    from lacuna.integrations.frames.placing import Source as Held

    placed = [Placed(c, (Held(read, (c,)), *sources)) for c, sources in found]  # read's kept
    set_state(data, state_with_placed(f"pandas.{reader}", read, names, placed,
                                      derive=f"pandas.{reader}", label="bytes in memory"))


def _parents(gov: Any, path: str | None, run_id: str | None, upstream: tuple[str, ...],
             sql: Any) -> tuple[LineageNode, ...]:
    """Where a read's data came from: a file's (:meth:`Governor.read_parents`: its upstream
    lineage from the store, else the sidecar's sources), a query's: the tables its lineage
    reads."""
    if sql is not None:
        return tuple(LineageNode(name=str(s), operation="source", ref=s) for s in sql.sources)
    parents: tuple[LineageNode, ...] = gov.read_parents(path, run_id, upstream)
    return parents


def _covered(found: Classification, decided: Classification | None) -> bool:
    """Whether a decision already taken (on a sealed file's declared classification) covers
    what the values show: no higher tier and no new tag. Otherwise the read is decided again."""
    return (decided is not None and found.tier <= decided.tier
            and set(found.tags) <= set(decided.tags))


def sql_target(
    args: tuple[Any, ...], kwargs: dict[str, Any], *, name_key: str = "name"
) -> str | None:
    """``to_sql(name, con)`` as one target: ``<database URL>#<table>`` (reads: the table or
    query as the fragment), the table by its canonical name (:func:`lacuna.sql.tables.canonical`:
    ``Kids`` is ``kids``; on PostgreSQL, which keeps a quoted name's case, as given), so a
    statement that spells it otherwise finds its stored class."""
    name = args[0] if args else kwargs.get(name_key)
    con = args[1] if len(args) > 1 else kwargs.get("con")
    if con is None:
        return None
    if isinstance(con, str):
        url = con
    elif hasattr(con, "engine") or hasattr(con, "url"):  # SQLAlchemy Engine or Connection
        engine = getattr(con, "engine", con)
        url = redact_url(engine.url)
    elif (db := _postgres_dbapi(con)) is not None:  # psycopg2, psycopg: as an engine is named
        url = db.url
    else:  # a DBAPI connection, e.g. sqlite3: name the file when it can be found
        try:
            rows = con.execute("PRAGMA database_list").fetchall()
            file = next((r[2] for r in rows if r[1] == "main"), "") or ":memory:"
            url = f"sqlite:///{file}"
        except Exception:
            url = f"dbapi://{type(con).__module__}"
    if isinstance(name, str) and _TABLE.match(name):  # as governed SQL names the table
        from lacuna.sql.tables import canonical

        # PostgreSQL: to_sql quotes its name, so "Kids" is a table of its own, not kids
        return f"{url}#{name if url.startswith('postgres') else canonical(url, name)}"
    if isinstance(name, str) and name.strip():  # a query: named by its hash, never its text
        return f"{url}#query-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return url


def _postgres_dbapi(con: Any) -> Any:
    """The :class:`lacuna.sql.catalog.Database` of a psycopg2 or psycopg connection, or None."""
    from lacuna.sql.catalog import dbapi_database

    if type(con).__module__.startswith("sqlite3"):
        return None
    db = dbapi_database(con)
    return db if db is not None and db.dialect == "postgres" else None


_TABLE = re.compile(r"^[\w.$]+$")


def write_target(spec: Writer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Where a writer writes: a path, a file object, a database table, the clipboard; ``None``
    when it returns the output in memory (no path, or an in-memory buffer)."""
    if spec.kind == "sql":
        return sql_target(args, kwargs)
    if spec.kind == "clipboard":
        return CLIPBOARD
    if spec.kind == "iceberg":
        table = args[0] if args else kwargs.get("table_identifier")
        catalog = args[1] if len(args) > 1 else kwargs.get("catalog_name")
        return f"iceberg://{catalog or 'default'}/{table}"
    target = args[spec.position] if len(args) > spec.position else kwargs.get(spec.keyword)
    named = _file_of(target)
    if isinstance(named, pd.ExcelWriter) and not os.fspath(named):  # into a file object
        # with no name (its __fspath__ is ''): it was decided as a destination '' (an internal
        # error, so pd.ExcelWriter(io.BytesIO()) failed); named as the object it writes into
        return stream_name(getattr(getattr(named, "_handles", None), "handle", None))
    if named is None or (not isinstance(named, (str, os.PathLike)) and file_path(named) is None):
        return stream_name(named)  # None: to a string or an in-memory buffer
    return target


def _file_of(target: Any) -> Any:
    """An HDFStore is named by its file; anything else by itself."""
    return target.filename if isinstance(target, pd.HDFStore) else target


CLIPBOARD = "clipboard://system"


def _data_of(obj: Any) -> pd.DataFrame | pd.Series:
    return obj.data if isinstance(obj, Styler) else obj


def _without_state(obj: Any, embed: dict[str, Any] | None) -> Any:
    """What pandas serialises: a shallow copy whose attrs lack Lacuna's state (pandas writes
    ``attrs`` into Parquet metadata and pickles), plus the signed declaration when the format
    carries it."""
    if not isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj
    if ATTRS_KEY not in obj.attrs and embed is None:
        return obj
    copy = obj.copy(deep=False)
    attrs = {k: v for k, v in obj.attrs.items() if k != ATTRS_KEY}
    if embed is not None:
        # read-only, and its own deep copy: pandas deep-copies ``attrs`` into every column it
        # hands out (pyarrow takes each column of the frame), and a declaration holds an entry
        # per column, so copying it made a wide frame's write quadratic (2,000 columns: minutes)
        attrs[ATTRS_KEY] = FrozenDict(embed)
    copy.attrs = attrs
    return copy


def _appends(spec: Writer, target: Any, kwargs: dict[str, Any]) -> bool:
    """Whether the write adds to what the file already holds (its old declaration stays)."""
    mode = str(kwargs.get("mode", "a" if spec.method == "to_hdf" else "w"))
    return "a" in mode or isinstance(target, (pd.ExcelWriter, pd.HDFStore))


def _appended_file(spec: Writer, target: Any, kwargs: dict[str, Any]) -> Any:
    """The local file an append adds to (a path, an ``HDFStore``'s file, an ``ExcelWriter``'s
    in append mode), or None when the write is no append or its file is not a local path (a
    buffer; an ``ExcelWriter`` in ``mode="w"``, which replaced the file when it was made)."""
    if spec.kind != "path" or not _appends(spec, target, kwargs):
        return None
    if isinstance(target, (pd.ExcelWriter, pd.HDFStore)):
        return (_stores.store_file(target)
                if not isinstance(target, pd.ExcelWriter) or _stores.excel_appends(target)
                else None)
    return target if isinstance(target, (str, os.PathLike)) and is_local(target) else None


def _no_plaintext(encrypt: bool, method: str) -> None:
    """``encrypt=True`` where Lacuna does not write the file itself: refuse, never plaintext."""
    if encrypt:
        msg = (f"{method}(encrypt=True) needs a local file path and Lacuna governing the call "
               "(lacuna.enable()); nothing was written rather than writing it unencrypted.")
        raise ConfigError(msg)


# Writers that pandas lets write to a ``file://`` URL (pyarrow opens it: the local file). The
# others fail on one (pandas opens a URL for reading only), and still do under Lacuna.
_FILE_URL_WRITERS = frozenset({"to_parquet"})


def _file_url_path(target: Any, kwargs: dict[str, Any]) -> str | None:
    """The local path a ``file://`` URL names, so that governed storage seals and reads it as
    that path; None for anything else, or when ``storage_options`` are given (pandas refuses
    those with a path)."""
    if kwargs.get("storage_options"):
        return None
    from lacuna.storage.frames import file_url_path

    return file_url_path(target)


# Writers and readers taking ``compression=`` ("infer": from the file name, which pandas does
# only for a path): a sealed file is written and read through a stream, so it is named for them.
_COMPRESSES = frozenset({
    "to_csv", "to_json", "to_pickle", "to_xml", "to_stata",
    "read_csv", "read_table", "read_fwf", "read_json", "read_pickle", "read_xml", "read_stata",
})


def _infer_compression(function: Callable[..., Any], method: str, args: tuple[Any, ...],
                       kwargs: dict[str, Any], path: Any) -> Any:
    """Set ``kwargs["compression"]`` to what pandas infers from ``path`` when the call leaves
    it to inference (the plaintext inside a sealed ``x.csv.gz`` is gzip, as pandas writes the
    file ``x.csv.gz``); return the compression method the call uses (None: none)."""
    if method not in _COMPRESSES:
        return None
    try:
        bound = _signature(function).bind_partial(*args, **kwargs).arguments
    except TypeError:  # pandas says what is wrong with the call when it runs
        return None
    given = bound.get("compression", "infer")
    by_name = pd.io.common.infer_compression(os.path.expanduser(os.fspath(path)), "infer")
    if isinstance(given, dict):
        if given.get("method", "infer") != "infer":
            return given.get("method")
        if "compression" in kwargs:
            kwargs["compression"] = {**given, "method": by_name}
        return by_name
    if given != "infer":
        return given
    if "compression" in kwargs or "compression" not in bound:
        kwargs["compression"] = by_name
    return by_name


@functools.lru_cache(maxsize=64)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def _into_stream(original: Callable[..., Any], spec: Writer, owner: Any, frame_out: Any,
                 args: tuple[Any, ...], kwargs: dict[str, Any], path: Any, buffer: Any, *,
                 start: bool = True) -> Any:
    """pandas' writer, writing into ``buffer`` (a sealing stream) what it writes to ``path``:
    the same compression (inferred from the name) and, for a CSV file in UTF-16/UTF-32, the
    byte order mark (pandas' text layer writes it only into a seekable stream), at the
    ``start`` of the file only (not after what an append keeps)."""
    kw = dict(kwargs)
    if spec.method in storage.TEXT_WRITERS:  # the text stream encodes (pandas refuses both)
        kw.pop("encoding", None)
    call = _retarget(spec, args, kw, buffer)
    function = getattr(type(owner), spec.method)
    compression = _infer_compression(function, spec.method, (owner, *call), kw, path)
    if spec.method == "to_csv" and compression is None:
        try:
            encoding = _signature(function).bind_partial(owner, *call, **kw).arguments.get(
                "encoding")
        except TypeError:
            encoding = None
        if start:
            buffer.write(storage.byte_order_mark(encoding))
        elif _codec(encoding) == "utf-8-sig" and "encoding" in kw:
            # the utf-8-sig codec writes its mark at the start of every stream it encodes, and
            # an append's rows go into a fresh one after what the file holds: the mark landed
            # mid-file (the first appended value read back starting with U+FEFF). pandas
            # appending to the file itself writes none there (seekable, not at its start)
            kw["encoding"] = "utf-8"
    return original(frame_out, *call, **kw)


def _codec(encoding: Any) -> str | None:
    """The codec's canonical name (``"utf-8-sig"`` for ``"UTF_8_SIG"``), None when unknown."""
    try:
        return codecs.lookup(encoding).name if isinstance(encoding, str) else None
    except LookupError:
        return None


# Writers whose append (mode="a") into sealed storage is re-sealing the file with what it holds
# followed by what pandas appends: a text file (CSV, JSON lines) grows by concatenation.
_APPENDS = frozenset({"to_csv", "to_json"})


def _sealed_append(spec: Writer, target: Any) -> bool:
    """Whether an append to ``target`` under a sealed governed root can be sealed: a CSV or
    JSON-lines file that is sealed already, or does not exist yet.

    Raises:
        StorageError: ``target`` is a symbolic link: the append would read the file the link
            names and seal that content at the link's own path, decided there.
    """
    if spec.method not in _APPENDS or not isinstance(target, (str, os.PathLike)):
        return False
    path = os.path.expanduser(os.fspath(target))
    if os.path.islink(path):
        msg = (f"{spec.method}(mode='a') to {path} is refused: it is a symbolic link to "
               f"{os.path.realpath(path)}, and an append re-seals the file it reads at the "
               "link's path. Append to the file itself. Nothing was written.")
        raise storage.StorageError(msg)
    return not os.path.lexists(path) or (os.path.isfile(path) and storage.is_sealed(path))


def _held_by(gov: Any, spec: Writer, target: Any, kwargs: dict[str, Any],
             encrypt: bool) -> Classification | None:
    """What the sealed governed file an append re-seals holds, as its read is decided
    (its signed sidecar, PROPRIETARY when that cannot be trusted): the write is decided as
    that and the appended rows together. None when the write is no such append."""
    if (encrypt or spec.kind != "path" or not _appends(spec, target, kwargs)
            or not isinstance(target, (str, os.PathLike)) or not is_local(target)):
        return None
    path = os.path.expanduser(os.fspath(target))
    if os.path.islink(path) or not os.path.isfile(path):
        return None
    if (gov.config.storage.encrypt and storage.is_sealed(path)
            and storage.governed_path(path, gov) is not None):
        return storage.declared_classification(os.path.realpath(path))
    return _declared_plain(path)


def _declared_plain(path: str) -> Classification | None:
    """What a plain file an append adds to was declared as by its sidecar, which the append's
    sidecar keeps (``label(append=True)``), so the append is decided and recorded as the whole
    file (a run's version of only the appended rows said INTERNAL of a file of PROPRIETARY
    rows). An untrusted declaration counts too: it may only restrict, as when the file is read.
    None without a sidecar (a file Lacuna never labelled: the appended rows are all it knows)."""
    from lacuna.lineage import sidecar as sc

    try:
        found = sc.read_sidecar(path)
    except sc.SidecarError:
        return storage.declared_classification(path)  # PROPRIETARY (fail closed), explained
    return None if found is None else found.classification


# What a file starts with that no text append may follow: Parquet, Arrow/Feather, Arrow IPC
# streams, ORC, a ZIP archive (Excel), HDF5, a pickle (protocol 2 and later).
_BINARY = (b"PAR1", b"ARROW1", b"\xff\xff\xff\xff", b"ORC", b"PK\x03\x04",
           b"\x89HDF\r\n\x1a\n")
_PICKLE = re.compile(rb"\x80[\x02-\x05]")


@contextlib.contextmanager
def _append_lock(target: Any) -> Iterator[None]:
    """Held while an append re-seals ``target`` and writes its sidecar: an exclusive lock on
    the file there (``flock``), so two appends (threads or processes) never both read the old
    content and the later replace lose the other's rows. Taken again when the file was
    replaced while waiting. Nothing to hold for a file that does not exist (yet)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): appends are not serialised
        yield
        return
    path = os.path.expanduser(os.fspath(target))
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except OSError:
                same = False
            if same:
                yield
                return
        finally:
            os.close(fd)


@contextlib.contextmanager
def _sealed_contents(gov: Any, target: Any, method: str | None,
                     frame: Any) -> Iterator[tuple[Any, Classification] | None]:
    """The sealed file's plaintext stream (opened through ``open_governed``: decided and
    audited as a read by this user; its outcome is recorded when the append is done) and the
    classification the read was decided on (PROPRIETARY when its sidecar is not trusted),
    which the new sidecar combines with what is appended. None for a file that does not
    exist yet.

    Raises:
        StorageError: the file is not text (a sealed Parquet, Feather, Excel, pickle file):
            a CSV or JSON-lines append would corrupt it; nothing is written.
    """
    path = os.path.expanduser(os.fspath(target))
    if not os.path.lexists(path):
        yield None
        return
    with storage.open_governed(path, method=method or "pandas.append",
                               code_location=code_location(frame), gov=gov) as handle:
        decided: Classification = handle.raw.decided_on  # type: ignore[attr-defined]
        start = handle.peek(8)[:8]
        if start.startswith(_BINARY) or _PICKLE.match(start):
            msg = (f"{method}(mode='a') to {path} is refused: the sealed file is not a text "
                   "file (Parquet, Feather, Excel, a pickle, ...), and appending rows of text "
                   "to it would leave a file no reader opens. Write the combined data with "
                   "mode='w' instead. Nothing was written.")
            raise storage.StorageError(msg)
        yield handle, decided


def _retarget(spec: Writer, args: tuple[Any, ...], kwargs: dict[str, Any],
              buffer: Any) -> tuple[Any, ...]:
    """``args`` (and ``kwargs``, in place) with the writer's target replaced by ``buffer``."""
    if len(args) > spec.position:
        return (*args[: spec.position], buffer, *args[spec.position + 1:])
    kwargs[spec.keyword] = buffer
    return args


def _writes_index(method: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether the writer puts the index in what it writes: the default of every writer but
    ``to_json`` in the ``records`` and ``values`` orients, unless told not to (``index=False``;
    ``write_index=False`` for ``to_stata``)."""
    if kwargs.get("index", True) is False or kwargs.get("write_index", True) is False:
        return False
    return not (method == "to_json" and kwargs.get("orient") in ("records", "values"))


def _header(method: str, kwargs: Mapping[str, Any]) -> bool | list[Any]:
    """Whether the writer writes the column labels: ``False`` given ``header=False`` (or
    ``to_json(orient="values")``, which writes the values alone); the aliases given as
    ``header=[...]``, which pandas writes instead of the labels; ``True`` otherwise."""
    header = kwargs.get("header", True)
    if header is False or (method == "to_json" and kwargs.get("orient") == "values"):
        return False
    if isinstance(header, (list, tuple)):
        return list(header)
    return True


def _write_sealed(gov: Any, spec: Writer, original: Callable[..., Any], owner: Any,
                  frame_out: Any, args: tuple[Any, ...], kwargs: dict[str, Any], target: Any,
                  method: str | None, classification: Classification,
                  old: tuple[Any, Classification] | None, *,
                  first_seen: datetime | None = None) -> Any:
    """pandas' write into a sealing stream for ``target`` (governed storage); for an append
    to a sealed file (``old``: its plaintext stream and the class its read was decided on),
    the old plaintext first, copied a segment at a time, then what pandas appends (no second
    byte order mark). The file is replaced only once all of it is sealed."""
    held = None if old is None else old[1]
    size = 0 if old is None else int(old[0].raw.size)

    def stream(buffer: Any) -> Any:
        if old is not None and size:  # a CSV or JSON-lines append: binary (not TEXT_WRITERS)
            shutil.copyfileobj(old[0], buffer, max(old[0].raw.header.segment, 1 << 16))
        return _into_stream(original, spec, owner, frame_out, args, kwargs, target, buffer,
                            start=not size)

    text = (str(kwargs.get("encoding") or "utf-8")
            if spec.method in storage.TEXT_WRITERS else None)
    try:
        return storage.write_governed(
            target, stream, method=method or spec.method, text=text, gov=gov,
            classification=classification if held is None or (
                held.tier <= classification.tier) else held, first_seen=first_seen)
    except OSError as exc:  # the file system's answer, not a Lacuna failure
        from lacuna.integrations.pandas._patch import users_error

        users_error(exc)
        raise


def wrap_writer(spec: Writer, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def writer(self: Any, *args: Any, **kwargs: Any) -> Any:
        exception_id = kwargs.pop("exception_id", None)
        purpose = kwargs.pop("purpose", None)
        encrypt = bool(kwargs.pop("encrypt", False))
        if _bypass.active():
            _no_plaintext(encrypt, spec.method)
            return original(self, *args, **kwargs)
        if spec.method in _FILE_URL_WRITERS:
            local = _file_url_path(write_target(spec, args, kwargs), kwargs)
            if local is not None:  # file:///x.parquet is the local file /x.parquet
                args = _retarget(spec, args, kwargs, local)
        target = write_target(spec, args, kwargs)
        if target is None:  # into memory: not an export, written as pandas writes it
            _no_plaintext(encrypt, spec.method)
            _indexed(_data_of(self))
            with _bypass.bypass():  # Lacuna's state in ``attrs`` is no part of the output
                return original(_without_state(self, None), *args, **kwargs)
        if spec.kind == "sql":  # a SQLite or DuckDB file in sealed governed storage: refused
            from lacuna.storage.frames import database_file, refuse_database

            database = database_file(target)
            if database is not None:
                refuse_database(f"pandas.DataFrame.{spec.method}", database)
            if callable(kwargs.get("method")):
                kwargs["method"] = _governed_insert(kwargs["method"])
        if exception_id is None and isinstance(target, pd.HDFStore):  # opened under one
            exception_id = _stores.store_exception(target)
        from lacuna.governor import current

        gov = current()
        data = _data_of(self)
        state = effective_state(data, gov.config.classification)
        index = _writes_index(spec.method, kwargs)
        if index:  # the index is written with the data
            state = with_index(data, state, gov.config.classification)
        header = _header(spec.method, kwargs)
        if header is not False:  # the column labels are written as the header
            state = with_header(data, state, gov.config.classification,
                                written=None if header is True else header, index=index)
        existing = _held_by(gov, spec, target, kwargs, encrypt)
        if existing is not None:  # an append re-seals what the file holds: decided as both
            state = appended(state, existing, gov.config.classification)
        name = display_name(_file_of(target))
        frame_ = user_frame()
        op = gov.operation(
            Action.EXPORT,
            state.classification,
            sources=[
                Source(name=r, classification=state.classification) for r in state.lineage.roots()
            ],
            destination=gov.destination(name),
            method=f"pandas.{type(self).__name__}.{spec.method}",
            code_location=code_location(frame_),
            variable=variable_name(self, frame_),
            purpose=purpose,
            exception_id=exception_id,
        )
        if spec.kind == "sql":  # a trigger on the table would run undecided: fail closed
            op = _sql_side_effects(gov, op, args, kwargs)
        keeps_label = (
            spec.kind == "path"
            and is_local(name)
            and op.destination is not None
            and op.destination.type in _SIDECAR_TYPES
        )
        sources = state.lineage.roots()
        out = dataset_ref(name if spec.kind == "path" else target)
        store_object = isinstance(target, (pd.ExcelWriter, pd.HDFStore))
        names = state.record_names  # a label that is a value is named by its position
        written = tuple(names.get(str(c), str(c)) for c in _columns_of(data))
        produced = Produced(
            operation="to_sql" if spec.kind == "sql" else "export",
            inputs=inputs_of(state.lineage, state.classification),
            outputs=(out,) if out is not None else (),
            classification=state.classification,
            columns=written,
            column_edges=column_edges(state.origins, written, out),
            fingerprint=spec.kind == "path" and not store_object,
        )

        local_file = (spec.kind == "path" and isinstance(target, (str, os.PathLike))
                      and is_local(name))
        if encrypt and not local_file:
            msg = (f"{spec.method}(encrypt=True) writes a local file: pass a file path, not "
                   f"{type(target).__name__} {name!r}. Nothing was written.")
            raise ConfigError(msg)
        if encrypt and local_file and _appends(spec, target, kwargs) and os.path.lexists(
                os.path.expanduser(os.fspath(target))):
            msg = (f"{spec.method}(encrypt=True) to {name} in append mode is refused: "
                   "encrypt=True seals the whole file at once, so the append would replace the "
                   "rows the file holds with the appended ones. Write these rows to a new file, "
                   "or read the file (lacuna.decrypt), add the rows and write it again with "
                   "mode='w' (under the same exception). Nothing was written.")
            refused = ConfigError(msg)
            from lacuna.integrations.pandas._patch import users_error

            users_error(refused)  # the answer to this call, not a failure of Lacuna
            raise refused
        storage.refuse_unnamed_file(op.method, name, gov)  # its path unknown: fail closed
        seal = _seals(gov, spec, op, encrypt)
        if seal:  # governed storage: sealed at rest, or not written at all (docs/storage.md)
            from lacuna.integrations.pandas._patch import no_plaintext

            no_plaintext()
            appends = _appends(spec, target, kwargs)
            if (not local_file or spec.method not in storage.SEALABLE
                    or (appends and not _sealed_append(spec, target))
                    or kwargs.get("partition_cols")):
                if isinstance(target, (pd.ExcelWriter, pd.HDFStore)):
                    with _LABEL_LOCK:  # its close() must not save a plaintext file either
                        _DENIED.add(target)
                storage.refuse_unsealable(op.method, name)

        def run() -> Any:
            with contextlib.ExitStack() as stack:
                if local_file:  # what the sweep answers for is decided and recorded in turn
                    from lacuna.exceptions.pathlock import path_lock

                    stack.enter_context(path_lock(target))
                if seal and _appends(spec, target, kwargs):  # until its sidecar is written
                    stack.enter_context(_append_lock(target))
                return write()

        def write() -> Any:
            held = None  # an append to a sealed file: what its content was decided as
            embed = None
            # when its data was first seen: read before the file is replaced (its sidecar
            # and sealed header say it only until then)
            seen = write_clock(gov, target, state) if keeps_label or seal else None
            if spec.embeds and isinstance(data, pd.DataFrame):  # wherever the file goes
                embed = embedded_declaration(
                    state.classification, columns=list(data.columns), rows=len(data),
                    values=value_digests(data, len(data)), sources=sources,
                    written_by=op.user.id,
                    run_id=produced.run_id, first_seen=seen,
                )
            from lacuna.exceptions import appends, files

            added_to = _appended_file(spec, target, kwargs)
            if added_to is not None and not _stores.opened_under(gov, target, exception_id):
                # under the lock of a re-seal
                try:  # the sweep must still answer for the file: see exceptions/appends.py
                    appends.check_append(gov, added_to, exception_id,
                                         method=op.method or "write")
                except appends.AppendRefused as exc:  # the answer to this call
                    from lacuna.integrations.pandas._patch import users_error

                    if store_object:  # its close must not re-save the file either
                        with _LABEL_LOCK:
                            _DENIED.add(target)
                    users_error(exc)
                    raise
            # a write that replaces the file in full: the exceptions that held it, closed once
            # it returned (exceptions/appends.py)
            replaced = (appends.replacing(gov, target, exception_id)
                        if added_to is None and local_file else None)
            record = None
            if exception_id:  # before writing: the sweep deletes it on expiry
                try:
                    if store_object:  # recorded once per store, completed when it is closed
                        _stores.record_put(gov, target, exception_id, op.method or "write")
                    elif not local_file:
                        raise files.refuse_unsweepable(exception_id, name, op.method or "write")
                    else:
                        record = files.remember(gov, exception_id, target, encrypted=encrypt)
                except files.ExceptionNotAuthorized as exc:  # the answer to this call
                    from lacuna.integrations.pandas._patch import users_error

                    users_error(exc)
                    raise
            with _bypass.bypass():
                frame_out = _without_state(self, embed)
                if encrypt:

                    def into(buffer: Any) -> Any:
                        return _into_stream(original, spec, self, frame_out, args, kwargs,
                                            target, buffer)

                    result = files.write_sealed(gov, target, into, exception_id=exception_id,
                                                method=op.method, operation_id=op.id)
                elif seal:
                    appending = _appends(spec, target, kwargs)
                    with (_sealed_contents(gov, target, op.method, frame_) if appending
                          else contextlib.nullcontext()) as old:
                        if old is not None:  # what the sealed file holds, first
                            held = old[1]
                        result = _write_sealed(gov, spec, original, self, frame_out, args,
                                               kwargs, target, op.method,
                                               state.classification, old, first_seen=seen)
                else:
                    result = original(frame_out, *args, **kwargs)
            if store_object:  # its close saves what it holds
                _stores.put_done(target)
            if record is not None:  # what was written: the sweep deletes that file, no other
                files.written(gov, record)
            appends.supersede(gov, replaced, exception_id=exception_id,
                              method=op.method or "write")
            if keeps_label:
                label(target, name, state.classification, sources, op.user.id,
                      append=_appends(spec, target, kwargs), run_id=produced.run_id,
                      held=held, first_seen=seen)
            return result

        try:  # an enforced denial raises here: nothing is written (the denied run is recorded)
            return gov.execute(op, run, produced=produced)
        except GovernanceViolation:
            if isinstance(target, (pd.ExcelWriter, pd.HDFStore)):
                with _LABEL_LOCK:
                    _DENIED.add(target)
            raise

    return writer


def _governed_insert(method: Callable[..., Any]) -> Callable[..., Any]:
    """``to_sql(method=fn)``: pandas calls ``fn(table, conn, keys, rows)`` to insert the rows,
    from inside the write, which runs under Lacuna's bypass; ``fn`` is the program's code and
    may run any SQL on ``conn`` (``COPY customers TO '~/Downloads/x.csv'``, ``CREATE TABLE x AS
    SELECT email …``), which ran undecided. It runs governed: each statement it sends is
    decided as any the program sends (its ``INSERT`` of the rows too, on their values)."""

    @functools.wraps(method)
    def governed(*args: Any, **kwargs: Any) -> Any:
        with _bypass.lifted():
            return method(*args, **kwargs)

    return governed


def _sql_side_effects(gov: Any, op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``op`` for ``to_sql``, fail closed when the table runs triggers (or rules, or event
    triggers) Lacuna cannot govern (:func:`lacuna.sql.to_sql_runs`): PROPRIETARY, into a
    database that keeps no classification, with the reason, as the SQL hook decides such a
    statement. ``op`` as it was otherwise."""
    from lacuna import sql as governed_sql

    name = args[0] if args else kwargs.get("name")
    con = args[1] if len(args) > 1 else kwargs.get("con")
    if not isinstance(name, str) or con is None:
        return op
    try:
        with _bypass.bypass():
            problem = governed_sql.to_sql_runs(con, name, kwargs.get("schema"),
                                               str(kwargs.get("if_exists", "fail")))
    except ComponentImportError:
        raise  # the SQL analysis does not import: refused in every mode (the guard)
    except Exception as exc:  # cannot tell what it runs: fail closed (enforce denies)
        gov.internal_error(exc, action=Action.EXPORT, method=op.method)
        return op
    if problem is None:
        return op
    classification = Classification.fail_closed(
        f"Lacuna cannot classify this write: {problem}", over=op.classification)
    destination = op.destination if op.destination is None else replace(
        op.destination, classification_support=False, reasoning=problem)
    return replace(op, classification=classification, destination=destination)


def _seals(gov: Any, spec: Writer, op: Any, encrypt: bool) -> bool:
    """Whether this write goes to governed storage that is sealed (storage.encrypt)."""
    return (not encrypt and spec.kind == "path" and gov.config.storage.encrypt
            and op.destination is not None
            and op.destination.type is DestinationType.GOVERNED_STORAGE)


def _columns_of(data: Any) -> list[Any]:
    if isinstance(data, pd.DataFrame):
        return list(data.columns)
    if isinstance(data, pd.Series):
        return [data.name if data.name is not None else 0]
    return []


# -- the classification of written files: sidecars, deferred for stores ------------------------

_Part = tuple[Classification, tuple[str, ...], str, str | None]  # ..., user, run id
_PENDING: weakref.WeakKeyDictionary[Any, list[_Part]] = weakref.WeakKeyDictionary()
_PENDING_SEEN: weakref.WeakKeyDictionary[Any, datetime] = weakref.WeakKeyDictionary()  # clock
_DENIED: weakref.WeakSet[Any] = weakref.WeakSet()
_LABEL_LOCK = threading.Lock()


def label(
    target: Any,
    name: str,
    classification: Classification,
    sources: tuple[str, ...],
    user: str,
    *,
    append: bool = False,
    run_id: str | None = None,
    held: Classification | None = None,
    first_seen: datetime | None = None,
) -> None:
    """Write the sidecar of a written file; for an ExcelWriter or HDFStore (written on close),
    remember it until the store is closed. ``held``: what the file held before an append was
    decided as (a sealed file re-sealed), a part of the new declaration. ``first_seen``: the
    write's clock (:func:`write_clock`; a store's sidecar takes the earliest of its puts')."""
    if isinstance(target, (pd.ExcelWriter, pd.HDFStore)):
        from lacuna.lineage.sidecar import as_decided

        classification = as_decided(classification)  # its sidecar is written on close
        with _LABEL_LOCK:
            _PENDING.setdefault(target, []).append((classification, sources, user, run_id))
            if first_seen is not None:
                known = _PENDING_SEEN.get(target)
                _PENDING_SEEN[target] = first_seen if known is None else min(known, first_seen)
        return
    flush = getattr(target, "flush", None)
    if callable(flush):  # an open file object: its bytes must be on disk to be fingerprinted
        flush()
    parts: list[_Part] = [] if held is None else [(held, (), user, None)]
    _write_label(name, [*parts, (classification, sources, user, run_id)], append=append,
                 first_seen=first_seen)


def _write_label(name: str, parts: list[_Part], *, append: bool,
                 first_seen: datetime | None = None) -> None:
    from lacuna.governor import current

    write_label(name, parts, current().config.classification, append=append,
                first_seen=first_seen)


def write_clock(gov: Any, target: Any, state: Any) -> datetime | None:
    """When the data a write to ``target`` holds was first seen (the one rule:
    :func:`lacuna.lineage.clock.of_write`), read before the file is replaced; None for a
    target that is not a local path. A store (``ExcelWriter``, ``HDFStore``) on a local file:
    its file's clock is the one it had when the store opened it (the open truncates or touches
    it), with the data's."""
    from lacuna.lineage import clock
    from lacuna.model import utcnow

    if isinstance(target, (pd.ExcelWriter, pd.HDFStore)):
        if _stores.store_file(target) is None:
            return None
        return clock.of_write(None, state.lineage, state.classification.tier, gov.config,
                              now=clock.earliest(utcnow(), _stores.opened_clock(target)))
    if not isinstance(target, (str, os.PathLike)) or not is_local(target):
        return None
    return clock.of_write(os.fspath(target), state.lineage, state.classification.tier,
                          gov.config)


def wrap_store_close(original: Callable[..., Any]) -> Callable[..., Any]:
    """``ExcelWriter.close`` / ``HDFStore.close``: write the sidecar once the file is complete.

    An ExcelWriter into which every write was denied saves nothing (pandas would fail with an
    ``IndexError`` on a workbook without sheets and leave an empty file): its handle is closed
    and the empty file it created is removed; nor does one in append mode on a file written
    under an exception when nothing was added (:func:`._stores.keeps_file`). The records of
    what was written into the store under an exception are completed once it is closed
    (:func:`._stores.closed`).
    """

    @functools.wraps(original)
    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.governor import current

        with _LABEL_LOCK:
            pending = _PENDING.pop(self, None)
            seen = _PENDING_SEEN.pop(self, None)
            denied = self in _DENIED
            _DENIED.discard(self)
        if denied and not pending and isinstance(self, pd.ExcelWriter) and not self.sheets:
            _stores.discard(current(), self)  # its records closed, the empty file removed
            return None
        if _stores.keeps_file(self):  # an append-mode workbook nothing was added to
            self._handles.close()
            _stores.closed(current(), self)
            return None
        result = original(self, *args, **kwargs)
        _stores.closed(current(), self)
        if pending:
            name = os.fspath(self) if isinstance(self, pd.ExcelWriter) else self.filename
            if name and os.path.exists(name):
                _write_label(name, pending, append=True, first_seen=seen)
                _fingerprint_runs(name, [p[3] for p in pending if p[3]])
        return result

    return close


def _fingerprint_runs(name: str, run_ids: list[str]) -> None:
    """The store's file is complete: its runs' output versions get their content fingerprint
    (they were recorded before the file existed in full). Logged, never raised: the file is
    written and labelled already."""
    from lacuna.governor import current

    try:
        file_completed(current().lineage_store, name, run_ids)
    except Exception as exc:
        log.error("could not record the content fingerprint of %s in the lineage store: %s",
                  name, exc)


def wrap_store_put(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``HDFStore.put`` / ``append`` (and ``store[key] = df``): an export into the store's file."""
    spec = Writer(method, "path_or_buf")

    @functools.wraps(original)
    def put(self: Any, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active() or not isinstance(value, (pd.DataFrame, pd.Series)):
            return original(self, key, value, *args, **kwargs)
        extra = {k: kwargs.pop(k) for k in ("exception_id", "purpose", "encrypt") if k in kwargs}

        def run(data: Any, _store: Any) -> Any:
            return original(self, key, data, *args, **kwargs)

        return wrap_writer(spec, run)(value, self, **extra)

    return put
