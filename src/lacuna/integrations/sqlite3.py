"""The standard library's ``sqlite3`` connections under the SQL governance.

``sqlite3.Connection`` and ``sqlite3.Cursor`` are C types whose methods cannot be replaced, so
while ``lacuna.enable()`` is on (or a ``governed()`` block is open) ``sqlite3.connect`` (the
module's attribute) opens a *governed* connection: an instance of a subclass of
``sqlite3.Connection`` (of the caller's own ``factory=`` class, when it passes one) whose
``execute``/``executemany``/``executescript`` run on a governed cursor, and whose ``cursor()``
returns one (a subclass of ``sqlite3.Cursor``, or of the caller's cursor factory class). A
governed cursor decides each statement before it runs, through
:func:`lacuna.sql.govern.run_governed` on the connection (:func:`lacuna.sql.catalog
.sqlite_database`), exactly as a statement sent through a governed SQLAlchemy engine is:
reads, writes (``CREATE TABLE o.t AS …`` into an ``ATTACH``ed file is decided for that file),
``VACUUM INTO``, triggers, statements Lacuna cannot read (fail closed). ``backup()`` copies the
whole database to another connection's file: decided as ``VACUUM INTO`` that file.

``executescript(script)`` is split into its statements (:func:`statements`, with SQLite's own
``sqlite3.complete_statement``); each is decided just before it runs, in order, so a statement
may use a table an earlier one created. sqlite3's semantics are kept: a pending transaction is
committed first (legacy transaction control), then the statements run as written (no implicit
``BEGIN``). A denial stops the script there: the statements before it ran (the
``GovernanceViolation`` carries a note saying which); none after it run.

Not governed, as elsewhere: a statement Lacuna sends itself or runs for a call its pandas
integration already decides (``pd.read_sql``, ``df.to_sql``: under :mod:`lacuna._bypass`), and a
statement SQLAlchemy sends (the SQL hook, :mod:`lacuna.sql.hook`, decides it). ``sqlite3
.dbapi2.connect`` (the same function) is replaced too. A connection Lacuna's own engines open
is a plain one; one a user's SQLAlchemy engine opens is governed (SQLAlchemy's statements
pass, those sent on its raw connection are decided: :func:`_lacunas_connection`); one to
Lacuna's own databases (the audit trail and state: :func:`lacunas_own`) decides none of its
statements, and in enforce mode attaches no other database file (:func:`_no_attach`: its data
would move undecided).

A governed connection checks on each call whether governance is on in this context: after
``lacuna.disable()`` (or outside the ``governed()`` block) it behaves as a plain one.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from lacuna import _bypass
from lacuna.errors import GovernanceViolation, IntegrationError
from lacuna.integrations import callers
from lacuna.integrations.frames.hooks import Hook, Hooks
from lacuna.integrations.pandas._patch import guard, users_error
from lacuna.model import Action

# connect(database, timeout, detect_types, isolation_level, check_same_thread, factory, …)
_FACTORY = 5
_HERE = __name__
_SKIP = callers.among((_HERE, callers.GUARD))  # this module and the guard around it
_classes: dict[tuple[str, type], type] = {}
_classes_lock = threading.Lock()


def _gov() -> Any:
    from lacuna.governor import current

    return current()


def _others_call() -> bool:
    """Whether the statement comes from Lacuna itself or from SQLAlchemy (whose statements the
    SQL hook decides): the first caller outside this module and the guard."""
    return callers.decided_elsewhere(callers.first_caller(_SKIP))


def _lacunas_connection() -> bool:
    """Whether Lacuna opens the connection: the first caller outside this module and outside
    SQLAlchemy (a connection Lacuna's own engines open). One a user's engine opens (its pool,
    its ``creator=``) is governed: SQLAlchemy's own statements on it pass (:func:`_others_call`;
    the SQL hook decides them), the user's on its raw connection (``engine.raw_connection()``)
    are decided."""
    return callers.opened_by_lacuna(_SKIP)


# What SQLite reads as one token in which a ``;`` ends nothing: a string, a quoted identifier
# ("…", `…`, […]) and a comment, each to its end or to the script's end when unterminated. A
# ``;`` outside them is a cut to confirm with ``sqlite3.complete_statement``.
_QUOTED_OR_CUT = re.compile(
    r"'[^']*(?:''[^']*)*'?"
    r'|"[^"]*(?:""[^"]*)*"?'
    r"|`[^`]*(?:``[^`]*)*`?"
    r"|\[[^\]]*\]?"
    r"|--[^\n]*"
    r"|/\*.*?(?:\*/|\Z)"
    r"|;",
    re.DOTALL)


def statements(script: str) -> list[str]:
    """``script`` cut into its statements, as SQLite reads them: at each ``;`` that ends a
    complete statement (``sqlite3.complete_statement``: not one inside a string, a comment or a
    trigger's ``BEGIN … END``). What follows the last one (a statement without its ``;``) is
    the last statement; pieces that hold only comments and blanks are left out.

    The ``;`` inside strings, quoted names and comments are skipped in one pass before any is
    confirmed: confirming each ``;`` of a string holding 100,000 of them re-read a growing
    slice every time (4 s for one statement, before any decision)."""
    found: list[str] = []
    start = 0
    for match in _QUOTED_OR_CUT.finditer(script):
        if match.group() != ";":
            continue
        at = match.end()
        if sqlite3.complete_statement(script[start:at]):
            found.append(script[start:at])
            start = at
    found.append(script[start:])
    return [s for s in found if not _empty(s)]


def _empty(piece: str) -> bool:
    """Whether ``piece`` holds nothing SQLite would run (blanks, comments, ``;``)."""
    import sqlglot
    from sqlglot.tokenizer_core import TokenType

    if not piece.strip(" \t\r\n;"):
        return True
    try:
        tokens = sqlglot.tokenize(piece, read="sqlite")
    except Exception:  # Lacuna cannot read it: a statement, decided (fail closed)
        return False
    return all(t.token_type == TokenType.SEMICOLON for t in tokens)


def _decide(con: Any, sql: str, parameters: Any, run: Callable[[], Any], *,
            many: bool = False) -> Any:
    from lacuna.sql import hook, require_analysis
    from lacuna.sql.catalog import sqlite_database

    require_analysis()  # or ComponentImportError, saying what to install: nothing runs
    from lacuna.sql.govern import run_governed

    gov = _gov()
    with _bypass.bypass():  # the catalog look-ups run on this connection: not governed again
        result, read = run_governed(gov, sqlite_database(con), sql, parameters, run, many=many)
    if read is not None:  # lacuna.sql.classification(): the last governed query's
        hook.remember(read)
    return result


def _execute(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute(self: Any, sql: Any, parameters: Any = (), /) -> Any:
        if not isinstance(sql, str) or _others_call():
            return original(self, sql, parameters)
        return _decide(self.connection, sql, parameters, lambda: original(self, sql, parameters))

    return execute


def _executemany(original: Callable[..., Any]) -> Callable[..., Any]:
    def executemany(self: Any, sql: Any, seq_of_parameters: Any, /) -> Any:
        if not isinstance(sql, str) or _others_call():
            return original(self, sql, seq_of_parameters)
        # an iterator is read once: the sets Lacuna samples are the sets that run
        sets = seq_of_parameters if isinstance(seq_of_parameters, (list, tuple)) else list(
            seq_of_parameters)
        return _decide(self.connection, sql, sets, lambda: original(self, sql, sets), many=True)

    return executemany


def _executescript(original: Callable[..., Any]) -> Callable[..., Any]:
    def executescript(self: Any, script: Any, /) -> Any:
        if not isinstance(script, str) or _others_call():
            return original(self, script)
        from lacuna.sql import require_analysis

        require_analysis()  # the script is cut with sqlglot's tokenizer: none of it runs
        con = self.connection
        pieces = statements(script)
        ran: list[str] = []

        def run(piece: str) -> Any:
            try:
                if not ran and _legacy(con) and con.in_transaction:
                    con.commit()  # sqlite3 commits a pending transaction first
                if con.in_transaction:  # one the script opened: run inside it, as written
                    result = sqlite3.Cursor.execute(self, piece)
                else:  # as executescript runs it: no implicit BEGIN
                    result = original(self, piece)
            except BaseException as exc:
                users_error(exc)  # the database's answer to the user's statement
                raise
            ran.append(piece)
            return result

        if not pieces and _legacy(con) and con.in_transaction:
            con.commit()
        for i, piece in enumerate(pieces):
            try:
                _decide(con, piece, None, functools.partial(run, piece))
            except GovernanceViolation as exc:
                exc.add_note(_what_ran(i, len(pieces), piece))
                raise
            except Exception as exc:
                if not ran or _raised_by_sqlite(exc):
                    raise  # before anything ran: the guard decides (enforce denies)
                _gov().internal_error(exc, action=Action.EXPORT,
                                      method="sqlite3.Cursor.executescript", ran=True)
                for rest in pieces[len(ran):]:  # warn/observe: the rest, ungoverned
                    run(rest)
                break
        return self

    return executescript


def _raised_by_sqlite(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error)


def _what_ran(i: int, total: int, piece: str) -> str:
    text = " ".join(piece.split())
    if i == 0:
        return (f"executescript: statement 1 of {total} ({text[:80]}) was refused; nothing "
                "in the script ran.")
    return (f"executescript: statement {i + 1} of {total} ({text[:80]}) was refused; the "
            f"{i} statement(s) before it ran (and committed, unless the script opened a "
            "transaction it has not closed); none after it ran.")


def _legacy(con: Any) -> bool:
    """Whether the connection uses sqlite3's legacy transaction control (the only one before
    Python 3.12), in which ``executescript`` commits a pending transaction first."""
    legacy = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)
    return getattr(con, "autocommit", legacy) == legacy


def _governed_cursor_class(base: type) -> type:
    """A subclass of ``base`` (``sqlite3.Cursor`` or a subclass) that governs its statements."""
    with _classes_lock:
        found = _classes.get(("cursor", base))
        if found is None:
            names = {"execute": _execute, "executemany": _executemany,
                     "executescript": _executescript}
            body = {name: guard(make, getattr(base, name), action=Action.EXPORT,
                                method=f"sqlite3.Cursor.{name}")
                    for name, make in names.items()}
            found = type(f"Governed{base.__name__}", (base,), {
                **body, "__module__": _HERE, "__doc__": (
                    f"A {base.__name__} whose statements Lacuna decides before they run "
                    "(lacuna.integrations.sqlite3).")})
            _classes[("cursor", base)] = found
        return found


def _cursor(original: Callable[..., Any], make: Callable[[type], type] | None = None
            ) -> Callable[..., Any]:
    def cursor(self: Any, factory: Any = sqlite3.Cursor) -> Any:
        if not (isinstance(factory, type) and issubclass(factory, sqlite3.Cursor)):
            if not governing_here():  # not governed now: sqlite3 takes (or refuses) it
                return original(self, factory)
            msg = (f"sqlite3: Lacuna governs cursors that are sqlite3.Cursor subclasses, not the "
                   f"factory {factory!r}: its statements would run undecided. Pass a "
                   "sqlite3.Cursor subclass (or no factory) to cursor().")
            raise IntegrationError(msg)
        return original(self, (make or _governed_cursor_class)(factory))

    return cursor


def _via_cursor(name: str) -> Callable[..., Any]:
    """A connection's ``execute``/``executemany``/``executescript``: on a new governed cursor
    (what sqlite3 documents them to do), so the cursor they return stays governed."""

    def method(self: Any, *args: Any) -> Any:
        return getattr(self.cursor(), name)(*args)

    method.__name__ = name
    return method


def _backup(original: Callable[..., Any]) -> Callable[..., Any]:
    """``con.backup(target)``: the whole database (``name=``, ``main`` by default) copied into
    ``target``'s database, decided as ``VACUUM … INTO`` its file (an export of every table)."""

    def backup(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        from lacuna.sql.catalog import literal, quote

        if not governing_here():
            return original(self, target, *args, **kwargs)
        with _bypass.bypass():
            cursor = sqlite3.Connection.cursor(target)
            try:
                cursor.row_factory = None  # by position, whatever the target's row factory
                rows = cursor.execute("PRAGMA database_list").fetchall()
            finally:
                cursor.close()
        file = next((r[2] for r in rows if r[1] == "main"), "") or ":memory:"
        schema = kwargs.get("name", "main")
        sql = f"VACUUM {quote(str(schema))} INTO {literal(file)}"
        return _decide(self, sql, None, lambda: original(self, target, *args, **kwargs))

    return backup


def governing_here() -> bool:
    """Whether a governed connection governs the call being made now: governance is on in
    this context, Lacuna is not calling, and neither is SQLAlchemy."""
    from lacuna.governor import governing

    return governing() and not _bypass.active() and not _others_call()


def _governed_connection_class(base: type) -> type:
    """A subclass of ``base`` (``sqlite3.Connection`` or a subclass) whose cursors are
    governed (:func:`_governed_cursor_class`)."""
    with _classes_lock:
        found = _classes.get(("connection", base))
        if found is None:
            body: dict[str, Any] = {name: _via_cursor(name) for name in (
                "execute", "executemany", "executescript")}
            plain: Any = base  # a sqlite3.Connection subclass (mypy sees a type)
            body["cursor"] = _cursor(plain.cursor)
            body["backup"] = guard(_backup, plain.backup, action=Action.EXPORT,
                                   method="sqlite3.Connection.backup")
            found = type(f"Governed{base.__name__}", (base,), {
                **body, "__module__": _HERE, "__doc__": (
                    f"A {base.__name__} whose statements Lacuna decides before they run "
                    "(lacuna.integrations.sqlite3).")})
            _classes[("connection", base)] = found
        return found


_ATTACH_REFUSED = threading.local()  # set by _no_attach when it refused an ATTACH: explained


def _no_attach(action: int, *_: Any) -> int:
    """The authorizer of a connection to Lacuna's own database (:func:`lacunas_own`): in enforce
    mode no other database is attached to it (``ATTACH``, and ``VACUUM INTO``, which attaches
    its file): its statements are not decided, so another file's data would move undecided."""
    if action != sqlite3.SQLITE_ATTACH or not governing_here() or _gov().config.mode != "enforce":
        return int(sqlite3.SQLITE_OK)
    _ATTACH_REFUSED.refused = True
    return int(sqlite3.SQLITE_DENY)


_OWN_REFUSED = ("sqlite3: a connection to Lacuna's own database (the audit trail or state, "
                "whose statements are not decided) cannot attach another database file or "
                "VACUUM INTO one while Lacuna governs: the data would move undecided. Attach "
                "the file to a connection to your own database instead.")


def _explained(original: Callable[..., Any]) -> Callable[..., Any]:
    """A method of a connection to Lacuna's own database (or of its cursor) whose refused
    ``ATTACH`` (SQLite's bare "not authorized") is explained (:data:`_OWN_REFUSED`)."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        _ATTACH_REFUSED.refused = False
        try:
            return original(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if getattr(_ATTACH_REFUSED, "refused", False):
                raise IntegrationError(_OWN_REFUSED) from exc
            raise

    method.__name__ = original.__name__
    return method


def _set_authorizer(original: Callable[..., Any]) -> Callable[..., Any]:
    def set_authorizer(self: Any, authorizer_callback: Any) -> Any:
        if governing_here():
            msg = ("sqlite3: a connection to Lacuna's own database keeps Lacuna's authorizer "
                   "(it refuses attaching other database files) while Lacuna governs.")
            raise IntegrationError(msg)
        return original(self, authorizer_callback)

    return set_authorizer


def _own_class(kind: str, base: type) -> type:
    """A subclass of ``base`` (a ``sqlite3.Connection`` or ``sqlite3.Cursor`` class) for a
    connection to Lacuna's own database: plain statements, whose refused ``ATTACH`` is
    explained; the connection keeps :func:`_no_attach` as its authorizer."""
    with _classes_lock:
        found = _classes.get((f"own {kind}", base))
        if found is None:
            plain: Any = base
            body: dict[str, Any] = {name: _explained(getattr(plain, name)) if kind == "cursor"
                                    else _via_cursor(name) for name in (
                                        "execute", "executemany", "executescript")}
            if kind == "connection":
                body["cursor"] = _cursor(plain.cursor, functools.partial(_own_class, "cursor"))
                body["set_authorizer"] = _set_authorizer(plain.set_authorizer)
            found = type(f"Lacunas{base.__name__}", (base,), {
                **body, "__module__": _HERE, "__doc__": (
                    f"A {base.__name__} on Lacuna's own database (lacuna.integrations.sqlite3).")})
            _classes[(f"own {kind}", base)] = found
        return found


def is_governed(con: Any) -> bool:
    """Whether ``con`` is a connection whose statements Lacuna governs (one opened by
    ``sqlite3.connect`` while governance was on)."""
    with _classes_lock:  # another thread may be adding a class
        known = list(_classes.items())
    return any(kind == "connection" and type(con) is cls for (kind, _), cls in known)


def lacunas_own(database: Any, *, uri: bool = False) -> bool:
    """Whether ``database`` (what ``sqlite3.connect`` is given) is one of Lacuna's own SQLite
    databases: the audit trail's (``audit.url``) or another state database a ``url`` of the
    configuration names. Those are Lacuna's state, not data it governs: a connection to them
    decides none of its statements (but attaches no other file: :func:`_no_attach`)."""
    import os
    from pathlib import Path
    from urllib.parse import urlparse

    from lacuna.governor import current

    try:
        path = os.fsdecode(os.fspath(database))
    except TypeError:
        return False
    if uri and path.startswith("file:"):
        path = urlparse(path).path
    if path in ("", ":memory:"):
        return False
    config = current().config
    urls = {config.audit_url, *_urls(config.model_dump())}
    target = Path(path).expanduser().resolve()
    return any(Path(u.removeprefix("sqlite:///").split("?")[0]).expanduser().resolve() == target
               for u in urls if u.startswith("sqlite:///") and u != "sqlite:///")


def _urls(settings: Any) -> list[str]:
    """Every ``url`` setting in the configuration (as ``model_dump`` gives it)."""
    if isinstance(settings, dict):
        found = [v for k, v in settings.items() if k == "url" and isinstance(v, str)]
        return found + [u for v in settings.values() for u in _urls(v)]
    if isinstance(settings, list):
        return [u for v in settings for u in _urls(v)]
    return []


def _connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(*args: Any, **kwargs: Any) -> Any:
        if _lacunas_connection():
            return original(*args, **kwargs)
        database = args[0] if args else kwargs.get("database")
        uri = bool(args[7] if len(args) > 7 else kwargs.get("uri", False))
        own = lacunas_own(database, uri=uri)  # Lacuna's state: its statements are not decided
        if not own:  # a database file in sealed governed storage would lie there in plaintext
            _refuse_governed_file(database, uri=uri)
        positional = len(args) > _FACTORY
        factory = args[_FACTORY] if positional else kwargs.get("factory", sqlite3.Connection)
        if not (isinstance(factory, type) and issubclass(factory, sqlite3.Connection)):
            msg = (f"sqlite3.connect(factory={factory!r}): Lacuna governs connections whose "
                   "factory is a sqlite3.Connection subclass; this one's statements would run "
                   "undecided. Pass a subclass of sqlite3.Connection (or no factory).")
            raise IntegrationError(msg)
        governed_class = (_own_class("connection", factory) if own
                          else _governed_connection_class(factory))
        if positional:
            args = (*args[:_FACTORY], governed_class, *args[_FACTORY + 1:])
        else:
            kwargs = {**kwargs, "factory": governed_class}
        con = original(*args, **kwargs)
        if own:  # but no other file's data is brought in (ATTACH, VACUUM INTO)
            sqlite3.Connection.set_authorizer(con, _no_attach)
        return con

    return connect


def _refuse_governed_file(database: Any, *, uri: bool) -> None:
    """Refuse a connection that may write a database file under a sealed governed root
    (:func:`lacuna.storage.frames.refuse_database`); a read-only one (``file:…?mode=ro``,
    ``uri=True``) reads what is there and is not refused.

    Raises:
        StorageError: the file is under a sealed governed root.
    """
    import os
    from urllib.parse import parse_qs, unquote, urlsplit

    from lacuna.storage.frames import refuse_database

    try:
        path = os.fsdecode(os.fspath(database))
    except TypeError:
        return
    if uri and path.startswith("file:"):
        parts = urlsplit(path)
        if parse_qs(parts.query).get("mode", [""])[-1] in ("ro", "memory"):
            return
        path = unquote(parts.path)
    refuse_database("sqlite3.connect", path)  # a StorageError passes the guard in every mode


def _hooks() -> list[Hook]:
    # sqlite3.connect is sqlite3.dbapi2.connect: both spellings (SQLAlchemy's pysqlite dialect
    # calls the second)
    return [Hook(module, "connect", _connect, Action.READ, "sqlite3.connect")
            for module in (sqlite3, sqlite3.dbapi2)]


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)

__all__ = ["governing_here", "hold", "install", "installed", "is_governed", "lacunas_own",
           "release", "statements", "uninstall"]
