"""The state schema's version, and bringing a database to it (Alembic, run in-process).

Alembic records the revision in ``lacuna_alembic_version`` (its own table name, so Lacuna's
state can share a database with an application that uses Alembic too). :func:`upgrade`:

1. reads the recorded revision without a write lock (the usual case: already at head, done,
   in one query);
2. refuses a revision this Lacuna does not know: the database was written by a newer Lacuna;
3. otherwise takes the database's write lock (``BEGIN IMMEDIATE`` on SQLite, a
   transaction-level advisory lock on PostgreSQL), reads the revision again under it, and runs
   the missing migrations in that one transaction (both databases have transactional DDL): of
   several processes opening a new database together, one migrates and the others find it done.

A database written before Lacuna used Alembic has Lacuna's tables but no version table; the
baseline revision creates only the tables that are missing, so such a file is adopted as it is.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData
from sqlalchemy.exc import SQLAlchemyError

from lacuna import _bypass
from lacuna.errors import AuditError
from lacuna.state.locks import serialize

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

VERSION_TABLE = "lacuna_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"


class StateSchemaError(AuditError):
    """The state database's schema is not one this Lacuna can use (newer, or foreign)."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """The revisions recorded in a database, against this Lacuna's head."""

    current: tuple[str, ...]  # empty: no version table (new, or written before Alembic)
    head: str
    unknown: tuple[str, ...] = ()  # recorded revisions this Lacuna does not know

    @property
    def up_to_date(self) -> bool:
        return self.current == (self.head,)

    @property
    def newer(self) -> bool:
        return bool(self.unknown)

    def describe(self) -> str:
        if self.newer:
            return (f"revision {', '.join(self.unknown)} is newer than this Lacuna (head "
                    f"{self.head}): upgrade Lacuna")
        if self.up_to_date:
            return f"at revision {self.head} (head): up to date"
        if not self.current:
            return (f"no schema revision recorded (a new database, or one written before "
                    f"migrations): `lacuna db upgrade` brings it to {self.head}")
        return (f"at revision {', '.join(self.current)}, behind head {self.head}: "
                "`lacuna db upgrade` (or opening any store) upgrades it")


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    """This Lacuna's head revision of the state schema.

    Read from the revision files' own ``revision = "…"`` and ``down_revision = …`` lines when
    they make one straight chain (:func:`linear_head`): every store's open compares the
    database's revision with it (:func:`_at_head`), and Alembic's script directory (importing
    Alembic and every revision module) cost some 80 ms of CPU of a process's first
    ``lacuna.enable()``. Anything else (a branch, a merge, a line it cannot read) asks Alembic.
    """
    quick = linear_head(MIGRATIONS / "versions")
    if quick is not None:
        return quick
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        msg = f"no migrations found in {MIGRATIONS}: the Lacuna installation is incomplete."
        raise StateSchemaError(msg)
    return head


_REVISION = re.compile(r"""^revision[ \t]*=[ \t]*["']([\w-]+)["'][ \t]*(?:#.*)?$""",
                       re.MULTILINE)
_DOWN = re.compile(r"""^down_revision[ \t]*=[ \t]*(?:None|["']([\w-]+)["'])[ \t]*(?:#.*)?$""",
                   re.MULTILINE)
_ANY_DOWN = re.compile(r"^down_revision\b", re.MULTILINE)
_LABELS = re.compile(r"^(?:branch_labels|depends_on)\s*=(?![ \t]*None[ \t]*(?:#.*)?$)",
                     re.MULTILINE)


