"""polars operations described as lineage steps: which input column each output comes from
(``Expr.meta.output_name()`` / ``root_names()``), handed to ``Governor.inherit`` (a ``DERIVE``
step for a select or rename, ``COMBINE`` for a join, ``AGGREGATE`` for a group-by)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
import polars as pl

from lacuna import _bypass
from lacuna.config import ClassificationConfig
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import STATES, effective, k_again
from lacuna.lineage.state import DataState
from lacuna.lineage.step import ColumnMap, Step, StepInput, StepKind
from lacuna.model import FrozenDict

Frame = pl.DataFrame | pl.LazyFrame
_COUNTING = re.compile(r"(^len\(\)|\.(count|len|n_unique)\(\))(\.alias\(.*\))?$")


def settings() -> ClassificationConfig:
    from lacuna.governor import current

    return current().config.classification


def columns_of(obj: Frame) -> list[str]:
    if isinstance(obj, pl.LazyFrame):
        return list(obj.collect_schema().names())
    return list(obj.columns)


def sample(obj: Frame, rows: int) -> Callable[[Sequence[str]], pd.DataFrame]:
    """Evenly spaced rows of an eager frame (the first rows of a lazy one), as pandas."""

    def take(names: Sequence[str]) -> pd.DataFrame:
        picked = obj.select([pl.col(n) for n in names])
        if isinstance(picked, pl.LazyFrame):
            eager = picked.head(rows).collect()
        else:
            step = max(picked.height // rows, 1)
            eager = picked.gather_every(step).head(rows) if step > 1 else picked.head(rows)
        with _bypass.bypass():
            return eager.to_pandas()

    return take


def state(obj: Frame, config: ClassificationConfig | None = None) -> DataState:
    """The effective state of a polars frame (see :func:`lacuna.integrations.frames.effective`),
    with k-anonymity counted again on the rows it holds (:func:`_k_again`)."""
    config = config or settings()
    found = effective(STATES.get(obj), columns_of(obj), sample(obj, config.sample_rows), config)
    return _k_again(obj, found, config)


def _k_again(obj: Frame, found: DataState, config: ClassificationConfig) -> DataState:
    """k counted again on the rows ``obj`` holds (:func:`lacuna.integrations.frames.state
    .k_again`): a filter or ``head`` of a k-anonymous frame kept its verdict."""

    def read(names: Sequence[str]) -> pd.DataFrame:
        with outermost():
            picked = obj.select([pl.col(n) for n in names])
            eager = picked.collect() if isinstance(picked, pl.LazyFrame) else picked
            values: pd.DataFrame = eager.to_pandas()
        return values

    return k_again(found, columns_of(obj), read, config)


def settled(frame: Frame) -> DataState | None:
    """The tracked state of ``frame`` (None: untracked), with the columns it gained since
    (a reshape that keeps its parent's state: ``unnest``, ``explode``, ...) classified now, as
    the next boundary would: a column the state does not know is never moved on as untraced."""
    tracked = STATES.get(frame)
    if tracked is None:
        return None
    known = tracked.classification.columns
    if all(c in known for c in columns_of(frame)):
        return tracked
    return state(frame)


def inherit(parent: Any, result: Any) -> Any:
    """A transform that keeps content (filter, sort, head, collect, lazy, ...): the result has
    the parent's state; columns it lost or gained are settled at the next boundary."""
    if (isinstance(result, (pl.DataFrame, pl.LazyFrame)) and result is not parent
            and STATES.get(result) is None):
        found = STATES.get(parent)
        if found is not None:
            STATES.set(result, found)
    return result


# -- expressions --------------------------------------------------------------------------------


def _flatten(items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _expr_of(item: Any) -> tuple[str | None, list[str] | None, bool]:
    """(output name, source columns, is a bare column) of one select/agg input; sources None
    when untraceable (a Series, a literal)."""
    if isinstance(item, str):
        return item, [item], True
    if isinstance(item, pl.Expr):
        try:
            out: str | None = item.meta.output_name()
        except Exception:
            out = None
        try:
            roots = [str(r) for r in item.meta.root_names()]
        except Exception:
            roots = []
        bare = bool(out) and roots == [out] and str(item) == f'col("{out}")'
        return out, roots, bare
    name = getattr(item, "name", None)
    return (str(name) if name is not None else None), None, False


def expressions(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str | None,
                                                                            list[str] | None,
                                                                            bool]]:
    found = [_expr_of(a) for a in _flatten(args)]
    for name, value in kwargs.items():
        _, roots, _ = _expr_of(value)
        found.append((name, roots, False))
    return found


def select(parent: Frame, result: Frame, args: tuple[Any, ...], kwargs: dict[str, Any],
           *, keeps_others: bool) -> None:
    """``select`` (``keeps_others=False``) or ``with_columns``: each output column takes the
    strictest class of the columns its expression reads (a ``DERIVE`` step)."""
    tracked = settled(parent)
    if tracked is None:
        return
    column_map: dict[str, tuple[tuple[int, str], ...]] = {}
    functions: dict[str, str] = {}
    items = expressions(args, kwargs)
    for item, (out, roots, bare) in zip([*_flatten(args), *kwargs.values()], items, strict=True):
        if out is not None and not roots and isinstance(item, pl.Expr) and _reads_columns(item):
            # over a wildcard or a selector (``pl.concat_str(pl.all()).alias("row")``): polars
            # names no root, yet it reads every column it selects (a computation: all of them)
            column_map[out] = tuple((0, r) for r in _selected_by(parent, item))
            functions[out] = "polars expression of several columns"
            continue
        if out is None or not roots:
            continue
        column_map[out] = tuple((0, r) for r in roots)
        if not (bare or _expr_alias_free(args, kwargs, out) == f'col("{roots[0]}")'):
            functions[out] = "polars expression"
    _renamed_by_pattern(tracked, parent, result, args, column_map, functions)
    moves = ", ".join(f"{'+'.join(r or ['?'])} → {o}" for o, r, b in items if not b and o)
    _derive(tracked, result, column_map, functions, f"polars select: {moves or 'columns'}",
            "polars.with_columns" if keeps_others else "polars.select")


def _reads_columns(expr: pl.Expr, depth: int = 0) -> bool:
    """Whether ``expr`` reads any column (a selection among its inputs, at any depth), as
    opposed to a literal, ``pl.len()`` or ``pl.int_range``; True when polars cannot say (fail
    closed)."""
    if depth > 64:
        return True
    try:
        if expr.meta.is_column_selection(allow_aliasing=True) or expr.meta.is_column():
            return True
        inputs = expr.meta.pop()
    except Exception:
        return True
    return any(_reads_columns(e, depth + 1) for e in inputs)


def _renamed_by_pattern(tracked: DataState, parent: Frame, result: Frame,
                        args: tuple[Any, ...], column_map: dict[str, tuple[tuple[int, str], ...]],
                        functions: dict[str, str]) -> None:
    """Columns made by an expression of several outputs (``pl.all().name.prefix("x")``, a
    selector, ``pl.col("a", "b").name.suffix("_n")``) under new names: polars cannot say which
    input each came from, so each takes every column those expressions select (the expression
    without its renaming, resolved by polars; every column of the frame when it cannot be:
    fail closed)."""
    wide: list[str] = []
    for item in _flatten([*args]):
        if isinstance(item, pl.Expr) and _expr_of(item)[0] is None:
            wide += [r for r in _selected_by(parent, item) if r not in wide]
    if not wide:
        return
    known = tracked.classification.columns
    for out in columns_of(result):
        if out not in column_map and out not in known:
            column_map[out] = tuple((0, r) for r in wide)
            functions[out] = "polars expression of several columns"


def _selected_by(parent: Frame, expr: pl.Expr) -> list[str]:
    """The columns of ``parent`` that ``expr``, a column selection renamed, selects (its
    renaming undone); all of them for a computation (``pl.all().abs().name.suffix("_a")``,
    which may read more than it outputs) or what polars cannot resolve (fail closed)."""
    try:
        selection = expr.meta.is_column_selection(allow_aliasing=True)
    except Exception:
        selection = False
    return resolved(parent, expr.meta.undo_aliases()) if selection else columns_of(parent)


def resolved(frame: Frame, spec: Any) -> list[str]:
    """The columns of ``frame`` that ``spec`` (a name, a list, a selector, an expression)
    selects, as polars resolves it; every column when polars cannot (fail closed)."""
    with _bypass.bypass(), outermost():
        try:
            return list(frame.lazy().select(spec).collect_schema().names())
        except Exception:
            return columns_of(frame)


def _derive(tracked: DataState, result: Frame, column_map: ColumnMap,
            functions: dict[str, str], description: str, operation: str) -> None:
    from lacuna.governor import current

    step = Step(kind=StepKind.DERIVE, operation=operation, inputs=(StepInput.of(tracked),),
                outputs=tuple(columns_of(result)), column_map=FrozenDict(column_map),
                functions=FrozenDict(functions), description=description)
    STATES.set(result, current().inherit(step).state())


def _expr_alias_free(args: tuple[Any, ...], kwargs: dict[str, Any], out: str) -> str:
    """The expression producing ``out`` with its alias removed (to tell a rename from a
    computation)."""
    for item in [*_flatten(args), *kwargs.values()]:
        if isinstance(item, pl.Expr):
            try:
                if item.meta.output_name() == out:
                    return str(item.meta.undo_aliases())
            except Exception:
                continue
    return ""


def rename(parent: Frame, result: Frame) -> None:
    """``rename``: positions are kept, so the i-th column's class moves to its new name."""
    tracked = settled(parent)
    if tracked is None:
        return
    _moved(tracked, columns_of(parent), result, "polars.rename")


def relabelled(frame: pl.DataFrame, old: Sequence[str]) -> None:
    """``df.columns = [...]``: the frame's columns (were ``old``) relabelled in place, by
    position, like a rename (a swap of two labels swaps their classes)."""
    tracked = STATES.get(frame)
    if tracked is not None and not all(c in tracked.classification.columns for c in old):
        tracked = effective(tracked, old, lambda names: sample(frame, settings().sample_rows)(
            [frame.columns[old.index(n)] for n in names]).set_axis(list(names), axis=1),
            settings())
    if tracked is not None:
        _moved(tracked, old, frame, "polars.columns")


def moved(tracked: DataState, old: Sequence[str], result: Frame, operation: str) -> None:
    """``result`` holds the columns ``old`` of a frame whose state is ``tracked``, in that
    order, under its own names (a copy: the same names, or others given by a schema)."""
    if list(old) == columns_of(result):
        STATES.set(result, tracked)
        return
    _moved(tracked, old, result, operation)


def _moved(tracked: DataState, old: Sequence[str], result: Frame, operation: str) -> None:
    new = columns_of(result)
    if len(old) != len(new):
        STATES.set(result, tracked)
        return
    column_map = {n: ((0, o),) for o, n in zip(old, new, strict=True) if o != n}
    moves = ", ".join(f"{o} → {n}" for o, n in zip(old, new, strict=True) if o != n)
    _derive(tracked, result, column_map, {}, f"renamed: {moves}", operation)


# -- joins and concatenations -------------------------------------------------------------------


def joined(operation: str, inputs: Sequence[Any], result: Any) -> None:
    """A join or concatenation: ``Governor.inherit`` with the combine rule."""
    from lacuna.governor import current

    frames = [f for f in inputs if isinstance(f, (pl.DataFrame, pl.LazyFrame))]
    if not frames or not isinstance(result, (pl.DataFrame, pl.LazyFrame)):
        return
    config = settings()
    step = Step(kind=StepKind.COMBINE, operation=operation,
                inputs=tuple(StepInput.of(state(f, config)) for f in frames),
                outputs=tuple(columns_of(result)))
    STATES.set(result, current().inherit(step).state())


# -- group-by -----------------------------------------------------------------------------------

_GROUPS: dict[int, tuple[Any, Any, tuple[Any, ...], dict[str, Any]]] = {}


def remember_group(source: Frame, group: Any, by: tuple[Any, ...], named: dict[str, Any]) -> None:
    """``group_by`` returned ``group``: keep what it groups and by what, for its ``agg``."""
    import weakref

    key = id(group)

    def gone(_ref: Any, key: int = key) -> None:
        _GROUPS.pop(key, None)

    try:
        ref = weakref.ref(group, gone)
    except TypeError:
        return
    _GROUPS[key] = (ref, source, by, named)


def group_of(group: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]] | None:
    """The frame ``group`` groups and its keys (``group_by``'s arguments), or None."""
    entry = _GROUPS.get(id(group))
    if entry is None or entry[0]() is not group:
        return None
    return entry[1], entry[2], entry[3]


