"""psycopg (3) used directly, under the SQL governance: ``cursor.execute``/``executemany``/
``copy``/``stream`` (and a server-side cursor's ``execute``/``executemany``; ``conn.execute``
runs on a cursor) decide each statement before it runs, through
:func:`lacuna.sql.govern.run_governed` on the cursor's connection, as a statement sent through a
governed SQLAlchemy engine on PostgreSQL is (functions whose bodies write, triggers, event
triggers, ``COPY … TO``: fail closed).

psycopg's classes are Python, so their methods are replaced while ``lacuna.enable()`` is on (or
a ``governed()`` block is open), and put back by ``lacuna.disable()``; a connection opened
before ``enable()`` is governed too. The database is named as a SQLAlchemy engine on it would
be: ``postgresql+psycopg://user@host:port/dbname`` (no password), so
``classification_aware_databases`` and the stored classifications (table comments) are shared.

Not governed here: a statement Lacuna sends itself, or that SQLAlchemy sends (its psycopg
dialect runs cursors' ``execute``: the SQL hook, :mod:`lacuna.sql.hook`, decides those), and
statements run for a call the pandas integration already decides (under
:mod:`lacuna._bypass`). ``psycopg.AsyncConnection`` is not governed at all (none of its
statements, its ``AsyncCursor``s included), nor are libpq-level calls (``conn.pgconn.exec_``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import psycopg

from lacuna import _bypass
from lacuna.errors import IntegrationError
from lacuna.integrations.frames.hooks import Hook, Hooks
from lacuna.model import Action

_SKIPPED = (__name__, "lacuna.integrations.pandas._patch")
_NOT_OURS = ("lacuna.", "sqlalchemy.")


def _others_call() -> bool:
    """Whether Lacuna or SQLAlchemy made the call: the first caller outside this module, the
    guard and psycopg itself (``conn.execute`` calls ``cursor.execute``)."""
    frame: Any = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module not in _SKIPPED and not module.startswith("psycopg"):
            return module.startswith(_NOT_OURS) or module == "lacuna"
        frame = frame.f_back
    return False


def url_of(con: Any) -> str:
    """``postgresql+psycopg://user@host:port/dbname`` of a psycopg connection (as a SQLAlchemy
    engine on the same database is named, without its password)."""
    info = con.info
    host = info.host or "localhost"
    if host.startswith("/"):  # a Unix socket directory
        host = "localhost"
    return f"postgresql+psycopg://{info.user}@{host}:{info.port}/{info.dbname}"


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
            many: bool = False) -> Any:
    from lacuna.governor import current
    from lacuna.sql import hook
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import run_governed

    con = cur.connection
    sql = _text(cur, query)
    with _bypass.bypass():  # the catalog look-ups run on this connection: not governed again
        result, read = run_governed(current(), Database(con, url_of(con), "postgres"), sql,
                                    params, run, many=many)
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
    return hooks


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)

__all__ = ["hold", "install", "installed", "release", "uninstall", "url_of"]
