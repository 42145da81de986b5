"""SQLAlchemy's side: every statement an engine sends to its database passes through here.

Lacuna listens on SQLAlchemy's ``Dialect`` class for ``do_execute``, ``do_executemany`` and
``do_execute_no_params``: the moment just before the DB-API cursor runs a statement, after
SQLAlchemy has compiled it (so ORM, Core, ``text()`` and pandas all arrive as the SQL the
database will see). The listener governs a statement when its engine was passed to
:func:`govern`, or when pandas is governed in this context (``lacuna.enable()``,
``lacuna.governed()``) — that covers engines created afterwards — and then runs it itself
through the dialect, so that ``Governor.execute`` can decide before and record after.

Not governed: statements Lacuna issues itself (its audit trail and stores), statements pandas
runs for a call Lacuna's pandas integration already governs, and dialects other than SQLite,
DuckDB and PostgreSQL unless the engine was governed explicitly (then they are refused). The
one exception is :func:`expecting`: ``pd.read_sql`` of a statement that is not a plain read
(``INSERT … RETURNING``, ``SELECT f()`` on PostgreSQL) hands it here, to be decided as any
statement is, on the connection pandas runs it on.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy.engine import make_url

from lacuna import _bypass
from lacuna.destinations import this_machine
from lacuna.integrations.callers import of_package
from lacuna.redact import redact_url
from lacuna.sql.catalog import DIALECTS, Database

if TYPE_CHECKING:
    # lacuna.sql.govern (sqlglot through lacuna.lineage.sql_dialects: ~70 ms of CPU) is
    # imported by the first statement the hook governs, not by install(): enable() installs
    # the hook in every process, most of which never run a statement through SQLAlchemy
    from lacuna.sql.govern import SqlRead

_EXPLICIT: weakref.WeakSet[Any] = weakref.WeakSet()  # dialects of engines given to govern()
_LAST: contextvars.ContextVar[SqlRead | None] = contextvars.ContextVar("lacuna_sql_read",
                                                                      default=None)
_INSTALLED = False
_LOCK = threading.Lock()
READ_KEY = "lacuna_sql_read"


@dataclass(slots=True)
class Expected:
    """A statement the pandas integration runs under its bypass but wants governed here
    (:func:`expecting`): whether the hook governed it, and what it read. ``sql``: the text,
    or the SQLAlchemy construct (``insert()``, ``text()`` …) pandas executes."""

    sql: Any
    seen: bool = False
    read: SqlRead | None = None

    def matches(self, statement: str, context: Any) -> bool:
        """Whether the statement reaching the hook is the expected one: the same text, once;
        or, for a construct, each execution of it (SQLAlchemy may run one construct as
        several statements: ``insertmanyvalues`` batches), whatever it compiled to."""
        if isinstance(self.sql, str):
            return not self.seen and self.sql.strip() == statement.strip()
        return getattr(context, "invoked_statement", None) is self.sql


_EXPECTED: contextvars.ContextVar[Expected | None] = contextvars.ContextVar(
    "lacuna_sql_expected", default=None)


@contextlib.contextmanager
def expecting(sql: Any) -> Iterator[Expected]:
    """Govern ``sql`` (text, or a SQLAlchemy construct) when it reaches the hook inside the
    block, although the block runs under Lacuna's bypass (pandas' ``read_sql``, whose other
    work is not governed): on the connection it runs on, as the SQL text the database
    receives, as any statement sent through a governed engine."""
    expected = Expected(sql)
    token = _EXPECTED.set(expected)
    try:
        yield expected
    finally:
        _EXPECTED.reset(token)


def install() -> None:
    """Listen on SQLAlchemy's Dialect class (once per process)."""
    global _INSTALLED
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import Dialect

    with _LOCK:
        if _INSTALLED:
            return
        event.listen(Engine, "engine_connect", _wake)
        event.listen(Dialect, "do_execute", _do_execute)
        event.listen(Dialect, "do_executemany", _do_executemany)
        event.listen(Dialect, "do_execute_no_params", _do_execute_no_params)
        _INSTALLED = True


def uninstall() -> None:
    global _INSTALLED
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import Dialect

    with _LOCK:
        if not _INSTALLED:
            return
        event.remove(Engine, "engine_connect", _wake)
        event.remove(Dialect, "do_execute", _do_execute)
        event.remove(Dialect, "do_executemany", _do_executemany)
        event.remove(Dialect, "do_execute_no_params", _do_execute_no_params)
        _INSTALLED = False


def mark(dialect: Any) -> None:
    _EXPLICIT.add(dialect)
    dialect._has_events = True


def _wake(connection: Any) -> None:
    """Some dialects (duckdb-engine's) switch dialect events off in their class: switch them on
    for the dialects Lacuna governs."""
    dialect = connection.dialect
    if dialect.name in DIALECTS and not dialect._has_events:
        dialect._has_events = True


def unmark(dialect: Any) -> None:
    _EXPLICIT.discard(dialect)


def is_marked(dialect: Any) -> bool:
    return dialect in _EXPLICIT


def last_read() -> SqlRead | None:
    """What the last governed query in this thread (or task) read."""
    return _LAST.get()


def remember(read: SqlRead) -> None:
    """Make ``read`` the last governed query of this thread (a ``sqlite3`` connection's
    statements are decided outside SQLAlchemy: :mod:`lacuna.integrations.sqlite3`)."""
    _LAST.set(read)


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    dialect = context.dialect
    return _handle(statement, parameters, context, False,
                   lambda: dialect.do_execute(cursor, statement, parameters, context))


