"""What a relation is converted to (a pandas, polars or Arrow frame, a reader) carries its
classification; so do the connection's fetchers of a pending result."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from lacuna import _bypass
from lacuna.integrations.duckdb import computed
from lacuna.integrations.duckdb._base import PENDING, Make, _gov
from lacuna.integrations.duckdb._relations import _object_state, relation_state
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import STATES, effective
from lacuna.lineage.frames import attach
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Action, Source


def _converter(to: str) -> Make:
    """A relation's ``df``/``pl``/``to_arrow_table``/``to_arrow_reader``/…: what it returns
    carries the relation's state (:func:`carrying`)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def convert(self: Any, *args: Any, **kwargs: Any) -> Any:
            state = relation_state(self)
            with outermost(), _bypass.bypass():
                result = original(self, *args, **kwargs)
            if to == "pandas":
                if hasattr(result, "columns"):  # what no source accounts for: by its values
                    rows = int(_gov().config.classification.sample_rows)
                    state = computed.sampled(
                        state, [str(c) for c in result.columns],
                        lambda at: result.head(rows).iloc[:, at],
                        _gov().config.classification, reads_source=False,
                        whole=lambda at: _scannable(result, at))
                attach(result, state.classification, state.lineage, origins=state.origins)
                return result
            return carrying(result, state)

        return convert

    return make


def carrying(result: Any, state: DataState) -> Any:
    """``result`` (a pandas, polars or Arrow frame, or an Arrow reader) with ``state`` projected
    to its columns; a reader is handed back as one whose batches carry it. Anything else (the
    dict of arrays ``fetchnumpy``/``torch``/``tf`` give) is returned as it is."""
    import pandas as pd
    import pyarrow as pa

    from lacuna.integrations.pyarrow import _arrays

    config = _gov().config.classification
    rows = int(config.sample_rows)
    if isinstance(result, pa.RecordBatchReader):
        return _carrying_reader(result, state)
    if isinstance(result, (pd.DataFrame, pa.Table, pa.RecordBatch)) or type(
            result).__module__.startswith("polars"):  # what no source accounts for: its values
        state = computed.sampled(state, _names(result), lambda at: _head(result, rows).iloc[
            :, at], config, reads_source=False, whole=lambda at: _scannable(result, at))
    if isinstance(result, pd.DataFrame):
        now = effective(state, [str(c) for c in result.columns],
                        lambda names: result.head(rows)[list(names)], config)
        return attach(result, now.classification, now.lineage, origins=now.origins)
    if isinstance(result, (pa.Table, pa.RecordBatch)):
        now = effective(state, list(result.schema.names),
                        lambda names: result.slice(0, rows).to_pandas()[list(names)], config)
        STATES.set(result, now)
        _arrays.mark_table(result, now, how="merge")  # an array taken out keeps its class
        return result
    if type(result).__module__.startswith("polars"):
        def sample(names: Any) -> Any:
            head = result.head(rows)
            return (head.collect() if hasattr(head, "collect") else head).to_pandas()[
                list(names)]

        STATES.set(result, effective(state, list(result.collect_schema().names()), sample,
                                     config))
    return result


def _scannable(result: Any, positions: list[int]) -> Any:
    """A DuckDB relation of the columns at ``positions`` of every row of ``result`` (a pandas,
    Arrow or polars frame a relation was converted to), for :func:`computed.sampled`'s scan of
    what the user holds (not a second run of the source). On a scratch in-memory connection
    of Lacuna's, one cursor per call (a connection is not shared between threads)."""
    import pyarrow as pa

    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = duckdb.connect()
    con = _SCRATCH.cursor()
    with _bypass.bypass(), outermost():
        if isinstance(result, pa.RecordBatch):
            result = pa.Table.from_batches([result])
        if hasattr(result, "collect_schema"):  # polars
            collected = result.collect() if hasattr(result, "collect") else result
            rel = con.from_arrow(collected.to_arrow())
        elif isinstance(result, pa.Table):
            rel = con.from_arrow(result)
        else:
            rel = con.from_df(result.iloc[:, positions])
            return rel.project(", ".join(f"#{i + 1}" for i in range(len(positions))))
        return rel.project(", ".join(f"#{i + 1}" for i in positions))


