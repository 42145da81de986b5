"""Arrow's module functions that copy values into new buffers keep what the values held.

``pa.concat_arrays`` (and ``ChunkedArray.combine_chunks``, which calls it by ``pyarrow.lib``'s
own name: both names are hooked), ``pa.array`` of an array or chunked array,
``pa.concat_batches`` and ``pa.concat_tables`` (whose columns share the inputs' chunks unless
``promote_options`` casts them) copy values into new buffers in C++, where the buffers recorded
by :mod:`._arrays` are not found again: a salary combined into one chunk and renamed was
classified from its new name and values. Each hook records its result as holding what its
inputs held (an input's own chunks, shared, keep their entry). ``pa.chunked_array`` copies
nothing, but a result of several chunks is indexed by what it holds (:func:`._arrays.index`),
for the copy ``Table.combine_chunks`` (a compiled method, not hookable) makes of it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.pyarrow._arrays import (
    Source,
    chunk_keys,
    index,
    mark,
    mark_new,
    origin,
    recording,
)
from lacuna.lineage.state import DataState, get_state

Make = Callable[[Callable[..., Any]], Callable[..., Any]]


def _own(data: Any, name: str, state_of: Callable[[Any], DataState | None]) -> set[Source]:
    """What column ``name`` of a table or batch holds: its buffers' sources and, when the
    table is tracked, that column of its state."""
    found = set(origin(data.column(name), deep=True))
    state = state_of(data)
    if state is not None:
        found.add(Source(state, (name,)))
    return found


def concat_arrays(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pa.concat_arrays(arrays)``, which ``ChunkedArray.combine_chunks`` calls (through
    ``pyarrow.lib``'s own name, hooked too): new buffers holding every input's values."""

    def call(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        given = list(arrays) if isinstance(arrays, (list, tuple, Iterator)) else arrays
        with outermost():
            result = original(given, *args, **kwargs)
        if recording() and isinstance(given, list):
            mark(result, [s for a in given for s in origin(a, deep=True)], deep=True)
        return result

    return call


def chunked_array(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pa.chunked_array(arrays)``: its chunks are the arrays' own (found by their buffers),
    or converted from governed pandas or polars Series (:func:`_mark_converted`); a result
    of several is indexed by what it holds, for the copy ``Table.combine_chunks`` makes of
    it."""

    def call(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        given = list(arrays) if isinstance(arrays, (list, tuple, Iterator)) else arrays
        with outermost():
            result = original(given, *args, **kwargs)
        if isinstance(given, list) and isinstance(result, pa.ChunkedArray):
            _mark_converted(given, result)
        if recording() and isinstance(given, list) and isinstance(result, pa.ChunkedArray) and \
                result.num_chunks > 1:
            index(result, frozenset(s for a in given for s in origin(a, deep=True)))
        return result

    return call


def _mark_converted(given: list[Any], result: Any) -> None:
    """The chunks ``pa.chunked_array`` converted from governed pandas or polars Series (by
    ``pyarrow.lib``'s ``array``, called from inside, where its hook passes through) hold what
    those Series held (:func:`series_sources`); the chunks of Arrow arrays are their own."""
    found = [series_sources(item) for item in given]
    if not any(found):
        return
    if len(given) != result.num_chunks:  # chunks not one per item: every chunk (fail closed)
        mark(result, frozenset().union(*found), how="merge", deep=True)
        return
    for sources, chunk in zip(found, result.chunks, strict=True):
        mark(chunk, sources, how="merge", deep=True)


def array(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pa.array(values)``, and ``pyarrow.lib``'s own ``array``, which Arrow's constructors
    call by name for each column they are given (``pa.table({...})``, ``Table.from_pydict``,
    ``Table.from_arrays``, ``RecordBatch.from_arrays``, ``pa.record_batch``,
    ``Array.from_pandas``: compiled methods, not hookable themselves). The result holds what the
    values held: an Arrow array or chunked array (which it copies into one array when it has
    several chunks) by its buffers; a governed pandas or polars Series by the column it holds
    (:func:`series_sources`), whose values Arrow copies into new buffers: a religion renamed
    ``code`` in ``pa.table({"code": series})`` was classified from its new name and values, and
    written as PUBLIC."""

    def call(obj: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(obj, *args, **kwargs)
        if isinstance(obj, (pa.Array, pa.ChunkedArray)):
            if recording():
                mark(result, origin(obj, deep=True), how="merge", deep=True)
            return result
        found = series_sources(obj)
        if found and isinstance(result, (pa.Array, pa.ChunkedArray)):
            mark(result, found, how="merge", deep=True)
        return result

    return call


def series_sources(obj: Any) -> frozenset[Source]:
    """What a pandas or polars Series Arrow is given holds: the column of its frame's state a
    governed pandas Series holds (all of them when the state does not say which: fail
    closed), or a pandas Index made of one (:func:`_index_sources`), or the sources the
    polars integration recorded for a Series taken out of a governed frame. Empty for
    anything else, and for a Series Lacuna never saw (classified from its values where it is
    written)."""
    package = type(obj).__module__.partition(".")[0]  # pandas names its Series' module "pandas"
    if package == "pandas":
        return _pandas_sources(obj)
    if package == "polars":
        polars_series = sys.modules.get("lacuna.integrations.polars._series")
        taken = polars_series.SERIES.get(obj) if polars_series is not None else None
        if taken is not None and taken.sources:
            return frozenset(taken.sources)
        if recording() and hasattr(obj, "__arrow_c_stream__"):
            # a Series whose Arrow buffers are recorded (a polars frame or Series exports
            # them as it hands them out): read them again, without a copy (only polars:
            # another producer's stream may be one that can be read once, a reader)
            with outermost():
                return origin(pa.chunked_array(obj), deep=True)
    return frozenset()


def _pandas_sources(series: Any) -> frozenset[Source]:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(series, pd.Index):
        return _index_sources(series)
    if pd is None or not isinstance(series, pd.Series) or get_state(series) is None:
        return frozenset()
    from lacuna.governor import current
    from lacuna.lineage.frames import effective_state

    whole = effective_state(series, current().config.classification)
    names = list(whole.classification.columns)
    name = str(series.name)
    if name in names:
        return frozenset((Source(whole, (name,)),))
    if len(names) == 1:
        return frozenset((Source(whole, (names[0],)),))
    return frozenset((Source(whole, tuple(names)),))


def _index_sources(index: Any) -> frozenset[Source]:
    """A pandas Index that carries a governed column's content (``set_index``, a column made
    an Index: :func:`lacuna.lineage.frames.index_content`): that column of its frame's state
    (every column whose class it is, or all of them when none is: fail closed)."""
    from lacuna.lineage.frames import index_content

    content = index_content(index)
    if content is None:
        return frozenset()
    columns = content.state.classification.columns
    names = tuple(n for n, c in columns.items() if c is content.column) or tuple(columns)
    return frozenset((Source(content.state, names),)) if names else frozenset()


def _concatenated(state_of: Callable[[Any], DataState | None]) -> Make:
    """``pa.concat_tables(tables)`` and ``pa.concat_batches(batches)``: each column of the
    result holds what the same-named column of every input held. ``concat_tables`` shares the
    inputs' chunks (found by their buffers, left as they are) unless it promotes types
    (``promote_options``: cast, new buffers); ``concat_batches`` copies."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(items: Any, *args: Any, **kwargs: Any) -> Any:
            given = list(items) if isinstance(items, (list, tuple, Iterator)) else items
            with outermost():
                result = original(given, *args, **kwargs)
            if not recording() or not isinstance(given, list) or \
                    not isinstance(result, (pa.Table, pa.RecordBatch)):
                return result
            inputs = [t for t in given if isinstance(t, (pa.Table, pa.RecordBatch))]
            shared = {key for t in inputs for column in t.columns for key in chunk_keys(column)}
            for name, column in zip(result.schema.names, result.columns, strict=True):
                found = frozenset(s for t in inputs if name in t.schema.names
                                  for s in _own(t, str(name), state_of))
                if found:
                    mark_new(column, found, shared)
                    if isinstance(column, pa.ChunkedArray) and column.num_chunks > 1:
                        index(column, found)
            return result

        return call

    return make


def hooks(state_of: Callable[[Any], DataState | None]) -> list[tuple[Any, str, Make]]:
    """Arrow's copying functions to hook (``pyarrow.lib``'s ``concat_arrays`` too, which
    ``ChunkedArray.combine_chunks`` calls)."""
    copying = _concatenated(state_of)
    specs: list[tuple[Any, str, Make]] = [
        (pa, "concat_arrays", concat_arrays), (pa.lib, "concat_arrays", concat_arrays),
        (pa, "array", array), (pa.lib, "array", array), (pa, "chunked_array", chunked_array)]
    specs += [(pa, name, copying) for name in ("concat_tables", "concat_batches")
              if hasattr(pa, name)]
    return specs


__all__ = ["array", "chunked_array", "concat_arrays", "hooks"]
