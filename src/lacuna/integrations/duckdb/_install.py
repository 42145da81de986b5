"""The hooks on DuckDB's Python API: which functions and methods are governed, and how."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import duckdb
from sqlglot import exp

from lacuna import _bypass
from lacuna.integrations.duckdb import computed
from lacuna.integrations.duckdb._base import (
    MAPPED,
    MEMORY,
    PENDING,
    REGISTERED,
    Make,
    _gov,
    _located,
    _refuse,
    url_of,
)
from lacuna.integrations.duckdb._converters import _converter, _created, _fetcher, _users_own_errors
from lacuna.integrations.duckdb._derived import _tracked, derived_state
from lacuna.integrations.duckdb._files import _spread_sample
from lacuna.integrations.duckdb._relations import relation_state
from lacuna.integrations.duckdb._run import _literal, _run_statement
from lacuna.integrations.duckdb._statements import _sampled_relation
from lacuna.integrations.duckdb._tables import _carried, _into_memory, _label_view
from lacuna.integrations.frames.hooks import Hook, outer, outermost
from lacuna.integrations.frames.io import govern_read, govern_write, read_source
from lacuna.integrations.frames.state import STATES
from lacuna.lineage.state import DataState
from lacuna.model import Action


def _registration(*, module: bool, adds: bool) -> Make:
    """``con.register(name, obj)``/``con.unregister(name)`` (or the module's, on
    ``connection=`` or the default connection): DuckDB's own, then remembered or forgotten
    (:class:`_Registered`)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kw: Any) -> Any:
            with outermost():
                result = original(*args, **kw)
            con = (kw.get("connection") or duckdb.default_connection()) if module else args[0]
            given = args if module else args[1:]
            name = str(given[0] if given else kw.get("view_name"))
            if adds:
                REGISTERED.add(con, name, given[1] if len(given) > 1 else kw.get("python_object"))
            else:
                REGISTERED.remove(con, name)
            return result

        return call

    return make


def _connection_method(many: bool, fetches: bool) -> Make:
    """A connection's ``sql``/``query``/``execute``, or (``many``) ``executemany``: one
    statement run once per parameter set; ``fetches``: its result is the connection's pending
    result (``execute``/``executemany``)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not fetches:
                return _run_statement(self, original, args, kwargs, many=many)
            return _replacing(self, lambda: _run_statement(self, original, args, kwargs,
                                                           many=many))

        return method

    return make


def _replacing(con: Any, statement: Callable[[], Any]) -> Any:
    """Run ``statement`` (an ``execute``), whose result replaces ``con``'s pending result: its
    state, or none when Lacuna did not classify it. Refused or failed, the pending result's
    state stays what it was (the result DuckDB still holds may be the earlier one)."""
    before = PENDING.get(con)
    PENDING.set(con, None)
    try:
        return statement()
    except BaseException:
        PENDING.set(con, before)
        raise


def _module_function(many: bool, fetches: bool) -> Make:
    """``duckdb.sql``/``query``/``execute``/``executemany`` on the default connection."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def function(*args: Any, **kwargs: Any) -> Any:
            con = kwargs.get("connection") or duckdb.default_connection()

            def bound(_con: Any, *a: Any, **k: Any) -> Any:
                return original(*a, **k)

            if not fetches:
                return _run_statement(con, bound, args, kwargs, many=many)
            return _replacing(con, lambda: _run_statement(con, bound, args, kwargs, many=many))

        return function

    return make


