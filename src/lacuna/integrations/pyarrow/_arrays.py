"""Arrow arrays taken out of a governed table keep the class of the columns they hold.

An Arrow ``Table`` is a compiled type: ``table["salary"]``, ``table.column(i)``,
``Table.from_arrays``, ``set_column`` and ``append_column`` cannot be hooked, and an array has no
schema to carry the table's token. A salary taken out of a governed table, renamed
(``pa.table({"x": table["salary"]})``) or computed on (``pc.multiply(table["salary"], 1)``,
``pc.cast``, ``pc.replace_substring`` of an SSN) was classified from its new name and values
alone, and left as PUBLIC.

What the column holds is its memory: Arrow never copies a buffer it can share, so the
``ChunkedArray`` a table hands out, a slice, a rename, a new table or record batch built from it
all point at the same buffers. :data:`ORIGINS` records, for the buffers of each column of a
governed table (:func:`mark_table`) and of each ``pyarrow.compute`` result computed from governed
inputs (:func:`compute`), the :class:`Source` they were read from: the table's state and its
column. :func:`placed` finds, for a table about to be classified, the sources of each of its
columns by the buffers they are made of; the pyarrow integration describes them as the select
they amount to on each source (``DERIVE``) combined with the table (``COMBINE``), through
``Governor.inherit``, as polars does for its Series.

An entry is keyed by the buffer's address and size and checked against a fingerprint of its
bytes (whole up to :data:`_WHOLE` bytes, else the first and last :data:`_EDGE`): memory freed
and reused for other values does not match, and identical values at the same address are the
same data. The registry is bounded (:data:`MAX_CHUNKS`, oldest dropped first).

Every function of :mod:`pyarrow.compute` (the generated wrappers, ``cast``, ``take``,
``fill_null``, ``index``, ``top_k_unstable``/``bottom_k_unstable`` and ``call_function``, which
the array and table methods ``cast``, ``filter``, ``take``, ``sort_by``, ``unique``,
``dictionary_encode``, ... call themselves) is hooked, and ``pyarrow.acero._filter_table``
(``Table.filter`` given an expression): an array or table result computed from
governed inputs carries the union of their sources (every column of a governed table given
whole, unless the result is a table with the same column names: then column by column), so the
strictest class wins. A scalar result (``pc.max``) carries nothing (docs/integrations/frames.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lacuna.integrations.frames.hooks import outermost
from lacuna.lineage.state import DataState

MAX_CHUNKS = 100_000
MAX_SOURCES = 16  # sources kept per buffer; more are folded into the table-wide ones
_WHOLE = 256
_EDGE = 32
_PROBES = 6
Make = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """One governed table some values were read from: its state and the columns read. Equal
    by the state's identity (a state is shared, never copied, and hashing it whole would cost
    a walk of its lineage on every look-up)."""

    state: DataState
    columns: tuple[str, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source) and other.state is self.state and \
            other.columns == self.columns

    def __hash__(self) -> int:
        return hash((id(self.state), self.columns))


_Key = tuple[int, ...]  # (address, size) of each buffer of a chunk
_ORIGINS: OrderedDict[_Key, tuple[bytes, frozenset[Source]]] = OrderedDict()
_LOCK = threading.Lock()


def _chunks(values: Any) -> Iterator[tuple[_Key, list[pa.Buffer]]]:
    """Each chunk of an array or chunked array as the buffers it is made of (children's too,
    absent and empty ones left out), keyed by their addresses and sizes. A chunk is keyed by
    all its buffers together: an offsets buffer or a validity bitmap alone says little (any
    four seven-letter strings have the same offsets)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else (values,)
    for chunk in chunks:
        bufs = [b for b in chunk.buffers() if b is not None and b.size > 0 and b.is_cpu]
        if bufs:
            yield tuple(v for b in bufs for v in (b.address, b.size)), bufs


def _fingerprint(bufs: list[pa.Buffer]) -> bytes:
    """The bytes of a chunk's buffers: each whole up to :data:`_WHOLE` bytes, else its first
    and last :data:`_EDGE` and :data:`_PROBES` eight-byte windows spread between them."""
    parts = []
    for buf in bufs:
        view = memoryview(buf)
        size = buf.size
        if size <= _WHOLE:
            parts.append(view.tobytes())
            continue
        parts += [view[:_EDGE].tobytes(), view[-_EDGE:].tobytes()]
        step = size // (_PROBES + 1)
        parts += [view[i * step: i * step + 8].tobytes() for i in range(1, _PROBES + 1)]
    return b"".join(parts)


def mark(values: Any, sources: Iterable[Source], *, how: str = "replace") -> None:
    """Record that the buffers of ``values`` (an array or chunked array) hold ``sources``.

    ``how``:

    - ``"replace"`` (Arrow has just made the values: a read, a join, a ``pyarrow.compute``
      result, whose ``sources`` include those of any input buffer it shares): an entry for the
      same addresses and bytes is memory freed and reused, and is replaced;
    - ``"merge"`` (values that may be shared with memory Lacuna recorded: ``Table.from_pandas``
      of a frame over Arrow's own buffers): added to what is recorded, never lowering it;
    - ``"fill"`` (a tracked table Lacuna looks at): only chunks with no entry, so a column
      ``set_column`` put there keeps what it holds.
    """
    found = frozenset(sources)
    if not found:
        return
    for key, bufs in _chunks(values):
        fp = _fingerprint(bufs)
        with _LOCK:
            entry = _ORIGINS.get(key)
            here = found  # this chunk's: a merge adds what this chunk holds, not the last one's
            if entry is not None and entry[0] == fp:
                if how == "fill":
                    continue
                if how == "merge":
                    here = found | entry[1]
            _ORIGINS[key] = (fp, here if len(here) <= MAX_SOURCES else _folded(here))
            _ORIGINS.move_to_end(key)
            while len(_ORIGINS) > MAX_CHUNKS:
                _ORIGINS.popitem(last=False)