def aggregate(group: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``group_by(...).agg(...)``: the aggregation rule with k computed over the key values."""
    from lacuna.governor import current

    entry = _GROUPS.get(id(group))
    if entry is None or entry[0]() is not group or not isinstance(
            result, (pl.DataFrame, pl.LazyFrame)):
        return
    _, source, by, named = entry
    config = settings()
    parent = state(source, config)
    out_cols = columns_of(result)
    key_items = expressions(by, named)
    keys = [o for o, _, _ in key_items if o]
    if len(keys) != len(key_items):
        keys = out_cols[: len(key_items)]
    outputs: dict[str, str | None] = {}
    functions: dict[str, str] = {}
    for item in _flatten([*args, *kwargs.values()]):
        out, roots, _ = _expr_of(item)
        if isinstance(item, pl.Expr) and out is not None:
            text = str(item.meta.undo_aliases()) if hasattr(item.meta, "undo_aliases") else ""
            if _COUNTING.search(str(item)) or _COUNTING.search(text):
                outputs[out] = "*"
            elif roots and len(roots) == 1:
                outputs[out] = roots[0]
            else:
                outputs[out] = None
            functions[out] = text or str(item)
    for name, value in kwargs.items():
        if name not in outputs:
            _, roots, _ = _expr_of(value)
            outputs[name] = roots[0] if roots and len(roots) == 1 else None
    for col in out_cols:  # outputs of multi-column expressions (pl.all().sum()): by name
        if col not in keys and col not in outputs:
            outputs[col] = col if col in parent.classification.columns else None

    key_exprs = [pl.col(k) if isinstance(k, str) else k for k in _flatten(by)]
    key_exprs += [v.alias(k) if isinstance(v, pl.Expr) else pl.col(v).alias(k)
                  for k, v in named.items()]

    def values(_keys: Sequence[str]) -> pd.DataFrame:
        picked = source.select(key_exprs)
        eager = picked.collect() if isinstance(picked, pl.LazyFrame) else picked
        with _bypass.bypass():
            return eager.to_pandas()

    step = Step(kind=StepKind.AGGREGATE, operation="polars.group_by.agg",
                inputs=(StepInput.of(parent),), outputs=tuple(out_cols), keys=tuple(keys),
                aggregates=FrozenDict(outputs), functions=FrozenDict(functions),
                values=values)
    STATES.set(result, current().inherit(step).state())