def _reader(method: str, on_connection: bool) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            at = 1 if on_connection else 0
            source = args[at] if len(args) > at else kwargs.get("path_or_buffer")
            con = args[0] if on_connection else kwargs.get("connection")

            def call(plain: Any) -> Any:  # source, or a sealed file's plaintext copy
                a, kw = args, kwargs
                if plain is not source:
                    a, kw = ((*args[:at], plain, *args[at + 1:]), kwargs) if len(args) > at \
                        else (args, {**kwargs, "path_or_buffer": plain})
                with outermost():
                    return original(*a, **kw)

            def in_memory(rel: Any) -> Any:  # read before the plaintext copy is removed
                with _bypass.bypass(), outermost():
                    return (con or duckdb.default_connection()).from_arrow(
                        rel.to_arrow_table())

            rel, decided = read_source(source, call, method=method, materialise=in_memory)
            config = _gov().config.classification

            def sample(rest: str) -> Any:  # all its rows, not its first: _spread_sample
                with _bypass.bypass(), outermost():
                    return rel.query("lacuna_file", f"SELECT * FROM lacuna_file{rest}").df()

            frame = _spread_sample(sample, int(config.sample_rows), source)
            STATES.set(rel, govern_read(method=method, target=source, frame=frame, rows=-1,
                                        decided=decided))
            return rel

        return read

    return make


def _relation_writer(name: str) -> Make:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, file_name: Any, *args: Any, **kwargs: Any) -> Any:
            exception_id = kwargs.pop("exception_id", None)
            purpose = kwargs.pop("purpose", None)

            rel, state = _held(self)

            def run(_declaration: Any, to: Any = None) -> Any:
                with outermost():  # ``to``: sealed governed storage's scratch path
                    return original(rel, file_name if to is None else to, *args, **kwargs)

            return govern_write(rel, _sampled_relation(rel, state),
                                file_name, run, method=f"duckdb.DuckDBPyRelation.{name}",
                                columns=list(self.columns), exception_id=exception_id,
                                purpose=purpose)

        return write

    return make


def _held(rel: Any) -> tuple[Any, DataState]:
    """``rel`` and its state, or, when its rows are drawn anew at each run (``random()``,
    ``gen_random_uuid()`` in a column no source accounts for: :func:`computed.draws`), its
    rows computed once and held in memory (``rel.materialize()``), which the sample, the
    scan and the write all read: the rows decided on are the rows written, and a generator
    seeded with ``setseed`` advances once, as in plain DuckDB (the sample drew from it first,
    and the rows written were not those plain DuckDB writes)."""
    state = relation_state(rel)
    if not computed.draws(state.lineage) or not computed.unsourced(
            state, [str(c) for c in rel.columns]) or computed.not_again(state.lineage):
        return rel, state  # (over a one-shot reader: refused by the sample, not consumed)
    with _bypass.bypass(), outermost():
        held = rel.materialize()
    STATES.set(held, state)
    return held, state


def _table_writer(name: str) -> Make:
    """``rel.create(t)``/``to_table(t)``/``insert_into(t)``: the relation's rows into a table,
    decided as ``CREATE TABLE t AS``/``INSERT … SELECT`` are (an export to ``<database>#t``)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, table_name: Any, *args: Any, **kwargs: Any) -> Any:
            rel, state = _held(self)

            def run(_declaration: Any = None, _to: Any = None) -> Any:  # a table, never a file
                with outermost():
                    return original(rel, table_name, *args, **kwargs)

            home, local = (_located(self, table_name, new=name != "insert_into")
                           if isinstance(table_name, str) else (url_of(self), table_name))
            state = _sampled_relation(rel, state)
            if home == MEMORY and isinstance(table_name, str):
                return _into_memory(self, table_name, state, run,
                                    method=f"duckdb.DuckDBPyRelation.{name}")
            from lacuna.sql.tables import canonical

            target = canonical(home, local) if isinstance(local, str) else local
            if isinstance(table_name, str):  # the table carries what it holds (_carried)
                run = _carried(self, table_name, state, run,
                               method=f"duckdb.DuckDBPyRelation.{name}")
            return govern_write(None, state, f"{home}#{target}", run,
                                method=f"duckdb.DuckDBPyRelation.{name}",
                                columns=list(self.columns))

        return write

    return make


def _from_object(name: str) -> Make:
    """``con.from_df(frame)``/``con.from_arrow(table)``: :func:`_created`."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def create(self: Any, *args: Any, **kwargs: Any) -> Any:
            obj = args[0] if args else next(iter(kwargs.values()), None)
            return _created(lambda: original(self, *args, **kwargs), obj, f"duckdb.{name}")

        return create

    return make


