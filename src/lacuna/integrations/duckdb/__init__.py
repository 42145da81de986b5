"""DuckDB's Python API under the pipeline: ``duckdb.sql``/``execute``/``executemany``/``query``
and a connection's ``sql``/``execute``/``executemany``/``query``, relations' writes and
conversions.

Each statement is analysed by the SQL governance (:mod:`lacuna.sql.statements`) and classified
by the one SQL column lineage (:func:`lacuna.lineage.sql.classify_sql`), over a schema built
from what the statement reads:

- tables of the connection's catalog: :func:`lacuna.sql.tables.classify_table` (comments,
  what Lacuna stored, names and values);
- Python objects DuckDB scans by name (a pandas or polars frame, an Arrow table, a relation):
  their tracked classification;
- files (``FROM 'x.csv'``, ``read_csv(...)``/``read_parquet(...)``): a governed read of a
  sample, classified like any file (sidecar, metadata, names and values): a reservoir over
  all its rows, or its first rows when a trusted sidecar binds it (:func:`_file_state`).

A source Lacuna cannot classify makes the statement PROPRIETARY (fail closed). Then:

- a query is audited as a read; its relation carries the classification, which ``.df()``,
  ``.pl()``, ``.arrow()`` hand on, and which ``.write_csv/.write_parquet/.to_csv/.to_parquet``
  are decided on before anything is written; run by ``execute``, the connection's pending
  result carries it (:data:`PENDING`), which the connection's fetchers (``df``, ``fetchdf``,
  ``fetch_df_chunk``, ``to_arrow_table``, …) hand on until the next ``execute``;
- relations made without SQL carry their source's classification: ``from_df``/``from_arrow``
  the object's, ``table``/``view``/``table_function``/``from_query`` the ``SELECT`` that makes
  them; every relation method that returns a relation hands it on (:func:`derived_state`: kept,
  classified as SQL over the relation, combined column by column, or, for a method Lacuna does
  not know, the strictest class of its inputs' columns for every column: fail closed);
- ``COPY … TO 'file'`` is an export of the query's classification to the file;
- ``CREATE TABLE … AS`` / ``INSERT … SELECT`` an export to ``<database URL>#<table>`` (the URL
  of the ``ATTACH``ed file the table is in, when it is in one), and so
  are a relation's ``create``/``to_table``/``insert_into``; except into an **in-memory**
  database (``duckdb.connect()``, ``:memory:``), where the table is a derived relation this
  process holds, like a frame: nothing leaves, so it is governed as a read and the table
  carries the classification (its comment, which later statements read back); so are
  ``INSERT … VALUES``, ``UPDATE``, ``MERGE`` and ``COPY … FROM`` into memory
  (:func:`_dml_into_memory`); ``CREATE TYPE`` of no data runs (:func:`_created_type`);
- other writes go through :func:`lacuna.sql.govern.run_governed` like a SQLAlchemy statement;
- at each of these writes, and when a relation is converted to a frame, the output columns no
  classified source column accounts for (``'person' || i || '@example.com'`` over
  ``range(20)``) are classified by a sample of their values and a scan of every row
  written (:mod:`.computed`); rows ``random()`` draws are drawn once and held for both. A
  table column that is not personal is one (its class came from its first rows, which an
  ``UPDATE`` past them does not change).

Parameters (``execute(sql, [...])``, ``?``, ``$1``, ``$name``) are bound into the statement
before it is analysed, so ``COPY (…) TO ?`` is decided for the file it writes and
``read_csv(?)`` is classified like the file it reads; the bound statement is what runs. A value
Lacuna cannot write as a literal is refused with a message saying so (nothing runs).
``information_schema`` and ``pg_catalog`` hold metadata (names, types, comments), never data
values: their tables are PUBLIC.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

import duckdb
import sqlglot
from sqlglot import exp

from lacuna import _bypass
from lacuna.classify.header import is_pseudo
from lacuna.integrations.duckdb import computed
from lacuna.integrations.frames.hooks import Hook, Hooks, outer, outermost
from lacuna.integrations.frames.io import govern_read, govern_write, read_source
from lacuna.integrations.frames.state import STATES, WeakRegistry, effective, k_again
from lacuna.lineage.frames import attach, effective_state, traced_origins, with_labels
from lacuna.lineage.records import ColumnEdge, DatasetRef
from lacuna.lineage.state import DataState, LineageNode, Origin, Origins
from lacuna.model import Action, Classification, FrozenDict, Source, Tier

log = logging.getLogger(__name__)

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


def _with_view(gov: Any, registered: DataState, view: Classification, name: str) -> DataState:
    """A registered object's state combined, column by column, with what its view ``name``
    holds now (a COMBINE step the governor applies)."""
    from lacuna.lineage.step import Step, StepInput, StepKind

    inputs = (StepInput.of(registered), StepInput(classification=view, lineage=LineageNode(
        name=name, operation="table")))
    outputs = tuple(dict.fromkeys([*registered.classification.columns, *view.columns]))
    column_map = {c: tuple((i, c) for i, held in enumerate(inputs)
                           if c in held.classification.columns) for c in outputs}
    step = Step(kind=StepKind.COMBINE, operation="duckdb.register", inputs=inputs,
                outputs=outputs, column_map=column_map)
    state: DataState = gov.inherit(step).state()
    return state


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


def relation_state(rel: Any) -> DataState:
    """The effective state of a DuckDB relation."""
    config = _gov().config.classification

    def sample(names: Any) -> Any:
        with _bypass.bypass(), outermost():
            return rel.limit(config.sample_rows).df()[list(names)]

    def read(names: Any) -> Any:
        with _bypass.bypass(), outermost():
            return rel.df()[list(names)]

    found = STATES.get(rel)
    mapped = MAPPED.get(rel) if found is None else None
    if mapped is not None:  # rel.map(f): decided without running f
        state = _mapped_state(rel, relation_state(mapped))
        STATES.set(rel, state)
        return state
    if found is not None and computed.not_again(found.lineage) and any(
            str(c) not in found.classification.columns for c in rel.columns):
        found = _unsampled(found, [str(c) for c in rel.columns])
    state = effective(found, list(rel.columns), sample, config)
    # a LIMIT or WHERE of a k-anonymous frame: k counted again on the rows it gives
    return k_again(state, [str(c) for c in rel.columns], read, config)


def _unsampled(found: DataState, columns: list[str]) -> DataState:
    """``found``, the state of a relation over a one-shot source (a record batch reader
    Lacuna cannot see the rows of: PROPRIETARY, fail closed, with no column classes), with a
    class for each of ``columns`` it lacks, taken from the whole: their values are not
    sampled. Before, the sample read the reader (``con.from_arrow(reader).project(…)``
    consumed it), and the user's write, refused anyway, found it empty."""
    from dataclasses import replace

    from lacuna.model import ColumnClass

    c = found.classification
    why = ("not sampled: the relation reads a record batch reader, which can be read once "
           "only; the relation's class stands for it")
    return replace(found, classification=replace(c, columns={
        **c.columns, **{n: ColumnClass(reasoning=why) for n in columns if n not in c.columns}}))


def _mapped_state(rel: Any, source: DataState) -> DataState:
    """The state of ``rel.map(f)``: each of its columns may hold any of ``source``'s (as a
    method Lacuna does not know), and it is PROPRIETARY (fail closed), as the result of any
    user-defined function is (:func:`lacuna.sql.govern.user_defined`): ``f`` is Python that
    Lacuna does not read, and may return what it was given under any name, or bring in data
    from anywhere. Its columns come from DuckDB's schema (given, or inferred from ``f``'s
    output on an empty frame): ``f`` never runs on the data here."""
    from dataclasses import replace

    state = _strictest("map", [str(c) for c in rel.columns], [source])
    c = state.classification
    why = ("PROPRIETARY (fail closed): the relation is made by DuckDBPyRelation.map(f), a "
           "Python function Lacuna does not read, which may return what it is given under any "
           "name or bring in other data (a user-defined function); write the relation before "
           "map, or do the transformation in SQL or pandas, for a decision on what it holds")
    return replace(state, classification=replace(
        c, tier=Tier.PROPRIETARY, floor=Tier.PROPRIETARY, reasoning=(why, *c.reasoning)))


