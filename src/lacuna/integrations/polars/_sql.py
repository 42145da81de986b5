"""polars SQL: ``pl.sql``, ``pl.SQLContext`` and ``DataFrame.sql``/``LazyFrame.sql``.

Every way polars registers a table ends in ``SQLContext.register(name, frame)``: the
constructor (``frames=``, keywords, ``register_globals=``), ``register_many``,
``register_globals``, ``pl.sql`` (``execute_global``: the frames of the caller's scope the
statement names) and ``DataFrame.sql`` (the frame as ``self``). That hook records the state
of what was registered, per context (a frame Lacuna does not track, a pandas frame, an Arrow
table: classified from its names and values, as any untracked frame is); ``unregister`` and
``DROP TABLE`` forget it, ``CREATE TABLE … AS`` records the query's state under the new name.

``SQLContext.execute`` (which ``pl.sql`` and ``DataFrame.sql`` run) gives its result the
state of the statement: the SQL column lineage (:func:`lacuna.lineage.sql.classify_sql`) over
the registered tables' classifications, each output column relabelled by position to the name
polars gave it, with each output column's origins traced through the statement's column
edges (as DuckDB's path traces them: a governed write records the column lineage); a table
function (``read_csv('x.csv')``, ``read_parquet``, ...) is classified as a read of its file
(a sealed governed file is refused: polars would read ciphertext). A table Lacuna did not see
registered (the context was made before ``lacuna.enable()``) is
classified from its names and values. A statement Lacuna cannot resolve (a parse error, an
output it cannot map) fails closed: the result carries the strictest state of every table
registered, which is also its floor. When the SQL analysis does not import (sqlglot, or a
module of Lacuna, missing or broken), ``execute`` is refused in every mode before polars runs
it, as the DB-API and DuckDB integrations refuse a statement
(:func:`lacuna.sql.require_analysis`: a ComponentImportError that says what to install).

These hooks run for polars' own calls too (``pl.sql`` and ``DataFrame.sql`` call them from
inside a hooked call): registration and execution are where the tables are known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp

from lacuna import _bypass
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import STATES, WeakRegistry
from lacuna.integrations.polars._ops import columns_of, settings, state
from lacuna.lineage.frames import traced_origins
from lacuna.lineage.records import DatasetRef
from lacuna.lineage.state import DataState, LineageNode
from lacuna.lineage.step import Step, StepInput, StepKind
from lacuna.model import Classification, FrozenDict

_DIALECT = "duckdb"  # the sqlglot dialect nearest polars' SQL (EXCLUDE, ILIKE, ORDER BY ALL)
_OPERATION = "polars.sql"
_NAMESPACE = "polars"  # the namespace the column lineage names the statement's tables in
_UNNAMED = re.compile(r"_col_\d+$")  # sqlglot's name for an expression without an alias
# polars SQL's table functions -> the scanner reading the same file
_FILE_FUNCTIONS = {"read_csv": "scan_csv", "read_parquet": "scan_parquet",
                   "read_ipc": "scan_ipc", "read_json": "scan_ndjson",
                   "read_ndjson": "scan_ndjson"}

# SQLContext -> {table name: the state of what was registered under it}
TABLES: WeakRegistry[dict[str, DataState]] = WeakRegistry()


def _tables(ctx: Any) -> dict[str, DataState]:
    found = TABLES.get(ctx)
    if found is None:
        found = {}
        TABLES.set(ctx, found)
    return found


# -- registration -------------------------------------------------------------------------------


def object_state(obj: Any) -> DataState:
    """The state of anything ``SQLContext.register`` accepts: a polars frame or Series, a
    pandas frame or Series, an Arrow table or batch (an untracked one: from its names and
    values), None (an empty table)."""
    if obj is None:  # polars registers an empty frame
        return DataState(classification=Classification(), lineage=LineageNode(
            name=None, operation=f"{_OPERATION}: an empty table"))
    if isinstance(obj, (pl.DataFrame, pl.LazyFrame)):
        return state(obj)
    if isinstance(obj, pl.Series):
        from lacuna.integrations.polars._series import _series_state, taken_of

        found = taken_of(obj)
        if found is not None and found.sources:
            return _series_state(found, obj.name)
        with _bypass.bypass(), outermost():
            return state(obj.to_frame())
    module = type(obj).__module__
    if module.startswith("pandas"):
        from lacuna.lineage.frames import effective_state

        return effective_state(obj, settings())
    if module.startswith("pyarrow"):
        from lacuna.integrations.pyarrow import table_state

        return table_state(obj)
    with _bypass.bypass(), outermost():  # an Arrow PyCapsule: as polars reads it
        return state(pl.DataFrame(obj))


def _given(args: tuple[Any, ...], kwargs: dict[str, Any], *names: str) -> dict[str, Any]:
    """The arguments of a call by name (``names``: its positional parameters, in order)."""
    return {**dict(zip(names, args, strict=False)), **kwargs}


def registering(original: Callable[..., Any]) -> Callable[..., Any]:
    def register(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        given = _given(args, kwargs, "name", "frame")
        _tables(self)[str(given.get("name"))] = object_state(given.get("frame"))
        return result

    return register


def unregistering(original: Callable[..., Any]) -> Callable[..., Any]:
    def unregister(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(self, *args, **kwargs)
        names = _given(args, kwargs, "names").get("names")
        known = _tables(self)
        for name in [names] if isinstance(names, str) else list(names or ()):
            known.pop(str(name), None)
        return result

    return unregister


# -- execution ----------------------------------------------------------------------------------


def executing(original: Callable[..., Any]) -> Callable[..., Any]:
    from lacuna.sql import require_analysis

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        # or ComponentImportError, saying what to install, in every mode: nothing runs (before,
        # polars ran it and the result took the strictest registered table's class)
        require_analysis()
        query = _given(args, kwargs, "query").get("query")
        if isinstance(query, str):
            _refuse_sealed(query)
        with outermost():
            result = original(self, *args, **kwargs)
        if isinstance(query, str) and isinstance(result, (pl.DataFrame, pl.LazyFrame)):
            executed(self, query, result)
        return result

    return execute


def executed(ctx: Any, query: str, result: pl.DataFrame | pl.LazyFrame) -> None:
    """``ctx.execute(query)`` returned ``result``: its state is the statement's."""
    known = _tables(ctx)
    try:
        parsed = sqlglot.parse_one(query, dialect=_DIALECT)
    except Exception as exc:
        STATES.set(result, _fail_closed(known, result, f"polars cannot be followed: {exc}"))
        return
    if isinstance(parsed, exp.Drop):
        for table in parsed.find_all(exp.Table):
            known.pop(table.name, None)
        return  # a response: no data
    if isinstance(parsed, exp.Create) and isinstance(parsed.expression, exp.Query):
        made = parsed.this.find(exp.Table) if not isinstance(parsed.this, exp.Table) \
            else parsed.this
        if made is not None:
            with _bypass.bypass(), outermost():  # what the new table holds, as polars names it
                table = ctx.execute(f'SELECT * FROM "{made.name}"')
            known[made.name] = statement_state(ctx, parsed.expression, table)
        return  # the result is polars' response ("CREATE TABLE x"): no data
    if isinstance(parsed, exp.Show):
        return  # table names
    STATES.set(result, statement_state(ctx, parsed, result))


