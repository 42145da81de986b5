"""polars expressions holding Series: ``pl.lit(s)`` keeps the class of the values it wraps.

A Series taken from a governed frame (:mod:`lacuna.integrations.polars._series`) can enter a
frame inside an expression: ``pl.lit(s)``, ``pl.concat_str([s, pl.col("x")])``,
``pl.col("x").is_in(s)``, ``pl.when(...).then(s)``, ``pl.col("x") + s``. polars copies the
Series into the expression as a literal; the expression names no column of the frame, so its
output would be classified from its name and values alone.

So every expression a hooked polars call returns from a tracked Series or expression (a polars
function, an ``Expr`` method or operator, a namespace method, ``when``/``then``/``otherwise``)
gets the union of their :class:`~lacuna.integrations.polars._series.Taken` in
:data:`~lacuna.integrations.polars._series.EXPRS`, as a Series method's result does; an
expression made from values given from Python (a plain Series, a list, an array) is marked
:data:`~lacuna.integrations.polars._series.PLAIN`. An expression that names no literal costs one
look-up per call and is not marked.

When an expression enters a frame (``select``, ``with_columns``, ``insert_column``,
``group_by(...).agg`` and its keys), its output column is the Series' values placed there, as
``with_columns(s)`` would place them (a ``DERIVE`` step per source frame, a ``COMBINE`` with
the frame), added to the frame's columns the expression reads. An expression holding a Series
literal that is in neither registry (made by a function imported before ``lacuna.enable()``,
deserialized, built inside a callback) cannot say where its values came from: its output is
PROPRIETARY (fail closed), with the fix in the reasoning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from polars._utils.wrap import wrap_expr

from lacuna.integrations.frames.placing import Source
from lacuna.integrations.polars._ops import _flatten, columns_of, state
from lacuna.integrations.polars._series import (
    _NAMESPACES,
    EXPRESSIONS,
    EXPRS,
    PLAIN,
    Taken,
    _union,
    taken_of,
)
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Classification

# a Series literal as polars prints an expression: ``Series[email]``, ``Series``,
# ``is_in([Series[email]])``; not a quoted name (``col("Series")``, ``lit("Series")``)
_LITERAL = re.compile(r'(?<!["\w])Series(?![\w"])')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _holds_literal(expr: Any) -> bool:
    """Whether polars prints ``expr`` with a Series literal in it (names and strings, quoted,
    left out: ``col("a Series b")`` holds none)."""
    text = str(expr)
    return "Series" in text and _LITERAL.search(_QUOTED.sub('""', text)) is not None


_COLLECTIONS = (pl.Series, list, tuple, set, frozenset, range, dict)
_SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_FROM_TEXT = frozenset({"sql_expr"})


def _given(items: Iterable[Any], found: list[Taken]) -> bool:
    """Adds to ``found`` what each Series or expression among ``items`` (lists walked) holds;
    True when an item puts values into the expression as a literal Series (a Series, a list,
    an array: polars makes one of each). One look-up per argument: this runs on every
    expression method a user calls."""
    values = False
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if isinstance(item, EXPRESSIONS):
            held = EXPRS.get(item)
        elif isinstance(item, (list, tuple)):
            values = True
            _given(item, found)
            continue
        else:
            values = values or isinstance(item, _COLLECTIONS) or (
                hasattr(item, "__array__") and not isinstance(item, type))
            held = taken_of(item)  # a Series, an Arrow array
        if held is not None:
            found.append(held)
    return values


def made(method: str, owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
         result: Any) -> Any:
    """A hooked call (``owner``'s ``method``, or a polars function: ``owner`` None) returned
    the expression ``result``: it holds the literals of ``owner`` and of every Series or
    expression it was given."""
    found: list[Taken] = []
    if owner is not None:
        own = (EXPRS.get(owner) if isinstance(owner, EXPRESSIONS)
               else _NAMESPACES.get(owner))
        if own is not None:
            found.append(own)
    # SQL text (``pl.sql_expr("x IN (1, 2)")``) is typed values: polars makes a Series of a list
    values = method in _FROM_TEXT if owner is None else False
    values = _given(args, found) or values if args else values
    if kwargs:
        values = _given(kwargs.values(), found) or values
    if not (found or values) or any(
            _opaque(e) for e in _flatten([owner, *args, *kwargs.values()])):
        return result  # an unmarked literal among them: left unmarked, so its use fails closed
    EXPRS.set(result, _union(found).then(method) if any(t.sources for t in found) else PLAIN)
    return result


def _opaque(item: Any) -> bool:
    """An expression holding a Series literal no hook saw wrapped (it must stay unmarked, so
    its use fails closed, not become PLAIN with the plain values it is combined with)."""
    if isinstance(item, pl.Expr):
        if EXPRS.get(item) is not None:
            return False
    elif item is not None and _NAMESPACES.get(item) is None and \
            hasattr(item, "_pyexpr"):  # ``expr.str``: the expression it was taken from
        item = wrap_expr(item._pyexpr)
    else:
        return False
    return _holds_literal(item)


def _unknown(column: str) -> Taken:
    """Values of an expression's Series literal that no hook saw wrapped: PROPRIETARY."""
    reason = (f"column '{column}' is computed from a polars Series held in an expression as "
              "a literal that Lacuna did not see wrapped (an expression built by a polars "
              "function imported before lacuna.enable(), deserialized, or inside a callback), "
              "so where its values came from is unknown. Build the expression after "
              "lacuna.enable() (pl.lit(s), Expr methods), or put the Series in itself: "
              "with_columns(s).")
    found = DataState(
        classification=Classification.fail_closed(reason),
        # the combine rule names its inputs only: the node's name for it carries the why
        lineage=LineageNode(name=None, operation=(
            f"polars.lit: a Series literal of unknown origin in column '{column}' (fail "
            "closed; build the expression after lacuna.enable())")))
    return Taken((Source(found, ()),), ("literal of unknown origin",))


def _output(expr: pl.Expr) -> str | None:
    try:
        return str(expr.meta.output_name())
    except Exception:  # a multi-output or renamed-by-function expression: unknown
        return None


def _roots(expr: pl.Expr) -> tuple[str, ...]:
    try:
        return tuple(str(r) for r in expr.meta.root_names())
    except Exception:
        return ()


def placements(exprs: Sequence[tuple[str | None, pl.Expr]], parent: Any, result: Any
               ) -> list[tuple[str, Taken]]:
    """The expressions among a call's arguments (each with the keyword it was given under, or
    None) that hold tracked Series, each with the column it makes: the Series' values placed
    there, after the columns of ``parent`` it reads (so they add to them). An expression whose
    output name polars cannot tell places them in every column of ``result`` (fail closed)."""
    found: list[tuple[str, Taken]] = []
    outputs: list[str] | None = None  # the columns of result and of parent, read once
    inputs: list[str] | None = None
    for name, expr in exprs:
        values = EXPRS.get(expr)
        if values is not None and not values.sources:
            continue  # literals of plain values
        out = name if name is not None else _output(expr)
        if values is None:
            if not _holds_literal(expr):
                continue  # no literal Series: the select already described it
            values = _unknown(out or "?")
        if outputs is None:
            outputs = columns_of(result) if result is not None else []
        targets = [out] if out is not None and out in outputs else outputs
        roots = _roots(expr)
        read = None
        if roots and isinstance(parent, (pl.DataFrame, pl.LazyFrame)):
            if inputs is None:
                inputs = columns_of(parent)
            known = [r for r in roots if r in inputs]
            read = Taken((Source(state(parent), tuple(known)),), values.functions) \
                if known else None
        for target in targets:
            if read is not None:
                found.append((target, read))
            found.append((target, values))
    return found
