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
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna import _bypass, _shadow
from lacuna.errors import ComponentImportError, IntegrationError, needed
from lacuna.redact import redact_url
from lacuna.sql import hook
from lacuna.sql.catalog import DIALECTS, Database, dbapi_database

if TYPE_CHECKING:
    from lacuna.model import Classification
    from lacuna.sql.govern import SqlRead
    from lacuna.sql.statements import Statement

# lacuna.sql.govern, .statements and .tables (sqlglot, through lacuna.lineage.sql_dialects:
# ~70 ms of CPU) are imported where they are used, not with the package: `lacuna.enable()`
# imports the package to install the SQLAlchemy hook (lacuna.sql.hook) in every process, most
# of which never run a statement through it. `lacuna.sql.SqlRead` is imported on first use.
# An import of them that fails (sqlglot missing or broken) refuses what needed them with a
# ComponentImportError that says what to install (lacuna.errors.needed), not a bare
# ImportError from deep inside a governed call.
_LAZY = {"SqlRead": "lacuna.sql.govern"}
_ANALYSIS = "Lacuna's SQL statement analysis (lacuna.sql.govern, lacuna.sql.statements; sqlglot)"
_NOT_RUN = "The statement did not run: it cannot be decided without that analysis"
# what a statement's decision imports, directly or on its way (govern imports statements and
# tables; the column lineage is imported by the functions that classify)
_ANALYSIS_MODULES = ("lacuna.sql.govern", "lacuna.lineage.sql")


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    with needed(_ANALYSIS, f"lacuna.sql.{name} is not available"):
        value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def require_analysis() -> None:
    """Import the SQL statement analysis, or refuse the statement: the DB-API and DuckDB
    integrations (``sqlite3``, psycopg, psycopg2, asyncpg, DuckDB) call it before deciding a
    statement, as the SQL hook imports it for SQLAlchemy's.

    Raises:
        ComponentImportError: it does not import (sqlglot missing or broken, a module of
            Lacuna missing): the statement did not run, and the message says what to install.
            It passes the integrations' guard in every mode (a ``warn``-mode fallback would
            run every statement ungoverned), as the SQL hook's does.
    """
    modules = sys.modules
    if modules.get(_ANALYSIS_MODULES[0]) is not None and modules.get(
            _ANALYSIS_MODULES[1]) is not None:
        return  # imported: the path of every statement after the first (~0.2 µs)
    import importlib

    # no `with needed(...)`: it would run for every statement (the hook's reason)
    try:
        for name in _ANALYSIS_MODULES:
            importlib.import_module(name)
    except ImportError as exc:
        if isinstance(exc, ComponentImportError):
            raise
        raise ComponentImportError(_ANALYSIS, _NOT_RUN, exc) from exc


def __dir__() -> list[str]:
    # the lazy names too (SqlRead), before their first use: dir(), completion, inspect
    return sorted(set(globals()) | set(__all__))


# The module lacuna.sql.govern, imported after this package (first use) and bound on it by the
# import system, would replace the function govern() below: the function stays, and `import
# lacuna.sql.govern as m` gives the module (lacuna._shadow).
_shadow(__name__, "govern")

T = TypeVar("T")


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
    """A :class:`Database` for a SQLAlchemy Engine or Connection, or a ``sqlite3``, psycopg2
    or psycopg connection (an Engine lends a pooled connection for the block)."""
    found = dbapi_database(con)
    if found is not None:
        yield found
        return
    engine = getattr(con, "engine", None)
    if engine is not None and hasattr(con, "connection") and engine is not con:  # a Connection
        name = DIALECTS.get(engine.dialect.name, engine.dialect.name)
        url = redact_url(engine.url)
        yield Database(con.connection.dbapi_connection, url, name)
        return
    if not hasattr(con, "raw_connection"):
        msg = (f"Lacuna reads SQL classifications through a SQLAlchemy engine or connection or a "
               f"sqlite3, psycopg2 or psycopg connection, not {type(con).__name__}")
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

    with needed(_ANALYSIS, f"The table {table!r} was not classified"):
        from lacuna.sql.tables import classify_table
    with database(con) as db:
        return classify_table(current(), db, table)


