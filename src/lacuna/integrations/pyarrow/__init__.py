"""The pyarrow integration: Arrow tables read, written and converted under the pipeline.

Hooked (module functions; Arrow's ``Table`` is a compiled type whose methods cannot be
replaced):

- writes, decided before anything is written: ``pyarrow.parquet.write_table`` (the signed
  declaration goes into the schema metadata, where pandas and polars read it back),
  ``pyarrow.csv.write_csv``, ``pyarrow.feather.write_feather``, ``pyarrow.orc.write_table``,
  ``pyarrow.dataset.write_dataset``, ``pyarrow.parquet.write_to_dataset`` (a folder: an append
  to it when it keeps the files there, ``existing_data_behavior``);
- streaming writers, decided at open, at each write and at close, written to a private staged
  file and published only when allowed (:mod:`._streams`): ``pyarrow.parquet.ParquetWriter``,
  ``pyarrow.csv.CSVWriter``, ``pyarrow.orc.ORCWriter``, ``pyarrow.ipc.RecordBatchFileWriter``
  and ``RecordBatchStreamWriter`` (so ``pyarrow.ipc.new_file``/``new_stream`` too);
- raw byte streams opened for writing to a path (``pyarrow.OSFile``, ``output_stream``,
  ``CompressedOutputStream``, ``memory_map``, ``create_memory_map``, and
  the ``open_output_stream`` and ``open_append_stream`` of ``pyarrow.fs.LocalFileSystem``,
  ``SubTreeFileSystem`` and ``FSSpecHandler``): refused under a governed root, where they
  cannot be sealed (:mod:`._raw`); a path writer given ``filesystem=`` a local file system
  governs (and seals) the local file the path names;
- reads, classified and audited: ``pyarrow.parquet.read_table``, ``pyarrow.csv.read_csv``,
  ``pyarrow.feather.read_table`` and ``read_feather`` (a pandas frame: its attrs carry the
  state), ``pyarrow.dataset.dataset`` (its tables keep the state), ``pyarrow.parquet
  .read_pandas``, ``read_metadata`` and ``read_schema``; on a sealed governed file also the
  readers that keep their source open (``pyarrow.parquet.ParquetFile``, ``pyarrow.orc.ORCFile``,
  ``pyarrow.ipc.RecordBatchFileReader``/``RecordBatchStreamReader``, ``pyarrow.csv.open_csv``,
  ``pyarrow.json.open_json``: :mod:`._sealed`), and ``pyarrow.parquet.ParquetDataset`` is refused
  there (it opens its files by path itself);
- conversions: ``pa.Table.from_pandas`` / ``pa.table(df)`` and ``Table.to_pandas`` go through
  ``pyarrow.pandas_compat``, which is hooked: the classification crosses in both directions;
- joins and group-bys: ``Table.join``/``join_asof``, ``Dataset.join`` and
  ``Table.group_by(...).aggregate`` delegate to ``pyarrow.acero``, which is hooked: the shared
  combine and aggregation rules (:mod:`._compute`);
- ``pyarrow.compute`` (every function, so the array and table methods that call it): arrays
  taken out of a governed table and results computed from them keep the class of the columns
  they hold, recorded by their buffers (:mod:`._arrays`), down to a renamed column or one
  ``set_column`` put in place of another;
- Arrow's copies: ``pa.concat_arrays`` (so ``ChunkedArray.combine_chunks``), ``concat_tables``,
  ``concat_batches``, ``pa.array`` (and ``pyarrow.lib.array``, which ``pa.table({...})``,
  ``Table.from_pydict``/``from_arrays`` and ``RecordBatch.from_arrays`` call for each column:
  a governed pandas or polars Series they copy keeps its class); a whole column copied where
  no hook sees it (``Table.combine_chunks``, bytes in memory read back, ``to_pylist()``) is
  matched by what it holds.

A table's state is found by identity (:mod:`lacuna.integrations.frames.state`) or, for tables
Arrow derives from it (``select``, ``filter``, ``slice``, ``rename_columns``, a dataset's
``to_table``), by a token in the schema metadata (``lacuna.state``) that those operations keep.
A table with neither is classified from its names and values at the boundary.
"""

from __future__ import annotations