def _do_executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    dialect = context.dialect
    return _handle(statement, parameters, context, True,
                   lambda: dialect.do_executemany(cursor, statement, parameters, context))


def _do_execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
    dialect = context.dialect
    return _handle(statement, None, context, False,
                   lambda: dialect.do_execute_no_params(cursor, statement, context))


def _handle(statement: str, parameters: Any, context: Any, many: bool, run: Any) -> bool:
    """Govern and run the statement; False leaves it to SQLAlchemy (not ours to govern)."""
    expected = _EXPECTED.get()
    if expected is not None and not expected.matches(statement, context):
        expected = None
    if _bypass.active() and expected is None:
        return False
    from lacuna.governor import current, governing

    dialect = context.dialect
    explicit = dialect in _EXPLICIT
    if not (explicit or governing()) or (expected is None and _from_lacuna()):
        return False
    name = DIALECTS.get(dialect.name)
    if name is None and not explicit:
        return False  # the Database below refuses it for an explicitly governed engine
    connection = context.root_connection
    dbapi = connection.connection.dbapi_connection
    url = with_connected_hosts(redact_url(connection.engine.url), dbapi)
    db = Database(dbapi, url, name or dialect.name)
    # imported by the first statement governed (see the imports above): an import that
    # fails raises here, out of SQLAlchemy's execute, and the statement does not run
    # (a ComponentImportError that says what to install; no `with` on this path: it runs for
    # every statement)
    try:
        from lacuna.sql.govern import run_governed
    except ImportError as exc:
        from lacuna.errors import ComponentImportError
        from lacuna.sql import _ANALYSIS

        if isinstance(exc, ComponentImportError):
            raise
        refused = "The statement did not run: it cannot be decided without that analysis"
        raise ComponentImportError(_ANALYSIS, refused, exc) from exc

    if expected is not None:
        expected.seen = True
    with _bypass.bypass():  # Lacuna's own statements (audit, stores) are not governed again
        _, read = run_governed(current(), db, statement, parameters, run, many=many)
    if expected is not None:
        expected.read = read
    if read is not None:
        setattr(context, READ_KEY, read)
        _LAST.set(read)
    return True


def with_connected_hosts(url: str, dbapi_connection: Any) -> str:
    """``url`` with the host the DBAPI connection is actually connected to added as ``host``
    (and ``hostaddr``) parameters, when the driver says and it is not the URL's own: psycopg 3
    and psycopg2 (``connection.info.host``/``hostaddr``), asyncpg through SQLAlchemy's adapter
    (``driver_connection._addr``, the address asyncpg connected to). ``connect_args=
    {"host": ...}`` or a ``creator=`` sends an engine whose URL names ``localhost`` to another
    server, and the database was named, and judged internal, by the URL alone
    (:func:`lacuna.destinations.destination` reads every host the URL names: one outside
    makes the database external). Other drivers (pg8000) report no host: the URL stands."""
    named = _named_host(url)
    added = [f"{key}={quote(value, safe='/:')}" for key, value in _connected(dbapi_connection)
             if not this_machine(value) and value.lower() != named]
    if not added:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(added)


def _connected(dbapi_connection: Any) -> list[tuple[str, str]]:
    """The hosts the driver says ``dbapi_connection`` went to, as ``(key, host)``: on it, or
    on the driver's connection a SQLAlchemy adapter holds (``driver_connection``: asyncpg's,
    psycopg's async one)."""
    found: list[tuple[str, str]] = []
    try:
        driver = getattr(dbapi_connection, "driver_connection", None)
    except Exception:
        driver = None
    for con in (dbapi_connection, driver) if driver is not None else (dbapi_connection,):
        info = getattr(con, "info", None)
        for key in ("host", "hostaddr") if info is not None else ():
            try:
                value = getattr(info, key, None)
            except Exception:  # a closed connection, a driver without it: the URL stands
                value = None
            if isinstance(value, str) and value:
                found.append((key, value))
        addr = getattr(con, "_addr", None)  # asyncpg: the (host, port) it connected to
        if isinstance(addr, tuple) and addr and isinstance(addr[0], str) and addr[0]:
            found.append(("host", addr[0]))  # a Unix socket's path is a str: this machine
    return found


@functools.lru_cache(maxsize=64)
def _named_host(url: str) -> str:
    """The host ``url`` names, lower case (parsed once per URL: every governed statement
    asks); "" when it is not SQLAlchemy's URL form (every connected host is added then)."""
    try:
        return (make_url(url).host or "").lower()
    except Exception:
        return ""


def _from_lacuna() -> bool:
    """Whether Lacuna itself sent the statement: its first caller outside SQLAlchemy is a
    function of one of Lacuna's own modules (:func:`lacuna.integrations.callers.of_package`).
    It used to be any frame whose globals said ``__name__ = "lacuna.…"``, as a user's package
    named ``lacuna`` (``lacuna.etl``) or ``exec(code, {"__name__": "lacuna.x"})`` says too:
    its statements went ungoverned. SQLAlchemy's frames are stepped over by their module's
    name, which its generated functions (``langhelpers.decorator``) carry without a file of
    their own: a frame that only claims it hands the judgment to its caller."""
    frame: FrameType | None = sys._getframe(3)  # past _handle and the listener
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name != "sqlalchemy" and not name.startswith("sqlalchemy."):
            return of_package(frame, "lacuna")
        frame = frame.f_back
    return False


__all__ = ["Expected", "expecting", "install", "last_read", "mark", "remember", "uninstall",
           "unmark"]