def _folded(sources: frozenset[Source]) -> frozenset[Source]:
    by_state: dict[int, Source] = {}
    for s in sources:
        seen = by_state.get(id(s.state))
        cols = tuple(dict.fromkeys((*(seen.columns if seen else ()), *s.columns)))
        by_state[id(s.state)] = Source(s.state, cols)
    return frozenset(by_state.values())


def origin(values: Any) -> frozenset[Source]:
    """The sources of an array or chunked array: those of every chunk made of the buffers of
    values read from governed tables (empty: none)."""
    if not isinstance(values, (pa.Array, pa.ChunkedArray)) or not _ORIGINS:
        return frozenset()
    found: set[Source] = set()
    for key, bufs in _chunks(values):
        entry = _ORIGINS.get(key)
        if entry is not None and entry[0] == _fingerprint(bufs):
            found |= entry[1]
    return frozenset(found)


def mark_table(table: Any, state: DataState, *, how: str = "replace") -> None:
    """Record each column of ``table`` (a table or record batch carrying ``state``) as that
    column of ``state`` (``how``: as :func:`mark`)."""
    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        return
    for name, column in zip(table.schema.names, table.columns, strict=True):
        mark(column, (Source(state, (str(name),)),), how=how)


def placed(table: Any) -> list[tuple[str, frozenset[Source]]]:
    """Each column of ``table`` whose buffers hold values read from governed tables, with
    their sources."""
    if not _ORIGINS:
        return []
    out: list[tuple[str, frozenset[Source]]] = []
    for name, column in zip(table.schema.names, table.columns, strict=True):
        found = origin(column)
        if found:
            out.append((str(name), found))
    return out


# -- pyarrow.compute --------------------------------------------------------------------------


def _flatten(args: Iterable[Any]) -> Iterator[Any]:
    for item in args:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        elif isinstance(item, dict):
            yield from _flatten(item.values())
        else:
            yield item


def _whole(table: Any, state_of: Callable[[Any], DataState | None]) -> frozenset[Source]:
    """A governed table given whole: its state over all its columns, plus what its columns'
    buffers hold (a column ``set_column`` put there)."""
    found: set[Source] = set()
    state = state_of(table)
    if state is not None:
        found.add(Source(state, tuple(str(n) for n in table.schema.names)))
    for _, sources in placed(table):
        found |= sources
    return frozenset(found)


def _inputs(args: Sequence[Any], kwargs: dict[str, Any],
            state_of: Callable[[Any], DataState | None]) -> tuple[frozenset[Source], list[Any]]:
    found: set[Source] = set()
    tables: list[Any] = []
    for item in _flatten((*args, *kwargs.values())):
        if isinstance(item, (pa.Array, pa.ChunkedArray)):
            found |= origin(item)
        elif isinstance(item, (pa.Table, pa.RecordBatch)):
            tables.append(item)
            found |= _whole(item, state_of)
    return frozenset(found), tables


def compute(original: Callable[..., Any], state_of: Callable[[Any], DataState | None]
            ) -> Callable[..., Any]:
    """A ``pyarrow.compute`` function whose array or table result computed from governed
    inputs carries their sources (module docstring)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(*args, **kwargs)
        if not _ORIGINS or not isinstance(result, (pa.Array, pa.ChunkedArray, pa.Table,
                                                   pa.RecordBatch)):
            return result
        sources, tables = _inputs(args, kwargs, state_of)
        if not sources:
            return result
        if isinstance(result, (pa.Array, pa.ChunkedArray)):
            mark(result, sources)
            return result
        names = list(result.schema.names)
        if len(tables) == 1 and names == list(tables[0].schema.names) and \
                len(sources) == len(_whole(tables[0], state_of)):
            # a table in, the same columns out (take, filter, drop_null, sort): column by column
            for name, before, after in zip(names, tables[0].columns, result.columns,
                                           strict=True):
                column = origin(before) or frozenset(
                    Source(s.state, (name,)) for s in sources if name in s.columns)
                mark(after, column)
        else:
            for column in result.columns:
                mark(column, sources)
        return result

    return call


def _functions() -> list[str]:
    names = [n for n, v in vars(pc).items()
             if not n.startswith("_") and callable(v) and
             (hasattr(v, "__arrow_compute_function__") or n in _PYTHON_FUNCTIONS)]
    return sorted(names)


# the functions pyarrow.compute defines in Python (the rest are generated wrappers)
_PYTHON_FUNCTIONS = frozenset({"cast", "take", "fill_null", "index", "top_k_unstable",
                               "bottom_k_unstable", "call_function"})


def hooks(state_of: Callable[[Any], DataState | None]) -> list[tuple[Any, str, Make]]:
    """The ``pyarrow.compute`` functions to hook, each made by :func:`compute`."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        return compute(original, state_of)

    specs: list[tuple[Any, str, Make]] = [(pc, name, make) for name in _functions()]
    try:  # ``Table.filter(expression)`` filters through acero, not pyarrow.compute
        import pyarrow.acero as pac
    except ImportError:
        return specs
    if hasattr(pac, "_filter_table"):
        specs.append((pac, "_filter_table", make))
    return specs


def clear() -> None:
    """Forget every recorded buffer (tests)."""
    with _LOCK:
        _ORIGINS.clear()


__all__ = ["MAX_CHUNKS", "Source", "clear", "compute", "hooks", "mark", "mark_table", "origin",
           "placed"]
