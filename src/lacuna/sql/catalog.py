"""A database as Lacuna reads it: its tables' columns, comments, row counts and sampled rows.

Every query here runs on the raw DB-API connection (never through SQLAlchemy), so Lacuna's own
look-ups are never governed again and never change the user's transaction: they are plain
catalog reads and ``SELECT … LIMIT`` samples. Three dialects are spoken: SQLite, DuckDB and
PostgreSQL (``sqlglot`` names: ``sqlite``, ``duckdb``, ``postgres``).
"""

from __future__ import annotations

import functools
import re
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
    # which table of that name the catalog found (DuckDB: its database and schema, for an
    # unqualified name: a temporary table, or the one after USE/SET schema), for a cache key
    where: str = ""


def _by_position(cursor: Any) -> None:
    """Rows as tuples on ``cursor``, whatever row factory the user gave its connection
    (psycopg's ``dict_row``, a ``sqlite3`` dict factory, psycopg2's ``RealDictCursor``): the
    look-ups read rows by position, and ``tuple()`` of a dict row is its keys (a row count read
    as ``'count'``). psycopg2's cursors are not psycopg's: psycopg's ``tuple_row`` set as a
    psycopg2 cursor's row factory broke every look-up."""
    if not hasattr(cursor, "row_factory"):
        return  # DuckDB's cursors, a wrapper that already reads tuples
    if type(cursor).__module__.partition(".")[0] == "psycopg":
        from psycopg.rows import tuple_row

        cursor.row_factory = tuple_row
    else:
        cursor.row_factory = None  # sqlite3, psycopg2: plain tuples


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
        # the catalog's answers kept for this object's life (see :meth:`remembering`)
        self._memo: dict[tuple[str, str], Any] | None = None

    def remembering(self) -> Database:
        """This database, its catalog look-ups (a table's columns, comment and generated
        columns, which table an unqualified name is, which database a qualified one is in)
        each made once for as long as this object lives: for a caller
        that only reads the catalog, once, before a statement runs (one statement's
        classification asked them up to three times). Returns ``self``."""
        self._memo = {}
        return self

    def _kept(self, kind: str, key: str, make: Any) -> Any:
        if self._memo is None:
            return make()
        if (kind, key) not in self._memo:
            self._memo[(kind, key)] = make()
        return self._memo[(kind, key)]

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.dbapi.cursor()
        try:
            _by_position(cursor)
            cursor.execute(sql)
            names = [d[0] for d in cursor.description or ()]
            return names, [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def table(self, name: str) -> TableInfo | None:
        """The table (or view) ``name`` (``table`` or ``schema.table``); None when it does not
        exist."""
        columns, comment, where = self._columns(name)
        if not columns:
            return None
        rows = self.query(f"SELECT COUNT(*) FROM {self._quoted(name)}")[1]
        return TableInfo(name, columns, comment, int(rows[0][0]) if rows else 0, where)

    def comment(self, name: str) -> str | None:
        """The comment of table (or view) ``name``, as :meth:`table` reads it, without
        counting its rows (a view's count runs its query)."""
        return self._columns(name)[1]

    def view_sql(self, name: str) -> str | None:
        """The ``CREATE VIEW`` text of DuckDB view ``name``, resolved as :meth:`table`
        resolves it; None when ``name`` is no view (a table, nothing) or not on DuckDB. Read
        from the catalog: the view's query does not run."""
        if self.dialect != "duckdb":
            return None
        schema, _, view = name.rpartition(".")
        where = f"lower(view_name) = lower({literal(view)}) AND NOT internal"
        _, rows = self.query(f"SELECT sql FROM duckdb_views() WHERE {where}")
        if not rows:  # no view of that name anywhere (a table): one look-up
            return None
        found = _duckdb_qualifier(schema) if schema else self._duckdb_resolved(view)
        _, rows = self.query(f"SELECT sql FROM duckdb_views() WHERE {where}{found}")
        return str(rows[0][0]) if rows and rows[0][0] else None

    def sample(self, name: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self.query(f"SELECT * FROM {self._quoted(name)} LIMIT {int(limit)}")

    def _quoted(self, name: str) -> str:
        """``name`` quoted to mean the table the catalog look-ups found: on PostgreSQL folded
        to lower case first, as ``to_regclass`` folds it (``PUBLIC.T0`` is ``public.t0``;
        the statement's quotes are gone by now, see :func:`lacuna.sql.tables.canonical`).

        Raises:
            IntegrationError: on PostgreSQL both ``t0`` and a quoted ``"T0"`` exist, and
                Lacuna cannot tell which of them the statement names (the caller fails
                closed).
        """
        if self.dialect != "postgres" or name == name.lower():
            return quote(name)
        _, rows = self.query(f"SELECT to_regclass({literal(name)})::oid, "
                             f"to_regclass({literal(quote(name))})::oid")
        folded, exact = rows[0] if rows else (None, None)
        if exact is not None and exact != folded:
            msg = (f"{name} may name two tables on PostgreSQL, {name.lower()} (unquoted) and "
                   f"{quote(name)} (quoted), and Lacuna reads names without their quotes, so "
                   "it cannot tell which one the statement reads; it fails closed. Rename one "
                   "of the two tables")
            raise IntegrationError(msg)
        return quote(name.lower())

    def _columns(self, name: str) -> tuple[tuple[Column, ...], str | None, str]:
        found: tuple[tuple[Column, ...], str | None, str] = self._kept(
            "columns", name, lambda: self._read_columns(name))
        return found

    def _read_columns(self, name: str) -> tuple[tuple[Column, ...], str | None, str]:
        schema, _, table = name.rpartition(".")
        if self.dialect == "sqlite":
            prefix = f"{quote(schema)}." if schema else ""
            # table_xinfo: generated columns too (table_info leaves them out); hidden 1 is a
            # virtual table's hidden column
            _, rows = self.query(f"PRAGMA {prefix}table_xinfo({quote(table)})")
            return tuple(Column(str(r[1]), str(r[2])) for r in rows if r[6] != 1), None, ""
        if self.dialect == "duckdb":
            found = _duckdb_qualifier(schema) if schema else self._duckdb_resolved(table)
            where = f"lower(table_name) = lower({literal(table)})" + found
            _, rows = self.query(
                f"SELECT column_name, data_type, comment FROM duckdb_columns() WHERE {where} "
                "ORDER BY column_index")
            views = where.replace("table_name", "view_name")
            _, tables = self.query(
                f"SELECT comment FROM duckdb_tables() WHERE {where} UNION ALL "
                f"SELECT comment FROM duckdb_views() WHERE {views}")
            comment = next((str(t[0]) for t in tables if t[0]), None)
            return (tuple(Column(str(r[0]), str(r[1]), r[2] or None) for r in rows), comment,
                    found)
        regclass = f"to_regclass({literal(name)})"
        _, rows = self.query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
            "col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            f"WHERE a.attrelid = {regclass} AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum")
        _, tables = self.query(f"SELECT obj_description({regclass}, 'pg_class')")
        comment = str(tables[0][0]) if tables and tables[0][0] else None
        return tuple(Column(str(r[0]), str(r[1]), r[2] or None) for r in rows), comment, ""

    def _duckdb_resolved(self, table: str) -> str:
        """The catalog filter for an unqualified ``table`` on DuckDB: the one table DuckDB
        reads by that name (a temporary table, then the current schema's, after ``SET schema``
        or ``USE db.s``, then the current database's ``main``), not every schema's ``table``:
        with ``s2.contacts`` and ``main.contacts``, the other one's comment (its class) was
        taken as often as not. No such table: a filter that matches none."""
        found: str = self._kept("resolved", table, lambda: self._read_resolved(table))
        return found

    def _read_resolved(self, table: str) -> str:
        """The look-up :meth:`_duckdb_resolved` keeps."""
        found = f"lower(table_name) = lower({literal(table)})"
        views = found.replace("table_name", "view_name")
        _, rows = self.query(
            f"SELECT database_name, schema_name FROM (SELECT database_name, schema_name FROM "
            f"duckdb_tables() WHERE {found} UNION ALL SELECT database_name, schema_name FROM "
            f"duckdb_views() WHERE {views}) WHERE database_name = 'temp' OR (database_name = "
            "current_database() AND schema_name IN (current_schema(), 'main')) ORDER BY "
            "database_name = 'temp' DESC, schema_name = current_schema() DESC LIMIT 1")
        if not rows:
            return " AND false"
        return (f" AND database_name = {literal(str(rows[0][0]))} "
                f"AND schema_name = {literal(str(rows[0][1]))}")

    def generated(self, name: str) -> dict[str, tuple[str, ...]]:
        """The generated columns of table ``name`` (``g TEXT GENERATED ALWAYS AS
        (replace(email, '@', ' at '))``), each with the columns its expression reads (lower
        case): its values are those columns' data, whatever they look like. Read from the
        table's definition (SQLite, DuckDB) or ``pg_attrdef`` (PostgreSQL).

        Raises:
            IntegrationError: the table's definition has generated columns Lacuna cannot
                read (the caller fails closed).
        """
        found: dict[str, tuple[str, ...]] = self._kept(
            "generated", name, lambda: self._read_generated(name))
        return found

    def _read_generated(self, name: str) -> dict[str, tuple[str, ...]]:
        """The look-up :meth:`generated` keeps."""
        schema, _, table = name.rpartition(".")
        if self.dialect == "postgres":
            _, rows = self.query(
                "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN "
                "pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE "
                f"a.attrelid = to_regclass({literal(name)}) AND a.attgenerated <> ''")
            return {str(r[0]): _reads(f"SELECT {r[1]}", "postgres", name) for r in rows}
        if self.dialect == "sqlite":
            prefix = f"{quote(schema)}." if schema else ""
            _, rows = self.query(f"SELECT sql FROM {prefix}sqlite_master WHERE type = 'table' "
                                 f"AND lower(name) = lower({literal(table)})")
        else:
            where = f"lower(table_name) = lower({literal(table)})" + _duckdb_qualifier(schema)
            _, rows = self.query(f"SELECT sql FROM duckdb_tables() WHERE {where}")
        text = str(rows[0][0] or "") if rows else ""
        if not re.search(r"\b(generated|as\s*\()", text, re.IGNORECASE):
            return {}
        return _generated(text, self.dialect, name)

    def user_functions(self, names: tuple[str, ...]) -> frozenset[str]:
        """Which of ``names`` (lower case) are functions or macros the database's users
        defined (DuckDB's ``CREATE MACRO``, PostgreSQL's ``CREATE FUNCTION``): their bodies may
        read tables a statement does not name. SQLite defines none in SQL, but its host does:
        a function made with ``sqlite3.Connection.create_function`` (or ``create_aggregate``,
        ``create_window_function``) runs Python under any name, SQLite's own among them (a
        ``substr`` or an ``md5`` that returns its argument whole), :func:`_sqlite_defined`."""
        if not names:
            return frozenset()
        if self.dialect == "sqlite":
            return _sqlite_defined(self, names)
        listed = ", ".join(literal(n) for n in names)
        if self.dialect == "duckdb":  # a macro; or a Python function (create_function), listed
            # as internal, with no extension, under a name DuckDB itself does not have
            sql = ("SELECT DISTINCT lower(function_name), internal FROM duckdb_functions() "
                   "WHERE (NOT internal OR extension_name IS NULL) "
                   f"AND lower(function_name) IN ({listed})")
            own = _duckdb_own_functions()
            return frozenset(str(r[0]) for r in self.query(sql)[1]
                             if not r[1] or str(r[0]) not in own)
        else:
            sql = ("SELECT DISTINCT lower(p.proname) FROM pg_proc p JOIN pg_namespace n ON "
                   "n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', "
                   f"'information_schema') AND lower(p.proname) IN ({listed})")
        return frozenset(str(r[0]) for r in self.query(sql)[1])

    def user_tables(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Which of ``names`` (``t`` or ``schema.t``, named like the catalog: ``pg_x``,
        ``duckdb_x``) are the database's users' tables or views, not its catalog's: DuckDB's
        that are not ``internal``, PostgreSQL's outside ``pg_catalog`` (what ``to_regclass``
        finds, as the statement's name resolves). SQLite reserves ``sqlite_`` names."""
        if not names or self.dialect == "sqlite":
            return ()
        found = []
        for name in names:
            schema, _, table = name.rpartition(".")
            if self.dialect == "duckdb":
                where = f"lower(table_name) = lower({literal(table)})" + _duckdb_qualifier(schema)
                views = where.replace("table_name", "view_name")
                sql = (f"SELECT 1 FROM duckdb_tables() WHERE {where} AND NOT internal UNION ALL "
                       f"SELECT 1 FROM duckdb_views() WHERE {views} AND NOT internal")
            else:
                sql = ("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       f"WHERE c.oid = to_regclass({literal(name)}) AND n.nspname NOT IN "
                       "('pg_catalog', 'information_schema')")
            if self.query(sql)[1]:
                found.append(name)
        return tuple(found)

    def routines(self, names: tuple[str, ...]) -> list[tuple[str, str, str, str | None, bool]]:
        """PostgreSQL: the functions and procedures among ``names`` (lower case, every
        overload) that the database's users defined, each as (name, language, kind: ``f``
        function, ``p`` procedure, ``a`` aggregate, ``w`` window; its ``CREATE`` statement, for
        a function or procedure; whether an extension installed it). Empty elsewhere."""
        if not names or self.dialect != "postgres":
            return []
        listed = ", ".join(literal(n) for n in names)
        _, rows = self.query(
            "SELECT lower(p.proname), l.lanname, p.prokind::text, CASE WHEN p.prokind IN "
            "('f', 'p') THEN pg_get_functiondef(p.oid) END, EXISTS (SELECT 1 FROM pg_depend d "
            "WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l "
            "ON l.oid = p.prolang WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            f"AND lower(p.proname) IN ({listed})")
        return [(str(r[0]), str(r[1]), str(r[2]), r[3], bool(r[4])) for r in rows]

    def triggers(self, table: str) -> list[tuple[str, str, str | None]]:
        """What a write to ``table`` runs besides itself, each as (``trigger`` or ``rule``,
        its name, the function it runs, lower case, or None). Looked for on ``table`` and on
        every table the write may reach: its partitions and inheritance children (PostgreSQL:
        a row routed to a partition fires the partition's own triggers) and, through foreign
        keys, the tables that reference it (``ON DELETE CASCADE`` deletes their rows, firing
        their triggers; a ``TRUNCATE … CASCADE`` empties them), all the way down; a trigger on
        another table is named ``name on that_table``.

        PostgreSQL: its enabled triggers (row- or statement-level, ``BEFORE``/``AFTER``/
        ``INSTEAD OF``, any event: ``INSERT``, ``UPDATE``, ``DELETE``, ``TRUNCATE``), not the
        internal ones of foreign keys, its rewrite rules (function None), and a foreign table
        among them (``foreign table``, function None: its rows go to another server). SQLite: its
        triggers, whose bodies are SQL statements (function None). Empty on DuckDB (no
        triggers), or when there is no such table."""
        if self.dialect == "postgres":
            return self._postgres_triggers(table)
        if self.dialect == "sqlite":
            return self._sqlite_triggers(table)
        return []

    def _postgres_triggers(self, table: str) -> list[tuple[str, str, str | None]]:
        # the statement's name as PostgreSQL folds it (members) and as quoted ("Members"):
        # Lacuna keeps the name without its quotes, so both are looked for (fail closed)
        _, rows = self.query(
            f"WITH RECURSIVE named(oid) AS (SELECT to_regclass({literal(table)})::oid UNION "
            f"SELECT to_regclass({literal(quote(table))})::oid), reached(oid) AS (SELECT oid "
            "FROM named WHERE oid IS NOT NULL UNION SELECT e.child FROM reached r JOIN (SELECT "
            "inhparent AS parent, inhrelid AS child FROM pg_inherits UNION ALL SELECT "
            "confrelid, conrelid FROM pg_constraint WHERE contype = 'f') e ON e.parent = r.oid) "
            "SELECT 'trigger', t.tgname, lower(p.proname), t.tgrelid IN (SELECT oid FROM "
            "named), t.tgrelid::regclass::text FROM pg_trigger t JOIN pg_proc p ON p.oid = "
            "t.tgfoid WHERE t.tgrelid IN (SELECT oid FROM reached) AND NOT t.tgisinternal AND "
            "t.tgenabled <> 'D' UNION ALL SELECT 'rule', r.rulename, NULL, r.ev_class IN "
            "(SELECT oid FROM named), r.ev_class::regclass::text FROM pg_rewrite r WHERE "
            "r.ev_class IN (SELECT oid FROM reached) AND r.rulename <> '_RETURN' UNION ALL "
            "SELECT 'foreign table', c.relname, NULL, c.oid IN (SELECT oid FROM named), "
            "c.oid::regclass::text FROM pg_class c WHERE c.oid IN (SELECT oid FROM reached) "
            "AND c.relkind = 'f'")
        return [(str(r[0]), str(r[1]) if r[3] else f"{r[1]} on {r[4]}",
                 None if r[2] is None else str(r[2])) for r in rows]

    def _sqlite_triggers(self, table: str) -> list[tuple[str, str, str | None]]:
        schema, _, name = table.rpartition(".")
        prefix = f"{quote(schema)}." if schema else ""
        reached, todo = {name.lower()}, [name]
        while todo:  # the tables whose foreign keys reference one reached
            _, rows = self.query(
                f"SELECT m.name FROM {prefix}sqlite_master m, pragma_foreign_key_list(m.name"
                f"{', ' + literal(schema) if schema else ''}) f WHERE m.type = 'table' AND "
                f"lower(f.\"table\") IN ({', '.join(literal(t.lower()) for t in todo)})")
            todo = [str(r[0]) for r in rows if str(r[0]).lower() not in reached]
            reached.update(t.lower() for t in todo)
        listed = ", ".join(literal(t) for t in sorted(reached))
        masters = [f"{prefix}sqlite_master"] + (["sqlite_temp_master"] if schema.lower() in (
            "", "main") else [])  # a TEMP trigger may be on a table of main
        _, rows = self.query(" UNION ALL ".join(
            f"SELECT name, tbl_name FROM {m} WHERE type = 'trigger' AND lower(tbl_name) IN "
            f"({listed})" for m in masters))
        return [("trigger", str(r[0]) if str(r[1]).lower() == name.lower()
                 else f"{r[0]} on {r[1]}", None) for r in rows]

    def event_triggers(self) -> list[tuple[str, str]]:
        """PostgreSQL: the enabled event triggers (``CREATE EVENT TRIGGER … ON
        ddl_command_end``), each as (name, the function it runs, lower case): they run on
        DDL statements (``CREATE``, ``ALTER``, ``DROP`` …). Empty elsewhere."""
        if self.dialect != "postgres":
            return []
        _, rows = self.query(
            "SELECT e.evtname, lower(p.proname) FROM pg_event_trigger e JOIN pg_proc p ON "
            "p.oid = e.evtfoid WHERE e.evtenabled <> 'D'")
        return [(str(r[0]), str(r[1])) for r in rows]

    def attached(self, name: str, *, new: bool) -> str | None:
        """The URL of the attached database file that holds table ``name`` (``ATTACH 'file'
        AS o``: ``o.t``, or an unqualified ``t`` found first in ``o``, or any table after
        DuckDB's ``USE o``), or None when it is this connection's own database (or in memory).
        ``new``: the statement creates the table (an unqualified name goes to the main or
        current database). PostgreSQL attaches nothing: always None."""
        return self._home(name, new=new)[0]

    def located(self, name: str, *, new: bool = False) -> tuple[str, str]:
        """Where table ``name`` lives and what that database calls it: the URL of the file
        it is in (:meth:`attached`; else this database's) and the name without the alias or
        database name the statement reached it by (``o.t`` after ``ATTACH 'b.duckdb' AS o``:
        ``('duckdb:///b.duckdb', 't')``; ``o.s.t``: ``s.t``). So a table of a file is one
        name (one dataset in the lineage store) whichever alias attached the file, and the
        same as when the file is opened itself (``duckdb.connect('b.duckdb')``: ``t``); an
        alias kept in the name made ``b.duckdb#x.t`` and ``b.duckdb#z.t`` two datasets, one
        of them a stale, lower class. A name that does not name a database is as given."""
        found, local = self._home(name, new=new)
        return found or self.url, local

    def _home(self, name: str, *, new: bool) -> tuple[str | None, str]:
        if self.dialect == "sqlite":
            return self._sqlite_attached(name, new=new)
        if self.dialect == "duckdb":  # an unqualified name is the current database's (url_of)
            found: tuple[str | None, str] = self._kept(
                "home", name, lambda: self._duckdb_attached(name)) if "." in name else (
                None, name)
            return found
        return None, name

    def _sqlite_attached(self, name: str, *, new: bool) -> tuple[str | None, str]:
        _, rows = self.query("PRAGMA database_list")  # (seq, name, file): main, temp, attached
        files = {str(r[1]).lower(): str(r[2] or "") for r in rows}
        schema, _, table = name.rpartition(".")
        alias = schema.lower() if schema else "main"
        if not schema and not new:  # SQLite looks in temp, then main, then each attached
            order = ["temp", "main", *(a for a in files if a not in ("temp", "main"))]
            alias = next((a for a in order if a in files and self.query(
                f"SELECT 1 FROM {quote(a)}.sqlite_master WHERE type IN ('table', 'view') "
                f"AND lower(name) = lower({literal(table)})")[1]), "main")
        file = files.get(alias, "")
        if alias in ("main", "temp") or not file:
            return None, name
        if file == files.get("main"):  # the main file attached again: its table is main's
            return None, table if schema else name
        return f"sqlite:///{file}", table

    def _duckdb_attached(self, name: str) -> tuple[str | None, str]:
        _, rows = self.query("SELECT database_name, path, type FROM duckdb_databases() "
                             "WHERE NOT internal")
        _, now = self.query("SELECT current_database()")
        paths = {str(r[0]).lower(): (r[1], str(r[2]).lower()) for r in rows}
        current = str(now[0][0]).lower() if now else ""
        parts = name.split(".")
        catalog = current
        named = len(parts) == 3 or (len(parts) == 2 and parts[0].lower() in paths)
        if named:
            catalog = parts[0].lower()  # DuckDB refuses a name that is a schema and a catalog
        local = ".".join(parts[1:]) if named else name  # the name inside that database
        path, kind = paths.get(catalog, (None, "duckdb"))
        if not path or path == ":memory:" or f"duckdb:///{path}" == self.url:
            return None, local if catalog == current or (
                path and f"duckdb:///{path}" == self.url) else name
        scheme = {"postgres": "postgresql"}.get(kind, kind)
        if kind in ("postgres", "mysql"):  # a server: where its connection string points
            return _server_url(scheme, str(path)), local
        return f"{scheme}:///{path}", local

    def comment_on(self, name: str, text: str, *, kind: str = "TABLE") -> None:
        """Store ``text`` as the table's (``kind``: ``VIEW``, the view's) comment (PostgreSQL
        and DuckDB; SQLite has none)."""
        if self.dialect not in ("postgres", "duckdb"):
            return
        statement = f"COMMENT ON {kind} {quote(name)} IS {literal(text)}"
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


def _duckdb_qualifier(schema: str) -> str:
    """The catalog filter for ``schema.table`` (a schema of the current database, or an
    ATTACHed database's ``main``) or ``database.schema.table`` on DuckDB."""
    if not schema:
        return ""
    database, _, schema = schema.rpartition(".")
    d, s = (f"lower({literal(database)})", f"lower({literal(schema)})")
    if database:  # DuckDB's names are case-insensitive, quoted or not: so are these look-ups
        return f" AND lower(database_name) = {d} AND lower(schema_name) = {s}"
    return (f" AND ((lower(schema_name) = {s} AND database_name = current_database()) "
            f"OR (lower(database_name) = {s} AND schema_name = 'main'))")


def _generated(definition: str, dialect: str, table: str) -> dict[str, tuple[str, ...]]:
    """The generated columns of a ``CREATE TABLE`` statement, with the columns each reads."""
    from sqlglot import exp

    tree = _parse(definition, dialect,
                  f"the definition of {table} to tell what its generated columns hold")
    found: dict[str, tuple[str, ...]] = {}
    for column in tree.find_all(exp.ColumnDef):
        for constraint in column.args.get("constraints") or []:
            kind = constraint.args.get("kind")
            expression = kind.this if isinstance(kind, exp.ComputedColumnConstraint) else (
                kind.args.get("expression")
                if isinstance(kind, exp.GeneratedAsIdentityColumnConstraint) else None)
            if isinstance(expression, exp.Expr):
                found[column.name] = tuple(dict.fromkeys(
                    c.name.lower() for c in expression.find_all(exp.Column)))
    return found


def _reads(query: str, dialect: str, table: str) -> tuple[str, ...]:
    from sqlglot import exp

    tree = _parse(query, dialect, f"the expression of a generated column of {table}")
    return tuple(dict.fromkeys(c.name.lower() for c in tree.find_all(exp.Column)))


def _parse(sql: str, dialect: str, what: str) -> Any:
    """``sql`` parsed, or the error that Lacuna cannot read ``what`` (and fails closed)."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    from lacuna.lineage.sql_dialects import sqlglot_dialect

    try:
        return sqlglot.parse_one(sql, dialect=sqlglot_dialect(dialect))
    except SqlglotError as exc:
        msg = f"Lacuna cannot read {what} ({exc}); it fails closed on the table"
        raise IntegrationError(msg) from exc


def _server_url(scheme: str, dsn: str) -> str:
    """The URL of a server database DuckDB attached (``ATTACH 'host=h dbname=d' AS p (TYPE
    postgres)``, or a ``postgresql://`` URL), naming the hosts it connects to: as
    ``postgresql:///host=evil.com dbname=d`` it had no host, so it was an internal database
    whatever host it named (:func:`lacuna.destinations.classify_destination` decides on the
    hosts). A ``key=value`` string's ``host`` and ``hostaddr`` (MySQL's too) are kept as the
    URL's ``host`` parameters; what it does not name is libpq's default (``PGHOST``)."""
    import shlex
    from urllib.parse import quote as quote_url
    from urllib.parse import urlencode

    if "://" in dsn:
        return f"{scheme}://{dsn.split('://', 1)[1]}"
    try:
        words = shlex.split(dsn)
    except ValueError:  # an unbalanced quote: a host Lacuna cannot read is not this machine
        return f"{scheme}://unreadable-connection-string/"
    pairs = [w.partition("=") for w in words]
    hosts = [(k.strip().lower(), v) for k, _, v in pairs if k.strip().lower() in (
        "host", "hostaddr")]
    name = next((v for k, _, v in pairs if k.strip().lower() in ("dbname", "database", "db")),
                "")
    query = urlencode(hosts)
    return f"{scheme}:///{quote_url(name)}" + (f"?{query}" if query else "")


def postgres_url(driver: str, info: Any) -> str:
    """``postgresql+driver://user@host:port/dbname`` of a PostgreSQL connection whose ``info``
    (psycopg's ``ConnectionInfo``, psycopg2's) names it: as a SQLAlchemy engine on the same
    database is named, without its password (a Unix socket directory as ``localhost``)."""
    host = info.host or "localhost"
    if host.startswith("/"):  # a Unix socket directory
        host = "localhost"
    return f"postgresql+{driver}://{info.user}@{host}:{info.port}/{info.dbname}"


def quote(name: str) -> str:
    """``schema.table`` with each part double-quoted (SQLite, DuckDB and PostgreSQL agree)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def _duckdb_own_functions() -> frozenset[str]:
    """The names of DuckDB's own functions with no extension (lower case), as a new in-memory
    connection lists them: a Python function a program adds (``create_function``) is listed
    as internal too, and only its name tells it apart (DuckDB refuses one named as its own)."""
    import duckdb

    from lacuna import _bypass

    with _bypass.bypass():
        con = duckdb.connect(":memory:")
        try:
            rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                               "WHERE internal AND extension_name IS NULL").fetchall()
        finally:
            con.close()
    return frozenset(str(r[0]) for r in rows)


@functools.cache
def _sqlite_own_extensions() -> frozenset[tuple[Any, ...]]:
    """The functions SQLite's own compiled-in extensions (FTS, R*Tree) register on a new
    connection: listed as not built in by ``pragma_function_list``, yet no host defined them."""
    import sqlite3

    con = sqlite3.Connection(":memory:")  # the class itself: a plain connection, never governed
    try:
        return frozenset(tuple(r) for r in con.execute(_SQLITE_APP_FUNCTIONS).fetchall())
    finally:
        con.close()


_SQLITE_APP_FUNCTIONS = ("SELECT lower(name), type, narg, enc, flags FROM pragma_function_list "
                         "WHERE builtin = 0")


def _sqlite_defined(db: Database, names: tuple[str, ...]) -> frozenset[str]:
    """Which of ``names`` the connection's host defined in Python (``create_function``): the
    functions ``pragma_function_list`` lists as not built in, less those SQLite's compiled-in
    extensions register on every connection. A host's function replaces SQLite's of the same
    name and arity, and is then listed as not built in, so a ``substr`` made to return its
    argument is found.

    Raises:
        sqlite3.Error: SQLite is older than 3.30 (no ``pragma_function_list``); the caller
            fails closed.
    """
    wanted = set(names)
    own = _sqlite_own_extensions()
    return frozenset(str(r[0]) for r in db.query(_SQLITE_APP_FUNCTIONS)[1]
                     if str(r[0]) in wanted and tuple(r) not in own)


def sqlite_database(con: Any) -> Database:
    """A ``sqlite3`` connection (as pandas is given it), named by its main file."""
    cursor = con.cursor()
    try:
        _by_position(cursor)
        rows = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    file = next((r[2] for r in rows if r[1] == "main"), "") or ":memory:"
    return Database(con, f"sqlite:///{file}", "sqlite")


class _Psycopg2:
    """A psycopg2 connection as the look-ups read it: plain cursors (tuples), whatever cursor
    factory the connection or its class prefers (``RealDictCursor``; a ``LoggingConnection``'s
    ``cursor()`` needs ``initialize()`` first)."""

    def __init__(self, con: Any) -> None:
        self._con = con

    @property
    def autocommit(self) -> bool:
        return bool(self._con.autocommit)

    def cursor(self) -> Any:
        import psycopg2.extensions

        return psycopg2.extensions.cursor(self._con)


def psycopg2_database(con: Any) -> Database:
    """A psycopg2 connection, named ``postgresql+psycopg2://user@host:port/dbname`` (as a
    SQLAlchemy engine on the same database is, without its password)."""
    return Database(_Psycopg2(con), postgres_url("psycopg2", con.info), "postgres")


def dbapi_database(con: Any) -> Database | None:
    """A :class:`Database` for a DB-API connection Lacuna reads directly: ``sqlite3``, psycopg2
    or psycopg (3), named as a SQLAlchemy engine on the same database is (PostgreSQL:
    ``postgresql+psycopg2://user@host:port/dbname``, no password); None for anything else."""
    import sqlite3
    import sys

    if isinstance(con, sqlite3.Connection):
        return sqlite_database(con)
    psycopg2 = sys.modules.get("psycopg2.extensions")  # imported by whoever opened ``con``
    if psycopg2 is not None and isinstance(con, psycopg2.connection):
        return psycopg2_database(con)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(con, psycopg.Connection):
        return Database(con, postgres_url("psycopg", con.info), "postgres")
    return None


__all__ = ["DIALECTS", "Column", "Database", "TableInfo", "dbapi_database", "postgres_url",
           "psycopg2_database", "quote", "sqlite_database"]