def _as_statement(name: str) -> Make:
    """``con.table(t)``/``view(v)``/``table_function(f, [...])``/``from_query(sql)``: decided
    and classified as the statement that makes the same relation (``SELECT * FROM t``, …), a
    governed read whose relation carries the statement's state."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def create(self: Any, *args: Any, **kwargs: Any) -> Any:
            if name == "from_query":
                def query(c: Any, sql: Any, params: Any = None, **kw: Any) -> Any:
                    return original(c, sql, **kw) if params is None \
                        else original(c, sql, params=params, **kw)

                given = args[0] if args else kwargs.pop("query", None)
                params = kwargs.pop("params", None)
                return _run_statement(self, query, (given,) if params is None
                                      else (given, params), kwargs)
            sql = _creating_sql(name, args, kwargs)

            def made(c: Any, *_a: Any, **_k: Any) -> Any:
                return original(c, *args, **kwargs)

            return _run_statement(self, made, (sql,), {})

        return create

    return make


def _creating_sql(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The statement that makes what ``con.table/view/table_function(...)`` makes."""
    first = args[0] if args else next(iter(kwargs.values()), None)
    if not isinstance(first, str):
        _refuse(f"duckdb {name}() takes a name; Lacuna cannot tell what {first!r} reads, so "
                "nothing was run.")
    if name != "table_function":
        source: exp.Expr = exp.to_table(first, dialect="duckdb")
    else:
        params = args[1] if len(args) > 1 else kwargs.get("parameters")
        values = [] if params is None else list(params) if isinstance(params, (list, tuple)) \
            else [params]
        source = exp.Table(this=exp.Anonymous(this=first,
                                              expressions=[_literal(v) for v in values]))
    return exp.select("*").from_(source).sql(dialect="duckdb")


# what is not a relation method that makes a relation (or is decided by its own hook)
_NOT_DERIVING = frozenset({
    "close", "show", "explain", "sql_query", "fetchall", "fetchone", "fetchmany", "iter_rows",
    "to_dicts", "preview", "fetchnumpy", "torch", "tf", "insert", "update", "execute",
    "write_csv", "write_parquet", "to_csv", "to_parquet", "create", "to_table", "insert_into",
    "query",
    "df", "to_df", "fetchdf", "fetch_df", "pl", "arrow", "fetch_arrow_table", "to_arrow_table",
    "to_arrow_reader", "fetch_arrow_reader", "fetch_record_batch"})


_LAZY = frozenset({"map"})


# what fetches a connection's pending result (module functions: the default connection's)
_FETCHERS = ("df", "fetchdf", "fetch_df", "fetch_df_chunk", "arrow", "fetch_arrow_table",
             "fetch_record_batch", "to_arrow_table", "to_arrow_reader", "pl", "fetchnumpy",
             "torch", "tf")


def _deriving(name: str) -> Make:
    """Any relation method that returns a relation: the result carries the state of what it
    was made from (:func:`derived_state`)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            with outermost():
                result = original(self, *args, **kwargs)
            if name in _LAZY and isinstance(result, duckdb.DuckDBPyRelation):
                MAPPED.set(result, self)  # decided when it is read (relation_state)
            elif isinstance(result, duckdb.DuckDBPyRelation):
                state = derived_state(name, self, result, args, kwargs)
                if state is not None:
                    STATES.set(result, state)
            if name in _VIEW_MAKERS and _tracked(self):
                view = args[0] if args else kwargs.get("view_name")
                if isinstance(view, str):
                    _label_view(self, view)
            return result

        return method

    return make


_VIEW_MAKERS = frozenset({"create_view", "to_view"})


def _relation_query(original: Callable[..., Any]) -> Callable[..., Any]:
    """``rel.query(name, sql)``: ``sql`` run on the relation's connection with ``name`` for the
    relation, decided as ``duckdb.sql`` decides it (a query a read whose relation carries its
    classification, ``COPY … TO`` an export, …), ``name`` standing for the relation's state."""

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        given = {**dict(zip(("virtual_table_name", "sql_query"), args, strict=False)),
                 **kwargs}
        name, sql = given.get("virtual_table_name"), given.get("sql_query")
        if not isinstance(name, str) or not isinstance(sql, str):
            with outermost():
                return original(self, *args, **kwargs)

        def run(rel: Any, text: str, *_a: Any, **_k: Any) -> Any:
            return original(rel, name, text)

        return _run_statement(self, run, (sql,), {}, known={name: relation_state(self)})

    return query


