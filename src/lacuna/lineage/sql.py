"""SQL column lineage and per-column classification through sqlglot.

:func:`classify_sql` parses one statement (SELECT, INSERT … SELECT, CREATE TABLE AS, MERGE,
UPDATE; CTEs, subqueries and set operations inside), resolves every output column to the input
columns it comes from and how (:class:`~lacuna.lineage.records.EdgeKind`), and classifies each
output column from its sources: a column derived from personal data is personal unless every path
from the personal column masks it (see :mod:`lacuna.lineage.sql_masking` for what masks, read off
the expression tree). Filter and join conditions steer which rows flow but carry no values: they
give no edges.

Fail closed: a source table missing from ``schema=`` is an error; an output column whose source
cannot be resolved (an ambiguous or unknown column, an unexpandable ``*``) inherits the most
sensitive class of all input columns, with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from lacuna.config import ClassificationConfig
from lacuna.errors import LineageError
from lacuna.lineage.records import ColumnEdge, DatasetRef, EdgeKind
from lacuna.lineage.sql_classes import classify_outputs, identifier_cuts
from lacuna.lineage.sql_dialects import sqlglot_dialect
from lacuna.lineage.sql_masking import NO_KEYS, BoundKeys, bound_keys
from lacuna.lineage.sql_schema import Schema, SchemaInput, build_schema
from lacuna.lineage.sql_trace import Flow, Tracer, merge_kinds, output_names, rejoin
from lacuna.lineage.sql_values import with_values
from lacuna.model import Classification

DIALECTS = ("ansi", "postgres", "duckdb", "spark", "snowflake")  # tested; sqlglot knows more


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlLineage:
    """The classification of what a SQL statement produces, and its column lineage."""

    classification: Classification  # per output column in ``.columns``
    edges: tuple[ColumnEdge, ...]
    target: DatasetRef
    sources: tuple[DatasetRef, ...]
    columns: tuple[str, ...]  # the output columns, in order
    statement: str  # "select", "insert", "create", "merge", "update"

    def edges_of(self, column: str) -> tuple[ColumnEdge, ...]:
        """The edges into one output column."""
        return tuple(e for e in self.edges if e.target_column == column)


@dataclass(slots=True)
class _Statement:
    kind: str
    query: exp.Expr | None  # None: INSERT … VALUES (constants only)
    target: exp.Table | None = None
    target_columns: list[str] | None = None
    assigned: list[str] | None = None  # UPDATE/MERGE: target column per synthetic projection
    replaces: bool = False  # UPDATE without WHERE/FROM: assigned columns are replaced outright


def classify_sql(
    sql: str,
    *,
    schema: SchemaInput,
    dialect: str | None = None,
    namespace: str | None = None,
    config: ClassificationConfig | None = None,
    origins: Mapping[str, str] | None = None,
    parameters: Any = None,
    keys: BoundKeys | None = None,
    parameter_sets: Any = None,
) -> SqlLineage:
    """Classify a SQL statement's output per column, with its column lineage.

    Args:
        sql: one statement.
        schema: table -> ``{column: ColumnClass | class name | Classification}``, or one
            ``Classification`` per table; every table the statement reads must be there.
        dialect: ``ansi`` (default), ``postgres``, ``duckdb``, ``spark``, ``snowflake``, or any
            other sqlglot dialect name.
        namespace: the OpenLineage namespace of the tables (default: the dialect's name).
        config: classification settings (k-anonymity, tier mapping); the defaults otherwise.
        origins: a stable name per table of ``schema`` (as ``schema`` names it), by which a
            column lowered by a generalisation remembers what it is a piece of
            (:class:`~lacuna.model.Piece`); default ``<namespace>/<table>``. Pieces of one
            source column that meet again, in this statement or from tables earlier statements
            wrote, carry the source column's class again.
        parameters: the values the statement runs with (a mapping by name, a sequence by
            position). A hash keyed by a bind parameter (``sha256(email || :key)``) masks only
            when the parameter's value is a key :func:`lacuna.anonymize.keys.check_key` takes
            (16+ bytes, 8+ distinct): without ``parameters``, or with an empty, ``None`` or
            short value, it is an unkeyed hash and the column keeps its class (fail closed).
        keys: instead of ``parameters``, which parameters hold a key
            (:func:`lacuna.lineage.sql_masking.bound_keys`, for many parameter sets).
        parameter_sets: instead of ``parameters``, the sets an ``executemany`` runs with.
            A literal written in the SQL or a value bound to a parameter that an output
            column holds is classified by value (:mod:`lacuna.lineage.sql_values`): that
            column is at least that strict (before, ``SELECT ? AS x`` of an e-mail was PUBLIC).

    Returns:
        A :class:`SqlLineage`.

    Raises:
        LineageError: unparsable SQL, an unsupported statement, a table missing from ``schema``.

    Example:
        >>> from lacuna.lineage.sql import classify_sql
        >>> out = classify_sql(
        ...     "SELECT email, sha256(email || :key) AS email_hash FROM customers",
        ...     schema={"customers": {"email": "pii:email"}},
        ...     parameters={"key": "kJ8vQ2mZ0xR4tY6u"},
        ... )
        >>> out.classification.columns["email"].classification.value
        'pii'
        >>> out.classification.columns["email_hash"].classification.value
        'identifier'
        >>> [e.kind.value for e in out.edges_of("email_hash")]
        ['masking']
    """
    config = config or ClassificationConfig()
    name = (dialect or "ansi").lower()
    try:
        dia = Dialect.get_or_raise(None if name == "ansi" else sqlglot_dialect(name))
    except (ValueError, SqlglotError) as exc:
        msg = f"classify_sql: unknown SQL dialect {dialect!r}; try one of: {', '.join(DIALECTS)}"
        raise LineageError(msg) from exc
    tables = build_schema(schema, dia, namespace or name, origins)
    statement = _parse(sql, dia, tables)
    target = _target_ref(statement, sql, namespace or name)
    if keys is None:
        keys = bound_keys(parameters) if parameters is not None else NO_KEYS
    flows, names, sources = _trace(statement, tables, config, keys)
    flows = rejoin(flows, tables)  # different pieces of one column put it back together
    flows = identifier_cuts(flows, tables)  # left(ssn, 4) is no generalisation
    edges = _edges(flows, names, tables, target)
    classification = classify_outputs(flows, names, tables, config, sources)
    # literals and bound values are constants to the lineage; they are data to the class
    classification = _with_values(
        classification, statement, names, tables, config, keys, literals=True,
        parameter_sets=parameter_sets if parameter_sets is not None
        else [parameters] if parameters is not None else [],
    )  # fmt: skip
    return SqlLineage(
        classification=classification,
        edges=edges,
        target=target,
        sources=tuple(sorted({tables.tables[k].ref for k in sources})),
        columns=tuple(names),
        statement=statement.kind,
    )


def _with_values(
    classification: Classification, statement: _Statement, names: list[str], tables: Schema,
    config: ClassificationConfig, keys: BoundKeys, *, literals: bool, parameter_sets: Any,
) -> Classification:
    assigned = (
        [tables.show(tables.norm(a)) for a in statement.assigned]
        if statement.assigned is not None else None
    )  # fmt: skip
    return with_values(
        classification, statement.query, names, config=config, keys=keys,
        parameter_sets=list(parameter_sets or ()), literals=literals, assigned=assigned,
    )


def bound_values(
    lineage: SqlLineage, sql: str, *, dialect: str, parameter_sets: Any,
    config: ClassificationConfig, keys: BoundKeys = NO_KEYS,
) -> Classification:
    """``lineage``'s classification (of ``sql``, made by :func:`classify_sql` without its
    parameters) with each output column at least as strict as the values bound to the
    parameters it holds (``parameter_sets``: the sets the statement runs with), classified by
    value (:mod:`lacuna.lineage.sql_values`). Kept apart from :func:`classify_sql` so that a
    statement's lineage is traced once whatever values it runs with."""
    if not parameter_sets:
        return lineage.classification
    name = (dialect or "ansi").lower()
    dia = Dialect.get_or_raise(None if name == "ansi" else sqlglot_dialect(name))
    tables = build_schema({}, dia, name, None)
    statement = _parse(sql, dia, tables)
    return _with_values(lineage.classification, statement, list(lineage.columns), tables,
                        config, keys, literals=False, parameter_sets=parameter_sets)


