"""The polars integration: eager and lazy frames under the same pipeline as pandas.

``install()`` (``lacuna.enable()`` / ``lacuna.governed()`` call it when polars is imported, or
at polars' import: :mod:`lacuna.integrations.imports`) hooks, behind the pandas integration's
guard:

- readers and scanners (``pl.read_*``, ``pl.scan_*``): classified like a pandas read (sidecar,
  Parquet metadata, the lineage store, names and sampled values) and audited;
- ``select``/``with_columns`` (and their ``_seq`` forms): each output column takes the class
  of the columns its expression reads (``Expr.meta.root_names()`` / ``output_name()``), so a
  renamed PII column keeps its class; ``rename`` moves classes with their columns;
- ``join``/``join_asof``/``join_where``/``pl.concat``/``vstack``: the combine rule, through
  ``Governor.inherit``;
- ``group_by(...).agg(...)`` (eager and lazy): the aggregation rule, with k-anonymity computed
  over the group keys' values, through ``Governor.inherit``; so do ``group_by_dynamic(...)`` and
  ``rolling(...)``'s ``agg``, grouped by the index column's values (and their ``group_by``
  keys): groups no larger than their windows;
- ``write_*``, ``sink_*`` and ``serialize(file)``: decided before anything is written
  (``GovernanceViolation`` with the usual message), lineage recorded, a sidecar for local
  files, the signed declaration in Parquet metadata;
- conversions: ``pl.from_pandas``, ``pl.from_arrow``, ``DataFrame.to_pandas``, ``to_arrow``;
- ``unpivot``/``melt``, ``unnest``, ``to_dummies``, ``transpose``: each new column from the
  columns its values come from (:mod:`lacuna.integrations.polars._reshape`);
- SQL (``pl.sql``, ``pl.SQLContext``, ``DataFrame.sql``/``LazyFrame.sql``): the statement's
  column lineage over the registered frames (:mod:`lacuna.integrations.polars._sql`);
- every other DataFrame/LazyFrame method that returns a frame: the result keeps its parent's
  state (filters, sorts, ``collect``, ``lazy``, each part of ``partition_by``); columns it
  gained are classified from their names and values at the next boundary, or before a
  ``select``/``rename`` moves them (the columns it lost make their tier the floor), so nothing
  comes out unclassified; ``df.columns = [...]`` and ``pl.DataFrame(frame, schema=[...])``
  move classes with their labels by position, ``insert_column(i, expr)`` is a
  ``with_columns``;
- Series (:mod:`lacuna.integrations.polars._series`): a column taken out of a tracked frame
  (``df["x"]``, ``get_column``, ``to_series``, ``iter_columns``, ...) keeps where it came from
  through every Series and namespace method (``.str``, ``.dt``, ..., operators: a binary one
  the strictest of both) and polars function, and a frame it enters (``pl.DataFrame({...})``,
  ``with_columns(s)``, ``hstack``, ``insert_column``, ``to_frame``, ``pl.select(s)``) gives
  the new column that class through ``Governor.inherit``;
- expressions (:mod:`lacuna.integrations.polars._exprs`): an expression holding such a Series
  as a literal (``pl.lit(s)``, ``pl.concat_str([s, ...])``, ``when(...).then(s)``) hands its
  origin on through every ``Expr``, namespace and ``when``/``then`` method, and the column it
  makes in ``select``/``with_columns``/``insert_column``/``group_by().agg`` gets that class; a
  Series literal no hook saw wrapped makes its column PROPRIETARY (fail closed).

A polars frame has no ``attrs``: its state lives in a weak registry keyed by the object's
identity (:mod:`lacuna.integrations.frames.state`); :func:`classification` reads it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
from polars.dataframe.group_by import DynamicGroupBy, GroupBy, RollingGroupBy
from polars.expr.whenthen import ChainedThen, ChainedWhen, Then, When
from polars.lazyframe.group_by import LazyGroupBy

from lacuna.integrations.frames.hooks import (
    ClassMethodHook,
    Hook,
    Hooks,
    PropertyHook,
    inside,
    outermost,
    passthrough,
)
from lacuna.integrations.frames.state import STATES
from lacuna.integrations.polars import _exprs, _io, _ops, _reshape, _series, _sql
from lacuna.model import Action, Classification

Make = Callable[[Callable[..., Any]], Callable[..., Any]]

_PARTS = frozenset({"partition_by"})  # methods returning a list (or dict) of frames
_SPECIFIC = frozenset({
    "select", "select_seq", "with_columns", "with_columns_seq", "rename", "join", "join_asof",
    "join_where", "group_by", "group_by_dynamic", "rolling", "vstack", "to_pandas", "to_arrow",
    "collect_schema", "serialize",
})


def _outer(make: Make) -> Make:
    return lambda original: passthrough(original, make(original))


def _inheriting(name: str) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            before = STATES.get(self)
            with outermost():
                result = original(self, *args, **kwargs)
            result = _series.taken(self, name, _ops.inherit(self, result))
            _series.cut(self, result)
            if name in _reshape.RESHAPES:
                _reshape.reshaped(name, self, result, args, kwargs)
            if name in _PARTS:  # a list (or dict) of frames, each with rows of this one
                for part in result.values() if isinstance(result, dict) else result:
                    _ops.inherit(self, part)
            if name in _series.PLACING:
                _series.put(name, before, result, args, kwargs)
            if name in _series.FILLING and (args or kwargs):
                _series.filled(f"polars.{name}", result, args, kwargs)
            column = args[1] if len(args) > 1 else kwargs.get("column")
            if name == "insert_column" and isinstance(column, pl.Expr):  # computed in place
                _ops.select(self, result, (column,), {}, keeps_others=True)
            return result

        return method

    return make


def _selecting(keeps_others: bool) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            with outermost():
                result = original(self, *args, **kwargs)
            _ops.select(self, result, args, kwargs, keeps_others=keeps_others)
            _series.cut(self, result)
            _series.selected("polars.with_columns" if keeps_others else "polars.select",
                             self, result, args, kwargs)
            return result

        return method

    return make


def _renaming(original: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        _ops.rename(self, result)
        return result

    return method


def _combining(operation: str) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, other: Any, *args: Any, **kwargs: Any) -> Any:
            with outermost():
                result = original(self, other, *args, **kwargs)
            _ops.joined(operation, [self, other], result)
            return result

        return method

    return make


def _concat(original: Callable[..., Any]) -> Callable[..., Any]:
    def concat(items: Any, *args: Any, **kwargs: Any) -> Any:
        items = list(items)
        with outermost():
            result = original(items, *args, **kwargs)
        _ops.joined("polars.concat", items, result)
        _series.concatenated(items, result)
        return result

    return concat


def _grouping(original: Callable[..., Any]) -> Callable[..., Any]:
    def group_by(self: Any, *by: Any, **kwargs: Any) -> Any:
        with outermost():
            group = original(self, *by, **kwargs)
        named = {k: v for k, v in kwargs.items() if k != "maintain_order"}
        _ops.remember_group(self, group, by, named)
        return group

    return group_by


def _windowing(original: Callable[..., Any]) -> Callable[..., Any]:
    """``group_by_dynamic``/``rolling``: grouped by windows of ``index_column`` (and the
    ``group_by`` keys), remembered for ``agg`` as a ``group_by`` on those columns. k is then
    computed over the index's distinct values, groups no larger than the windows (fail
    closed: a window holds one or more of them)."""

    def windowed(self: Any, index_column: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            group = original(self, index_column, *args, **kwargs)
        extra = kwargs.get("group_by")
        keys = () if extra is None else (extra,) if isinstance(extra, (str, pl.Expr)) else \
            tuple(extra)
        _ops.remember_group(self, group, (index_column, *keys), {})
        return group

    return windowed


def _aggregating(original: Callable[..., Any]) -> Callable[..., Any]:
    def agg(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        _ops.aggregate(self, result, args, kwargs)
        keys = _ops.group_of(self)  # Series or literals among the keys and the aggregations
        if keys is not None:
            source, by, named = keys
            _series.selected("polars.group_by.agg", source, result, (*by, *args),
                             {**named, **kwargs})
        return result

    return agg


# -- Series (lacuna.integrations.polars._series) ------------------------------------------------

# Series operators that return a Series (or compute one in place: __setitem__)
_OPERATORS = frozenset({
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__eq__", "__ne__",
    "__gt__", "__lt__", "__ge__", "__le__", "__add__", "__radd__", "__sub__", "__rsub__",
    "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__",
    "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
    "__pos__", "__abs__", "__invert__", "__copy__", "__deepcopy__", "__getitem__",
    "__setitem__", "__array_ufunc__", "__iter__",
})
# the Series properties that return a namespace of methods building new Series
_NAMESPACES = frozenset({"str", "dt", "list", "arr", "cat", "struct", "bin", "map", "ext"})
_EXPR_NAMESPACES = _NAMESPACES | {"name"}  # not ``meta``: it describes an expression


def _namespaces(owner: type, names: frozenset[str] = _NAMESPACES) -> list[type]:
    """The namespace classes of the installed polars (``s.str`` is a ``StringNameSpace``,
    ``pl.col("x").str`` an ``ExprStringNameSpace``), found through the namespace properties'
    return annotations."""
    import sys

    found: list[type] = []
    for name in sorted(names):
        prop = vars(owner).get(name)
        if not isinstance(prop, property) or prop.fget is None:
            continue
        kind = inspect.signature(prop.fget).return_annotation
        if isinstance(kind, str):
            module = sys.modules.get(getattr(prop.fget, "__module__", ""))
            kind = vars(module).get(kind) if module is not None else None
        if isinstance(kind, type) and kind not in found:
            found.append(kind)
    return found


def _carrying(name: str, module: str = "") -> Make:
    """A Series or namespace method, or (``module``) a polars function given Series."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            with outermost():
                result = original(self, *args, **kwargs)
            if isinstance(result, _series.EXPRESSIONS):
                return _exprs.made(name, self, args, kwargs, result)
            return _series.carried(name, self, args, kwargs, result)

        def function(*args: Any, **kwargs: Any) -> Any:
            with outermost():
                result = original(*args, **kwargs)
            if isinstance(result, _series.EXPRESSIONS):
                return _exprs.made(name, None, args, kwargs, result)
            return _series.carried(name, None, args, kwargs, result, operation=module)

        return function if module else method

    return make


