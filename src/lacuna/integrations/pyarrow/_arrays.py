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

Arrow's module functions that copy values into new buffers are hooked too
(:mod:`._copies`). ``Table.combine_chunks`` cannot be hooked: columns are also indexed by what
they hold (:func:`index`), and a column whose buffers Lacuna never saw is matched there
(:func:`_by_content`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lacuna import _bypass
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.placing import Source
from lacuna.lineage.state import DataState
from lacuna.model import ColumnKind

MAX_CHUNKS = 100_000
MAX_SOURCES = 16  # sources kept per buffer; more are folded into the table-wide ones
_WHOLE = 256
_EDGE = 32
_PROBES = 6
Make = Callable[[Callable[..., Any]], Callable[..., Any]]


_Key = tuple[int, ...]  # (address, size) of each buffer of a chunk
_ORIGINS: OrderedDict[_Key, tuple[bytes, frozenset[Source]]] = OrderedDict()
_LOCK = threading.Lock()


def _chunks(values: Any) -> Iterator[tuple[Any, _Key, list[pa.Buffer]]]:
    """Each chunk of an array or chunked array with the buffers it is made of (children's too,
    absent and empty ones left out), keyed by their addresses and sizes. A chunk is keyed by
    all its buffers together: an offsets buffer or a validity bitmap alone says little (any
    four seven-letter strings have the same offsets)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else (values,)
    for chunk in chunks:
        bufs = [b for b in chunk.buffers() if b is not None and b.size > 0 and b.is_cpu]
        if bufs:
            yield chunk, tuple(v for b in bufs for v in (b.address, b.size)), bufs


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


def mark(values: Any, sources: Iterable[Source], *, how: str = "replace",
         deep: bool = False) -> None:
    """Record that the buffers of ``values`` (an array or chunked array) hold ``sources``;
    ``deep``, each child of a nested chunk too (an Arrow copy's new buffers: a field taken out
    of a struct ``concat_arrays`` made holds what the struct does).

    ``how``:

    - ``"replace"`` (Arrow has just made the values: a read, a join, a ``pyarrow.compute``
      result, whose ``sources`` include those of any input buffer it shares): an entry for the
      same addresses and bytes is memory freed and reused, and is replaced;
    - ``"merge"`` (values that may be shared with memory Lacuna recorded: ``Table.from_pandas``
      of a frame over Arrow's own buffers): added to what is recorded, never lowering it.
    """
    found = frozenset(sources)
    if not found:
        return
    for chunk, key, bufs in _chunks(values):
        if deep and (pa.types.is_nested(chunk.type) or pa.types.is_dictionary(chunk.type)):
            for child in _children(chunk):
                mark(child, found, how=how, deep=True)
        fp = _fingerprint(bufs)
        with _LOCK:
            entry = _ORIGINS.get(key)
            here = found  # this chunk's: a merge adds what this chunk holds, not the last one's
            if how == "merge" and entry is not None and entry[0] == fp:
                here = found | entry[1]
            _record(key, fp, here)
    if isinstance(values, pa.ChunkedArray) and values.num_chunks > 1:
        index(values, found)


def _record(key: _Key, fp: bytes, sources: frozenset[Source]) -> None:
    """One chunk's entry, newest last, the oldest dropped past :data:`MAX_CHUNKS` (held
    ``_LOCK``)."""
    _ORIGINS[key] = (fp, sources if len(sources) <= MAX_SOURCES else _folded(sources))
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


# -- values Arrow copies where Lacuna cannot see it ------------------------------------------------
#
# ``Table.combine_chunks()`` is a method of a compiled type (``pa.Table`` is immutable: it cannot
# be hooked) that concatenates each column's chunks into new buffers in C++; other copies leave
# Arrow and come back unchanged (``to_pylist``, an IPC stream in memory). So each column of a
# table Lacuna reads, converts or first sees tracked, and each chunked result of several chunks,
# is also indexed by what it holds, whatever its chunks: its type, length, null count and a
# digest of its values at :data:`_SPREAD` + 1 positions spread over it. A column none of whose
# buffers Lacuna recorded that matches is taken for it, at the boundary and as an input of a
# hooked function (fail closed: public values of the same type and length, equal at every
# probe, are taken for the governed ones too).

MAX_CONTENTS = 10_000
_SPREAD = 16
_Look = tuple[Any, int, int]  # (type, length, hash of the first value): a cheap first look
_CONTENT: OrderedDict[bytes, tuple[_Look, frozenset[Source]]] = OrderedDict()
_LOOKS: Counter[_Look] = Counter()  # the entries' first looks
_SIZES: Counter[tuple[Any, int]] = Counter()  # and their types and lengths: cheaper still
_LENGTHS: Counter[int] = Counter()  # and their lengths alone (:func:`may_hold`)


def _kind(type_: Any) -> Any:
    """The type values are indexed under: text is text and bytes are bytes whatever their
    layout (pandas hands Arrow ``large_string``, Arrow's CSV reader gives ``string``, polars
    ``string_view``), so a religion renamed ``code`` written as CSV bytes in memory and read
    back by Arrow was not matched, and came back PUBLIC."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or (
            hasattr(pa.types, "is_string_view") and pa.types.is_string_view(type_)):
        return pa.string()
    if pa.types.is_binary(type_) or pa.types.is_large_binary(type_) or (
            hasattr(pa.types, "is_binary_view") and pa.types.is_binary_view(type_)):
        return pa.binary()
    return type_


