"""polars readers, scanners, writers and sinks, and the conversions to and from pandas/Arrow."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
from collections.abc import Callable
from typing import Any

import polars as pl

from lacuna import _bypass
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.io import (
    govern_read,
    govern_write,
    local_path,
    read_source,
)
from lacuna.integrations.frames.state import STATES
from lacuna.integrations.polars._ops import columns_of, settings, state
from lacuna.lineage.frames import attach, effective_state
from lacuna.lineage.sidecar import PARQUET_KEY, parquet_declaration
from lacuna.lineage.sidecar import SUFFIX as SIDECAR_SUFFIX
from lacuna.lineage.state import ATTRS_KEY, DataState
from lacuna.model import Tier

# reader -> keyword of its source argument
READERS = {
    "read_csv": "source", "read_parquet": "source", "read_json": "source",
    "read_ndjson": "source", "read_ipc": "source", "read_ipc_stream": "source",
    "read_excel": "source", "read_ods": "source", "read_avro": "source",
    "read_delta": "source", "read_clipboard": "",
    # a file's metadata (a sealed file's is decrypted, so the read is decided and audited)
    "read_parquet_metadata": "source", "read_parquet_schema": "source",
    "read_ipc_schema": "source",
}
METADATA_READERS = ("read_parquet_metadata", "read_parquet_schema", "read_ipc_schema")
# DataFrame.deserialize / LazyFrame.deserialize(file): reads what serialize(file) wrote
DESERIALIZERS = {"deserialize": "source"}
SCANNERS = {
    "scan_csv": "source", "scan_parquet": "source", "scan_ndjson": "source",
    "scan_ipc": "source", "scan_delta": "source", "scan_iceberg": "source",
}
# DataFrame writer -> (keyword of its target, position)
WRITERS = {
    "write_csv": "file", "write_parquet": "file", "write_json": "file",
    "write_ndjson": "file", "write_ipc": "file", "write_ipc_stream": "file",
    "write_avro": "file", "write_excel": "workbook", "write_delta": "target",
    "write_iceberg": "target", "write_database": "table_name", "write_clipboard": "",
}
SINKS = {"sink_csv": "path", "sink_parquet": "path", "sink_ipc": "path", "sink_ndjson": "path",
         "sink_delta": "target", "sink_iceberg": "target"}
TABLE_WRITERS = ("write_delta", "write_iceberg", "sink_delta", "sink_iceberg")
# DataFrame.serialize / LazyFrame.serialize(file): the frame's data (a lazy frame's plan carries
# the rows of any in-memory frame it starts from) written to a file
SERIALIZERS = {"serialize": "file"}
# Not governed (documented): sink_batches / collect_batches hand batches to Python code,
# which is governed where it writes (pandas, pyarrow, files through the mount).
EAGER_LIMIT = 200_000  # rows converted whole to pandas to classify an eager read; above: sampled


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], keyword: str, position: int = 0) -> Any:
    if not keyword:
        return None
    return args[position] if len(args) > position else kwargs.get(keyword)


def wrap_reader(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    keyword = {**READERS, **SCANNERS, **DESERIALIZERS}[name]

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def reader(*args: Any, **kwargs: Any) -> Any:
            target = _arg(args, kwargs, keyword) if keyword else "clipboard://system"

            def call(source: Any) -> Any:  # source: target, or a sealed file's plaintext
                a, kw = (args, kwargs) if source is target else _retarget(
                    keyword, args, kwargs, source)
                if name == "scan_parquet" and "hidden_file_prefix" not in kw and _folder(source):
                    kw = {**kw, "hidden_file_prefix": "."}  # sidecars, as pyarrow skips them
                with outermost():
                    try:
                        return original(*a, **kw)
                    except Exception as exc:
                        if SIDECAR_SUFFIX in str(exc):
                            exc.add_note(_SIDECARS_READ)
                        raise

            result, decided = read_source(target, call, method=f"polars.{name}",
                                          materialise=_collected if name in SCANNERS else None)
            if isinstance(result, dict) and name not in METADATA_READERS:
                for sheet, frame in result.items():  # read_excel(sheet_id=0): one per sheet
                    _read(name, f"{target}#{sheet}", frame, args, kwargs, decided)
            elif isinstance(result, (pl.DataFrame, pl.LazyFrame)):
                _read(name, target, result, args, kwargs, decided)
            return result

        return reader

    return make


_SIDECARS_READ = (
    "Lacuna: polars read a folder file by file, Lacuna's hidden sidecars (.<file>.lacuna.json) "
    "included, which pyarrow, pandas and Spark skip. Read the folder's data files with a glob "
    "(pl.read_parquet('folder/*.parquet'), or '**/*.parquet' with hive_partitioning=True for "
    "a partitioned one), or scan it: pl.scan_parquet('folder') skips hidden files under Lacuna.")


def _folder(source: Any) -> bool:
    """A local folder, as polars reads one: every file in it."""
    path = local_path(source)
    return path is not None and os.path.isdir(path)


def _collected(result: Any) -> Any:
    """A scan of a sealed file, read whole before its plaintext copy is removed."""
    if not isinstance(result, pl.LazyFrame):
        return result
    with outermost(), _bypass.bypass():
        return _data_error(result.collect).lazy()


def _data_error(collect: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """``collect()`` of a scan Lacuna reads to classify (or to decrypt): polars' own error about
    the file (an empty CSV or NDJSON file, a malformed row) is the answer to the user's scan,
    which the user's ``collect()`` would raise: it propagates unchanged, raised by ``scan_*``
    instead of later (Lacuna cannot classify rows it cannot read, and returns nothing then)."""
    try:
        return collect()
    except pl.exceptions.PolarsError as exc:
        from lacuna.integrations.pandas._patch import users_error

        users_error(exc)
        raise


def _read(name: str, target: Any, result: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any], decided: Any = None) -> None:
    config = settings()
    embedded = parquet_declaration(local_path(target)) if "parquet" in name else None
    with _bypass.bypass():
        if isinstance(result, pl.LazyFrame):
            frame = _data_error(result.head(config.sample_rows).collect).to_pandas()
            rows: int | None = -1
        elif result.height > EAGER_LIMIT:
            step = max(result.height // config.sample_rows, 1)
            frame = result.gather_every(step).to_pandas()
            rows = result.height
        else:
            frame, rows = result.to_pandas(), None
    how = f"polars.{name}{args[1:]!r}{sorted(kwargs.items(), key=lambda kv: kv[0])!r}"
    read = govern_read(method=f"polars.{name}", target=target, frame=frame, rows=rows,
                       embedded=embedded, how=how, decided=decided)
    STATES.set(result, _matched(name, target, result, read))


# bytes in memory a frame was written into (no export) and a reader reads back
_IN_MEMORY = (bytes, bytearray, memoryview, io.BytesIO, io.StringIO)


def _indexed(frame: Any) -> None:
    """A governed frame written into memory (``write_parquet(io.BytesIO())``, ``serialize()``
    returning bytes): not an export, but its columns are indexed by what they hold
    (:func:`lacuna.integrations.pyarrow._arrays.mark_table`), as Arrow's are, so a frame read
    back from those bytes holds what they held (:func:`_matched`)."""
    if not isinstance(frame, pl.DataFrame):
        return
    current = state(frame)
    if current.classification.tier is Tier.PUBLIC:
        return
    from lacuna.integrations.pyarrow import _arrays

    with outermost(), _bypass.bypass():
        table = frame.to_arrow()
    _arrays.mark_table(table, current, how="merge")


class _Serialized:
    """The states of frames ``serialize()`` returned as bytes or text, by a digest of those
    (bounded: the last 1,000): ``deserialize`` of the same bytes is the same frame, or the same
    lazy plan, whose scans read files when collected, unseen (a salary renamed ``x`` came back
    PUBLIC)."""

    def __init__(self, size: int = 1_000) -> None:
        from collections import OrderedDict

        self._states: OrderedDict[bytes, DataState] = OrderedDict()
        self._size = size

    @staticmethod
    def _digest(data: Any) -> bytes | None:
        import hashlib

        if isinstance(data, (io.BytesIO, io.StringIO)):
            data = data.getvalue()
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return None
        return hashlib.sha256(data).digest()

    def remember(self, data: Any, current: DataState) -> None:
        key = self._digest(data)
        if key is None or current.classification.tier is Tier.PUBLIC:
            return
        self._states[key] = current
        self._states.move_to_end(key)
        while len(self._states) > self._size:
            self._states.popitem(last=False)

    def recall(self, data: Any) -> DataState | None:
        key = self._digest(data)
        return self._states.get(key) if key is not None else None


_SERIALIZED = _Serialized()


def _matched(name: str, target: Any, result: Any, read: DataState) -> DataState:
    """A frame read from bytes in memory: each column that holds, by what it holds, values
    recorded before (a governed frame or table written into memory, :func:`_indexed`) holds
    them too; a salary renamed ``x`` through Parquet bytes was read as PUBLIC. Bytes
    ``serialize()`` returned are the frame (or plan) serialized: its state."""
    if name in DESERIALIZERS:
        serialized = _SERIALIZED.recall(target)
        if serialized is not None:
            return serialized
    if not isinstance(result, pl.DataFrame) or not isinstance(target, _IN_MEMORY):
        return read
    from lacuna.integrations.frames.placing import Placed, state_with_placed
    from lacuna.integrations.pyarrow import _arrays

    with outermost(), _bypass.bypass():
        table = result.to_arrow()
    found = _arrays.placed(table)
    if not found:
        return read
    return state_with_placed(f"polars.{name}", read, columns_of(result),
                             [Placed(column, tuple(sources)) for column, sources in found],
                             derive=f"polars.{name}", label="bytes in memory")


def wrap_writer(name: str, keyword: str, owner: str) -> Callable[[Callable[..., Any]],
                                                                   Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def writer(self: Any, *args: Any, **kwargs: Any) -> Any:
            exception_id = kwargs.pop("exception_id", None)
            purpose = kwargs.pop("purpose", None)
            target = _target(name, keyword, args, kwargs)
            if target is None:  # written into memory (a string, a buffer): not an export
                _indexed(self)
                with outermost():
                    written = original(self, *args, **kwargs)
                if name in SERIALIZERS:  # a plan's bytes: deserialized, it is this frame
                    _SERIALIZED.remember(written, state(self))
                return written
            current = state(self)
            columns = columns_of(self)
            rows = self.height if isinstance(self, pl.DataFrame) else None
            # use_pyarrow=True: pyarrow writes, and polars refuses ``metadata`` then (the
            # sidecar carries the classification)
            embeds = name in ("write_parquet", "sink_parquet") and not kwargs.get("use_pyarrow")
            # partition_by / pl.PartitionBy: polars writes a folder of files, and into one that
            # exists it adds the partitions' files and keeps the others (an append to it)
            # (or pyarrow's, use_pyarrow=True with pyarrow_options={"partition_cols": [...]}:
            # pyarrow.parquet.write_to_dataset, given a sealing stream, raised TypeError)
            partitioned = bool(kwargs.get("partition_by")) or _partitioned(
                _arg(args, kwargs, keyword)) is not None or bool(
                kwargs.get("use_pyarrow") and (kwargs.get("pyarrow_options") or {}).get(
                    "partition_cols"))

            def run(declaration: dict[str, Any] | None, where: Any = None) -> Any:
                kw = dict(kwargs)
                a = args
                if where is not None:  # sealed governed storage: a stream or a scratch path
                    a, kw = _retarget(keyword, a, kw, where)
                if declaration is not None:
                    meta = dict(kw.get("metadata") or {})
                    meta[PARQUET_KEY.decode()] = json.dumps({ATTRS_KEY: declaration})
                    kw["metadata"] = meta
                with outermost():
                    result = original(self, *a, **kw)
                    if kw.get("lazy") and isinstance(result, pl.LazyFrame):
                        # sink_*(lazy=True): written now, where it was decided (a scratch path
                        # is gone by the time the user collects); collecting the frame returned
                        # gives what collecting polars' own gives, an empty frame
                        result.collect()
                        return pl.LazyFrame()
                    return result

            return govern_write(self, current, target, run, method=f"polars.{owner}.{name}",
                                columns=columns, rows=rows, embeds=embeds,
                                exception_id=exception_id, purpose=purpose,
                                stream=not partitioned and not _checks_extension(
                                    name, target, kwargs),
                                mkdir=bool(kwargs.get("mkdir")),
                                append=partitioned or _adds_to_table(name, kwargs),
                                folder=partitioned or name in _DELTA)

        return writer

    return make


_DELTA = ("write_delta", "sink_delta")
# Delta modes that write to a table that exists; every one keeps the files it holds (an
# overwrite adds files and a log entry, the older files stay until a vacuum): an append to the
# folder. "error" and "ignore" write nothing to a table that exists.
_DELTA_ADDS = ("append", "overwrite", "merge")


def _adds_to_table(name: str, kwargs: dict[str, Any]) -> bool:
    """Whether a Delta write adds to the folder of a table that exists (checked as an append
    against the files written under exceptions: docs/exceptions.md)."""
    return name in _DELTA and str(kwargs.get("mode", "error")).lower() in _DELTA_ADDS


# polars' write_csv/write_ndjson refuse a file named like a compressed one (x.csv.gz) written
# uncompressed, and a compressed one not named so, unless check_extension=False; polars can
# check only a path
_CHECKS_EXTENSION = ("write_csv", "write_ndjson")
_COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")


def _checks_extension(name: str, target: Any, kwargs: dict[str, Any]) -> bool:
    """Whether polars checks the file name of this write against its compression: then a
    sealed write hands it a scratch path of the same name, never a stream."""
    if (name not in _CHECKS_EXTENSION or not kwargs.get("check_extension", True)
            or not isinstance(target, (str, os.PathLike))):
        return False
    compression = kwargs.get("compression")
    return (compression not in (None, "uncompressed")
            or os.fspath(target).lower().endswith(_COMPRESSED_SUFFIXES))


def _partitioned(target: Any) -> Any:
    """The options of a ``pl.PartitionBy`` target (its ``base_path`` is the folder written),
    or None for any other target."""
    inner = getattr(target, "_pl_partition_by", None)
    return inner if isinstance(getattr(inner, "base_path", None), str) else None


def _retarget(keyword: str, args: tuple[Any, ...], kwargs: dict[str, Any],
              where: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    given = _arg(args, kwargs, keyword)
    inner = _partitioned(given)
    if inner is not None:  # the same partitioning, into the folder ``where``
        moved = copy.copy(given)
        moved._pl_partition_by = dataclasses.replace(inner, base_path=os.fspath(where))
        where = moved
    if args:
        return (where, *args[1:]), kwargs
    return args, {**kwargs, keyword: where}


def _target(name: str, keyword: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    from lacuna.integrations.pandas._io import CLIPBOARD, sql_target

    if name == "write_clipboard":
        return CLIPBOARD
    if name == "write_database":
        return sql_target((args[0] if args else kwargs.get("table_name"),
                           args[1] if len(args) > 1 else kwargs.get("connection")), {})
    if name in ("write_iceberg", "sink_iceberg"):
        return f"iceberg://{_arg(args, kwargs, keyword)}"
    target = _arg(args, kwargs, keyword)
    if target is None:
        return None
    if _partitioned(target) is not None:  # pl.PartitionBy: the folder it writes
        return _partitioned(target).base_path
    if isinstance(target, str) or hasattr(target, "__fspath__"):
        return target
    if name in TABLE_WRITERS:  # a table object (deltalake.DeltaTable): never an in-memory write
        return str(getattr(target, "table_uri", None) or f"delta://{type(target).__name__}")
    from lacuna.integrations.pandas._frames import file_path, stream_name

    # an open file object with a path is governed like that path; a buffer is memory; any
    # other stream (a zip member, a socket, a pipe) an unmanaged place (_frames.stream_name)
    return target if file_path(target) is not None else stream_name(target)


# -- conversions --------------------------------------------------------------------------------


def wrap_from_pandas(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pl.from_pandas``: the frame keeps the pandas object's classification and lineage."""

    def from_pandas(data: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(data, *args, **kwargs)
        import pandas as pd

        if isinstance(data, (pd.DataFrame, pd.Series)) and isinstance(result, pl.DataFrame):
            STATES.set(result, effective_state(data, settings()))
        elif isinstance(data, pd.Series) and isinstance(result, pl.Series):
            from lacuna.integrations.polars._series import SERIES, taken_of

            values = taken_of(data)  # a Series comes out of a Series: it holds what that held
            if values is not None:
                SERIES.set(result, values)
        return result

    return from_pandas


def wrap_from_dataframe(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pl.from_dataframe`` (the dataframe interchange protocol, or Arrow's C stream): the
    frame keeps the state of the governed pandas frame, Arrow table or polars frame it was
    made from; polars copies the values and nothing else, so a salary renamed ``x`` came
    out PUBLIC."""

    def from_dataframe(df: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.integrations.pandas._io import _without_state
        from lacuna.integrations.polars._series import foreign_state

        # a pandas frame is exported through Arrow, which serialises ``attrs`` (and warned
        # that Lacuna's state is not JSON): it is given the frame without the state
        with outermost():
            result = original(_without_state(df, None), *args, **kwargs)
        if not isinstance(result, pl.DataFrame):
            return result
        if isinstance(df, (pl.DataFrame, pl.LazyFrame)):
            found = STATES.get(df)
            if found is not None:
                STATES.set(result, found)
            return result
        copied = foreign_state(df)
        if copied is not None:
            from lacuna.integrations.polars._ops import moved

            moved(copied[0], copied[1], result, "polars.from_dataframe")
        return result

    return from_dataframe


def wrap_from_arrow(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pl.from_arrow``: the frame keeps the Arrow table's state; a Series made of an Arrow
    array holds what the array holds (:func:`._series.taken_of`)."""

    def from_arrow(data: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(data, *args, **kwargs)
        if isinstance(result, pl.Series):
            from lacuna.integrations.polars._series import SERIES, taken_of

            values = taken_of(data)
            if values is not None:
                SERIES.set(result, values)
            return result
        found = STATES.get(data)
        if found is None:
            from lacuna.integrations.pyarrow import table_state

            found = table_state(data) if hasattr(data, "schema") else None
        if found is not None and isinstance(result, pl.DataFrame):
            STATES.set(result, found)
        return result

    return from_arrow


def wrap_to_pandas(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame.to_pandas``: the pandas frame carries the classification, verified."""

    def to_pandas(self: Any, *args: Any, **kwargs: Any) -> Any:
        current = state(self)
        with outermost(), _bypass.bypass():
            result = original(self, *args, **kwargs)
        return attach(result, current.classification, current.lineage, origins=current.origins)

    return to_pandas


def wrap_arrow_export(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame.__arrow_c_stream__`` / ``Series.__arrow_c_stream__`` (the Arrow PyCapsule
    interface: ``pa.table(df)``, ``pa.chunked_array(s)``, ``pa.RecordBatchReader.from_stream``,
    any Arrow consumer): the buffers polars hands out are recorded first as the columns they
    hold (:mod:`lacuna.integrations.pyarrow._arrays`), so the Arrow table or array made of
    them keeps their class; it was classified from its names and values alone, and a salary
    renamed ``x`` left as PUBLIC. The export itself is polars' own, unchanged. Not behind the
    outermost-call rule: pyarrow's hooked functions (``pa.array``) export from inside."""

    def export(self: Any, *args: Any, **kwargs: Any) -> Any:
        _record_export(self)
        return original(self, *args, **kwargs)

    return export


def _record_export(obj: Any) -> None:
    """Record the Arrow buffers of a tracked polars frame or Series as what they hold: the
    buffers of ``to_arrow`` at the newest compatibility level are the very ones polars
    exports (string views and all, no copy)."""
    import sys

    if "pyarrow" not in sys.modules:  # nothing can import the stream into pyarrow
        return
    from lacuna.integrations.polars._series import SERIES
    from lacuna.integrations.pyarrow import _arrays

    newest = pl.CompatLevel.newest()
    if isinstance(obj, pl.DataFrame):
        if STATES.get(obj) is None:
            return
        current = state(obj)
        with outermost(), _bypass.bypass():
            table = obj.to_arrow(compat_level=newest)
        _arrays.mark_table(table, current, how="merge")
    elif isinstance(obj, pl.Series):
        taken = SERIES.get(obj)
        if taken is None or not taken.sources:
            return
        with outermost(), _bypass.bypass():
            values = obj.to_arrow(compat_level=newest)
        _arrays.mark(values, taken.sources, how="merge")


def wrap_to_arrow(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame.to_arrow``: the table carries the frame's state, and its columns' buffers
    are recorded as the frame's columns (an array taken out of it keeps its class:
    :mod:`lacuna.integrations.pyarrow._arrays`; merged, as polars may share the memory)."""

    def to_arrow(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.integrations.pyarrow import _arrays

        current = state(self)
        with outermost():
            result = original(self, *args, **kwargs)
        STATES.set(result, current)
        _arrays.mark_table(result, current, how="merge")
        return result

    return to_arrow