def classification(rel: Any) -> Classification:
    """The classification of a DuckDB relation, with what its column names hold read as a
    header, as a ``COPY … TO`` decides it (:func:`lacuna.lineage.frames.reported`)."""
    from lacuna.lineage.frames import reported

    return reported(with_labels(relation_state(rel), list(rel.columns),
                                _gov().config.classification))


def _object_state(obj: Any) -> DataState | None:
    import pandas as pd

    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return effective_state(obj, _gov().config.classification)
    if isinstance(obj, duckdb.DuckDBPyRelation):
        return relation_state(obj)
    module = type(obj).__module__
    if module.startswith("polars"):
        from lacuna.integrations.polars._ops import state

        return state(obj)
    if module.startswith("pyarrow"):
        from lacuna.integrations.pyarrow import object_state

        return object_state(obj)  # a reader is not read: DuckDB scans it once, for the user
    return None


def _variable(name: str) -> Any:
    from lacuna.integrations.pandas._frames import user_frame

    frame = user_frame()
    if frame is None:
        return None
    for scope in (frame.f_locals, frame.f_globals):
        if name in scope:
            return scope[name]
    return None


def _file_state(con: Any, source_sql: str, label: str) -> DataState:
    from lacuna.storage.frames import refuse_sealed_in_sql

    refuse_sealed_in_sql(label, "DuckDB")  # DuckDB would read ciphertext: say so, fail closed
    config = _gov().config.classification
    limit = int(config.sample_rows)

    def read(sql: str) -> Any:
        with _bypass.bypass(), outermost():
            # a relation's ``query`` (rel.query(name, "… read_csv(…)")) runs on its connection
            rel: Any = con.query("lacuna_relation", sql) if isinstance(
                con, duckdb.DuckDBPyRelation) else con.sql(sql)
            return rel.df()

    frame = _spread_sample(lambda rest: read(f"SELECT * FROM {source_sql}{rest}"), limit, label)
    return govern_read(method="duckdb.read", target=label, frame=frame, rows=-1)


_SEED = 1013  # the reservoir sample of a file: the same rows at every read of the same file


def _spread_sample(read: Callable[[str], Any], limit: int, label: Any) -> Any:
    """A sample of at most ``limit`` rows of file ``label``, as pandas: ``read(rest)`` reads
    the file's rows with ``rest`` after its ``FROM`` (a ``LIMIT``, a ``USING SAMPLE``). One
    row more than a sample first: fewer, and that is the whole file, in its order; else half
    of its first rows (what a reader sees first, as before) and half a reservoir over all its
    rows, unless a trusted sidecar binds the file (:func:`_declared`), whose first rows are
    sample enough."""
    import pandas as pd

    frame = read(f" LIMIT {limit + 1}")
    if len(frame) <= limit:
        return frame
    if _declared(label):
        return frame.iloc[:limit]
    head = limit // 2
    spread = read(f" USING SAMPLE reservoir({limit - head} ROWS) REPEATABLE ({_SEED})")
    return pd.concat([frame.iloc[:head], spread], ignore_index=True)


def _declared(label: Any) -> bool:
    """Whether file ``label`` has a trusted declaration (a sidecar Lacuna wrote, which binds
    its content): declared beats inferred, so its first rows are sample enough and it is not
    read whole. Any other file longer than a sample is sampled over all its rows (a
    reservoir, one pass): its first rows alone let a CSV of 1,500 ``n/a`` then 500 e-mail
    addresses be copied to ~/Downloads as PUBLIC, where pandas, sampling evenly over the
    frame, denied it."""
    from lacuna.integrations.frames.io import local_path
    from lacuna.lineage.sidecar import read_sidecar

    path = local_path(label)
    if path is None or not os.path.isfile(path):
        return False
    try:
        found = read_sidecar(path)
    except Exception:  # an unreadable declaration declares nothing: sampled over all rows
        return False
    return found is not None and found.trusted


def _refuse_sealed_arguments(function: exp.Expr) -> None:
    """A file function (``read_csv('…')``, ``read_parquet(['…', '…'])``) that names a sealed
    governed file is refused as ``FROM 'sealed.csv'`` is, saying what to do instead: DuckDB
    sniffed the ciphertext, and its error was reported as "Lacuna failed".

    Raises:
        StorageError: one of its string arguments is (or holds) a sealed governed file.
    """
    from lacuna.storage.frames import refuse_sealed_in_sql

    for literal in function.find_all(exp.Literal):
        if literal.is_string and literal.name:
            refuse_sealed_in_sql(literal.name, "DuckDB")


def statement_state(con: Any, sql: str, known: dict[str, DataState] | None = None,
                    ) -> tuple[DataState, list[DataState]]:
    """The classification (with lineage) of what ``sql`` produces, and its sources' states.

    ``known``: names the statement reads that stand for a state Lacuna already holds (the
    relation a ``rel.query(name, sql)`` or ``rel.project(...)`` runs over), looked up first."""
    from lacuna.lineage.sql import classify_sql
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import session_held, user_defined
    from lacuna.sql.statements import called_functions, reads_session, table_name
    from lacuna.sql.tables import classify_table, origins, same_depth

    gov = _gov()
    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    # before a table function is replaced below: ``FROM m()`` of a table macro calls it too
    called = called_functions(parsed)
    schema: dict[str, Classification] = {}
    files: dict[str, str] = {}
    states: list[DataState] = []
    for i, table in enumerate(list(parsed.find_all(exp.Table))):
        source = table.this
        name = table.name
        is_function = isinstance(source, (exp.Anonymous, exp.Func)) and not isinstance(
            source, exp.Identifier)
        is_file = isinstance(source, exp.Identifier) and source.quoted and (
            "/" in name or ("." in name and name.rsplit(".", 1)[-1] in ("csv", "parquet", "json")))
        if is_function or is_file:
            placeholder = f"__lacuna_source_{i}"
            text = source.sql(dialect="duckdb") if is_function else f"'{name}'"
            label = (source.expressions[0].name if is_function and getattr(
                source, "expressions", None) else name)
            if is_function:  # read_csv('sealed.csv'), read_parquet([…]): the path is no label
                _refuse_sealed_arguments(source)
            state = _file_state(con, text, label or text)
            alias = table.alias or None
            table.replace(exp.to_table(placeholder).as_(alias) if alias
                          else exp.to_table(placeholder))
            schema[placeholder] = state.classification
            files[placeholder] = text  # its pieces are remembered by what it reads
            states.append(state)
    rewritten = parsed.sql(dialect="duckdb")
    db = Database(_catalog(con), url_of(con), "duckdb")
    held = dict(zip(schema, states, strict=True))  # the files' placeholders, by name
    tables: set[str] = set()  # read from this database's catalog: each column is itself
    streams = False  # a one-shot source (a record batch reader) is read: never sampled
    for table in parsed.find_all(exp.Table):
        name = table_name(table) or ""  # crm.customers is not the customers of this database
        if not name or name in schema:
            continue
        if table.db.lower() in _METADATA_SCHEMAS:  # names, types, comments: no data values
            schema[name] = Classification(reasoning=(
                f"PUBLIC: {table.db}.{table.name} is catalog metadata, not data",))
            continue
        found = (known or {}).get(name)
        registered = REGISTERED.get(con, name) if found is None and name == table.name else None
        obj = registered if registered is not None else (
            _variable(name) if found is None and name == table.name else None)  # by bare name
        if obj is not None:
            found = _object_state(obj)
            streams = streams or computed.one_shot(obj)
        if registered is not None and found is not None and hasattr(registered, "__len__"):
            # the view may have been replaced since (CREATE OR REPLACE TEMP VIEW): what it
            # holds now counts too (a reader, which has no length, is never sampled)
            with _bypass.bypass(), outermost():
                now = classify_table(gov, db, name)
            if now is not None:
                found = _with_view(gov, found, now, f"{db.url}#{name}")
        if found is None:
            with _bypass.bypass(), outermost():
                c = classify_table(gov, db, name)
            if c is not None:
                found = DataState(classification=c, lineage=LineageNode(
                    name=f"{db.url}#{name}", operation=computed.TABLE,  # when Lacuna saw
                    parents=computed.view_parents(db.url, name)))  # it made: a view's query
                tables.add(name)
        if found is not None:
            schema[name] = found.classification
            states.append(found)
            held[name] = found
    try:
        names = same_depth(schema, "duckdb")  # INSERT INTO o.t … FROM customers: one depth
        lineage = classify_sql(rewritten, schema={names[n]: c for n, c in schema.items()},
                               dialect="duckdb", namespace=db.url,
                               config=gov.config.classification,
                               origins={**origins(db.url, names), **{
                                   names[n]: f"{db.url}#{n}" for n in files}})
        result = _named_files(lineage.classification, {names[n]: t for n, t in files.items()})
        traced = _column_origins(db.url, names, held, tables, lineage.edges)
        edges, read = lineage.edges, {DatasetRef(db.url, names[n]): s for n, s in held.items()}
    except Exception as exc:
        result = Classification(tier=Tier.PROPRIETARY, floor=Tier.PROPRIETARY, reasoning=(
            f"PROPRIETARY (fail closed): Lacuna cannot classify this DuckDB statement: {exc}",))
        traced = FrozenDict()
        edges, read = (), {}
    if reads_session(parsed):  # getvariable(): what SET VARIABLE put there is not tracked
        result = session_held(result)
    with _bypass.bypass(), outermost():
        defined = sorted(db.user_functions(called))
    if defined:  # CREATE MACRO m() AS (SELECT … FROM customers): its body is not read
        result = user_defined(result, defined)
    node = LineageNode(name=None, operation=computed.STATEMENT,
                       parents=tuple(s.lineage for s in states))
    # the columns no classified source accounts for: sampled at a write (computed.sampled)
    computed.remember(node, result.columns, edges, read, parsed)
    if streams:
        computed.once(node)
    return DataState(classification=result, lineage=node, origins=traced), states