def statement_state(ctx: Any, parsed: exp.Expr, result: pl.DataFrame | pl.LazyFrame
                    ) -> DataState:
    """The state of what the query ``parsed`` produced as ``result``, from the states of the
    tables it reads (see the module docstring)."""
    from lacuna.lineage.sql import classify_sql

    known = _tables(ctx)
    parsed = parsed.copy()
    schema: dict[str, Classification] = {}
    states: list[DataState] = []
    held: dict[str, DataState] = {}  # each table the statement reads, as it names it
    try:
        for i, (table, kind, path) in enumerate(_files(parsed)):
            found = _file_state(kind, path, table.this.sql(dialect=_DIALECT))
            placeholder = f"__lacuna_source_{i}"
            alias = table.alias or None
            table.replace(exp.to_table(placeholder).as_(alias) if alias
                          else exp.to_table(placeholder))
            schema[placeholder] = found.classification
            states.append(found)
            held[placeholder] = found
        named = {c.alias_or_name for c in parsed.find_all(exp.CTE)}
        for table in parsed.find_all(exp.Table):
            name = table.name
            if name in schema or name in named:
                continue
            found = known.get(name) or _unregistered(ctx, name)
            schema[name] = found.classification
            states.append(found)
            held[name] = found
        lineage = classify_sql(parsed.sql(dialect=_DIALECT), schema=schema, dialect=_DIALECT,
                               namespace=_NAMESPACE, config=settings())
        columns = columns_of(result)
        _same_outputs(parsed, lineage.columns, columns)
        traced = traced_origins(lineage.edges, {DatasetRef(_NAMESPACE, name): state.origins
                                                for name, state in held.items()})
    except Exception as exc:
        return _fail_closed({**known, **{f"input {i}": s for i, s in enumerate(states)}},
                            result, str(exc))
    given = lineage.classification
    moved = {new: given.columns[old] for old, new in zip(lineage.columns, columns, strict=True)
             if old in given.columns}
    # the origins of each output column, through the statement's column edges, under the name
    # polars gave it (a write recorded no column edges, where DuckDB's same statement does)
    origins = {new: traced[old] for old, new in zip(lineage.columns, columns, strict=True)
               if old in traced}
    node = LineageNode(name=None, operation=_OPERATION,
                       parents=tuple(s.lineage for s in states))
    return DataState(classification=replace(given, columns=FrozenDict(moved)), lineage=node,
                     origins=FrozenDict(origins))


