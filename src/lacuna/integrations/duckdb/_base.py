"""What the DuckDB integration's parts share: the state each connection holds (its pending
result, its registered objects), the connection's database and its catalog look-ups."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NoReturn

import duckdb

from lacuna import _bypass
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import STATES, WeakRegistry
from lacuna.lineage.state import DataState

log = logging.getLogger(__package__)  # as before the split: lacuna.integrations.duckdb

Make = Callable[[Callable[..., Any]], Callable[..., Any]]
MEMORY = "duckdb:///:memory:"
_METADATA_SCHEMAS = frozenset({"information_schema", "pg_catalog"})


class _Pending:
    """The state of each connection's pending result (what ``execute`` left to fetch): set by
    the statement, replaced by the next ``execute``; None: a statement Lacuna did not classify.

    Weakly per connection, but the default connection's (``duckdb.execute``) is held: DuckDB
    gives it a new Python object once no one holds the last, and its pending result lives on
    in the connection (``duckdb.execute(q)`` then ``duckdb.fetchdf()``)."""

    def __init__(self) -> None:
        self._connections: WeakRegistry[DataState | None] = WeakRegistry()
        self._default: tuple[Any, DataState | None] | None = None

    def set(self, con: Any, state: DataState | None) -> None:
        if con is duckdb.default_connection():
            self._default = (con, state)
        else:
            self._connections.set(con, state)

    def get(self, con: Any) -> DataState | None:
        if self._default is not None and self._default[0] is con:
            return self._default[1]
        return self._connections.get(con)


PENDING = _Pending()


class _Registered:
    """The Python objects each connection's ``register(name, obj)`` made scannable as ``name``
    (a view DuckDB reads the object through): a query naming it reads the object, with its
    state, not a sample of the view (a salary renamed ``x`` registered from a governed frame
    was classified from its values, PUBLIC; a record batch reader was consumed by the look).
    Weakly per connection; the default connection's held (:class:`_Pending`)."""

    def __init__(self) -> None:
        self._connections: WeakRegistry[dict[str, Any]] = WeakRegistry()
        self._default: tuple[Any, dict[str, Any]] | None = None

    def _names(self, con: Any, *, create: bool) -> dict[str, Any] | None:
        if con is duckdb.default_connection():
            if self._default is None or self._default[0] is not con:
                if not create:
                    return None
                self._default = (con, {})
            return self._default[1]
        found = self._connections.get(con)
        if found is None and create:
            found = {}
            self._connections.set(con, found)
        return found

    def add(self, con: Any, name: str, obj: Any) -> None:
        names = self._names(con, create=True)
        if names is not None:
            names[name.lower()] = obj

    def remove(self, con: Any, name: str) -> None:
        names = self._names(con, create=False)
        if names is not None:
            names.pop(name.lower(), None)

    def get(self, con: Any, name: str) -> Any:
        if not isinstance(con, duckdb.DuckDBPyConnection):
            return None
        names = self._names(con, create=False)
        return None if names is None else names.get(name.lower())


REGISTERED = _Registered()


# ``rel.map(f)``: the relation each was made from. ``f`` is a Python function, which Lacuna
# does not read: the result is PROPRIETARY (:func:`_mapped_state`), never sampled (sampling
# ran ``f``, whose own errors were reported as Lacuna's failure)
MAPPED: WeakRegistry[Any] = WeakRegistry()


_FILE_FUNCTIONS = ("read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json",
                   "read_json_auto", "read_ndjson")


def _gov() -> Any:
    from lacuna.governor import current

    return current()


def url_of(con: Any) -> str:
    """``duckdb:///<file>`` (or ``:memory:``) of a connection's, or a relation's, database."""
    current = "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    try:
        with _bypass.bypass(), outermost():
            if isinstance(con, duckdb.DuckDBPyRelation):  # its connection, through a view
                found = con.query("lacuna_relation", current)
                rows = found.fetchall() if found is not None else []
            else:
                rows = con.execute(current).fetchall()
        path = rows[0][0] if rows and rows[0][0] else ":memory:"
    except Exception:
        path = ":memory:"
    return f"duckdb:///{path}"


