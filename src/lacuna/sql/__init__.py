"""Governed SQL databases: SQLite, DuckDB and PostgreSQL through SQLAlchemy, and ``sqlite3``
connections used by pandas.

Example:
    >>> import sqlalchemy, lacuna.sql
    >>> engine = lacuna.sql.govern(sqlalchemy.create_engine("sqlite://"))
    >>> lacuna.sql.governed(engine)
    True

Reads attach the classification of what they read (:func:`classification`); writes are decided
before they execute, with column lineage, and the written table's classification is stored. See
``docs/sql.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lacuna.errors import IntegrationError
from lacuna.redact import redact_url
from lacuna.sql import hook
from lacuna.sql.catalog import DIALECTS, Database, sqlite_database
from lacuna.sql.govern import SqlRead, read_of
from lacuna.sql.statements import analyse
from lacuna.sql.tables import classify_table

if TYPE_CHECKING:
    from lacuna.model import Classification


def govern(engine: Any) -> Any:
    """Govern every statement ``engine`` runs, whether pandas is governed or not; returns it.

    Raises:
        IntegrationError: not a SQLAlchemy engine, or a database other than SQLite, DuckDB or
            PostgreSQL.
    """
    dialect = getattr(engine, "dialect", None)
    if dialect is None or not hasattr(engine, "url"):
        msg = (f"lacuna.sql.govern() takes a SQLAlchemy Engine, got {type(engine).__name__}: "
               "engine = lacuna.sql.govern(sqlalchemy.create_engine(url))")
        raise IntegrationError(msg)
    if dialect.name not in DIALECTS:
        msg = (f"lacuna.sql.govern(): Lacuna governs SQLite, DuckDB and PostgreSQL, not "
               f"{dialect.name!r} ({redact_url(engine.url)})")
        raise IntegrationError(msg)
    hook.install()
    hook.mark(dialect)
    return engine


def ungovern(engine: Any) -> None:
    """Stop governing ``engine`` (it stays governed while pandas is governed)."""
    hook.unmark(engine.dialect)


def governed(engine: Any) -> bool:
    """Whether ``engine``'s statements are governed explicitly (see :func:`govern`)."""
    return hook.is_marked(engine.dialect)


def classification(result: Any = None) -> Classification | None:
    """The classification of what a governed query read: of ``result`` (a SQLAlchemy
    ``CursorResult``), or, without it, of the last governed query in this thread."""
    if result is None:
        read = hook.last_read()
    else:
        read = getattr(getattr(result, "context", None), hook.READ_KEY, None)
    return read.classification if read is not None else None


@contextlib.contextmanager
def database(con: Any) -> Iterator[Database]:
    """A :class:`Database` for a SQLAlchemy Engine or Connection, or a ``sqlite3`` connection
    (an Engine lends a pooled connection for the block)."""
    import sqlite3

    if isinstance(con, sqlite3.Connection):
        yield sqlite_database(con)
        return
    engine = getattr(con, "engine", None)
    if engine is not None and hasattr(con, "connection") and engine is not con:  # a Connection
        name = DIALECTS.get(engine.dialect.name, engine.dialect.name)
        url = redact_url(engine.url)
        yield Database(con.connection.dbapi_connection, url, name)
        return
    if not hasattr(con, "raw_connection"):
        msg = (f"Lacuna reads SQL classifications through a SQLAlchemy engine or connection or a "
               f"sqlite3 connection, not {type(con).__name__}")
        raise IntegrationError(msg)
    raw = con.raw_connection()
    try:
        name = DIALECTS.get(con.dialect.name, con.dialect.name)
        yield Database(raw.dbapi_connection, redact_url(con.url), name)
    finally:
        raw.close()


def table_classification(con: Any, table: str) -> Classification | None:
    """The classification of ``table`` (names, comments, sampled values, what Lacuna stored);
    None when there is no such table."""
    from lacuna.governor import current

    with database(con) as db:
        return classify_table(current(), db, table)


def query_classification(con: Any, sql: str) -> SqlRead | None:
    """What a query (or a table name, as ``pd.read_sql`` takes it) reads, per column, without
    running it; None when ``sql`` is not a query. Used by the pandas integration for
    ``pd.read_sql``."""
    from lacuna.governor import current
    from lacuna.sql.catalog import quote

    with database(con) as db:
        text = sql if not _is_name(sql) else f"SELECT * FROM {quote(sql)}"
        stmt = analyse(text, db.dialect)
        if stmt.kind != "read":
            return None
        return read_of(current(), db, stmt)


def _is_name(sql: str) -> bool:
    return bool(sql) and all(c.isalnum() or c in "_.$" for c in sql)


__all__ = [
    "Database",
    "SqlRead",
    "classification",
    "database",
    "govern",
    "governed",
    "query_classification",
    "table_classification",
    "ungovern",
]
