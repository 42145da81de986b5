"""What one SQL statement does, read with sqlglot in the database's dialect.

:func:`analyse` sorts a statement into one of the kinds the hook translates:

- ``read``: a query (``SELECT``, ``WITH``, set operations); its tables are the base tables it
  touches. A query that touches only the database's own catalog (``sqlite_master``,
  ``information_schema``, ``pg_catalog``, ``duckdb_*``) or no table at all is ``pass``.
- ``write``: data flows into a table: ``INSERT`` (``… SELECT`` or ``… VALUES``), ``CREATE TABLE
  … AS``, ``UPDATE``, ``MERGE``, ``COPY … FROM``.
- ``export``: data leaves the database: ``COPY … TO``, DuckDB's ``EXPORT DATABASE``.
- ``pass``: no data flows: DDL without a query, ``DELETE``, transactions, settings, ``PRAGMA``,
  ``SHOW``, ``EXPLAIN``, catalog reads.
- ``unknown``: a statement Lacuna cannot read. The hook fails closed on it.

Nothing here touches a database: the caller resolves tables and decides.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, replace
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

Kind = Literal["read", "write", "export", "pass", "unknown"]

# statements whose first word says no data flows (checked before parsing: also faster)
PASS_WORDS = frozenset({
    "begin", "commit", "rollback", "savepoint", "release", "end", "abort", "start", "set",
    "reset", "show", "pragma", "explain", "describe", "analyze", "analyse", "vacuum",
    "checkpoint", "install", "load", "use", "drop", "alter", "truncate", "delete", "comment",
    "grant", "revoke", "deallocate", "discard", "listen", "notify", "unlisten", "lock",
    "reindex", "summarize", "detach", "prepare",
})
CATALOG_PREFIXES = ("sqlite_", "pg_", "duckdb_")
CATALOG_SCHEMAS = frozenset({"information_schema", "pg_catalog", "sqlite_master", "sqlite_schema"})
_WORD = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z_]+)", re.DOTALL)

_quiet = logging.getLogger("sqlglot")


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """One statement as the hook sees it."""

    kind: Kind
    sql: str
    verb: str  # "select", "insert", "create", "update", "merge", "copy", "export", ...
    reads: tuple[str, ...] = ()  # base tables read, as written (``schema.table`` or ``table``)
    target: str | None = None  # the table written
    columns: tuple[str, ...] = ()  # INSERT's column list, when written
    values: bool = False  # INSERT … VALUES: the data comes from the parameters
    file: str | None = None  # COPY/EXPORT: the file or folder (``STDOUT`` for the client)
    query: str | None = None  # COPY … TO: the query whose rows leave (``SELECT * FROM t``)
    problem: str | None = None  # ``unknown``: why Lacuna cannot read it
    placeholders: bool = False  # holds a parameter (``?``, ``$1``, ``$name``) to bind


@functools.lru_cache(maxsize=1024)
def analyse(sql: str, dialect: str) -> Statement:
    """Sort ``sql`` (one statement) into a kind, with the tables it reads and writes (cached:
    applications send the same statements again and again)."""
    match = _WORD.match(sql)
    word = match.group(1).lower() if match else ""
    if not word:
        return Statement(kind="pass", sql=sql, verb="empty")
    if word in PASS_WORDS:
        return Statement(kind="pass", sql=sql, verb=word)
    if word == "export":  # DuckDB: EXPORT DATABASE 'folder' (sqlglot does not parse it)
        found = re.search(r"export\s+database\s+(?:\w+\s+)?'([^']*)'", sql, re.IGNORECASE)
        return Statement(kind="export", sql=sql, verb="export",
                         file=found.group(1) if found else None)
    level = _quiet.level
    _quiet.setLevel(logging.ERROR)  # "falling back to parsing as a Command" is ours to judge
    try:
        parsed = [s for s in sqlglot.parse(sql, dialect=dialect) if s is not None]
    except SqlglotError as exc:
        return Statement(kind="unknown", sql=sql, verb=word, problem=f"it does not parse: {exc}")
    finally:
        _quiet.setLevel(level)
    if len(parsed) != 1:
        return Statement(kind="unknown", sql=sql, verb=word,
                         problem=f"it holds {len(parsed)} statements; send them one by one")
    sorted_ = _sort(parsed[0], sql, word, dialect)
    if any(True for _ in parsed[0].find_all(exp.Placeholder)):
        return replace(sorted_, placeholders=True)
    return sorted_


def _sort(stmt: exp.Expr, sql: str, word: str, dialect: str) -> Statement:
    if isinstance(stmt, exp.Query):
        reads = base_tables(stmt)
        return Statement(kind="read" if reads else "pass", sql=sql, verb="select", reads=reads)
    if isinstance(stmt, exp.Insert):
        into = stmt.this
        cols = tuple(c.name for c in into.expressions) if isinstance(into, exp.Schema) else ()
        table = into.this if isinstance(into, exp.Schema) else into
        values = not isinstance(stmt.expression, exp.Query)
        return Statement(kind="write", sql=sql, verb="insert", reads=base_tables(stmt),
                         target=table_name(table), columns=cols, values=values)
    if isinstance(stmt, exp.Create):
        if isinstance(stmt.expression, exp.Query) and str(stmt.args.get("kind")).upper() in (
            "TABLE", "VIEW"
        ):
            into = stmt.this
            table = into.this if isinstance(into, exp.Schema) else into
            verb = "create_view" if str(stmt.args.get("kind")).upper() == "VIEW" else "create"
            return Statement(kind="write", sql=sql, verb=verb, reads=base_tables(stmt),
                             target=table_name(table))
        return Statement(kind="pass", sql=sql, verb="create")
    if isinstance(stmt, (exp.Update, exp.Merge)):
        verb = "update" if isinstance(stmt, exp.Update) else "merge"
        return Statement(kind="write", sql=sql, verb=verb, reads=base_tables(stmt),
                         target=table_name(stmt.this))
    if isinstance(stmt, exp.Copy):
        files = stmt.args.get("files") or []
        file = files[0].name if files else None
        if stmt.args.get("kind"):  # COPY t FROM 'file': a load into the table
            return Statement(kind="write", sql=sql, verb="copy_from",
                             target=table_name(stmt.this), file=file)
        reads = base_tables(stmt)
        source = stmt.this
        query = (source.this.sql(dialect=dialect) if isinstance(source, exp.Subquery)
                 else f"SELECT * FROM {source.sql(dialect=dialect)}")
        return Statement(kind="export", sql=sql, verb="copy", reads=reads, file=file, query=query)
    if isinstance(stmt, (exp.Delete, exp.Drop, exp.Alter, exp.Transaction, exp.Commit,
                         exp.Rollback, exp.Pragma, exp.Set, exp.Use, exp.Comment, exp.Describe)):
        return Statement(kind="pass", sql=sql, verb=stmt.key)
    if isinstance(stmt, exp.Attach):
        return Statement(kind="pass", sql=sql, verb="attach")
    return Statement(kind="unknown", sql=sql, verb=word,
                     problem=f"Lacuna does not know what a {stmt.key.upper()} statement does")


def table_name(node: exp.Expr | None) -> str | None:
    if not isinstance(node, exp.Table):
        return None
    return ".".join(p for p in (node.catalog, node.db, node.name) if p)


def base_tables(stmt: exp.Expr) -> tuple[str, ...]:
    """The base tables a statement reads: every table reference that is not a CTE's name, the
    written target, or a catalog table."""
    ctes = {c.alias_or_name.lower() for c in stmt.find_all(exp.CTE)}
    target = None
    if isinstance(stmt, (exp.Insert, exp.Create)):
        into = stmt.this
        target = into.this if isinstance(into, exp.Schema) else into
    found: dict[str, None] = {}
    for table in stmt.find_all(exp.Table):
        if table is target or (not table.db and table.name.lower() in ctes):
            continue
        if not table.name or is_catalog(table):
            continue
        name = table_name(table)
        if name:
            found.setdefault(name, None)
    if isinstance(stmt, (exp.Update, exp.Merge)):  # the target's kept values are read too
        name = table_name(stmt.this)
        if name:
            found.setdefault(name, None)
    return tuple(found)


def is_catalog(table: exp.Table) -> bool:
    name, db = table.name.lower(), table.db.lower()
    return (
        db in CATALOG_SCHEMAS or name in CATALOG_SCHEMAS or name.startswith(CATALOG_PREFIXES)
    )


__all__ = ["Statement", "analyse", "base_tables"]