_SCRATCH: Any = None


def _names(result: Any) -> list[str]:
    """The column names of a pandas, Arrow or polars frame."""
    import pyarrow as pa

    if isinstance(result, (pa.Table, pa.RecordBatch)):
        return [str(n) for n in result.schema.names]
    if hasattr(result, "collect_schema"):
        return [str(n) for n in result.collect_schema().names()]  # polars, lazy too
    return [str(c) for c in result.columns]


def _head(result: Any, rows: int) -> Any:
    """The first ``rows`` rows of a pandas, Arrow or polars frame, as pandas."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(result, pd.DataFrame):
        return result.head(rows)
    if isinstance(result, (pa.Table, pa.RecordBatch)):
        return result.slice(0, rows).to_pandas()
    head = result.head(rows)
    return (head.collect() if hasattr(head, "collect") else head).to_pandas()  # polars


def _carrying_reader(reader: Any, state: DataState) -> Any:
    """An Arrow reader over ``reader``'s batches, each carrying ``state`` (a table read from
    it, ``read_all()`` or ``Table.from_batches``, is recognised by its columns' buffers)."""
    import pyarrow as pa

    def batches() -> Any:
        for batch in reader:
            yield carrying(batch, state)

    out = pa.RecordBatchReader.from_batches(reader.schema, batches())
    STATES.set(out, state)
    return out


def _fetcher(module: bool) -> Make:
    """A connection's (``module``: the default connection's) ``df``/``fetchdf``/
    ``fetch_df_chunk``/``to_arrow_table``/``to_arrow_reader``/…: what it fetches of the pending
    result carries the state of the statement that made it (:data:`PENDING`)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def fetch(*args: Any, **kwargs: Any) -> Any:
            obj = args[0] if args else kwargs.get("df", kwargs.get("arrow_object"))
            # duckdb.df(frame), duckdb.arrow(table): creators; duckdb.fetch_df_chunk(1),
            # duckdb.to_arrow_table(1000): fetchers with a count
            if module and _is_data(obj):
                return _created(lambda: original(*args, **kwargs), obj, "duckdb.from_object")
            con = (kwargs.get("connection") or duckdb.default_connection()) if module \
                else args[0]
            state = PENDING.get(con)
            with outermost(), _bypass.bypass():
                result = original(*args, **kwargs)
            return result if state is None else carrying(result, state)

        return fetch

    return make


def _is_data(obj: Any) -> bool:
    """Whether ``obj`` is a frame or table a module function makes a relation of (pandas,
    polars, Arrow), not a fetcher's argument (a count, a flag)."""
    return obj is not None and type(obj).__module__.partition(".")[0] in (
        "pandas", "polars", "pyarrow")


@contextmanager
def _users_own_errors() -> Iterator[None]:
    """DuckDB refusing the user's input inside a hook (a frame with no columns, a bad
    argument): the user's error, raised as plain DuckDB raises it, not a failure of Lacuna's
    (:func:`lacuna.integrations.pandas._patch.users_error`)."""
    try:
        yield
    except duckdb.Error as exc:
        from lacuna.integrations.pandas._patch import users_error

        users_error(exc)
        raise


def _created(make_relation: Callable[[], Any], obj: Any, method: str) -> Any:
    """A relation made over a Python object (``from_df``, ``from_arrow``): governed as a read
    of the object, as ``duckdb.sql("SELECT * FROM frame")`` is, and carrying its state."""
    state = _object_state(obj)
    if state is not None:
        gov = _gov()
        gov.govern(gov.operation(Action.READ, state.classification, method=method, sources=[
            Source(name=r, classification=state.classification)
            for r in state.lineage.roots()]))
    with _users_own_errors(), outermost():
        rel = make_relation()
    if state is not None and isinstance(rel, duckdb.DuckDBPyRelation):
        if computed.one_shot(obj):  # its rows are the user's to read once: never sampled
            from dataclasses import replace

            state = replace(state, lineage=LineageNode(name=None, operation=method,
                                                       parents=(state.lineage,)))
            computed.once(state.lineage)
        STATES.set(rel, state)
    return rel
