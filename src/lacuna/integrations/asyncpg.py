"""asyncpg used directly, under the SQL governance: each statement a ``Connection`` (or a pool's
connection) runs is decided before it runs, through :func:`lacuna.sql.govern.run_governed` on
the statement's own connection, as a statement sent through a governed SQLAlchemy engine on
PostgreSQL is (functions whose bodies write, triggers, event triggers, ``COPY … TO``,
statements Lacuna cannot read: fail closed):

- ``execute``, ``fetch``, ``fetchrow``, ``fetchval`` with their ``$1`` … arguments, and
  ``executemany``/``fetchmany`` with each set (an ``INSERT … VALUES ($1, …)`` is classified by
  the values it sends);
- ``cursor(…)``: decided when the cursor factory is awaited or first iterated, before asyncpg
  opens the portal; ``prepare(…)``: the ``PreparedStatement``'s ``fetch``, ``fetchrow``,
  ``fetchval``, ``fetchmany``, ``executemany`` and ``cursor`` are decided with their arguments
  (``explain(analyze=True)`` runs the statement: decided as ``EXPLAIN ANALYZE …``);
- ``copy_from_table``/``copy_from_query(output=…)``: the rows written to a path or to an open
  file are an export to that file, decided as ``COPY … TO 'that path'`` (to sealed governed
  storage: refused); to a coroutine function or an in-memory buffer, a read by the client;
- ``copy_to_table(source=…)``: a write of data Lacuna does not read into the table (``COPY
  … FROM STDIN``: fail closed); ``copy_records_to_table(records=…)``: decided as ``INSERT INTO
  table VALUES ($1, …)`` with the records (an asynchronous iterable cannot be read before it is
  sent: decided as ``COPY … FROM STDIN``).

asyncpg's classes are Python, so their methods are replaced while ``lacuna.enable()`` is on (or
a ``governed()`` block is open), and put back by ``lacuna.disable()``; a connection opened
before ``enable()`` is governed too, and so is a pool's (``asyncpg.create_pool``: its proxies
call ``Connection``'s methods). The database is named as a SQLAlchemy engine on it would be:
``postgresql+asyncpg://user@host:port/dbname`` (no password). The decision runs in a greenlet
whose catalog look-ups and statement are awaited on the connection
(:mod:`lacuna.integrations.aio`; ``greenlet`` is required).

Not governed here: a statement Lacuna sends itself, or that SQLAlchemy's asyncpg dialect sends
(the SQL hook, :mod:`lacuna.sql.hook`, decides those), asyncpg's own (a pool's reset of a
released connection, a transaction's ``BEGIN``/``COMMIT``: no table read), statements run for
a call the pandas integration already decides (under :mod:`lacuna._bypass`), asyncpg's private
methods (``_execute``, ``_copy_out``) or the originals called past the replacements.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import asyncpg
import asyncpg.cursor
import asyncpg.prepared_stmt

from lacuna import _bypass
from lacuna.errors import IntegrationError
from lacuna.integrations import callers
from lacuna.integrations.aio import await_, decided
from lacuna.integrations.frames.hooks import Hook, Hooks
from lacuna.model import Action

T = TypeVar("T")
# this module, the guard, the awaiting helpers, and asyncpg's modules that pass the caller's
# statement on (a pool's proxy and its Pool.fetch, …; PreparedStatement.explain)
_SKIP = callers.among(
    (__name__, callers.GUARD, "lacuna.integrations.aio", "asyncpg.pool", "asyncpg.prepared_stmt"))
_ASYNCPG = callers.among((), packages=("asyncpg",))  # not asyncpgsa, …


def _others_call() -> bool:
    """Whether Lacuna, SQLAlchemy or asyncpg itself made the call: the first caller outside
    this module and the guard. asyncpg's own statements (a pool's reset when a connection is
    released, a transaction's ``BEGIN``/``COMMIT``, ``LISTEN``) read no table; a pool's proxy
    and its ``Pool.fetch``, … and ``PreparedStatement.explain`` pass the caller's statement on,
    so the caller beyond them is asked."""
    frame = callers.first_caller(_SKIP)
    return _ASYNCPG(callers.module_of(frame)) or callers.decided_elsewhere(frame)


def url_of(con: Any) -> str:
    """``postgresql+asyncpg://user@host:port/dbname`` of an asyncpg connection (as a SQLAlchemy
    engine on the same database is named, without its password; a Unix socket as
    ``localhost`` and the port its name carries).

    Raises:
        IntegrationError: the connection does not say where it is connected (fail closed).
    """
    from lacuna.sql.catalog import postgres_url

    con = getattr(con, "_con", None) or con  # a pool's proxy
    addr, params = getattr(con, "_addr", None), getattr(con, "_params", None)
    user, dbname = getattr(params, "user", None), getattr(params, "database", None)
    host: str | None = None
    port: Any = None
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = str(addr[0]), addr[1]
    elif isinstance(addr, str) and addr.rpartition(".s.PGSQL.")[2].isdigit():
        host, port = addr, addr.rpartition(".s.PGSQL.")[2]  # a Unix socket's file
    if not (host and port and user and dbname):
        msg = (
            f"asyncpg: Lacuna cannot tell which database {con!r} is connected to (address "
            f"{addr!r}, user {user!r}, database {dbname!r}), so it cannot decide its "
            "statements; nothing was run. Connect with asyncpg.connect(host=…, port=…, "
            "user=…, database=…) or a postgresql:// DSN."
        )
        raise IntegrationError(msg)
    return postgres_url("asyncpg", SimpleNamespace(host=host, port=port, user=user, dbname=dbname))


def _text(query: Any) -> str:
    if isinstance(query, str):
        return query
    msg = (
        f"asyncpg: Lacuna cannot read a {type(query).__name__} query to decide it (asyncpg "
        "takes SQL as a string); nothing was run. Pass the SQL as a string."
    )
    raise IntegrationError(msg)


class _Blocking:
    """An asyncpg ``Connection`` as the synchronous DB-API connection
    :mod:`lacuna.sql.catalog` reads, inside :func:`lacuna.integrations.aio.bridged`: each query
    is awaited on the connection itself (the look-ups run under :mod:`lacuna._bypass`, so the
    replaced methods pass them to asyncpg)."""

    def __init__(self, con: Any) -> None:
        self._con = con

    @property
    def autocommit(self) -> bool:
        """asyncpg commits each statement unless a transaction is open."""
        return not self._con.is_in_transaction()

    def cursor(self) -> _BlockingCursor:
        return _BlockingCursor(self._con)


class _BlockingCursor:
    def __init__(self, con: Any) -> None:
        self._con = con
        self.description: list[tuple[str]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None) -> _BlockingCursor:
        if params:  # pragma: no cover - the catalog's look-ups are literal SQL
            msg = "asyncpg: Lacuna's catalog look-ups take no parameters"
            raise IntegrationError(msg)
        statement = await_(self._con.prepare(sql))
        self.description = [(a.name,) for a in statement.get_attributes()]
        self._rows = [tuple(r) for r in await_(statement.fetch())]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def close(self) -> None:
        self._rows = []


def _decide(con: Any, sql: str, params: Any, run: Callable[[], Any], *, many: bool = False) -> Any:
    """Decide ``sql`` (run with ``params``) on ``con`` and call ``run`` if allowed."""
    from lacuna.governor import current
    from lacuna.sql import hook, require_analysis
    from lacuna.sql.catalog import Database

    require_analysis()  # or ComponentImportError, saying what to install: nothing runs
    from lacuna.sql.govern import run_governed

    db = Database(_Blocking(con), url_of(con), "postgres")
    with _bypass.bypass():  # the catalog look-ups run on this connection: not governed again
        result, read = run_governed(current(), db, sql, params, run, many=many)
    if read is not None:  # lacuna.sql.classification(): the last governed query's
        hook.remember(read)
    return result


def _decided(
    con: Any,
    sql: str,
    params: Any,
    start: Callable[[], Awaitable[T]],
    label: str,
    *,
    many: bool = False,
) -> Awaitable[T]:
    return decided(lambda run: _decide(con, sql, params, run, many=many), start, label)


def _sets(args: Any) -> list[Any]:
    """The parameter sets of ``executemany``/``fetchmany``, read once: the sets Lacuna samples
    are the sets that run."""
    return args if isinstance(args, list) else list(args)


# -- Connection ----------------------------------------------------------------------------------


def _query(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``execute``/``fetch``/``fetchrow``/``fetchval(query, *args, …)``."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def query(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, sql, *args, **kwargs))
            return _decided(
                self, _text(sql), args or None, lambda: original(self, sql, *args, **kwargs), label
            )

        return query

    return make


def _many(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``executemany``/``fetchmany(query, args, …)``."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def many(self: Any, sql: Any, args: Any, *rest: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, sql, args, *rest, **kwargs))
            sets = _sets(args)
            return _decided(
                self,
                _text(sql),
                sets,
                lambda: original(self, sql, sets, *rest, **kwargs),
                label,
                many=True,
            )

        return many

    return make


class _CursorFactory:
    """What a governed ``cursor(…)`` returns: asyncpg's ``CursorFactory``, decided when it is
    awaited (a ``Cursor``) or first iterated, before asyncpg opens the portal."""

    def __init__(self, con: Any, sql: str, args: tuple[Any, ...], factory: Any, label: str) -> None:
        self._con, self._sql, self._args = con, sql, args
        self._factory, self._label = factory, label

    def __await__(self) -> Generator[Any, None, Any]:
        async def opened() -> Any:
            return await self._factory

        return _decided(self._con, self._sql, self._args or None, opened, self._label).__await__()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._rows()

    async def _rows(self) -> AsyncIterator[Any]:
        async def first() -> Any:
            rows = self._factory.__aiter__()
            try:
                return rows, await rows.__anext__()
            except StopAsyncIteration:
                return rows, _END

        rows, row = await _decided(self._con, self._sql, self._args or None, first, self._label)
        if row is _END:
            return
        yield row
        async for row in rows:
            yield row


_END = object()


def _cursor(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def cursor(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Any:
            factory = original(self, sql, *args, **kwargs)
            if _others_call():
                return factory
            return _CursorFactory(self, _text(sql), args, factory, label)

        return cursor

    return make


def _output_path(output: Any, method: str) -> str | None:
    """The file ``copy_from_*(output=…)`` writes: a path, or an open file's; None for a
    coroutine function or an in-memory buffer (the client reads the rows)."""
    from lacuna.integrations.pandas._frames import file_path

    if isinstance(output, (str, bytes, os.PathLike)):
        return os.path.abspath(os.fsdecode(output))
    if hasattr(output, "write"):
        return file_path(output)
    if callable(output):
        return None
    msg = (
        f"{method}: Lacuna cannot tell where output={output!r} writes the rows, so it "
        "cannot decide the export; nothing was run. Pass a path, a file object or a "
        "coroutine function, as asyncpg takes."
    )
    raise IntegrationError(msg)


def _copy_out(copy: str, output: Any, method: str) -> str:
    """``COPY … TO STDOUT`` into ``output``, as Lacuna decides it."""
    from lacuna.sql import require_analysis

    require_analysis()  # or ComponentImportError, saying what to install: nothing runs
    from lacuna.sql.govern import copy_into_file

    path = _output_path(output, method)
    if path is None:
        return copy
    return copy_into_file(copy, path, method, "rows asyncpg copies into a file")


def _table(table: Any, schema: Any, columns: Any) -> tuple[str, str]:
    """``"schema"."table"`` and ``("a", "b")`` (or ``""``) quoted as asyncpg quotes them."""
    from asyncpg import utils

    name = utils._quote_ident(str(table))
    if schema:
        name = f"{utils._quote_ident(str(schema))}.{name}"
    listed = ", ".join(utils._quote_ident(str(c)) for c in columns or ())
    return name, listed


def _copy_from_table(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy_from_table(self: Any, table_name: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, table_name, **kwargs))
            name, listed = _table(table_name, kwargs.get("schema_name"), kwargs.get("columns"))
            sql = f"COPY (SELECT {listed or '*'} FROM {name}) TO STDOUT"
            return _decided(
                self,
                _copy_out(sql, kwargs.get("output"), label),
                None,
                lambda: original(self, table_name, **kwargs),
                label,
            )

        return copy_from_table

    return make


def _copy_from_query(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy_from_query(self: Any, query: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, query, *args, **kwargs))
            sql = f"COPY ({_text(query)}) TO STDOUT"
            return _decided(
                self,
                _copy_out(sql, kwargs.get("output"), label),
                args or None,
                lambda: original(self, query, *args, **kwargs),
                label,
            )

        return copy_from_query

    return make


def _copy_to_table(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``copy_to_table(table, source=…)``: rows Lacuna does not read into the table."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy_to_table(self: Any, table_name: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, table_name, **kwargs))
            name, listed = _table(table_name, kwargs.get("schema_name"), kwargs.get("columns"))
            sql = f"COPY {name}{f' ({listed})' if listed else ''} FROM STDIN"
            return _decided(self, sql, None, lambda: original(self, table_name, **kwargs), label)

        return copy_to_table

    return make


def _copy_records_to_table(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``copy_records_to_table(table, records=…)``: decided as ``INSERT INTO table VALUES ($1,
    …)`` run with each record, so the values are classified."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy_records_to_table(self: Any, table_name: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, table_name, **kwargs))
            columns = kwargs.get("columns")
            name, listed = _table(table_name, kwargs.get("schema_name"), columns)
            into = f"{name}{f' ({listed})' if listed else ''}"
            records = kwargs.get("records")
            if hasattr(records, "__aiter__"):  # read as it is sent: its values are unseen
                return _decided(
                    self,
                    f"COPY {into} FROM STDIN",
                    None,
                    lambda: original(self, table_name, **kwargs),
                    label,
                )
            rows = [tuple(r) for r in _sets(records if records is not None else [])]
            width = len(columns) if columns else max((len(r) for r in rows), default=1)
            holes = ", ".join(f"${i}" for i in range(1, width + 1))
            sent = {**kwargs, "records": rows}
            return _decided(
                self,
                f"INSERT INTO {into} VALUES ({holes})",
                rows,
                lambda: original(self, table_name, **sent),
                label,
                many=True,
            )

        return copy_records_to_table

    return make


# -- PreparedStatement ---------------------------------------------------------------------------


def _prepared(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``fetch``/``fetchrow``/``fetchval(*args, …)`` of a prepared statement."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def query(self: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, *args, **kwargs))
            return _decided(
                self._connection,
                _text(self.get_query()),
                args or None,
                lambda: original(self, *args, **kwargs),
                label,
            )

        return query

    return make


def _prepared_many(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``executemany``/``fetchmany(args, …)`` of a prepared statement."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def many(self: Any, args: Any, *rest: Any, **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, args, *rest, **kwargs))
            sets = _sets(args)
            return _decided(
                self._connection,
                _text(self.get_query()),
                sets,
                lambda: original(self, sets, *rest, **kwargs),
                label,
                many=True,
            )

        return many

    return make


def _prepared_cursor(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def cursor(self: Any, *args: Any, **kwargs: Any) -> Any:
            factory = original(self, *args, **kwargs)
            if _others_call():
                return factory
            return _CursorFactory(self._connection, _text(self.get_query()), args, factory, label)

        return cursor

    return make


_CONNECTION = {
    "execute": _query,
    "fetch": _query,
    "fetchrow": _query,
    "fetchval": _query,
    "executemany": _many,
    "fetchmany": _many,
    "cursor": _cursor,
    "copy_from_table": _copy_from_table,
    "copy_from_query": _copy_from_query,
    "copy_to_table": _copy_to_table,
    "copy_records_to_table": _copy_records_to_table,
}
_PREPARED = {
    "fetch": _prepared,
    "fetchrow": _prepared,
    "fetchval": _prepared,
    "executemany": _prepared_many,
    "fetchmany": _prepared_many,
    "cursor": _prepared_cursor,
}


def _hooks() -> list[Hook]:
    hooks = [
        Hook(
            asyncpg.Connection,
            name,
            make(f"asyncpg.Connection.{name}"),
            Action.EXPORT,
            f"asyncpg.Connection.{name}",
        )
        for name, make in _CONNECTION.items()
    ]
    statement = asyncpg.prepared_stmt.PreparedStatement
    hooks += [
        Hook(
            statement,
            name,
            make(f"asyncpg.PreparedStatement.{name}"),
            Action.EXPORT,
            f"asyncpg.PreparedStatement.{name}",
        )
        for name, make in _PREPARED.items()
    ]
    return hooks


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install,
    _HOOKS.uninstall,
    _HOOKS.hold,
    _HOOKS.release,
    _HOOKS.installed,
)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)

__all__ = ["hold", "install", "installed", "release", "uninstall", "url_of"]
