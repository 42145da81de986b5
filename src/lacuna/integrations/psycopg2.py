"""psycopg2 used directly, under the SQL governance.

psycopg2's ``connection`` and ``cursor`` are C types whose methods cannot be replaced, so (as
for :mod:`lacuna.integrations.sqlite3`) while ``lacuna.enable()`` is on (or a ``governed()``
block is open) ``psycopg2.connect`` opens a *governed* connection: an instance of a subclass of
its ``connection_factory`` (``psycopg2.extensions.connection`` by default, or the caller's own
class: ``psycopg2.extras.DictConnection``, a ``LoggingConnection`` …) whose ``cursor()``
returns an instance of a governed subclass of the cursor factory asked for (the default
cursor, ``RealDictCursor``, ``NamedTupleCursor``, ``DictCursor``, the caller's own; a named,
server-side ``cursor(name=…)`` too). A governed cursor decides each statement before it runs,
through :func:`lacuna.sql.govern.run_governed` on the cursor's connection, as a statement sent
through a governed SQLAlchemy engine on PostgreSQL is (functions whose bodies write, triggers,
event triggers, ``COPY … TO``, statements Lacuna cannot read: fail closed):

- ``execute``/``executemany``/``callproc`` (decided as ``SELECT * FROM proc(…)``, what
  psycopg2 sends);
- ``copy_expert(sql, file)``: ``COPY … TO STDOUT`` into a file object that has a path (an open
  file: :func:`lacuna.integrations.pandas._frames.file_path`) is an export to that file,
  decided as ``COPY … TO 'that path'``; into an in-memory buffer (``io.StringIO``) it is a read
  by the client, as psycopg's ``cursor.copy`` is; ``COPY … FROM STDIN`` is a write into the
  table (of data Lacuna does not read: PROPRIETARY, fail closed);
- ``copy_to(file, table)``: ``COPY (SELECT … FROM table) TO …`` the same way;
  ``copy_from(file, table)``: ``COPY table FROM STDIN``;
- ``psycopg2.extras.execute_values`` sends one ``INSERT … VALUES (…), (…)`` per page through
  ``cursor.execute`` (decided with its values); ``psycopg2.extras.execute_batch`` sends a page
  of statements joined by ``;``, decided as ``executemany`` of its statement with the page's
  parameters (:func:`_batch_page`).

The database is named as a SQLAlchemy engine on it would be:
``postgresql+psycopg2://user@host:port/dbname`` (no password), so
``classification_aware_databases`` and the stored classifications (table comments) are shared.

Not governed here: a statement Lacuna sends itself, or that SQLAlchemy sends (its psycopg2
dialect opens a governed connection, but runs its own statements on it: the SQL hook,
:mod:`lacuna.sql.hook`, decides those; statements sent on its raw connection are decided
here), statements run for a call the pandas integration already decides (under
:mod:`lacuna._bypass`), and a connection opened before ``enable()`` or without
``psycopg2.connect`` (``psycopg2.extensions.connection(dsn)`` called directly, psycopg2's
private ``_connect``): its class is psycopg2's own, which cannot be changed. Nor large objects
(``conn.lobject``), which hold bytes, not tables. An asynchronous connection
(``psycopg2.connect(async_=True)``) is refused while Lacuna governs: its statements could not be
decided before they run.

A governed connection checks on each call whether governance is on in this context: after
``lacuna.disable()`` (or outside the ``governed()`` block) it behaves as a plain one.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from lacuna import _bypass
from lacuna.errors import IntegrationError
from lacuna.integrations import callers
from lacuna.integrations.frames.hooks import Hook, Hooks
from lacuna.integrations.pandas._patch import guard
from lacuna.model import Action

_HERE = __name__
_SKIPPED = (_HERE, callers.GUARD)  # this module and the guard around it
_SKIP = callers.among(_SKIPPED, packages=("psycopg2",))  # and psycopg2's (execute_batch, …)
_BATCH = psycopg2.extras.execute_batch.__code__  # its frame holds the page it sends
_classes: dict[tuple[str, type], type] = {}
_classes_lock = threading.Lock()


def _others_call() -> bool:
    """Whether Lacuna or SQLAlchemy (whose statements the SQL hook decides) made the call: the
    first caller outside this module, the guard and psycopg2 itself (``execute_batch``,
    ``NamedTupleCursor.execute`` calling the C method)."""
    return callers.decided_elsewhere(callers.first_caller(_SKIP))


def _lacunas_connection() -> bool:
    """Whether Lacuna opens the connection: a plain one (:func:`callers.opened_by_lacuna`)."""
    return callers.opened_by_lacuna(_SKIP)


def governing_here() -> bool:
    """Whether a governed connection governs the call being made now."""
    from lacuna.governor import governing

    return governing() and not _bypass.active() and not _others_call()


def url_of(con: Any) -> str:
    """``postgresql+psycopg2://user@host:port/dbname`` of a psycopg2 connection (as a
    SQLAlchemy engine on the same database is named, without its password)."""
    from lacuna.sql.catalog import psycopg2_database

    return psycopg2_database(con).url


def _text(cur: Any, query: Any) -> str:
    """The SQL text of ``query`` as psycopg2 sends it: a string, bytes (``execute_values``
    sends bytes), or a composed ``psycopg2.sql`` object."""
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        codec = psycopg2.extensions.encodings.get(cur.connection.encoding, "utf-8")
        return query.decode(codec)
    if hasattr(query, "as_string"):
        return str(query.as_string(cur))
    msg = (
        f"psycopg2: Lacuna cannot read a {type(query).__name__} query to decide it (it reads "
        "str, bytes and psycopg2.sql objects); nothing was run. Pass the SQL as a string."
    )
    raise IntegrationError(msg)


def _decide(cur: Any, sql: str, params: Any, run: Callable[[], Any], *, many: bool = False) -> Any:
    from lacuna.governor import current
    from lacuna.sql import hook, require_analysis
    from lacuna.sql.catalog import psycopg2_database

    require_analysis()  # or ComponentImportError, saying what to install: nothing runs
    from lacuna.sql.govern import run_governed

    db = psycopg2_database(cur.connection)  # plain tuple cursors for the look-ups
    with _bypass.bypass():  # the catalog look-ups run on this connection: not governed again
        result, read = run_governed(current(), db, sql, params, run, many=many)
    if read is not None:  # lacuna.sql.classification(): the last governed query's
        hook.remember(read)
    return result


def _batch_page(frame: Any) -> tuple[Any, list[Any]] | None:
    """The statement and the page of parameter sets ``psycopg2.extras.execute_batch`` sends
    as one ``;``-joined text from ``frame``, or None when the call is not from it."""
    while frame is not None and frame.f_globals.get("__name__") in _SKIPPED:
        frame = frame.f_back
    if frame is None or frame.f_code is not _BATCH:
        return None
    found = frame.f_locals
    if "sql" not in found or not isinstance(found.get("page"), list):  # pragma: no cover
        return None
    return found["sql"], found["page"]


def _execute(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute(self: Any, query: Any, vars: Any = None) -> Any:
        if _others_call():
            return original(self, query, vars)
        batch = _batch_page(sys._getframe(1))
        if batch is not None:  # a page of execute_batch: its statement, many parameter sets
            sql, page = batch
            return _decide(
                self, _text(self, sql), page, lambda: original(self, query, vars), many=True
            )
        return _decide(self, _text(self, query), vars, lambda: original(self, query, vars))

    return execute


def _executemany(original: Callable[..., Any]) -> Callable[..., Any]:
    def executemany(self: Any, query: Any, vars_list: Any) -> Any:
        if _others_call():
            return original(self, query, vars_list)
        # an iterator is read once: the sets Lacuna samples are the sets that run
        sets = vars_list if isinstance(vars_list, (list, tuple)) else list(vars_list)
        return _decide(
            self, _text(self, query), sets, lambda: original(self, query, sets), many=True
        )

    return executemany


def _callproc(original: Callable[..., Any]) -> Callable[..., Any]:
    """``callproc(name, parameters)``: decided as what psycopg2 sends, ``SELECT * FROM
    name(…)`` (named parameters as ``"key" := …``)."""

    def callproc(self: Any, procname: Any, parameters: Any = None) -> Any:
        if _others_call():
            return original(self, procname, parameters)
        if isinstance(parameters, dict):
            quote = psycopg2.extensions.quote_ident
            args = ", ".join(f"{quote(str(k), self)} := %({k})s" for k in parameters)
        else:
            args = ", ".join(["%s"] * len(parameters or ()))
        sql = f"SELECT * FROM {procname}({args})"
        return _decide(self, sql, parameters, lambda: original(self, procname, parameters))

    return callproc


def _to_file(sql: str, file: Any, method: str) -> str:
    """``COPY … TO STDOUT`` into ``file``: ``COPY … TO 'its path'`` when it is a file with a
    path (an export to that file; :func:`lacuna.sql.govern.copy_into_file`), else ``sql``
    (the client reads the rows into an in-memory buffer)."""
    from lacuna.integrations.pandas._frames import file_path
    from lacuna.sql import require_analysis

    require_analysis()  # or ComponentImportError, saying what to install: nothing runs
    from lacuna.sql.govern import copy_into_file

    path = file_path(file)
    if path is None:
        return sql
    return copy_into_file(sql, path, method, "rows psycopg2 copies into an open file")


def _copy_expert(original: Callable[..., Any]) -> Callable[..., Any]:
    def copy_expert(self: Any, sql: Any, file: Any, *args: Any, **kwargs: Any) -> Any:
        if _others_call():
            return original(self, sql, file, *args, **kwargs)
        decided = _to_file(_text(self, sql), file, "psycopg2.cursor.copy_expert")
        return _decide(self, decided, None, lambda: original(self, sql, file, *args, **kwargs))

    return copy_expert


def _columns(cur: Any, columns: Any) -> list[str]:
    quote = psycopg2.extensions.quote_ident
    return [quote(str(c), cur) for c in columns or ()]


def _copy_to(original: Callable[..., Any]) -> Callable[..., Any]:
    """``copy_to(file, table, sep, null, columns)``: the table's rows (psycopg2 quotes the
    names) to ``file``."""

    def copy_to(self: Any, file: Any, table: Any, *args: Any, **kwargs: Any) -> Any:
        if _others_call():
            return original(self, file, table, *args, **kwargs)
        columns = _columns(self, kwargs.get("columns", args[2] if len(args) > 2 else None))
        name = psycopg2.extensions.quote_ident(str(table), self)
        sql = f"COPY (SELECT {', '.join(columns) or '*'} FROM {name}) TO STDOUT"
        return _decide(
            self,
            _to_file(sql, file, "psycopg2.cursor.copy_to"),
            None,
            lambda: original(self, file, table, *args, **kwargs),
        )

    return copy_to


def _copy_from(original: Callable[..., Any]) -> Callable[..., Any]:
    """``copy_from(file, table, sep, null, size, columns)``: ``file``'s rows into the table."""

    def copy_from(self: Any, file: Any, table: Any, *args: Any, **kwargs: Any) -> Any:
        if _others_call():
            return original(self, file, table, *args, **kwargs)
        columns = _columns(self, kwargs.get("columns", args[3] if len(args) > 3 else None))
        name = psycopg2.extensions.quote_ident(str(table), self)
        listed = f" ({', '.join(columns)})" if columns else ""
        return _decide(
            self,
            f"COPY {name}{listed} FROM STDIN",
            None,
            lambda: original(self, file, table, *args, **kwargs),
        )

    return copy_from


