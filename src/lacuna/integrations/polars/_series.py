"""polars ``Series``: a column taken out of a tracked frame keeps the class of what it was.

A polars Series has no ``attrs``, and polars builds a new Series object for every method call
(the namespaces, ``.str``, ``.dt``, ``.list``, ..., dispatch to expressions inside polars). A
column taken out of a governed frame (``df["diagnosis"]``, ``get_column``, ``to_series``,
``iter_columns``), computed on and put back (``pl.DataFrame({"code": s})``,
``with_columns(s)``, ``hstack``, ``insert_column``, ``to_frame``, ``pl.select(s)``) would be
classified from its name and values alone, and a diagnosis under a neutral name leave as PUBLIC.

So a Series taken from a tracked frame gets a :class:`Taken`: the states of the frames its
values were read from and which of their columns, in a weak registry keyed by the Series
(:data:`SERIES`, like :data:`~lacuna.integrations.frames.state.STATES` for frames). Every Series
method that returns a Series hands it on, a method reading other Series too (``s + t``,
``zip_with``, ``append``) the union of all of them: a dict lookup per call, nothing classified.

Only when a Series enters a frame is a step described, the one the same computation written as
an expression would have been: ``source.select(<computation on its columns>.alias(name))`` for
each source frame (a ``DERIVE`` step), combined with the frame it entered (a ``COMBINE`` step),
both through ``Governor.inherit``, so the decision, the audit record and the lineage see it.
"""

from __future__ import annotations

import itertools
import sys
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from polars.expr.whenthen import ChainedWhen, When

from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.placing import Placed, Source, derived, state_with_placed
from lacuna.integrations.frames.state import STATES, WeakRegistry
from lacuna.integrations.polars import _ops
from lacuna.integrations.polars._ops import _flatten, columns_of, state
from lacuna.lineage.frames import effective_state
from lacuna.lineage.state import DataState, get_state
from lacuna.lineage.step import Step, StepInput, StepKind
from lacuna.model import FrozenDict

# Series methods that give the values another name (an identity edge, as a frame's alias)
_RENAMES = frozenset({"alias", "rename", "clone", "__copy__", "__deepcopy__"})
_MAX_FUNCTIONS = 8  # a loop of ``s = s + 1`` must not grow a description without end
# DataFrame methods whose Series result is the column of that name; any other method's Series
# (``hash_rows``, ``sum_horizontal``, ``to_struct``, ``is_duplicated``) is read from every column
COLUMN_GETTERS = frozenset({"__getitem__", "get_column", "get_columns", "to_series",
                            "drop_in_place", "iter_columns"})
# DataFrame methods that put Series they are given into the frame, under the Series' names
PLACING = frozenset({"insert_column", "hstack", "replace_column"})
# DataFrame/LazyFrame methods that put values they are given into the frame's columns
FILLING = frozenset({"fill_null", "fill_nan", "shift"})
_CARRIERS = (pl.Series, pl.DataFrame, pl.LazyFrame)  # results that carry the values on


@dataclass(frozen=True, slots=True)
class Taken:
    """Where a Series' values came from: its sources, and the Series methods that computed
    them (renames are not computations: the column keeps an identity edge)."""

    sources: tuple[Source, ...]
    functions: tuple[str, ...] = ()

    def then(self, method: str) -> Taken:
        """The values after one more Series method."""
        if method in _RENAMES or (self.functions and self.functions[-1] == "…"):
            return self
        if len(self.functions) >= _MAX_FUNCTIONS - 1:
            return Taken(self.sources, (*self.functions, "…"))
        return Taken(self.sources, (*self.functions, method))

    @property
    def description(self) -> str:
        return ".".join(self.functions)


SERIES: WeakRegistry[Taken] = WeakRegistry()
# an expression (``pl.lit(s)``, ``pl.col("x").is_in(s)``, a ``pl.when`` on the way) -> the
# Series it holds as literals (:mod:`lacuna.integrations.polars._exprs`); PLAIN: it holds
# values given from Python or Series no governed frame had, nothing to follow
EXPRS: WeakRegistry[Taken] = WeakRegistry()
PLAIN = Taken(())
EXPRESSIONS = (pl.Expr, When, ChainedWhen)
# a namespace object (``s.str``) -> what its Series was: its methods build the new Series
_NAMESPACES: WeakRegistry[Taken] = WeakRegistry()


