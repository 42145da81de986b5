"""One SQL statement through the Governor: a translator, with no rules of its own.

:func:`run_governed` reads the statement (:mod:`lacuna.sql.statements`), classifies what it
touches (:mod:`lacuna.sql.tables`, :func:`lacuna.lineage.sql.classify_sql` for column lineage),
builds the :class:`~lacuna.model.Operation` and hands it to the Governor:

- a **read** is decided like a pandas read (``Governor.govern``), runs, and its classification
  is returned to be attached to the result;
- a **write** (``INSERT``, ``CREATE TABLE … AS``, ``UPDATE``, ``MERGE``, ``COPY … FROM``, the
  ``INSERT … VALUES`` of ``to_sql``) and an **export** (``COPY … TO``, ``EXPORT DATABASE``) go
  through ``Governor.execute`` with a :class:`~lacuna.lineage.recording.Produced`: decided
  before the statement runs (an enforced denial raises ``GovernanceViolation`` and nothing
  executes), the run and its column edges recorded in the lineage store with the outcome, and
  the written table's classification stored there (and as the table's comment on PostgreSQL and
  DuckDB).

Fail closed: a statement Lacuna cannot read or classify is treated as carrying PROPRIETARY
data, with the reason in the classification's reasoning, and the policy decides on that.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna import _bypass
from lacuna.errors import IntegrationError, LineageError
from lacuna.lineage.recording import Produced, input_version, run_for
from lacuna.lineage.records import ColumnEdge, DatasetRef, RunStatus
from lacuna.lineage.sql_dialects import sqlglot_dialect
from lacuna.lineage.sql_masking import bound_keys
from lacuna.model import Action, Classification, Decision, Destination, Operation, Source
from lacuna.sql import restrict
from lacuna.sql.binding import value_rows
from lacuna.sql.catalog import literal, quote
from lacuna.sql.statements import BOUND, Statement, analyse
from lacuna.sql.tables import (
    COMMENT_PREFIX,
    classify_table,
    comment_text,
    from_comments,
    origins,
    same_depth,
    stored_version,
    table_changed,
    table_raise,
    table_ref,
    written_ref,
)

if TYPE_CHECKING:
    from lacuna.governor import Governor
    from lacuna.lineage.attribution import Raised
    from lacuna.lineage.sql import SqlLineage
    from lacuna.sql.catalog import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
LINEAGE_CACHE_SIZE = 512
_Entry = tuple["SqlLineage | None", str, dict[str, Classification]]
_lineages: weakref.WeakKeyDictionary[Governor, OrderedDict[tuple[Any, ...], _Entry]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()
MAX_SAMPLED_PARAMETERS = 200
_HOSTS = ("lacuna.", "sqlalchemy.", "pandas.", "duckdb_engine", "psycopg", "sqlite3")


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlRead:
    """What a governed query read: its output's classification, per column, with lineage."""

    classification: Classification
    sources: tuple[DatasetRef, ...] = ()
    edges: tuple[ColumnEdge, ...] = ()
    statement: str = ""


def refuse_database_statement(stmt: Statement, dialect: str, method: str) -> None:
    """``ATTACH 'file'`` (SQLite, DuckDB) and SQLite's ``VACUUM INTO 'file'`` write a database
    file; under a sealed governed root it would lie there in plaintext: refused
    (:func:`lacuna.storage.frames.refuse_database`). A read-only ``ATTACH`` is not.

    Raises:
        StorageError: the file is under a sealed governed root.
    """
    if dialect not in ("sqlite", "duckdb"):
        return
    from lacuna.storage.frames import refuse_database

    if stmt.verb == "vacuum" and stmt.kind == "export" and stmt.file:
        refuse_database(method, stmt.file)
    elif stmt.verb == "attach":
        import sqlglot
        from sqlglot import exp

        from lacuna.storage.frames import refuse_unread_database

        text = stmt.sql.lower()
        if "read_only" in text or "mode=ro" in text:
            return
        try:
            parsed = sqlglot.parse_one(stmt.sql, read=dialect)
        except sqlglot.errors.ParseError:
            return
        target = parsed.this if isinstance(parsed, exp.Attach) else None
        if isinstance(target, exp.Alias):
            target = target.this
        if target is not None and not (isinstance(target, exp.Literal) and target.is_string):
            refuse_unread_database(method)  # ATTACH ? / ATTACH lower('…'): no path to read
            return
        found = next((lit for lit in parsed.find_all(exp.Literal) if lit.is_string), None)
        if found is None:
            return
        path = str(found.this)
        if path.startswith("file:"):  # SQLite's URI form
            from urllib.parse import unquote, urlsplit

            path = unquote(urlsplit(path).path)
        if path and not path.startswith((":memory:", "md:", "motherduck:")):
            refuse_database(method, path)


