"""The polars integration: eager and lazy frames under the same pipeline as pandas.

``install()`` (``lacuna.enable()`` / ``lacuna.governed()`` call it when polars is installed)
hooks, behind the pandas integration's guard:

- readers and scanners (``pl.read_*``, ``pl.scan_*``): classified like a pandas read (sidecar,
  Parquet metadata, the lineage store, names and sampled values) and audited;
- ``select``/``with_columns`` (and their ``_seq`` forms): each output column takes the class
  of the columns its expression reads (``Expr.meta.root_names()`` / ``output_name()``), so a
  renamed PII column keeps its class; ``rename`` moves classes with their columns;
- ``join``/``join_asof``/``join_where``/``pl.concat``/``vstack``: the combine rule, through
  ``Governor.inherit``;
- ``group_by(...).agg(...)`` (eager and lazy): the aggregation rule, with k-anonymity computed
  over the group keys' values, through ``Governor.inherit``;
- ``write_*``, ``sink_*`` and ``serialize(file)``: decided before anything is written
  (``GovernanceViolation`` with the usual message), lineage recorded, a sidecar for local
  files, the signed declaration in Parquet metadata;
- conversions: ``pl.from_pandas``, ``pl.from_arrow``, ``DataFrame.to_pandas``, ``to_arrow``;
- every other DataFrame/LazyFrame method that returns a frame: the result keeps its parent's
  state (filters, sorts, ``collect``, ``lazy``); columns it gained are classified from their
  names and values at the next boundary, so nothing comes out unclassified.

A polars frame has no ``attrs``: its state lives in a weak registry keyed by the object's
identity (:mod:`lacuna.integrations.frames.state`); :func:`classification` reads it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import polars as pl
from polars.dataframe.group_by import GroupBy
from polars.lazyframe.group_by import LazyGroupBy

from lacuna.integrations.frames.hooks import Hook, Hooks, outermost, passthrough
from lacuna.integrations.polars import _io, _ops
from lacuna.model import Action, Classification

Make = Callable[[Callable[..., Any]], Callable[..., Any]]

_SPECIFIC = frozenset({
    "select", "select_seq", "with_columns", "with_columns_seq", "rename", "join", "join_asof",
    "join_where", "group_by", "vstack", "to_pandas", "to_arrow", "collect_schema", "serialize",
})


def _outer(make: Make) -> Make:
    return lambda original: passthrough(original, make(original))


def _inheriting(original: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        return _ops.inherit(self, result)

    return method


def _selecting(keeps_others: bool) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            with outermost():
                result = original(self, *args, **kwargs)
            _ops.select(self, result, args, kwargs, keeps_others=keeps_others)
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


def _aggregating(original: Callable[..., Any]) -> Callable[..., Any]:
    def agg(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        _ops.aggregate(self, result, args, kwargs)
        return result

    return agg


def _hooks() -> list[Hook]:
    hooks: list[Hook] = []

    def add(owner: Any, name: str, make: Make, action: Action = Action.TRANSFORM) -> None:
        if hasattr(owner, name):
            where = getattr(owner, "__name__", "polars")
            label = f"polars.{name}" if where == "polars" else f"polars.{where}.{name}"
            hooks.append(Hook(owner, name, _outer(make), action, label))

    for name in _io.READERS:
        add(pl, name, _io.wrap_reader(name), Action.READ)
    for name in _io.SCANNERS:
        add(pl, name, _io.wrap_reader(name), Action.READ)
    for name, keyword in _io.WRITERS.items():
        add(pl.DataFrame, name, _io.wrap_writer(name, keyword, "DataFrame"), Action.EXPORT)
    for name, keyword in _io.SINKS.items():
        add(pl.LazyFrame, name, _io.wrap_writer(name, keyword, "LazyFrame"), Action.EXPORT)
    for name, keyword in _io.SERIALIZERS.items():
        for owner, label in ((pl.DataFrame, "DataFrame"), (pl.LazyFrame, "LazyFrame")):
            add(owner, name, _io.wrap_writer(name, keyword, label), Action.EXPORT)
    add(pl, "from_pandas", _io.wrap_from_pandas)
    add(pl, "from_arrow", _io.wrap_from_arrow)
    add(pl.DataFrame, "to_pandas", _io.wrap_to_pandas)
    add(pl.DataFrame, "to_arrow", _io.wrap_to_arrow)
    add(pl, "concat", _concat)
    for owner in (pl.DataFrame, pl.LazyFrame):
        add(owner, "select", _selecting(False))
        add(owner, "select_seq", _selecting(False))
        add(owner, "with_columns", _selecting(True))
        add(owner, "with_columns_seq", _selecting(True))
        add(owner, "rename", _renaming)
        for join in ("join", "join_asof", "join_where"):
            add(owner, join, _combining(f"polars.{join}"))
        add(owner, "group_by", _grouping)
        for name, value in vars(owner).items():
            public = not name.startswith("_") or name == "__getitem__"
            if (public and inspect.isfunction(value) and name not in _SPECIFIC
                    and not name.startswith(("write_", "sink_", "to_", "collect_batches"))):
                add(owner, name, _inheriting)
    add(pl.DataFrame, "vstack", _combining("polars.vstack"))
    for group in (GroupBy, LazyGroupBy):
        add(group, "agg", _aggregating)
    return hooks


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)


def classification(frame: pl.DataFrame | pl.LazyFrame) -> Classification:
    """The classification of a polars frame as it is now (tier, tags, column classes)."""
    return _ops.state(frame).classification


def sources(frame: pl.DataFrame | pl.LazyFrame) -> tuple[str, ...]:
    """The named sources (files, tables) the frame was computed from."""
    return _ops.state(frame).lineage.roots()


__all__ = ["classification", "hold", "install", "installed", "release", "sources", "uninstall"]