@functools.cache
def linear_head(versions: Path) -> str | None:
    """The head of the revisions in ``versions`` when each file declares one ``revision``,
    one ``down_revision`` (a single revision, or ``None`` for the first) and no branch labels
    or dependencies, and they make one chain from one root; ``None`` when they do not (then
    Alembic's answer is needed)."""
    downs: dict[str, str | None] = {}
    for path in sorted(versions.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        revisions, down = _REVISION.findall(text), _DOWN.findall(text)
        if len(revisions) != 1 or len(down) != 1 or len(_ANY_DOWN.findall(text)) != 1 \
                or _LABELS.search(text) or revisions[0] in downs:
            return None
        downs[revisions[0]] = down[0] or None
    roots = [rev for rev, down in downs.items() if down is None]
    parents = [down for down in downs.values() if down is not None]
    if len(roots) != 1 or len(set(parents)) != len(parents) \
            or not set(parents) <= downs.keys():
        return None  # several roots, a branch, or a revision that names a missing one
    heads = downs.keys() - set(parents)
    if len(heads) != 1:  # pragma: no cover - one root and no branch leave one head
        return None
    return heads.pop()


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the state migrations, on ``url`` or an open ``connection``
    (which then stays in the caller's transaction)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


# Indexes made by a migration's own SQL, not by the stores' tables: an expression index
# differs by database (revision 0007's index of the audit trail's exception events), so it is
# not in ``state_metadata()`` and schema comparisons leave it out (``include_object``).
EXPRESSION_INDEXES = frozenset({"ix_lacuna_audit_exception_id"})


def include_object(*args: Any) -> bool:
    """Alembic's ``include_object`` (object, name, type, reflected, compare_to): everything
    but :data:`EXPRESSION_INDEXES`."""
    name, type_ = args[1], args[2]
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def state_metadata() -> MetaData:
    """Every store's tables in one ``MetaData`` (Alembic's ``target_metadata``; the test that
    the migrations' head matches the stores' tables compares with it)."""
    from lacuna import identity
    from lacuna.anonymize import budget, vault
    from lacuna.audit import schema as audit_schema
    from lacuna.classify import cache, cachestats
    from lacuna.datasets import store as datasets_store
    from lacuna.exceptions import store as exceptions_store
    from lacuna.lineage import schema as lineage_schema
    from lacuna.metrics import rollup
    from lacuna.policy import log_sinks
    from lacuna.proxy import fingerprints
    from lacuna.retention import holds
    from lacuna.state import database_id

    merged = MetaData()
    for md in (audit_schema.metadata, log_sinks.metadata, exceptions_store.metadata,
               lineage_schema.metadata, vault.metadata, cache.metadata,
               datasets_store.metadata, identity.metadata, cachestats.metadata,
               holds.metadata, rollup.metadata, fingerprints.metadata, database_id.metadata,
               budget.metadata):
        for table in md.sorted_tables:
            if table.name not in merged.tables:  # some stores share one MetaData
                table.to_metadata(merged)
    return merged


def status(conn: Connection) -> SchemaStatus:
    """What ``conn``'s database records, without changing anything."""
    from alembic.migration import MigrationContext

    with _bypass.bypass():  # Alembic's statements are Lacuna's own: never governed SQL
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        current = tuple(sorted(ctx.get_current_heads()))
    script = _script()
    unknown = []
    for rev in current:
        try:
            known = script.get_revision(rev) is not None
        except Exception:  # alembic's ResolutionError/CommandError: a revision it lacks
            known = False
        if not known:
            unknown.append(rev)
    return SchemaStatus(current=current, head=head_revision(), unknown=tuple(unknown))


def _at_head(conn: Connection) -> SchemaStatus | None:
    """The usual case in one query: the version table records exactly this Lacuna's head
    (what :func:`status` would say, without Alembic's set-up and table lookup, a few ms each
    time a store opens). ``None`` otherwise, :func:`status` tells the rest."""
    from sqlalchemy import text

    try:
        with _bypass.bypass():  # Lacuna's own statement, never governed SQL
            rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    except SQLAlchemyError:  # no version table yet (PostgreSQL: the failed statement's
        conn.rollback()  # transaction is rolled back, so status() can read)
        return None
    head = head_revision()
    return SchemaStatus(current=(head,), head=head) if [r[0] for r in rows] == [head] else None


@dataclass(frozen=True)
class _Head:
    """What the migrations leave in a new SQLite database: its schema statements in the order
    SQLite recorded them, and the rows they insert (the version table's, the database id's)."""

    statements: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...], tuple[tuple[Any, ...], ...]], ...]