def run_governed(
    gov: Governor, db: Database, sql: str, parameters: Any, run: Callable[[], T],
    *, many: bool = False,
) -> tuple[T, SqlRead | None]:
    """Govern and run one statement; returns what ``run`` returns and, for a read, what it
    read. Raises ``GovernanceViolation`` on an enforced denial (``run`` is never called)."""
    stmt = analyse(sql, db.dialect)
    if parameters is not None and (not stmt.values or _query_values(stmt, db.dialect)):
        # a hash keyed by a parameter masks only with a key bound to it (VALUES … are
        # classified by the values themselves, unless they are a query's rows: _query_values)
        stmt = replace(stmt, keys=bound_keys(parameters, many=many),
                       bound=parameter_sets(parameters, many=many))
    method = f"sql.{db.dialect}.{stmt.verb}"
    refuse_database_statement(stmt, db.dialect, method)
    if db.dialect == "postgres" and stmt.verb in FIRES_EVENT_TRIGGERS and stmt.kind != "unknown":
        try:  # CREATE TABLE …: an event trigger runs its PL/pgSQL body, undecided
            events = event_fired(db)
        except Exception as exc:
            gov.internal_error(exc, action=Action.EXPORT, method=method)
            return run(), None
        if events:
            stmt = event_triggering(stmt, events)
    if stmt.kind == "pass" and stmt.rename is not None:
        return _renaming(gov, db, stmt, run), None
    if db.dialect == "postgres" and stmt.functions and stmt.kind != "unknown":
        try:  # SELECT f(): f's PL/pgSQL body may INSERT or COPY what Lacuna never sees
            opaque = opaque_routines(db, stmt.functions)
        except Exception as exc:
            gov.internal_error(exc, action=Action.READ if stmt.kind == "read" else
                               Action.EXPORT, method=method)
            return run(), None
        if opaque:
            stmt = ungovernable(stmt, opaque)
    if db.dialect in ("postgres", "sqlite") and stmt.target and stmt.verb in FIRES_TRIGGERS \
            and stmt.kind != "unknown":
        try:  # INSERT INTO t: a trigger on t runs its PL/pgSQL (or SQL) body, undecided
            fired = [f for table in (stmt.target, *stmt.fires) for f in fired_by(db, table)]
        except Exception as exc:
            gov.internal_error(exc, action=Action.EXPORT, method=method)
            return run(), None
        if fired:
            stmt = triggering(stmt, fired)
    if stmt.catalog_like and stmt.kind != "unknown":
        try:  # SELECT * FROM pg_stash: a user's table named like the catalog is a table
            own = db.user_tables(stmt.catalog_like)
        except Exception as exc:
            gov.internal_error(exc, action=Action.READ if stmt.kind in ("read", "pass") else
                               Action.EXPORT, method=method)
            return run(), None
        if own:
            stmt = replace(stmt, reads=(*stmt.reads, *own),
                           kind="read" if stmt.kind == "pass" and stmt.verb == "select"
                           else stmt.kind)
    if stmt.kind == "pass" and stmt.verb == "select" and stmt.functions:
        try:  # SELECT m(): a macro the user defined may read any table
            if db.user_functions(stmt.functions):
                stmt = replace(stmt, kind="read")
        except Exception as exc:
            gov.internal_error(exc, action=Action.READ, method=method)
            return run(), None
    if stmt.kind == "pass":
        return run(), None
    restrict.check(gov, db.url, stmt, method)  # a dbt project's restrict rules (lacuna.dbt)
    try:
        if stmt.kind == "read":
            read = read_of(gov, db, stmt)
            op = gov.operation(
                Action.READ, read.classification, method=method, code_location=_location(),
                sources=[Source(name=str(s), classification=read.classification)
                         for s in read.sources],
            )
        else:
            op, produced = _write(gov, db, stmt, parameters, many, method)
            decided = _unparsed(gov, db, stmt, op) if stmt.unparsed is not None else None
            if stmt.returning:  # … RETURNING: the client reads what the write touched
                read = returned(gov, db, stmt, produced.classification)
                back = gov.operation(
                    Action.READ, read.classification, method=method, code_location=_location(),
                    sources=[Source(name=str(s), classification=read.classification)
                             for s in read.sources])
    except Exception as exc:  # Lacuna failed before deciding: enforce denies, others warn
        gov.internal_error(exc, action=Action.EXPORT if stmt.kind != "read" else Action.READ,
                           method=method)
        return run(), None
    if stmt.kind == "read":
        gov.govern(op)
        return run(), read

    def write() -> T:
        try:
            result = run()
        finally:
            if stmt.target:
                table_changed(gov, db, stmt.target)
        _comment(db, stmt, produced)
        return result

    from lacuna.alternatives import HOST
    from lacuna.sql.alternatives import SqlAlternatives

    token = HOST.set(SqlAlternatives(gov, db, stmt, method))  # a denial suggests SQL
    try:
        if stmt.returning:
            gov.govern(back)  # decided before anything runs, like the write
            return gov.execute(op, write, produced=produced, decision=decided), read
        return gov.execute(op, write, produced=produced, decision=decided), None
    finally:
        HOST.reset(token)


def write_of(gov: Governor, db: Database, stmt: Statement, parameters: Any, *,
             many: bool = False) -> Produced:
    """What write ``stmt`` (run with ``parameters``) puts into its table, as
    :func:`run_governed` classifies it, for a host that governs the write as something else:
    DuckDB's in-memory tables, which nothing leaves (a read; the table's comment carries the
    class, see :mod:`lacuna.integrations.duckdb`)."""
    if parameters is not None and (not stmt.values or _query_values(stmt, db.dialect)):
        stmt = replace(stmt, keys=bound_keys(parameters, many=many),
                       bound=parameter_sets(parameters, many=many))
    return _write(gov, db, stmt, parameters, many, f"sql.{db.dialect}.{stmt.verb}")[1]


def _unparsed(gov: Governor, db: Database, stmt: Statement, op: Operation) -> Decision:
    """The decision on a statement the dialect's parser refused, whose denial says so: the
    policy's reason ("Cannot export PROPRIETARY data to a database without classification
    support") was true only of the strictest class assumed for it, and sent its author to
    classification support instead of to the statement. Still the policy's decision: denied
    unless an exception a steward approved covers it (fail closed)."""
    decision = gov.decide(op)
    if decision.allowed:
        return decision
    return decision.evolve(
        reasoning=(f"Lacuna could not parse this statement as {db.dialect} SQL ({stmt.unparsed}), "
                   "so it cannot tell what it reads or writes: denied (fail closed)"),
        why=(f"Lacuna decides a statement from what it reads and writes, read with sqlglot's "
             f"{db.dialect!r} dialect; a statement it cannot parse is treated as writing the "
             "strictest class (PROPRIETARY) to a database that keeps no classification.",
             "Check the statement for a typo; if the database accepts it, write it in a form "
             f"sqlglot's {db.dialect!r} dialect reads (docs/sql.md), or ask a steward for an "
             "exception.", *decision.why))