def taken_of(series: Any) -> Taken | None:
    """Where a Series' values came from, or None (not taken from a tracked frame). An Arrow
    array holding values of a governed Arrow table's columns (``table["salary"]``, a
    ``pyarrow.compute`` result: :mod:`lacuna.integrations.pyarrow._arrays`) counts as a Series
    taken from that table: ``pl.Series(array)``, ``pl.from_arrow(array)``,
    ``pl.DataFrame({"x": array})`` hold them."""
    if isinstance(series, pl.Series):
        return SERIES.get(series)
    if isinstance(series, EXPRESSIONS):
        return EXPRS.get(series)
    if type(series).__module__ == "pyarrow.lib":
        from lacuna.integrations.pyarrow._arrays import origin

        found = origin(series)
        if found:
            return Taken(tuple(sorted(found, key=_source_order)))
    if isinstance(series, (list, tuple, np.ndarray)):  # values a classified Series handed out
        arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
        matched = arrays.held(series) if arrays is not None else None
        return taken_of(matched) if matched is not None else None
    return _pandas_taken(series)


def _source_order(source: Source) -> tuple[str, tuple[str, ...]]:
    """A stable order of sources (an intermediate result's lineage node has no name)."""
    return source.state.lineage.name or "", source.columns


def _pandas_taken(series: Any) -> Taken | None:
    """A governed pandas Series (``pl.Series(s)``, ``pl.DataFrame({"x": s})``,
    ``pl.from_pandas(s)``): the column it holds, with its frame's state. polars copies the
    values and keeps nothing of pandas' ``attrs``, so a religion renamed ``code`` left as
    PUBLIC. A pandas Series Lacuna never saw is classified from its values, as polars' are."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(series, pd.Series) or get_state(series) is None:
        return None
    whole = effective_state(series, _ops.settings())
    names = list(whole.classification.columns)
    name = str(series.name) if str(series.name) in names else (names[0] if len(names) == 1
                                                               else None)
    if name is None:  # the state does not say which column: all of it (fail closed)
        return Taken((Source(whole, tuple(names)),))
    return Taken((Source(whole, (name,)),))


def foreign_state(data: Any) -> tuple[DataState, list[str]] | None:
    """The state of a governed pandas DataFrame or Arrow table (or record batch) polars is
    given to copy (``pl.DataFrame(data)``, ``pl.LazyFrame(data)``, ``pl.from_dataframe``), with
    its column names in order; None when ``data`` is neither, or is one Lacuna never saw (it
    is classified from its values, as any new frame)."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        if get_state(data) is None:
            return None
        return effective_state(data, _ops.settings()), [str(c) for c in data.columns]
    if type(data).__module__ == "pyarrow.lib" and hasattr(data, "schema") and \
            hasattr(data, "column"):
        from lacuna.integrations.pyarrow import table_state, tracked
        from lacuna.integrations.pyarrow._arrays import origin

        if tracked(data) is None and not any(origin(c) for c in data.columns):
            return None
        return table_state(data), [str(n) for n in data.schema.names]
    return None


def _union(found: Sequence[Taken]) -> Taken:
    """Values computed from all of ``found``: every source (a source seen twice, its columns
    united), every computation."""
    if len(found) == 1:
        return found[0]
    sources: list[Source] = []
    for taken in found:
        for source in taken.sources:
            same = next((i for i, s in enumerate(sources) if s.state is source.state), None)
            if same is None:
                sources.append(source)
            else:
                columns = tuple(dict.fromkeys((*sources[same].columns, *source.columns)))
                sources[same] = Source(source.state, columns)
    functions = tuple(dict.fromkeys(f for t in found for f in t.functions))
    return Taken(tuple(sources), functions[:_MAX_FUNCTIONS])


def _operands(args: Iterable[Any]) -> list[Taken]:
    found = (taken_of(a) for a in _flatten(args))
    return [t for t in found if t is not None]


# -- out of a frame -----------------------------------------------------------------------------