def _sampled_relation(rel: Any, state: DataState) -> DataState:
    """``state`` of relation ``rel`` with its columns that no classified source accounts for
    classified by a sample of their values (:func:`computed.sampled`), before a write."""
    config = _gov().config.classification

    def picked(positions: list[int]) -> Any:
        return rel.project(", ".join(f"#{i + 1}" for i in positions))

    def sample(positions: list[int]) -> Any:
        with _bypass.bypass(), outermost():
            return _frame(picked(positions).limit(int(config.sample_rows)))

    def whole(positions: list[int]) -> Any:
        with _bypass.bypass(), outermost():
            return picked(positions)

    return computed.sampled(state, [str(c) for c in rel.columns], sample, config, whole=whole)


def _frame(rel: Any) -> Any:
    """``rel.df()`` for a sample, a column of a type DuckDB cannot hand to NumPy (``VARINT``)
    read as its text: the sample failed and the write of ``range::VARINT`` was refused."""
    types = [str(getattr(t, "id", t)) for t in rel.types]
    if "bignum" not in types:
        return rel.df()
    return rel.project(", ".join(f"CAST(#{i + 1} AS VARCHAR)" if t == "bignum" else f"#{i + 1}"
                                 for i, t in enumerate(types))).df()


def _sampled_query(con: Any, query: str, state: DataState,
                   columns: list[str] | None = None, *,
                   known: dict[str, DataState] | None = None) -> DataState:
    """``state`` of what ``query`` (a ``SELECT``, or the ``CREATE … AS``/``INSERT … SELECT``
    whose query it is) produces, with its columns that no classified source accounts for
    classified by a sample of their values, before a write. ``columns``: the query's output
    names in order (``COPY``: DuckDB's); default ``state``'s (an ``INSERT``'s target
    columns). Read by position (``#n``): two outputs may share a name."""
    config = _gov().config.classification
    outputs = columns if columns is not None else list(state.classification.columns)
    if not computed.unsourced(state, outputs):
        return state
    text = query  # a COPY's query as written; a CREATE's or INSERT's as sqlglot writes it
    parsed = sqlglot.parse_one(query, dialect="duckdb")
    if isinstance(parsed, (exp.Create, exp.Insert)):
        inner = parsed.expression
        text = inner.sql(dialect="duckdb") if isinstance(inner, exp.Query) else ""
    limit = int(config.sample_rows)

    def picked(positions: list[int], rest: str = "") -> Any:
        if not text:
            msg = "the statement's query could not be read apart from its target"
            raise ValueError(msg)
        columns = ", ".join(f"#{i + 1}" for i in positions)
        with _bypass.bypass(), outermost():
            sample = f"SELECT {columns} FROM ({text}) AS __lacuna_sample{rest}"
            if isinstance(con, duckdb.DuckDBPyRelation):  # rel.query(name, "COPY name TO …")
                # runs on the relation's connection, where ``name`` is the relation (a
                # relation has no ``sql``: the sample failed and every such write was refused)
                return con.query(next(iter(known or {}), _RELATION), sample)
            return con.sql(sample)

    def sample(positions: list[int]) -> Any:
        rel = picked(positions, f" LIMIT {limit}")
        with _bypass.bypass(), outermost():
            return _frame(rel)

    return computed.sampled(state, outputs, sample, config, whole=picked)


@contextmanager
def _held_statement(con: Any, sql: str, state: DataState, columns: list[str] | None,
                    held: list[str]) -> Iterator[str | None]:
    """A ``COPY (query) TO``, ``CREATE TABLE … AS query`` or ``INSERT … query`` whose rows are
    drawn anew at each run (``random()``, ``gen_random_uuid()`` in a column no source accounts
    for: :func:`computed.draws`): its query run once into a temporary table, which the sample,
    the scan and the statement (appended to ``held``, rewritten to read the table under the
    query's own column names) all read, dropped afterwards. Yields the ``SELECT`` over the
    table, or None (nothing held: the statement runs as written). Before, the sample ran the
    query again: it classified other values than those written, and after ``setseed`` the
    rows written were not those plain DuckDB writes."""
    if isinstance(con, duckdb.DuckDBPyRelation) or not computed.draws(
            state.lineage) or not computed.unsourced(
            state, columns if columns is not None else list(state.classification.columns)):
        yield None  # rel.query(name, "COPY …"): run as written (a second run is sampled)
        return
    import uuid

    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    node = parsed.this if isinstance(parsed, exp.Copy) else parsed.expression
    query = node.this if isinstance(node, exp.Subquery) else node
    if not isinstance(query, exp.Query):
        yield None  # COPY t TO: a table's (or a view's) rows, as written
        return
    table = f"__lacuna_drawn_{uuid.uuid4().hex}"
    text = query.sql(dialect="duckdb")
    with _bypass.bypass(), outermost():
        names = [str(c) for c in con.sql(text).columns]
        con.sql(f"CREATE TEMPORARY TABLE {table} AS {text}")
    try:
        read = "SELECT " + ", ".join(f"#{i + 1} AS {computed.quoted(n)}" for i, n in
                                     enumerate(names)) + f" FROM {table}"
        replacement = sqlglot.parse_one(read, dialect="duckdb")
        if isinstance(parsed, exp.Copy):
            parsed.set("this", exp.Subquery(this=replacement))
        else:
            parsed.set("expression", replacement)
        held.append(parsed.sql(dialect="duckdb"))
        yield read
    finally:
        with _bypass.bypass(), outermost(), suppress(Exception):
            con.sql(f"DROP TABLE IF EXISTS {table}")


def _named_files(c: Classification, files: dict[str, str]) -> Classification:
    """``c`` with each file's placeholder in its reasoning (``pii from __lacuna_source_0.email``,
    shown in a denial) named as the statement reads the file (``'customers.csv'``)."""
    if not files:
        return c
    from dataclasses import replace

    def said(text: str) -> str:
        for placeholder in sorted(files, key=len, reverse=True):  # _1 is a prefix of _10
            text = text.replace(f"{placeholder}.", f"{files[placeholder]}.")
        return text

    return replace(c, reasoning=tuple(said(r) for r in c.reasoning), columns={
        name: replace(col, reasoning=said(col.reasoning)) for name, col in c.columns.items()})