def copy_into_file(sql: str, path: str, method: str, what: str) -> str:
    """``COPY … TO STDOUT`` whose rows the client writes into the file at ``path``, as
    ``COPY … TO 'path'``: an export to that file (psycopg2's ``copy_expert`` into an open file,
    asyncpg's ``copy_from_table(output=…)``); any other statement as written.

    Raises:
        StorageError: the file is under sealed governed storage (``what``, its rows, would land
            there in plaintext), or is open on a file whose path Lacuna cannot tell.
        IntegrationError: Lacuna cannot rewrite the ``COPY`` it read (fail closed).
    """
    import sqlglot
    from sqlglot import exp

    from lacuna.storage import frames as sealed

    stmt = analyse(sql, "postgres")
    if stmt.verb != "copy" or stmt.kind != "export" or (stmt.file or "").upper() != "STDOUT":
        return sql
    sealed.refuse_unnamed_file(method, path)
    if sealed.writes_sealed(path):
        sealed.refuse(method, path, what)
    try:
        parsed = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError:
        parsed = None
    if not isinstance(parsed, exp.Copy) or [
        f.name.upper() for f in parsed.args.get("files") or []
    ] != ["STDOUT"]:  # pragma: no cover - analyse read it as such a COPY
        msg = (
            f"{method}: Lacuna cannot tell how {' '.join(sql.split())[:80]} writes to {path}, "
            "so it cannot decide it as an export to that file; nothing was run. Write "
            "COPY (SELECT …) TO STDOUT, or copy into an in-memory buffer (io.StringIO, io.BytesIO)."
        )
        raise IntegrationError(msg)
    parsed.set("files", [exp.Literal.string(path)])
    return str(parsed.sql(dialect="postgres"))


def opaque_routines(db: Database, names: Sequence[str]) -> list[str]:
    """Which of the functions ``names`` (and the functions their bodies call, all the way
    down) the database's users defined with a body Lacuna cannot govern (PostgreSQL): PL/pgSQL
    or another procedural language, a ``LANGUAGE sql`` body that writes (``INSERT``, ``COPY``)
    or that sqlglot cannot read, a procedure, a user-defined aggregate. Each as ``name
    (LANGUAGE lang)``. A ``LANGUAGE sql`` function whose body only queries is governable (a
    statement that calls it is PROPRIETARY, :func:`user_defined`); so are an extension's
    functions (installed by an administrator: pgcrypto's ``digest``)."""
    found: dict[str, None] = {}
    seen: set[str] = set()
    todo = [n.lower() for n in names]
    while todo:
        batch = tuple(n for n in dict.fromkeys(todo) if n not in seen)
        seen.update(batch)
        todo = []
        for name, language, kind, definition, extension in db.routines(batch):
            if extension:
                continue
            body = analyse(definition, "postgres") if kind == "f" and language == "sql" \
                and definition else None
            if body is None or body.kind == "unknown":
                what = {"p": "procedure", "a": "aggregate", "w": "window function"}.get(
                    kind, "function")
                found.setdefault(f"{name} ({what}, LANGUAGE {language})", None)
            else:
                todo.extend(body.functions)
    return list(found)


FIRES_TRIGGERS = frozenset({"insert", "update", "merge", "copy_from", "delete", "truncate"})
# the statements on which PostgreSQL runs event triggers (DDL; CREATE TABLE … AS and SELECT …
# INTO among them, as "create")
FIRES_EVENT_TRIGGERS = frozenset({
    "create", "create_view", "alter", "drop", "comment", "grant", "revoke", "rename_table",
    "rename_column"})


def fired_by(db: Database, table: str) -> list[str]:
    """What a write to ``table`` would run that Lacuna cannot govern: its triggers (and those
    of the tables the write reaches, :meth:`Database.triggers`: partitions, tables whose
    foreign keys cascade from it), of any event and level (``BEFORE TRUNCATE``, ``FOR EACH
    STATEMENT``, ``INSTEAD OF`` on a view), whose functions are not governable by the rule of
    :func:`opaque_routines` (a trigger function is PL/pgSQL or another procedural language:
    only an extension's, or a built-in one, is not listed); PostgreSQL's rewrite rules
    (``CREATE RULE … DO ALSO INSERT …``) and SQLite's triggers, whose bodies are statements
    Lacuna never sees; and a PostgreSQL foreign table (``postgres_fdw``), whose rows go to
    another server. Looked up for every such write (on the statement's own connection, so
    a trigger created in the same transaction is seen; not cached, so that a trigger created
    later is never missed)."""
    found: list[str] = []
    functions: dict[str, list[str]] = {}
    for kind, name, function in db.triggers(table):
        if kind == "foreign table":  # postgres_fdw, …: the rows leave for another server
            found.append(f"foreign table {name} (its foreign-data wrapper sends the rows to "
                         "another server, which Lacuna does not govern)")
        elif function is None:
            found.append(f"{kind} {name}" + (" (its body runs SQL statements)"
                                             if kind == "trigger" else ""))
        else:
            functions.setdefault(function, []).append(name)
    if functions:
        for routine in opaque_routines(db, tuple(functions)):
            triggers = functions.get(routine.partition(" ")[0], [])
            found.append(f"trigger {', '.join(triggers)} (it runs {routine})" if triggers
                         else routine)
    return found


def event_fired(db: Database) -> list[str]:
    """The event triggers (PostgreSQL) a DDL statement would run that Lacuna cannot govern:
    those whose functions are PL/pgSQL or another procedural language (:func:`opaque_routines`),
    each as ``event trigger e (it runs f (…))``. Looked up for every DDL statement."""
    functions: dict[str, list[str]] = {}
    for name, function in db.event_triggers():
        functions.setdefault(function, []).append(name)
    if not functions:
        return []
    return [f"event trigger {', '.join(functions.get(r.partition(' ')[0], []))} (it runs {r})"
            for r in opaque_routines(db, tuple(functions))]


def event_triggering(stmt: Statement, fired: Sequence[str]) -> Statement:
    """``stmt``, a DDL statement on which the database runs ``fired`` (:func:`event_fired`),
    as a statement Lacuna cannot read: unknown (denied in enforce mode, fail closed)."""
    return replace(stmt, kind="unknown", target=None, returning=None, query=None, values=False,
                   rename=None, problem=(
        f"the database runs {'; '.join(fired)} on every {stmt.verb.upper()} statement: code "
        "Lacuna cannot govern, whose statements would run undecided. Have a database "
        "administrator drop or disable the event trigger (ALTER EVENT TRIGGER … DISABLE), or "
        "run the DDL outside the governed connection"))


