"""A database as Lacuna reads it: its tables' columns, comments, row counts and sampled rows.

Every query here runs on the raw DB-API connection (never through SQLAlchemy), so Lacuna's own
look-ups are never governed again and never change the user's transaction: they are plain
catalog reads and ``SELECT … LIMIT`` samples. Three dialects are spoken: SQLite, DuckDB and
PostgreSQL (``sqlglot`` names: ``sqlite``, ``duckdb``, ``postgres``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lacuna.errors import IntegrationError
from lacuna.redact import redact_url

DIALECTS = {"sqlite": "sqlite", "duckdb": "duckdb", "postgresql": "postgres"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table as the catalog describes it."""

    name: str  # as the statement wrote it
    columns: tuple[Column, ...]
    comment: str | None
    rows: int


class Database:
    """One DB-API connection, with the URL that names it and the dialect it speaks.

    Args:
        dbapi: the DB-API connection (``sqlite3``, psycopg, DuckDB's).
        url: the database URL without password, e.g. ``sqlite:////data/crm.db``.
        dialect: ``sqlite``, ``duckdb`` or ``postgres``.
    """

    def __init__(self, dbapi: Any, url: str, dialect: str) -> None:
        if dialect not in DIALECTS.values():
            msg = (f"Lacuna governs SQLite, DuckDB and PostgreSQL; {redact_url(url)} speaks "
                   f"{dialect!r}. "
                   "Use one of those, or govern the data where it is read (lacuna.enable()).")
            raise IntegrationError(msg)
        self.dbapi = dbapi
        self.url = url
        self.dialect = dialect

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql)
            names = [d[0] for d in cursor.description or ()]
            return names, [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def table(self, name: str) -> TableInfo | None:
        """The table (or view) ``name`` (``table`` or ``schema.table``); None when it does not
        exist."""
        columns, comment = self._columns(name)
        if not columns:
            return None
        rows = self.query(f"SELECT COUNT(*) FROM {quote(name)}")[1]
        return TableInfo(name, columns, comment, int(rows[0][0]) if rows else 0)

    def sample(self, name: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self.query(f"SELECT * FROM {quote(name)} LIMIT {int(limit)}")

    def _columns(self, name: str) -> tuple[tuple[Column, ...], str | None]:
        schema, _, table = name.rpartition(".")
        if self.dialect == "sqlite":
            prefix = f"{quote(schema)}." if schema else ""
            _, rows = self.query(f"PRAGMA {prefix}table_info({quote(table)})")
            return tuple(Column(str(r[1]), str(r[2])) for r in rows), None
        if self.dialect == "duckdb":
            where = f"table_name = {literal(table)}" + (
                f" AND schema_name = {literal(schema)}" if schema else "")
            _, rows = self.query(
                f"SELECT column_name, data_type, comment FROM duckdb_columns() WHERE {where} "
                "ORDER BY column_index")
            views = where.replace("table_name", "view_name")
            _, tables = self.query(
                f"SELECT comment FROM duckdb_tables() WHERE {where} UNION ALL "
                f"SELECT comment FROM duckdb_views() WHERE {views}")
            comment = next((str(t[0]) for t in tables if t[0]), None)
            return tuple(Column(str(r[0]), str(r[1]), r[2] or None) for r in rows), comment
        regclass = f"to_regclass({literal(name)})"
        _, rows = self.query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
            "col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            f"WHERE a.attrelid = {regclass} AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum")
        _, tables = self.query(f"SELECT obj_description({regclass}, 'pg_class')")
        comment = str(tables[0][0]) if tables and tables[0][0] else None
        return tuple(Column(str(r[0]), str(r[1]), r[2] or None) for r in rows), comment

    def comment_on(self, name: str, text: str) -> None:
        """Store ``text`` as the table's comment (PostgreSQL and DuckDB; SQLite has none)."""
        if self.dialect not in ("postgres", "duckdb"):
            return
        statement = f"COMMENT ON TABLE {quote(name)} IS {literal(text)}"
        cursor = self.dbapi.cursor()
        try:
            if self.dialect == "duckdb" or getattr(self.dbapi, "autocommit", False):
                cursor.execute(statement)
                return
            cursor.execute("SAVEPOINT lacuna_comment")  # a failure must not abort the user's work
            try:
                cursor.execute(statement)
            except Exception:
                cursor.execute("ROLLBACK TO SAVEPOINT lacuna_comment")
                raise
            finally:
                cursor.execute("RELEASE SAVEPOINT lacuna_comment")
        finally:
            cursor.close()


def quote(name: str) -> str:
    """``schema.table`` with each part double-quoted (SQLite, DuckDB and PostgreSQL agree)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sqlite_database(con: Any) -> Database:
    """A ``sqlite3`` connection (as pandas is given it), named by its main file."""
    cursor = con.cursor()
    try:
        rows = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    file = next((r[2] for r in rows if r[1] == "main"), "") or ":memory:"
    return Database(con, f"sqlite:///{file}", "sqlite")


__all__ = ["DIALECTS", "Column", "Database", "TableInfo", "quote", "sqlite_database"]
