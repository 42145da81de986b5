"""psycopg (3) used directly, under the SQL governance: ``cursor.execute``/``executemany``/
``copy``/``stream`` (and a server-side cursor's ``execute``/``executemany``; ``conn.execute``
runs on a cursor) decide each statement before it runs, through
:func:`lacuna.sql.govern.run_governed` on the cursor's connection, as a statement sent through a
governed SQLAlchemy engine on PostgreSQL is (functions whose bodies write, triggers, event
triggers, ``COPY … TO``: fail closed). The same for ``psycopg.AsyncConnection``: its
``AsyncCursor``'s and ``AsyncServerCursor``'s methods (``await aconn.execute(…)``, ``async for
row in cur.stream(…)``, ``async with cur.copy(…)``).

psycopg's classes are Python, so their methods are replaced while ``lacuna.enable()`` is on (or
a ``governed()`` block is open), and put back by ``lacuna.disable()``; a connection opened
before ``enable()`` is governed too. The database is named as a SQLAlchemy engine on it would
be: ``postgresql+psycopg://user@host:port/dbname`` (no password), so
``classification_aware_databases`` and the stored classifications (table comments) are shared.

An async statement is decided by the same synchronous code, run in a greenlet (as SQLAlchemy's
asyncio layer runs its synchronous core; ``greenlet`` is required, else the statement is
refused in ``enforce`` mode): its catalog look-ups and the statement itself are handed back to
the caller's coroutine and awaited on the statement's own connection, so they see its
uncommitted work (a trigger created earlier in the transaction), take psycopg's connection
lock like any statement, and the statement runs between its decision and its record as on a
synchronous cursor. The event loop is held while Lacuna's own synchronous work runs (parsing,
the policy, the audit record and lineage written to its stores), never while the database
answers. ``stream()`` is decided when first iterated, ``copy()`` when entered, both before
psycopg sends anything.

Not governed here: a statement Lacuna sends itself, or that SQLAlchemy sends (its psycopg
dialects, synchronous and asyncio, run cursors' ``execute``: the SQL hook,
:mod:`lacuna.sql.hook`, decides those), and statements run for a call the pandas integration
already decides (under :mod:`lacuna._bypass`). Nor libpq-level calls (``conn.pgconn.exec_``,
``send_query``), psycopg's private methods or the originals called past the replacements.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import tuple_row

from lacuna import _bypass
from lacuna.errors import IntegrationError
from lacuna.integrations import callers
from lacuna.integrations.aio import await_, decided
from lacuna.integrations.frames.hooks import Hook, Hooks
from lacuna.model import Action

T = TypeVar("T")
_SKIP = callers.among((__name__, callers.GUARD), packages=("psycopg", "psycopg_pool"))


def _others_call() -> bool:
    """Whether Lacuna or SQLAlchemy made the call: the first caller outside this module, the
    guard and psycopg itself (``conn.execute`` calls ``cursor.execute``)."""
    return callers.decided_elsewhere(callers.first_caller(_SKIP))


def url_of(con: Any) -> str:
    """``postgresql+psycopg://user@host:port/dbname`` of a psycopg connection (as a SQLAlchemy
    engine on the same database is named, without its password)."""
    from lacuna.sql.catalog import postgres_url

    return postgres_url("psycopg", con.info)


def _text(cur: Any, query: Any) -> str:
    """The SQL text of ``query`` as psycopg sends it: a string, bytes, or a composed
    ``psycopg.sql`` object (rendered on the cursor's connection)."""
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode(cur.connection.info.encoding or "utf-8")
    if hasattr(query, "as_string"):
        return str(query.as_string(cur.connection))
    msg = (f"psycopg: Lacuna cannot read a {type(query).__name__} query to decide it (it reads "
           "str, bytes and psycopg.sql objects); nothing was run. Pass the SQL as a string.")
    raise IntegrationError(msg)


def _decide(cur: Any, query: Any, params: Any, run: Callable[[], Any], *,
            many: bool = False, dbapi: Any = None) -> Any:
    """Decide ``query`` and call ``run`` if allowed; the catalog look-ups run on ``dbapi``
    (by default the cursor's connection)."""
    from lacuna.governor import current
    from lacuna.sql import hook, require_analysis
    from lacuna.sql.catalog import Database

    require_analysis()  # or ComponentImportError, saying what to install: nothing runs
    from lacuna.sql.govern import run_governed

    con = cur.connection
    sql = _text(cur, query)
    db = Database(con if dbapi is None else dbapi, url_of(con), "postgres")
    with _bypass.bypass():  # the catalog look-ups run on this connection: not governed again
        result, read = run_governed(current(), db, sql, params, run, many=many)
    if read is not None:
        hook.remember(read)
    return result


def _execute(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _others_call():
            return original(self, query, params, *args, **kwargs)
        return _decide(self, query, params,
                       lambda: original(self, query, params, *args, **kwargs))

    return execute


def _executemany(original: Callable[..., Any]) -> Callable[..., Any]:
    def executemany(self: Any, query: Any, params_seq: Any, *args: Any, **kwargs: Any) -> Any:
        if _others_call():
            return original(self, query, params_seq, *args, **kwargs)
        sets = params_seq if isinstance(params_seq, (list, tuple)) else list(params_seq)
        return _decide(self, query, sets, lambda: original(self, query, sets, *args, **kwargs),
                       many=True)

    return executemany


# -- psycopg.AsyncConnection -------------------------------------------------------------------
#
# An async cursor's statement is decided by the synchronous governance run in a greenlet whose
# catalog look-ups and statement are awaited on the cursor's own connection: see
# lacuna.integrations.aio.


class _Blocking:
    """An ``AsyncConnection`` as the synchronous DB-API connection :mod:`lacuna.sql.catalog`
    reads, inside :func:`lacuna.integrations.aio.bridged`: each query is awaited on the
    connection itself (tuples, whatever the connection's row factory)."""

    def __init__(self, con: Any) -> None:
        self._con = con

    @property
    def autocommit(self) -> bool:
        return bool(self._con.autocommit)

    def cursor(self) -> _BlockingCursor:
        return _BlockingCursor(self._con.cursor(row_factory=tuple_row))


class _BlockingCursor:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    @property
    def description(self) -> Any:
        return self._cur.description

    def execute(self, sql: str, params: Any = None) -> _BlockingCursor:
        await_(self._cur.execute(sql, params))
        return self

    def fetchall(self) -> list[Any]:
        return cast("list[Any]", await_(self._cur.fetchall()))

    def close(self) -> None:
        await_(self._cur.close())


async def _decided(cur: Any, query: Any, params: Any, start: Callable[[], Awaitable[T]],
                   label: str, *, many: bool = False) -> T:
    """Decide ``query`` on an async cursor and await ``start()`` if allowed
    (:func:`lacuna.integrations.aio.decided`)."""
    return await decided(
        lambda run: _decide(cur, query, params, run, many=many, dbapi=_Blocking(cur.connection)),
        start, label)


def _async_execute(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def execute(self: Any, query: Any, params: Any = None, *args: Any,
                    **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]", original(self, query, params, *args, **kwargs))
            return _decided(self, query, params,
                            lambda: original(self, query, params, *args, **kwargs), label)

        return execute

    return make


def _async_executemany(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def executemany(self: Any, query: Any, params_seq: Any, *args: Any,
                        **kwargs: Any) -> Awaitable[Any]:
            if _others_call():
                return cast("Awaitable[Any]",
                            original(self, query, params_seq, *args, **kwargs))
            sets = params_seq if isinstance(params_seq, (list, tuple)) else list(params_seq)
            return _decided(self, query, sets,
                            lambda: original(self, query, sets, *args, **kwargs), label,
                            many=True)

        return executemany

    return make


def _async_stream(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``cursor.stream(…)``: an async generator, decided when it is first iterated (before
    psycopg sends the query)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def stream(self: Any, query: Any, params: Any = None, *args: Any,
                   **kwargs: Any) -> AsyncIterator[Any]:
            if _others_call():
                return cast("AsyncIterator[Any]",
                            original(self, query, params, *args, **kwargs))
            return _streamed(self, query, params,
                             lambda: original(self, query, params, *args, **kwargs), label)

        return stream

    return make


async def _streamed(cur: Any, query: Any, params: Any, make: Callable[[], Any],
                    label: str) -> AsyncIterator[Any]:
    async def start() -> Any:
        return make()

    rows = await _decided(cur, query, params, start, label)
    try:
        async for row in rows:
            yield row
    finally:
        await rows.aclose()


def _async_copy(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``cursor.copy(…)``: an async context manager, decided when it is entered (before
    psycopg starts the copy)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy(self: Any, statement: Any, params: Any = None, *args: Any,
                 **kwargs: Any) -> AbstractAsyncContextManager[Any]:
            if _others_call():
                return cast("AbstractAsyncContextManager[Any]",
                            original(self, statement, params, *args, **kwargs))
            return _Copy(self, statement, params,
                         lambda: original(self, statement, params, *args, **kwargs), label)

        return copy

    return make


class _Copy:
    """What a governed ``AsyncCursor.copy(…)`` returns: psycopg's context manager, entered
    once the statement is allowed."""

    def __init__(self, cur: Any, statement: Any, params: Any, make: Callable[[], Any],
                 label: str) -> None:
        self._cur, self._statement, self._params = cur, statement, params
        self._make, self._label = make, label
        self._entered: Any = None

    async def __aenter__(self) -> Any:
        async def enter() -> Any:
            manager = self._make()
            copy = await manager.__aenter__()
            self._entered = manager
            return copy

        return await _decided(self._cur, self._statement, self._params, enter, self._label)

    async def __aexit__(self, *exc: Any) -> Any:
        if self._entered is None:
            return None
        return await self._entered.__aexit__(*exc)


def _hooks() -> list[Hook]:
    hooks = []
    for owner in (psycopg.Cursor, psycopg.ServerCursor):
        name = owner.__name__
        hooks += [
            Hook(owner, "execute", _execute, Action.EXPORT, f"psycopg.{name}.execute"),
            Hook(owner, "executemany", _executemany, Action.EXPORT,
                 f"psycopg.{name}.executemany"),
        ]
    # COPY (… TO STDOUT / FROM STDIN) and a streamed query: decided before psycopg starts them
    hooks += [Hook(psycopg.Cursor, name, _execute, Action.EXPORT, f"psycopg.Cursor.{name}")
              for name in ("copy", "stream")]
    # psycopg.AsyncConnection: the same statements, awaited (lacuna.integrations.aio)
    for awaited in (psycopg.AsyncCursor, psycopg.AsyncServerCursor):
        name = awaited.__name__
        hooks += [Hook(awaited, method, make(f"psycopg.{name}.{method}"), Action.EXPORT,
                       f"psycopg.{name}.{method}")
                  for method, make in (("execute", _async_execute),
                                       ("executemany", _async_executemany))]
    hooks += [Hook(psycopg.AsyncCursor, method, make(f"psycopg.AsyncCursor.{method}"),
                   Action.EXPORT, f"psycopg.AsyncCursor.{method}")
              for method, make in (("copy", _async_copy), ("stream", _async_stream))]
    return hooks


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)

__all__ = ["hold", "install", "installed", "release", "uninstall", "url_of"]
