"""pyarrow's readers that keep their source open, on sealed governed files.

``pq.read_table`` reads a sealed file from its decrypted stream and is done with it
(:func:`lacuna.integrations.frames.io.read_source`). These readers hold their source for as
long as they live, so the decrypted stream is handed over to them instead of being closed when
the call returns:

- ``pyarrow.parquet.ParquetFile`` and ``pyarrow.orc.ORCFile`` (classes: a subclass opens a
  sealed source through :func:`lacuna.storage.open_governed`, decided and audited before
  anything is decrypted; the tables its ``read`` methods return are classified and carry the
  state, as ``pq.read_table``'s do, and so do the record batches (``iter_batches``,
  ``read_stripe``); ``close()`` closes the stream, which puts the read's outcome on the audit
  trail);
- ``pyarrow.ipc.RecordBatchFileReader`` and ``RecordBatchStreamReader`` made directly (as
  the classes above, their batches too: ``get_batch``, ``read_next_batch``, iterating;
  ``ipc.open_file`` and ``open_stream``, hooked as functions, return such a reader);
- ``pyarrow.csv.open_csv`` and ``pyarrow.json.open_json`` (a streaming reader over the
  decrypted stream, decompressed by the file's name as pyarrow does a file: ``x.csv.gz``; on
  a sealed file it is a ``pyarrow.RecordBatchReader`` whose batches carry the state).

A record batch is a piece of the file: classified by its values alone, a batch of a few rows
(``iter_batches(batch_size=2)``) whose columns say nothing by their names or values (a renamed
``hiv_status`` of 0s and 1s) was PUBLIC, and written on to an unmanaged folder. So each batch
a reader hands on carries the state of the file (:class:`Opened`: classified once per reader,
with the file's sidecar, from its first batch), as ``pq.read_table``'s table does.

``pyarrow.parquet.ParquetDataset`` opens its files by path itself (one fragment per file, read
lazily), which cannot be given a decrypted stream: on a sealed file or a folder holding one it
is refused with a ``StorageError`` naming the readers that decrypt (``pq.read_table``,
``pyarrow.dataset.dataset``), never left to parse ciphertext.

Without a sealed file in the source, each is pyarrow's own: nothing is decided here (an
unsealed file is classified where its rows are used, as a record batch stream's are).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lacuna import _bypass
from lacuna.errors import StorageError
from lacuna.integrations.frames.hooks import inside, outermost

_DECRYPTING = ("pq.read_table(path)", "pq.ParquetFile(path)",
               "pyarrow.dataset.dataset(path)")


class Opened:
    """A reader's sealed file: where it is, its decrypted stream (None: read into memory
    first, ``ipc.open_file``), the classification the read was decided on, and the state its
    record batches carry once the first one is classified (see the module docstring)."""

    def __init__(self, source: Any, stream: Any, method: str, decided: Any) -> None:
        self.source, self.stream, self.method, self.decided = source, stream, method, decided
        self.state: Any = None  # the file's DataState, set at the first batch
        self.token: bytes | None = None  # the schema token that carries it

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def _governing() -> bool:
    from lacuna.governor import governing

    return not (inside() or _bypass.active() or not governing())


def open_source(source: Any, method: str, kwargs: dict[str, Any]) -> Any | None:
    """The decrypted stream of ``source`` when it names one sealed governed file (decided and
    audited by :func:`lacuna.storage.open_governed`: a denial raises before anything is
    decrypted), else None (pyarrow reads ``source`` as it is). A local ``filesystem=`` given
    with the path is dropped (the stream is the file); another file system's path is never
    taken for a local file.

    Raises:
        StorageError: ``source`` is a folder or pattern holding sealed files (this reader
            takes one file).
    """
    from lacuna.integrations.frames.io import local_path
    from lacuna.integrations.pandas._frames import code_location, user_frame
    from lacuna.integrations.pyarrow._raw import local_file
    from lacuna.storage import frames, open_governed

    given = kwargs.get("filesystem")
    target = source
    if given is not None:
        target = local_file(given, source)
        if target is None:
            return None
    files = frames.sealed_files(target)
    if not files:
        frames.refuse_sealed_bytes(target, method)  # an open file on one: never ciphertext
        return None
    path = local_path(target)
    if path is None or not os.path.isfile(path) or len(files) != 1:
        shown = target if isinstance(target, (list, tuple)) else os.fspath(target)
        msg = (f"{method} reads one file; {shown} holds sealed governed files "
               f"({len(files)}), which it would read as ciphertext. Read them with "
               f"{' or '.join(_DECRYPTING[::2])}, which decrypt them (decided and audited). "
               "Nothing was read.")
        raise StorageError(msg)
    kwargs.pop("filesystem", None)
    return open_governed(files[0], method=method, code_location=code_location(user_frame()))


def refuse_sealed(source: Any, method: str, kwargs: dict[str, Any]) -> None:
    """A reader that opens files by path itself (``ParquetDataset``) is refused on sealed files.

    Raises:
        StorageError: ``source`` is (or holds) a sealed governed file.
    """
    from lacuna.integrations.pyarrow._raw import local_file
    from lacuna.storage import frames

    given = kwargs.get("filesystem")
    target = source if given is None else local_file(given, source)
    if target is None or not frames.sealed_files(target):
        return
    shown = target if isinstance(target, (list, tuple)) else os.fspath(target)
    msg = (f"{method} opens its files by path itself and would read ciphertext: {shown} is "
           f"(or holds) a sealed governed file. Read it with {' or '.join(_DECRYPTING[::2])} "
           "(filters= and columns= as here), which decrypt it (decided and audited). Nothing "
           "was read.")
    raise StorageError(msg)


def _source(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    return args[0] if args else kwargs.get(name)


def file_class(original: Any, method: str, reads: tuple[str, ...],
               classify: Callable[[Any, Opened], Any]) -> type:
    """A subclass of ``original`` (``ParquetFile``, ``ORCFile``, the IPC readers) that opens a
    sealed source decrypted (:func:`open_source`); what its ``reads`` methods return (a
    table, a record batch, a batch with its metadata, an iterator of batches) goes through
    ``classify(result, opened)`` (the pyarrow integration: classified, the read recorded, the
    state carried)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._lacuna_read = None
        source = _source(args, kwargs, "source")
        stream = open_source(source, method, kwargs) if _governing() else None
        if stream is None:
            with outermost():
                original.__init__(self, *args, **kwargs)
            return
        if args:
            args = (stream, *args[1:])
        else:
            kwargs["source"] = stream
        try:
            with outermost():
                original.__init__(self, *args, **kwargs)
        except BaseException:
            stream.close()
            raise
        # the sealed file's real path (a SubTreeFileSystem's path names it relative)
        self._lacuna_read = Opened(getattr(stream.raw, "name", source), stream, method,
                                   stream.raw.decided_on)

    def reading(name: str) -> Callable[..., Any]:
        plain = getattr(original, name)

        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            opened = getattr(self, "_lacuna_read", None)
            if opened is None or inside():  # a read method calling another: classified once
                return plain(self, *args, **kwargs)
            with outermost():
                result = plain(self, *args, **kwargs)
            return classify(result, opened)

        read.__name__ = read.__qualname__ = name
        read.__doc__ = plain.__doc__
        return read

    def close(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            original.close(self, *args, **kwargs)
        finally:
            opened = getattr(self, "_lacuna_read", None)
            if opened is not None:
                opened.close()

    namespace: dict[str, Any] = {"__init__": __init__, "__doc__": original.__doc__,
                                 "__module__": original.__module__}
    namespace.update({name: reading(name) for name in reads if hasattr(original, name)})
    if hasattr(original, "close"):
        namespace["close"] = close
    return type(original.__name__, (original,), namespace)


def refusing_class(original: Any, method: str) -> type:
    """A subclass of ``original`` (``ParquetDataset``) refused on sealed files
    (:func:`refuse_sealed`), pyarrow's own otherwise."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if _governing():
            refuse_sealed(_source(args, kwargs, "path_or_paths"), method, kwargs)
        with outermost():
            original.__init__(self, *args, **kwargs)

    return type(original.__name__, (original,), {
        "__init__": __init__, "__doc__": original.__doc__, "__module__": original.__module__})


def streaming_opener(method: str, decompressed: Callable[[Any, Any], Any],
                     classify: Callable[[Any, Opened], Any]) -> Callable[..., Any]:
    """The hook maker of ``pyarrow.csv.open_csv`` and ``pyarrow.json.open_json`` (``method``):
    a sealed file is read from its decrypted stream (``decompressed(stream, source)``: by the
    file's name, as pyarrow does a file). pyarrow's reader is compiled (no attribute can mark
    it), so it is handed on inside a ``pyarrow.RecordBatchReader`` of the same schema whose
    batches go through ``classify(batch, opened)`` (they carry the file's state); the
    decrypted stream is closed when the last batch was read (the outcome on the audit trail),
    or when the reader is."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def open_(source: Any, *args: Any, **kwargs: Any) -> Any:
            stream = open_source(source, method, kwargs)
            if stream is None:
                with outermost():
                    return original(source, *args, **kwargs)
            try:
                with outermost():
                    reader = original(decompressed(stream, source), *args, **kwargs)
                opened = Opened(getattr(stream.raw, "name", source), stream, method,
                                stream.raw.decided_on)
                return _carrying_reader(reader, opened, classify)
            except BaseException:
                stream.close()
                raise

        return open_

    return make


def _carrying_reader(reader: Any, opened: Opened, classify: Callable[[Any, Opened], Any]) -> Any:
    """``reader``'s batches, each through ``classify``, as a ``pyarrow.RecordBatchReader``
    whose schema carries the state too (its ``read_all`` table is the file's). The first batch
    is read now (pyarrow's CSV reader has parsed it already, to know the schema): the state
    is the file's from the start."""
    import pyarrow as pa

    with outermost():
        try:
            first = reader.read_next_batch()
        except StopIteration:
            first = None
    empty = pa.RecordBatch.from_pylist([], schema=reader.schema)
    head = classify(first if first is not None else empty, opened)

    def batches() -> Any:
        try:
            if first is not None:
                yield head
            while True:
                with outermost():
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        return
                yield classify(batch, opened)
        finally:
            opened.close()

    return pa.RecordBatchReader.from_batches(head.schema, batches())