def _same_outputs(parsed: exp.Expr, named: Sequence[str], columns: Sequence[str]) -> None:
    """Raises unless the column lineage's outputs are polars' by position: as many, a named
    one under the same name (case aside), and no ``COLUMNS(...)``, which polars expands to
    columns the lineage does not know."""
    found = next(parsed.find_all(exp.Columns), None)
    if found is not None:
        msg = f"{found.sql(dialect=_DIALECT)} selects columns by pattern"
        raise ValueError(msg)
    if len(named) != len(columns):
        msg = f"the statement gives {len(named)} column(s) where polars gave {len(columns)}"
        raise ValueError(msg)
    for ours, theirs in zip(named, columns, strict=True):
        if not _UNNAMED.match(ours) and ours.lower() != theirs.lower():
            msg = f"polars names the output column {ours!r} {theirs!r}"
            raise ValueError(msg)


def _unregistered(ctx: Any, name: str) -> DataState:
    """A table of ``ctx`` Lacuna did not see registered: classified from its names and
    values, as any untracked frame is."""
    with _bypass.bypass(), outermost():
        table = ctx.execute(f'SELECT * FROM "{name}"')
    return state(table)


def _files(parsed: exp.Expr) -> list[tuple[exp.Table, str, str | None]]:
    """The tables of ``parsed`` that are table functions: each with the function's name and
    the path it reads (None: not a literal)."""
    found = []
    for table in parsed.find_all(exp.Table):
        function = table.this
        if not isinstance(function, (exp.Anonymous, exp.Func)) or isinstance(
                function, exp.Identifier):
            continue
        kind = (function.name if isinstance(function, exp.Anonymous) else
                function.sql_name() if isinstance(function, exp.Func) else "").lower()
        arguments = list(function.args.get("expressions") or []) or [function.this]
        path = arguments[0].name if isinstance(arguments[0], exp.Literal) else None
        found.append((table, kind, path))
    return found


def _refuse_sealed(query: str) -> None:
    """A table function naming a sealed governed file is refused before polars reads its
    ciphertext (a statement that does not parse is left to polars, and then fails closed)."""
    from lacuna.storage.frames import refuse_sealed_in_sql

    try:
        parsed = sqlglot.parse_one(query, dialect=_DIALECT)
    except Exception:
        return
    for _, kind, path in _files(parsed):
        if path is not None:
            scanner = _FILE_FUNCTIONS.get(kind, "scan_csv")
            refuse_sealed_in_sql(path, "polars", f"frame = pl.{scanner}(path), then query "
                                                 "frame")


def _file_state(kind: str, path: str | None, text: str) -> DataState:
    """A table function reading a file (``read_csv('x.csv')``): classified as a read of it."""
    from lacuna.integrations.frames.io import govern_read

    if kind not in _FILE_FUNCTIONS or path is None:
        msg = f"polars SQL table function {text} is not one Lacuna reads"
        raise ValueError(msg)
    config = settings()
    with _bypass.bypass(), outermost():
        scanner = getattr(pl, _FILE_FUNCTIONS[kind])
        frame = scanner(path).head(config.sample_rows).collect().to_pandas()
    return govern_read(method=f"{_OPERATION}.{kind}", target=path, frame=frame, rows=-1)


def _fail_closed(states: Mapping[str, DataState], result: pl.DataFrame | pl.LazyFrame,
                 why: str) -> DataState:
    """The strictest state of every table the context holds, as the result's floor too."""
    from lacuna.governor import current

    inputs: Iterable[DataState] = states.values()
    reason = (f"the polars SQL statement cannot be followed column by column ({why}): the "
              "result carries the strictest class of every registered table (fail closed)")
    if not states:
        return DataState(classification=Classification.fail_closed(
            f"{reason}; no table is registered"),
            lineage=LineageNode(name=None, operation=_OPERATION))
    step = Step(kind=StepKind.COMBINE, operation=_OPERATION,
                inputs=tuple(StepInput.of(s) for s in inputs),
                outputs=tuple(columns_of(result)), column_map=FrozenDict())
    done = current().inherit(step).state()
    found = done.classification
    return replace(done, classification=replace(
        found, floor=max(found.floor, found.tier),
        reasoning=(f"{found.tier.value}: {reason}", *found.reasoning)))
