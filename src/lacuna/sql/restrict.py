"""Reads of a dbt project's models through SQL: its production ``restrict`` rules.

The one place the SQL integration asks :mod:`lacuna.dbt.reads` (only when ``lacuna.yaml`` has
a ``dbt:`` section): :func:`check` for a statement the SQLAlchemy hook governs (its tables, as
sqlglot reads them; a statement sqlglot cannot read is checked for the restricted models' names
it mentions), :func:`check_read_sql` for ``pd.read_sql`` before pandas runs the query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lacuna.redact import redact_url
from lacuna.sql.catalog import DIALECTS
from lacuna.sql.statements import Statement, analyse

if TYPE_CHECKING:
    from lacuna.governor import Governor


def check(gov: Governor, url: str, stmt: Statement, method: str) -> None:
    """Decide the statement's reads of dbt models (raises ``GovernanceViolation`` on an
    enforced denial); nothing without a ``dbt:`` section."""
    if not gov.config.dbt or stmt.kind == "pass":
        return
    from lacuna.dbt.reads import check_relations, mentioned

    relations: tuple[str, ...] | list[str] = stmt.reads
    if stmt.kind == "unknown":  # fail closed: Lacuna cannot tell which tables it reads
        relations = [*stmt.reads, *mentioned(gov.config, stmt.sql)]
    check_relations(gov, relations, url=url, method=method)


def check_read_sql(gov: Governor, query: Any, con: Any, method: str) -> None:
    """``pd.read_sql(query, con)``: the same check, before the query runs."""
    if not gov.config.dbt or con is None:
        return
    url, dialect = _where(con)
    if not isinstance(query, str):
        query = str(query)  # a SQLAlchemy selectable: its SQL
    text = f"SELECT * FROM {query}" if _is_name(query) else query
    check(gov, url, analyse(text, dialect), method)


def _where(con: Any) -> tuple[str, str]:
    from lacuna.sql.catalog import dbapi_database

    if isinstance(con, str):
        from sqlalchemy.engine import make_url

        parsed = make_url(con)
        return redact_url(parsed), DIALECTS.get(
            parsed.get_backend_name(), parsed.get_backend_name())
    db = dbapi_database(con)  # sqlite3, psycopg2, psycopg
    if db is not None:
        return db.url, db.dialect
    engine = getattr(con, "engine", con)
    url = redact_url(engine.url)
    return url, DIALECTS.get(engine.dialect.name, engine.dialect.name)


def _is_name(sql: str) -> bool:
    return bool(sql) and all(c.isalnum() or c in '_."' for c in sql)


__all__ = ["check", "check_read_sql"]