def _look(values: Any) -> _Look | None:
    """The first look at what ``values`` hold: type (:func:`_kind`), length, first value."""
    n = len(values)
    if n < 2 or pa.types.is_nested(values.type) or pa.types.is_dictionary(values.type):
        return None
    try:
        first = values[0].as_py()
    except (pa.ArrowException, TypeError, ValueError):  # a type with no Python value
        return None
    return _kind(values.type), n, hash(repr(first))


def _positions(n: int) -> list[int]:
    """The positions a digest reads of ``n`` values: the first, the last, 15 between."""
    return sorted({0, n - 1, *(n * k // _SPREAD for k in range(1, _SPREAD))})


def _picked(values: Any) -> list[Any] | None:
    """The values at :func:`_positions` (None: a type Arrow cannot take from)."""
    at = _positions(len(values))
    try:
        with _bypass.bypass(), outermost():
            if _kind(values.type) == values.type:
                return values.take(at).to_pylist()  # type: ignore[no-any-return]
            # text or bytes: views (polars' string_view) have no ``take`` kernel
            return [values[i].as_py() for i in at]
    except (pa.ArrowException, TypeError, ValueError):  # a type Arrow cannot take from
        return None


def _digest(values: Any, picked: list[Any]) -> bytes:
    seen = repr((str(_kind(values.type)), len(values), values.null_count, picked)).encode()
    return hashlib.blake2b(seen, digest_size=16).digest()


def _content(values: Any) -> bytes | None:
    """A digest of what ``values`` hold, independent of how they are chunked (None: a type
    Arrow cannot take from)."""
    picked = _picked(values)
    return None if picked is None else _digest(values, picked)


# -- values joined in Python into new text ---------------------------------------------------------
#
# ``[" ".join(p) for p in zip(df["first"], df["last"])]``, ``[f"{e}:{s}" for e, s in ...]`` or
# ``[str(v) for v in s]`` make new strings: no digest of the column finds them, and a coded
# religion or salary numbers joined into a text column under another name exported as PUBLIC.
# Each column indexed by what it holds also keeps its values at the digest's positions, as
# text (:data:`_TOKENS`, by length); a text column of a length some of them have, whose values
# at those positions contain each of one column's values as a whole token (bounded by the
# text's ends or by characters that are not letters or digits), at every position, holds that
# column. Only columns with at least :data:`_TOKENS_MIN` values there, two of them different,
# are kept (a constant column would be found in any text that repeats its one value), and a
# candidate whose texts there are all the same is not matched (a constant text, "yes or no",
# carries no row's value). Values joined out of order, cut, or written otherwise
# (``f"{v:.2f}"`` of 30000 is "30000.00", not the token "30000") are not found.

_TOKENS_MIN = 4
_TOKENS: dict[int, dict[bytes, tuple[str | None, ...]]] = {}  # length -> digest -> values


def _keep_tokens(values: Any, digest: bytes, picked: list[Any]) -> None:
    """Keep ``picked`` (the values at :func:`_positions`) as text for :func:`_joined` (held
    ``_LOCK``)."""
    if pa.types.is_boolean(values.type) or pa.types.is_nested(values.type) or \
            pa.types.is_binary(_kind(values.type)):
        return
    texts = tuple(None if v is None or str(v) == "" else str(v) for v in picked)
    kept = [t for t in texts if t is not None]
    if len(kept) >= _TOKENS_MIN and len(set(kept)) >= 2:
        _TOKENS.setdefault(len(values), {})[digest] = texts


def _drop_tokens(length: int, digest: bytes) -> None:
    by_digest = _TOKENS.get(length)
    if by_digest is not None:
        by_digest.pop(digest, None)
        if not by_digest:
            del _TOKENS[length]


def _token_in(text: str, token: str) -> bool:
    """Whether ``token`` occurs in ``text`` bounded by its ends or by characters that are not
    letters or digits (``f1`` in ``"f1 E001"``, not in ``"f12"``)."""
    start = text.find(token)
    while start >= 0:
        end = start + len(token)
        if (start == 0 or not text[start - 1].isalnum()) and \
                (end == len(text) or not text[end].isalnum()):
            return True
        start = text.find(token, start + 1)
    return False


def _joined(values: Any) -> frozenset[Source]:
    """The sources of the indexed columns whose values the text ``values`` hold, each as a
    whole token at every position a digest reads (the block above)."""
    by_digest = _TOKENS.get(len(values))
    if not by_digest or _kind(values.type) != pa.string():
        return frozenset()
    texts = _picked(values)
    if texts is None or len(set(texts)) < 2:
        return frozenset()
    found: set[Source] = set()
    for digest, tokens in list(by_digest.items()):
        if all(token is None or (text is not None and _token_in(text, token))
               for text, token in zip(texts, tokens, strict=True)):
            entry = _CONTENT.get(digest)
            if entry is not None:
                found |= _personal(entry[1])
    return frozenset(found)


def _decoded(values: Any) -> Any:
    """Dictionary-encoded values as the values they stand for (a pandas ``Categorical`` Arrow
    was given, ``pa.Table.from_pandas`` of a category column, ``dictionary_encode()``): what
    they hold is matched whatever their encoding; None when they cannot be decoded."""
    try:
        with _bypass.bypass(), outermost():
            return values.cast(values.type.value_type)
    except (pa.ArrowException, TypeError, ValueError):  # no cast to its values' type
        return None


def index(values: Any, sources: frozenset[Source]) -> bytes | None:
    """Index values as holding ``sources`` by what they hold (added to what is indexed); the
    digest they are indexed by (None: not indexed)."""
    if sources and pa.types.is_dictionary(values.type) and len(values) >= 2:
        values = _decoded(values)
        if values is None:
            return None
    look = _look(values) if sources else None
    picked = _picked(values) if look is not None else None
    if look is None or picked is None:
        return None
    digest = _digest(values, picked)
    with _LOCK:
        before = _CONTENT.pop(digest, None)
        if before is None:
            _LOOKS[look] += 1
            _SIZES[look[:2]] += 1
            _LENGTHS[look[1]] += 1
            _keep_tokens(values, digest, picked)
        _CONTENT[digest] = (look, sources if before is None else
                            _bounded(_folded(before[1] | sources)))
        while len(_CONTENT) > MAX_CONTENTS:
            gone, (dropped, _) = _CONTENT.popitem(last=False)
            _forget(_LOOKS, dropped)
            _forget(_SIZES, dropped[:2])
            _forget(_LENGTHS, dropped[1])
            _drop_tokens(dropped[1], gone)
    return digest


def _bounded(sources: frozenset[Source]) -> frozenset[Source]:
    """At most one source per class it gives the values, past :data:`MAX_SOURCES`: the same
    values taken out again and again under states of their own (``(s + "").tolist()`` in a
    loop, each result a state) piled one source per state onto one entry, and every later
    match was derived from each (60 of them: a ``pd.Series`` of the values cost 6 ms, and
    growing). Sources that class the values alike decide alike: one is kept (the lineage
    names one of their datasets, not all)."""
    if len(sources) <= MAX_SOURCES:
        return sources
    kept: dict[tuple[Any, ...], Source] = {}
    for source in sources:
        found = source.state.classification
        classes = tuple((c.classification, c.pii_type, c.sensitivity, c.pieces)
                        for c in (found.columns.get(n) for n in source.columns) if c is not None)
        kept.setdefault((found.tier, found.tags, found.floor, found.table_tags, classes),
                        source)
    if len(kept) > MAX_SOURCES:  # still more: the strictest tiers are kept
        return frozenset(sorted(kept.values(), key=lambda s: s.state.classification.tier,
                                reverse=True)[:MAX_SOURCES])
    return frozenset(kept.values())


def still_indexed(digest: bytes) -> bool:
    """Whether values indexed by ``digest`` (what :func:`index` returned) are still indexed,
    kept as the newest when so (the index keeps :data:`MAX_CONTENTS` and drops the oldest)."""
    with _LOCK:
        if digest not in _CONTENT:
            return False
        _CONTENT.move_to_end(digest)
        return True


def indexed(digest: bytes) -> bool:
    """Whether values indexed by ``digest`` are still indexed, without keeping them as the
    newest (one look-up: for a hook that runs at every single value, and indexes them again
    once they are dropped)."""
    return digest in _CONTENT


def may_hold(n: int) -> bool:
    """Whether values of length ``n`` may match a column indexed by what it holds (one
    dictionary look-up: what a hook given a plain list or array pays before converting it)."""
    return n in _LENGTHS


def held(values: Any) -> Any:
    """A list or 1-D NumPy array as Arrow makes it (``pa.array(values)``), when that matches by
    what it holds a column indexed above public (:func:`taken`: values a classified pandas or
    polars Series handed out, ``df["religion"].tolist()``), else None: pandas' and polars'
    constructors given such values hold that column. Values of a length no indexed column has
    cost one look-up (``pd.Series`` is built everywhere)."""
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) < 2 or \
            not may_hold(len(values)):
        return None
    try:
        with _bypass.bypass(), outermost():
            arrow = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # no Arrow form
        return None
    return arrow if origin(arrow) else None


def _forget(counts: Counter[Any], key: Any) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def frame_column(result: Any, position: int, name: str) -> Any:
    """Column ``position`` (named ``name``) of what a whole-frame exit handed out as NumPy
    values (pandas ``to_numpy()``/``values``/``to_records()``, polars ``to_numpy()``): the
    2-D array's column, or the structured array's field, in the dtype the library chose for
    the whole frame, contiguous as Arrow reads it; None when ``result`` holds no such
    column (a structured array without that field, anything that is not a NumPy array)."""
    if not isinstance(result, np.ndarray):
        return None
    if result.dtype.names:  # a record array, to_numpy(structured=True)
        return np.ascontiguousarray(result[name]) if name in result.dtype.names else None
    if result.ndim != 2 or position >= result.shape[1]:
        return None
    return np.ascontiguousarray(result[:, position])


def _personal(sources: Iterable[Source]) -> frozenset[Source]:
    """The sources that class the values they hold above public (what a content match may
    add: evidence for a stricter class, never for a laxer one)."""
    return frozenset(s for s in sources if any(
        (c := s.state.classification.columns.get(name)) is not None and
        c.classification is not ColumnKind.PUBLIC for name in s.columns))


def taken(values: Any, sources: Iterable[Source]) -> bytes | None:
    """Index ``values`` (a list, a NumPy array or an Arrow array) a pandas or polars Series
    handed out of a governed column (``tolist()``, ``to_numpy()``, ``list(s)``) as holding
    ``sources``, when those class it above public: a Python list or an array of objects keeps
    no buffer Lacuna recorded, and a religion coded ``f1``..``f5`` taken out that way and built
    into an Arrow table under another name (``pa.table({"code": s.tolist()})``) was classified
    from its new name and values alone, and written as PUBLIC. The values are indexed as Arrow
    makes them of that very object (``pa.array(values)``), so the same values built into Arrow
    again match (:func:`_by_content`), after a ``pickle``, ``copy.deepcopy``, JSON or
    ``np.concatenate`` of its parts too; values changed, reordered or cut (a sort, a slice)
    no longer match, and are classified from their names and values. Returns the digest they
    are indexed by (None: not indexed)."""
    found = _personal(sources)
    if not found or len(values) < 2:
        return None
    try:
        with _bypass.bypass(), outermost():
            arrow = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else \
                pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # no Arrow form
        return None
    return index(arrow, found)


def _by_content(values: Any) -> frozenset[Source]:
    """The sources of values whose buffers Lacuna never saw, matched by what they hold: those
    that class the values above public only (a match is evidence for a stricter class, never
    for a laxer one than their names and values give)."""
    if not _SIZES:
        return frozenset()
    if pa.types.is_dictionary(values.type):  # matched as the values it stands for
        if (_kind(values.type.value_type), len(values)) not in _SIZES and \
                len(values) not in _TOKENS:
            return frozenset()
        values = _decoded(values)
        if values is None:
            return frozenset()
    return _same_content(values) or _joined(values)


def _same_content(values: Any) -> frozenset[Source]:
    if (_kind(values.type), len(values)) not in _SIZES:
        return frozenset()
    look = _look(values)
    if look is None or look not in _LOOKS:
        return frozenset()
    digest = _content(values)
    entry = _CONTENT.get(digest) if digest is not None else None
    if entry is None:
        return frozenset()
    return _personal(entry[1])


def origin(values: Any, *, deep: bool = False) -> frozenset[Source]:
    """The sources of an array or chunked array: those of every chunk made of the buffers of
    values read from governed tables (empty: none). ``deep``: a nested chunk not recorded
    whole (a struct ``Table.to_struct_array`` made of a table's columns, a list, a
    dictionary) holds what its children hold; for the values an Arrow copy is made of and for
    a table about to be classified, not for ``pyarrow.compute`` inputs, whose zero-copy
    results (``struct_field``) share a child's buffers and would record every field there."""
    if not isinstance(values, (pa.Array, pa.ChunkedArray)) or not (_ORIGINS or _SIZES):
        return frozenset()
    found: set[Source] = set()
    for chunk, key, bufs in _chunks(values):
        entry = _ORIGINS.get(key)
        if entry is not None and entry[0] == _fingerprint(bufs):
            found |= entry[1]
        elif deep and (pa.types.is_nested(chunk.type) or pa.types.is_dictionary(chunk.type)):
            for child in _children(chunk):
                found |= origin(child, deep=True)
    return frozenset(found) if found else _by_content(values)


def _children(chunk: Any) -> list[Any]:
    """The arrays a nested chunk is made of (a struct's fields, a list's values, a
    dictionary's indices and values)."""
    if isinstance(chunk, pa.StructArray):
        return [chunk.field(i) for i in range(chunk.type.num_fields)]
    if isinstance(chunk, pa.DictionaryArray):
        return [chunk.indices, chunk.dictionary]
    values = getattr(chunk, "values", None)  # lists, maps, run-end encoded
    return [values] if isinstance(values, pa.Array) else []


def mark_table(table: Any, state: DataState, *, how: str = "replace") -> None:
    """Record each column of ``table`` (a table or record batch carrying ``state``) as that
    column of ``state`` (``how``: as :func:`mark`), and index it by what it holds."""
    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        return
    for name, column in zip(table.schema.names, table.columns, strict=True):
        sources = frozenset((Source(state, (str(name),)),))
        mark(column, sources, how=how)
        if not isinstance(column, pa.ChunkedArray) or column.num_chunks < 2:
            index(column, sources)  # (several chunks: mark indexed it)


def matched(table: Any) -> None:
    """A table read back from bytes in memory (an IPC, Parquet or CSV buffer Lacuna did not
    export): each column that matches, by what it holds, values recorded before holds them
    too (added to what it holds)."""
    if not _SIZES:
        return
    for column in table.columns:
        found = _by_content(column)
        if found:
            mark(column, found, how="merge")


def placed(table: Any, state: DataState | None = None) -> list[tuple[str, frozenset[Source]]]:
    """Each column of ``table`` whose buffers hold values read from governed tables, with
    their sources. A column none of whose chunks Lacuna recorded is matched by what it holds
    (a copy: ``Table.combine_chunks``). With ``state`` (the table's tracked state), chunks with
    no entry are recorded first, as what that match found or else as that column of ``state``
    (a table Arrow made without Python, a dataset's ``to_table``: its arrays are recorded when
    Lacuna looks at it), in the same pass: each chunk is fingerprinted once."""
    if state is None and not (_ORIGINS or _SIZES):
        return []
    out: list[tuple[str, frozenset[Source]]] = []
    for name, column in zip(table.schema.names, table.columns, strict=True):
        found: set[Source] = set()
        fresh: list[tuple[_Key, bytes]] = []
        for chunk, key, bufs in _chunks(column):
            fp = _fingerprint(bufs)
            entry = _ORIGINS.get(key)
            if entry is not None and entry[0] == fp:
                found |= entry[1]
                continue
            fresh.append((key, fp))
            if pa.types.is_nested(chunk.type) or pa.types.is_dictionary(chunk.type):
                for child in _children(chunk):
                    found |= origin(child, deep=True)
        if fresh or not found:
            copied = _by_content(column) if not found else frozenset()
            own = frozenset((Source(state, (str(name),)),)) if state is not None else copied
            fill = copied | own  # what the table says of the column, never lowered by a match
            found |= fill
            if fresh and fill:
                with _LOCK:
                    for key, fp in fresh:
                        _record(key, fp, fill)
                if not copied:  # first seen here: indexed for the copies Arrow makes of it
                    index(column, frozenset(found))
        if found:
            out.append((str(name), frozenset(found)))
    return out


def mark_new(values: Any, sources: frozenset[Source], shared: set[_Key]) -> None:
    """Record the chunks of ``values`` not among ``shared`` (:func:`chunk_keys` of the inputs)
    as holding ``sources``: an input's chunk, public or not, keeps its own entry."""
    for chunk, key, bufs in _chunks(values):
        if key not in shared:
            if pa.types.is_nested(chunk.type) or pa.types.is_dictionary(chunk.type):
                for child in _children(chunk):
                    mark_new(child, sources, shared)
            fp = _fingerprint(bufs)
            with _LOCK:
                _record(key, fp, sources)


def chunk_keys(values: Any) -> set[_Key]:
    """The keys of the chunks of an array or chunked array (no bytes read)."""
    return {key for _, key, _ in _chunks(values)}


def recording() -> bool:
    """Whether any values are recorded (else nothing can hold governed values)."""
    return bool(_ORIGINS or _SIZES)


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
            state_of: Callable[[Any], DataState | None]
            ) -> tuple[frozenset[Source], list[tuple[Any, frozenset[Source]]]]:
    """The sources of a call's array and table arguments, and each table with its own."""
    found: set[Source] = set()
    tables: list[tuple[Any, frozenset[Source]]] = []
    for item in _flatten((*args, *kwargs.values())):
        if isinstance(item, (pa.Array, pa.ChunkedArray)):
            found |= origin(item)
        elif isinstance(item, (pa.Table, pa.RecordBatch)):
            whole = _whole(item, state_of)
            tables.append((item, whole))
            found |= whole
    return frozenset(found), tables


def compute(original: Callable[..., Any], state_of: Callable[[Any], DataState | None]
            ) -> Callable[..., Any]:
    """A ``pyarrow.compute`` function whose array or table result computed from governed
    inputs carries their sources (module docstring)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(*args, **kwargs)
        if not (_ORIGINS or _SIZES) or not isinstance(result, (pa.Array, pa.ChunkedArray, pa.Table,
                                                   pa.RecordBatch)):
            return result
        sources, tables = _inputs(args, kwargs, state_of)
        if not sources:
            return result
        if isinstance(result, (pa.Array, pa.ChunkedArray)):
            mark(result, sources)
            return result
        names = list(result.schema.names)
        if len(tables) == 1 and names == list(tables[0][0].schema.names) and \
                len(sources) == len(tables[0][1]):
            # a table in, the same columns out (take, filter, drop_null, sort): column by column
            for name, before, after in zip(names, tables[0][0].columns, result.columns,
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
        _CONTENT.clear()
        _LOOKS.clear()
        _SIZES.clear()
        _LENGTHS.clear()
        _TOKENS.clear()


__all__ = ["MAX_CHUNKS", "MAX_CONTENTS", "Source", "chunk_keys", "clear", "compute", "held",
           "hooks", "index", "indexed", "mark", "mark_new", "mark_table", "matched", "may_hold",
           "origin", "placed", "recording", "taken"]