# DataFrame methods that hand every column's values out at once, as Python or NumPy values
FRAME_TAKING = frozenset({"rows", "iter_rows", "rows_by_key", "to_dicts", "to_dict",
                          "to_numpy"})


def taken(frame: Any, method: str, result: Any) -> Any:
    """A DataFrame ``method`` returned ``result``: each Series in it is marked with the frame's
    columns it holds (a generator of columns, ``iter_columns``, marks them as they come); the
    values of every column a whole-frame exit hands out (:data:`FRAME_TAKING`) are indexed
    (:func:`_frame_taken`)."""
    if method == "to_dict" and isinstance(result, dict) and \
            all(isinstance(v, pl.Series) for v in result.values()):
        for item in result.values():  # ``as_series=True``: each column, as get_column's
            _take(frame, "get_column", item)
    elif method in FRAME_SINGLE and isinstance(frame, pl.DataFrame) and \
            not isinstance(result, _CARRIERS):
        _frame_single(frame)
    elif method in FRAME_TAKING and isinstance(frame, pl.DataFrame):
        _frame_taken(frame, result)
        # a part's rows put together again (``s.rows()`` of each ``pf.iter_slices(10)``, of
        # ``pf.slice(i, 10)``) are the column's values: index what the part was cut from, as
        # a part's ``to_list()`` does (:func:`_taken`)
        _ancestors(frame)
        if isinstance(result, Iterator):  # iter_rows: slices' rows(), polars' own calls
            return _own_calls(result)
    elif isinstance(result, pl.Series):
        _take(frame, method, result)
    elif isinstance(result, list) and method in COLUMN_GETTERS:
        for item in result:
            if isinstance(item, pl.Series):
                _take(frame, method, item)
    elif isinstance(result, Iterator) and method in COLUMN_GETTERS:
        return _marking(frame, method, result)
    return result