def column_names(con: Any, query: str) -> list[str]:
    """The output column names of ``query`` (a ``SELECT``) on connection ``con``, as DuckDB
    binds it, without running it: ``DESCRIBE`` binds only. ``con.sql(query).columns`` runs a
    query that changes the database at the call (a sequence's ``nextval``): it advanced the
    sequence before Lacuna decided, so a refused ``COPY (SELECT nextval('s') …) TO`` left it
    moved and an allowed one wrote other numbers than plain DuckDB.

    Raises:
        duckdb.Error: DuckDB cannot bind ``query``."""
    with _bypass.bypass(), outermost():
        return [str(r[0]) for r in con.sql(f"DESCRIBE {query}").fetchall()]


def _hand_on(result: Any, state: DataState) -> None:
    """What a statement returns carries its state: a relation, or the connection whose pending
    result it is (``execute``), which its fetchers (``.df()``, ``.fetchdf()``, …) hand on."""
    if isinstance(result, duckdb.DuckDBPyRelation):
        STATES.set(result, state)
    elif isinstance(result, duckdb.DuckDBPyConnection):
        PENDING.set(result, state)


def _home(con: Any, table: str, *, new: bool) -> str:
    """The URL of the database a write into ``table`` lands in: the connection's own, or a
    file ATTACHed to it (``o.t`` after ``ATTACH 'file' AS o``), which even an in-memory
    connection writes to disk."""
    return _located(con, table, new=new)[0]


def _located(con: Any, table: str, *, new: bool) -> tuple[str, str]:
    """:func:`_home` and the table's name there, without the alias it was attached by
    (:meth:`lacuna.sql.catalog.Database.located`): what the lineage store names it by."""
    from lacuna.sql.catalog import Database

    url = url_of(con)
    with _bypass.bypass(), outermost():
        return Database(_catalog(con), url, "duckdb").located(table, new=new)


def _refuse(message: str) -> NoReturn:
    """A statement Lacuna cannot decide as given: refused with ``message`` (an
    ``IntegrationError`` the caller sees as it is, not an internal failure), nothing run."""
    from lacuna.errors import IntegrationError
    from lacuna.integrations.pandas._patch import users_error

    exc = IntegrationError(message)
    users_error(exc)
    raise exc


def _catalog(con: Any) -> Any:
    """What Lacuna's catalog look-ups (:class:`lacuna.sql.catalog.Database`) run on for a
    connection or a relation: always where the user's statement runs."""
    return _ViaRelation(con) if isinstance(con, duckdb.DuckDBPyRelation) else _Session(con)


class _Session:
    """The DB-API calls :class:`lacuna.sql.catalog.Database` makes, run on the connection the
    user's statement runs on, in its current database and schema. Not on one of its cursors:
    a DuckDB cursor is a new connection to the same database, which sees neither the
    connection's temporary tables (``CREATE TEMP TABLE``: each connection has its own) nor
    what its open transaction has not committed, and starts in the default database (after
    ``USE o`` an unqualified ``kept`` would be looked up, counted, sampled and commented on in
    the wrong one)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.result: Any = None

    @property
    def database(self) -> Any:
        """What stands for the database in a cache key (:func:`lacuna.sql.tables._instance`):
        the user's connection (an in-memory database has no name of its own)."""
        return self.con

    def cursor(self) -> _Session:
        return _Session(self.con)

    def execute(self, sql: str) -> None:
        with _bypass.bypass(), outermost():  # Lacuna's own look-ups are not governed
            self.result = self.con.sql(sql)  # a statement that returns no rows runs here

    @property
    def description(self) -> Any:
        return self.result.description if self.result is not None else None

    def fetchall(self) -> list[Any]:
        if self.result is None:
            return []
        with _bypass.bypass(), outermost():
            return list(self.result.fetchall())

    def close(self) -> None:
        """Nothing to close: the connection is the caller's."""
        self.result = None


class _ViaRelation:
    """The DB-API calls :class:`lacuna.sql.catalog.Database` makes, run on a relation's
    connection (DuckDB offers no way from a relation to its connection; ``rel.query`` runs a
    statement there)."""

    def __init__(self, rel: Any) -> None:
        self.rel = rel

    @property
    def database(self) -> Any:
        """The relation (its connection is out of reach): its own cache entries."""
        return self.rel

    def cursor(self) -> _ViaRelation:
        return self

    def execute(self, sql: str) -> None:
        self.result = self.rel.query("lacuna_relation", sql)

    @property
    def description(self) -> Any:
        return self.result.description if self.result is not None else None

    def fetchall(self) -> list[Any]:
        return list(self.result.fetchall()) if self.result is not None else []

    def close(self) -> None:
        """Nothing to close: the relation's connection is the caller's."""


_RELATION = "__lacuna_relation"