def query_classification(con: Any, sql: Any, parameters: Any = None) -> SqlRead | None:
    """What a query (or a table name, as ``pd.read_sql`` takes it, or a SQLAlchemy construct,
    compiled as the connection runs it) reads, per column, without running it; None when
    ``sql`` is not a query. ``parameters``: what it runs with (``pd.read_sql``'s ``params``),
    by which a hash keyed by a parameter is told keyed or not (without them it is unkeyed).
    Used by the pandas integration for ``pd.read_sql``."""
    from dataclasses import replace

    from lacuna.governor import current
    from lacuna.sql.catalog import quote

    with needed(_ANALYSIS, "What the query reads was not classified"):
        from lacuna.lineage.sql_masking import bound_keys
        from lacuna.sql.govern import parameter_sets, read_of
        from lacuna.sql.statements import analyse

    text = statement_text(con, sql)
    if text is None:
        return None
    with database(con) as db:
        if _is_name(text):
            text = f"SELECT * FROM {quote(text)}"
        stmt = analyse(text, db.dialect)
        if stmt.kind != "read":
            return None
        bound = statement_parameters(con, sql, parameters)
        if bound is not None:
            stmt = replace(stmt, keys=bound_keys(bound), bound=parameter_sets(bound))
        return read_of(current(), db, stmt)


def statement_parameters(con: Any, sql: Any, parameters: Any) -> Any:
    """The parameters :func:`statement_text`'s SQL runs with: ``parameters`` for text; for a
    SQLAlchemy construct, its bound values (``bindparam`` defaults, then ``parameters``) in
    the order its compiled SQL takes them (``$1``, ``?``), or by name."""
    if isinstance(sql, str) or not hasattr(sql, "compile"):
        return parameters
    dialect = _dialect(con)
    if dialect is None:
        return None
    compiled = sql.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    given = parameters if isinstance(parameters, dict) else {}
    values = compiled.construct_params(given)
    order = getattr(compiled, "positiontup", None)
    if order:
        return [values.get(name) for name in order]
    return values


def statement_text(con: Any, sql: Any) -> str | None:
    """The SQL text ``pd.read_sql(sql, con)`` sends to the database: ``sql`` itself when it
    is a string; a SQLAlchemy construct (``select()``, ``insert()``, ``text()``, ``update()``
    …) compiled with the connection's dialect, as SQLAlchemy compiles it to run it (its
    ``IN`` lists expanded); None for anything else (pandas refuses it) or a construct on a
    connection that is not SQLAlchemy's."""
    if isinstance(sql, str):
        return sql
    if not hasattr(sql, "compile") or con is None:
        return None
    dialect = _dialect(con)
    if dialect is None:
        return None
    return str(sql.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))


def _dialect(con: Any) -> Any:
    """The SQLAlchemy dialect of an Engine, a Connection or a URL; None for another
    connection (``sqlite3``)."""
    if isinstance(con, str):
        from sqlalchemy.engine import make_url

        return make_url(con).get_dialect()()
    return getattr(con, "dialect", None)


