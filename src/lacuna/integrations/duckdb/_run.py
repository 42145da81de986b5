"""One DuckDB statement decided and run: its parameters bound, its kind told apart (a query,
an export, a write into memory or into a file), and what it returns handed on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from lacuna import _bypass
from lacuna.classify.header import is_pseudo
from lacuna.integrations.duckdb import computed
from lacuna.integrations.duckdb._base import (
    MEMORY,
    _catalog,
    _gov,
    _hand_on,
    _home,
    _located,
    _refuse,
    column_names,
    url_of,
)
from lacuna.integrations.duckdb._statements import (
    _held_statement,
    _sampled_query,
    _written_columns,
    statement_state,
)
from lacuna.integrations.duckdb._tables import _DML, _carried, _dml_into_memory, _into_memory
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.io import govern_write
from lacuna.lineage.frames import with_labels
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Action, Source


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

    if stmt.verb == "insert" and stmt.kind == "write" and not stmt.columns:
        named = _by_name(con, sql)  # BY NAME: the columns it writes listed, as DuckDB reads
        if named != sql:  # them; decided and run so
            sql = named
            args, kwargs = ((sql, *args[1:]), kwargs) if args else (args, {**kwargs,
                                                                           "query": sql})
            stmt = analyse(sql, "duckdb")
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
        state, _ = statement_state(con, stmt.query, known, whole=True)  # sampled below
        columns = _written_columns(con, stmt.query, state)
        with _held_statement(con, sql, state, columns, held) as rows:
            state = _sampled_query(con, rows or stmt.query, state, columns, known=known)
            return govern_write(None, state, stmt.file, run, method="duckdb.copy",
                                columns=columns, append=stmt.adds)
    if stmt.kind == "write" and stmt.target and not stmt.values \
            and stmt.verb in ("create", "insert", "create_view"):
        home, local = _located(con, stmt.target, new=stmt.verb != "insert")
        if home == MEMORY:  # … RETURNING too: a write into memory is one whatever comes back
            state, _ = statement_state(con, sql, known, whole=stmt.verb != "create_view")
            if stmt.verb == "create_view":  # a view holds no rows: its query is decided
                return _into_memory(con, stmt.target, state, run,  # where it is read
                                    method=f"duckdb.{stmt.verb}", stmt=stmt)
            with _held_statement(con, sql, state, None, held) as rows:
                state = _sampled_query(con, rows or sql, state, known=known)
                return _into_memory(con, stmt.target, state, run,
                                    method=f"duckdb.{stmt.verb}", stmt=stmt)
        if not stmt.returning:  # … RETURNING into a file: run_governed decides both
            state, _ = statement_state(con, sql, known, whole=stmt.verb != "create_view")
            from lacuna.sql.tables import canonical

            target = f"{home}#{canonical(home, local)}"  # o.t of b.duckdb: b.duckdb#t
            if stmt.verb == "create_view":
                made = govern_write(None, state, target, run, method=f"duckdb.{stmt.verb}",
                                    columns=list(state.classification.columns))
                computed.viewed(url_of(con), stmt.target, state.lineage)
                return made
            with _held_statement(con, sql, state, None, held) as rows:
                state = _sampled_query(con, rows or sql, state, known=known)
                return govern_write(None, state, target, _carried(
                    con, stmt.target, state, run, method=f"duckdb.{stmt.verb}",
                    into=tuple(stmt.columns) if stmt.verb == "insert" else ()),
                    method=f"duckdb.{stmt.verb}", columns=list(state.classification.columns))
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


def _refuse_sealed_export(folder: str) -> None:
    """``EXPORT DATABASE 'folder'`` under a sealed governed root: refused (StorageError),
    never plaintext there. Its ``load.sql`` names the files by the folder's path, which
    ``IMPORT DATABASE`` (DuckDB opening them itself) would read as ciphertext."""
    from lacuna.integrations.frames.io import local_path
    from lacuna.storage.frames import refuse, writes_sealed

    if writes_sealed(local_path(folder)):
        refuse("duckdb EXPORT DATABASE", folder, "a database export DuckDB imports itself "
               "(IMPORT DATABASE opens its files)")


def _keep_memory_record(con: Any, sql: str) -> None:
    """Refuse ``COMMENT ON TABLE t`` when ``t``'s comment is Lacuna's record of what it holds:
    an in-memory table's (:func:`_into_memory`: the only record; the lineage store keeps none
    for memory), or a database file's (:func:`_carried`, :func:`lacuna.sql.govern.run_governed`:
    the record that travels with the file, and that another process's writes keep up to
    date where this process's lineage store does not see them). Replaced, ``t`` would be
    classified by its names and values alone: ``md5(name) AS s`` read as PUBLIC and
    ``COPY t TO`` let out. Nothing runs."""
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
    kind = str(parsed.args.get("kind")).upper() if isinstance(parsed, exp.Comment) else ""
    if kind not in ("TABLE", "VIEW"):  # a view's comment is its record too (_label_view):
        return  # COMMENT ON VIEW v IS '…' let md5(email) through v be copied out as PUBLIC
    table = table_name(parsed.this)
    if not table:
        return
    home = _home(con, table, new=False)
    with _bypass.bypass(), outermost():  # its comment only: a view's row count runs it
        comment = Database(_catalog(con), url_of(con), "duckdb").comment(table)
    if not (comment or "").startswith(COMMENT_PREFIX):
        return
    what = f"COMMENT ON {kind} {table}: the comment of {kind.lower()} {table}"
    if home == MEMORY:
        _refuse(f"{what} (in memory) is where Lacuna keeps the classification of what it "
                "holds (lacuna: {…}); replacing it would let its rows be read by their names "
                "and values alone. Nothing was run. Comment on a column instead (COMMENT ON "
                f"COLUMN {table}.c IS …), or write the table to a database file, where the "
                "lineage store keeps its classification.")
    _refuse(f"{what} ({home}) is where Lacuna keeps the classification of what it holds "
            "(lacuna: {…}), the record that travels with the database file to every session "
            "that attaches or opens it; replacing it would let its rows be read by their names "
            f"and values alone. Nothing was run. Comment on a column instead (COMMENT ON "
            f"COLUMN {table}.c IS …).")


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


def _by_name(con: Any, sql: str) -> str:
    """``INSERT INTO t BY NAME SELECT …`` written as ``INSERT INTO t (<the query's column
    names>) SELECT …``, which DuckDB runs alike (each of the query's columns into the table's
    column of its name; any other column its default); any other statement as it is. Read by
    position, the insert was recorded wrongly: ``SELECT email AS b, 'x' AS a`` into ``(a, b)``
    made ``a`` hold the e-mails, and ``b``, which does, was copied out as PUBLIC. The names
    are DuckDB's (``SELECT *`` has them too); a query it cannot bind is left as written (it
    fails when it runs)."""
    if isinstance(con, duckdb.DuckDBPyRelation) or "by" not in sql.lower():
        return sql
    try:
        parsed = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.SqlglotError:
        return sql
    if not isinstance(parsed, exp.Insert) or not parsed.args.get("by_name") or not isinstance(
            parsed.this, exp.Table) or not isinstance(parsed.expression, exp.Query):
        return sql
    try:
        names = column_names(con, parsed.expression.sql(dialect="duckdb"))  # bound, not run
    except Exception:
        return sql
    parsed.set("this", exp.Schema(this=parsed.this.copy(), expressions=[
        exp.to_identifier(n, quoted=True) for n in names]))
    parsed.set("by_name", None)
    return parsed.sql(dialect="duckdb")


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
