"""What one SQL statement does, read with sqlglot in the database's dialect.

:func:`analyse` sorts a statement into one of the kinds the hook translates:

- ``read``: a query (``SELECT``, ``WITH``, set operations); its tables are the base tables it
  touches. A query that touches only the database's own catalog (``sqlite_master``,
  ``information_schema``, ``pg_catalog``, ``duckdb_*``) or no table at all is ``pass``, unless
  it reads a session variable (``getvariable``, ``current_setting``: fail closed). Also reads:
  DuckDB's ``SUMMARIZE`` (real minima and maxima), a ``SET`` whose value is a query (``SET
  VARIABLE v = (SELECT …)``), ``DELETE … RETURNING``.
- ``write``: data flows into a table: ``INSERT`` (``… SELECT`` or ``… VALUES``; SQLite's
  ``REPLACE INTO`` is its ``INSERT OR REPLACE``; what an upsert's ``DO UPDATE SET`` writes is
  :attr:`Statement.upsert`), ``CREATE TABLE … AS``, ``UPDATE``, ``MERGE``, ``COPY … FROM``;
  with ``RETURNING``, also a read of what comes back (:attr:`Statement.returning`).
- ``export``: data leaves the database: ``COPY … TO``, DuckDB's ``EXPORT DATABASE``.
- ``pass``: no data flows: DDL without a query, ``DELETE``, transactions, settings, ``PRAGMA``,
  ``SHOW``, ``EXPLAIN``, catalog reads. ``ALTER TABLE … RENAME`` is a pass that carries
  :attr:`Statement.rename`: the hook moves the stored classification to the new name.
- ``unknown``: a statement Lacuna cannot read. The hook fails closed on it. So are
  PostgreSQL's procedural code: a ``DO`` block, ``CALL``, and a ``CREATE FUNCTION``/``PROCEDURE``
  whose body is anything but ``LANGUAGE sql`` queries (PL/pgSQL, a body that writes): it would
  run statements Lacuna never sees (the hook also refuses a statement that calls such a
  function, :func:`lacuna.sql.govern.opaque_routines`).

The first word sorts most statements before any parsing. It is read straight off the text only
when the statement starts with it; anything before it (a comment, which PostgreSQL and DuckDB
nest, a ``;``, a parenthesis) is read by the dialect's own tokenizer, so a comment cannot make
a ``COPY`` look like a ``DROP``. ``EXPLAIN ANALYZE`` runs its statement, so it is sorted as that
statement; SQLite's ``VACUUM INTO 'file'`` copies the whole database to the file (an export).

Nothing here touches a database: the caller resolves tables and decides.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokenizer_core import Token, TokenType

from lacuna.lineage.sql_dialects import sqlglot_dialect, sqlite_misnumbered
from lacuna.lineage.sql_masking import NO_KEYS, BoundKeys
from lacuna.sql.catalog import literal

Kind = Literal["read", "write", "export", "pass", "unknown"]

# statements whose first word says no data flows (checked before parsing: also faster)
PASS_WORDS = frozenset({
    "begin", "commit", "rollback", "savepoint", "release", "end", "abort", "start", "set",
    "reset", "show", "pragma", "explain", "describe", "analyze", "analyse", "vacuum",
    "checkpoint", "install", "load", "use", "drop", "alter", "truncate", "delete", "comment",
    "grant", "revoke", "deallocate", "discard", "listen", "notify", "unlisten", "lock",
    "reindex", "detach", "prepare",
})
# functions that return what the session holds (DuckDB's ``SET VARIABLE``, PostgreSQL's
# ``set_config``): Lacuna does not track what was put there, so reading it fails closed
SESSION_FUNCTIONS = frozenset({"getvariable", "current_setting", "duckdb_variables"})
# built-in functions that act outside the statement's tables: a file on the server, another
# database, other sessions, SQL given as text (by dialect; what each does, for the message).
# A statement that calls one is unknown (fail closed): Lacuna cannot decide what they move.
_FILES_READ = "reads a file on the database server"
_LARGE_OBJECT = "moves data through a large object, which Lacuna does not classify"
_DBLINK = "runs SQL in another database"
_SQL_TEXT = "runs the SQL it is given as text, which Lacuna does not read"
SIDE_EFFECT_FUNCTIONS: dict[str, dict[str, str]] = {
    "postgres": {
        "lo_export": "writes a large object to a file on the database server",
        "lo_import": "loads a file on the database server into a large object",
        **dict.fromkeys(("lo_from_bytea", "lo_put", "lo_get", "loread", "lowrite"),
                        _LARGE_OBJECT),
        **dict.fromkeys(("pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync"),
                        "writes a file on the database server (adminpack)"),
        **dict.fromkeys(("pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file",
                         "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir",
                         "pg_ls_archive_statusdir", "pg_logdir_ls"), _FILES_READ),
        **dict.fromkeys(("dblink", "dblink_exec", "dblink_send_query", "dblink_open",
                         "dblink_fetch", "dblink_get_result", "dblink_connect",
                         "dblink_connect_u"), _DBLINK),
        **dict.fromkeys(("pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
                         "pg_rotate_logfile", "pg_promote"),
                        "acts on other sessions or on the server"),
        **dict.fromkeys(("query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
                         "cursor_to_xml", "cursor_to_xmlschema"), _SQL_TEXT),
        **dict.fromkeys(("table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema",
                         "schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema",
                         "database_to_xml", "database_to_xmlschema",
                         "database_to_xml_and_xmlschema"),
                        "reads the tables it is given by name, which Lacuna does not follow"),
    },
    "duckdb": {
        "query": _SQL_TEXT,
        "query_table": "reads the tables it is given as text, which Lacuna does not follow",
        **dict.fromkeys(("read_text", "read_blob"),
                        "reads any file whole, which Lacuna does not classify"),
    },
    "sqlite": {
        "load_extension": "loads native code into the database",
        "readfile": "reads a file (sqlite3 shell)",
        "writefile": "writes a file (sqlite3 shell)",
        "edit": "runs an editor (sqlite3 shell)",
    },
}
CATALOG_PREFIXES = ("sqlite_", "pg_", "duckdb_")
CATALOG_SCHEMAS = frozenset({"information_schema", "pg_catalog", "sqlite_master", "sqlite_schema"})
_WORD = re.compile(r"^\s*([A-Za-z_]+)")  # a statement that starts with its first word
_EXPLAIN_OPTIONS = frozenset({"analyze", "analyse", "verbose", "query", "plan"})

_quiet = logging.getLogger("sqlglot")


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """One statement as the hook sees it."""

    kind: Kind
    sql: str
    verb: str  # "select", "insert", "create", "update", "merge", "copy", "export", ...
    reads: tuple[str, ...] = ()  # base tables read, as written (``schema.table`` or ``table``)
    target: str | None = None  # the table written
    columns: tuple[str, ...] = ()  # INSERT's column list, when written
    values: bool = False  # INSERT … VALUES: the data comes from the parameters
    file: str | None = None  # COPY/EXPORT: the file or folder (``STDOUT`` for the client)
    query: str | None = None  # COPY … TO: the query whose rows leave (``SELECT * FROM t``)
    adds: bool = False  # COPY … TO a folder (APPEND, OVERWRITE_OR_IGNORE): keeps its files
    problem: str | None = None  # ``unknown``: why Lacuna cannot read it
    # ``unknown`` because the dialect's parser refused it: the first line of the parser's message
    # (what and where, not the statement's text, which may hold data values). A denial says so,
    # not only that the data's class is unknown.
    unparsed: str | None = None
    placeholders: bool = False  # holds a parameter (``?``, ``$1``, ``$name``) to bind
    session: bool = False  # reads a session variable (``getvariable``, ``current_setting``)
    returning: str | None = None  # ``… RETURNING``: the query whose rows come back
    rename: tuple[str, str] | None = None  # ``ALTER TABLE … RENAME``: (old name, new name)
    # functions sqlglot does not know (maybe the user's own); on SQLite and DuckDB every name
    # called, since the host may define any (create_function): called_by_name
    functions: tuple[str, ...] = ()
    fires: tuple[str, ...] = ()  # more tables whose triggers it fires (``TRUNCATE a, b``)
    keys: BoundKeys = NO_KEYS  # the parameters it runs with that hold a key (a keyed hash)
    # the parameter sets it runs with (at most MAX_SAMPLED_PARAMETERS): their values are data
    bound: tuple[Any, ...] = field(default=(), compare=False)
    # tables left out of ``reads`` only for a catalog-like name (``pg_x``, ``duckdb_x``): the
    # hook asks the database which are its users' tables (``CREATE TABLE pg_x`` is allowed)
    catalog_like: tuple[str, ...] = ()
    # ``INSERT … ON CONFLICT DO UPDATE SET``: the query whose rows the update writes, and the
    # columns it sets from another inserted column, ``(col, x)``, or from a bound parameter,
    # ``(col, BOUND)`` (:func:`_upsert`)
    upsert: str | None = None
    moved: tuple[tuple[str, str], ...] = ()


def _file_name(node: exp.Expr) -> bool:
    """Whether ``COPY``'s file is written as a name Lacuna reads: a string (``'x.csv'``,
    ``E'…'``, ``$$…$$``) or a word (``STDOUT``, ``PROGRAM``, DuckDB's ``"x.csv"``), not a
    parameter or an expression."""
    if isinstance(node, exp.Literal):
        return bool(node.is_string)
    return isinstance(node, (exp.Identifier, exp.Var, exp.RawString, exp.ByteString,
                             exp.National))


# COPY … TO options (DuckDB) that write into a folder that exists and keep the files it holds
_ADDING = frozenset({"APPEND", "OVERWRITE_OR_IGNORE"})


def _copy_adds(stmt: exp.Copy) -> bool:
    """Whether ``COPY … TO`` adds files to what its target folder holds (an option of
    :data:`_ADDING`, not set to false): an append to the folder."""
    for param in stmt.args.get("params") or []:
        name = param.this.name.upper() if isinstance(param, exp.CopyParameter) else ""
        value = param.args.get("expression") if name else None
        off = (isinstance(value, exp.Boolean) and not value.this) or (
            value is not None and value.name.lower() in ("false", "0"))
        if name in _ADDING and not off:
            return True
    return False


# statements longer than this are analysed each time, not cached: a program that sends large
# statements that differ (a VALUES list of literals per batch) kept 1,024 of them, each with
# its text and the queries read off it, alive for the process (gigabytes at a megabyte each)
CACHED_LENGTH = 16_384
# statements longer than this are not analysed: unknown, denied saying so (fail closed). sqlglot
# tokenizes and parses in pure Python, in time proportion to the text (~14 µs a token): a 280 kB
# VALUES list took 3.7 s to analyse and 5 s to govern, a 440 kB UNION ALL chain minutes, and a
# hostile or generated statement stalled the program's thread. 512 KiB holds SQLAlchemy's
# insertmanyvalues batches (1,000 rows of ~35 columns on psycopg's ``%(a__0)s``) and is read in
# well under 10 s; over it, send the rows as parameters (``executemany``) or in smaller batches.
MAX_LENGTH = 524_288
# set operations (``UNION ALL``, ``EXCEPT``…) in one statement: column lineage recurses once per
# branch, and a chain of 800 ran out of Python's stack after seconds ("Lacuna failed", denied
# without saying why). SQLite allows 500 (SQLITE_MAX_COMPOUND_SELECT).
MAX_SET_OPERATIONS = 300


def analyse(sql: str, dialect: str) -> Statement:
    """Sort ``sql`` (one statement) into a kind, with the tables it reads and writes (cached
    up to :data:`CACHED_LENGTH` characters: applications send the same statements again and
    again). Several statements are ``pass`` when each is and none is a query, else unknown
    (fail closed): a first word that says no data flows (``BEGIN; COPY t TO 'x.csv'``,
    ``PREPARE p AS COPY …; EXECUTE p``) said nothing of what follows, which ran undecided. A
    statement that nests deeper than the parser recurses (``SELECT ((((…1…))))``) is unknown:
    the RecursionError used to escape to the caller, and in ``warn`` mode broke the program's
    statement instead of warning."""
    if len(sql) > MAX_LENGTH:  # its first word only: the tokenizer alone would take seconds
        first = _WORD.match(sql)
        return Statement(kind="unknown", sql=sql, verb=first.group(1).lower() if first else "",
                         problem=(
            f"it is {len(sql):,} characters long, over the {MAX_LENGTH:,} Lacuna reads "
            "(reading it would stall the program); send its rows as parameters "
            "(executemany) or in smaller statements"),
            unparsed=f"it is over {MAX_LENGTH:,} characters long")
    try:
        if len(sql) > CACHED_LENGTH:
            return _analyse(sql, dialect)
        return _cached(sql, dialect)
    except RecursionError:
        return Statement(kind="unknown", sql=sql, verb=_first_word(sql, dialect), problem=(
            "it nests deeper than Lacuna's parser reads (parentheses or subqueries inside "
            "each other), so it cannot tell what it reads or writes; write it with fewer "
            "levels (a CTE per level)"), unparsed="it nests too deeply to parse")


def _analyse(sql: str, dialect: str) -> Statement:
    parts = _statements(sql, dialect) if ";" in sql and _first_word(
        sql, dialect) in _UNPARSED else None
    if parts is not None and len(parts) > 1:
        each = [analyse(part, dialect) for part in parts]
        if all(one.kind == "pass" and one.verb != "select" for one in each):
            return Statement(kind="pass", sql=sql, verb=each[0].verb)
        return Statement(kind="unknown", sql=sql, verb=each[0].verb, problem=(
            f"it holds {len(parts)} statements; send them one by one, so that each is "
            "decided"))
    return _analyse_one(sql, dialect)


_cached = functools.lru_cache(maxsize=1024)(_analyse)


# first words whose statements are sorted without parsing the whole string (the others are
# parsed, and several statements found there are unknown; a routine's body holds semicolons)
_UNPARSED = PASS_WORDS | {"explain", "vacuum", "summarize", "show", "export"}


def _first_word(sql: str, dialect: str) -> str:
    match = _WORD.match(sql)
    if match is not None:
        return match.group(1).lower()
    tokens = _tokens(sql, dialect) or []
    first = next((t for t in tokens if t.token_type != TokenType.SEMICOLON), None)
    return first.text.lower() if first is not None else ""


def _statements(sql: str, dialect: str) -> list[str] | None:
    """The statements ``sql`` holds, split at the semicolons its tokens hold (not those in a
    string or a comment); None when it does not tokenize."""
    tokens = _tokens(sql, dialect)
    if tokens is None:
        return None
    parts: list[str] = []
    start, seen = 0, False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if seen:
                parts.append(sql[start:token.start])
            start, seen = token.end + 1, False
        else:
            seen = True
    if seen:
        parts.append(sql[start:])
    return parts


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain(message: str) -> str:
    """A parser's message without the terminal underline (``ESC[4m``) sqlglot marks the
    offending token with, which showed as ``[4m`` in a denial and in the audit trail."""
    return _ANSI.sub("", message)


def _analyse_one(sql: str, dialect: str) -> Statement:
    match = _WORD.match(sql)
    if match is not None:
        word, body = match.group(1).lower(), sql[match.start(1):]
    else:  # a comment, a ';' or a parenthesis first: the dialect's tokenizer finds the word
        tokens = _tokens(sql, dialect)
        if tokens is None:
            return Statement(kind="unknown", sql=sql, verb="", problem="it does not tokenize",
                             unparsed="it does not tokenize")
        first = next((t for t in tokens if t.token_type != TokenType.SEMICOLON), None)
        if first is None:
            return Statement(kind="pass", sql=sql, verb="empty")
        word, body = first.text.lower(), sql[first.start:]
    if dialect == "sqlite" and word in ("replace", "with"):
        insert = _replace_as_insert(sql)
        if insert is not None:  # REPLACE INTO t …: SQLite's INSERT OR REPLACE INTO t …
            return _analyse_one(insert, dialect)
    if word == "explain":
        return _explain(sql, body, dialect)
    if word == "vacuum":
        return _vacuum(sql, body, dialect)
    if word == "summarize":
        return _summarize(sql, body, dialect)
    if word == "show" and dialect == "postgres":
        return _show(sql, body, dialect)
    if word in PASS_WORDS and not _may_flow(word, body, dialect):
        return Statement(kind="pass", sql=sql, verb=word)
    if word == "do":  # PostgreSQL: an anonymous PL/pgSQL block
        return Statement(kind="unknown", sql=sql, verb="do", problem=(
            "a DO block runs procedural code (PL/pgSQL) whose statements Lacuna cannot govern "
            "one by one; send the statements it holds through the governed connection one by "
            "one, so that each is decided"))
    if word == "call" and dialect == "postgres":
        return Statement(kind="unknown", sql=sql, verb="call", problem=(
            "CALL runs a procedure whose statements Lacuna does not govern; send the statements "
            "it holds through the governed connection one by one, so that each is decided"))
    if word == "export":  # DuckDB: EXPORT DATABASE [name TO] 'folder' (sqlglot cannot parse it)
        return _export(sql, body, dialect)
    if word == "copy" and [t.text.lower() for t in (_rest(body, "copy", dialect) or [])[:2]] \
            == ["from", "database"]:  # DuckDB: every table into another (attached) database
        return Statement(kind="unknown", sql=sql, verb="copy", problem=(
            "COPY FROM DATABASE copies every table into another database, which Lacuna does "
            "not govern; copy the tables one by one (CREATE TABLE other.t AS SELECT …)"))
    level = _quiet.level
    _quiet.setLevel(logging.ERROR)  # "falling back to parsing as a Command" is ours to judge
    try:
        reader = Dialect.get_or_raise(sqlglot_dialect(dialect))
        tokens = reader.tokenize(sql)  # once: called_by_name reads them too (half the time)
        parsed = [s for s in reader.parser().parse(tokens, sql) if s is not None]
    except SqlglotError as exc:
        said = _plain(str(exc))
        return Statement(kind="unknown", sql=sql, verb=word, problem=f"it does not parse: {said}",
                         unparsed=said.splitlines()[0] if said.strip() else "it does not parse")
    finally:
        _quiet.setLevel(level)
    routine = _routine_kind(body, word, dialect)
    if routine and (len(parsed) != 1 or not _is_routine(parsed[0], dialect)):
        return _unreadable_routine(sql, routine, None, "a body Lacuna cannot read")
    if len(parsed) != 1:
        return Statement(kind="unknown", sql=sql, verb=word,
                         problem=f"it holds {len(parsed)} statements; send them one by one")
    if dialect == "sqlite" and _dollar_parameters(parsed[0]):
        return Statement(kind="unknown", sql=sql, verb=word, placeholders=True, problem=(
            "it binds a $name parameter, which SQLite reads as a parameter but Lacuna's parser "
            "as a column name, so Lacuna cannot tell which values it binds; bind the value as "
            ":name or ?"))
    misnumbered = sqlite_misnumbered(sql) if dialect == "sqlite" and (
        ":" in sql or "@" in sql) else None
    if misnumbered is not None:
        return Statement(kind="unknown", sql=sql, verb=word, placeholders=True, problem=(
            f"its parameter {misnumbered} is named by a number that is not the one SQLite "
            "gives it (SQLite numbers a named parameter by where it first appears), so Lacuna "
            "cannot tell which value it binds; bind numbered values as ?1, ?2, … (or name "
            "them :1, :2, … in the order they first appear)"))
    if dialect == "sqlite" and _quoted_values(parsed[0]):
        return Statement(kind="unknown", sql=sql, verb=word, problem=(
            "it writes a value that looks like personal data in double quotes, which SQLite "
            "reads as a column name or, when no column has that name, as a string; Lacuna "
            "cannot tell which, so write a string in single quotes (or bind it as a "
            "parameter)"))
    if word not in ("pivot", "unpivot") and _pivot_statement(parsed[0]):
        return Statement(kind="unknown", sql=sql, verb=word, problem=(
            "it holds DuckDB's PIVOT or UNPIVOT statement as a query (FROM (UNPIVOT t ON a, b "
            "…)), whose output columns Lacuna cannot trace to the columns they come from; "
            "write it as a clause of the table, which Lacuna follows (FROM t UNPIVOT (v FOR k "
            "IN (a, b)), FROM t PIVOT (first(x) FOR k IN (…)))"))
    branches = sum(1 for _ in parsed[0].find_all(exp.SetOperation))
    if branches > MAX_SET_OPERATIONS:
        return Statement(kind="unknown", sql=sql, verb=word, problem=(
            f"it holds {branches:,} set operations (UNION, EXCEPT, INTERSECT), over the "
            f"{MAX_SET_OPERATIONS} Lacuna follows; insert the branches in several statements"),
            unparsed=f"it holds over {MAX_SET_OPERATIONS} set operations")
    sorted_ = _sort(parsed[0], sql, word, dialect)
    if sorted_.kind != "unknown" and dialect in ("postgres", "duckdb"):
        like = named_like_catalog(parsed[0])
        if like:
            sorted_ = replace(sorted_, catalog_like=like)
    if reads_session(parsed[0]):
        sorted_ = replace(sorted_, session=True)
    called = called_functions(parsed[0])
    if dialect in ("sqlite", "duckdb"):  # the host's create_function may define a function
        # under a name sqlglot knows (and on SQLite replace SQLite's own: substr)
        called = tuple(dict.fromkeys((*called, *called_by_name(sql, dialect, tokens))))
    if called:
        sorted_ = replace(sorted_, functions=called)
        problem = side_effects(parsed[0], called, dialect)
        if problem is not None:
            return replace(sorted_, kind="unknown", target=None, returning=None, query=None,
                           values=False, problem=problem)
    # SQLite's @name is sqlglot's Parameter (``VALUES (@a, 'kira@…')`` is a query's rows too)
    holes = (exp.Placeholder, exp.Parameter) if dialect == "sqlite" else (exp.Placeholder,)
    if any(True for _ in parsed[0].find_all(*holes)):
        return replace(sorted_, placeholders=True)
    return sorted_


def _quoted_values(node: exp.Expr) -> bool:
    """Whether a SQLite statement holds a double-quoted name that a strong recognizer
    validates as data (an e-mail, a card number): SQLite reads ``"kira@example.com"`` as a
    string when no column has that name, sqlglot as a column, so ``INSERT INTO t VALUES (1,
    "kira@example.com")`` went in as PUBLIC where the same value in single quotes is PII."""
    names = [c.this.name for c in node.find_all(exp.Column)
             if isinstance(c.this, exp.Identifier) and c.this.quoted and not c.table]
    if not names:
        return False
    from lacuna.classify.heuristic import data_in_names

    return bool(data_in_names(names))


def _pivot_statement(node: exp.Expr) -> bool:
    """Whether ``node`` holds DuckDB's simplified ``PIVOT``/``UNPIVOT`` statement as a query
    (in a subquery or a CTE), not as a clause of a table (``FROM t UNPIVOT (…)``, a table's
    ``pivots``): column lineage did not follow it, so ``COPY (SELECT v FROM (UNPIVOT
    customers ON email, region INTO NAME k VALUE v)) TO 'x.csv'`` wrote e-mails as PUBLIC."""
    return any(p.arg_key != "pivots" for p in node.find_all(exp.Pivot))


def _dollar_parameters(node: exp.Expr) -> bool:
    """Whether a SQLite statement binds a Tcl-style ``$name`` parameter where its value may
    reach what the statement returns or writes: SQLite reads an unquoted name that starts with
    ``$`` as a parameter, sqlglot as a column of that name, so the value bound to it was no
    value at all (``CREATE TABLE u AS SELECT $v AS b`` with an e-mail bound to ``v`` was
    PUBLIC). One that only filters rows (``WHERE id = $id``, ``LIMIT $n``) carries none."""
    return any(not ident.quoted and ident.name.startswith("$") and not _filters(ident)
               for ident in node.find_all(exp.Identifier))


_FILTERS = (exp.Where, exp.Having, exp.Qualify, exp.Limit, exp.Offset, exp.Order)


def _filters(node: exp.Expr) -> bool:
    """Whether ``node`` is in a clause that only picks rows (a ``WHERE``, a join's ``ON``, a
    ``LIMIT``, …), whose values are not the statement's output."""
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, _FILTERS) or (
                isinstance(parent, exp.Join) and child is parent.args.get("on")):
            return True
        child, parent = parent, parent.parent
    return False


def called_functions(node: exp.Expr) -> tuple[str, ...]:
    """The functions ``node`` calls that sqlglot does not know (lower case): a macro or
    function the database's users defined is among them (its body may read any table)."""
    return tuple(dict.fromkeys(f.name.lower() for f in node.find_all(exp.Anonymous)))


def called_by_name(sql: str, dialect: str, tokens: list[Token] | None = None
                   ) -> tuple[str, ...]:
    """Every name ``sql`` calls as a function (a name followed by ``(``, lower case), sqlglot's
    known functions among them. On SQLite and DuckDB the host defines functions in Python
    (``create_function``) under any name (on SQLite over SQLite's own: ``substr``; on DuckDB
    one it lacks: ``sha2``), and sqlglot reads ``md5(…)``, ``sha2(…)`` or ``substr(…)`` as the
    function it knows, whose name it drops. A table name written before a column list
    (``INSERT INTO t(a)``) is among them too: looking it up finds no function (fail closed,
    never a miss). ``tokens``: ``sql``'s, when the caller has them."""
    if tokens is None:
        tokens = _tokens(sql, dialect) or []
    return tuple(dict.fromkeys(
        token.text.lower() for token, after in itertools.pairwise(tokens)
        if after.token_type == TokenType.L_PAREN and token.token_type not in _NOT_CALLED))


# tokens before a ``(`` that are no function's name. A set, not a tuple written in the test:
# mypy narrows ``x not in (A, B, …)`` by expanding TokenType into its 448 members, which cost
# it ~2 s of CPU for this function and _summarize (~5% of a cold ``mypy --strict`` run)
_NOT_CALLED = frozenset({
    TokenType.STRING, TokenType.NUMBER, TokenType.L_PAREN, TokenType.R_PAREN, TokenType.COMMA,
    TokenType.PARAMETER, TokenType.PLACEHOLDER})


def side_effects(node: exp.Expr, called: tuple[str, ...], dialect: str) -> str | None:
    """Why a statement that calls ``called`` (:func:`called_functions` of ``node``) cannot be
    governed: it calls a built-in function with side effects (:data:`SIDE_EFFECT_FUNCTIONS`),
    such as ``lo_export``, ``dblink_exec`` or ``query_to_xml('select …')``; None when it calls
    none. PostgreSQL's ``set_config`` is one unless it sets a custom variable (``x.v``, named by
    a string): that is a session variable, read back fail closed (``current_setting``)."""
    found = _side_effects(node, called, dialect)
    if not found:
        return None
    what = "; ".join(f"{name}(), which {why}" for name, why in found.items())
    return (f"it calls {what}. Lacuna cannot decide what such a function moves, so the "
            "statement is not run in enforce mode; read or write the data with statements "
            "Lacuna governs (a query of the tables, COPY … TO a file, pandas)")


def _side_effects(node: exp.Expr, called: tuple[str, ...], dialect: str) -> dict[str, str]:
    known = SIDE_EFFECT_FUNCTIONS.get(dialect, {})
    found = {name: known[name] for name in called if name in known}
    if dialect == "postgres" and "set_config" in called and not _custom_settings(node):
        found["set_config"] = ("changes a server setting (search_path, role, …) that decides "
                               "what later statements do; set a custom variable (x.v) instead")
    return found


def _custom_settings(node: exp.Expr) -> bool:
    """Whether every ``set_config`` in ``node`` names a custom variable (``'x.v'``)."""
    calls = [f for f in node.find_all(exp.Anonymous) if f.name.lower() == "set_config"]
    return all(f.expressions and isinstance(f.expressions[0], exp.Literal)
               and f.expressions[0].is_string and "." in f.expressions[0].name for f in calls)


def reads_session(node: exp.Expr) -> bool:
    """Whether ``node`` reads a session variable (:data:`SESSION_FUNCTIONS`)."""
    return any((f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
               in SESSION_FUNCTIONS for f in node.find_all(exp.Func))


def _tokens(text: str, dialect: str) -> list[Token] | None:
    """``text``'s tokens in ``dialect`` (comments dropped as the database drops them), or None
    when it does not tokenize."""
    try:
        return list(Dialect.get_or_raise(dialect).tokenize(text))
    except SqlglotError:
        return None


def _rest(body: str, word: str, dialect: str) -> list[Token] | None:
    """The tokens after a statement's first word (sqlglot reads the rest of a command such as
    ``EXPLAIN`` or ``VACUUM`` as one string)."""
    return _tokens(body[len(word):], dialect)


def _replace_as_insert(sql: str) -> str | None:
    """SQLite's ``[WITH …] REPLACE INTO t …`` written as the ``INSERT OR REPLACE INTO t …`` it
    is (SQLite's own alias), so that it is decided as that INSERT: sqlglot reads it as an
    opaque command, and every ``REPLACE`` was unknown, denied even for public values. None when
    ``sql`` holds no such ``REPLACE`` (the word at the top level, right after the start or a
    ``WITH``'s last parenthesis, followed by ``INTO``)."""
    try:
        tokens = _statement_tokenizer().tokenize(sql)
    except SqlglotError:
        return None
    depth = 0
    for n, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.text.lower() == "replace" and n + 1 < len(tokens) \
                and tokens[n + 1].text.lower() == "into" and (
                    n == 0 or tokens[n - 1].token_type == TokenType.R_PAREN):
            return f"{sql[:token.start]}INSERT OR REPLACE{sql[token.end + 1:]}"
    return None


# in Statement.moved: the column is set from a bound parameter (any of those it runs with)
BOUND = "?"


@functools.cache
def _statement_tokenizer() -> Any:
    """SQLite's tokenizer, but reading ``REPLACE`` as a word: SQLite's own reads the rest of a
    statement that starts with it as one string (a command's)."""
    from sqlglot.dialects.sqlite import SQLite

    class _Tokenizer(SQLite.Tokenizer):
        COMMANDS = SQLite.Tokenizer.COMMANDS - {TokenType.REPLACE}

    return _Tokenizer(dialect=SQLite())


def _upsert(stmt: exp.Insert, dialect: str) -> tuple[str | None, tuple[tuple[str, str], ...],
                                                       str | None]:
    """``INSERT … ON CONFLICT … DO UPDATE SET col = expr`` (PostgreSQL, SQLite, DuckDB): what
    the update writes into each ``col`` is ``expr``, which may read any table (``SET b =
    (SELECT email FROM customers …)``), the target's other columns or the inserted row's
    (``excluded.x``); it was never classified, and an e-mail went into the table as what the
    inserted values were. Returns the query whose rows the update writes (``SELECT expr AS
    col, … FROM t``, ``excluded.x`` read as the target's ``x``: its stored class), the columns
    fed from another inserted column (``(col, x)``: the inserted value's class goes into
    ``col`` too), and why Lacuna cannot read it (None when it can)."""
    conflict = stmt.args.get("conflict")
    if not isinstance(conflict, exp.OnConflict) or not conflict.expressions:
        return None, (), None
    into = stmt.this.this if isinstance(stmt.this, exp.Schema) else stmt.this
    if not isinstance(into, exp.Table):
        return None, (), "Lacuna cannot read which table its DO UPDATE writes"
    here = into.alias_or_name
    items: list[exp.Expr] = []
    moved: dict[tuple[str, str], None] = {}
    for assignment in conflict.expressions:
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            return None, (), "Lacuna cannot read what its DO UPDATE sets"
        column, value = assignment.this.name, assignment.expression.copy()
        if value.find(exp.Placeholder, exp.Parameter) is not None and isinstance(
                stmt.expression, exp.Values):  # VALUES (?, ?) … SET b = ?: every parameter
            # is classified with the rows; b takes the strictest class of all
            moved.setdefault((column, BOUND), None)
            value = exp.Null()
        # after INSERT … SELECT the parameter stays in the update's query (SELECT ? AS b FROM
        # t), whose bound values are data (Statement.bound): a named or numbered one by its
        # own value, an anonymous ``?`` by every positional value the statement runs with
        for ref in list(value.find_all(exp.Column)):
            if ref.table.lower() == "excluded":
                if ref.name.lower() != column.lower():
                    moved.setdefault((column, ref.name), None)
                ref.replace(exp.column(ref.name, table=here))
        items.append(exp.alias_(value, column))
    query = exp.select(*items).from_(into.copy())
    return query.sql(dialect=dialect), tuple(moved), None


def _explain(sql: str, body: str, dialect: str) -> Statement:
    """``EXPLAIN`` only plans its statement, but ``EXPLAIN ANALYZE`` (PostgreSQL, DuckDB) runs
    it: then it is sorted as the statement it runs."""
    tokens = _rest(body, "explain", dialect)
    if tokens is None:
        return Statement(kind="unknown", sql=sql, verb="explain", problem="it does not tokenize")
    i = _options_end(tokens)  # EXPLAIN (ANALYZE, FORMAT JSON) statement
    analyze = any(t.text.lower() in ("analyze", "analyse") for t in tokens[:i])
    while i < len(tokens) and tokens[i].text.lower() in _EXPLAIN_OPTIONS:
        analyze = analyze or tokens[i].text.lower() in ("analyze", "analyse")
        i += 1
    start = tokens[i].start if i < len(tokens) else None
    if not analyze:
        return Statement(kind="pass", sql=sql, verb="explain")
    if start is None:
        return Statement(kind="unknown", sql=sql, verb="explain",
                         problem="Lacuna cannot find the statement EXPLAIN ANALYZE runs")
    inner = body[len("explain"):][start:]
    return analyse(inner, dialect)


def _options_end(tokens: list[Token]) -> int:
    """The index after a leading parenthesised option list (0 when there is none)."""
    depth = 0
    for n, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        if depth == 0:
            return n + 1 if n else 0
    return len(tokens)


def _vacuum(sql: str, body: str, dialect: str) -> Statement:
    """``VACUUM`` rewrites the database in place; SQLite's ``VACUUM [schema] INTO 'file'``
    writes a copy of it to the file: an export of every table."""
    tokens = _rest(body, "vacuum", dialect)
    if tokens is None:
        return Statement(kind="unknown", sql=sql, verb="vacuum", problem="it does not tokenize")
    words = [t.text.lower() for t in tokens if t.token_type != TokenType.STRING]
    if "into" not in words:
        return Statement(kind="pass", sql=sql, verb="vacuum")
    # the file is what follows INTO, and only a string is read: SQLite takes an expression
    # (VACUUM INTO lower('/X/V.DB') writes /x/v.db, where Lacuna read the string /X/V.DB)
    at = next(i for i, t in enumerate(tokens) if t.token_type != TokenType.STRING
              and t.text.lower() == "into")
    after = [t for t in tokens[at + 1:] if t.token_type != TokenType.SEMICOLON]
    if len(after) != 1 or after[0].token_type != TokenType.STRING:
        return Statement(kind="unknown", sql=sql, verb="vacuum", problem=(
            "Lacuna cannot read which file VACUUM INTO writes: write its path as a string, "
            "not a parameter or an expression"))
    return Statement(kind="export", sql=sql, verb="vacuum", file=after[0].text)


def _may_flow(word: str, body: str, dialect: str) -> bool:
    """Whether a statement whose first word says no data flows may move some after all (then
    it is parsed): a ``SET`` whose value is a query or a session variable (DuckDB's ``SET
    VARIABLE v = (SELECT …)``), ``DELETE … RETURNING``, ``ALTER TABLE … RENAME``."""
    text = body.lower()
    if word == "set":
        return "(" in text
    if word == "delete":  # which table, for the triggers a DELETE fires
        return "returning" in text or dialect in ("postgres", "sqlite")
    if word == "truncate":  # PostgreSQL: which tables, for the triggers a TRUNCATE fires
        return dialect == "postgres"
    if word == "alter":
        return "rename" in text
    return False


def _show(sql: str, body: str, dialect: str) -> Statement:
    """PostgreSQL's ``SHOW name`` returns a setting's value; a custom one (``x.v``) holds
    whatever ``set_config`` put there: a read of the session, as ``current_setting`` is."""
    words = [t.text for t in (_rest(body, "show", dialect) or [])
             if t.token_type != TokenType.SEMICOLON]
    name = "".join(words)
    if "." not in name:
        return Statement(kind="pass", sql=sql, verb="show")
    return Statement(kind="read", sql=sql, verb="show", session=True,
                     query=f"SELECT current_setting({literal(name)})")


def _summarize(sql: str, body: str, dialect: str) -> Statement:
    """DuckDB's ``SUMMARIZE t`` (or ``SUMMARIZE SELECT …``) returns each column's minimum,
    maximum and other statistics: real values of the data, so a read of what it summarises."""
    rest = body[len("summarize"):].strip().rstrip(";").strip()
    tokens = _tokens(rest, dialect) or []
    starts_a_query = bool(tokens) and tokens[0].token_type in _QUERY_STARTS
    query = rest if starts_a_query else f"SELECT * FROM {rest}"
    inner = analyse(query, dialect)
    if inner.kind not in ("read", "pass") or inner.verb != "select":
        return Statement(kind="unknown", sql=sql, verb="summarize",
                         problem="Lacuna cannot read what this SUMMARIZE summarises")
    return replace(inner, kind="read", sql=sql, verb="summarize", query=query)


# the tokens a query starts with (a frozenset: see _NOT_CALLED)
_QUERY_STARTS = frozenset({
    TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.L_PAREN, TokenType.VALUES})


def _export(sql: str, body: str, dialect: str) -> Statement:
    """DuckDB's ``EXPORT DATABASE [name TO] 'folder' [(options)]``: every table leaves."""
    tokens = _rest(body, "export", dialect) or []
    shape = [t.token_type for t in tokens[:4]]
    folder = None
    if shape[:2] == [TokenType.DATABASE, TokenType.STRING]:
        folder = tokens[1].text
    elif len(shape) == 4 and shape[0] == TokenType.DATABASE and tokens[2].text.lower() == "to" \
            and shape[3] == TokenType.STRING:
        folder = tokens[3].text
    if folder is None:
        return Statement(kind="unknown", sql=sql, verb="export",
                         problem="Lacuna cannot read which folder EXPORT DATABASE writes")
    return Statement(kind="export", sql=sql, verb="export", file=folder)


def _sort(stmt: exp.Expr, sql: str, word: str, dialect: str) -> Statement:
    nested = nested_writes(stmt)
    if nested:  # WITH x AS (INSERT … RETURNING …) SELECT …: a write the query hides
        return Statement(kind="unknown", sql=sql, verb=word, problem=(
            f"it holds {' and '.join(nested)} inside (a WITH or a subquery that writes), a "
            "write Lacuna does not decide apart from the statement around it; send each write "
            "as a statement of its own (INSERT … SELECT, UPDATE …), so that each is decided"))
    into = stmt.args.get("into") if isinstance(stmt, exp.Select) else None
    if isinstance(into, exp.Into):  # SELECT … INTO t (PostgreSQL): creates t from the query
        return Statement(kind="write", sql=sql, verb="create", reads=base_tables(stmt),
                         target=table_name(into.this))
    session = reads_session(stmt)
    if isinstance(stmt, exp.Query):
        reads = base_tables(stmt)
        return Statement(kind="read" if reads or session else "pass", sql=sql, verb="select",
                         reads=reads)
    if isinstance(stmt, exp.Set):  # SET VARIABLE v = (SELECT …): the session holds what it reads
        queries = [q for q in stmt.find_all(exp.Query) if q.find_ancestor(exp.Query) is None]
        if queries or session:
            return Statement(kind="read", sql=sql, verb="set", reads=base_tables(stmt),
                             query=_as_query(queries, dialect))
        return Statement(kind="pass", sql=sql, verb="set")
    if isinstance(stmt, exp.Insert):
        into = stmt.this
        cols = tuple(c.name for c in into.expressions) if isinstance(into, exp.Schema) else ()
        table = into.this if isinstance(into, exp.Schema) else into
        values = not isinstance(stmt.expression, exp.Query)
        upsert, moved, problem = _upsert(stmt, dialect)
        if problem is not None:
            return Statement(kind="unknown", sql=sql, verb="insert", problem=problem)
        return Statement(kind="write", sql=sql, verb="insert", reads=base_tables(stmt),
                         target=table_name(table), columns=cols, values=values,
                         returning=_returning(stmt, dialect), upsert=upsert, moved=moved)
    if _is_routine(stmt, dialect):
        assert isinstance(stmt, exp.Create)
        return _routine(stmt, sql)
    if isinstance(stmt, exp.Create):
        if isinstance(stmt.expression, exp.Query) and str(stmt.args.get("kind")).upper() in (
            "TABLE", "VIEW"
        ):
            into = stmt.this
            table = into.this if isinstance(into, exp.Schema) else into
            verb = "create_view" if str(stmt.args.get("kind")).upper() == "VIEW" else "create"
            return Statement(kind="write", sql=sql, verb=verb, reads=base_tables(stmt),
                             target=table_name(table))
        if stmt.find(exp.ExecuteAsProperty):  # PostgreSQL: CREATE TABLE t AS EXECUTE name
            return Statement(kind="unknown", sql=sql, verb="create", problem=(
                "CREATE TABLE … AS EXECUTE fills the table from a prepared statement whose "
                "query Lacuna does not see; write the query itself (CREATE TABLE … AS SELECT …)"))
        return Statement(kind="pass", sql=sql, verb="create")
    if isinstance(stmt, (exp.Update, exp.Merge)):
        verb = "update" if isinstance(stmt, exp.Update) else "merge"
        return Statement(kind="write", sql=sql, verb=verb, reads=base_tables(stmt),
                         target=table_name(stmt.this), returning=_returning(stmt, dialect))
    if isinstance(stmt, exp.Delete) and stmt.args.get("returning"):
        # DELETE … RETURNING: no data goes in, but the deleted rows' columns come back
        query = _returning(stmt, dialect)
        return Statement(kind="read", sql=sql, verb="delete", reads=base_tables(stmt),
                         target=table_name(stmt.this), query=query, returning=query)
    if isinstance(stmt, exp.Alter) and str(stmt.args.get("kind") or "").upper() == "TABLE":
        renamed = _renamed(stmt)
        if renamed is not None:
            verb = "rename_table" if isinstance(stmt.args["actions"][0], exp.AlterRename) \
                else "rename_column"
            return Statement(kind="pass", sql=sql, verb=verb, target=table_name(stmt.this),
                             rename=renamed)
    if isinstance(stmt, exp.Copy):
        files = stmt.args.get("files") or []
        file = files[0].name if files else None
        if files and isinstance(files[0], exp.Identifier) and files[0].name.upper() == "PROGRAM":
            return Statement(kind="unknown", sql=sql, verb="copy", problem=(
                "COPY … PROGRAM runs a shell command on the database server, which Lacuna "
                "does not govern; COPY … TO STDOUT (or a file) and process the rows in Python"))
        if stmt.args.get("kind"):  # COPY t FROM 'file': a load into the table
            return Statement(kind="write", sql=sql, verb="copy_from",
                             target=table_name(stmt.this), file=file)
        if files and not _file_name(files[0]):
            # COPY t TO ? (DuckDB binds it; psycopg2 writes %(f)s in), DuckDB's COPY t TO
            # ('~/Downloads/' || 'x.csv'): the file was the parameter's name ("?", "f"), or ""
            # (the client: STDOUT), and the real one went undecided
            bound = files[0].find(exp.Placeholder, exp.Parameter) is not None
            return Statement(kind="unknown", sql=sql, verb="copy", placeholders=bound, problem=(
                f"COPY … TO takes the file from {'a bound parameter' if bound else 'an expression'}"
                ", and Lacuna cannot read which file it writes; write the path in the "
                "statement as a string"))
        reads = base_tables(stmt)
        source = stmt.this
        query = (source.this.sql(dialect=dialect) if isinstance(source, exp.Subquery)
                 else f"SELECT * FROM {source.sql(dialect=dialect)}")
        return Statement(kind="export", sql=sql, verb="copy", reads=reads, file=file, query=query,
                         adds=_copy_adds(stmt))
    if isinstance(stmt, exp.Delete) and isinstance(stmt.this, exp.Table):
        return Statement(kind="pass", sql=sql, verb="delete", target=table_name(stmt.this))
    if isinstance(stmt, exp.TruncateTable):  # no data flows, but its triggers run (PostgreSQL)
        names = tuple(n for n in (table_name(t) for t in stmt.expressions) if n)
        return Statement(kind="pass", sql=sql, verb="truncate",
                         target=names[0] if names else None, fires=names[1:])
    if isinstance(stmt, (exp.Delete, exp.Drop, exp.Alter, exp.Transaction, exp.Commit,
                         exp.Rollback, exp.Pragma, exp.Set, exp.Use, exp.Comment, exp.Describe)):
        return Statement(kind="pass", sql=sql, verb=stmt.key)
    if isinstance(stmt, exp.Attach):
        return Statement(kind="pass", sql=sql, verb="attach")
    return Statement(kind="unknown", sql=sql, verb=word,
                     problem=f"Lacuna does not know what a {stmt.key.upper()} statement does")


_DML = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def nested_writes(stmt: exp.Expr) -> list[str]:
    """The writes ``stmt`` holds besides itself, each as ``INSERT INTO t`` (PostgreSQL's
    data-modifying ``WITH x AS (INSERT … RETURNING …) SELECT …``, ``WITH x AS (DELETE …)
    INSERT …``): each would run undecided, since the statement is decided as what it is at
    its top. A ``MERGE``'s own ``WHEN … THEN INSERT/UPDATE`` branches are not listed."""
    found: dict[str, None] = {}
    for node in stmt.find_all(*_DML):
        if node is stmt or isinstance(node.parent, exp.When):
            continue
        target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        verb = {"insert": "INSERT INTO", "delete": "DELETE FROM", "merge": "MERGE INTO"}.get(
            node.key, node.key.upper())
        found.setdefault(f"{verb} {table_name(target) or '?'}", None)
    return list(found)


def _is_routine(stmt: exp.Expr, dialect: str) -> bool:
    """PostgreSQL's ``CREATE FUNCTION`` or ``CREATE PROCEDURE`` (DuckDB's ``CREATE FUNCTION``
    is a macro: an expression or a query, governed where it is called)."""
    return dialect == "postgres" and isinstance(stmt, exp.Create) and str(
        stmt.args.get("kind")).upper() in ("FUNCTION", "PROCEDURE")


def _routine_kind(body: str, word: str, dialect: str) -> str | None:
    """``function`` or ``procedure`` for PostgreSQL's ``CREATE [OR REPLACE] FUNCTION`` /
    ``PROCEDURE`` (read off the tokens: sqlglot does not parse every form), else None."""
    if dialect != "postgres" or word != "create":
        return None
    words = [t.text.lower() for t in (_rest(body, "create", dialect) or [])[:4]]
    while words[:1] in (["or"], ["replace"]):
        words = words[1:]
    return words[0] if words[:1] in (["function"], ["procedure"]) else None


def _unreadable_routine(sql: str, kind: str, name: str | None, what: str) -> Statement:
    return Statement(kind="unknown", sql=sql, verb="create", problem=(
        f"{kind} {name or ''}".rstrip() + f" ({what}) would run statements Lacuna cannot "
        "govern each time it is called, undecided. Send those statements through the governed "
        "connection one by one, or make it a LANGUAGE sql function whose body only queries (a "
        "statement that calls it is then governed)"))


def _routine(stmt: exp.Create, sql: str) -> Statement:
    """PostgreSQL's ``CREATE FUNCTION``/``PROCEDURE``: a pass when its body is ``LANGUAGE sql``
    queries and nothing else (a statement that calls it is classified PROPRIETARY, fail closed,
    as for any function the database's users defined); its :attr:`Statement.functions` are the
    functions the body calls. Any other body (PL/pgSQL or another language, an ``INSERT``,
    ``COPY`` or other write, ``BEGIN ATOMIC``, what sqlglot cannot read) would run statements
    Lacuna never sees each time it is called: unknown, so denied in enforce mode (fail
    closed)."""
    kind = str(stmt.args.get("kind")).lower()
    name = stmt.this.this if isinstance(stmt.this, exp.UserDefinedFunction) else stmt.this
    called = table_name(name) if isinstance(name, exp.Table) else None
    language = next((p.name.lower() for p in stmt.find_all(exp.LanguageProperty)), "")
    queries = _body(stmt, language)
    if queries is not None:
        functions = tuple(dict.fromkeys(f for q in queries for f in called_functions(q)))
        effects = [n for q in queries for n in _side_effects(q, called_functions(q), "postgres")]
        if not effects:
            return Statement(kind="pass", sql=sql, verb="create", functions=functions)
        return _unreadable_routine(sql, kind, called, "a body that calls " + ", ".join(
            f"{n}()" for n in dict.fromkeys(effects)) + ", built-in functions with side effects")
    what = f"LANGUAGE {language}" if language and language != "sql" else (
        "a body that is not only queries Lacuna can read")
    return _unreadable_routine(sql, kind, called, what)


def _body(stmt: exp.Create, language: str) -> list[exp.Expr] | None:
    """A routine's body when it is ``LANGUAGE sql`` queries only (as a string, or PostgreSQL
    14's ``RETURN expression``); None for any other body (``BEGIN ATOMIC``: sqlglot does not
    read it)."""
    body = stmt.expression
    if language not in ("sql", "") or (not language and not isinstance(body, exp.Return)):
        return None
    if isinstance(body, exp.Heredoc) or (isinstance(body, exp.Literal) and body.is_string):
        return _queries(body.name)
    if isinstance(body, exp.Return) and _reads_only(body):
        return [body]
    return None


_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy, exp.Command, exp.Into,
           exp.Create, exp.Drop, exp.Alter, exp.Set, exp.TruncateTable)


def _reads_only(node: exp.Expr) -> bool:
    """Whether ``node`` only reads: no data-modifying part anywhere (a ``WITH x AS (INSERT
    …)``, ``SELECT … INTO``) and nothing sqlglot could not read."""
    return not any(True for _ in node.find_all(*_WRITES))


def _queries(body: str) -> list[exp.Expr] | None:
    """A ``LANGUAGE sql`` body's statements, when each only queries; None otherwise."""
    level = _quiet.level
    _quiet.setLevel(logging.CRITICAL)
    try:
        parsed = [s for s in sqlglot.parse(body, dialect="postgres") if s is not None]
    except SqlglotError:
        return None
    finally:
        _quiet.setLevel(level)
    if not parsed or not all(isinstance(s, exp.Query) and _reads_only(s) for s in parsed):
        return None
    return parsed


def _as_query(queries: list[exp.Query], dialect: str) -> str | None:
    """The one query whose rows a statement takes in (``SET v = (SELECT …)``), as SQL."""
    if len(queries) != 1:
        return None
    query = queries[0]
    return (query.this if isinstance(query, exp.Subquery) else query).sql(dialect=dialect)


def _returning(stmt: exp.Expr, dialect: str) -> str | None:
    """``INSERT``/``UPDATE``/``DELETE``/``MERGE … RETURNING cols``: the query that reads those
    columns from the target (what comes back to the client)."""
    returning = stmt.args.get("returning")
    target = stmt.this.this if isinstance(stmt.this, exp.Schema) else stmt.this
    if not isinstance(returning, exp.Returning) or not isinstance(target, exp.Table):
        return None
    columns = ", ".join(e.sql(dialect=dialect) for e in returning.expressions)
    return f"SELECT {columns} FROM {target.sql(dialect=dialect)}"


def _renamed(stmt: exp.Alter) -> tuple[str, str] | None:
    """``ALTER TABLE t RENAME TO u`` (``("t", "u")``) or ``… RENAME COLUMN a TO b``
    (``("a", "b")``); None for any other ALTER (or several actions)."""
    actions = stmt.args.get("actions") or []
    if len(actions) != 1:
        return None
    action = actions[0]
    if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
        new = table_name(action.this)
        old = table_name(stmt.this)
        return (old, new) if old and new else None
    if isinstance(action, exp.RenameColumn) and action.this is not None \
            and action.args.get("to") is not None:
        return action.this.name, action.args["to"].name
    return None


def table_name(node: exp.Expr | None) -> str | None:
    if not isinstance(node, exp.Table):
        return None
    return ".".join(p for p in (node.catalog, node.db, node.name) if p)


def base_tables(stmt: exp.Expr) -> tuple[str, ...]:
    """The base tables a statement reads: every table reference that is not a CTE's name, the
    written target, or a catalog table."""
    ctes = _cte_references(stmt)
    target = None
    if isinstance(stmt, (exp.Insert, exp.Create)):
        into = stmt.this
        target = into.this if isinstance(into, exp.Schema) else into
    elif isinstance(stmt, exp.Select) and isinstance(stmt.args.get("into"), exp.Into):
        target = stmt.args["into"].this
    found: dict[str, None] = {}
    for table in stmt.find_all(exp.Table):
        if table is target or id(table) in ctes:
            continue
        if not table.name or is_catalog(table):
            continue
        name = table_name(table)
        if name:
            found.setdefault(name, None)
    if isinstance(stmt, (exp.Update, exp.Merge)):  # the target's kept values are read too
        name = table_name(stmt.this)
        if name:
            found.setdefault(name, None)
    return tuple(found)


def named_like_catalog(stmt: exp.Expr) -> tuple[str, ...]:
    """The tables :func:`base_tables` leaves out only because their name starts like the
    catalog's (``pg_``, ``duckdb_``), in no catalog schema: they may be the users' own."""
    ctes = _cte_references(stmt)
    found: dict[str, None] = {}
    for table in stmt.find_all(exp.Table):
        if id(table) in ctes or not table.name or not is_catalog(table):
            continue
        db, name = table.db.lower(), table.name.lower()
        if db in CATALOG_SCHEMAS or name in CATALOG_SCHEMAS or name.startswith("sqlite_"):
            continue
        if isinstance(table.this, exp.Identifier):  # not a table function (duckdb_tables())
            found.setdefault(table_name(table) or name, None)
    return tuple(found)


def _cte_references(stmt: exp.Expr) -> set[int]:
    """The table references (by ``id``) that name a CTE visible where they stand. A CTE only
    hides a table of the same name inside its own scope: ``WITH customers AS (SELECT * FROM
    customers)`` reads the table, and a CTE in one subquery does not hide a table elsewhere.
    When sqlglot cannot build the scopes, none is a CTE (each name is then looked up as a
    table: one more look-up, never a table missed)."""
    if not any(True for _ in stmt.find_all(exp.CTE)):
        return set()
    try:
        scopes = traverse_scope(stmt)
    except SqlglotError:
        return set()
    return {id(t) for scope in scopes for t in scope.tables
            if not t.db and t.name in scope.cte_sources}


def is_catalog(table: exp.Table) -> bool:
    name, db = table.name.lower(), table.db.lower()
    return (
        db in CATALOG_SCHEMAS or name in CATALOG_SCHEMAS or name.startswith(CATALOG_PREFIXES)
    )


__all__ = ["Statement", "analyse", "base_tables", "called_by_name", "called_functions",
           "nested_writes", "reads_session"]