def triggering(stmt: Statement, fired: Sequence[str]) -> Statement:
    """``stmt``, a write to a table on which it fires ``fired`` (:func:`fired_by`), as a
    statement Lacuna cannot read: unknown (denied in enforce mode, fail closed)."""
    return replace(stmt, kind="unknown", target=None, returning=None, query=None, values=False,
                   fires=(), problem=(
        f"it writes to {', '.join((stmt.target or '?', *stmt.fires))}, which runs "
        f"{'; '.join(fired)} on every such write: "
        "code Lacuna cannot govern, whose statements would run undecided. Have the trigger's "
        "work done by statements sent through the governed connection (and drop or disable "
        "the trigger), or write to a table without such triggers"))


def ungovernable(stmt: Statement, routines: Sequence[str]) -> Statement:
    """``stmt``, which calls ``routines`` (:func:`opaque_routines`), as a statement Lacuna
    cannot read: unknown (denied in enforce mode, fail closed), writing nowhere Lacuna knows."""
    return replace(stmt, kind="unknown", target=None, returning=None, query=None, values=False,
                   problem=(
        f"it calls {', '.join(routines)}, whose body Lacuna cannot govern: the statements in it "
        "would run undecided. Send those statements through the governed connection one by "
        "one, or make it a LANGUAGE sql function whose body only queries"))


def returned(gov: Governor, db: Database, stmt: Statement, written: Classification) -> SqlRead:
    """What ``INSERT``/``UPDATE``/``MERGE … RETURNING`` hands back: the returned columns,
    classified by column lineage over the target as the write leaves it. Each of the target's
    columns is at least as strict as it was in the table and as what the write puts in it, so
    ``UPDATE customers SET visits = visits + 1 RETURNING id`` reads ``id`` (not ``email``) and
    ``INSERT INTO t (note) SELECT email … RETURNING note`` reads personal data. When the write's
    classification has no columns, the whole of it is taken (fail closed)."""
    from lacuna.lineage.rules import combine

    back = replace(stmt, query=stmt.returning)
    if stmt.target is None or not written.columns:
        read = read_of(gov, db, back)
        both = combine([read.classification, replace(written, columns={})],
                       gov.config.classification, columns=read.classification.columns)
        return replace(read, classification=both)
    return read_of(gov, db, back, tables={stmt.target: written_into(gov, db, stmt.target,
                                                                     written)})


def written_into(gov: Governor, db: Database, table: str, written: Classification
                 ) -> Classification:
    """Table ``table`` as a write leaves it, for what ``… RETURNING`` hands back: every column
    of the table, each the stricter of its class in the table and what the write puts in it
    (``written``, by column; its tier a floor). ``written`` when the table cannot be found."""
    from lacuna.lineage.sidecar import restrict

    before = classify_table(gov, db, table)
    if before is None:
        return written
    merged, _ = restrict(replace(written, tier=written.floor), before,
                         gov.config.classification, where=f"what the write puts in {table}")
    return merged


def _renaming(gov: Governor, db: Database, stmt: Statement, run: Callable[[], T]) -> T:
    """``ALTER TABLE t RENAME TO u`` / ``… RENAME COLUMN a TO b``: no data moves, but Lacuna
    keeps a table's classification by table and column name, so the class moves with the name.
    Before the statement runs, the table is classified as a read would classify it (its
    names, values, comments and stored class: a column that was personal by its name alone,
    ``date_of_birth``, is so after it is called ``s``); after it runs, the lineage store records
    that class under the table's new (:func:`~lacuna.sql.tables.canonical`) name, with the
    column renamed, and Lacuna's table comment (PostgreSQL, DuckDB) is rewritten for a renamed
    column. Lacuna failing to classify the table: enforce refuses the rename."""
    assert stmt.target is not None
    assert stmt.rename is not None
    method = f"sql.{db.dialect}.{stmt.verb}"
    old, new = stmt.rename
    try:
        before = classify_table(gov, db, stmt.target)
        raised = table_raise(gov, db, stmt.target) if before is not None else None
        source, version = stored_version(gov, *db.located(stmt.target))
        stored = version.classification if version is not None else None
        info = db.table(stmt.target)
        declared = from_comments(info, gov) if info is not None and (
            info.comment or "").strip().startswith(COMMENT_PREFIX) else None
    except Exception as exc:  # Lacuna cannot tell what moves: enforce refuses the rename
        gov.internal_error(exc, action=Action.TRANSFORM, method=method)
        return run()
    result = run()
    table_changed(gov, db, stmt.target)
    if stmt.verb == "rename_table":
        schema = stmt.target.rpartition(".")[0]
        name = f"{schema}.{new}" if schema and "." not in new else new
        table_changed(gov, db, name)
    else:
        name = stmt.target
    try:
        if before is not None:
            moved = _renamed_column(before, old, new) if stmt.verb == "rename_column" else before
            own = gov.lineage_store.latest(source, trusted=True) if stored is not None else None
            # the new name is Lacuna's own version only when no claim raised the old one's
            # class and its stored version (if any) was Lacuna's own (a verified trusted
            # version): else a claim (ingested, or a row written by hand) would come out of a
            # rename as a signed, trusted version
            mine = raised is None and (stored is None or (
                own is not None and own.classification == stored))
            produced = Produced(
                operation=method, inputs=(input_version(source, before, raised),),
                outputs=(table_ref(*db.located(name)),), classification=moved,
                columns=tuple(moved.columns), fingerprint=False)
            op = gov.operation(Action.TRANSFORM, moved, method=method, code_location=_location())
            gov.lineage_store.record(run_for(produced, op, None, status=RunStatus.SUCCEEDED),
                                     trusted=mine)
            table_changed(gov, db, name)
        if declared is not None and stmt.verb == "rename_column":
            db.comment_on(name, comment_text(_renamed_column(declared, old, new)))
    except Exception as exc:  # the statement ran; say so loudly, never fail it afterwards
        log.error("could not move the classification of %s to its new name %s: %s",
                  stmt.target, name, exc)
    return result