_CURSOR_METHODS = {
    "execute": _execute,
    "executemany": _executemany,
    "callproc": _callproc,
    "copy_expert": _copy_expert,
    "copy_to": _copy_to,
    "copy_from": _copy_from,
}


def _governed_cursor_class(base: type) -> type:
    """A subclass of ``base`` (``psycopg2.extensions.cursor`` or a subclass) that decides its
    statements."""
    with _classes_lock:
        found = _classes.get(("cursor", base))
        if found is None:
            body = {
                name: guard(
                    make,
                    getattr(base, name),
                    action=Action.EXPORT,
                    method=f"psycopg2.cursor.{name}",
                )
                for name, make in _CURSOR_METHODS.items()
            }
            found = type(
                f"Governed{base.__name__}",
                (base,),
                {
                    **body,
                    "__module__": _HERE,
                    "__doc__": (
                        f"A {base.__name__} whose statements Lacuna decides before they run "
                        "(lacuna.integrations.psycopg2)."
                    ),
                },
            )
            _classes[("cursor", base)] = found
        return found


class _GovernedCursors(psycopg2.extensions.connection):  # type: ignore[misc]
    """Placed just above ``psycopg2.extensions.connection`` in a governed connection's classes,
    so a ``cursor()`` the caller's class defines (``DictConnection`` picks ``DictCursor``)
    still gets the cursor factory it chose, governed."""

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        # cursor(name=None, cursor_factory=None, withhold=False, scrollable=None)
        positional = len(args) > 1
        factory = args[1] if positional else kwargs.get("cursor_factory")
        if factory is None:
            factory = self.cursor_factory or psycopg2.extensions.cursor
        plain = psycopg2.extensions.connection.cursor
        if not (isinstance(factory, type) and issubclass(factory, psycopg2.extensions.cursor)):
            if not governing_here():  # not governed now: psycopg2 takes (or refuses) it
                return plain(self, *args, **kwargs)
            msg = (
                f"psycopg2: Lacuna governs cursors whose factory is a psycopg2.extensions"
                f".cursor subclass, not {factory!r}: its statements would run undecided. "
                "Pass a cursor subclass (or no cursor_factory) to cursor()."
            )
            raise IntegrationError(msg)
        governed = _governed_cursor_class(factory)
        if positional:
            args = (args[0], governed, *args[2:])
        else:
            kwargs = {**kwargs, "cursor_factory": governed}
        return plain(self, *args, **kwargs)


