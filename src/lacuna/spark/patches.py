"""The pyspark methods Lacuna wraps, installed once per process by ``lacuna.spark.enable``.

Writers are listed in :data:`WRITER_METHODS` (``tests/spark`` checks the list against pyspark,
so a writer added by a future pyspark fails the suite until it is governed). A wrapped method
does exactly what pyspark does when its session is not governed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from lacuna import _bypass

# DataFrameWriter methods that write, and where their target is
PATH_WRITERS = ("save", "parquet", "csv", "json", "orc", "text", "xml")
TABLE_WRITERS = ("saveAsTable", "insertInto")
WRITER_METHODS = (*PATH_WRITERS, *TABLE_WRITERS, "jdbc")
# DataFrameWriter methods that only configure the write
WRITER_SETTERS = ("mode", "format", "option", "options", "partitionBy", "bucketBy", "sortBy",
                  "clusterBy")
V2_WRITERS = ("create", "replace", "createOrReplace", "append", "overwrite",
              "overwritePartitions")
V2_SETTERS = ("option", "options", "using", "tableProperty", "partitionedBy", "clusterBy")
READER_METHODS = ("load", "table", "parquet", "csv", "json", "orc", "text", "xml", "jdbc")
# RDD methods that write files (the first argument is the path) or a Hadoop output (a conf)
RDD_WRITERS = ("saveAsTextFile", "saveAsPickleFile", "saveAsHadoopFile",
               "saveAsNewAPIHadoopFile", "saveAsSequenceFile", "saveAsHadoopDataset",
               "saveAsNewAPIHadoopDataset")

_INSTALLED: list[tuple[Any, str, Any]] = []
_LOCK = threading.Lock()


def install() -> None:
    """Wrap pyspark's readers, writers and SQL entry point (idempotent)."""
    from pyspark.sql import SparkSession
    from pyspark.sql.readwriter import DataFrameReader, DataFrameWriter, DataFrameWriterV2

    with _LOCK:
        if _INSTALLED:
            return
        for name in PATH_WRITERS + TABLE_WRITERS + ("jdbc",):
            _patch(DataFrameWriter, name, _writer(name))
        for name in ("mode", "format", "option", "options"):
            _patch(DataFrameWriter, name, _setter(name))
        _patch(DataFrameWriterV2, "__init__", _v2_init)
        for name in V2_WRITERS:
            _patch(DataFrameWriterV2, name, _v2_writer(name))
        _patch(DataFrameWriterV2, "option", _setter("option"))
        _patch(DataFrameWriterV2, "options", _setter("options"))
        for name in READER_METHODS:
            _patch(DataFrameReader, name, _reader(f"DataFrameReader.{name}"))
        _patch(SparkSession, "table", _reader("SparkSession.table"))
        _patch(SparkSession, "sql", _sql)
        _patch(SparkSession, "createDataFrame", _create_dataframe)
        _patch(_classic_dataframe(), "checkpoint", _checkpoint)
        _patch(_classic_dataframe(), "toPandas", _to_pandas)
        if "toArrow" in _classic_dataframe().__dict__:  # pyspark 4
            _patch(_classic_dataframe(), "toArrow", _to_arrow)
        from pyspark import RDD

        for name in RDD_WRITERS:
            _patch(RDD, name, _rdd_writer(name))
        _patch(RDD, "checkpoint", _rdd_checkpoint)


def uninstall() -> None:
    with _LOCK:
        while _INSTALLED:
            owner, name, original = _INSTALLED.pop()
            setattr(owner, name, original)


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    original = owner.__dict__[name]
    wrapped = make(original)
    functools.update_wrapper(wrapped, original)
    wrapped.__lacuna_original__ = original
    setattr(owner, name, wrapped)
    _INSTALLED.append((owner, name, original))


def _settings(writer: Any) -> dict[str, Any]:
    found: dict[str, Any] = writer.__dict__.setdefault("_lacuna", {"options": {}})
    return found