def _namespace(original: Callable[..., Any]) -> Callable[..., Any]:
    def getter(self: Any) -> Any:
        with outermost():
            result = original(self)
        return _series.namespace(self, result)

    return getter


def _relabelling(original: Callable[..., Any]) -> Callable[..., Any]:
    def setter(self: Any, names: Any) -> None:
        old = list(self.columns)
        with outermost():
            original(self, names)
        _ops.relabelled(self, old)

    return setter


def _series_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        with outermost():
            original(self, *args, **kwargs)
        _series.constructed(self, args, kwargs)

    return init


def _building(original: Callable[..., Any]) -> Callable[..., Any]:
    def init(self: Any, data: Any = None, *args: Any, **kwargs: Any) -> None:
        with outermost():
            original(self, data, *args, **kwargs)
        _series.built(self, data, kwargs, f"polars.{type(self).__name__}")

    return init


def _from_dict(original: Callable[..., Any]) -> Callable[..., Any]:
    def from_dict(data: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(data, *args, **kwargs)
        _series.built(result, data, kwargs, "polars.from_dict")
        return result

    return from_dict


@dataclass(slots=True)
class _ExprHook(Hook):
    """An expression method: polars calls them from inside its own methods all the time, so
    those calls go straight to the original, before the guard (which would pass them through
    too, a few microseconds later)."""

    def build(self, original: Any) -> Any:
        guarded = Hook.build(self, original)

        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            if inside():
                return original(*args, **kwargs)
            return guarded(*args, **kwargs)

        return call


def _hooks() -> list[Hook]:
    hooks: list[Hook] = []

    def add(owner: Any, name: str, make: Make, action: Action = Action.TRANSFORM,
            kind: type[Hook] = Hook) -> None:
        if hasattr(owner, name):
            where = getattr(owner, "__name__", "polars")
            label = f"polars.{name}" if where == "polars" else f"polars.{where}.{name}"
            hooks.append(kind(owner, name, _outer(make), action, label))

    for name in _io.READERS:
        add(pl, name, _io.wrap_reader(name), Action.READ)
    for name in _io.SCANNERS:
        add(pl, name, _io.wrap_reader(name), Action.READ)
    for name in _io.DESERIALIZERS:  # classmethods
        for owner in (pl.DataFrame, pl.LazyFrame):
            if hasattr(owner, name):
                hooks.append(ClassMethodHook(owner, name, _outer(_io.wrap_reader(name)),
                                             Action.READ, f"polars.{owner.__name__}.{name}"))
    for name, keyword in _io.WRITERS.items():
        add(pl.DataFrame, name, _io.wrap_writer(name, keyword, "DataFrame"), Action.EXPORT)
    for name, keyword in _io.SINKS.items():
        add(pl.LazyFrame, name, _io.wrap_writer(name, keyword, "LazyFrame"), Action.EXPORT)
    for name, keyword in _io.SERIALIZERS.items():
        for owner, label in ((pl.DataFrame, "DataFrame"), (pl.LazyFrame, "LazyFrame")):
            add(owner, name, _io.wrap_writer(name, keyword, label), Action.EXPORT)
    add(pl, "from_pandas", _io.wrap_from_pandas)
    add(pl, "from_arrow", _io.wrap_from_arrow)
    add(pl, "from_dataframe", _io.wrap_from_dataframe)
    for exporter in (pl.DataFrame, pl.Series):  # every call, nested too (_io.wrap_arrow_export)
        if hasattr(exporter, "__arrow_c_stream__"):
            hooks.append(Hook(exporter, "__arrow_c_stream__", _io.wrap_arrow_export,
                              Action.TRANSFORM, f"polars.{exporter.__name__}.__arrow_c_stream__"))
    add(pl.DataFrame, "to_pandas", _io.wrap_to_pandas)
    add(pl.DataFrame, "to_arrow", _io.wrap_to_arrow)
    add(pl, "concat", _concat)
    # polars SQL: registration and execution, also when polars calls them itself (pl.sql,
    # DataFrame.sql): not passed through (lacuna.integrations.polars._sql)
    for name, sql in (("register", _sql.registering), ("unregister", _sql.unregistering),
                      ("execute", _sql.executing)):
        if hasattr(pl.SQLContext, name):
            hooks.append(Hook(pl.SQLContext, name, sql, Action.TRANSFORM,
                              f"polars.SQLContext.{name}"))
    for owner in (pl.DataFrame, pl.LazyFrame):
        add(owner, "select", _selecting(False))
        add(owner, "select_seq", _selecting(False))
        add(owner, "with_columns", _selecting(True))
        add(owner, "with_columns_seq", _selecting(True))
        add(owner, "rename", _renaming)
        for join in ("join", "join_asof", "join_where"):
            add(owner, join, _combining(f"polars.{join}"))
        add(owner, "group_by", _grouping)
        for name in ("group_by_dynamic", "rolling"):
            add(owner, name, _windowing)
        for name, value in vars(owner).items():
            public = not name.startswith("_") or name == "__getitem__"
            if (public and inspect.isfunction(value) and name not in _SPECIFIC
                    and not name.startswith(("write_", "sink_", "to_", "collect_batches"))):
                add(owner, name, _inheriting(name))
    for name in ("to_series", "to_struct", "to_dummies"):  # a column, all columns, a frame
        add(pl.DataFrame, name, _inheriting(name))
    for name in ("to_dicts", "to_dict", "to_numpy"):  # every column's values: indexed
        add(pl.DataFrame, name, _inheriting(name))
    add(pl.DataFrame, "vstack", _combining("polars.vstack"))
    for group in (GroupBy, LazyGroupBy, DynamicGroupBy, RollingGroupBy):
        add(group, "agg", _aggregating)
    for owner in (pl.DataFrame, pl.LazyFrame):
        add(owner, "__init__", _building)
    add(pl, "from_dict", _from_dict)
    add(pl.Series, "__init__", _series_init)
    # expressions holding Series (lacuna.integrations.polars._exprs): Expr, its namespaces
    # (not ``meta``, which describes an expression), when/then/otherwise
    exprs: list[type] = [pl.Expr, *_namespaces(pl.Expr, _EXPR_NAMESPACES),
                         When, Then, ChainedWhen, ChainedThen]
    for kind in [pl.Series, *_namespaces(pl.Series), *exprs]:
        for name, value in vars(kind).items():
            if inspect.isfunction(value) and (name in _OPERATORS or not name.startswith("_")):
                add(kind, name, _carrying(name), kind=_ExprHook if kind in exprs else Hook)
    hooked = {h.name for h in hooks if h.owner is pl} | {"select", "wrap_s", "wrap_df"}
    for name, value in vars(pl).items():  # pl.struct(s, eager=True), pl.sum_horizontal(s, t)
        if (inspect.isfunction(value) and name not in hooked
                and not name.startswith(("_", "read_", "scan_"))):
            add(pl, name, _carrying(name, "polars"))
    if isinstance(vars(pl.DataFrame).get("columns"), property):
        hooks.append(PropertyHook(pl.DataFrame, "columns", _outer(_relabelling),
                                  Action.TRANSFORM, "polars.DataFrame.columns", setter=True))
    for computes, names in ((pl.Series, _NAMESPACES), (pl.Expr, _EXPR_NAMESPACES)):
        for name, value in vars(computes).items():
            if isinstance(value, property) and name in names:
                hooks.append(PropertyHook(computes, name, _outer(_namespace), Action.TRANSFORM,
                                          f"polars.{computes.__name__}.{name}"))
    return hooks


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)


def classification(frame: pl.DataFrame | pl.LazyFrame) -> Classification:
    """The classification of a polars frame as it is now (tier, tags, column classes), with
    what its column names hold read as a header, as a write decides it
    (:func:`lacuna.lineage.frames.reported`)."""
    from lacuna.lineage.frames import reported, with_labels

    config = _ops.settings()
    return reported(with_labels(_ops.state(frame, config), _ops.columns_of(frame), config))


def sources(frame: pl.DataFrame | pl.LazyFrame) -> tuple[str, ...]:
    """The named sources (files, tables) the frame was computed from."""
    return _ops.state(frame).lineage.roots()


__all__ = ["classification", "hold", "install", "installed", "release", "sources", "uninstall"]
