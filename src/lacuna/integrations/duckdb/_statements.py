"""A DuckDB statement classified (:func:`statement_state`), and what it writes sampled and
held before the write."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache, partial
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from lacuna import _bypass
from lacuna.classify.header import is_pseudo
from lacuna.errors import IntegrationError
from lacuna.integrations.duckdb import computed
from lacuna.integrations.duckdb._base import (
    _METADATA_SCHEMAS,
    _RELATION,
    REGISTERED,
    _catalog,
    _gov,
    column_names,
    url_of,
)
from lacuna.integrations.duckdb._files import _file_state, _refuse_sealed_arguments
from lacuna.integrations.duckdb._relations import _object_state, _variable, _with_view
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import k_again
from lacuna.lineage.frames import traced_origins
from lacuna.lineage.records import ColumnEdge, DatasetRef
from lacuna.lineage.state import DataState, LineageNode, Origin, Origins
from lacuna.model import Classification, FrozenDict


def statement_state(con: Any, sql: str, known: dict[str, DataState] | None = None, *,
                    whole: bool = False) -> tuple[DataState, list[DataState]]:
    """The classification (with lineage) of what ``sql`` produces, and its sources' states.

    ``known``: names the statement reads that stand for a state Lacuna already holds (the
    relation a ``rel.query(name, sql)`` or ``rel.project(...)`` runs over), looked up first.
    ``whole``: the caller writes what ``sql`` produces and samples it first
    (:func:`_sampled_query`, which scans every row written); then a statement that writes one
    catalog table whole (:func:`_whole_table`) has it classified from its first rows here and
    from a spread of all its rows in that scan (:func:`computed.spread_later`), not also in a
    pass of its own (a view's reservoir sample ran the view over every row before the scan
    ran it again)."""
    from lacuna.lineage.sql import classify_sql
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import session_held, user_defined
    from lacuna.sql.statements import called_functions, reads_session, table_name
    from lacuna.sql.tables import classify_table, origins, same_depth

    gov = _gov()
    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    # before a table function is replaced below: ``FROM m()`` of a table macro calls it too
    called = called_functions(parsed)
    anew = computed.drawn(parsed)  # as is: ``range(9) TABLESAMPLE …`` is replaced below
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
    db = Database(_catalog(con), url_of(con), "duckdb").remembering()  # read once each
    held = dict(zip(schema, states, strict=True))  # the files' placeholders, by name
    later = _whole_table(parsed) if whole else None  # classified from a spread at the write
    # read from this database's catalog (each column is itself): each one's database and its
    # name there (Database.located)
    homes: dict[str, tuple[str, str]] = {}
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
        catalog: Classification | None = None
        if found is None and registered is None:
            found = _stateful_view(con, db, name)  # its query must not run for a look
        if found is None and registered is None:  # DuckDB reads a catalog table (or view) of
            with _bypass.bypass(), outermost():  # the name before a Python variable of it:
                # a frame ``t`` in scope was taken for table ``t`` of e-mails, and COPY
                # (SELECT c FROM t) TO wrote them
                spread = name != later or bool(db.generated(name))  # (generated: _derived)
                catalog = classify_table(gov, db, name, spread=spread)
                if not spread and catalog is not None:
                    later = _SPREAD_LATER
        obj = registered if registered is not None else (
            _variable(name) if found is None and catalog is None and name == table.name
            else None)  # by bare name, as DuckDB's replacement scan finds it
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
        if found is None and catalog is not None:
            with _bypass.bypass(), outermost():  # o.t of an attached file: the file's t
                homes[name] = db.located(name)
            found = DataState(classification=catalog, lineage=LineageNode(
                name="#".join(homes[name]), operation=computed.TABLE,  # when Lacuna saw
                parents=computed.view_parents(  # it made: a view's query
                    db.url, name, partial(_comment, db, name))))
        if found is not None:
            schema[name] = found.classification
            states.append(found)
            held[name] = found
    try:
        names = same_depth(schema, "duckdb")  # INSERT INTO o.t … FROM customers: one depth
        lineage = classify_sql(rewritten, schema={names[n]: c for n, c in schema.items()},
                               dialect="duckdb", namespace=db.url,
                               config=gov.config.classification,
                               origins={**origins(db.url, names, homes), **{
                                   names[n]: f"{db.url}#{n}" for n in files}})
        result = _named_files(lineage.classification, {names[n]: t for n, t in files.items()})
        traced = _column_origins(db.url, names, held, homes, lineage.edges)
        edges, read = lineage.edges, {DatasetRef(db.url, names[n]): s for n, s in held.items()}
    except Exception as exc:
        result = Classification.fail_closed(
            f"Lacuna cannot classify this DuckDB statement: {exc}")
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
    if later is _SPREAD_LATER:  # the table's spread: in the write's scan (computed.sampled)
        computed.spread_later(node, _spread_class)
    # the columns no classified source accounts for: sampled at a write (computed.sampled)
    computed.remember(node, result.columns, edges, read, parsed, anew=anew)
    if streams:
        computed.once(node)
    return DataState(classification=result, lineage=node, origins=traced), states


_SPREAD_LATER = "\x00spread later"  # statement_state: the whole table was classified so


def _spread_class(names: list[str], rows: list[tuple[Any, ...]]) -> Classification:
    """:func:`lacuna.sql.tables.spread_class` for the governor of the write (none is held)."""
    from lacuna.sql.tables import spread_class

    return spread_class(_gov(), names, rows)


def _whole_table(parsed: exp.Expr) -> str | None:
    """The one catalog table (or view) a statement writes whole, as it names it: its query
    is ``SELECT * FROM t`` (``COPY t TO``, ``CREATE TABLE u AS SELECT * FROM t``, ``INSERT
    INTO u SELECT * FROM t``), with no filter, grouping, join, limit, sample, ``DISTINCT`` or
    other source, so every row and column of ``t`` is written and a scan of what is written
    is a scan of ``t``. None for any other statement."""
    from lacuna.sql.statements import table_name

    query = parsed.expression if isinstance(parsed, (exp.Create, exp.Insert)) else parsed
    if not isinstance(query, exp.Select) or len(query.expressions) != 1 or not isinstance(
            query.expressions[0], exp.Star) or any(query.expressions[0].args.values()):
        return None  # SELECT * EXCLUDE (a) / REPLACE (…) / RENAME (…): not the table whole
    if any(query.args.get(k) for k in _NOT_WHOLE):
        return None
    source = query.args.get("from") or query.args.get("from_")
    tables = list(query.find_all(exp.Table))
    if source is None or len(tables) != 1 or source.this is not tables[0]:
        return None  # a subquery, a table function, a file, two tables
    table = tables[0]
    if not isinstance(table.this, exp.Identifier) or any(
            table.args.get(k) for k in ("sample", "joins", "pivots", "laterals")):
        return None
    return table_name(table) or None


# a query's parts any of which writes other than every row of its table once
_NOT_WHOLE = ("with", "with_", "joins", "where", "group", "having", "qualify", "limit",
              "offset", "distinct", "sample", "laterals", "pivots", "windows", "into",
              "connect", "prewhere")


def _stateful_view(con: Any, db: Any, name: str) -> DataState | None:
    """The state of view ``name`` of ``db`` when its query changes the database as it runs (a
    sequence's ``nextval``/``setval``): classified from that query (its sources' classes, by
    the SQL column lineage), never by running it, and marked as not to be read again for a
    sample (:func:`computed.once`): a write whose columns need one is refused before anything
    runs. Before, the view's values were counted and sampled like a table's, each look
    advancing the sequence: a refused ``COPY v TO`` left it moved, and an allowed read wrote
    other numbers than plain DuckDB. None for any other name (a table, a view that only
    reads). A view Lacuna cannot read so is PROPRIETARY (fail closed)."""
    with _bypass.bypass(), outermost():
        text = db.view_sql(name)
    if not text or not _advances(db, text):
        return None
    try:
        parsed = sqlglot.parse_one(text, dialect="duckdb")
        query = parsed.expression if isinstance(parsed, exp.Create) else None
        if not isinstance(query, exp.Query):
            msg = f"its definition is not a query: {text[:200]}"
            raise ValueError(msg)
        inner, _ = statement_state(con, query.sql(dialect="duckdb"))
    except Exception as exc:
        inner = DataState(classification=Classification.fail_closed(
            f"Lacuna cannot classify view {name}, whose query advances a sequence (so it is "
            f"not sampled), from its definition: {exc}"),
            lineage=LineageNode(name=None, operation=computed.STATEMENT))
    node = LineageNode(name=f"{db.url}#{name}", operation=computed.TABLE,
                       parents=(inner.lineage,))
    computed.once(node, computed.SEQUENCE)
    return DataState(classification=inner.classification, lineage=node, origins=inner.origins)


def _advances(db: Any, text: str, depth: int = 0) -> bool:
    """Whether view definition ``text`` calls a sequence function (:data:`computed.STATEFUL`),
    itself or in a view it reads (``CREATE VIEW w AS SELECT * FROM v``, ``v`` calling
    ``nextval``: reading ``w`` advances the sequence too). One sqlglot cannot parse counts
    when its text names such a function; views nested past 16 deep count (fail closed)."""
    if depth > 16:
        return True
    try:
        parsed = sqlglot.parse_one(text, dialect="duckdb")
    except sqlglot.errors.SqlglotError:
        return any(f in text.lower() for f in computed.STATEFUL)
    if computed.stateful(parsed):
        return True
    from lacuna.sql.statements import table_name

    query = parsed.expression if isinstance(parsed, exp.Create) else parsed  # not the view
    for table in query.find_all(exp.Table) if query is not None else ():
        name = table_name(table)
        if not name or not isinstance(table.this, exp.Identifier):
            continue
        with _bypass.bypass(), outermost():
            inner = db.view_sql(name)
        if inner and _advances(db, inner, depth + 1):
            return True
    return False


def _comment(db: Any, name: str) -> str | None:
    """The comment of ``name`` in ``db`` (a view's names the statement it was made from:
    :func:`computed.view_parents`); None when it cannot be read."""
    try:
        with _bypass.bypass(), outermost():
            found: str | None = db.comment(name)
    except Exception:  # no comment read: no parent taken from it
        return None
    return found


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
    limit = int(config.sample_rows)

    @cache
    def query_text() -> str:  # a COPY's query as written; a CREATE's or INSERT's as sqlglot
        parsed = sqlglot.parse_one(query, dialect="duckdb")  # writes it
        if isinstance(parsed, (exp.Create, exp.Insert)):
            inner = parsed.expression
            return inner.sql(dialect="duckdb") if isinstance(inner, exp.Query) else ""
        return query

    def picked(positions: list[int], rest: str = "") -> Any:
        text = query_text()
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

    def read(names: Sequence[str]) -> Any:
        """Every row of the columns ``names`` (the quasi-identifiers of a k-anonymous source),
        by their first position among the outputs."""
        why = computed.not_again(state.lineage)
        if why is not None:
            msg = (f"Lacuna cannot count k-anonymity again on the rows this DuckDB write "
                   f"takes from a k-anonymous frame (quasi-identifiers {', '.join(names)}): "
                   f"{why}. The write is refused (fail closed); read the source into a frame "
                   "first, then write from it")
            from lacuna.integrations.pandas._patch import users_error

            exc = IntegrationError(msg)
            users_error(exc)  # the answer to the user's write, not a failure of Lacuna
            raise exc
        with _bypass.bypass(), outermost():
            frame = _frame(picked([outputs.index(n) for n in names]))
        return frame.set_axis(list(names), axis=1)

    if computed.unsourced(state, outputs) or computed.spreads(state.lineage):
        state = computed.sampled(state, outputs, sample, config, whole=picked)
    # rows taken out of a k-anonymous frame (COPY (SELECT * FROM anon WHERE …) TO, a frame
    # scanned by name): k counted again on the rows written, as for a relation
    # (relation_state). Before, one person's row of the release was written to ~/Downloads.
    return k_again(state, outputs, read, config)


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
            state.lineage) or computed.not_again(state.lineage) or not computed.unsourced(
            state, columns if columns is not None else list(state.classification.columns)):
        # rel.query(name, "COPY …"): run as written (a second run is sampled); a statement
        # that must not run twice (nextval: computed.once) is refused by the sample before
        # anything runs, not held (holding it ran nextval, and the refusal left it moved)
        yield None
        return
    import uuid

    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    node = parsed.this if isinstance(parsed, exp.Copy) else parsed.expression
    query = node.this if isinstance(node, exp.Subquery) else node
    if isinstance(parsed, exp.Copy) and isinstance(query, (exp.Table, exp.Schema)):
        # COPY v TO / COPY v (a, b) TO, of a view whose rows are drawn anew (a table's never
        # are: not draws()); before, the sample read the view once and the COPY again
        table = query.this if isinstance(query, exp.Schema) else query
        picked = [c.copy() for c in query.expressions] if isinstance(
            query, exp.Schema) else [exp.Star()]
        query = exp.select(*picked).from_(table.copy()) if isinstance(
            table, exp.Table) else None
    if not isinstance(query, exp.Query):
        yield None  # nothing held: the statement runs as written
        return
    table = f"__lacuna_drawn_{uuid.uuid4().hex}"
    text = query.sql(dialect="duckdb")
    names = column_names(con, text)  # bound, not run: the table below runs it once
    with _bypass.bypass(), outermost():
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
                    tables: dict[str, tuple[str, str]], edges: tuple[ColumnEdge, ...],
                    ) -> Origins:
    """The origins of each column ``statement_state``'s statement produces, from its column
    edges: a table of a database (``tables``: each one's database and name there) is named as
    the SQL route names it (:func:`lacuna.sql.tables.table_ref`), a file or a relation by the
    origins its state holds. Without them a write recorded no column edges, although the
    SQL's were traced."""
    from lacuna.sql.tables import table_ref

    parents: dict[DatasetRef, Origins] = {}
    for name, state in held.items():
        ref = DatasetRef(url, names[name])
        if name in tables:
            table = table_ref(*tables[name])
            parents[ref] = {e.source_column: (Origin(table, e.source_column),)
                            for e in edges if e.source == ref}
        else:
            parents[ref] = state.origins
    return traced_origins(edges, parents)


def _written_columns(con: Any, query: str, state: DataState) -> list[str]:
    """The column names ``COPY (query) TO`` writes as the file's header: DuckDB's (a PIVOT's
    come from its values, which the SQL's lineage does not know), or, when DuckDB cannot bind
    the query alone, the names the lineage knows."""
    try:
        return column_names(con, query)  # bound, not run (a nextval would advance)
    except Exception:
        return [c for c in state.classification.columns if not is_pseudo(c)]
