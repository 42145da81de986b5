"""Operations that move content between labels: the column classes move with the content.

``set_axis`` and ``df.columns = [...]`` set the ``columns`` axis through its descriptor;
``df.rename``, ``add_prefix`` and ``add_suffix`` also copy the input's ``attrs`` afterwards, so
they are wrapped themselves; ``Series.rename`` and
``s.name = ...`` set a Series' ``name``; ``df[key] = value`` (and ``df.assign``, which uses it),
``df.insert``, ``Series.to_frame`` and the constructor (``pd.DataFrame({"code": s})``, which
pandas builds without the Series' ``attrs``) put content under a label. Each hook runs the pandas
call first, then records the move with :func:`lacuna.lineage.frames.relabel` or ``assign``.
Series arithmetic, comparisons and the methods that mix another Series' values in (``s + t``,
``s.str.cat(t)``, ``s.where(c, t)``, ``s.combine_first(t)``) keep only the left operand's
``attrs`` in pandas: :func:`lacuna.lineage.frames.computed` gives the result the strictest class
of every tracked operand. Frames computed column by column from another frame or Series (``a +
b``, ``combine_first``, ``where``, ``fillna``, ``update``) and cells written in place (``loc``,
``iloc``, ``df[mask] = b``, ``+=``) get, column by column, the strictest class of the operand
columns that fed each (:func:`lacuna.lineage.frames.mixed`). A named index taken from a tracked
object carries its level's class, which ``pd.Series(index)``, ``Index.to_series``/``to_frame``
and the constructor give back to the content put under a label. What these hooks miss (scalars and
arrays written in place) is caught at the boundary by the content check of
:func:`lacuna.lineage.frames.effective_state`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from lacuna import _bypass
from lacuna.governor import governing
from lacuna.integrations.frames.state import WeakRegistry
from lacuna.integrations.pandas._frames import governed_here, settings
from lacuna.lineage import frames
from lacuna.lineage.content import label_of
from lacuna.lineage.state import DataState, get_state, set_state


class ColumnsAxis:
    """``DataFrame.columns`` with a setter that moves classes along with relabelled content."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.__doc__ = getattr(original, "__doc__", None)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self.original.__get__(obj, owner)

    def __set__(self, obj: Any, value: Any) -> None:
        if _bypass.active() or get_state(obj) is None:
            self.original.__set__(obj, value)
            return
        old = [str(c) for c in self.original.__get__(obj, type(obj))]
        self.original.__set__(obj, value)
        new = [str(c) for c in self.original.__get__(obj, type(obj))]
        frames.relabel(obj, old, new, settings())


def columns_axis(original: Any) -> ColumnsAxis:
    return ColumnsAxis(original)


class IndexAxis(ColumnsAxis):
    """``DataFrame.index``/``Series.index`` with a setter that gives a named index the class of
    the tracked Series it was set from (``df.index = visits["diagnosis"].rename("code")``: the
    diagnoses, written with the data, left as PUBLIC)."""

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        index = self.original.__get__(obj, owner)
        if obj is None or index.name is None:  # the class' attribute, an unnamed index
            return index
        state = get_state(obj)
        if state is not None and not _bypass.active():
            _mark(index, state)
        return index

    def __set__(self, obj: Any, value: Any) -> None:
        content = None if _bypass.active() else frames.content_of(value)
        self.original.__set__(obj, value)
        if content is not None:
            _index_from(obj, [(0, content)])


def index_axis(original: Any) -> IndexAxis:
    return IndexAxis(original)


def _mark(index: pd.Index, state: Any) -> None:
    """A named index taken from a tracked object carries its level's class (the column made
    the index by ``set_index``), so the Index put back under a label (``pd.DataFrame({"born":
    df.set_index("date_of_birth").index})``, ``pd.Series(index)``, ``pd.to_datetime(index)``)
    keeps it (:func:`lacuna.lineage.frames.index_content`)."""
    if frames.index_seen(index, state) or not governing():  # marked from this state already
        return
    content = frames.content_in(state, str(index.name), fingerprinted=False)
    if content is None:
        return
    known = frames.index_content(index)
    if known is not None:  # one Index shared by several objects: never lowered
        content = frames.strictest([known, content], settings())
    frames.mark_index(index, content, seen=state)


