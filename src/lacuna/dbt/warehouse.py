"""A dbt project's built tables through SQLAlchemy: any warehouse the SQL integration governs
(DuckDB via duckdb-engine, SQLite, PostgreSQL).

- :func:`read_table`: a model's table as a pandas frame.
- :func:`rewrite_columns`: a non-production policy applied in place. For each transformed
  column Lacuna reads its distinct values, computes their replacements with the same
  functions as the DuckDB path (:func:`lacuna.dbt.runtime.transform_frame`: synthetic values
  are deterministic per seed, so a value gets the same replacement in every model and joins
  still line up), loads the pairs into a temporary table and updates the column from it, in
  one transaction per table. Other columns, the table's type, constraints, grants and the
  views on it are untouched; ``redact`` is ``SET column = NULL``.

Lacuna's own statements here are not governed again (they run under its bypass).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna import _bypass
from lacuna.dbt.classify import SEED_SAMPLE_ROWS
from lacuna.dbt.governance import Action, ColumnEffect
from lacuna.errors import IntegrationError
from lacuna.model import ColumnClass
from lacuna.redact import redact_url

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.dbt.classify import Sampler
    from lacuna.dbt.manifest import DbtNode

MAP_TABLE = "lacuna_governance_map"


def engine_for(warehouse: Any, *, read_only: bool = False) -> Any:
    """A SQLAlchemy Engine for ``warehouse``: an Engine, a URL, or the path of a DuckDB file
    (``read_only``: DuckDB opens the file read-only, beside a running dbt).

    Raises:
        IntegrationError: not a URL SQLAlchemy can open (the driver is missing, ...).
    """
    if hasattr(warehouse, "dialect") and hasattr(warehouse, "connect"):
        return warehouse
    import sqlalchemy as sa

    url = f"duckdb:///{warehouse}" if isinstance(warehouse, Path) else str(warehouse)
    options: dict[str, Any] = {}
    if read_only and url.startswith("duckdb:"):
        # read-only, and no connection kept open: DuckDB refuses a second connection to the
        # file with another configuration (a later read-write one in this process, dbt's)
        options = {"connect_args": {"read_only": True}, "poolclass": sa.pool.NullPool}
    try:
        return sa.create_engine(url, **options)
    except Exception as exc:
        shown = redact_url(url)  # never a password in an error
        reason = str(exc).replace(url, shown)
        msg = (f"cannot open the warehouse {shown!r} with SQLAlchemy: {reason} (DuckDB needs "
               "duckdb-engine, PostgreSQL psycopg)")
        raise IntegrationError(msg) from None


def relation(engine: Any, node: DbtNode) -> str:
    """``"schema"."table"`` quoted for ``engine``'s dialect."""
    prep = engine.dialect.identifier_preparer
    return ".".join(prep.quote(p) for p in (node.schema, node.table) if p)


def exists(engine: Any, node: DbtNode) -> bool:
    return bool(table_columns(engine, node))


def table_columns(engine: Any, node: DbtNode) -> list[str]:
    """The names of the node's built table's columns (empty: no such table)."""
    with _bypass.bypass(), engine.connect() as con:
        return [name for name, _ in columns(con, node).values()]


def columns(con: Any, node: DbtNode) -> dict[str, tuple[str, str | None]]:
    """The table's columns: lower-case name -> (name, SQL type or None); empty when there is
    no such table. (SQLAlchemy's inspector does not work on duckdb-engine: it asks DuckDB
    PostgreSQL's catalog functions.)"""
    import sqlalchemy as sa

    table = node.table or node.name
    if con.dialect.name == "sqlite":
        attached = {str(r[1]) for r in con.execute(sa.text("pragma database_list"))}
        if (node.schema or "main") not in attached:
            return {}
        schema = con.dialect.identifier_preparer.quote(node.schema or "main")
        rows = con.execute(sa.text(f"pragma {schema}.table_info("
                                   f"{con.dialect.identifier_preparer.quote(table)})"))
        return {str(r[1]).lower(): (str(r[1]), None) for r in rows}
    rows = con.execute(sa.text(
        "select column_name, data_type, udt_name from information_schema.columns "
        "where lower(table_name) = lower(:t) and lower(table_schema) = lower(:s) "
        "order by ordinal_position"), {"t": table, "s": node.schema or "public"})
    out: dict[str, tuple[str, str | None]] = {}
    for name, data_type, udt in rows:
        type_ = str(data_type)
        if con.dialect.name == "postgresql" and type_ in ("USER-DEFINED", "ARRAY"):
            type_ = str(udt)
        out[str(name).lower()] = (str(name), type_)
    return out