def _parse(sql: str, dia: Dialect, tables: Schema) -> _Statement:
    try:
        parsed = [s for s in sqlglot.parse(sql, dialect=dia) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        msg = f"classify_sql: the SQL does not parse{where}: {first.get('description', exc)}"
        raise LineageError(msg) from exc
    if len(parsed) != 1:
        msg = f"classify_sql: expected one SQL statement, got {len(parsed)}; pass them one by one"
        raise LineageError(msg)
    stmt = parsed[0]
    for ident in stmt.find_all(exp.Identifier):
        tables.display.setdefault(tables.norm(ident.name), ident.name)
    if isinstance(stmt, exp.Query):
        return _Statement("select", stmt)
    if isinstance(stmt, exp.Insert):
        into = stmt.this
        cols = [c.name for c in into.expressions] if isinstance(into, exp.Schema) else None
        table = into.this if isinstance(into, exp.Schema) else into
        query = stmt.expression if isinstance(stmt.expression, exp.Query) else None
        if query is None and not isinstance(stmt.expression, exp.Values):
            msg = "classify_sql: INSERT needs a SELECT or VALUES source"
            raise LineageError(msg)
        return _Statement("insert", query, table, cols)
    if isinstance(stmt, exp.Create) and isinstance(stmt.expression, exp.Query):
        into = stmt.this
        cols = [c.name for c in into.expressions] if isinstance(into, exp.Schema) else None
        table = into.this if isinstance(into, exp.Schema) else into
        return _Statement("create", stmt.expression, table, cols)
    if isinstance(stmt, exp.Update):
        return _update(stmt)
    if isinstance(stmt, exp.Merge):
        return _merge(stmt)
    msg = (
        f"classify_sql: a {stmt.key.upper()} statement has no column lineage; supported: "
        "SELECT, INSERT … SELECT, CREATE TABLE … AS SELECT, MERGE, UPDATE"
    )
    raise LineageError(msg)


def _update(stmt: exp.Update) -> _Statement:
    """``UPDATE t SET a = e … FROM s WHERE w`` becomes ``SELECT e AS … FROM t, s WHERE w``."""
    sets = [eq for eq in stmt.expressions if isinstance(eq, exp.EQ)]
    select = exp.select(*[eq.expression.copy().as_(f"_lacuna_{i}") for i, eq in enumerate(sets)])
    select = select.from_(stmt.this.copy())
    from_ = stmt.args.get("from_") or stmt.args.get("from")
    if from_ is not None:
        select = select.join(from_.this.copy(), join_type="cross")
    for join in stmt.args.get("joins") or []:
        select = select.join(join.copy())
    where = stmt.args.get("where")
    if where is not None:
        select = select.where(where.this.copy())
    replaces = where is None and from_ is None
    return _Statement("update", select, stmt.this, None, [eq.this.name for eq in sets], replaces)


def _merge(stmt: exp.Merge) -> _Statement:
    """Every WHEN branch's assignments become projections over ``target JOIN source ON …``."""
    whens = stmt.args.get("whens")
    branches = whens.expressions if whens is not None else stmt.expressions
    values: list[exp.Expr] = []
    assigned: list[str] = []
    for when in branches:
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            for eq in then.expressions:
                if isinstance(eq, exp.EQ):
                    assigned.append(eq.this.name)
                    values.append(eq.expression)
        elif isinstance(then, exp.Insert) and isinstance(then.this, exp.Tuple):
            for col, value in zip(then.this.expressions, then.expression.expressions, strict=False):
                assigned.append(col.name)
                values.append(value)
    projections = [v.copy().as_(f"_lacuna_{i}") for i, v in enumerate(values)]
    select = exp.select(*(projections or [exp.Literal.number(1)]))
    select = select.from_(stmt.this.copy()).join(
        stmt.args["using"].copy(), on=stmt.args["on"].copy()
    )
    return _Statement("merge", select, stmt.this, None, assigned)


def _target_ref(statement: _Statement, sql: str, namespace: str) -> DatasetRef:
    if statement.target is None:
        digest = hashlib.sha256(sql.encode()).hexdigest()[:12]
        return DatasetRef(namespace, f"query_{digest}")
    parts = [p for p in (statement.target.catalog, statement.target.db, statement.target.name) if p]
    return DatasetRef(namespace, ".".join(parts))


def _trace(
    statement: _Statement, tables: Schema, config: ClassificationConfig, keys: BoundKeys
) -> tuple[list[list[Flow]], list[str], set[str]]:
    """Flows per output column, the output names, and the schema keys of the tables read."""
    if statement.query is None:  # INSERT … VALUES: constants written in the SQL
        given = statement.target_columns or _schema_columns(statement, tables) or []
        return [[] for _ in given], [tables.show(n) for n in given], set()
    if statement.query.find(exp.Summarize) is not None:  # FROM (SUMMARIZE t): min and max
        msg = (
            "classify_sql: SUMMARIZE inside a query returns each column's minimum and maximum "
            "(real values), which column lineage does not follow; run SUMMARIZE t as a "
            "statement of its own (a read of t), or select min(col), max(col) by name"
        )
        raise LineageError(msg)
    try:
        query = qualify(
            statement.query, schema=tables.sqlglot_schema(), dialect=tables.dialect,
            validate_qualify_columns=False, quote_identifiers=False, identify=False,
        )  # fmt: skip
        root = build_scope(query)
    except SqlglotError as exc:
        msg = f"classify_sql: cannot resolve the statement's columns: {exc}"
        raise LineageError(msg) from exc
    if root is None:
        msg = "classify_sql: the statement has no query to trace"
        raise LineageError(msg)
    read = _check_tables(root, tables)
    tracer = Tracer(tables, config, keys)
    produced = output_names(root.expression)
    flows = [tracer.index(root, i) for i in range(len(produced))]
    if statement.assigned is not None:
        return _assignments(statement, flows, tables, read)
    names: list[str] | None = statement.target_columns or _schema_columns(statement, tables)
    if names is None or len(names) != len(produced):
        if statement.target_columns is not None:
            msg = (
                f"classify_sql: INSERT names {len(statement.target_columns)} column(s) but the "
                f"query produces {len(produced)}"
            )
            raise LineageError(msg)
        names = produced
    return flows, [tables.show(tables.norm(n)) for n in names], read


def _assignments(
    statement: _Statement, flows: list[list[Flow]], tables: Schema, read: set[str]
) -> tuple[list[list[Flow]], list[str], set[str]]:
    """UPDATE/MERGE: the target's columns after the write, old values kept unless replaced."""
    if statement.target is None or statement.assigned is None:  # pragma: no cover - by _parse
        msg = "classify_sql: an assignment statement without a target"
        raise LineageError(msg)
    target = tables.lookup(normalize_identifiers(statement.target.copy(), dialect=tables.dialect))
    key = next((k for k, t in tables.tables.items() if t is target), "")
    by_column: dict[str, list[Flow]] = {}
    for name in (target.columns or {}) if target is not None else {}:
        by_column[name] = []
    for name, value in zip(statement.assigned, flows, strict=False):
        by_column.setdefault(tables.norm(name), []).extend(value)
    for name, value in by_column.items():
        replaced = statement.replaces and name in {tables.norm(a) for a in statement.assigned}
        if key and not replaced:  # rows the statement does not touch keep the old value
            value.append(Flow(key, name, EdgeKind.IDENTITY, "kept from the target"))
    return list(by_column.values()), [tables.show(n) for n in by_column], read


def _schema_columns(statement: _Statement, tables: Schema) -> list[str] | None:
    if statement.target is None or statement.kind != "insert":
        return None
    target = tables.lookup(normalize_identifiers(statement.target.copy(), dialect=tables.dialect))
    return list(target.columns) if target is not None and target.columns is not None else None


def _check_tables(root: Scope, tables: Schema) -> set[str]:
    """The schema keys of every base table read; a table missing from ``schema`` fails loudly."""
    keys: set[str] = set()
    missing: list[str] = []
    for scope in root.traverse():
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                table = tables.lookup(source)
                if table is None:
                    missing.append(".".join(p for p in (source.db, source.name) if p))
                else:
                    keys.add(next(k for k, t in tables.tables.items() if t is table))
    if missing:
        names = ", ".join(sorted({tables.show(m) for m in missing}))
        msg = (
            f"classify_sql: table(s) {names} not in schema=; Lacuna cannot classify what it "
            "cannot see. Add each table's columns, e.g. schema={'"
            f"{tables.show(missing[0])}': {{'email': 'pii', 'id': 'identifier'}}}}"
        )
        raise LineageError(msg)
    return keys


def _edges(
    flows: list[list[Flow]], names: list[str], tables: Schema, target: DatasetRef
) -> tuple[ColumnEdge, ...]:
    edges: list[ColumnEdge] = []
    for name, column_flows in zip(names, flows, strict=True):
        grouped: dict[tuple[str, str], list[Flow]] = {}
        for flow in column_flows:
            if flow.table:
                grouped.setdefault((flow.table, flow.column), []).append(flow)
        for (table, column), group in grouped.items():
            chosen = merge_kinds(group)
            edges.append(
                ColumnEdge(
                    source=tables.tables[table].ref,
                    source_column=tables.show(column),
                    target=target,
                    target_column=name,
                    kind=chosen.kind,
                    description=chosen.description,
                )
            )
    return tuple(edges)


__all__ = ["DIALECTS", "SqlLineage", "bound_values", "classify_sql"]