def _column_origins(url: str, names: dict[str, str], held: dict[str, DataState],
                    tables: set[str], edges: tuple[ColumnEdge, ...]) -> Origins:
    """The origins of each column ``statement_state``'s statement produces, from its column
    edges: a table of this database is named as the SQL route names it
    (:func:`lacuna.sql.tables.table_ref`), a file or a relation by the origins its state
    holds. Without them a write recorded no column edges, although the SQL's were traced."""
    from lacuna.sql.tables import table_ref

    parents: dict[DatasetRef, Origins] = {}
    for name, state in held.items():
        ref = DatasetRef(url, names[name])
        if name in tables:
            table = table_ref(url, name)
            parents[ref] = {e.source_column: (Origin(table, e.source_column),)
                            for e in edges if e.source == ref}
        else:
            parents[ref] = state.origins
    return traced_origins(edges, parents)


def _run_statement(con: Any, original: Callable[..., Any], args: tuple[Any, ...],
                   kwargs: dict[str, Any], *, many: bool = False,
                   known: dict[str, DataState] | None = None) -> Any:
    from lacuna.sql.statements import analyse

    sql = _text(args[0] if args else kwargs.get("query"))
    if not isinstance(sql, str):
        with outermost():
            return original(con, *args, **kwargs)
    if args:  # a Statement runs as its text: what was decided is what runs
        args = (sql, *args[1:])
    else:
        kwargs = {**kwargs, "query": sql}
    stmt = analyse(sql, "duckdb")
    params = args[1] if len(args) > 1 else kwargs.get("parameters")
    if many and isinstance(params, Iterator):  # executemany(sql, (row for row in …)): read
        # once, so decided and run on the same list (len() of it failed: a fail-closed denial)
        params = list(params)
        if len(args) > 1:
            args = (args[0], params, *args[2:])
        else:
            kwargs = {**kwargs, "parameters": params}
    if params is not None and _analysed(stmt) and stmt.placeholders:
        rest = {k: v for k, v in kwargs.items() if k not in ("query", "parameters")}
        if not many:  # decided and run with the values written in
            return _run_statement(con, original, (_bind(sql, params), *args[2:]), rest,
                                  known=known)
        result = None
        for one in _parameter_sets(params):  # each set may name another file
            result = _run_statement(con, original, (_bind(sql, one), [[]], *args[2:]), rest,
                                    many=True)
        return result

    held: list[str] = []  # the statement reading its rows held once (_held_statement)

    def run(_declaration: Any = None, to: Any = None) -> Any:
        a, kw, text = args, kwargs, held[0] if held else sql
        if to is not None:  # COPY … TO sealed governed storage: into a scratch path
            text = _copy_to(text, stmt.file, to)
        if text is not sql:
            a, kw = ((text, *args[1:]), kwargs) if args else (args, {**kwargs, "query": text})
        with outermost():
            return original(con, *a, **kw)

    gov = _gov()
    from lacuna.sql.govern import refuse_database_statement

    refuse_database_statement(stmt, "duckdb", f"duckdb.{stmt.verb}")  # ATTACH into storage
    if stmt.kind == "unknown" and _created_type(sql):  # a type: no rows, no values
        return run()
    if stmt.verb == "comment":
        _keep_memory_record(con, sql)
    if stmt.kind == "pass" and stmt.verb != "select" and stmt.rename is None:
        return run()
    if stmt.kind in ("read", "pass") and stmt.rename is None:
        # SUMMARIZE, SET VARIABLE v = (SELECT …), DELETE … RETURNING: what their query reads
        state, _states = statement_state(con, stmt.query or sql, known)
        # what the query's column names hold (SELECT 1 AS "an address"): its record names
        # such a name by position, as a write's does; the relation keeps its names
        recorded = with_labels(state, [c for c in state.classification.columns
                                       if not is_pseudo(c)], gov.config.classification)
        op = gov.operation(Action.READ, recorded.classification, method="duckdb.sql",
                           sources=[Source(name=r, classification=recorded.classification)
                                    for r in state.lineage.roots()])
        gov.govern(op)
        result = run()
        _hand_on(result, state)
        return result
    if stmt.kind == "export" and stmt.query and stmt.file:
        state, _ = statement_state(con, stmt.query, known)
        columns = _written_columns(con, stmt.query, state)
        with _held_statement(con, sql, state, columns, held) as rows:
            state = _sampled_query(con, rows or stmt.query, state, columns, known=known)
            return govern_write(None, state, stmt.file, run, method="duckdb.copy",
                                columns=columns, append=stmt.adds)
    if stmt.kind == "write" and stmt.target and not stmt.values \
            and stmt.verb in ("create", "insert", "create_view"):
        home = _home(con, stmt.target, new=stmt.verb != "insert")
        if home == MEMORY:  # … RETURNING too: a write into memory is one whatever comes back
            state, _ = statement_state(con, sql, known)
            if stmt.verb == "create_view":  # a view holds no rows: its query is decided
                return _into_memory(con, stmt.target, state, run,  # where it is read
                                    method=f"duckdb.{stmt.verb}", stmt=stmt)
            with _held_statement(con, sql, state, None, held) as rows:
                state = _sampled_query(con, rows or sql, state, known=known)
                return _into_memory(con, stmt.target, state, run,
                                    method=f"duckdb.{stmt.verb}", stmt=stmt)
        if not stmt.returning:  # … RETURNING into a file: run_governed decides both
            state, _ = statement_state(con, sql, known)
            from lacuna.sql.tables import canonical

            target = f"{home}#{canonical(home, stmt.target)}"
            if stmt.verb == "create_view":
                made = govern_write(None, state, target, run, method=f"duckdb.{stmt.verb}",
                                    columns=list(state.classification.columns))
                computed.viewed(url_of(con), stmt.target, state.lineage)
                return made
            with _held_statement(con, sql, state, None, held) as rows:
                state = _sampled_query(con, rows or sql, state, known=known)
                return govern_write(None, state, target, run, method=f"duckdb.{stmt.verb}",
                                    columns=list(state.classification.columns))
    if stmt.kind == "write" and stmt.target and stmt.verb in _DML and _home(
            con, stmt.target, new=False) == MEMORY:
        return _dml_into_memory(con, stmt, params, run, many=many)
    if stmt.kind == "export" and stmt.verb == "export" and stmt.file:
        _refuse_sealed_export(stmt.file)
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import run_governed

    result, read = run_governed(gov, Database(_catalog(con), url_of(con), "duckdb"), sql,
                                args[1] if len(args) > 1 else None, run, many=many)
    if read is not None:  # … RETURNING
        _hand_on(result, DataState(classification=read.classification, lineage=LineageNode(
            name=None, operation="duckdb.sql")))
    return result


_DML = ("insert", "update", "merge", "copy_from")  # INSERT … SELECT is decided above