def sampler(warehouse: Any, rows: int = SEED_SAMPLE_ROWS,
            fallback: Sampler | None = None) -> Sampler:
    """Sample values of a node's columns (``select ... limit rows``, read only and ungoverned:
    classification reads what it classifies) from any warehouse SQLAlchemy opens: an Engine, a
    URL, or a DuckDB file's path (read-only). The one sampler of built tables: ``lacuna dbt
    classify|suggest --warehouse``, ``dbt.warehouse``, the project's DuckDB file, ``lacuna dbt
    record``. A node whose table is not built yet, or a failing query, falls back to
    ``fallback``; so does a DuckDB file when DuckDB is not installed (it was only found, not
    asked for).

    Raises:
        IntegrationError: ``warehouse`` is a URL SQLAlchemy cannot open.
    """
    import sqlalchemy as sa

    if isinstance(warehouse, Path) and find_spec("duckdb_engine") is None:
        return fallback or (lambda _node, _names: None)
    engine = engine_for(warehouse, read_only=True)

    def sample(node: DbtNode, names: Sequence[str]) -> Mapping[str, Sequence[Any]] | None:
        try:
            with _bypass.bypass(), engine.connect() as con:
                found = columns(con, node)
                wanted = [n for n in names if n.lower() in found]
                if not wanted:
                    return fallback(node, names) if fallback else None
                prep = con.dialect.identifier_preparer
                listed = ", ".join(prep.quote(found[n.lower()][0]) for n in wanted)
                data = con.execute(sa.text(f"select {listed} from {relation(engine, node)} "
                                           f"limit {int(rows)}")).fetchall()
        except sa.exc.SQLAlchemyError:
            return fallback(node, names) if fallback else None
        return {n: [row[i] for row in data] for i, n in enumerate(wanted)}

    return sample


def read_table(engine: Any, node: DbtNode) -> pd.DataFrame:
    """The model's table (``select *``), ungoverned: the caller has decided the read."""
    import pandas as pd
    import sqlalchemy as sa

    with _bypass.bypass(), engine.connect() as con:
        result = con.execute(sa.text(f"select * from {relation(engine, node)}"))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def rewrite_columns(
    engine: Any,
    node: DbtNode,
    effects: Mapping[str, tuple[ColumnClass, ColumnEffect]],
    *,
    seed: int | str | bytes,
) -> dict[str, str]:
    """Apply each column's transforming action to the table in place; what was done."""
    import pandas as pd
    import sqlalchemy as sa

    from lacuna.dbt.runtime import transform_frame

    rel = relation(engine, node)
    prep = engine.dialect.identifier_preparer
    done: dict[str, str] = {}
    with _bypass.bypass(), engine.begin() as con:
        found = columns(con, node)
        for name, (col, effect) in effects.items():
            info = found.get(name.lower())
            if info is None or not effect.action.transforms:
                continue
            actual, type_ = info
            quoted = prep.quote(actual)
            if effect.action is Action.REDACT:
                con.execute(sa.text(f"update {rel} set {quoted} = null"))
                done[actual] = effect.action.value
                continue
            olds = [r[0] for r in con.execute(sa.text(
                f"select distinct {quoted} from {rel} where {quoted} is not null"))]
            if olds:
                frame = pd.DataFrame({actual: pd.Series(olds, dtype="object")})
                new, _ = transform_frame(frame, {name: (col, effect)}, seed=seed)
                pairs = [{"old": o, "new": None if _missing(n) else str(n)}
                         for o, n in zip(olds, new[actual].tolist(), strict=True)]
                _update(con, rel, quoted, type_, pairs)
            done[actual] = effect.action.value
    return done


def _update(con: Any, rel: str, quoted: str, type_: str | None,
            pairs: list[dict[str, Any]]) -> None:
    """``column = new`` for every row whose value is ``old``, through a temporary table."""
    import sqlalchemy as sa

    sqlite = con.dialect.name == "sqlite"
    old_type = "" if sqlite or not type_ else f" {type_}"
    con.execute(sa.text(f"drop table if exists {MAP_TABLE}"))
    con.execute(sa.text(f"create temporary table {MAP_TABLE} "
                        f"(old_value{old_type} primary key, new_value text)"))
    con.execute(sa.text(f"insert into {MAP_TABLE} (old_value, new_value) values (:old, :new)"),
                pairs)
    new = "m.new_value" if sqlite or not type_ else f"cast(m.new_value as {type_})"
    table = rel.rsplit(".", 1)[-1]  # the correlated reference: the table's own name
    con.execute(sa.text(
        f"update {rel} set {quoted} = (select {new} from {MAP_TABLE} m "
        f"where m.old_value = {table}.{quoted}) where {quoted} is not null"))
    con.execute(sa.text(f"drop table {MAP_TABLE}"))


def _missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


__all__ = ["columns", "engine_for", "exists", "read_table", "relation", "rewrite_columns"]