def _renamed_column(c: Classification, old: str, new: str) -> Classification:
    """``c`` with column ``old`` (matched without regard to case) called ``new``."""
    columns = {new if n.lower() == old.lower() else n: col for n, col in c.columns.items()}
    return replace(c, columns=columns)


def read_of(gov: Governor, db: Database, stmt: Statement, *,
            tables: dict[str, Classification] | None = None) -> SqlRead:
    """The classification and column lineage of a query (or of what a write reads).
    ``tables``: classifications to take for some tables instead of their own (the target of a
    write as the write leaves it, for ``… RETURNING``)."""
    lineage, problem = _lineage(gov, db, stmt, tables or {})
    if lineage is None:
        return SqlRead(classification=_unknown(problem), statement=stmt.sql)
    classification = lineage.classification
    if stmt.bound:  # SELECT ? AS x: what is bound to it is data (the lineage: a constant)
        from lacuna.lineage.sql import bound_values

        classification = bound_values(lineage, stmt.query or stmt.sql, dialect=db.dialect,
                                      parameter_sets=stmt.bound, keys=stmt.keys,
                                      config=gov.config.classification)
    return SqlRead(classification=_untracked(db, stmt, classification),
                   sources=lineage.sources, edges=lineage.edges, statement=stmt.sql)


def parameter_sets(parameters: Any, *, many: bool = False) -> tuple[Any, ...]:
    """The parameter sets a statement runs with (``many``: an ``executemany``'s), at most
    :data:`MAX_SAMPLED_PARAMETERS` of them, spread over all of them (:func:`spread`): what
    :attr:`Statement.bound` holds."""
    if parameters is None:
        return ()
    if many and isinstance(parameters, Sequence) and not isinstance(parameters, (str, bytes)):
        return tuple(spread(parameters, MAX_SAMPLED_PARAMETERS))
    return (parameters,)


def _untracked(db: Database, stmt: Statement, c: Classification) -> Classification:
    """``c``, fail closed (PROPRIETARY) when the statement takes values Lacuna does not track:
    a session variable, a function or macro the database's users defined."""
    if stmt.session:  # what SET VARIABLE / set_config put there is not tracked
        c = session_held(c)
    defined = sorted(db.user_functions(stmt.functions))
    if defined:  # a macro's body reads what Lacuna does not see
        c = user_defined(c, defined)
    return c


def session_held(c: Classification) -> Classification:
    """``c`` for a statement that reads a session variable (``getvariable``,
    ``current_setting``): PROPRIETARY (fail closed), since Lacuna does not track what a ``SET
    VARIABLE`` or ``set_config`` put there."""
    return Classification.fail_closed(
        "the statement reads a session variable (getvariable, current_setting), which may "
        "hold any data a SET read; Lacuna does not track it", over=c)


def user_defined(c: Classification, names: Sequence[str]) -> Classification:
    """``c`` for a statement that calls functions or macros the database's users defined
    (``names``): PROPRIETARY (fail closed), since Lacuna does not read their bodies, which may
    read any table (``CREATE MACRO m() AS (SELECT string_agg(email, ',') FROM customers)``), or
    (SQLite: Python's ``create_function``) return what they are given under a masking name."""
    return Classification.fail_closed(
        f"the statement calls {', '.join(names)}, defined in the database (or, on SQLite, by "
        "the program: create_function); Lacuna does not read what a user-defined function or "
        "macro reads or returns", over=c)


def _lineage(gov: Governor, db: Database, stmt: Statement, tables: dict[str, Classification]
             ) -> tuple[SqlLineage | None, str]:
    schema: dict[str, Classification] = {}
    names = [*stmt.reads]
    if stmt.target and stmt.target not in names:
        names.append(stmt.target)  # INSERT without a column list takes the target's columns
    for name in names:
        found = tables.get(name) or classify_table(gov, db, name)
        if found is not None:
            schema[name] = found
    if tables:  # classifications made for this statement: nothing to cache them under
        return _trace_lineage(gov, db, stmt, schema)
    # the same statement over the same (cached, hence identical) table classifications
    key = (stmt.sql, stmt.query, db.url, db.dialect, stmt.keys,
           tuple((n, id(c)) for n, c in schema.items()))
    with _lock:
        cache = _lineages.setdefault(gov, OrderedDict())
        hit = cache.get(key)
        if hit is not None and all(hit[2].get(n) is c for n, c in schema.items()):
            cache.move_to_end(key)
            return hit[0], hit[1]
    lineage, problem = _trace_lineage(gov, db, stmt, schema)
    with _lock:
        cache[key] = (lineage, problem, dict(schema))
        while len(cache) > LINEAGE_CACHE_SIZE:
            cache.popitem(last=False)
    return lineage, problem


def _trace_lineage(
    gov: Governor, db: Database, stmt: Statement, schema: dict[str, Classification]
) -> tuple[SqlLineage | None, str]:
    from lacuna.lineage.sql import classify_sql

    names = same_depth(schema, db.dialect)  # INSERT INTO o.t … FROM customers: one depth
    try:
        lineage = classify_sql(stmt.query or stmt.sql,
                               schema={names[n]: c for n, c in schema.items()},
                               dialect=db.dialect, namespace=db.url,
                               config=gov.config.classification,
                               origins=origins(db.url, names), keys=stmt.keys)
    except LineageError as exc:
        return None, str(exc)
    refs = {DatasetRef(db.url, names[name]): table_ref(db.url, name) for name in schema}
    target = written_ref(db.url, stmt.target, stmt.sql) if stmt.target else lineage.target
    edges = tuple(
        replace(e, source=refs.get(e.source, e.source), target=target) for e in lineage.edges
    )
    sources = tuple(refs.get(s, s) for s in lineage.sources)
    return replace(lineage, edges=edges, sources=sources, target=target), ""