@functools.cache
def _head_template(head: str) -> _Head:  # noqa: ARG001 - the cache's key
    """Every migration run once, in memory, in this process: what a new database is given."""
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.connect() as conn, conn.begin(), _bypass.bypass():
            command.upgrade(alembic_config(connection=conn), "head")
        raw = engine.raw_connection()
        try:
            entries = raw.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid").fetchall()
            order = {"table": 0, "index": 1, "trigger": 2, "view": 3}
            statements = tuple(sql for _, _, sql in sorted(
                entries, key=lambda e: order.get(e[0], 4)))  # stable: rowid within a type
            rows = []
            for kind, name, _ in entries:
                if kind != "table":
                    continue
                cursor = raw.execute(f'SELECT * FROM "{name}"')
                found = tuple(cursor.fetchall())
                if found:
                    rows.append((name, tuple(d[0] for d in cursor.description), found))
        finally:
            raw.close()
    finally:
        engine.dispose()
    return _Head(statements=statements, rows=tuple(rows))


def _replayed(conn: Connection) -> bool:
    """Give a new SQLite database (no table at all) the head schema in one go: the statements
    and rows the migrations left in a database made in memory once per process
    (:func:`_head_template`), with an id of its own. Sixteen migrations run through Alembic
    cost ~100 ms at each new database (each test's, each new folder's first command); the
    replay a few. The result is the migrated database itself, statement for statement
    (``tests/state/test_migrations.py`` compares them). False when the database holds
    anything: the migrations bring it to head."""
    from sqlalchemy import text

    from lacuna.state import database_id

    existing = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ).scalar()
    if existing:
        return False
    head = _head_template(head_revision())
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:  # in the caller's transaction: ~40 µs less apiece than through SQLAlchemy's events
        for statement in head.statements:
            cursor.execute(statement)
    finally:
        cursor.close()
    for table, columns, rows in head.rows:
        if table == database_id.TABLE:  # its own id, made now (revision 0008's row)
            from datetime import UTC, datetime

            rows = ((1, database_id.new_id(), datetime.now(UTC).isoformat()),)
            columns = ("id", "database_id", "created_at")
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(f":p{i}" for i in range(len(columns)))
        conn.execute(text(f'INSERT INTO "{table}" ({names}) VALUES ({marks})'),
                     [{f"p{i}": v for i, v in enumerate(row)} for row in rows])
    return True


def refuse_newer(found: SchemaStatus, where: str) -> None:
    if found.newer:
        msg = (f"the state database {where} was written by a newer Lacuna (schema revision "
               f"{', '.join(found.unknown)}; this Lacuna knows up to {found.head}). Upgrade "
               "Lacuna (pip install -U lacuna) to use it; nothing was changed.")
        raise StateSchemaError(msg)


def upgrade(engine: Engine, *, where: str, target: str = "head") -> SchemaStatus:
    """Bring ``engine``'s database to ``target`` (default: head), safely when many processes
    open it together; see the module docstring.

    Raises:
        StateSchemaError: the database was written by a newer Lacuna.
        AuditError: the lock was held too long, the file is not SQLite, a migration failed.
    """
    from lacuna.audit.schema import explain

    try:
        with engine.connect() as conn:
            found = _at_head(conn) or status(conn)
        refuse_newer(found, where)
        if found.up_to_date and target == "head":
            return found
        sqlite = engine.dialect.name == "sqlite"
        opts: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"} if sqlite else {}
        with engine.connect().execution_options(**opts) as conn, conn.begin():
            serialize(conn, "state-schema")
            found = status(conn)  # again, under the lock: another process may have migrated
            refuse_newer(found, where)
            if not (found.up_to_date and target == "head"):
                from alembic import command

                with _bypass.bypass():  # Lacuna's own DDL, not governed SQL (lacuna.sql)
                    if not (sqlite and target == "head" and _replayed(conn)):
                        command.upgrade(alembic_config(connection=conn), target)
                found = status(conn)
        return found
    except AuditError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise AuditError(explain(exc, where, "open")) from exc