def _own_calls(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, taken under :func:`outermost` a few hundred at a time (as polars buffers
    them): ``iter_rows()`` runs after its hook returned, and calls ``rows()`` of a slice per
    512 rows; hooked, each indexed its slice again (1,176 look-ups for 200,000 rows), values
    the whole frame's index holds. A block per row cost more than the rows (200 ms for
    200,000)."""
    while True:
        with outermost():
            batch = list(itertools.islice(items, 512))
        if not batch:
            return
        yield from batch


def _marking(frame: Any, method: str, items: Iterator[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, pl.Series):
            _take(frame, method, item)
        yield item


def _take(frame: Any, method: str, series: pl.Series) -> None:
    tracked = STATES.get(frame)
    if tracked is None:  # an untracked frame: its columns are classified from their values
        return
    known = tracked.classification.columns
    name = series.name
    if method in COLUMN_GETTERS and (name in known or name in columns_of(frame)):
        columns: tuple[str, ...] = (name,)
        functions: tuple[str, ...] = ()
    else:
        columns, functions = tuple(columns_of(frame)), (f"DataFrame.{method}",)
    if not all(c in known for c in columns):  # a column the frame gained: classified now
        tracked = state(frame)
    SERIES.set(series, Taken((Source(tracked, columns),), functions))
    if not functions and isinstance(frame, pl.DataFrame):  # one column, as the frame holds it
        _COLUMN_OF.set(series, weakref.ref(frame))
        cut(frame, series)  # a column of a part: what the part was cut from


# -- single values ------------------------------------------------------------------------------
#
# A value taken alone (``s[i]``, ``s.item(i)``, ``df[i, "salary"]``, ``df.item(i, "salary")``,
# ``df.row(i)``) is a Python value that carries nothing: a column rebuilt from them one at a
# time under another name (``pl.DataFrame({"code": [s[i] for i in range(len(s))]})``) was
# classified from its new name and values alone. The first value taken out of a governed frame
# indexes each of its columns classed above public by what it holds (as ``rows()`` does:
# :func:`_frame_taken`), once while the frame lives with that state; so does the first value
# of a Series that is a frame's column (``df["salary"][i]`` in a loop is a new Series each
# time, the frame the same), and the first of any other governed Series, once while it lives.
# Later values cost a look-up.

# Series methods that hand out one value (or one row of values, ``row``)
SINGLE = frozenset({"__getitem__", "item", "get", "first", "last"})
FRAME_SINGLE = frozenset({"__getitem__", "item", "row"})
# a Series that is a column of a frame, as ``df["x"]`` handed it out -> the frame
_COLUMN_OF: WeakRegistry[weakref.ref[Any]] = WeakRegistry()
# (frame or Series, its state) whose values were indexed -> (it, weakly; what was indexed)
_SINGLES: dict[tuple[int, int], tuple[weakref.ref[Any], tuple[bytes, ...]]] = {}
_SINGLES_KEPT = 4096


def _single_seen(obj: Any, tracked: Any) -> tuple[int, int] | None:
    """The key ``obj`` (with state ``tracked``) is indexed under, or None when it is indexed
    already and still is."""
    key = (id(obj), id(tracked))
    kept = _SINGLES.get(key)
    if kept is None or kept[0]() is not obj:
        return key
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    return None if arrays is None or all(arrays.indexed(d) for d in kept[1]) else key


def _single_kept(key: tuple[int, int], obj: Any, digests: list[bytes | None]) -> None:
    if len(_SINGLES) >= _SINGLES_KEPT:
        _SINGLES.clear()
    _SINGLES[key] = (weakref.ref(obj), tuple(d for d in digests if d is not None))


# A part of a governed frame or Series (``filter``, ``head``, ``slice``, ``gather``, ``sample``,
# a ``select`` of ``first()``: fewer rows than what it was made from), or anything made of one,
# -> what it was cut from, held while the part lives (``df.filter(...)`` is dropped within
# ``df.filter(...).select("salary").item()``). A value taken out of a part of one row was too
# short to index anything, and a loop of them rebuilt the column under another name as PUBLIC:
# what the part was cut from is indexed instead, each ancestor of two rows or more, once.
_PART_OF: WeakRegistry[Any] = WeakRegistry()
_DEPTH = 32


def cut(parent: Any, result: Any) -> None:
    """``result`` was made from ``parent`` (a frame or Series method): recorded when it is a
    part of it, or made of a part (then with what that part was cut from)."""
    if result is parent or not isinstance(result, (pl.DataFrame, pl.Series)) or \
            not isinstance(parent, (pl.DataFrame, pl.Series)):
        return
    above = _PART_OF.get(parent)
    if len(result) < len(parent):
        _PART_OF.set(result, parent)
    elif above is not None:
        _PART_OF.set(result, above)


def _ancestors(obj: Any) -> None:
    """Index what ``obj`` was cut from, each ancestor once while it lives: the first that is
    no part itself, and one between them once it is met a second time (a part made for one
    value, ``s.slice(k)`` in ``s.slice(k).head(1).item()``, is met once: indexing each cost
    the whole column per value, as pandas' :func:`~lacuna.integrations.pandas._values
    ._index_ancestors`)."""
    from lacuna.integrations.pandas._values import once_more

    for _ in range(_DEPTH):
        obj = _PART_OF.get(obj)
        if obj is None:
            return
        if _PART_OF.get(obj) is not None and not once_more(obj):
            continue
        if isinstance(obj, pl.DataFrame):
            _frame_indexed(obj)
        else:
            _series_indexed(obj)


def _frame_single(frame: Any) -> None:
    """A single value was taken out of ``frame``: its columns classed above public are indexed,
    once while it lives with its state; so is what it was cut from."""
    _frame_indexed(frame)
    _ancestors(frame)


def _frame_indexed(frame: Any) -> None:
    tracked = STATES.get(frame)
    if tracked is None or frame.height < 2:  # a match needs two values at least
        return
    key = _single_seen(frame, tracked)
    if key is not None:
        _single_kept(key, frame, _frame_taken(frame, None))


def _series_single(series: Any) -> None:
    """A single value was taken out of a governed ``series``: the frame it is a column of is
    indexed (:func:`_frame_single`), else the Series itself, once while it lives; so is what
    it was cut from."""
    _series_indexed(series)
    _ancestors(series)


def _series_indexed(series: Any) -> None:
    column_of = _COLUMN_OF.get(series)
    frame = column_of() if column_of is not None else None
    if frame is not None:
        _frame_single(frame)
        return
    taken = SERIES.get(series)
    if taken is None or not taken.sources or len(series) < 2:
        return
    key = _single_seen(series, taken)
    if key is None:
        return
    from lacuna.integrations.pyarrow import _arrays

    with outermost():
        values = series.to_list()
    _single_kept(key, series, [_arrays.taken(values, taken.sources)])


def _frame_taken(frame: Any, result: Any) -> list[bytes | None]:
    """``rows()``, ``iter_rows()``, ``rows_by_key()``, ``to_dicts()``,
    ``to_dict(as_series=False)`` and ``to_numpy()`` of a governed frame hand each column's
    values out as Python or NumPy values that carry nothing: a religion coded ``f1``..``f5``
    rebuilt from them under another name (``[r[1] for r in df.rows()]``) was classified from
    its new name and values alone. Each column classed above public is indexed by what it
    holds (:func:`lacuna.integrations.pyarrow._arrays.taken`): as its ``to_list()`` (the
    Python values every row holds), or as its column of the 2-D array ``to_numpy()``
    returned (the dtype polars chose for the whole frame; a field of
    ``to_numpy(structured=True)``). ``iter_rows`` is indexed when it is called, before the
    first row; a generator never started costs that too."""
    tracked = STATES.get(frame)
    if tracked is None:
        return []
    from lacuna.integrations.pyarrow import _arrays

    digests = []
    known = tracked.classification.columns
    names = tuple(columns_of(frame))
    for i, name in enumerate(frame.columns):
        found = _arrays._personal((Source(tracked, (name,) if name in known else names),))
        if not found:
            continue
        if isinstance(result, np.ndarray):  # to_numpy(), structured=True too
            values = _arrays.frame_column(result, i, name)
            if values is None:
                continue
        else:
            with outermost():
                values = frame.get_column(name).to_list()
        digests.append(_arrays.taken(values, found))
    return digests


# -- from Series to Series ----------------------------------------------------------------------


def namespace(series: Any, result: Any) -> Any:
    """``s.str`` (``dt``, ``list``, ...) returned the namespace ``result``: its methods build
    the new Series from ``series``' values."""
    found = taken_of(series)
    if found is not None:
        _NAMESPACES.set(result, found)
    return result


def carried(method: str, owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
            result: Any, *, operation: str = "polars.Series") -> Any:
    """A Series (or namespace) ``method`` of ``owner`` (a polars function: ``owner`` None)
    returned ``result``: a Series result holds the values of ``owner`` and of every Series it
    was given; a frame result (``to_frame``, ``value_counts``, ``to_dummies``,
    ``struct.unnest``, ``pl.from_records``) has each column computed from all of them."""
    if method in TAKING and isinstance(owner, pl.Series):
        _taken(owner, result)
        return result
    if method in SINGLE and isinstance(owner, pl.Series) and \
            not isinstance(result, _CARRIERS):
        _series_single(owner)
        return result
    if result is not None and not isinstance(result, _CARRIERS) and \
            method not in ("to_pandas", "to_arrow"):
        return result  # a scalar, a list, an array: nothing to follow (s[0] stays cheap)
    own = (SERIES.get(owner) if isinstance(owner, pl.Series)
           else None if owner is None else _NAMESPACES.get(owner))
    found = [t for t in ([own] if own is not None else []) + _operands([*args, *kwargs.values()])
             if t.sources]  # an expression of plain values (PLAIN) adds nothing to follow
    if not found:
        return result
    values = _union(found).then(method)
    if isinstance(result, pl.Series):
        SERIES.set(result, values)
        if isinstance(owner, pl.Series):
            cut(owner, result)
    elif result is None and isinstance(owner, pl.Series):  # in place: s[mask] = other
        SERIES.set(owner, values)
    elif isinstance(result, (pl.DataFrame, pl.LazyFrame)):
        place(f"{operation}.{method}", None, result,
              [(c, values) for c in columns_of(result)])
    elif method == "to_arrow":  # an Arrow array: recorded as holding the Series' sources
        from lacuna.integrations.pyarrow import _arrays

        _arrays.mark(result, values.sources, how="merge")
    elif method == "to_pandas":
        from lacuna.lineage.frames import attach

        name = str(getattr(result, "name", None) or "")
        found_state = _series_state(values, name)
        return attach(result, found_state.classification, found_state.lineage,
                      verified=False, origins=found_state.origins)
    return result


# the Series methods that hand values out as a list, a NumPy array or an iterator of them
TAKING = frozenset({"to_list", "to_numpy", "__iter__"})


def _taken(series: Any, result: Any) -> None:
    """Values a governed Series handed out as Python or NumPy values (``to_list()``,
    ``to_numpy()``, ``list(s)``: ``result``, or the iterator's): indexed by what they hold,
    as Arrow makes them of that object (:func:`lacuna.integrations.pyarrow._arrays.taken`), so
    a religion coded ``f1``..``f5`` built from them into an Arrow table under another name
    keeps its class."""
    taken = SERIES.get(series)
    if taken is None or not taken.sources:
        return
    _ancestors(series)  # a part's values put together again (``pf.slice(i, 10)[c]``)
    from lacuna.integrations.pyarrow import _arrays

    if not isinstance(result, (list, np.ndarray)):  # an iterator: the list it yields
        with outermost():
            result = series.to_list()
    _arrays.taken(result, taken.sources)


def constructed(series: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``pl.Series(name, values)`` of a Series' values, or of a list or array of values a
    classified Series handed out (:func:`taken_of`): the new Series holds them."""
    given = [*args, *kwargs.values()]
    found = _operands(given) or [t for v in given if isinstance(v, (list, tuple, np.ndarray))
                                 and (t := taken_of(v)) is not None]
    if found:
        SERIES.set(series, _union(found))


def concatenated(items: Sequence[Any], result: Any) -> None:
    """``pl.concat`` of Series: the rows of every one of them."""
    if isinstance(result, pl.Series):
        found = _operands(items)
        if found:
            SERIES.set(result, _union(found).then("concat"))


# -- into a frame -------------------------------------------------------------------------------


def _derived(source: Source, out: str, values: Taken) -> StepInput:
    """The Series as the select it amounts to on one source frame (a ``DERIVE`` step)."""
    return derived(source, out, operation="polars.Series", label="polars Series",
                   how=values.description)


def place(operation: str, target: DataState | None, result: Any,
          placements: Sequence[tuple[str, Taken]]) -> None:
    """Series entered a frame: ``result`` (the frame they are in now) is ``target`` (the state
    of the frame they entered, None when there was none or it is untracked) combined with each
    Series derived from its sources, output column ``name`` from the Series placed as ``name``
    (:func:`lacuna.integrations.frames.placing.combined`); columns neither explains are
    classified at the next boundary."""
    outputs = columns_of(result)
    placed = [Placed(out, values.sources, values.description)
              for out, values in placements if out in outputs]
    if placed:
        STATES.set(result, state_with_placed(operation, target, outputs, placed,
                                    derive="polars.Series", label="polars Series"))


def series_state(values: Taken, name: str) -> DataState:
    """The state of a Series on its own: a one-column frame (``to_pandas``, ``pd.Series(s)``)."""
    return _series_state(values, name)


def _series_state(values: Taken, name: str) -> DataState:
    """The state of a Series on its own (``to_pandas``): a one-column frame."""
    from lacuna.governor import current

    inputs = tuple(_derived(s, name, values) for s in values.sources)
    if len(inputs) == 1:
        only = inputs[0]
        return DataState(classification=only.classification, lineage=only.lineage,
                         origins=only.origins)
    step = Step(kind=StepKind.COMBINE, operation="polars.Series", inputs=inputs,
                outputs=(name,), column_map=FrozenDict({name: tuple((i, name)
                                                                   for i in range(len(inputs)))}))
    return current().inherit(step).state()


def placements(args: Iterable[Any], named: Mapping[str, Any] | None = None, *,
               parent: Any = None, result: Any = None) -> list[tuple[str, Taken]]:
    """The tracked Series among a call's arguments, each with the column name it takes: its own
    name, or the keyword it was given under (``with_columns(code=s)``); and the expressions
    holding Series as literals (:func:`lacuna.integrations.polars._exprs.placements`:
    ``parent`` the frame they are computed on, ``result`` the frame they made)."""
    from lacuna.integrations.polars import _exprs

    found: list[tuple[str, Taken]] = []
    exprs: list[tuple[str | None, Any]] = []
    for item in _flatten(args):
        if isinstance(item, pl.Expr):
            exprs.append((None, item))
        elif (values := taken_of(item)) is not None:
            found.append((item.name, values))
    for name, item in (named or {}).items():
        if isinstance(item, pl.Expr):
            exprs.append((name, item))
        elif (values := taken_of(item)) is not None:
            found.append((name, values))
    if exprs:
        found += _exprs.placements(exprs, parent, result)
    return found


def selected(operation: str, parent: Any, result: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> None:
    """``select``/``with_columns`` (on ``parent``) given Series, or expressions holding them:
    on top of what the expressions derived."""
    found = placements(args, kwargs, parent=parent, result=result)
    if found:
        place(operation, STATES.get(result), result, found)


def put(method: str, before: DataState | None, result: Any,
        args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``insert_column``/``hstack``/``replace_column`` given Series (in place or not): the
    frame's state before the call combined with them (and, for ``hstack(frame)``, with the
    columns of that frame)."""
    given = [*args, *kwargs.values()]
    found = placements(given, parent=result, result=result)
    for frame in given:
        if isinstance(frame, pl.DataFrame) and STATES.get(frame) is not None:
            whole = state(frame)
            found += [(c, Taken((Source(whole, (c,)),))) for c in columns_of(frame)]
    if found and isinstance(result, pl.DataFrame):
        place(f"polars.{method}", before, result, found)


def filled(operation: str, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``fill_null``/``fill_nan``/``shift(fill_value=...)`` given a tracked Series, or an
    expression holding one: its values may land in any column of ``result`` (which nulls
    were filled is not known here), so every column adds them."""
    if not isinstance(result, (pl.DataFrame, pl.LazyFrame)):
        return
    found = placements([*args, *kwargs.values()], result=result)
    values = list({id(v): v for _, v in found}.values())
    if values:
        place(operation, STATES.get(result), result,
              [(c, v) for c in columns_of(result) for v in values])


def built(frame: Any, data: Any, kwargs: Mapping[str, Any], operation: str) -> None:
    """``pl.DataFrame(data)`` / ``pl.LazyFrame(data)`` / ``pl.from_dict(data)``: a Series among
    ``data`` is the column of its key (a mapping: by position when a schema renamed the keys)
    or at its position (a sequence of columns, one Series); rows made of Series
    (``orient="row"``) make every column from all of them; a frame is copied, its columns
    renamed by position (``schema=[...]``). Rows of plain values (a long list of tuples) are
    not walked: only as many items as the frame has columns are looked at."""
    if isinstance(data, (pl.DataFrame, pl.LazyFrame)):  # a copy, renamed by a schema maybe
        _ops.rename(data, frame)
        return
    copied = foreign_state(data)
    if copied is not None:  # a pandas frame or Arrow table: copied, renamed by a schema maybe
        _ops.moved(copied[0], copied[1], frame, operation)
        return
    if data is None or isinstance(data, (str, bytes)):
        return
    columns = columns_of(frame)
    chosen: list[tuple[str, Taken]] = []
    if isinstance(data, Mapping):
        named = all(k in columns for k in data)
        for i, (key, item) in enumerate(data.items()):
            values = taken_of(item)
            if values is not None and (named or i < len(columns)):
                chosen.append((str(key) if named else columns[i], values))
    elif isinstance(data, (list, tuple)):
        if kwargs.get("orient") == "row":
            found = _operands(data) if data and isinstance(data[0], pl.Series) else []
            chosen = [(c, _union(found)) for c in columns] if found else []
        else:
            chosen = [(columns[i], values) for i, item in enumerate(data[: len(columns)])
                      if (values := taken_of(item)) is not None]
    elif (values := taken_of(data)) is not None and columns:
        chosen = [(columns[0], values)]
    if chosen:
        place(operation, None, frame, chosen)