def _unknown(problem: str) -> Classification:
    return Classification.fail_closed(f"Lacuna cannot classify this statement: {problem}")


def _write(
    gov: Governor, db: Database, stmt: Statement, parameters: Any, many: bool, method: str,
) -> tuple[Any, Produced]:
    """The operation and what it produces, for a write or an export."""
    edges: tuple[ColumnEdge, ...] = ()
    columns: tuple[str, ...] = ()
    sources: tuple[DatasetRef, ...] = ()
    inputs: list[tuple[DatasetRef, Classification]] = []
    if stmt.kind == "unknown":
        written = _unknown(stmt.problem or "unreadable")
    elif stmt.verb == "copy_from":
        written = _unknown(f"COPY loads {stmt.file or 'a file'} that Lacuna does not read")
    elif stmt.verb in ("export", "vacuum"):  # EXPORT DATABASE, VACUUM INTO: every table
        written, inputs = _whole_database(gov, db)
        sources = tuple(ref for ref, _ in inputs)
    elif stmt.values and _query_values(stmt, db.dialect):  # VALUES ((SELECT email FROM …)),
        # or (?, 'kira@…'): a query's rows
        read = read_of(gov, db, replace(stmt, query=_values_query(db, stmt)))
        written, edges, sources = read.classification, read.edges, read.sources
        columns = tuple(written.columns)
    elif stmt.values:  # VALUES (getvariable('v')) or (m()) are not the client's literals
        written, columns = _values(gov, db, stmt, parameters, many)
        written = _untracked(db, stmt, written)
    else:
        read = read_of(gov, db, stmt)
        written, edges, sources = read.classification, read.edges, read.sources
        columns = tuple(written.columns)
    if stmt.upsert is not None:
        written, edges, sources = _upserted(gov, db, stmt, written, edges, sources)
    for ref in sources:
        if not any(ref == r for r, _ in inputs):
            inputs.append((ref, _classification_of(gov, db, ref, written)))
    raised = {ref: _raise_of(gov, db, ref, c) for ref, c in inputs}
    if stmt.kind == "export":
        target = stmt.file or "STDOUT"
        destination = gov.destination(target) if target.upper() != "STDOUT" else None
        output = DatasetRef.of(target) if destination is not None else None
        action = Action.EXPORT if destination is not None else Action.READ
        # The query's column edges lead into what the COPY writes, not into the query's own
        # name (query_<hash>): edges into a dataset that is not an output made the store
        # refuse the whole run (and OpenLineage not send it). To the client (STDOUT) no
        # dataset is written: no edges.
        edges = tuple(replace(e, target=output) for e in edges) if output is not None else ()
    elif stmt.target is None:  # a statement Lacuna cannot read: into the database itself
        destination, output, action = _unreadable(gov, db, stmt), None, Action.EXPORT
    else:  # into this database, or into a file ATTACHed to it: decided for that file
        home, local = db.located(stmt.target, new=stmt.verb in ("create", "create_view"))
        destination = gov.destination(f"{home}#{stmt.target}")
        output = written_ref(home, local, stmt.sql)  # o.t of b.duckdb: b.duckdb#t
        here = written_ref(db.url, stmt.target, stmt.sql)
        if here != output:  # the column lineage names the table as this database's (o.t):
            # its edges lead into the file's, the run's output (else the store refused the
            # whole run: an UPDATE of an attached table left no record)
            edges = tuple(replace(e, target=output) if e.target == here else e for e in edges)
        action = Action.EXPORT
    op = gov.operation(
        action, written, method=method, code_location=_location(), destination=destination,
        sources=[Source(name=str(ref), classification=c) for ref, c in inputs],
    )
    produced = Produced(
        operation=method, inputs=tuple(input_version(ref, c, raised[ref]) for ref, c in inputs),
        outputs=(output,) if output is not None else (),
        classification=_after(gov, db, stmt, written),
        columns=columns, column_edges=edges, fingerprint=stmt.kind == "export",
    )
    return op, produced


def _upserted(
    gov: Governor, db: Database, stmt: Statement, written: Classification,
    edges: tuple[ColumnEdge, ...], sources: tuple[DatasetRef, ...],
) -> tuple[Classification, tuple[ColumnEdge, ...], tuple[DatasetRef, ...]]:
    """``INSERT … ON CONFLICT DO UPDATE SET``: what the inserted rows carry (``written``) and
    what the update writes, together, each column at the stricter of the two: the update's
    query (:attr:`Statement.upsert`, which may read other tables) and, for a column set from
    another inserted column (``SET b = excluded.c``), that column's class."""
    from lacuna.lineage.rules import combine

    # the parameters it runs with (INSERT … SELECT … DO UPDATE SET b = ?, which its query
    # holds); after INSERT … VALUES they are the rows' (none: SET b = ? is moved as BOUND)
    update = read_of(gov, db, replace(stmt, query=stmt.upsert))
    parents = [written, update.classification]
    moved = {col: written.columns[x] for col, x in stmt.moved if x in written.columns}
    if any(x == BOUND for _, x in stmt.moved) and written.columns:  # SET b = ?: any value
        from lacuna.lineage.rules import stricter

        strictest = functools.reduce(
            lambda a, b: stricter(a, b, gov.config.classification), written.columns.values())
        moved.update({col: strictest for col, x in stmt.moved if x == BOUND})
    if moved:
        parents.append(replace(written, columns=moved))
    merged = combine(parents, gov.config.classification,
                     names=("the inserted rows", "its DO UPDATE", "inserted columns it moves"))
    merged = replace(merged, reasoning=(*merged.reasoning, *update.classification.reasoning))
    return (merged, (*edges, *update.edges),
            tuple(dict.fromkeys((*sources, *update.sources))))


def _unreadable(gov: Governor, db: Database, stmt: Statement) -> Destination:
    """Where a statement Lacuna cannot read sends its data: the database, but never one that
    keeps classifications (Lacuna cannot tell which table, or which file, it writes), so
    ``classification_aware_databases`` does not let it through (fail closed)."""
    found = gov.destination(db.url)
    return replace(found, classification_support=False, reasoning=(
        f"Lacuna cannot tell where this {stmt.verb.upper() or 'SQL'} statement writes, so it "
        f"is treated as writing to {found.uri} without keeping any classification (fail "
        "closed)."))


