"""Values a governed pandas Series hands out as Python or NumPy values stay findable.

``Series.tolist()`` (``to_list``), ``to_numpy()``, ``np.asarray(s)`` and ``list(s)`` copy a column's
values out of pandas into objects that carry nothing: no ``attrs``, no Arrow buffer Lacuna
recorded. A religion coded ``f1``..``f5`` (no classifier recognises the values; only the
column name does) built from them into an Arrow table under another name
(``pa.table({"code": df["religion"].tolist()})``) was classified from ``code`` and its values,
and written as PUBLIC. Each of these methods, on a Series that holds a column classed above
public, indexes what it returns by what it holds
(:func:`lacuna.integrations.pyarrow._arrays.taken`): the same values reaching Arrow again are
matched and keep the class. Installed without the guard (pandas iterates Series internally):
a Series Lacuna never classified costs one dictionary look-up.

``Series.values`` and ``Series.array`` hand out the same values as an array pandas itself
holds (a column of numbers read by pandas is NumPy memory no Arrow buffer describes): they
are indexed the same way. So are the whole-frame exits: ``DataFrame.to_numpy()``,
``DataFrame.values``, ``to_records()`` and ``iterrows()`` index, for each column classed above
public, that column's values as the result holds them (the 2-D array's column, the record
array's field: the dtype pandas chose for the whole frame), so
``pd.DataFrame({"code": df.to_numpy()[:, 1]})`` keeps the class. ``itertuples()`` and
``to_dict()`` (every orient) iterate the frame's Series, and are indexed by ``__iter__`` and
``tolist``.

Single values taken one at a time (``[df.iloc[i, 1] for i in range(len(df))]``, ``df.at``,
``df.iat``, ``df.loc[i, c]``, ``s[i]``, ``s.iloc[i]``, ``s.at``, ``s.iat``) carry nothing
either, and a column rebuilt from them under another name was classified from its new name
and values alone. Every one of these passes through ``Series._ixs`` or
``DataFrame._get_value``: the first value taken out of a column classed above public indexes
that whole column, as single values come out of it (numbers as NumPy numbers, text as Python
strings), once while it lives (:func:`wrap_value`, :func:`wrap_frame_value`); the same values
rebuilt into a list and built into a frame or an Arrow table match it. A row
(``df.iloc[i]["salary"]``, ``row.to_dict()``) or a Series of one value
(``df.loc[df.emp == e, "salary"].item()``) is too short to be matched: what it was cut from is
indexed instead (:func:`wrap_finalize`, "parts" below). Only values rebuilt in the column's
order, all of them, match.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from typing import Any

from lacuna import _bypass
from lacuna.governor import governing as _governing
from lacuna.integrations.pandas._frames import governed_here
from lacuna.lineage.content import label_of
from lacuna.lineage.state import get_state

# the Series methods that hand values out as a list, a NumPy array or an iterator of them
TAKING = ("tolist", "to_list", "to_numpy", "__iter__", "__array__")
# the Series properties that hand out the array pandas holds
TAKING_PROPERTIES = ("values", "array")
# the DataFrame methods that hand every column's values out at once (``values``: a property)
FRAME_TAKING = ("to_numpy", "to_records", "iterrows")


# What a governed Series handed out, indexed -> (its anchor, weakly; the digest its values are
# indexed by). A Series hands the same values out again and again (``s.values[i]`` and
# ``df["salary"].values[i]`` in a loop), and indexing them costs what Arrow's conversion of the
# whole column costs (0.7 ms for 200,000 numbers, where ``s.values`` itself costs 1 us): they
# are indexed once while they live and stay indexed. A NumPy array is known by the memory it
# views (its anchor: the array that owns it, so the memory is not another's until it is gone),
# whatever Series object hands it out; anything else by the Series and what it was asked.
# The same memory handed out by a Series of another name (renamed: another name's class) is
# indexed again for it. Values changed in place afterwards keep the first values' entry.
_TAKEN: dict[tuple[Any, ...], tuple[weakref.ref[Any], bytes]] = {}
_TAKEN_KEPT = 4096


def _taken_key(series: Any, what: str, result: Any) -> tuple[tuple[Any, ...], Any]:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(result, np.ndarray):
        owner = result
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        return ((id(owner), result.__array_interface__["data"][0], result.shape,
                 result.strides, result.dtype.str, repr(series.name)), owner)
    return ((id(series), what), series)


def _indexed(series: Any, what: str, result: Any) -> bool:
    """Whether what ``series`` handed out (``result`` of ``what``) was indexed before and is
    still indexed."""
    key, anchor = _taken_key(series, what, result)
    kept = _TAKEN.get(key)
    if kept is None or kept[0]() is not anchor:
        return False
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    return arrays is not None and bool(arrays.still_indexed(kept[1]))


def _index(series: Any, values: Any, what: str, result: Any) -> None:
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    if arrays is None:  # the pyarrow integration is not loaded: nothing matches in Arrow
        return
    if len(series) < 2:  # nothing a match could find (what it was cut from: ``_ancestors``)
        return
    from lacuna.integrations.pyarrow._copies import series_sources

    digest = arrays.taken(values, series_sources(series))
    if digest is None:
        return
    key, anchor = _taken_key(series, what, result)
    try:
        ref = weakref.ref(anchor)
    except TypeError:  # pragma: no cover - Series and NumPy arrays take weak references
        return
    if len(_TAKEN) >= _TAKEN_KEPT:
        _TAKEN.clear()
    _TAKEN[key] = (ref, digest)


def _a_mask_pandas_reads(series: Any) -> bool:
    """Whether ``np.asarray(series)`` is pandas reading a boolean mask it was given
    (``df.loc[df.emp == e, "salary"]``: pandas' own ``check_array_indexer``), not values
    handed to the user. Indexed, each mask of a loop cost a content digest (20,000 rows: 1.1
    ms a ``.loc``), and the masks of one frame, alike by what they hold (all ``False`` but
    one), piled their states onto one index entry, which every later mask of that length
    was then derived from: 8 ms a ``.loc`` after 200. The same mask's ``tolist()``,
    ``to_numpy()``, ``.values`` or ``np.asarray`` in the user's code is still indexed."""
    if getattr(series.dtype, "kind", "") != "b":  # NumPy, nullable and Arrow booleans
        return False
    caller = sys._getframe(2).f_globals.get("__name__", "")
    return isinstance(caller, str) and caller.startswith("pandas.")


def wrap_taking(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``Series.tolist``, ``to_list``, ``to_numpy``, ``__iter__`` and ``__array__`` (``name``:
    ``np.asarray(s)``): what they hand out of a governed column is indexed (module
    docstring); an iterator as the list it yields (``list(s)``, ``[v for v in s]``)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def taking(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if get_state(self) is None or not governed_here() or _indexed(self, name, result):
                return result
            if name == "__array__" and _a_mask_pandas_reads(self):
                return result
            if _cut(self):
                return result  # a row: what it was cut from is indexed, not the row
            try:
                values = self._values.tolist() if name == "__iter__" else result
            except (AttributeError, TypeError, ValueError):  # no list of its values
                return result
            _index(self, values, name, result)
            return result

        return taking

    return make


def wrap_taking_property(original: property) -> property:
    """``Series.values`` and ``Series.array``: what they hand out of a governed column is
    indexed (module docstring): an Arrow-backed array as Arrow makes it, a pandas array not
    backed by Arrow (numbers, a ``Categorical``) as its NumPy form, as
    ``pd.DataFrame({"code": s.array})`` reads it (a ``Categorical`` built into Arrow is a
    dictionary array: not matched)."""
    fget = original.fget
    assert fget is not None
    what = fget.__name__  # values, array

    def get(self: Any) -> Any:
        result = fget(self)
        if get_state(self) is None or not governed_here() or _indexed(self, what, result):
            return result
        if _cut(self):
            return result  # a row: what it was cut from is indexed, not the row
        values = result
        if not isinstance(values, sys.modules["numpy"].ndarray) and \
                not hasattr(values, "__arrow_array__"):
            try:  # as pandas' constructor reads it (:func:`_columns._arrow_backed`)
                values = values.to_numpy()
            except (AttributeError, TypeError, ValueError):  # no NumPy form
                return result
        _index(self, values, what, result)
        return result

    return property(get, original.fset, original.fdel, original.__doc__)


# A column whose single values were taken -> (its anchor, weakly; the digest its values are
# indexed by, None: a column classed public, nothing to index; the state it was classified
# under: another state, another class). The first value taken out of a column indexes it
# (0.7 ms for 200,000 numbers); every later one costs a look-up here.
_VALUES: dict[tuple[Any, ...], tuple[weakref.ref[Any], bytes | None, Any]] = {}


def _known(key: tuple[Any, ...], anchor: Any,
           state: Any) -> tuple[weakref.ref[Any], bytes | None, Any] | None:
    """What is known of ``anchor`` with ``state`` under ``key`` (None: nothing): indexed and
    still indexed, or public."""
    kept = _VALUES.get(key)
    if kept is None or kept[0]() is not anchor or kept[2] is not state:
        return None
    if kept[1] is None:
        return kept
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    return kept if arrays is not None and arrays.indexed(kept[1]) else None


def _keep(key: tuple[Any, ...], anchor: Any, state: Any, digest: bytes | None) -> None:
    try:
        ref = weakref.ref(anchor)
    except TypeError:  # pragma: no cover - Series, frames and their arrays take weak references
        return
    if len(_VALUES) >= _TAKEN_KEPT:
        _VALUES.clear()
    _VALUES[key] = (ref, digest, state)


def _values_key(values: Any, label: Any) -> tuple[tuple[Any, ...], Any]:
    """What a column's values are known by while they live (as :func:`_taken_key`): the
    memory a NumPy array views, or the pandas array itself, with the label they go by."""
    np = sys.modules["numpy"]
    if isinstance(values, np.ndarray):
        owner = values
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        return ((id(owner), values.__array_interface__["data"][0], values.shape,
                 values.strides, values.dtype.str, repr(label)), owner)
    return ((id(values), repr(label)), values)


def _one_by_one(values: Any) -> Any:
    """A column's values as its single values come out of pandas, rebuilt into a list, are
    made into Arrow (:func:`lacuna.integrations.pyarrow._arrays.held`): NumPy numbers and
    booleans as the array (``pa.array`` of a list of ``np.int64`` is the same ``int64``), text
    pandas keeps in Arrow as that Arrow array (text is matched as text whatever its layout),
    anything else as the Python values pandas hands out (``Timestamp``, the values of a
    ``Categorical``)."""
    np = sys.modules["numpy"]
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        return values
    arrow = getattr(values, "_pa_array", None)
    if arrow is not None:
        return arrow
    return values.tolist()


def _column_taken(series: Any, state: Any, label: str) -> bytes | None:
    """Index the column ``series`` holds (a single value was taken out of it, under ``label``
    of ``state``) by what it holds; the digest it is indexed by (None: nothing indexed, a
    column classed public, or fewer than two values). The column is the one ``state`` classes
    under ``label``, read as the state says, without classifying the Series again (a lookup
    of a few rows, ``df.head(5)["salary"][0]``, paid 2 ms for that at every value); a column
    the state does not class yet (one the frame gained) is classified first, as it is at a
    boundary."""
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    pd = sys.modules["pandas"]
    if arrays is None or not isinstance(series, pd.Series) or len(series) < 2:
        return None  # nothing matches in Arrow, or too few values to match
    from lacuna.integrations.frames.placing import Source
    from lacuna.integrations.pyarrow._copies import series_sources

    sources = (frozenset((Source(state, (label,)),)) if label in state.classification.columns
               else series_sources(series))
    try:
        values = _one_by_one(series._values)
    except (AttributeError, TypeError, ValueError):  # no list of its values
        return None
    return arrays.taken(values, sources)  # type: ignore[no-any-return]


def _a_column(series: Any, state: Any) -> bool:
    """Whether ``series`` is a column its state classifies (one dictionary look-up), not one
    row of a frame (``df.iloc[i]``, named by its row label): a loop over rows
    (``df.iloc[i]["salary"]``) classified and indexed each row, 100 times slower than pandas
    (a row is not indexed: docs/integrations/frames.md)."""
    return label_of(series) in state.classification.columns


# -- parts: rows, filters, slices, samples -----------------------------------------------------
#
# A value taken out of a part of a governed object (a row, ``df.iloc[i]["salary"]``,
# ``df.iloc[i].to_dict()``; a Series of one value, ``df.loc[df.emp == e, "salary"].item()``,
# ``s.iloc[k:k + 1].item()``, ``s.head(1).item()``, ``s.sample(1).iloc[0]``) came out of a
# column the part holds only one value of: the part, too short to be matched, indexed nothing,
# and the values of a loop over rows rebuilt into a column under another name exported as
# PUBLIC. Every such part is made by pandas through ``NDFrame.__finalize__(part, parent)``, the
# call that hands ``attrs`` on: a result with fewer rows than a governed parent, a row of a
# frame, or anything made of such a part, is recorded with what it was cut from (held while
# the part lives: ``df.loc[mask, "salary"]`` is cut from a Series pandas makes and drops
# within the call). The first value taken out of a part indexes what it was cut from, each
# ancestor with two values or more, once while it lives (a column as its single values come
# out; a frame's columns classed above public as its rows hold them); later parts of the same
# object cost a look-up. A part is not indexed itself unless it is a column of two values or
# more (as before): a row is not a column.

_DEPTH = 32  # ancestors followed at most (each is shorter than the one before, or a row)


class _PartRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a part that knows its key (its entry goes when the part does)."""

    __slots__ = ("key",)
    key: int


def _gone(ref: _PartRef) -> None:
    entry = _PARTS.get(ref.key)
    if entry is not None and entry[0] is ref:
        _PARTS.pop(ref.key, None)


class _Parts:
    """A part -> (what it was cut from, whether it is a row of that frame), by identity, while
    the part lives. One weak reference per part, no lock (a ``WeakRegistry`` cost a closure
    and a lock per row: 4 us of a 23 us ``df.iloc[i]``)."""

    def get(self, obj: Any) -> tuple[Any, bool] | None:
        entry = _PARTS.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def set(self, obj: Any, value: tuple[Any, bool]) -> None:
        ref = _PartRef(obj, _gone)
        ref.key = id(obj)
        _PARTS[ref.key] = (ref, value)


_PARTS: dict[int, tuple[_PartRef, tuple[Any, bool]]] = {}
_PARENTS = _Parts()


def _governed() -> bool:
    """:func:`governed_here` without its imports (a hook that runs at every pandas result)."""
    return _governing() and not _bypass.active()


# ancestors between a part and the first that is no part, met once (by identity, weakly)
_MET: dict[int, weakref.ref[Any]] = {}


def once_more(obj: Any) -> bool:
    """Whether ``obj`` was met here before (it is remembered now)."""
    met = _MET.get(id(obj))
    if met is not None and met() is obj:
        return True
    if len(_MET) >= _TAKEN_KEPT:
        _MET.clear()
    try:
        _MET[id(obj)] = weakref.ref(obj)
    except TypeError:  # pragma: no cover - pandas and polars objects take weak references
        return True
    return False


def _cut(obj: Any) -> tuple[Any, bool] | None:
    """What ``obj`` was cut from and whether it is a row (None: not a part); the ancestors of
    a part indexed (:func:`_index_ancestors`) when they are not yet."""
    parent = _PARENTS.get(obj)
    if parent is not None:
        _index_ancestors(parent[0])
    return parent


def _index_ancestors(obj: Any) -> None:
    """Index what a part was cut from: the first ancestor that is no part itself, and an
    ancestor between them once it is met a second time (``sub = df[df.qty > 2]`` looped over
    row by row). One met once is a part made for one value (``s.iloc[k:]`` in
    ``s.iloc[k:].head(1).item()``, a new one of up to the whole column at each ``k``):
    indexing each cost a digest of the whole column per value."""
    for _ in range(_DEPTH):
        parent = _PARENTS.get(obj)
        state = get_state(obj)
        if state is not None and len(obj) >= 2 and (parent is None or once_more(obj)):
            _index_whole(obj, state)
        if parent is None:
            return
        obj = parent[0]


def _index_whole(obj: Any, state: Any) -> None:
    """Index ``obj`` (a part's ancestor) once while it lives with ``state``: a column as its
    single values come out, a frame's columns classed above public as its rows hold them."""
    pd = sys.modules["pandas"]
    if isinstance(obj, pd.Series):
        if not _a_column(obj, state):
            return  # a row of a frame: the frame it was cut from is indexed
        held, anchor = _values_key(obj._values, obj.name)
        if _known(held, anchor, state) is None:
            _keep(held, anchor, state, _column_taken(obj, state, label_of(obj)))
        return
    key = (id(obj), "rows")
    if _known(key, obj, state) is not None:
        return
    digest = None
    for position, label, series, row_dtype in _frame_parts(obj, state):
        digest = _column_taken(series, state, label) or digest
        if row_dtype is not None:  # rows of numbers hold each column in their common dtype
            with _bypass.bypass():
                converted = series.to_numpy(dtype=row_dtype)
            arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
            if arrays is not None:
                found = arrays._personal((arrays.Source(state, (label,)),))
                if found:
                    digest = arrays.taken(converted, found) or digest
        del position
    _keep(key, obj, state, digest)


def _frame_parts(frame: Any, state: Any) -> list[tuple[int, str, Any, Any]]:
    """Each column of ``frame`` its state classes above public (or does not class: fail
    closed), with its position, label, Series and, when the frame's rows would hold it in
    another NumPy dtype (numbers of several kinds: a row of ints and floats is floats), that
    dtype."""
    from lacuna.model import ColumnKind

    np = sys.modules["numpy"]
    columns = state.classification.columns
    dtypes = list(frame.dtypes)
    common = None
    if dtypes and all(isinstance(d, np.dtype) and d.kind in "iufb" for d in dtypes):
        common = np.result_type(*dtypes)
    out = []
    with _bypass.bypass():
        for position, label in enumerate(frame.columns):
            found = columns.get(str(label))
            if found is not None and found.classification is ColumnKind.PUBLIC:
                continue
            series = frame._ixs(position, axis=1)
            convert = common if common is not None and series.dtype != common else None
            out.append((position, str(label), series, convert))
    return out


def _part_of(child: Any, parent: Any, state: Any) -> tuple[bool, bool]:
    """(whether ``child``, made by pandas from ``parent``, is a part of it; whether a row)."""
    pd = sys.modules["pandas"]
    if isinstance(child, pd.Series) and isinstance(parent, pd.DataFrame):
        # the axes as the managers hold them (``index``/``columns`` are hooked properties)
        index, (columns, rows) = child._mgr.axes[0], parent._mgr.axes
        if index is rows or (len(index) == len(rows) and
                             label_of(child) in state.classification.columns):
            return False, False  # a column, whole
        return True, index is columns or label_of(child) not in state.classification.columns
    if type(child) is type(parent) or isinstance(child, type(parent)):
        return len(child) < len(parent), False
    return False, False


def wrap_finalize(original: Callable[..., Any]) -> Callable[..., Any]:
    """``NDFrame.__finalize__(self, other)``: pandas hands ``attrs`` on to each object it makes
    from another; a part of a governed object is recorded with what it was cut from (above).
    Installed without the guard (pandas calls it in every operation): an object Lacuna never
    classified costs a look-up."""
    pd = sys.modules["pandas"]
    kinds = (pd.Series, pd.DataFrame)

    @functools.wraps(original)
    def __finalize__(self: Any, other: Any, method: Any = None, **kwargs: Any) -> Any:
        result = original(self, other, method, **kwargs)
        if other is self or not isinstance(other, kinds) or not isinstance(self, kinds):
            return result
        state = get_state(self)
        if state is None:
            return result
        above = _PARENTS.get(other)
        part, row = _part_of(self, other, state)
        if above is not None:  # made of a part: what it was cut from, unless it is cut again
            if part or not (type(self) is type(other) and len(self) == len(other)):
                above = (other, row)
            if _governed():
                _PARENTS.set(self, above)
        elif part and _governed():
            _PARENTS.set(self, (other, row))
        return result

    return __finalize__


def wrap_value(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Series._ixs``: every single value taken out of a Series (``s[i]``, ``s.iloc[i]``,
    ``s.loc[i]``, ``s.at[i]``, ``s.iat[i]``) passes here; out of a governed column, the whole
    column is indexed once (module docstring). Installed without the guard (pandas takes
    values out of Series everywhere): a Series Lacuna never classified costs one dictionary
    look-up."""

    @functools.wraps(original)
    def _ixs(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        state = get_state(self)
        if state is None:
            return result
        key = (id(self),)  # this Series: a look-up per value
        if _known(key, self, state) is not None or not _governed():
            return result
        if _cut(self) is not None and (len(self) < 2 or not _a_column(self, state)):
            return result  # a row, one value: what it was cut from is indexed (a look-up)
        if _a_column(self, state):
            # the memory it holds may be known (``df["salary"][i]`` in a loop: a new Series
            # each time over the same memory)
            held, anchor = _values_key(self._values, self.name)
            kept = _known(held, anchor, state)
            digest = kept[1] if kept is not None else _column_taken(self, state,
                                                                      label_of(self))
            if kept is None:
                _keep(held, anchor, state, digest)
            _keep(key, self, state, digest)
        return result

    return _ixs


def wrap_frame_value(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame._get_value``: every single value taken out of a frame by row and column
    (``df.at``, ``df.iat``, ``df.iloc[i, j]``, ``df.loc[i, c]``) passes here; out of a governed
    column, the whole column is indexed once (module docstring), as ``Series._ixs`` does."""

    @functools.wraps(original)
    def _get_value(self: Any, index: Any, col: Any, takeable: bool = False) -> Any:
        result = original(self, index, col, takeable)
        state = get_state(self)
        if state is None:
            return result
        key = (id(self), repr(col), takeable)
        if _known(key, self, state) is not None or not governed_here():
            return result  # indexed already, or a public column: nothing to index
        _cut(self)  # a filter, a slice: what it was cut from
        with _bypass.bypass():
            series = self._ixs(col, axis=1) if takeable else self._get_item(col)
            label = str(self.columns[col] if takeable else col)
        _keep(key, self, state, _column_taken(series, state, label))
        return result

    return _get_value


def _frame_columns(frame: Any) -> list[tuple[int, Any, frozenset[Any]]]:
    """The position, label and sources of each column of a governed ``frame`` classed above
    public (every column of the state when a label is not one of its names: fail closed)."""
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    if arrays is None or get_state(frame) is None:
        return []
    from lacuna.governor import current
    from lacuna.lineage.frames import effective_state

    whole = effective_state(frame, current().config.classification)
    names = tuple(str(n) for n in whole.classification.columns)
    out = []
    for i, label in enumerate(frame.columns):
        name = str(label)
        found = arrays._personal((arrays.Source(whole, (name,) if name in names else names),))
        if found:
            out.append((i, label, found))
    return out


def _index_frame(frame: Any, name: str, result: Any) -> None:
    """Index each classified column of ``frame`` as ``result`` (what ``name`` handed out)
    holds it."""
    columns = _frame_columns(frame)
    if not columns:
        return
    arrays = sys.modules["lacuna.integrations.pyarrow._arrays"]
    if name == "iterrows":  # each row is a row of the frame's values array
        from lacuna import _bypass

        with _bypass.bypass():  # not indexed twice by the ``values`` hook
            result = frame.values
    for i, label, found in columns:
        values = arrays.frame_column(result, i, str(label))
        if values is not None:
            arrays.taken(values, found)


def wrap_frame_taking(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``DataFrame.to_numpy``, ``to_records`` and ``iterrows`` (``name``): each classified
    column's values in what they hand out are indexed (module docstring)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def taking(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if get_state(self) is None or not governed_here():
                return result
            _cut(self)
            _index_frame(self, name, result)
            return result

        return taking

    return make


def wrap_frame_values(original: property) -> property:
    """``DataFrame.values``: as ``DataFrame.to_numpy()`` (:func:`wrap_frame_taking`)."""
    fget = original.fget
    assert fget is not None

    def get(self: Any) -> Any:
        result = fget(self)
        if get_state(self) is not None and governed_here():
            _cut(self)
            _index_frame(self, "values", result)
        return result

    return property(get, original.fset, original.fdel, original.__doc__)


__all__ = ["FRAME_TAKING", "TAKING", "TAKING_PROPERTIES", "wrap_finalize", "wrap_frame_taking",
           "wrap_frame_value", "wrap_frame_values", "wrap_taking", "wrap_taking_property",
           "wrap_value"]