import io
import os
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow._csv as pa_csv_lib
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.feather as pa_feather
import pyarrow.fs as pa_fs
import pyarrow.ipc as pa_ipc
import pyarrow.json as pa_json
import pyarrow.orc as pa_orc
import pyarrow.pandas_compat as pa_pandas
import pyarrow.parquet as pq
import pyarrow.parquet.core as pq_core

from lacuna import _bypass
from lacuna.integrations.frames.hooks import (
    ClassHook,
    Hook,
    Hooks,
    aliases,
    outer,
    outermost,
)
from lacuna.integrations.frames.io import (
    govern_read,
    govern_write,
    metadata_with,
    read_source,
)
from lacuna.integrations.frames.placing import Placed, Source, state_with_placed
from lacuna.integrations.frames.state import STATES, effective, k_again
from lacuna.integrations.pyarrow import _arrays, _compute, _copies, _raw, _sealed, _streams
from lacuna.lineage.frames import attach, effective_state
from lacuna.lineage.sidecar import metadata_declaration
from lacuna.lineage.state import DataState
from lacuna.model import Action, Classification, Tier

TOKEN_KEY = b"lacuna.state"
MAX_TOKENS = 10_000
_TOKENS: OrderedDict[bytes, DataState] = OrderedDict()
Make = Callable[[Callable[..., Any]], Callable[..., Any]]


def _settings() -> Any:
    from lacuna.governor import current

    return current().config.classification


def _tokened(schema: pa.Schema, state: DataState) -> pa.Schema:
    token = uuid.uuid4().hex.encode()
    _TOKENS[token] = state
    while len(_TOKENS) > MAX_TOKENS:
        _TOKENS.popitem(last=False)
    return schema.with_metadata({**(schema.metadata or {}), TOKEN_KEY: token})


def _untokened(meta: Any) -> dict[bytes, bytes]:
    return {k: v for k, v in (meta or {}).items() if k != TOKEN_KEY}


def tracked(table: Any) -> DataState | None:
    """The state tracked for an Arrow table or dataset (identity, else its schema's token)."""
    found = STATES.get(table)
    if found is not None:
        return found
    meta = getattr(getattr(table, "schema", None), "metadata", None) or {}
    token = meta.get(TOKEN_KEY)
    return _TOKENS.get(token) if token else None