def wrap_series_init(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pd.Series(s)`` and ``pd.Series(index)``: pandas builds them without the ``attrs`` of
    ``s`` (``pd.Series(df["date_of_birth"])`` came out unclassified); the new Series takes the
    class of the Series' content, or the one the Index carries (:func:`_mark`). Installed
    without the guard (pandas builds Series everywhere): anything else costs one
    ``isinstance`` check."""

    @functools.wraps(original)
    def __init__(self: Any, data: Any = None, *args: Any, **kwargs: Any) -> None:
        original(self, data, *args, **kwargs)
        if isinstance(data, pd.Index):
            _from_index(self, data)
        elif not isinstance(data, pd.Series):
            if type(data).__module__.startswith(("polars", "pyarrow", "numpy", "builtins")) and \
                    governed_here() \
                    and (content := foreign_content(data)) is not None:
                frames.carry(self, content, settings())  # a polars Series, an Arrow array
            elif _FROM_ARROW and (content := _FROM_ARROW.get(data)) is not None and \
                    governed_here():  # the values pandas made of an Arrow array
                frames.carry(self, content, settings())
        elif get_state(self) is None:
            state = get_state(data)
            if state is not None and governed_here():
                if frames.content_of(data) is not None:
                    frames.computed(self, (data,), settings())
                else:  # its own label untracked: the whole state, never lower
                    set_state(self, state)

    return __init__


# pandas arrays made of governed Arrow arrays (:func:`wrap_from_arrow`) -> what they hold
_FROM_ARROW: WeakRegistry[frames.Content] = WeakRegistry()
# the pandas dtypes whose ``__from_arrow__`` Arrow's ``to_pandas`` calls (strings: all of them
# from pandas 3 on; ``types_mapper=``; nullable numbers and booleans; dates, periods, intervals)
FROM_ARROW_DTYPES = ("StringDtype", "ArrowDtype", "BooleanDtype", "DatetimeTZDtype",
                     "PeriodDtype", "IntervalDtype")


def from_arrow_owners() -> list[Any]:
    """The pandas dtype classes that define ``__from_arrow__`` (:data:`FROM_ARROW_DTYPES` and
    the nullable numbers' base)."""
    from pandas.core.arrays.numeric import NumericDtype

    owners = [getattr(pd, name) for name in FROM_ARROW_DTYPES if hasattr(pd, name)]
    return [o for o in (*owners, NumericDtype) if "__from_arrow__" in vars(o)]


def wrap_from_arrow(original: Callable[..., Any]) -> Callable[..., Any]:
    """``ExtensionDtype.__from_arrow__(array)``, which Arrow's ``ChunkedArray.to_pandas()`` and
    ``Array.to_pandas()`` (compiled methods, not hookable) call for a string column (and for
    ``types_mapper=``), then build a Series of its result: a religion taken out of a governed
    table, ``table["religion"].to_pandas().rename("code")``, was PUBLIC. The array pandas makes
    is recorded as holding what the Arrow array held (:func:`foreign_content`), and a Series
    built of it carries that (:func:`wrap_series_init`). Installed without the guard, as
    ``Series.__init__``; values Arrow converts to NumPy (numbers, dates without a time zone)
    never pass here (docs/integrations/frames.md)."""

    @functools.wraps(original)
    def __from_arrow__(self: Any, array: Any) -> Any:
        result = original(self, array)
        if governed_here() and (content := foreign_content(array)) is not None:
            _FROM_ARROW.set(result, content)
        return result

    return __from_arrow__


def wrap_index_new(original: Callable[..., Any]) -> staticmethod[Any, Any]:
    """``pd.Index(s)`` of a tracked Series: the Index carries its content (:func:`_mark`).
    Installed without the guard, as ``Series.__init__``."""

    @functools.wraps(original)
    def __new__(cls: Any, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        index = original(cls, data, *args, **kwargs)
        if isinstance(data, pd.Series) and governed_here():
            content = frames.content_of(data)
            if content is not None:
                frames.mark_index(index, content)
        return index

    return staticmethod(__new__)


def wrap_index_to(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Index.to_series``/``to_frame``: the Series or column takes the class the Index
    carries."""

    @functools.wraps(original)
    def index_to(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        _from_index(result, self)
        return result

    return index_to


def _from_index(result: Any, index: pd.Index) -> None:
    content = frames.index_content(index)
    if content is None or not governed_here():
        return
    if isinstance(result, pd.Series):
        frames.carry(result, content, settings())
    elif isinstance(result, pd.DataFrame) and result.shape[1] == 1:
        frames.assign(result, [(str(result.columns[0]), content)], settings())


def _index_from(obj: Any, contents: list[tuple[int, frames.Content]]) -> None:
    """The named index levels of ``obj`` at the given positions take the given content's class
    (an unnamed level has no label to carry it: the export classifies its values,
    :func:`lacuna.lineage.frames.with_index`)."""
    names = obj.index.names
    put = [(str(names[level]), content) for level, content in contents
           if level < len(names) and names[level] is not None]
    if put:
        frames.assign(obj, put, settings())


def wrap_set_index(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame.set_index`` with Series among the keys: each named level it makes takes the
    class of the Series it came from (columns moved into the index keep theirs already)."""

    @functools.wraps(original)
    def set_index(self: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, keys, *args, **kwargs)
        if _bypass.active():
            return result
        listed = keys if isinstance(keys, list) else [keys]
        append = kwargs.get("append", args[1] if len(args) > 1 else False)
        first = self.index.nlevels if append and result is not None else 0
        target = self if result is None else result
        if append and result is None:  # in place: the old levels are still counted
            first = target.index.nlevels - len(listed)
        contents = [(first + i, c) for i, c in enumerate(
            frames.content_of(k) if isinstance(k, pd.Series) else None for k in listed)
            if c is not None]
        if contents:
            _index_from(target, contents)
        return result

    return set_index


def wrap_from_records(original: Any) -> classmethod[Any, Any, Any]:
    """``DataFrame.from_records`` of Series (one row each): every column holds a value of each,
    so it takes the strictest of their classes, as the constructor does."""
    build = original.__func__

    @functools.wraps(build)
    def from_records(cls: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        frame = build(cls, data, *args, **kwargs)
        if isinstance(data, (list, tuple)) and data and not _bypass.active():
            contents = _constructed(frame, data)
            if contents:
                frames.assign(frame, contents, settings())
        return frame

    return classmethod(from_records)


def series_name(original: property) -> property:
    """``Series.name`` with a setter that moves the Series' class to its new name."""
    fget, fset = original.fget, original.fset
    assert fget is not None
    assert fset is not None

    def set_name(self: Any, value: Any) -> None:
        if _bypass.active() or get_state(self) is None:
            fset(self, value)
            return
        old = label_of(self)
        fset(self, value)
        frames.relabel(self, [old], [label_of(self)], settings())

    return property(fget, set_name, original.fdel, original.__doc__)


def wrap_relabelling(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame.rename``, ``add_prefix``, ``add_suffix``: pandas relabels a copy, then copies
    the input's ``attrs`` back onto it; the classes are moved from the input's state."""

    @functools.wraps(original)
    def relabelling(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(self, *args, **kwargs)
        base = get_state(self)
        old = [str(c) for c in self.columns]
        result = original(self, *args, **kwargs)
        target = self if result is None else result  # inplace=True returns None
        if base is not None and isinstance(target, pd.DataFrame):
            frames.relabel(target, old, [str(c) for c in target.columns], settings(),
                            base=base)
        return result

    return relabelling


def wrap_to_frame(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def to_frame(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if not _bypass.active() and isinstance(result, pd.DataFrame) and result.shape[1] == 1:
            base = get_state(self)
            frames.relabel(result, [label_of(self)], [str(result.columns[0])], settings(),
                            base=base)
        return result

    return to_frame


def wrap_setitem(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def setitem(self: Any, key: Any, value: Any) -> None:
        if _bypass.active():
            original(self, key, value)
            return
        contents = _contents(key, value)  # before the set: value may be one of self's columns
        base = get_state(self)
        original(self, key, value)
        if contents:
            frames.assign(self, contents, settings())
        elif (contents is None and isinstance(value, (pd.Series, pd.DataFrame))
              and (state := get_state(value)) is not None and state is not base):
            # df[mask] = other, df[rows] = other: cells written in place, as .loc does
            labels = [str(c) for c in key.columns] if isinstance(key, pd.DataFrame) else None
            frames.mixed(self, (self, value), settings(), base=base, operation="setitem",
                         labels=labels)

    return setitem


def wrap_insert(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def insert(self: Any, loc: Any, column: Any, value: Any, *args: Any, **kwargs: Any) -> None:
        if _bypass.active():
            original(self, loc, column, value, *args, **kwargs)
            return
        content = frames.content_of(value)
        original(self, loc, column, value, *args, **kwargs)
        frames.assign(self, [(str(column), content)], settings())

    return insert


def _contents(key: Any, value: Any) -> list[tuple[str, frames.Content | None]] | None:
    """The labels ``df[key] = value`` writes, each with the content it receives.

    ``None`` for writes that are not column assignments (a boolean mask, a frame of booleans):
    those change cells in place, which the boundary's content check sees.
    """
    if isinstance(key, (pd.DataFrame, slice)) or _is_mask(key):
        return None
    if isinstance(key, (list, pd.Index, np.ndarray, pd.Series)):
        keys = [str(k) for k in key]
        if isinstance(value, pd.DataFrame) and value.shape[1] == len(keys):
            return [(k, frames.column_content(value, i, k, settings()))
                    for i, k in enumerate(keys)]
        return [(k, None) for k in keys]
    return [(str(key), frames.content_of(value))]


def _is_mask(key: Any) -> bool:
    dtype = getattr(key, "dtype", None)
    if dtype is not None:
        return bool(pd.api.types.is_bool_dtype(dtype))
    return isinstance(key, list) and bool(key) and all(isinstance(k, bool) for k in key)


def foreign(data: Any) -> tuple[DataState, list[Any]] | None:
    """The state and column names of a governed polars frame or Series, or Arrow table, record
    batch or array, handed to pandas (``pd.DataFrame(polars_frame)``, ``pd.Series(s)``,
    ``pd.DataFrame({"x": s})``): pandas copies the values through Arrow and keeps nothing
    else, so a salary renamed ``x`` came out PUBLIC. None for anything else, or for such an
    object Lacuna never saw (it is classified from its values, as any new data). Costs a
    look at the type's module for other data (``pd.Series`` is built everywhere)."""
    top = type(data).__module__.partition(".")[0]
    if top in ("numpy", "builtins"):
        arrow = arrow_under(data) if top == "numpy" else None
        data = arrow if arrow is not None else indexed_values(data)
        top = "pyarrow" if data is not None else top
    if top == "polars":
        import polars as pl

        from lacuna.integrations.frames.state import STATES

        if isinstance(data, (pl.DataFrame, pl.LazyFrame)) and STATES.get(data) is not None:
            from lacuna.integrations.polars._ops import columns_of, state

            return state(data, settings()), list(columns_of(data))
        if isinstance(data, pl.Series):
            from lacuna.integrations.polars._series import SERIES, series_state

            taken = SERIES.get(data)
            if taken is not None and taken.sources:
                return series_state(taken, data.name), [data.name]
    elif top == "pyarrow":
        import pyarrow as pa

        from lacuna.integrations.pyarrow import table_state, tracked
        from lacuna.integrations.pyarrow._arrays import origin

        if isinstance(data, (pa.Table, pa.RecordBatch)):
            if tracked(data) is not None or any(origin(c) for c in data.columns):
                return table_state(data), [str(n) for n in data.schema.names]
        elif isinstance(data, (pa.Array, pa.ChunkedArray)) and origin(data):
            return table_state(pa.table({"values": data})), ["values"]
    return None


def arrow_under(array: Any) -> Any:
    """The Arrow array a NumPy array is a view of, or None. Arrow hands out the numbers of a
    column without nulls as a view of its buffer (``ChunkedArray.to_pandas()``,
    ``.to_numpy()``, ``Table.to_pandas()`` of one column), and pandas makes its Series of that
    view with ``pd.Series(ndarray)``: no ``__from_arrow__`` of a pandas dtype runs, and a
    salary taken out by ``table["salary"].to_pandas().rename("code")`` was PUBLIC. The view's
    ``base`` chain (at most a few arrays deep) holds the Arrow array it came from; numbers
    Arrow copied (a column with nulls, made floats) hold none."""
    base = array
    for _ in range(4):
        base = getattr(base, "base", None)
        if base is None:
            return None
        if type(base).__module__.partition(".")[0] == "pyarrow":
            return base if hasattr(base, "buffers") or hasattr(base, "chunks") else None
    return None


def _arrow_backed(value: Any) -> Any:
    """The Arrow array a pandas array holds (``s.array``, ``s.values`` of text: pandas 3 keeps
    text in Arrow; ``pd.DataFrame({"code": df["religion"].array})`` was PUBLIC), found by its
    buffers as any Arrow array; anything else as it is. Only for the frame constructor's
    columns: pandas builds Series of its own arrays everywhere. A pandas array of numbers
    (``s.array`` of a column pandas read itself) or a ``Categorical`` (``s.values`` of a
    category column) is its NumPy form, matched as one (:func:`foreign`)."""
    if isinstance(value, (pd.arrays.NumpyExtensionArray, pd.Categorical)):
        return value.to_numpy()
    if isinstance(value, pd.api.extensions.ExtensionArray) and \
            isinstance(getattr(value, "_pa_array", None), _arrow_types()):
        return value._pa_array
    return value


def _arrow_types() -> tuple[type, ...]:
    arrow = sys.modules.get("pyarrow")
    return (arrow.Array, arrow.ChunkedArray) if arrow is not None else ()


def indexed_values(values: Any) -> Any:
    """A list or NumPy array matched, by what it holds, to a column indexed above public
    (:func:`lacuna.integrations.pyarrow._arrays.held`), as Arrow makes it; else None."""
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    return arrays.held(values) if arrays is not None else None


def foreign_content(value: Any) -> frames.Content | None:
    """The tracked content of a polars Series or Arrow array (:func:`foreign`) put under a
    label; its rows may be others than were fingerprinted (the boundary re-checks them)."""
    found = foreign(value)
    if found is None or len(found[1]) != 1:
        return None
    return frames.content_in(found[0], str(found[1][0]), fingerprinted=False)


def wrap_init(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pd.DataFrame(data, ...)``: a dict of Series (``pd.DataFrame({"code": s})``,
    ``DataFrame.from_dict``) or a list of them (one row each) is built without their ``attrs``:
    each column takes the class of the content put under it, as ``df["code"] = s`` does (a
    diagnosis built into a new frame under a neutral name came out PUBLIC). So is a frame
    built from a frame (``pd.DataFrame(df)``, with ``columns=`` or ``index=``): it takes the
    classes of the columns it kept (a renamed column's came out PUBLIC)."""

    @functools.wraps(original)
    def __init__(self: Any, data: Any = None, *args: Any, **kwargs: Any) -> None:
        original(self, data, *args, **kwargs)
        if _bypass.active():
            return
        if isinstance(data, pd.DataFrame):
            _from_frame(self, data, same=not args and not kwargs)
        elif (found := foreign(data)) is not None:  # a polars frame, an Arrow table
            _from_state(self, found[0], found[1], same=not args and not kwargs,
                        anywhere=True)
        elif isinstance(data, (Mapping, list, tuple)) and data:
            contents = _constructed(self, data)
            if contents:
                frames.assign(self, contents, settings())

    return __init__


def _from_frame(frame: pd.DataFrame, data: pd.DataFrame, *, same: bool) -> None:
    """``frame`` built from ``data``: ``data``'s state when it is a copy (``same``: no
    ``columns=``, ``index=``, ...), else each kept column's content without its fingerprint
    (the rows may differ: the boundary re-checks the values, never lower)."""
    state = get_state(data)
    if state is not None:
        _from_state(frame, state, list(data.columns), same=same)


def _from_state(frame: pd.DataFrame, state: DataState, names: list[Any], *, same: bool,
                anywhere: bool = False) -> None:
    """``frame`` built from a table of columns ``names`` whose state is ``state``.
    ``anywhere``: its values may be under any label (pandas iterates a polars frame as a list
    of rows, one per column: ``pd.DataFrame(polars_frame)`` is the frame transposed), so a
    label that is not one of ``names`` takes the strictest class of them all."""
    if get_state(frame) is not None:
        return
    if same and list(frame.columns) == names:
        set_state(frame, state)
        return
    found = [(str(c), frames.content_in(state, str(c), fingerprinted=False))
             for c in frame.columns]
    if anywhere:
        every = [c for c in (frames.content_in(state, str(n), fingerprinted=False)
                             for n in names) if c is not None]
        strictest = frames.strictest(every, settings()) if every else None
        found = [(label, content or strictest) for label, content in found]
    contents = [(label, content) for label, content in found if content is not None]
    if contents:
        frames.assign(frame, contents, settings())


def _constructed(frame: pd.DataFrame, data: Mapping[Any, Any] | list[Any] | tuple[Any, ...]
                 ) -> list[tuple[str, frames.Content | None]]:
    """The labels of a new frame with the tracked content each received."""
    labels = {str(c) for c in frame.columns}
    if isinstance(data, Mapping):  # a column per key
        found = ((str(k), frames.content_of(v)
                  if isinstance(v, (pd.Series, pd.DataFrame, pd.Index)) else
                  foreign_content(_arrow_backed(v)))
                 for k, v in data.items() if str(k) in labels)
        return [(k, c) for k, c in found if c is not None]
    rows = [frames.content_of(v) for v in data if isinstance(v, pd.Series)]  # a row per Series
    tracked = [c for c in rows if c is not None]
    if not tracked:
        return []
    strictest = frames.strictest(tracked, settings())  # every column holds a value of each
    return [(label, strictest) for label in labels]


def mixing_methods() -> tuple[tuple[type, tuple[str, ...]], ...]:
    """The methods :func:`wrap_mixing` wraps, by owner."""
    from pandas.core.strings.accessor import StringMethods

    return ((pd.Series, ("_arith_method", "_cmp_method", "_logical_method", "where", "mask",
                         "combine", "combine_first", "fillna", "update", "map",
                         "_inplace_method", "__setitem__")),
            (StringMethods, ("cat",)))


def wrap_mixing(original: Callable[..., Any]) -> Callable[..., Any]:
    """A Series method whose result mixes in another Series' values (arithmetic and
    comparisons, ``where``, ``mask``, ``combine``, ``combine_first``, ``fillna``, ``map`` with a
    Series, ``str.cat``): the result takes the strictest class of every tracked operand, not
    only the left one's (``ward + diagnosis`` left as PUBLIC). Methods that change the Series in
    place (``update``, ``s[mask] = t``, ``s += t``, ``inplace=True``) give it that class."""

    @functools.wraps(original)
    def mixing(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if _bypass.active():
            return result
        mine = getattr(self, "_orig", self)  # a .str accessor: the Series it belongs to
        target = mine if result is None else result  # in place: update, s[k] = t, inplace=True
        if not isinstance(target, pd.Series):
            return result
        known = get_state(mine)
        if get_state(target) is None:
            # pandas built the result without attrs (``combine``): every tracked operand,
            # the Series' own frame's columns and the Series itself included
            operands = [o for o in _series_in((*args, *kwargs.values()))
                        if get_state(o) is not None]
            if known is not None or operands:
                frames.computed(target, (mine, *operands), settings())
            return result
        # pandas kept the left operand's attrs: an operand counts unless it is that same
        # content (the same state and label); another column of the same frame shares the
        # state but not the class (``region.where(mask, dob)``). A mask counts.
        label = label_of(mine)
        others = [o for o in _series_in((*args, *kwargs.values()))
                  if (state := get_state(o)) is not None
                  and (state is not known or label_of(o) != label)]
        if others:
            frames.computed(target, (mine, *others), settings())
        return result

    return mixing


def _series_in(values: Iterable[Any]) -> Iterable[pd.Series]:
    for value in values:
        if isinstance(value, pd.Series):
            yield value
        elif isinstance(value, pd.DataFrame) and value.shape[1] == 1:  # s.loc[k] = df[["x"]]
            yield value.iloc[:, 0]
        elif isinstance(value, (list, tuple)):  # str.cat([t, u])
            yield from (v for v in value if isinstance(v, pd.Series))


# DataFrame methods whose result (or, in place, the frame itself) mixes in another frame's or
# Series' values, column by column.
FRAME_MIXING = ("_arith_method", "_cmp_method", "_logical_method", "_flex_arith_method",
                "_flex_cmp_method", "_inplace_method", "combine", "combine_first", "where",
                "mask", "fillna", "update")


def wrap_frame_mixing(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A DataFrame method that mixes in another frame's (or Series') values: ``a + b``, ``a ==
    b``, ``a += b``, ``combine``, ``combine_first``, ``where``/``mask`` (``other`` and
    ``cond``), ``fillna`` with a frame or Series, ``update`` (in place), ``clip`` with Series
    bounds (pandas calls ``where``). pandas keeps one operand's ``attrs`` (the left one's, or
    for arithmetic the right one's), so ``public.combine_first(visits)`` took the public class
    for a column of diagnoses: each column now takes the strictest class of the operand
    columns that fed it (:func:`lacuna.lineage.frames.mixed`)."""
    operation = name.strip("_").removesuffix("_method")
    operator = name.endswith("_method")  # its callable argument is pandas' own operator

    @functools.wraps(original)
    def frame_mixing(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(self, *args, **kwargs)
        known = get_state(self)
        if operator or not any(callable(v) for v in (*args, *kwargs.values())):
            # The result's state is made below from the operands: the hooks pandas' internals
            # would reach (``update`` writes each column with ``loc``) would only be redone.
            # A user's function (``combine``'s, a callable ``cond``) still runs governed.
            with _bypass.bypass():
                result = original(self, *args, **kwargs)
        else:
            result = original(self, *args, **kwargs)
        target = self if result is None else result  # update, inplace=True
        if not isinstance(target, pd.DataFrame):
            return result
        others = [o for o in _operands((*args, *kwargs.values()))
                  if (state := get_state(o)) is not None and state is not known]
        if others:
            if name == "update":  # a Series updates only the column of its name
                with _bypass.bypass():
                    others = [o.to_frame() if isinstance(o, pd.Series) else o for o in others]
            frames.mixed(target, (self, *others), settings(), base=known, operation=operation)
        return result

    return frame_mixing


def _operands(values: Iterable[Any]) -> Iterable[pd.Series | pd.DataFrame]:
    return (v for v in values if isinstance(v, (pd.Series, pd.DataFrame)))


def wrap_location_setitem(original: Callable[..., Any]) -> Callable[..., Any]:
    """``obj.loc[key] = value`` and ``obj.iloc[key] = value``: pandas writes ``value`` into
    the cells in place and keeps ``obj``'s ``attrs``, so ``df.loc[:, "code"] =
    visits["diagnosis"]`` left ``code`` PUBLIC. Each column written takes the strictest class of
    what it held and what was written into it (some rows may keep their old values): a
    Series feeds every column written; a frame the column of the same label (``loc`` aligns)
    and the one at the same position (``iloc``). A Series target takes the strictest class of
    both. Values without state (scalars, arrays) change nothing here: the boundary re-checks
    the content of every column whose fingerprint changed."""

    @functools.wraps(original)
    def location_setitem(self: Any, key: Any, value: Any) -> None:
        if _bypass.active() or not isinstance(value, (pd.Series, pd.DataFrame)):
            original(self, key, value)
            return
        state = get_state(value)
        if state is None or state is get_state(self.obj):
            original(self, key, value)
            return
        if isinstance(self.obj, pd.Series):
            original(self, key, value)
            source = next(iter(_series_in([value])), None)
            if source is not None:
                frames.computed(self.obj, (self.obj, source), settings())
            return
        before = [str(c) for c in self.obj.columns]
        written = _written(self, key)
        base = get_state(self.obj)
        original(self, key, value)
        target = self.obj
        after = [str(c) for c in target.columns]
        labels = after if written is None else [*written, *(c for c in after if c not in before)]
        labels = list(dict.fromkeys(labels))
        extra: dict[str, list[frames.Content]] = {}
        if isinstance(value, pd.DataFrame) and self.name == "iloc":  # by position
            for i, label in enumerate(labels[:value.shape[1]]):
                content = frames.column_content(value, i, str(value.columns[i]), settings())
                if content is not None:
                    extra[label] = [content]
        frames.mixed(target, (target, value), settings(), base=base,
                     operation=f"{self.name} setitem", labels=labels, extra=extra)

    return location_setitem


def _written(indexer: Any, key: Any) -> list[str] | None:
    """The existing columns ``indexer[key] = value`` writes into; ``None`` for every column (a
    key of rows only, or one that cannot be resolved before the write)."""
    obj = indexer.obj
    if not isinstance(key, tuple) or len(key) != 2 or obj.columns.nlevels > 1:
        return None
    columns = key[1](obj) if callable(key[1]) else key[1]
    try:
        with _bypass.bypass():
            empty = obj.iloc[:0]
            picked = (empty.iloc[:, columns] if indexer.name == "iloc"
                      else empty.loc[:, columns])
    except Exception:  # a new label (loc enlarges): the labels named, if they are labels
        names = [columns] if _is_label(columns) else (
            list(columns) if isinstance(columns, list) and all(_is_label(c) for c in columns)
            else None)
        return None if names is None else [str(c) for c in names]
    if isinstance(picked, pd.Series):
        return [label_of(picked)]
    return [str(c) for c in picked.columns]


def _is_label(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)
