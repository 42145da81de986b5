"""A relation made by a relation method (``project``, ``join``, …): its classification from
the relation it was made from (:func:`derived_state`)."""

from __future__ import annotations

from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from lacuna.integrations.duckdb._base import _RELATION, MAPPED
from lacuna.integrations.duckdb._relations import _joined, _strictest, relation_state
from lacuna.integrations.duckdb._statements import statement_state
from lacuna.integrations.frames.state import STATES
from lacuna.lineage.state import DataState

# relation methods whose rows come from their relation's, with some of its columns as they are
_KEEPS = frozenset({"filter", "order", "sort", "limit", "offset", "head", "distinct",
                    "set_alias", "materialize", "sample", "to_view", "create_view", "drop",
                    "select_types", "select_dtypes"})


# relation methods written as SQL over their relation: classified by the SQL column lineage
_AS_SQL = frozenset({"project", "select", "aggregate", "unique"})


# relation methods combining their relation with others: each column of theirs, by name or
# (set operations) by position
_COMBINES = frozenset({"join", "cross", "union", "union_by_name", "except_", "intersect"})


def derived_state(name: str, rel: Any, result: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> DataState | None:
    """The state of ``result``, what ``rel.<name>(*args, **kwargs)`` returned.

    Rows and columns kept (``filter``, ``limit``, ``set_alias``, …): ``rel``'s state. Written
    as SQL over ``rel`` (``project``, ``aggregate``, ``query``): the SQL column lineage, as
    ``duckdb.sql`` classifies it. Combined with other relations (``join``, ``union``, …): each
    column takes the classes of the columns it came from. Any other method, or a column none
    of these can account for: the strictest class of every input column (fail closed). None
    when no input is tracked and nothing else is read (the result is classified at the
    boundary from its names and values, as its inputs would be)."""
    others = [a for a in (*args, *kwargs.values()) if isinstance(a, duckdb.DuckDBPyRelation)]
    inputs = [rel, *others]
    tracked = any(_tracked(r) for r in inputs)
    columns = [str(c) for c in result.columns]
    if name in _KEEPS and set(columns) <= {str(c) for c in rel.columns}:
        return relation_state(rel) if tracked else None
    sql = _written_as_sql(name, args, kwargs, _alias(rel)) if name in _AS_SQL else None
    if sql is not None:
        reads_more = any(t.name != sql[1] for t in sqlglot.parse_one(
            sql[0], dialect="duckdb").find_all(exp.Table))
        if not tracked and not reads_more:
            return None
        state, _ = statement_state(rel, sql[0], known={sql[1]: relation_state(rel)})
        if all(c in state.classification.columns for c in columns):
            return state
        return _strictest(f"duckdb.DuckDBPyRelation.{name}", columns,
                          [relation_state(rel), state])
    if not tracked:
        return None
    states = [relation_state(r) for r in inputs]
    if name in _COMBINES:
        return _joined(name, columns, states)
    return _strictest(f"duckdb.DuckDBPyRelation.{name}", columns, states)


def _tracked(rel: Any) -> bool:
    return STATES.get(rel) is not None or MAPPED.get(rel) is not None


def _alias(rel: Any) -> str:
    alias = getattr(rel, "alias", None)
    return alias if isinstance(alias, str) and alias else _RELATION


def _written_as_sql(name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                    alias: str = "") -> tuple[str, str] | None:
    """``(sql, the name it reads the relation by)`` doing what ``rel.<name>(...)`` does, the
    relation read under its ``alias`` (``rel.set_alias("z").project("z.x")``), or None when
    Lacuna cannot write it (then the method is classified fail closed)."""
    def text(value: Any) -> str | None:
        if isinstance(value, (list, tuple)):
            parts = [text(v) for v in value]
            return None if any(p is None for p in parts) else ", ".join(
                p for p in parts if p is not None)
        return value if isinstance(value, str) else str(value) if isinstance(
            value, duckdb.Expression) else None

    quoted = alias.replace('"', '""')
    source = f'{_RELATION} AS "{quoted}"' if alias and alias != _RELATION else _RELATION
    if name in ("project", "select"):
        if kwargs.get("groups"):
            return None
        exprs = text(list(args))
        return (f"SELECT {exprs} FROM {source}", _RELATION) if exprs else None
    if name == "aggregate":
        given = {**dict(zip(("aggr_expr", "group_expr"), args, strict=False)), **kwargs}
        aggr, group = text(given.get("aggr_expr")), text(given.get("group_expr", ""))
        if not aggr or group is None:
            return None
        return (f"SELECT {aggr} FROM {source}" + (f" GROUP BY {group}" if group else ""),
                _RELATION)
    column = text(args[0] if args else kwargs.get("unique_aggr"))  # unique
    return (f"SELECT DISTINCT {column} FROM {source}", _RELATION) if column else None
