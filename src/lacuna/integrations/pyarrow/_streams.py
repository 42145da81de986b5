"""pyarrow's streaming writers under the pipeline: ``pyarrow.parquet.ParquetWriter``,
``pyarrow.csv.CSVWriter``, ``pyarrow.orc.ORCWriter`` and the IPC writers
(``pyarrow.ipc.RecordBatchFileWriter``/``RecordBatchStreamWriter``, which
``pyarrow.ipc.new_file``/``new_stream`` construct).

A streaming writer is opened once and written many times, so no single call holds what it
writes. Each class is replaced by a subclass that governs the stream as one export:

- **at open**, the destination is decided with what the schema's names say (a denial raises
  before anything is created);
- **each write** (``write``, ``write_table``, ``write_batch``) adds its rows: the stream's
  classification is the union of what was written (the combine rule, ``Governor.inherit``),
  decided again whenever a batch adds a class or tag; a denial raises before that batch is
  written, is recorded, and the stream writes nothing more;
- the library writes into a **private staged file** (0700 scratch folder, never at the
  destination), so a stream denied at any batch leaves no readable output where it was
  going (the staged file is removed);
- **at close**, the union is decided, recorded and published by the same code as
  ``pyarrow.parquet.write_table`` (:func:`lacuna.integrations.frames.io.govern_write`): the
  staged file is moved into place (sealed under a governed root), with its sidecar and its
  lineage run. One decision and its outcome are recorded for an allowed stream.

A stream to a **sink** is governed the same way, by what the sink names (the rule of every
writer, pandas' included): an open file object with a path (its ``name``, or the file its
descriptor is open on, ``pa.OSFile``'s too) is decided as that path, an Arrow stream that
writes to a place Lacuna cannot name (``pa.PythonFile`` over a buffer, a compressed stream) as
``stream://pyarrow.<type>``
(an unmanaged place: personal data is denied), and the staged bytes are written into the sink
at close. Under a governed root a file object is refused at open (``StorageError``: Lacuna
cannot seal bytes written into the caller's file). A buffer in memory (``io.BytesIO``,
``pa.BufferOutputStream``) is no export and is not governed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any

from lacuna import _bypass
from lacuna.errors import ComponentImportError, GovernanceViolation, StorageError
from lacuna.integrations.frames.hooks import inside, outermost
from lacuna.integrations.pyarrow import _raw
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Action, Classification, Tier

WRITES = ("write", "write_table", "write_batch")  # the methods that add rows, where present


def _governs(where: Any) -> bool:
    return isinstance(where, str | os.PathLike) and bool(os.fspath(where).strip())


def _sink_name(where: Any) -> Any:
    """What a stream into the sink ``where`` is decided as (see the module docstring): the
    open file object itself (named by its path), ``stream://pyarrow.<type>``, or None for a
    buffer in memory (not an export)."""
    from lacuna.integrations.pandas._frames import file_path
    from lacuna.integrations.pyarrow import _native_target

    if file_path(where) is not None:
        return where
    return _native_target(where)


class Stream:
    """One governed stream: what it wrote so far, where it is staged, whether it was denied."""

    def __init__(self, writer: Any, target: Any, method: str, *, filesystem: Any,
                 exception_id: str | None, purpose: str | None, named: Any = None) -> None:
        from lacuna.storage.frames import scratch

        self.writer, self.target, self.method = writer, target, method
        # what the stream is decided as: the path, or for a sink what it names (_sink_name)
        self.named = target if named is None else named
        self.filesystem = filesystem
        self.exception_id, self.purpose = exception_id, purpose
        self.state: DataState | None = None
        self.columns: tuple[str, ...] = ()
        self.rows = 0
        self.denial: GovernanceViolation | None = None
        self._depth = 0  # ParquetWriter.write calls its own write_table: one batch, once
        self._scratch = contextlib.ExitStack()
        folder = self._scratch.enter_context(scratch())
        name = (os.path.basename(os.path.normpath(os.fspath(target)))
                if _governs(target) else "") or "stream"
        self.staged = os.path.join(folder, name)

    # -- decisions ------------------------------------------------------------------------------

    def open(self, schema: Any) -> None:
        """Decide the destination before anything is created, on what the schema names say.

        Raises:
            StorageError: a sink under a governed root, which Lacuna cannot seal.
        """
        if not _governs(self.target):
            self._refuse_unsealable_sink()
        if schema is not None:
            from lacuna.integrations.pyarrow import table_state

            self.columns = tuple(schema.names)
            self._check(table_state(schema.empty_table()))
        else:  # ORC: no schema until the first table
            self._check(_empty("nothing written yet: the destination is decided"))

    @contextlib.contextmanager
    def adding(self, data: Any) -> Iterator[None]:
        """Around one write of ``data``: its rows join the stream's classification, decided
        before the library writes them."""
        if self.denial is not None:
            raise self.denial
        if self._depth == 0:
            self._add(data)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def _add(self, data: Any) -> None:
        from lacuna.integrations.pyarrow import table_state

        batch = table_state(data)
        self.rows += int(getattr(data, "num_rows", 0) or 0)
        if not self.columns:
            self.columns = tuple(data.schema.names)
        if self.state is not None and _covers(self.state.classification, batch.classification):
            return  # nothing new: the union (and its decision) stands
        merged = batch if self.state is None else self._union(batch)
        self._check(merged)
        self.state = merged

    def _union(self, batch: DataState) -> DataState:
        from lacuna.governor import current
        from lacuna.lineage.step import Step, StepInput, StepKind

        assert self.state is not None
        step = Step(kind=StepKind.COMBINE, operation=self.method,
                    inputs=(StepInput.of(self.state), StepInput.of(batch)),
                    outputs=self.columns)
        return current().inherit(step).state()

    def _check(self, state: DataState) -> None:
        """Decide an export of ``state`` to the target without recording it when allowed
        (the stream's one record is made at close); a denial is recorded (``govern``) and
        ends the stream: its staged output is removed."""
        from lacuna.governor import current
        from lacuna.integrations.pandas._frames import code_location, user_frame
        from lacuna.lineage.frames import with_labels
        from lacuna.model import Source

        gov = current()
        # the schema's names are the file's header: decided as govern_write decides them
        state = with_labels(state, list(self.columns), gov.config.classification)
        op = gov.operation(
            Action.EXPORT, state.classification,
            sources=[Source(name=r, classification=state.classification)
                     for r in state.lineage.roots()],
            destination=gov.destination(self._display()), method=self.method,
            code_location=code_location(user_frame()), purpose=self.purpose,
            exception_id=self.exception_id)
        decision = gov.decide(op)
        if decision.allowed:
            return
        try:  # records the denial; raises in enforce, warns in warn/observe
            gov.govern(op, decision=decision)
        except GovernanceViolation as exc:
            self.denial = exc
            self.discard()
            raise

    def _refuse_unsealable_sink(self) -> None:
        from lacuna.governor import current
        from lacuna.model import DestinationType

        gov = current()
        from lacuna.storage import refuse_unnamed_file

        refuse_unnamed_file(self.method, self._display(), gov)  # a file object, path unknown
        if (gov.destination(self._display()).type is DestinationType.GOVERNED_STORAGE
                and gov.config.storage.encrypt):
            from lacuna.integrations.pandas._patch import no_plaintext
            from lacuna.storage import refuse_unsealable

            no_plaintext()
            refuse_unsealable(self.method, self._display())  # as write_table to a file object

    def _display(self) -> str:
        from lacuna.integrations.pandas._frames import display_name

        return display_name(self.named)

    # -- close ----------------------------------------------------------------------------------

    def finish(self, close: Callable[[], Any]) -> Any:
        """Close the library's writer, then decide the stream as one export and publish it
        (``govern_write``); denied or failed, the staged file is removed, nothing published."""
        try:
            result = close()
            if self.denial is None:
                self._publish_governed()
            return result
        finally:
            self.discard()

    def _publish_governed(self) -> None:
        from lacuna.integrations.frames.io import govern_write

        state = self.state
        if state is None:  # opened and closed without rows: what the schema said
            from lacuna.integrations.pyarrow import table_state

            state = table_state(self.writer.schema.empty_table()) if getattr(
                self.writer, "schema", None) is not None else _empty("no rows")
        govern_write(self.writer, state, self.named, self._publish, method=self.method,
                     columns=self.columns, rows=self.rows, embeds=False,
                     exception_id=self.exception_id, purpose=self.purpose)

    def _publish(self, declaration: Any, to: Any = None) -> None:  # noqa: ARG002 (no embedding)
        dest = self.target if to is None else to
        if hasattr(dest, "write"):  # a sealing stream into governed storage
            with open(self.staged, "rb") as src:
                shutil.copyfileobj(src, dest, 1 << 20)
            return
        from lacuna.integrations.frames.io import local_path

        path = local_path(dest) if self.filesystem is None or to is not None else None
        if path is not None:
            shutil.move(self.staged, path)
            return
        from pyarrow import fs as pafs

        filesystem, where = ((self.filesystem, os.fspath(dest)) if self.filesystem is not None
                             else pafs.FileSystem.from_uri(os.fspath(dest)))
        pafs.copy_files(self.staged, where, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=filesystem)

    def discard(self) -> None:
        self._scratch.close()  # removes the private folder and the staged file with it


def _covers(current: Classification, more: Classification) -> bool:
    """Whether ``more`` adds nothing to ``current``: no higher tier, no new tag or column."""
    return (more.tier <= current.tier and set(more.tags) <= set(current.tags)
            and set(more.columns) <= set(current.columns))


def _empty(why: str) -> DataState:
    """A stream with nothing written (yet): PUBLIC, for ``why``."""
    return DataState(classification=Classification(tier=Tier.PUBLIC, reasoning=(why,)),
                     lineage=LineageNode(name="<stream>", operation="stream"))


def _never_plain(where: Any, method: str, exc: Exception) -> None:
    """After Lacuna failed at a stream's open: a stream into sealed governed storage is
    refused in every mode (never run ungoverned, which would write plaintext there).

    Raises:
        StorageError: ``where`` is (or is a file object on) a path under a governed root.
    """
    from lacuna.integrations.frames.io import local_path
    from lacuna.integrations.pandas._frames import file_path
    from lacuna.storage.frames import writes_sealed

    try:
        sealed = writes_sealed(local_path(where) if _governs(where) else file_path(where))
    except Exception:  # Lacuna cannot tell either: as any internal error
        return
    if sealed:
        msg = (f"{method} to {where} is refused: it writes into sealed governed storage and "
               f"Lacuna failed before it could seal the stream ({type(exc).__name__}). "
               "Nothing was written.")
        raise StorageError(msg) from exc


def _sparks_own(where: Any) -> bool:
    """Whether pyspark itself writes ``where``, a file in the active SparkContext's temporary
    folder: ``createDataFrame(pandas_df)`` hands its Arrow batches to the JVM through such a
    file, which Spark reads and deletes. That is no export (the DataFrame's class is the Spark
    integration's business, :mod:`lacuna.spark`); decided as one, it was refused, and pyspark
    fell back to its slow path with a warning. Only pyspark's own calls count (the first caller
    outside pyarrow and Lacuna's hooks), into that folder only."""
    if "pyspark" not in sys.modules:  # the common case: no Spark in this process
        return False
    from pyspark import SparkContext

    from lacuna.integrations import callers
    from lacuna.integrations.pandas._frames import file_path

    temp = getattr(SparkContext._active_spark_context, "_temp_dir", None)
    path = os.fspath(where) if _governs(where) else file_path(where)
    if not temp or path is None:
        return False
    if not os.path.realpath(path).startswith(os.path.realpath(temp) + os.sep):
        return False
    frame = callers.first_caller(callers.among(
        (callers.GUARD,), packages=("pyarrow", "lacuna.integrations")))
    return callers.module_of(frame).startswith("pyspark.")


def governed_writer(original: Any, method: str, *, schema_at: int | None) -> type:
    """A subclass of the library's writer class ``original`` that governs a stream to a path
    (see the module docstring). ``schema_at``: the position of the ``schema`` argument after
    ``where``, None when the class takes none (ORC)."""
    from lacuna.governor import current, governing

    def __init__(self: Any, where: Any, *args: Any, **kwargs: Any) -> None:
        exception_id = kwargs.pop("exception_id", None)
        purpose = kwargs.pop("purpose", None)
        self._lacuna_stream = None
        named = None if _governs(where) else _sink_name(where)
        if inside() or _bypass.active() or not governing() or (
                not _governs(where) and named is None) or _sparks_own(where):
            with outermost():
                original.__init__(self, where, *args, **kwargs)
            return
        stream: Stream | None = None
        given: Any = kwargs.get("filesystem")
        target: Any = where
        try:
            given = kwargs.pop("filesystem", None)
            target, filesystem = where, given
            on_disk = _raw.local_file(given, where) if given is not None else None
            if on_disk is not None:  # a local file system's path: governed as the local file
                target, filesystem = on_disk, None
            stream = Stream(self, target, method, filesystem=filesystem,
                            exception_id=exception_id, purpose=purpose, named=named)
            schema = (args[schema_at] if schema_at is not None and len(args) > schema_at
                      else kwargs.get("schema"))
            stream.open(schema)
        except (GovernanceViolation, StorageError, ComponentImportError):
            # refused at open, or a part of Lacuna that does not import (what to install):
            # fail closed in every mode, as the other hooks do; its private folder goes too
            if stream is not None:
                stream.discard()
            raise
        except Exception as exc:  # Lacuna failed: enforce denies; warn/observe run ungoverned
            if stream is not None:
                stream.discard()
            _never_plain(target, method, exc)
            current().internal_error(exc, action=Action.EXPORT, method=method)
            if given is not None:
                kwargs["filesystem"] = given
            with outermost():
                original.__init__(self, where, *args, **kwargs)
            return
        try:
            with outermost():
                original.__init__(self, stream.staged, *args, **kwargs)
        except BaseException:
            stream.discard()
            raise
        self._lacuna_stream = stream

    def writing(name: str) -> Callable[..., Any]:
        plain = getattr(original, name)

        def write(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
            stream: Stream | None = getattr(self, "_lacuna_stream", None)
            if stream is None:
                return plain(self, data, *args, **kwargs)
            with stream.adding(data), outermost():
                return plain(self, data, *args, **kwargs)

        write.__name__ = write.__qualname__ = name
        write.__doc__ = plain.__doc__
        return write

    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        stream: Stream | None = getattr(self, "_lacuna_stream", None)
        if stream is None:
            return original.close(self, *args, **kwargs)
        self._lacuna_stream = None  # published (or not) once

        def closing() -> Any:
            with outermost():
                return original.close(self, *args, **kwargs)

        return stream.finish(closing)

    namespace: dict[str, Any] = {
        "__init__": __init__, "close": close, "__doc__": original.__doc__,
        "__module__": original.__module__, "__qualname__": original.__qualname__,
        **{n: writing(n) for n in WRITES if hasattr(original, n)},
    }
    return type(original.__name__, (original,), namespace)