def _setter(name: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def setter(self: Any, *args: Any, **kwargs: Any) -> Any:
            s = _settings(self)
            if name == "mode" and args:
                s["mode"] = args[0]
            elif name == "format" and args:
                s["format"] = args[0]
            elif name == "option" and len(args) >= 2:
                s["options"][str(args[0]).lower()] = args[1]
            elif name == "options":
                s["options"].update({str(k).lower(): v for k, v in kwargs.items()})
            return original(self, *args, **kwargs)

        return setter

    return make


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, key: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(key)


def _appends(mode: Any) -> bool:
    return str(mode or "").lower() in ("append",)


def _overwrite(spark: Any, mode: Any, options: dict[str, Any]) -> str | None:
    """How ``mode("overwrite")`` of a path overwrites it: ``"static"`` (Spark's default: all of
    it is replaced) or ``"dynamic"`` (only the partitions written are replaced, the others are
    kept: an append to the folder, docs/exceptions.md); None for another mode."""
    if str(mode or "").lower() != "overwrite":
        return None
    how = options.get("partitionoverwritemode")
    if how is None:
        try:
            how = spark.conf.get("spark.sql.sources.partitionOverwriteMode", "static")
        except Exception:  # cannot tell: taken as keeping what is there
            return "dynamic"
    return "static" if str(how).lower() == "static" else "dynamic"


def _writer(name: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            purpose = kwargs.pop("purpose", None)
            exception_id = kwargs.pop("exception_id", None)
            df = self._df
            from lacuna.spark.session import governed

            if not governed(df.sparkSession):
                return original(self, *args, **kwargs)
            from lacuna.spark import writes

            s = _settings(self)
            options = {**s["options"], **{k.lower(): v for k, v in kwargs.items()}}
            mode = kwargs.get("mode") or s.get("mode") or options.get("mode")
            fmt = kwargs.get("format") or s.get("format")
            if name == "jdbc" or (name == "save" and str(fmt).lower() == "jdbc"):
                url = _arg(args, kwargs, 0, "url") if name == "jdbc" else options.get("url")
                table = (_arg(args, kwargs, 1, "table") if name == "jdbc"
                         else options.get("dbtable"))
                target = writes.jdbc_target(str(url), str(table), append=_appends(mode))
            elif name == "saveAsTable":
                target = writes.table_target(
                    df.sparkSession, str(_arg(args, kwargs, 0, "name")), append=_appends(mode),
                    path=options.get("path"))
            elif name == "insertInto":
                overwrite = _arg(args, kwargs, 1, "overwrite")
                target = writes.table_target(
                    df.sparkSession, str(_arg(args, kwargs, 0, "tableName")),
                    append=not overwrite, views=True)
            else:
                path = _arg(args, kwargs, 0, "path") or options.get("path")
                if path is None:  # a sink without a path (a custom format): by its format
                    path = f"{fmt or 'spark'}://{options.get('dbtable') or 'unknown'}"
                if isinstance(path, (list, tuple)):
                    path = path[0]
                how = _overwrite(df.sparkSession, mode, options)
                target = writes.path_target(str(path), append=_appends(mode) or how == "dynamic",
                                            replaces=how == "static")
            return writes.govern_write(
                df, target, f"spark.DataFrameWriter.{name}",
                lambda: original(self, *args, **kwargs),
                purpose=purpose, exception_id=exception_id)

        return write

    return make


def _rdd_writer(name: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not _rdd_governed():
                return original(self, *args, **kwargs)
            where = (str(_arg(args, kwargs, 0, "path")) if name.endswith("File")
                     else f"hadoop://{name}")  # a Hadoop conf names the output: not a path
            return _govern_rdd_write(where, f"spark.RDD.{name}",
                                     lambda: original(self, *args, **kwargs))

        return write

    return make


def _rdd_checkpoint(original: Any) -> Any:
    """``rdd.checkpoint()`` marks the RDD to be written into the session's checkpoint
    directory at its next action: decided when it is marked, as the RDD writers are (what an
    RDD holds is unknown: PROPRIETARY going to that folder). Refused, it is not marked, so
    nothing is written; with no directory set, Spark refuses it itself."""

    def checkpoint(self: Any) -> Any:
        folder = _checkpoint_folder(self.context) if _rdd_governed() else None
        if folder is None:
            return original(self)
        return _govern_rdd_write(folder, "spark.RDD.checkpoint", lambda: original(self))

    return checkpoint


def _rdd_governed() -> bool:
    """Whether the active session is governed (an RDD names no session of its own)."""
    from pyspark.sql import SparkSession

    from lacuna.spark.session import governed

    spark = SparkSession.getActiveSession()
    return spark is not None and governed(spark)


def _govern_rdd_write(where: str, method: str, run: Callable[[], Any]) -> Any:
    """:func:`lacuna.spark.writes.govern_rdd_write` to ``where`` (a local path when it is
    one)."""
    from lacuna.spark import writes
    from lacuna.spark.sources import local_path

    return writes.govern_rdd_write(local_path(where) or where, method, run)


def _checkpoint_folder(context: Any) -> str | None:
    """The checkpoint directory set on a SparkContext (``setCheckpointDir``), or None."""
    from lacuna.spark import _jvm

    folder = _jvm.option(context._jsc.sc().getCheckpointDir())
    return None if folder is None else str(folder)


def _classic_dataframe() -> Any:
    """The DataFrame class a classic session's frames are (pyspark 4 keeps the methods on
    ``pyspark.sql.classic.dataframe.DataFrame``; the base class only declares them)."""
    from importlib import import_module

    try:
        return import_module("pyspark.sql.classic.dataframe").DataFrame
    except ImportError:  # pyspark before 4
        return import_module("pyspark.sql").DataFrame


def _checkpoint(original: Any) -> Any:
    """``df.checkpoint()`` writes the frame's rows into the session's checkpoint directory
    (``setCheckpointDir``), a folder the analyst chooses: decided as a write there, like
    ``df.write.parquet(dir)`` (a checkpoint directory under ~/Downloads is an export)."""

    def checkpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.spark.session import governed

        if not governed(self.sparkSession):
            return original(self, *args, **kwargs)
        from lacuna.spark import writes

        where = _checkpoint_folder(self.sparkSession.sparkContext)
        if where is None:  # no directory set: Spark refuses the checkpoint itself
            return original(self, *args, **kwargs)
        from lacuna.spark.sources import local_path

        return writes.govern_write(
            self, writes.path_target(local_path(where) or where, append=True),
            "spark.DataFrame.checkpoint", lambda: original(self, *args, **kwargs))

    return checkpoint


def _to_pandas(original: Any) -> Any:
    """``df.toPandas()``: the pandas frame carries the DataFrame's classification and lineage
    (:func:`lacuna.spark.reads.to_pandas`)."""

    def to_pandas(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.spark.session import governed

        if _bypass.active() or not governed(self.sparkSession):
            return original(self, *args, **kwargs)
        with _bypass.bypass():  # pyspark's own pandas calls are not the user's
            frame = original(self, *args, **kwargs)
        from lacuna.spark.reads import to_pandas as attach

        attach(self, frame)
        return frame

    return to_pandas


def _to_arrow(original: Any) -> Any:
    """``df.toArrow()``: the pyarrow table carries the DataFrame's classification and lineage
    (:func:`lacuna.spark.reads.to_arrow`), as ``toPandas`` does."""

    def to_arrow(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.spark.session import governed

        if _bypass.active() or not governed(self.sparkSession):
            return original(self, *args, **kwargs)
        with _bypass.bypass():  # pyspark's own Arrow calls are not the user's
            table = original(self, *args, **kwargs)
        from lacuna.spark.reads import to_arrow as carry

        return carry(self, table)

    return to_arrow


def _v2_init(original: Any) -> Any:
    def init(self: Any, df: Any, table: str) -> None:
        original(self, df, table)
        _settings(self)["table"] = table

    return init


def _v2_writer(name: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            df = self._df
            from lacuna.spark.session import governed

            if not governed(df.sparkSession):
                return original(self, *args, **kwargs)
            from lacuna.spark import writes

            s = _settings(self)
            target = writes.table_target(df.sparkSession, str(s.get("table")),
                                         append=name in ("append",),
                                         path=s["options"].get("path"),
                                         views=name.startswith(("append", "overwrite")))
            return writes.govern_write(df, target, f"spark.DataFrameWriterV2.{name}",
                                       lambda: original(self, *args, **kwargs))

        return write

    return make


def _session_of(obj: Any) -> Any:
    return getattr(obj, "_spark", None) or obj


def _reader(method: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            spark = self if method.startswith("SparkSession") else self._spark
            from lacuna.spark.session import governed

            if not governed(spark):
                return original(self, *args, **kwargs)
            with _bypass.bypass():  # a reader that calls another is one read
                result = original(self, *args, **kwargs)
            from lacuna.spark.reads import govern_read

            govern_read(result, f"spark.{method}")
            return result

        return read

    return make


def _sql(original: Any) -> Any:
    """``spark.sql(text, args, **kwargs)``, decided on the text Spark runs: pyspark first
    formats ``{name}`` with ``kwargs`` (a DataFrame becomes a temporary view), so that is done
    here, once; before, the unformatted text did not parse and the statement ran undecided."""

    def sql(self: Any, sqlQuery: str, *args: Any, **kwargs: Any) -> Any:
        from lacuna.spark.session import governed

        if not governed(self) or _bypass.active():
            return original(self, sqlQuery, *args, **kwargs)
        from lacuna.spark.statements import govern_sql

        params = args[0] if args else kwargs.pop("args", None)
        if not kwargs:
            return govern_sql(self, sqlQuery, lambda: original(self, sqlQuery, params), params)
        from pyspark.sql.sql_formatter import SQLStringFormatter

        formatter = SQLStringFormatter(self)
        text = formatter.format(sqlQuery, **kwargs)
        try:
            return govern_sql(self, text, lambda: original(self, text, params), params)
        finally:
            formatter.clear()

    return sql


def _create_dataframe(original: Any) -> Any:
    """``spark.createDataFrame(pandas_frame)``: the frame's Lacuna state is not data (pyspark
    would try to serialise it into the Arrow schema); its classification becomes the new
    DataFrame's, so a frame classified in pandas keeps its classification in Spark."""

    def create(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        import pandas as pd

        from lacuna.lineage.state import ATTRS_KEY

        if not isinstance(data, pd.DataFrame) or ATTRS_KEY not in data.attrs:
            return original(self, data, *args, **kwargs)
        from lacuna.governor import current
        from lacuna.lineage.frames import effective_state

        with _bypass.bypass():
            state = effective_state(data, current().config.classification)
            clean = data.copy(deep=False)
            clean.attrs = {k: v for k, v in data.attrs.items() if k != ATTRS_KEY}
            result = original(self, clean, *args, **kwargs)
        from lacuna.spark.session import governed
        from lacuna.spark.sources import declare_frame

        if governed(self):
            declare_frame(result, state.classification)
        return result

    return create