def _after(gov: Governor, db: Database, stmt: Statement, written: Classification) -> Classification:
    """The table's classification after an append (``INSERT``, ``COPY … FROM``) or a change
    (``UPDATE``, ``MERGE``): its old rows stay, or may (an ``UPDATE`` of every row still held
    them a moment before, and Lacuna does not count rows), so each column keeps the stricter
    of its stored and its written class (innocent-looking values written never launder a
    column stored as PII; a DuckDB table's comment said ``email`` was public after
    ``UPDATE o.t SET email = 'n/a'``, and the next session read it so)."""
    if stmt.verb not in ("insert", "copy_from", "update", "merge") or stmt.target is None:
        return written
    from lacuna.lineage.sidecar import restrict

    before = classify_table(gov, db, stmt.target)
    if before is None:
        return written
    merged, _ = restrict(replace(before, tier=before.floor), written, gov.config.classification,
                         where=f"{stmt.target} before the write")
    return merged


def _classification_of(
    gov: Governor, db: Database, ref: DatasetRef, fallback: Classification
) -> Classification:
    name = ref.name.rpartition("#")[2] if "#" in ref.name else ref.name.rpartition(".")[2]
    try:
        return classify_table(gov, db, name) or fallback
    except Exception:
        return fallback


def _raise_of(gov: Governor, db: Database, ref: DatasetRef, c: Classification) -> Raised | None:
    """Which part of input table ``ref``'s classification ``c`` claims raised
    (:mod:`lacuna.lineage.attribution`), recorded with its input version so a dismissal takes it
    back; None when none did, or ``c`` is not the table's own class (a fallback)."""
    name = ref.name.rpartition("#")[2] if "#" in ref.name else ref.name.rpartition(".")[2]
    try:
        return table_raise(gov, db, name) if classify_table(gov, db, name) is c else None
    except Exception:
        return None


def _values(
    gov: Governor, db: Database, stmt: Statement, parameters: Any, many: bool
) -> tuple[Classification, tuple[str, ...]]:
    """``INSERT … VALUES``: the data comes from the client, so classify what it sends (column
    names and as many rows of parameters or literals as a frame's classification samples,
    ``classification.sample_rows``, spread over all of them: :func:`spread`)."""
    import pandas as pd

    from lacuna.classify import classify_frame

    columns = list(stmt.columns)
    if not columns and stmt.target:
        info = db.table(stmt.target)
        columns = [c.name for c in info.columns] if info is not None else []
    rows = _rows(stmt, parameters, many, columns, gov.config.classification.sample_rows,
                 db.dialect)
    width = max((len(r) for r in rows), default=len(columns))
    if len(columns) != width:  # e.g. INSERT INTO t VALUES (…) on a table Lacuna cannot see
        columns = [*columns, *(f"column_{i}" for i in range(len(columns), width))][:width]
    with _bypass.bypass():
        frame = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(
            columns=columns)
        written = classify_frame(frame, config=gov.config.classification, cascade=gov.cascade)
    return written, tuple(columns)


def spread(items: Sequence[T], k: int) -> list[T]:
    """At most ``k`` of ``items``, spread over all of them as a frame's sample is
    (:func:`lacuna.classify.scan.sample_positions`): an ``executemany`` whose first rows are
    innocent and whose later rows hold e-mails is sampled where the e-mails are (the first
    ``k`` alone let 300 e-mails after 200 regions into a database as PUBLIC)."""
    from lacuna.classify.scan import sample_positions

    positions = sample_positions(len(items), k)
    return list(items) if positions is None else [items[int(i)] for i in positions]


def _query_values(stmt: Statement, dialect: str) -> bool:
    """Whether ``INSERT … VALUES`` is classified as the ``SELECT`` of its rows
    (:func:`_values_query`): its values hold a query (``VALUES ((SELECT email FROM customers
    LIMIT 1))``), or bound parameters next to other values (``VALUES (?, 'kira@…')``: the
    parameters were classified as the first columns and the literals not at all, so the
    e-mail written in the SQL went in as PUBLIC). Parameters alone, or literals alone, are
    classified as the rows they are (:func:`_values`)."""
    if stmt.reads:
        return True
    if not stmt.placeholders:
        return False
    from sqlglot import exp

    tree = _tree(stmt.sql, dialect)
    values = tree.args.get("expression") if tree is not None else None
    if not isinstance(values, exp.Values):
        return False
    items = [e for row in values.expressions
             for e in (row.expressions if isinstance(row, exp.Tuple) else [row])]
    return any(not isinstance(e, (exp.Placeholder, exp.Parameter)) for e in items) and any(
        e.find(exp.Placeholder, exp.Parameter) is not None for e in items)


def _values_query(db: Database, stmt: Statement) -> str:
    """``INSERT … VALUES`` whose rows hold a query (``VALUES ((SELECT email FROM customers
    LIMIT 1), ?)``) as the ``SELECT`` of those rows, each value named as the column it goes
    into: its values were classified as the client's literals, the query's as none, and the
    e-mail went into the table as PUBLIC. As a query, column lineage classifies what the
    subquery reads, and the literals and bound values it holds by their values.

    Raises:
        IntegrationError: the statement holds no ``VALUES`` Lacuna can read (the caller fails
            closed).
    """
    from sqlglot import exp

    tree = _tree(stmt.sql, db.dialect)  # read already by _query_values: parsed once
    values = tree.args.get("expression") if tree is not None else None
    if not isinstance(values, exp.Values) or not values.expressions:
        msg = f"Lacuna cannot read the VALUES of {' '.join(stmt.sql.split())[:80]}"
        raise IntegrationError(msg)
    columns = list(stmt.columns)
    if not columns and stmt.target:
        info = db.table(stmt.target)
        columns = [c.name for c in info.columns] if info is not None else []
    query: exp.Query | None = None
    for row in values.expressions:
        items = row.expressions if isinstance(row, exp.Tuple) else [row]
        names = [*columns, *(f"column_{i}" for i in range(len(columns), len(items)))]
        select = exp.select(*(e.copy().as_(n) for e, n in zip(items, names, strict=False)))
        query = select if query is None else exp.union(query, select, distinct=False)
    assert query is not None
    return str(query.sql(dialect=db.dialect))