def _governed_connection_class(base: type) -> type:
    """A subclass of ``base`` (``psycopg2.extensions.connection`` or a subclass) whose cursors
    are governed (:func:`_governed_cursor_class`)."""
    with _classes_lock:
        found = _classes.get(("connection", base))
        if found is None:
            bases = (
                (_GovernedCursors,)
                if base is psycopg2.extensions.connection
                else (base, _GovernedCursors)
            )
            found = type(
                f"Governed{base.__name__}",
                bases,
                {
                    "__module__": _HERE,
                    "__doc__": (
                        f"A {base.__name__} whose cursors' statements Lacuna decides before they "
                        "run (lacuna.integrations.psycopg2)."
                    ),
                },
            )
            _classes[("connection", base)] = found
        return found


def is_governed(con: Any) -> bool:
    """Whether ``con`` is a connection whose statements Lacuna governs (one opened by
    ``psycopg2.connect`` while governance was on)."""
    return isinstance(con, _GovernedCursors)


def _connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(
        dsn: Any = None, connection_factory: Any = None, cursor_factory: Any = None, **kwargs: Any
    ) -> Any:
        if _lacunas_connection():
            return original(dsn, connection_factory, cursor_factory, **kwargs)
        if kwargs.get("async") or kwargs.get("async_"):
            msg = (
                "psycopg2.connect(async_=True): Lacuna cannot decide the statements of an "
                "asynchronous psycopg2 connection before they run, so it is not opened "
                "while Lacuna governs. Use a synchronous connection, or psycopg 3's "
                "AsyncConnection (governed)."
            )
            raise IntegrationError(msg)
        factory = connection_factory or psycopg2.extensions.connection
        if not (isinstance(factory, type) and issubclass(factory, psycopg2.extensions.connection)):
            msg = (
                f"psycopg2.connect(connection_factory={factory!r}): Lacuna governs "
                "connections whose factory is a psycopg2.extensions.connection subclass; "
                "this one's statements would run undecided. Pass a subclass of "
                "psycopg2.extensions.connection (or no connection_factory)."
            )
            raise IntegrationError(msg)
        if not issubclass(factory, _GovernedCursors):  # type(con) of a governed one: as is
            factory = _governed_connection_class(factory)
        return original(dsn, factory, cursor_factory, **kwargs)

    return connect


def _hooks() -> list[Hook]:
    return [Hook(psycopg2, "connect", _connect, Action.READ, "psycopg2.connect")]


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install,
    _HOOKS.uninstall,
    _HOOKS.hold,
    _HOOKS.release,
    _HOOKS.installed,
)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)

__all__ = [
    "governing_here",
    "hold",
    "install",
    "installed",
    "is_governed",
    "release",
    "uninstall",
    "url_of",
]