def _grouped(original: Callable[..., Any]) -> Callable[..., Any]:
    """``rel.group_by(keys).agg(...)``: derived from ``rel`` (:func:`derived_state`, fail
    closed: each column takes the strictest class of ``rel``'s)."""

    def agg(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        rel = getattr(self, "_relation", None)
        if isinstance(result, duckdb.DuckDBPyRelation) and isinstance(
                rel, duckdb.DuckDBPyRelation):
            state = derived_state("group_by.agg", rel, result, args, kwargs)
            if state is not None:
                STATES.set(result, state)
        return result

    return agg


def _module_delegate(name: str, then: str | None = None) -> Make:
    """``duckdb.<name>(...)`` as the (hooked) method of its connection, or (``then``)
    ``duckdb.<name>(frame, ...)`` as ``connection.from_df(frame).<then>(...)``: DuckDB's module
    functions call its internals, not the methods Lacuna governs."""

    def make(_original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, connection: Any = None, **kwargs: Any) -> Any:
            con = connection or duckdb.default_connection()
            with _users_own_errors():
                if then is None:
                    return getattr(con, name)(*args, **kwargs)
                frame = args[0] if args else kwargs.pop("df")
                return getattr(con.from_df(frame), then)(*args[1:], **kwargs)

        return call

    return make


_MODULE_ON_FRAMES = {"filter": "filter", "project": "project", "aggregate": "aggregate",
                     "distinct": "distinct", "limit": "limit", "order": "order",
                     "query_df": "query", "alias": "set_alias", "write_csv": "write_csv"}


def _from_user_scope(raw: Callable[..., Any]) -> Callable[..., Any]:
    """DuckDB finds Python objects a query names (``FROM customers``) in the locals and globals
    of the Python frame that called it. Behind a hook that frame is Lacuna's, so the call is made
    from a frame whose namespace is the user's (the first frame outside Lacuna)."""
    import functools

    from lacuna.integrations.pandas._frames import user_frame

    @functools.wraps(raw)
    def trampoline(*args: Any, **kwargs: Any) -> Any:
        frame = user_frame()
        scope = {**frame.f_globals, **frame.f_locals} if frame is not None else {}
        scope.update(__lacuna_raw=raw, __lacuna_args=args, __lacuna_kwargs=kwargs)
        return eval("__lacuna_raw(*__lacuna_args, **__lacuna_kwargs)", {}, scope)

    return trampoline


def _connect(original: Callable[..., Any]) -> Callable[..., Any]:
    """``duckdb.connect(database)``: a database file under a sealed governed root is refused
    unless opened ``read_only`` (:func:`lacuna.storage.frames.refuse_database`: a live
    database file cannot be sealed)."""

    def connect(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        read_only = bool(args[0] if args else kwargs.get("read_only", False))
        if not read_only and isinstance(database, (str, os.PathLike)):
            path = os.fsdecode(os.fspath(database))
            if not path.startswith((":memory:", "md:", "motherduck:")):
                from lacuna.storage.frames import refuse_database

                refuse_database("duckdb.connect", path)  # passes the guard in every mode
        return original(database, *args, **kwargs)

    return connect


def _analysis_first(make: Make) -> Make:
    """``make``'s hook, run once Lacuna's SQL analysis has imported (each hook decides with
    it: statements, relations, their classification). When it does not import (sqlglot or a
    module of Lacuna missing or broken), the call is refused in every mode with a
    ComponentImportError that says what to install (:func:`lacuna.sql.require_analysis`),
    never denied naming a bare ImportError (enforce) or run ungoverned (warn)."""
    from lacuna.sql import require_analysis

    def wrapped(original: Callable[..., Any]) -> Callable[..., Any]:
        hook = make(original)

        def analysed(*args: Any, **kwargs: Any) -> Any:
            require_analysis()
            return hook(*args, **kwargs)

        return analysed

    return wrapped


def _hooks() -> list[Hook]:
    con, rel = duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation
    specs: list[tuple[Any, str, Make, Action]] = []
    for name in ("sql", "query", "execute", "executemany"):
        many = name == "executemany"
        fetches = name in ("execute", "executemany")
        specs.append((con, name, _connection_method(many, fetches), Action.READ))
        specs.append((duckdb, name, _module_function(many, fetches), Action.READ))
    for name in ("read_csv", "read_parquet", "read_json"):
        specs.append((con, name, _reader(f"duckdb.{name}", True), Action.READ))
        specs.append((duckdb, name, _reader(f"duckdb.{name}", False), Action.READ))
    for name in ("write_csv", "write_parquet", "to_csv", "to_parquet"):
        specs.append((rel, name, _relation_writer(name), Action.EXPORT))
    for name in ("create", "to_table", "insert_into"):
        specs.append((rel, name, _table_writer(name), Action.EXPORT))
    for name in ("df", "to_df", "fetchdf", "fetch_df"):
        specs.append((rel, name, _converter("pandas"), Action.TRANSFORM))
    for name in ("pl", "arrow", "fetch_arrow_table", "to_arrow_table", "to_arrow_reader",
                 "fetch_arrow_reader", "fetch_record_batch"):
        specs.append((rel, name, _converter("other"), Action.TRANSFORM))
    for name in sorted(n for n in vars(rel) if not n.startswith("_")
                       and n not in _NOT_DERIVING and callable(vars(rel)[n])):
        specs.append((rel, name, _deriving(name), Action.TRANSFORM))
    specs.append((rel, "query", _relation_query, Action.READ))
    for name in _FETCHERS:
        specs.append((con, name, _fetcher(False), Action.TRANSFORM))
        specs.append((duckdb, name, _fetcher(True), Action.TRANSFORM))
    for name in ("from_df", "from_arrow"):
        specs.append((con, name, _from_object(name), Action.READ))
    specs += [(owner, name, _registration(module=owner is duckdb, adds=name == "register"),
               Action.TRANSFORM) for owner in (con, duckdb) for name in ("register", "unregister")]
    for name in ("table", "view", "table_function", "from_query"):
        specs.append((con, name, _as_statement(name), Action.READ))
    for name in ("from_csv_auto", "from_parquet"):
        specs.append((con, name, _reader(f"duckdb.{name}", True), Action.READ))
    for name in ("from_df", "from_arrow", "table", "view", "table_function", "from_query",
                 "from_csv_auto", "from_parquet"):
        specs.append((duckdb, name, _module_delegate(name), Action.READ))
    grouped = getattr(sys.modules.get("duckdb._relation"), "GroupedRelation", None)
    if grouped is not None:  # rel.group_by(...) returns one
        specs.append((grouped, "agg", _grouped, Action.TRANSFORM))
    for name, then in _MODULE_ON_FRAMES.items():
        specs.append((duckdb, name, _module_delegate(name, then), Action.TRANSFORM))
    scoped = {"sql", "query", "execute", "executemany", "from_query"}
    return [Hook(owner, name, outer(_analysis_first(make)),
                 action, f"duckdb.{getattr(owner, '__name__', 'duckdb')}.{name}",
                 via=_from_user_scope if name in scoped else None)
            for owner, name, make, action in specs if hasattr(owner, name)] + [
        Hook(duckdb, "connect", _connect, Action.EXPORT, "duckdb.connect")]