def _dml_into_memory(con: Any, stmt: Any, params: Any, run: Callable[[], Any], *,
                     many: bool) -> Any:
    """``INSERT … VALUES``, ``UPDATE``, ``MERGE`` or ``COPY … FROM`` into a table of an
    in-memory database: what it writes (classified as :func:`lacuna.sql.govern.run_governed`
    classifies it: literals and parameters by value, a query's columns by lineage) is a
    derived relation this process holds, as ``CREATE TABLE … AS`` into memory is
    (:func:`_into_memory`): governed as a read, and carried by the table's comment, combined
    with what it held. Before, ``INSERT INTO t VALUES ('kira@example.org')`` was refused as
    an export "to a database without classification support", which memory is not."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import write_of
    from lacuna.sql.restrict import check

    gov = _gov()
    method = f"duckdb.{stmt.verb}"
    check(gov, MEMORY, stmt, method)  # a dbt project's restrict rules, as run_governed's
    db = Database(_catalog(con), MEMORY, "duckdb")
    try:
        with _bypass.bypass(), outermost():
            produced = write_of(gov, db, stmt, params, many=many)
        c = produced.classification
    except Exception as exc:  # Lacuna failed before deciding: the strictest class
        c = Classification(tier=Tier.PROPRIETARY, floor=Tier.PROPRIETARY, reasoning=(
            f"PROPRIETARY (fail closed): Lacuna cannot classify this DuckDB {stmt.verb.upper()}"
            f": {exc}",))
    state = DataState(classification=c, lineage=LineageNode(name=None, operation=method))
    return _into_memory(con, stmt.target, state, run, method=method, stmt=stmt,
                        named=stmt.verb in ("insert", "update"))


_CREATE_TYPE = re.compile(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?TYPE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                          r"(?P<name>[^\s]+)\s+AS\s+(?P<body>.*?)[\s;]*", re.IGNORECASE | re.DOTALL)


def _created_type(sql: str) -> bool:
    """Whether ``sql`` is DuckDB's ``CREATE TYPE name AS …`` of a type that holds no data: a
    type (``STRUCT(a INT)``, ``VARCHAR``), or an ``ENUM`` of labels none of which is data a
    strong recognizer validates (``ENUM ('happy', 'sad')``), which runs as a statement that
    moves no data. Before, every ``CREATE TYPE`` was refused as a statement Lacuna does not
    know. An ``ENUM`` of e-mail addresses, or of a query's rows (``ENUM (SELECT email FROM
    customers)``), puts data into the catalog, which Lacuna reads as metadata (PUBLIC: it
    holds names, not values): refused, saying so; anything else is not a type (False: the
    statement stays unknown, fail closed).

    Raises:
        IntegrationError: an ``ENUM`` whose labels are data, or come from a query.
    """
    from sqlglot import TokenType

    from lacuna.classify.heuristic import data_in_names

    found = _CREATE_TYPE.fullmatch(sql)
    if found is None:
        return False
    try:
        tokens = list(sqlglot.Dialect.get_or_raise("duckdb").tokenize(found.group("body")))
    except sqlglot.errors.SqlglotError:
        return False
    name = found.group("name")
    if tokens and tokens[0].text.upper() == "ENUM":
        inside = tokens[1:]
        shape = {TokenType.L_PAREN, TokenType.R_PAREN, TokenType.COMMA, TokenType.STRING}
        if any(t.token_type not in shape for t in inside):
            _refuse(f"CREATE TYPE {name} AS ENUM (…) builds its labels from a query, which "
                    "puts the values it reads into the database's catalog, where Lacuna "
                    "reads names, never values (PUBLIC); it cannot govern them there. Nothing "
                    "was run. List the labels as literals (ENUM ('a', 'b')), or keep the "
                    "values in a table.")
        labels = [t.text for t in inside if t.token_type is TokenType.STRING]
        if data_in_names(labels):
            _refuse(f"CREATE TYPE {name} AS ENUM (…) has labels that are data (an e-mail "
                    "address, a card number, …): they would sit in the database's catalog, "
                    "where Lacuna reads names, never values (PUBLIC), and could leave from "
                    "there. Nothing was run. Keep such values in a table, where they are "
                    "classified and governed.")
        return True
    return not any(t.token_type in (TokenType.STRING, TokenType.SELECT) for t in tokens)


def _text(query: Any) -> Any:
    """A statement's SQL: ``query`` itself, or the text of a :class:`duckdb.Statement` (from
    ``con.extract_statements``), which DuckDB's ``execute``/``sql``/``query`` also run. Before,
    a Statement ran undecided: ``con.execute(con.extract_statements("COPY customers TO
    '~/Downloads/c.csv'")[0])`` wrote the customers."""
    statement = getattr(duckdb, "Statement", None)
    if statement is not None and isinstance(query, statement):
        return str(query.query)
    return query


def _hand_on(result: Any, state: DataState) -> None:
    """What a statement returns carries its state: a relation, or the connection whose pending
    result it is (``execute``), which its fetchers (``.df()``, ``.fetchdf()``, …) hand on."""
    if isinstance(result, duckdb.DuckDBPyRelation):
        STATES.set(result, state)
    elif isinstance(result, duckdb.DuckDBPyConnection):
        PENDING.set(result, state)


def _written_columns(con: Any, query: str, state: DataState) -> list[str]:
    """The column names ``COPY (query) TO`` writes as the file's header: DuckDB's (a PIVOT's
    come from its values, which the SQL's lineage does not know), or, when DuckDB cannot bind
    the query alone, the names the lineage knows."""
    try:
        with _bypass.bypass(), outermost():
            return [str(c) for c in con.sql(query).columns]
    except Exception:
        return [c for c in state.classification.columns if not is_pseudo(c)]


def _refuse_sealed_export(folder: str) -> None:
    """``EXPORT DATABASE 'folder'`` under a sealed governed root: refused (StorageError),
    never plaintext there. Its ``load.sql`` names the files by the folder's path, which
    ``IMPORT DATABASE`` (DuckDB opening them itself) would read as ciphertext."""
    from lacuna.integrations.frames.io import local_path
    from lacuna.storage.frames import refuse, writes_sealed

    if writes_sealed(local_path(folder)):
        refuse("duckdb EXPORT DATABASE", folder, "a database export DuckDB imports itself "
               "(IMPORT DATABASE opens its files)")


def _home(con: Any, table: str, *, new: bool) -> str:
    """The URL of the database a write into ``table`` lands in: the connection's own, or a
    file ATTACHed to it (``o.t`` after ``ATTACH 'file' AS o``), which even an in-memory
    connection writes to disk."""
    from lacuna.sql.catalog import Database

    url = url_of(con)
    with _bypass.bypass(), outermost():
        return Database(_catalog(con), url, "duckdb").attached(table, new=new) or url


def _keep_memory_record(con: Any, sql: str) -> None:
    """Refuse ``COMMENT ON TABLE t`` when ``t`` is an in-memory table whose comment is Lacuna's
    record of what it holds (:func:`_into_memory`: the only record; the lineage store keeps
    none for memory). Replaced, ``t`` would be classified by its names and values alone:
    ``md5(name) AS s`` read as PUBLIC and ``COPY t TO`` let out. Nothing runs."""
    from sqlglot.tokenizer_core import TokenType

    from lacuna.sql.catalog import Database
    from lacuna.sql.statements import table_name
    from lacuna.sql.tables import COMMENT_PREFIX

    try:  # the target only (sqlglot does not parse every value: ``IS NULL``)
        tokens = list(sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql))
        # the keyword, not its text: a table quoted "is" is an identifier token of that text
        cut = next(t.start for t in tokens if t.token_type is TokenType.IS)
        parsed = sqlglot.parse_one(sql[:cut] + "IS ''", dialect="duckdb")
    except (StopIteration, sqlglot.errors.SqlglotError):
        return  # no table to comment on: DuckDB refuses it as well
    if not isinstance(parsed, exp.Comment) or str(parsed.args.get("kind")).upper() != "TABLE":
        return
    table = table_name(parsed.this)
    if not table or _home(con, table, new=False) != MEMORY:
        return
    with _bypass.bypass(), outermost():
        info = Database(_catalog(con), MEMORY, "duckdb").table(table)
    if info is not None and (info.comment or "").startswith(COMMENT_PREFIX):
        _refuse(f"COMMENT ON TABLE {table}: the comment of in-memory table {table} is where "
                "Lacuna keeps the classification of what it holds (lacuna: {…}); replacing it "
                "would let its rows be read by their names and values alone. Nothing was run. "
                f"Comment on a column instead (COMMENT ON COLUMN {table}.c IS …), or write the "
                "table to a database file, where the lineage store keeps its classification.")


def _analysed(stmt: Any) -> bool:
    """Whether Lacuna analyses ``stmt``'s text itself (a query, ``COPY``, ``CREATE … AS``,
    ``INSERT … SELECT``): then its parameters are bound first. Other writes hand their
    parameters to :func:`lacuna.sql.govern.run_governed` with the statement."""
    return (stmt.kind in ("read", "export") or (stmt.kind == "pass" and stmt.verb == "select")
            or (stmt.kind == "write" and not stmt.values and stmt.verb in ("create", "insert"))
            # COPY … TO ?: unknown while the file is a parameter; bound, the file is written in
            or (stmt.kind == "unknown" and stmt.verb == "copy" and stmt.placeholders))


def _parameter_sets(params: Any) -> list[Any]:
    if isinstance(params, (list, tuple)) and all(isinstance(p, (list, tuple, dict))
                                                 for p in params):
        return list(params)
    _refuse("executemany takes a list of parameter sets (lists, tuples or dicts); Lacuna cannot "
            f"bind {type(params).__name__} into the statement to decide it. Nothing was run.")


def _refuse(message: str) -> NoReturn:
    """A statement Lacuna cannot decide as given: refused with ``message`` (an
    ``IntegrationError`` the caller sees as it is, not an internal failure), nothing run."""
    from lacuna.errors import IntegrationError
    from lacuna.integrations.pandas._patch import users_error

    exc = IntegrationError(message)
    users_error(exc)
    raise exc


def _bind(sql: str, params: Any) -> str:
    """``sql`` with its parameters (``?`` in order, ``$1``, ``$name``) written in as literals,
    so that what is decided (the file ``COPY`` writes, the file ``read_csv`` reads) is what
    runs.

    Raises:
        IntegrationError: a parameter is missing or of a type Lacuna cannot write as a literal
            (nothing has run).
    """
    parsed = sqlglot.parse_one(_numbered(sql), dialect="duckdb")
    for hole in list(parsed.find_all(exp.Placeholder)):
        key = str(hole.this)
        try:
            value = params[key] if isinstance(params, dict) else params[int(key) - 1]
        except (KeyError, IndexError, TypeError, ValueError):
            _refuse(f"the statement's parameter ${key} (or its {key}th ?) has no value in "
                    f"{params!r}, so Lacuna cannot tell what it reads or writes; nothing was "
                    "run.")
        hole.replace(_literal(value))
    return parsed.sql(dialect="duckdb")


def _numbered(sql: str) -> str:
    """``sql`` with each ``?`` written as ``$1``, ``$2``, … in the order they appear in the
    text (a tree's order is not the text's: ``COPY (… read_csv(?)) TO ?``)."""
    from sqlglot import TokenType
    from sqlglot.dialects.duckdb import DuckDB

    holes = [t for t in DuckDB().tokenize(sql) if t.token_type is TokenType.PLACEHOLDER
             and t.text == "?"]
    for number, token in reversed(list(enumerate(holes, start=1))):
        sql = f"{sql[:token.start]}${number}{sql[token.end + 1:]}"
    return sql


def _literal(value: Any) -> exp.Expr:
    import datetime as dt
    import decimal
    import math

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return exp.Literal.number(repr(value))
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    _refuse(f"Lacuna cannot bind a {type(value).__name__} parameter into the statement to "
            "decide it (it binds None, bool, numbers, str, date and datetime); nothing was run. "
            "Write the value into the SQL text, or pass one of those types.")


def _into_memory(con: Any, table: str, state: DataState, run: Callable[[], Any], *,
                 method: str, stmt: Any = None, named: bool = False) -> Any:
    """A table written into an in-memory database: a derived relation this process holds, like
    a frame, not an export (nothing leaves the process). Governed (and audited) as a read of
    what it holds; then the table carries the classification, combined with what it held
    before: Lacuna writes it as the table's comment, which :func:`classify_table` reads back
    (a comment only adds restrictions), so a later query, ``COPY`` or write of the table is
    decided on it. ``INSERT … RETURNING`` (``stmt``, its analysed statement) is also a read
    of the returned columns as the write leaves them (:func:`lacuna.sql.govern.returned`),
    decided before anything runs; its relation carries that classification."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import returned
    from lacuna.sql.tables import changed, classify_table, comment_text

    gov = _gov()
    db = Database(_catalog(con), MEMORY, "duckdb")
    with _bypass.bypass(), outermost():
        before = classify_table(gov, db, table)
        back = returned(gov, db, stmt, state.classification) if stmt is not None \
            and stmt.returning else None
    op = gov.operation(Action.READ, state.classification, method=method,
                       sources=[Source(name=r, classification=state.classification)
                                for r in state.lineage.roots()])
    gov.govern(op)
    if back is not None:  # what comes back, decided before anything runs (like the write)
        gov.govern(gov.operation(Action.READ, back.classification, method=method, sources=[
            Source(name=str(s), classification=back.classification) for s in back.sources]))
    result = run()
    if back is not None:
        _hand_on(result, DataState(classification=back.classification, lineage=LineageNode(
            name=None, operation=method)))
    if stmt is not None and stmt.verb == "create_view":  # a query, no rows: it holds what
        _label_view(con, table, state)  # its query reads, the view's comment says so
        return result
    with _bypass.bypass(), outermost():
        carried = state.classification if before is None else _appended(
            gov, db, table, before, state, method, named=named,
            into=tuple(stmt.columns) if stmt is not None and stmt.verb == "insert" else ())
        db.comment_on(table, comment_text(carried))
    changed(gov, MEMORY, table)
    return result


def _appended(gov: Any, db: Any, table: str, before: Classification, state: DataState,
              method: str, *, named: bool = False, into: tuple[str, ...] = ()
              ) -> Classification:
    """What a table holds after rows were added to it: its rows before and the new ones,
    combined by the governor (a COMBINE step). The new rows' columns go into the table's
    columns by name when ``named`` (an ``UPDATE``'s or ``INSERT … VALUES``' columns are the
    table's it writes), else by position: into the columns an ``INSERT`` lists (``into``:
    ``INSERT INTO t (b, a) SELECT name, region`` puts the names in ``b``, which was recorded
    as ``a``'s), or the table's; when their number differs, every table column is taken to
    hold any of them (fail closed)."""
    from lacuna.lineage.step import Step, StepInput, StepKind

    info = db.table(table)
    names = [c.name for c in info.columns] if info is not None else list(before.columns)
    added = list(state.classification.columns)
    column_map: dict[str, tuple[tuple[int, str], ...]]
    by_name = {n.lower(): n for n in added}
    listed = {c.lower(): i for i, c in enumerate(into)}
    if into and not named and len(into) == len(added) and len(listed) == len(into) and all(
            c in {t.lower() for t in names} for c in listed):
        column_map = {t: ((0, t), *(((1, added[listed[t.lower()]]),) if t.lower() in listed
                                    else ())) for t in names}
    elif named and added and len(by_name) == len(added) and all(
            n.lower() in {t.lower() for t in names} for n in added):
        # by name (UPDATE t SET v = …, INSERT INTO t (v) VALUES …: the columns it writes)
        column_map = {t: ((0, t), *(((1, by_name[t.lower()]),) if t.lower() in by_name
                                    else ())) for t in names}
    elif len(added) == len(names):
        column_map = {t: ((0, t), (1, n)) for t, n in zip(names, added, strict=True)}
    else:
        column_map = {t: ((0, t), *((1, n) for n in added)) for t in names}
    held = StepInput(classification=before, lineage=LineageNode(
        name=f"{MEMORY}#{table}", operation="table"))
    step = Step(kind=StepKind.COMBINE, operation=method, inputs=(held, StepInput.of(state)),
                outputs=tuple(names), column_map=column_map)
    classification: Classification = gov.inherit(step).classification
    return classification


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


def _copy_to(sql: str, file: str | None, to: str) -> str:
    """``COPY … TO 'file'`` retargeted to ``to`` (the file literal replaced)."""
    from lacuna.errors import StorageError

    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    hits = [lit for lit in parsed.find_all(exp.Literal)
            if lit.is_string and lit.this == file]
    if file is None or len(hits) != 1:
        msg = (f"cannot seal COPY … TO {file!r}: Lacuna cannot find its target in the "
               "statement. Nothing was written; write the file with a relation's "
               ".write_parquet()/.write_csv() instead.")
        raise StorageError(msg)
    hits[0].replace(exp.Literal.string(to))
    return parsed.sql(dialect="duckdb")


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

            home = (_home(self, table_name, new=name != "insert_into")
                    if isinstance(table_name, str) else url_of(self))
            state = _sampled_relation(rel, state)
            if home == MEMORY and isinstance(table_name, str):
                return _into_memory(self, table_name, state, run,
                                    method=f"duckdb.DuckDBPyRelation.{name}")
            from lacuna.sql.tables import canonical

            target = canonical(home, table_name) if isinstance(table_name, str) else table_name
            return govern_write(None, state, f"{home}#{target}", run,
                                method=f"duckdb.DuckDBPyRelation.{name}",
                                columns=list(self.columns))

        return write

    return make


def _converter(to: str) -> Make:
    """A relation's ``df``/``pl``/``to_arrow_table``/``to_arrow_reader``/…: what it returns
    carries the relation's state (:func:`carrying`)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def convert(self: Any, *args: Any, **kwargs: Any) -> Any:
            state = relation_state(self)
            with outermost(), _bypass.bypass():
                result = original(self, *args, **kwargs)
            if to == "pandas":
                if hasattr(result, "columns"):  # what no source accounts for: by its values
                    rows = int(_gov().config.classification.sample_rows)
                    state = computed.sampled(
                        state, [str(c) for c in result.columns],
                        lambda at: result.head(rows).iloc[:, at],
                        _gov().config.classification, reads_source=False,
                        whole=lambda at: _scannable(result, at))
                attach(result, state.classification, state.lineage, origins=state.origins)
                return result
            return carrying(result, state)

        return convert

    return make


def carrying(result: Any, state: DataState) -> Any:
    """``result`` (a pandas, polars or Arrow frame, or an Arrow reader) with ``state`` projected
    to its columns; a reader is handed back as one whose batches carry it. Anything else (the
    dict of arrays ``fetchnumpy``/``torch``/``tf`` give) is returned as it is."""
    import pandas as pd
    import pyarrow as pa

    from lacuna.integrations.pyarrow import _arrays

    config = _gov().config.classification
    rows = int(config.sample_rows)
    if isinstance(result, pa.RecordBatchReader):
        return _carrying_reader(result, state)
    if isinstance(result, (pd.DataFrame, pa.Table, pa.RecordBatch)) or type(
            result).__module__.startswith("polars"):  # what no source accounts for: its values
        state = computed.sampled(state, _names(result), lambda at: _head(result, rows).iloc[
            :, at], config, reads_source=False, whole=lambda at: _scannable(result, at))
    if isinstance(result, pd.DataFrame):
        now = effective(state, [str(c) for c in result.columns],
                        lambda names: result.head(rows)[list(names)], config)
        return attach(result, now.classification, now.lineage, origins=now.origins)
    if isinstance(result, (pa.Table, pa.RecordBatch)):
        now = effective(state, list(result.schema.names),
                        lambda names: result.slice(0, rows).to_pandas()[list(names)], config)
        STATES.set(result, now)
        _arrays.mark_table(result, now, how="merge")  # an array taken out keeps its class
        return result
    if type(result).__module__.startswith("polars"):
        def sample(names: Any) -> Any:
            head = result.head(rows)
            return (head.collect() if hasattr(head, "collect") else head).to_pandas()[
                list(names)]

        STATES.set(result, effective(state, list(result.collect_schema().names()), sample,
                                     config))
    return result


def _scannable(result: Any, positions: list[int]) -> Any:
    """A DuckDB relation of the columns at ``positions`` of every row of ``result`` (a pandas,
    Arrow or polars frame a relation was converted to), for :func:`computed.sampled`'s scan of
    what the user holds (not a second run of the source). On a scratch in-memory connection
    of Lacuna's, one cursor per call (a connection is not shared between threads)."""
    import pyarrow as pa

    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = duckdb.connect()
    con = _SCRATCH.cursor()
    with _bypass.bypass(), outermost():
        if isinstance(result, pa.RecordBatch):
            result = pa.Table.from_batches([result])
        if hasattr(result, "collect_schema"):  # polars
            collected = result.collect() if hasattr(result, "collect") else result
            rel = con.from_arrow(collected.to_arrow())
        elif isinstance(result, pa.Table):
            rel = con.from_arrow(result)
        else:
            rel = con.from_df(result.iloc[:, positions])
            return rel.project(", ".join(f"#{i + 1}" for i in range(len(positions))))
        return rel.project(", ".join(f"#{i + 1}" for i in positions))


_SCRATCH: Any = None


def _names(result: Any) -> list[str]:
    """The column names of a pandas, Arrow or polars frame."""
    import pyarrow as pa

    if isinstance(result, (pa.Table, pa.RecordBatch)):
        return [str(n) for n in result.schema.names]
    if hasattr(result, "collect_schema"):
        return [str(n) for n in result.collect_schema().names()]  # polars, lazy too
    return [str(c) for c in result.columns]


def _head(result: Any, rows: int) -> Any:
    """The first ``rows`` rows of a pandas, Arrow or polars frame, as pandas."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(result, pd.DataFrame):
        return result.head(rows)
    if isinstance(result, (pa.Table, pa.RecordBatch)):
        return result.slice(0, rows).to_pandas()
    head = result.head(rows)
    return (head.collect() if hasattr(head, "collect") else head).to_pandas()  # polars


def _carrying_reader(reader: Any, state: DataState) -> Any:
    """An Arrow reader over ``reader``'s batches, each carrying ``state`` (a table read from
    it, ``read_all()`` or ``Table.from_batches``, is recognised by its columns' buffers)."""
    import pyarrow as pa

    def batches() -> Any:
        for batch in reader:
            yield carrying(batch, state)

    out = pa.RecordBatchReader.from_batches(reader.schema, batches())
    STATES.set(out, state)
    return out


def _fetcher(module: bool) -> Make:
    """A connection's (``module``: the default connection's) ``df``/``fetchdf``/
    ``fetch_df_chunk``/``to_arrow_table``/``to_arrow_reader``/…: what it fetches of the pending
    result carries the state of the statement that made it (:data:`PENDING`)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def fetch(*args: Any, **kwargs: Any) -> Any:
            obj = args[0] if args else kwargs.get("df", kwargs.get("arrow_object"))
            # duckdb.df(frame), duckdb.arrow(table): creators; duckdb.fetch_df_chunk(1),
            # duckdb.to_arrow_table(1000): fetchers with a count
            if module and _is_data(obj):
                return _created(lambda: original(*args, **kwargs), obj, "duckdb.from_object")
            con = (kwargs.get("connection") or duckdb.default_connection()) if module \
                else args[0]
            state = PENDING.get(con)
            with outermost(), _bypass.bypass():
                result = original(*args, **kwargs)
            return result if state is None else carrying(result, state)

        return fetch

    return make


def _is_data(obj: Any) -> bool:
    """Whether ``obj`` is a frame or table a module function makes a relation of (pandas,
    polars, Arrow), not a fetcher's argument (a count, a flag)."""
    return obj is not None and type(obj).__module__.partition(".")[0] in (
        "pandas", "polars", "pyarrow")


@contextmanager
def _users_own_errors() -> Iterator[None]:
    """DuckDB refusing the user's input inside a hook (a frame with no columns, a bad
    argument): the user's error, raised as plain DuckDB raises it, not a failure of Lacuna's
    (:func:`lacuna.integrations.pandas._patch.users_error`)."""
    try:
        yield
    except duckdb.Error as exc:
        from lacuna.integrations.pandas._patch import users_error

        users_error(exc)
        raise


def _created(make_relation: Callable[[], Any], obj: Any, method: str) -> Any:
    """A relation made over a Python object (``from_df``, ``from_arrow``): governed as a read
    of the object, as ``duckdb.sql("SELECT * FROM frame")`` is, and carrying its state."""
    state = _object_state(obj)
    if state is not None:
        gov = _gov()
        gov.govern(gov.operation(Action.READ, state.classification, method=method, sources=[
            Source(name=r, classification=state.classification)
            for r in state.lineage.roots()]))
    with _users_own_errors(), outermost():
        rel = make_relation()
    if state is not None and isinstance(rel, duckdb.DuckDBPyRelation):
        if computed.one_shot(obj):  # its rows are the user's to read once: never sampled
            from dataclasses import replace

            state = replace(state, lineage=LineageNode(name=None, operation=method,
                                                       parents=(state.lineage,)))
            computed.once(state.lineage)
        STATES.set(rel, state)
    return rel


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


# relation methods whose rows come from their relation's, with some of its columns as they are
_KEEPS = frozenset({"filter", "order", "sort", "limit", "offset", "head", "distinct",
                    "set_alias", "materialize", "sample", "to_view", "create_view", "drop",
                    "select_types", "select_dtypes"})
# relation methods written as SQL over their relation: classified by the SQL column lineage
_AS_SQL = frozenset({"project", "select", "aggregate", "unique"})
# relation methods combining their relation with others: each column of theirs, by name or
# (set operations) by position
_COMBINES = frozenset({"join", "cross", "union", "union_by_name", "except_", "intersect"})
_SET_OPERATIONS = frozenset({"union", "union_by_name", "except_", "intersect"})
# what is not a relation method that makes a relation (or is decided by its own hook)
_NOT_DERIVING = frozenset({
    "close", "show", "explain", "sql_query", "fetchall", "fetchone", "fetchmany", "iter_rows",
    "to_dicts", "preview", "fetchnumpy", "torch", "tf", "insert", "update", "execute",
    "write_csv", "write_parquet", "to_csv", "to_parquet", "create", "to_table", "insert_into",
    "query",
    "df", "to_df", "fetchdf", "fetch_df", "pl", "arrow", "fetch_arrow_table", "to_arrow_table",
    "to_arrow_reader", "fetch_arrow_reader", "fetch_record_batch"})
_RELATION = "__lacuna_relation"
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


def _label_view(rel: Any, view: str, state: DataState | None = None) -> None:
    """``rel.create_view(view)`` (or ``CREATE VIEW view AS …`` on a connection, ``rel``, whose
    query has ``state``): the catalog view carries the relation's classification as its
    comment, as a table written into an in-memory database does, so a later ``SELECT … FROM
    view`` is decided on it (a comment only adds restrictions), not on its names and values."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.tables import changed, comment_text

    state = relation_state(rel) if state is None else state
    url = url_of(rel)
    computed.viewed(url, view, state.lineage)
    try:
        with _bypass.bypass(), outermost():
            Database(_catalog(rel), url, "duckdb").comment_on(
                view, comment_text(state.classification), kind="VIEW")
    except Exception as exc:  # the view exists unlabelled: read later from its values
        log.warning("could not label the DuckDB view %s with its relation's classification "
                    "(%s): reads of it are classified from its names and values", view, exc)
        return
    changed(_gov(), url, view)


def derived_state(name: str, rel: Any, result: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> DataState | None:
    """The state of ``result``, what ``rel.<name>(*args, **kwargs)`` returned.

    Rows and columns kept (``filter``, ``limit``, ``set_alias``, …): ``rel``'s state. Written
    as SQL over ``rel`` (``project``, ``aggregate``, ``query``): the SQL column lineage, as
    ``duckdb.sql`` classifies it. Combined with other relations (``join``, ``union``, …): each
    column takes the classes of the columns it came from. Any other method, or a column none
    of these can account for: the strictest class of every input column (fail closed). None
    when no input is tracked and nothing else is read (the result is classified at the
    boundary from its names and values, as its inputs would be)."""
    others = [a for a in (*args, *kwargs.values()) if isinstance(a, duckdb.DuckDBPyRelation)]
    inputs = [rel, *others]
    tracked = any(_tracked(r) for r in inputs)
    columns = [str(c) for c in result.columns]
    if name in _KEEPS and set(columns) <= {str(c) for c in rel.columns}:
        return relation_state(rel) if tracked else None
    sql = _written_as_sql(name, args, kwargs, _alias(rel)) if name in _AS_SQL else None
    if sql is not None:
        reads_more = any(t.name != sql[1] for t in sqlglot.parse_one(
            sql[0], dialect="duckdb").find_all(exp.Table))
        if not tracked and not reads_more:
            return None
        state, _ = statement_state(rel, sql[0], known={sql[1]: relation_state(rel)})
        if all(c in state.classification.columns for c in columns):
            return state
        return _strictest(f"duckdb.DuckDBPyRelation.{name}", columns,
                          [relation_state(rel), state])
    if not tracked:
        return None
    states = [relation_state(r) for r in inputs]
    if name in _COMBINES:
        return _joined(name, columns, states)
    return _strictest(f"duckdb.DuckDBPyRelation.{name}", columns, states)


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


def _tracked(rel: Any) -> bool:
    return STATES.get(rel) is not None or MAPPED.get(rel) is not None


def _alias(rel: Any) -> str:
    alias = getattr(rel, "alias", None)
    return alias if isinstance(alias, str) and alias else _RELATION


def _written_as_sql(name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                    alias: str = "") -> tuple[str, str] | None:
    """``(sql, the name it reads the relation by)`` doing what ``rel.<name>(...)`` does, the
    relation read under its ``alias`` (``rel.set_alias("z").project("z.x")``), or None when
    Lacuna cannot write it (then the method is classified fail closed)."""
    def text(value: Any) -> str | None:
        if isinstance(value, (list, tuple)):
            parts = [text(v) for v in value]
            return None if any(p is None for p in parts) else ", ".join(
                p for p in parts if p is not None)
        return value if isinstance(value, str) else str(value) if isinstance(
            value, duckdb.Expression) else None

    quoted = alias.replace('"', '""')
    source = f'{_RELATION} AS "{quoted}"' if alias and alias != _RELATION else _RELATION
    if name in ("project", "select"):
        if kwargs.get("groups"):
            return None
        exprs = text(list(args))
        return (f"SELECT {exprs} FROM {source}", _RELATION) if exprs else None
    if name == "aggregate":
        given = {**dict(zip(("aggr_expr", "group_expr"), args, strict=False)), **kwargs}
        aggr, group = text(given.get("aggr_expr")), text(given.get("group_expr", ""))
        if not aggr or group is None:
            return None
        return (f"SELECT {aggr} FROM {source}" + (f" GROUP BY {group}" if group else ""),
                _RELATION)
    column = text(args[0] if args else kwargs.get("unique_aggr"))  # unique
    return (f"SELECT DISTINCT {column} FROM {source}", _RELATION) if column else None


def _joined(name: str, columns: list[str], states: list[DataState]) -> DataState:
    """A join's or set operation's result: each column from the inputs' columns of its name
    (a set operation's also from theirs at its position); a column found nowhere (a suffixed
    duplicate) from every input column (fail closed)."""
    held = [list(s.classification.columns) for s in states]
    every = tuple((i, c) for i, cols in enumerate(held) for c in cols)
    column_map: dict[str, tuple[tuple[int, str], ...]] = {}
    for at, out in enumerate(columns):
        found = [(i, out) for i, cols in enumerate(held) if out in cols]
        if name in _SET_OPERATIONS:
            found += [(i, cols[at]) for i, cols in enumerate(held) if at < len(cols)]
        column_map[out] = tuple(dict.fromkeys(found)) or every
    return _stepped(name, columns, states, column_map)


def _strictest(operation: str, columns: list[str], states: list[DataState]) -> DataState:
    """Each column of a result taken to hold any column of ``states`` (fail closed)."""
    every = tuple((i, c) for i, s in enumerate(states) for c in s.classification.columns)
    return _stepped(operation.rsplit(".", 1)[-1], columns, states,
                    dict.fromkeys(columns, every))


def _stepped(name: str, columns: list[str], states: list[DataState],
             column_map: dict[str, tuple[tuple[int, str], ...]]) -> DataState:
    from lacuna.lineage.step import Step, StepInput, StepKind

    step = Step(kind=StepKind.COMBINE, operation=f"duckdb.DuckDBPyRelation.{name}",
                inputs=tuple(StepInput.of(s) for s in states), outputs=tuple(columns),
                column_map=column_map)
    state: DataState = _gov().inherit(step).state()
    return state


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


_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)

__all__ = [
    "classification",
    "hold",
    "install",
    "installed",
    "relation_state",
    "release",
    "statement_state",
    "uninstall",
]