def read_sql_statement(con: Any, sql: Any) -> Statement | None:
    """The statement ``pd.read_sql(sql, con)`` runs, when it is not a plain read: a write
    (``INSERT … RETURNING``, as text, a ``text()`` or a construct such as
    ``insert(t).from_select(…).returning(…)``), an export, a statement Lacuna cannot read
    (a ``WITH`` that writes), or, on PostgreSQL, a query that calls functions (their bodies
    may write). A SQLAlchemy construct is read as the SQL it compiles to on the connection
    (:func:`statement_text`); a ``DELETE … RETURNING`` (a read that fires the table's delete
    triggers). None for a read, a table name, what is neither text nor a construct, or a
    database Lacuna does not govern: pandas' read decides those, as before."""
    with needed(_ANALYSIS, "The statement pd.read_sql runs was not decided: it did not run"):
        from lacuna.sql.restrict import _where
        from lacuna.sql.statements import analyse

    if con is None:
        return None
    text = statement_text(con, sql)
    if text is None or _is_name(text):
        return None
    _, dialect = _where(con)
    if dialect not in DIALECTS.values():
        return None
    stmt = analyse(text, dialect)
    if stmt.kind == "read" and stmt.verb != "delete" and not (
            dialect == "postgres" and stmt.functions):
        return None
    return stmt  # a DELETE … RETURNING reads, but fires the table's triggers: decided as SQL


def to_sql_runs(con: Any, name: str, schema: str | None, if_exists: str) -> str | None:
    """What ``df.to_sql(name, con, schema=…, if_exists=…)`` would run besides its own
    statements that Lacuna cannot govern, as the reason it fails closed (the hook's words):
    the triggers and rules on the table (and the tables the write reaches, SQLite and
    PostgreSQL), and, on PostgreSQL, event triggers when it creates the table. None when it
    runs nothing else, or on a database Lacuna does not govern."""
    with needed(_ANALYSIS, "What to_sql runs besides its statements was not found: nothing "
                "was written"):
        from lacuna.sql.govern import event_fired, fired_by

    if isinstance(con, str):  # a URL: pandas opens an engine of its own; so does Lacuna
        import sqlalchemy

        engine = sqlalchemy.create_engine(con)
        try:
            return to_sql_runs(engine, name, schema, if_exists)
        finally:
            engine.dispose()
    with database(con) as db:
        if db.dialect not in ("sqlite", "postgres"):
            return None
        table = f"{schema}.{name}" if schema else name
        exists = db.table(table) is not None
        fired = fired_by(db, table) if exists else []
        if db.dialect == "postgres" and (not exists or if_exists == "replace"):
            fired += event_fired(db)
    if not fired:
        return None
    return (f"to_sql into {table} runs {'; '.join(fired)}: code Lacuna cannot govern, whose "
            "statements would run undecided. Have its work done by statements sent through "
            "the governed connection (and drop or disable the trigger), or write to a table "
            "without such triggers")


def run_read_sql(con: Any, sql: Any, parameters: Any, run: Callable[[], T]
                 ) -> tuple[T, SqlRead | None]:
    """Run ``pd.read_sql``'s statement (``run``, pandas' own call; ``sql`` as pandas was given
    it: text or a SQLAlchemy construct) decided as the SQL governance decides it: on a
    SQLAlchemy engine, connection or URL, by the hook, on the connection pandas runs it on, as
    the SQL the database receives; on a ``sqlite3``, psycopg2 or psycopg connection, here, on
    that connection.
    Returns what ``run`` returns and what the statement hands back (``… RETURNING``), as the
    hook read it. Raises ``GovernanceViolation`` on an enforced denial (nothing runs)."""
    import logging

    from lacuna.governor import current

    with needed(_ANALYSIS, _NOT_RUN):
        from lacuna.sql.govern import run_governed

    if isinstance(sql, str):  # a sqlite3, psycopg2 or psycopg connection: decided here
        with _bypass.bypass():
            db = dbapi_database(con)
            if db is not None:
                return run_governed(current(), db, sql, parameters, run)
    hook.install()
    with hook.expecting(sql) as expected, _bypass.bypass():
        result = run()
    if not expected.seen:  # pandas ran it some other way: say so loudly
        logging.getLogger(__name__).error(
            "pd.read_sql ran a statement Lacuna meant to decide without it reaching the SQL "
            "hook: %.200s", expected.sql)
    return result, expected.read


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
    "read_sql_statement",
    "run_read_sql",
    "statement_parameters",
    "statement_text",
    "table_classification",
    "to_sql_runs",
    "ungovern",
]