def table_state(table: Any) -> DataState:
    """The effective state of an Arrow table (or record batch) as it is now: its tracked
    state, with each column whose buffers hold values of a governed table's columns (taken
    out, renamed, computed on by ``pyarrow.compute``: :mod:`._arrays`) derived from them."""
    config = _settings()
    found = _with_arrays(table, tracked(table))

    def sample(names: Any) -> Any:
        picked = table.select(list(names))
        n = picked.num_rows
        step = max(n // config.sample_rows, 1)
        if step > 1:
            picked = picked.take(pa.array(range(0, n, step))[: config.sample_rows])
        return as_pandas(picked)

    current = effective(found, table.schema.names, sample, config)
    # a slice or take of a k-anonymous table: k counted again on its rows
    return k_again(current, table.schema.names, lambda names: as_pandas(table.select(names)),
                   config)


def _with_arrays(table: Any, state: DataState | None) -> DataState | None:
    """``state`` (None: untracked) combined with the sources of the columns whose buffers
    hold governed values other than the ones ``state`` already says they are: each source as
    the select it amounts to on its table (a ``DERIVE`` step), combined with the table (a
    ``COMBINE`` step), as polars does for a Series placed in a frame
    (:func:`lacuna.integrations.frames.placing.state_with_placed`). A tracked table's chunks not
    recorded yet are recorded as its columns in the same pass (:func:`._arrays.placed`)."""
    moved = [Placed(name, sorted(sources, key=lambda s: (s.state.lineage.name or "", s.columns)))
             for name, sources in _arrays.placed(table, state)
             if state is None or sources != {Source(state, (name,))}]
    if not moved:
        return state
    return state_with_placed("pyarrow.table", state, [str(n) for n in table.schema.names], moved,
                    derive="pyarrow.array", label="pyarrow array")


def as_pandas(table: Any) -> Any:
    """``table.to_pandas()`` for Lacuna's own look at the values, which pyarrow refuses for a
    dictionary column whose chunks hold nulls (a partition column ``pq.read_table`` of a hive
    folder gives, ``__HIVE_DEFAULT_PARTITION__``): such columns are decoded first."""
    with _bypass.bypass():
        try:
            return table.to_pandas()
        except pa.ArrowInvalid:
            plain = pa.schema([f.with_type(f.type.value_type)
                               if pa.types.is_dictionary(f.type) else f for f in table.schema])
            return table.cast(plain).to_pandas()


def classification(table: Any) -> Classification:
    """The classification of an Arrow table as it is now, with what its column names hold
    read as a header, as a write decides it (:func:`lacuna.lineage.frames.reported`)."""
    from lacuna.lineage.frames import reported, with_labels

    return reported(with_labels(table_state(table), list(table.schema.names), _settings()))


def _attached(table: Any, state: DataState) -> Any:
    STATES.set(table, state)
    return table


def input_state(data: Any) -> DataState:
    """The state of a table or dataset an Arrow operation reads."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return table_state(data)
    return _dataset_state(data)


def carrying(result: Any, state: DataState) -> Any:
    """``result`` (a table or an in-memory dataset Arrow computed) carrying ``state``: a token
    in its schema, which the tables Arrow derives from it keep, else by identity; its columns'
    buffers are recorded as its columns (:mod:`._arrays`)."""
    if isinstance(result, pa.Table):
        _arrays.mark_table(result, state)
        return result.replace_schema_metadata(
            dict(_tokened(result.schema, state).metadata or {}))
    try:
        return result.replace_schema(_tokened(result.schema, state))
    except Exception:
        return _attached(result, state)


# -- reads --------------------------------------------------------------------------------------


def _reader(method: str) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(source: Any, *args: Any, **kwargs: Any) -> Any:
            # a path on a local file system (``filesystem=LocalFileSystem()``, a
            # ``SubTreeFileSystem`` over one) is read as the local file it names
            given = kwargs.get("filesystem")
            local = _raw.local_file(given, source) if given is not None else None
            where = local if local is not None else source

            def call(plain: Any) -> Any:  # where, or a sealed file's plaintext
                if plain is where:  # not sealed: pyarrow reads what it was given
                    plain = source
                else:  # the stream is the file (a local file system's path names)
                    kwargs.pop("filesystem", None)
                    if method in _DECOMPRESSING:
                        plain = _decompressed(plain, where)
                with outermost():
                    return original(plain, *args, **kwargs)

            table, decided = read_source(where, call, method=method)
            if not isinstance(table, pa.Table):
                return table
            embedded = metadata_declaration(table.schema.metadata)
            frame = as_pandas(table)
            state = govern_read(method=method, target=where, frame=frame, embedded=embedded,
                                decided=decided)
            table = carrying(table, state)
            if isinstance(source, _IN_MEMORY):  # bytes written to memory and read back
                _arrays.matched(table)
            return table

        return read

    return make


# sources in memory: bytes a writer wrote there (no export) and a reader reads back
_IN_MEMORY = (pa.Buffer, pa.BufferReader, io.BytesIO, bytes, bytearray, memoryview)

# readers that decompress a file named like a compressed one (x.csv.gz), which they cannot do
# on a sealed file's decrypted stream: Lacuna does it as they would
_DECOMPRESSING = frozenset({"pyarrow.csv.read_csv", "pyarrow.json.read_json"})


def _decompressed(stream: Any, source: Any) -> Any:
    """``stream`` (a sealed file's plaintext) decompressed as pyarrow would the file
    ``source`` by its name, or as it is."""
    try:
        codec = pa.Codec.detect(os.fspath(source))
    except (TypeError, ValueError, pa.ArrowException):  # no compression suffix (TypeError)
        return stream
    return pa.CompressedInputStream(stream, codec.name)


def _frame_reader(method: str) -> Make:
    """A reader that returns a pandas frame (``pyarrow.feather.read_feather``: it reads the
    file itself, not through the governed ``read_table``): decided, classified and attached as
    pandas' own readers do; a sealed governed file is read from its decrypted stream."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(source: Any, *args: Any, **kwargs: Any) -> Any:
            def call(plain: Any) -> Any:  # source, or a sealed file's plaintext
                with outermost(), _bypass.bypass():
                    return original(plain, *args, **kwargs)

            frame, decided = read_source(source, call, method=method)
            import pandas as pd

            if not isinstance(frame, pd.DataFrame):
                return frame
            state = govern_read(method=method, target=source, frame=frame, decided=decided)
            attach(frame, state.classification, state.lineage, origins=state.origins)
            return frame

        return read

    return make


def _opener(method: str) -> Make:
    """``pyarrow.ipc.open_file``/``open_stream``: a reader of record batches, not a table; a
    sealed governed file is decided, audited and decrypted into memory first, which the reader
    reads, and what the reader hands on carries the file's state (:mod:`._sealed`: the reader
    is the hooked ``RecordBatchFileReader``/``RecordBatchStreamReader``). Elsewhere its
    batches are classified where they are written."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def open_(source: Any, *args: Any, **kwargs: Any) -> Any:
            def call(plain: Any) -> Any:  # source, or a sealed file's decrypted stream
                if plain is not source:  # the reader outlives the stream: read it whole
                    plain = pa.py_buffer(plain.read())
                with outermost():
                    return original(plain, *args, **kwargs)

            reader, decided = read_source(source, call, method=method)
            if decided is not None:  # a sealed file's: its batches carry its state
                reader._lacuna_read = _sealed.Opened(source, None, method, decided)
            return reader

        return open_

    return make


def _dataset(original: Callable[..., Any]) -> Callable[..., Any]:
    def dataset(source: Any, *args: Any, **kwargs: Any) -> Any:
        given = kwargs.get("filesystem")  # a local file system's path: the local file
        local = _raw.local_file(given, source) if given is not None else None
        where = local if local is not None else source

        def call(plain: Any) -> Any:  # where, or sealed files' plaintext (a private copy)
            if plain is where:
                plain = source
            elif local is not None:  # the copy's path is on the local file system
                kwargs.pop("filesystem", None)
            with outermost():
                return original(plain, *args, **kwargs)

        def in_memory(found: Any) -> Any:
            with outermost(), _bypass.bypass():
                return original(found.to_table())

        found, decided = read_source(where, call, method="pyarrow.dataset.dataset",
                                     materialise=in_memory)
        if not isinstance(source, (str, list)) and not hasattr(source, "__fspath__"):
            return found
        config = _settings()
        with _bypass.bypass():
            frame = as_pandas(found.head(config.sample_rows))
        embedded = metadata_declaration(found.schema.metadata)
        state = govern_read(method="pyarrow.dataset.dataset", target=where, frame=frame,
                            rows=-1, embedded=embedded, decided=decided)
        try:
            return found.replace_schema(_tokened(found.schema, state))
        except Exception:
            return _attached(found, state)

    return dataset


# -- writes -------------------------------------------------------------------------------------


def _writer(method: str, embeds: bool) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(data: Any, where: Any, *args: Any, **kwargs: Any) -> Any:
            exception_id = kwargs.pop("exception_id", None)
            purpose = kwargs.pop("purpose", None)
            # a path on a local file system (``filesystem=LocalFileSystem()``, a
            # ``SubTreeFileSystem`` over one) is governed as the local file it names
            on_disk = (_raw.local_file(kwargs["filesystem"], where)
                       if kwargs.get("filesystem") is not None else None)
            target = on_disk if on_disk is not None else _native_target(where)
            if target is None and not _named_sink(where):
                _indexed(data)  # written into memory: not an export
                with outermost():
                    return original(data, where, *args, **kwargs)
            import pandas as pd

            if isinstance(data, pd.DataFrame):
                state = effective_state(data, _settings())
                columns, rows = [str(c) for c in data.columns], len(data)
            elif isinstance(data, (pa.Table, pa.RecordBatch)):
                state = table_state(data)
                columns, rows = list(data.schema.names), data.num_rows
            elif hasattr(data, "schema") and hasattr(data, "head"):  # a dataset
                state = _dataset_state(data)
                columns, rows = list(data.schema.names), 0
            else:  # a reader or batches: classified from what Lacuna cannot see: fail closed
                state = _unseen(data)
                columns, rows = [], 0

            def run(declaration: dict[str, Any] | None, to: Any = None) -> Any:
                out = data
                if isinstance(data, (pa.Table, pa.RecordBatch)):
                    meta = _untokened(data.schema.metadata)
                    if declaration is not None:
                        meta = metadata_with(declaration, meta)
                    out = data.replace_schema_metadata(meta)
                # ``to``: sealed governed storage's stream or scratch path, on the local disk
                # (the local file system given for ``where`` does not apply to it)
                given = kwargs if to is None or on_disk is None else {
                    k: v for k, v in kwargs.items() if k != "filesystem"}
                with outermost():
                    return original(out, where if to is None else to, *args, **given)

            folder = method in _DATASET_WRITERS
            return govern_write(data, state, where if target is None else target, run,
                                method=method, columns=columns,
                                rows=rows, embeds=embeds, exception_id=exception_id,
                                purpose=purpose, folder=folder,
                                append=folder and _adds_files(method, kwargs))

        return write

    return make


def _indexed(data: Any) -> None:
    """A governed table written into memory (``pa.BufferOutputStream``, ``io.BytesIO``): not an
    export, but its columns are indexed by what they hold (:func:`._arrays.mark_table`), so a
    table read back from those bytes holds what they held (:func:`._arrays.matched`); a
    religion renamed ``code`` through CSV bytes in memory came back PUBLIC. A table Lacuna
    never saw, or a public one, costs nothing more."""
    if not isinstance(data, (pa.Table, pa.RecordBatch)):
        return
    if tracked(data) is None and not any(_arrays.origin(c) for c in data.columns):
        return
    state = table_state(data)
    if state.classification.tier is not Tier.PUBLIC:
        _arrays.mark_table(data, state, how="merge")


# writers of a folder of files (``base_dir``/``root_path``), recorded as a folder under an
# exception -> their default ``existing_data_behavior``
_DATASET_WRITERS = {"pyarrow.dataset.write_dataset": "error",
                    "pyarrow.parquet.write_to_dataset": "overwrite_or_ignore"}
# behaviours that write into a folder that holds files and keep (some of) them: an append to
# the folder. "delete_matching" deletes only the partitions written and keeps the others, as
# Spark's dynamic partition overwrite does; "error" writes nothing into a folder with files.
_ADDING = ("overwrite_or_ignore", "delete_matching")


def _adds_files(method: str, kwargs: dict[str, Any]) -> bool:
    """Whether a dataset write adds files to a folder that exists (checked as an append
    against the files written under exceptions: docs/exceptions.md)."""
    behaviour = kwargs.get("existing_data_behavior") or _DATASET_WRITERS[method]
    return str(behaviour) in _ADDING


def _named_sink(where: Any) -> bool:
    """Whether ``where`` names a file: a path, or an open file object with one (its ``name``,
    or the file its descriptor is open on); a buffer in memory names none."""
    from lacuna.integrations.pandas._frames import file_path

    return where is not None and (isinstance(where, str) or hasattr(where, "__fspath__")
                                  or file_path(where) is not None)


# Arrow streams that write into memory (a buffer the caller holds): not exports.
_MEMORY_STREAMS = (pa.BufferOutputStream, pa.MockOutputStream, pa.FixedSizeBufferWriter)


def _native_target(where: Any) -> str | None:
    """An Arrow file or stream that writes somewhere Lacuna cannot name (``pa.PythonFile`` over a
    buffer, a buffered or compressed stream over a file, a ``pyarrow.fs`` stream): an export
    to an unmanaged place named ``stream://pyarrow.<type>``, so personal data is denied there,
    never written undecided. A Python stream with no path (a zip member, a socket, a pipe):
    as :func:`lacuna.integrations.pandas._frames.stream_name` names it. None for anything
    else, and for streams into memory."""
    from lacuna.integrations.pandas._frames import file_path, stream_name

    if not isinstance(where, pa.NativeFile):
        return stream_name(where)
    if isinstance(where, _MEMORY_STREAMS):
        return None

    if file_path(where) is not None:
        return None  # named by its path (pa.OSFile: its descriptor's), as a Python file object
    return f"stream://pyarrow.{type(where).__name__}"


def object_state(data: Any) -> DataState:
    """The state of an Arrow object a query scans (DuckDB's ``FROM obj``, ``register``): a
    table or record batch as :func:`table_state`; a dataset (or a scanner) from its tracked
    state or its first rows; a record batch reader by its schema's token, or else PROPRIETARY
    (fail closed): its rows can be read once only, and are the user's to read."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return table_state(data)
    if hasattr(data, "schema") and hasattr(data, "head"):
        return _dataset_state(data)
    found = tracked(data)
    return found if found is not None else _unseen(data)


def _dataset_state(data: Any) -> DataState:
    found = tracked(data)
    if found is not None:
        return found
    with _bypass.bypass():
        head = data.head(_settings().sample_rows)
    return table_state(head)


def _unseen(data: Any) -> DataState:
    from lacuna.lineage.state import LineageNode

    c = Classification.fail_closed(f"Lacuna cannot see the rows of a {type(data).__name__}; "
                                   "write a Table or a dataset instead")
    return DataState(classification=c, lineage=LineageNode(name="<stream>", operation="stream"))


# -- conversions ----------------------------------------------------------------------------------


def _to_arrays(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pa.Table.from_pandas`` / ``pa.table(df)``: the schema carries the frame's state."""

    def dataframe_to_arrays(df: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.integrations.pandas._io import _without_state

        with outermost():  # Arrow serialises attrs as JSON: hand it the frame without the state
            arrays, schema, n_rows = original(_without_state(df, None), *args, **kwargs)
        state = effective_state(df, _settings())
        for name, values in zip(schema.names, arrays, strict=False):
            sources = frozenset((_arrays.Source(state, (str(name),)),))
            _arrays.mark(values, sources, how="merge")
            # indexed by what it holds too, as a table read is (:func:`_arrays.mark_table`): a
            # column through ``to_pylist()`` or ``to_numpy()`` and back into Arrow was PUBLIC
            if not isinstance(values, pa.ChunkedArray) or values.num_chunks < 2:
                _arrays.index(values, sources)
        return arrays, _tokened(schema, state), n_rows

    return dataframe_to_arrays


def _to_dataframe(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Table.to_pandas``: the pandas frame carries the table's state, verified."""

    def table_to_dataframe(options: Any, table: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost(), _bypass.bypass():
            frame = original(options, table, *args, **kwargs)
        import pandas as pd

        if isinstance(frame, pd.DataFrame):
            state = table_state(table)
            attach(frame, state.classification, state.lineage, origins=state.origins)
        return frame

    return table_to_dataframe


def _hooks() -> list[Hook]:
    specs: list[tuple[Any, str, Make, Action]] = [
        (pq, "read_table", _reader("pyarrow.parquet.read_table"), Action.READ),
        (pa_csv, "read_csv", _reader("pyarrow.csv.read_csv"), Action.READ),
        (pa_feather, "read_table", _reader("pyarrow.feather.read_table"), Action.READ),
        (pa_orc, "read_table", _reader("pyarrow.orc.read_table"), Action.READ),
        (pa_feather, "read_feather", _frame_reader("pyarrow.feather.read_feather"),
         Action.READ),
        (pa_ds, "dataset", _dataset, Action.READ),
        (pa_ipc, "open_file", _opener("pyarrow.ipc.open_file"), Action.READ),
        (pa_ipc, "open_stream", _opener("pyarrow.ipc.open_stream"), Action.READ),
        # read_table under its other name: read_pandas calls pyarrow.parquet.core's
        (pq, "read_pandas", _reader("pyarrow.parquet.read_pandas"), Action.READ),
        # metadata and schema: read from the decrypted stream (the footer only), not a table
        (pq, "read_metadata", _reader("pyarrow.parquet.read_metadata"), Action.READ),
        (pq, "read_schema", _reader("pyarrow.parquet.read_schema"), Action.READ),
        (pa_json, "read_json", _reader("pyarrow.json.read_json"), Action.READ),
        (pa_csv, "open_csv", _sealed.streaming_opener("pyarrow.csv.open_csv", _decompressed,
                                                      _classified), Action.READ),
        (pa_json, "open_json", _sealed.streaming_opener("pyarrow.json.open_json",
                                                        _decompressed, _classified),
         Action.READ),
        (pq, "write_table", _writer("pyarrow.parquet.write_table", True), Action.EXPORT),
        (pa_csv, "write_csv", _writer("pyarrow.csv.write_csv", False), Action.EXPORT),
        (pa_feather, "write_feather", _writer("pyarrow.feather.write_feather", False),
         Action.EXPORT),
        (pa_orc, "write_table", _writer("pyarrow.orc.write_table", False), Action.EXPORT),
        (pa_ds, "write_dataset", _writer("pyarrow.dataset.write_dataset", False),
         Action.EXPORT),
        # it calls write_dataset (not governed again: the outermost call is), but takes no
        # exception_id of its own: pyarrow hands unknown keywords to the Parquet options
        (pq, "write_to_dataset", _writer("pyarrow.parquet.write_to_dataset", False),
         Action.EXPORT),
        (pa_pandas, "dataframe_to_arrays", _to_arrays, Action.TRANSFORM),
        (pa_pandas, "table_to_dataframe", _to_dataframe, Action.TRANSFORM),
    ]
    labels = {"_perform_join": "pyarrow.Table.join",
              "_perform_join_asof": "pyarrow.Table.join_asof",
              "_group_by": "pyarrow.TableGroupBy.aggregate"}
    specs += [(owner, name, make, Action.TRANSFORM) for owner, name, make in _compute.hooks()]
    specs += [(owner, name, make, Action.TRANSFORM)
              for owner, name, make in (*_arrays.hooks(tracked), *_copies.hooks(tracked))]
    hooks = [Hook(owner, name, outer(make),
                  action, labels.get(name, f"{owner.__name__}.{name}"))
             for owner, name, make, action in specs]
    streams: list[tuple[Any, str, int | None]] = [
        (pq, "ParquetWriter", 0), (pa_csv, "CSVWriter", 0), (pa_orc, "ORCWriter", None),
        (pa_ipc, "RecordBatchFileWriter", 0), (pa_ipc, "RecordBatchStreamWriter", 0)]
    hooks += [ClassHook(owner, name, _stream(f"{owner.__name__}.{name}", schema_at),
                        Action.EXPORT, f"{owner.__name__}.{name}")
              for owner, name, schema_at in streams]
    # readers that keep their source open: a sealed file's decrypted stream (:mod:`._sealed`)
    files: list[tuple[Any, str, tuple[str, ...]]] = [
        (pq, "ParquetFile", ("read", "read_row_group", "read_row_groups", "iter_batches")),
        (pa_orc, "ORCFile", ("read", "read_stripe")),
        (pa_ipc, "RecordBatchFileReader", ("read_all", "get_batch", "get_record_batch",
                                           "get_batch_with_custom_metadata")),
        (pa_ipc, "RecordBatchStreamReader", ("read_all", "read_next_batch",
                                             "read_next_batch_with_custom_metadata",
                                             "iter_batches_with_custom_metadata"))]
    hooks += [ClassHook(owner, name, _file_class(f"{owner.__name__}.{name}", reads),
                        Action.READ, f"{owner.__name__}.{name}")
              for owner, name, reads in files]
    hooks.append(ClassHook(pq, "ParquetDataset", _refusing_class("pyarrow.parquet.ParquetDataset"),
                           Action.READ, "pyarrow.parquet.ParquetDataset"))
    # raw byte streams to a path: refused under a governed root (:mod:`._raw`)
    raw_classes: list[tuple[str, Callable[..., bool]]] = [
        ("OSFile", _raw.mode_writes), ("CompressedOutputStream", _raw.always)]
    hooks += [ClassHook(pa, name, _raw_class(f"pyarrow.{name}", writes), Action.EXPORT,
                        f"pyarrow.{name}") for name, writes in raw_classes]
    # streams pyarrow.fs opens for writing on a local path: refused there too (:mod:`._raw`)
    hooks += [ClassHook(pa_fs, name, _filesystem_class(f"pyarrow.fs.{name}"), Action.EXPORT,
                        f"pyarrow.fs.{name}") for name in ("LocalFileSystem", "SubTreeFileSystem")]
    hooks += [Hook(pa_fs.FSSpecHandler, name,
                   _raw.fsspec_opener(f"pyarrow.fs.FSSpecHandler.{name}"), Action.EXPORT,
                   f"pyarrow.fs.FSSpecHandler.{name}") for name in _raw.FS_OPENERS]
    raw_functions: list[tuple[str, Callable[..., bool]]] = [
        ("output_stream", _raw.always), ("memory_map", _raw.mode_writes),
        ("create_memory_map", _raw.always)]
    hooks += [Hook(pa, name, _raw.raw_function(f"pyarrow.{name}", writes), Action.EXPORT,
                   f"pyarrow.{name}") for name, writes in raw_functions]
    # the writers pyarrow exports under a second name (pa.RecordBatchFileWriter,
    # pyarrow.parquet.core.write_table, pyarrow._csv.CSVWriter, pyarrow.lib.OSFile, ...)
    return hooks + aliases(hooks, (pa, pq_core, pa_csv_lib, pa.lib))


def _raw_class(method: str, writes: Callable[..., bool]) -> Make:
    def make(original: Any) -> Any:
        return _raw.raw_class(original, method, writes)

    return make


def _filesystem_class(label: str) -> Make:
    def make(original: Any) -> Any:
        return _raw.filesystem_class(original, label)

    return make


def _file_class(method: str, reads: tuple[str, ...]) -> Make:
    def make(original: Any) -> Any:
        return _sealed.file_class(original, method, reads, _classified)

    return make


def _refusing_class(method: str) -> Make:
    def make(original: Any) -> Any:
        return _sealed.refusing_class(original, method)

    return make


def _classified(result: Any, opened: _sealed.Opened) -> Any:
    """What a reader kept on a sealed file returned, carrying the file's state: a table
    (``ParquetFile.read``) classified, the read recorded (decided again only when the values
    show more than the decision at open covered) and the state carried, as :func:`_reader`'s
    tables; a record batch (``iter_batches``, ``read_next_batch``, ``get_batch``) the state of
    the file, classified once per reader (:func:`_batch_state`); a batch with its metadata
    and an iterator of batches, each batch so."""
    if isinstance(result, pa.Table):
        state = govern_read(method=opened.method, target=opened.source,
                            frame=as_pandas(result),
                            embedded=metadata_declaration(result.schema.metadata),
                            decided=opened.decided)
        return carrying(result, state)
    if isinstance(result, pa.RecordBatch):
        return _carried_batch(result, opened)
    if isinstance(result, tuple) and result and isinstance(result[0], pa.RecordBatch):
        batch = _carried_batch(result[0], opened)  # RecordBatchWithMetadata, a named tuple
        return (result._replace(batch=batch) if hasattr(result, "_replace")
                else (batch, *result[1:]))
    if hasattr(result, "__next__"):  # ParquetFile.iter_batches, iter_batches_with_...
        return (_classified(item, opened) for item in result)
    return result


def _carried_batch(batch: pa.RecordBatch, opened: _sealed.Opened) -> pa.RecordBatch:
    """``batch`` carrying the state of the sealed file ``opened`` (one token per reader, in
    its schema; its columns recorded as the file's)."""
    if opened.state is None or opened.token is None:
        opened.state = _batch_state(batch, opened)
        opened.token = (_tokened(batch.schema, opened.state).metadata or {})[TOKEN_KEY]
    _TOKENS[opened.token] = opened.state  # kept while the reader is read (the LRU's newest)
    _TOKENS.move_to_end(opened.token)
    _arrays.mark_table(batch, opened.state)
    return batch.replace_schema_metadata({**(batch.schema.metadata or {}),
                                          TOKEN_KEY: opened.token})


def _batch_state(batch: pa.RecordBatch, opened: _sealed.Opened) -> DataState:
    """The state of the sealed file a reader reads, from its first batch (a sample of its
    rows) and the file's sidecar: classified and recorded as :func:`_dataset`'s sample is,
    decided again only when it shows more than the decision at open covered, and never below
    that decision (``govern_read``), which covers every later batch: without a trusted
    sidecar, a first block of placeholders made the emails of the next blocks PUBLIC. The
    metadata a Parquet file embeds binds the whole file's rows, not a batch's: the sidecar
    declares it."""
    n = batch.num_rows
    step = max(n // _settings().sample_rows, 1)
    sample = batch if step == 1 else batch.take(pa.array(range(0, n, step))[
        : _settings().sample_rows])
    return govern_read(method=opened.method, target=opened.source, frame=as_pandas(sample),
                       rows=-1, decided=opened.decided)


def _stream(method: str, schema_at: int | None) -> Make:
    def make(original: Any) -> Any:
        return _streams.governed_writer(original, method, schema_at=schema_at)

    return make


_HOOKS = Hooks(_hooks)
install, hold, installed = _HOOKS.install, _HOOKS.hold, _HOOKS.installed
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)


def uninstall() -> None:
    """Remove the hooks (unless held); the arrays recorded go with them (:mod:`._arrays`)."""
    _HOOKS.uninstall()
    if not _HOOKS.installed():
        _arrays.clear()


def release() -> None:
    """Release a hold; the arrays recorded go with the hooks (:mod:`._arrays`)."""
    _HOOKS.release()
    if not _HOOKS.installed():
        _arrays.clear()

__all__ = ["carrying", "classification", "hold", "input_state", "install", "installed",
           "release", "table_state", "tracked", "uninstall"]