def _rows(
    stmt: Statement, parameters: Any, many: bool, columns: list[str], k: int, dialect: str,
) -> list[tuple[Any, ...]]:
    batches: Sequence[Any] = spread(parameters or [], k) if many else (
        [parameters] if parameters else [])
    extra = any(x == BOUND for _, x in stmt.moved)  # … DO UPDATE SET b = :b_1: it is data
    tree = _tree(stmt.sql, dialect) if batches and stmt.placeholders else None
    bound = value_rows(tree, batches, extra=extra) if tree is not None else None
    if bound is not None:  # each value where the parameter that binds it is (binding.py)
        return spread(bound, k)
    rows: list[tuple[Any, ...]] = []
    for batch in batches:
        if isinstance(batch, dict):
            values = list(batch.values())
            named = [batch.get(c) for c in columns] if set(columns) <= set(batch) else values
            if extra and named is not values:
                named += [v for k, v in batch.items() if k not in columns]
            rows.append(tuple(named))
        elif isinstance(batch, (list, tuple)):
            rows.append(tuple(batch))
    if rows and columns and all(len(r) % len(columns) == 0 for r in rows):
        # insertmanyvalues: one statement carries many rows' parameters in a flat tuple
        width = len(columns)
        rows = [r[i:i + width] for r in rows for i in range(0, len(r), width)]
    if not rows:
        rows = _literal_rows(stmt, dialect)
    return spread(rows, k)


_LAST_TREE: tuple[str, str, Any] | None = None


def _tree(sql: str, dialect: str) -> Any:
    """``sql`` parsed in ``dialect`` (None when it does not parse), kept for the next reader
    of the same statement: an ``INSERT … VALUES`` is read for its query values and its rows,
    each a parse in time proportional to its length. One tree only (a 500 kB statement's is
    large); callers do not change it."""
    global _LAST_TREE
    import sqlglot

    last = _LAST_TREE
    if last is not None and last[0] == sql and last[1] == dialect:
        return last[2]
    try:
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    except Exception:
        tree = None
    _LAST_TREE = (sql, dialect, tree)
    return tree


def _literal_rows(stmt: Statement, dialect: str) -> list[tuple[Any, ...]]:
    """The rows of ``INSERT … VALUES`` written in the SQL, read in the database's dialect
    (read as ANSI, PostgreSQL's ``$$…$$`` or ``E'…'`` did not parse, and the values went
    unclassified), each value by :func:`_constant`."""
    from sqlglot import exp

    tree = _tree(stmt.sql, dialect)
    values = tree.find(exp.Values) if tree is not None else None
    if values is None:
        return []
    return [tuple(_constant(e) for e in row.expressions)
            for row in values.expressions if isinstance(row, exp.Tuple)]


def _constant(node: Any) -> Any:
    """A value written in the SQL: a literal's value; for an expression of literals, its
    strings joined in order (``'kira' || '.k@example.com'``, ``CAST('…' AS TEXT)``,
    ``lower('…')``, ``('…')``: each was None, and an e-mail spelled so went in as PUBLIC);
    None when it holds no string."""
    from sqlglot import exp

    if isinstance(node, exp.Literal):
        return node.name
    parts = [lit.name for lit in node.find_all(exp.Literal, bfs=False) if lit.is_string]
    return "".join(parts) if parts else None


def _whole_database(
    gov: Governor, db: Database
) -> tuple[Classification, list[tuple[DatasetRef, Classification]]]:
    """DuckDB's ``EXPORT DATABASE``, SQLite's ``VACUUM INTO``: every table leaves, so the
    export carries all of them (on SQLite, those of every attached database too)."""
    from lacuna.lineage.rules import combine

    if db.dialect == "sqlite":
        _, schemas = db.query("PRAGMA database_list")
        rows = []
        for _, schema, _ in schemas:
            if schema != "temp":
                rows += db.query(f"SELECT {literal(schema)}, name FROM {quote(schema)}."
                                 "sqlite_master WHERE type = 'table'")[1]
    else:
        _, rows = db.query("SELECT schema_name, table_name FROM duckdb_tables()")
    inputs: list[tuple[DatasetRef, Classification]] = []
    for schema, table in rows:
        name = table if schema in ("main", "public") else f"{schema}.{table}"
        found = classify_table(gov, db, name)
        if found is not None:
            inputs.append((table_ref(db.url, name), found))
    if not inputs:
        return Classification(), []
    return combine([c for _, c in inputs], gov.config.classification), inputs


def _comment(db: Database, stmt: Statement, produced: Produced) -> None:
    """After a write: the table's classification as its comment (PostgreSQL, DuckDB)."""
    if stmt.kind != "write" or stmt.target is None or stmt.verb == "create_view":
        return
    if stmt.returning and db.dialect == "duckdb":  # a COMMENT on the cursor would drop the
        return  # RETURNING rows; the lineage store keeps the classification
    try:
        db.comment_on(stmt.target, comment_text(produced.classification))
    except Exception as exc:  # the lineage store keeps it too; say so, never fail the write
        log.error("could not store the classification of %s as its comment: %s",
                  stmt.target, exc)


def _location() -> str | None:
    frame = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith(_HOSTS) and module not in ("lacuna", "pandas", "sqlalchemy"):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


__all__ = ["FIRES_EVENT_TRIGGERS", "FIRES_TRIGGERS", "SqlRead", "event_fired", "event_triggering",
           "fired_by", "opaque_routines", "parameter_sets", "read_of",
           "refuse_database_statement", "returned", "run_governed", "spread", "triggering",
           "ungovernable", "write_of", "written_into"]
