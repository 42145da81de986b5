"""Combining and aggregating: where the inheritance rules differ from "inherit".

merge / join / concat take the max tier and the union of tags (``rules.combine``); group-by
aggregations may downgrade (``rules.aggregate``). Everything else inherits through pandas' own
propagation of ``attrs``, and projections are reconciled lazily by ``effective_state``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.integrations.pandas._frames import settings
from lacuna.lineage import rules
from lacuna.lineage.content import label_of
from lacuna.lineage.frames import attach, effective_state, labels
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import ColumnClass

GROUPBY_METHODS = (
    "agg",
    "aggregate",
    "sum",
    "mean",
    "median",
    "min",
    "max",
    "count",
    "nunique",
    "size",
    "std",
    "var",
    "sem",
    "prod",
    "first",
    "last",
    "quantile",
    "describe",
)


def _combine(result: Any, inputs: Iterable[Any], operation: str, side_by_side: bool = False) -> Any:
    from lacuna.governor import current

    if not isinstance(result, (pd.DataFrame, pd.Series)):
        return result
    frames = [x for x in inputs if isinstance(x, (pd.DataFrame, pd.Series))]
    states = [effective_state(x, settings(), recheck=False) for x in frames]
    if not states:
        return result
    config = current().config.classification
    names = [", ".join(s.lineage.roots()) for s in states]
    combined = rules.combine([s.classification for s in states], config, names=names)
    columns = dict(combined.columns)
    if side_by_side and isinstance(result, pd.DataFrame):  # concat(axis=1): by position
        columns |= _side_by_side(result, frames, states)
    for label in labels(result):  # merge suffixes: email_x -> email
        if label not in columns:
            base = _strip_suffix(label, columns)
            if base is not None:
                columns[label] = columns[base]
    combined = replace(combined, columns=columns)
    lineage = LineageNode(name=None, operation=operation, parents=tuple(s.lineage for s in states))
    return attach(result, combined, lineage, verified=False)  # checked at the boundary


def _side_by_side(
    result: pd.DataFrame, inputs: list[Any], states: list[DataState]
) -> dict[str, ColumnClass]:
    """Each column of a side-by-side concat gets the class of the input column it came from,
    whatever it is called in the result (an unnamed Series becomes ``0``, keys add a level)."""
    sources: list[ColumnClass | None] = []
    for obj, state in zip(inputs, states, strict=True):
        own = [label_of(obj)] if isinstance(obj, pd.Series) else [str(c) for c in obj.columns]
        sources += [state.classification.columns.get(name) for name in own]
    if len(sources) != result.shape[1]:
        return {}
    return {str(label): col for label, col in zip(result.columns, sources, strict=True) if col}


def _strip_suffix(label: str, columns: Mapping[str, ColumnClass]) -> str | None:
    for i in range(len(label) - 1, 0, -1):
        if label[i] in "_." and label[:i] in columns:
            return label[:i]
    return None


def _combining(
    operation: str, inputs: Callable[..., list[Any]]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A wrapper factory for calls whose result combines their inputs (merge, join)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def combined(*args: Any, **kwargs: Any) -> Any:
            if _bypass.active():
                return original(*args, **kwargs)
            with _bypass.bypass():
                result = original(*args, **kwargs)
            return _combine(result, inputs(*args, **kwargs), operation)

        return combined

    return wrap


def _merge_inputs(left: Any, right: Any, *_: Any, **__: Any) -> list[Any]:
    return [left, right]


def _join_inputs(left: Any, other: Any, *_: Any, **__: Any) -> list[Any]:
    return [left, *(other if isinstance(other, (list, tuple)) else [other])]


wrap_merge = _combining("merge", _merge_inputs)
wrap_join = _combining("join", _join_inputs)


def wrap_concat(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def concat(objs: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(objs, *args, **kwargs)
        if not isinstance(objs, Mapping):
            objs = list(objs)  # a generator can be consumed only once
        inputs = list(objs.values()) if isinstance(objs, Mapping) else objs
        with _bypass.bypass():
            result = original(objs, *args, **kwargs)
        axis = args[0] if args else kwargs.get("axis", 0)
        return _combine(result, inputs, "concat", side_by_side=axis in (1, "columns"))

    return concat


def wrap_groupby_method(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def aggregation(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(self, *args, **kwargs)
        with _bypass.bypass():
            result = original(self, *args, **kwargs)
            return _aggregate(self, result, method, args, kwargs)

    return aggregation


def _aggregate(
    gb: Any, result: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    from lacuna.governor import current

    if not isinstance(result, (pd.DataFrame, pd.Series)):
        return result
    source = _grouped_table(gb.obj)
    parent = source.classification
    keys = [str(n) for n in gb._grouper.names]
    outputs = _outputs(gb, result, method, args, kwargs)
    config = current().config.classification
    min_size = None
    if rules.involves_personal_data(parent, config):  # only then do group sizes matter
        sizes = gb.size()
        if isinstance(sizes, pd.DataFrame):  # as_index=False: the keys and a "size" column
            sizes = sizes.iloc[:, -1]
        min_size = int(sizes.min()) if len(sizes) else 0
    classification = rules.aggregate(
        parent, keys=keys, outputs=outputs, min_group_size=min_size, config=config
    )
    lineage = LineageNode(name=None, operation=f"groupby.{method}", parents=(source.lineage,))
    return attach(result, classification, lineage, verified=False)  # checked at the boundary


def _grouped_table(obj: Any) -> DataState:
    """The table an aggregation reads from.

    ``df.groupby(k)["revenue"]`` hands pandas a projected Series, but the aggregate is computed
    over the rows of ``df``: a sum over a group of one customer is that customer's revenue. So
    the source is the state stored with the data (the grouped table), not the projection; new
    columns, if any, are added to it.
    """
    from lacuna.governor import current
    from lacuna.lineage.state import get_state

    stored = get_state(obj)
    if stored is not None and all(label in stored.classification.columns for label in labels(obj)):
        return stored  # the common case: no new columns, no need to reconcile
    effective = effective_state(obj, settings(), recheck=False)
    if stored is None:
        return effective
    config = current().config.classification
    both = rules.combine([stored.classification, effective.classification], config)
    return DataState(classification=both, lineage=stored.lineage)


def _outputs(
    gb: Any, result: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, str | None]:
    """Map each result column to the source column it aggregates ("*" for row counts)."""
    obj = gb.obj
    sources = {str(obj.name)} if isinstance(obj, pd.Series) else {str(c) for c in obj.columns}
    series_source = str(obj.name) if isinstance(obj, pd.Series) else None
    func = args[0] if args else kwargs.get("func")
    counting = method in rules.COUNTING_FUNCTIONS or (
        isinstance(func, str) and func in rules.COUNTING_FUNCTIONS
    )
    named = {k: v for k, v in kwargs.items() if isinstance(v, tuple) and len(v) == 2}

    def source_of(label: Any) -> str | None:
        if isinstance(label, tuple):  # a MultiIndex column from agg([...]) or describe()
            base, fn = str(label[0]), str(label[-1])
            if base in sources:
                return "*" if fn in rules.COUNTING_FUNCTIONS else base
            return None
        text = str(label)
        if text in named:
            col, fn = named[text]
            return "*" if str(fn) in rules.COUNTING_FUNCTIONS else str(col)
        if isinstance(func, Mapping) and label in func:
            fn = func[label]
            if isinstance(fn, str) and fn in rules.COUNTING_FUNCTIONS:
                return "*"
        if text in sources:
            return "*" if counting else text
        if series_source is not None:  # SeriesGroupBy.agg(['sum', 'count']) -> columns sum, count
            return "*" if text in rules.COUNTING_FUNCTIONS or counting else series_source
        return None

    keys = {str(n) for n in gb._grouper.names}
    if isinstance(result, pd.Series):
        if method == "size":
            return {str(result.name or "size"): "*"}
        return {
            str(result.name): source_of(result.name if result.name is not None else series_source)
        }
    return {str(c): source_of(c) for c in result.columns if str(c) not in keys}
