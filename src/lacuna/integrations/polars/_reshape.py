"""polars reshapes whose output columns are not its input columns: ``unpivot`` (``melt``),
``unnest``, ``to_dummies`` and ``transpose``, described as the ``DERIVE`` step they amount to.

Left to :func:`lacuna.integrations.polars._ops.inherit`, their result kept the parent's state
under the parent's column names, and a later ``select("value")`` found ``value`` in no class:
it was classified from its values alone, and a date of birth classified by its name left as
PUBLIC. Here each new column is mapped to the columns its values come from
(:func:`lacuna.lineage.step.inherit`: the strictest of their classes), as pandas' ``melt`` is a
step over its input (:mod:`lacuna.integrations.pandas._reshape`):

- ``unpivot(on, index=..., value_name=...)``: the value column (``value`` or ``value_name``)
  from every unpivoted column (``on``; by default every column not in ``index``), the index
  columns from themselves; the variable column holds column names, classified from them at the
  next boundary;
- ``unnest(columns)``: each field from the struct columns unnested (a struct built from
  several columns holds the strictest of them); ``to_dummies(columns)`` likewise, each
  indicator column (named after a value) from the columns dummied;
- ``transpose()``: each column holds one row of every input column, so every input column;
  the ``include_header`` column holds the input's column names (classified from them).

A selection polars resolves and Lacuna cannot (an unknown argument) maps the new column to
every input column (fail closed).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from lacuna import _bypass
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import STATES
from lacuna.integrations.polars._ops import Frame, _derive, columns_of, resolved, state

RESHAPES = frozenset({"unpivot", "melt", "unnest", "transpose", "to_dummies"})


def _selected(frame: Frame, spec: Any) -> list[str]:
    """What ``spec`` selects of ``frame`` (:func:`~lacuna.integrations.polars._ops.resolved`);
    nothing for no ``spec``."""
    return [] if spec is None else resolved(frame, spec)


def reshaped(name: str, parent: Any, result: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> None:
    """``parent.<name>(*args, **kwargs)`` returned ``result``: its columns mapped to the
    parent's columns they come from (a ``DERIVE`` step), when the parent is tracked."""
    if not isinstance(result, (pl.DataFrame, pl.LazyFrame)) or STATES.get(parent) is None:
        return
    tracked = state(parent)  # every current column classified, a column gained included
    before = columns_of(parent)
    after = columns_of(result)
    if name in ("unpivot", "melt"):
        column_map, moved = _unpivoted(name, parent, before, after, args, kwargs)
    elif name in ("unnest", "to_dummies"):
        column_map, moved = _unnested(parent, before, after, args, kwargs,
                                      structs_only=name == "unnest")
    else:
        column_map, moved = _transposed(before, after, kwargs)
        if isinstance(result, pl.DataFrame):
            _rows_taken(tracked, before, result, bool(kwargs.get("include_header")))
    _derive(tracked, result, column_map, {}, f"polars {name}: {moved}", f"polars.{name}")


def _rows_taken(tracked: Any, before: list[str], result: pl.DataFrame, header: bool) -> None:
    """``transpose()``: row ``i`` of ``result`` holds column ``i`` of the parent (in the type
    polars chose for every value, after the column name with ``include_header``), handed out
    whole by ``result.row(i)`` or ``rows()``: a salary rebuilt from it under another name
    (``pl.DataFrame({"code": pf.transpose().row(2)})``) was classified from its new name and
    values alone. Each parent column classed above public is indexed as its row holds it
    (:func:`lacuna.integrations.pyarrow._arrays.taken`)."""
    from lacuna.integrations.frames.placing import Source
    from lacuna.integrations.pyarrow import _arrays

    for i, column in enumerate(before):
        found = _arrays._personal((Source(tracked, (column,)),))
        if found and i < result.height:
            with outermost():
                row = result.row(i)
            _arrays.taken(list(row[1:] if header else row), found)


Sources = tuple[tuple[int, str], ...]
Mapped = tuple[dict[str, Sources], str]


def _unpivoted(name: str, parent: Frame, before: list[str], after: list[str],
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapped:
    on_key, index_key = ("value_vars", "id_vars") if name == "melt" else ("on", "index")
    on = args[0] if args else kwargs.get(on_key)
    index = kwargs.get(index_key) if len(args) < 2 else args[1]
    value = str(kwargs.get("value_name") or "value")
    kept = _selected(parent, index)
    unpivoted = ([c for c in before if c not in kept] if on is None
                 else _selected(parent, on))
    column_map: dict[str, Sources] = {c: ((0, c),) for c in kept if c in after}
    if value in after:
        column_map[value] = tuple((0, c) for c in unpivoted)
    return column_map, f"{'+'.join(unpivoted) or '(none)'} → {value}"


def _unnested(parent: Frame, before: list[str], after: list[str], args: tuple[Any, ...],
              kwargs: dict[str, Any], *, structs_only: bool) -> Mapped:
    """``unnest`` (``structs_only``: by default every struct column) or ``to_dummies`` (by
    default every column): each new column from the columns it was made of."""
    specs = [a for a in args if a is not None]
    if kwargs.get("columns") is not None:
        specs.insert(0, kwargs["columns"])
    if specs:
        spread = _selected(parent, specs)
    elif structs_only:
        with _bypass.bypass(), outermost():
            schema = parent.lazy().collect_schema()
        spread = [c for c, kind in schema.items() if isinstance(kind, pl.Struct)]
    else:
        spread = list(before)
    sources = tuple((0, c) for c in spread)
    column_map: dict[str, Sources] = {c: ((0, c),) for c in after
                                      if c in before and c not in spread}
    column_map.update({c: sources for c in after if c not in column_map})
    return column_map, f"{'+'.join(spread)} → {'fields' if structs_only else 'indicators'}"


def _transposed(before: list[str], after: list[str], kwargs: dict[str, Any]) -> Mapped:
    header = str(kwargs.get("header_name") or "column") if kwargs.get("include_header") \
        else None
    every = tuple((0, c) for c in before)
    return {c: every for c in after if c != header}, "rows → columns"
