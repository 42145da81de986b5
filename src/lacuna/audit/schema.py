"""The audit tables and the engine that reaches them (SQLite by default, PostgreSQL by URL).

Two tables:

- ``lacuna_audit``: one row per record; the canonical JSON body, its hash link, its signature
  (see :mod:`lacuna.audit.chain`), and copies of the fields that ``list`` filters on and of a
  decision's operation id (``of_operation``), indexed.
- ``lacuna_audit_head``: one row (``id = 1``) with the last ``seq`` and ``hash``. Appends lock it
  (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` elsewhere), so concurrent writers take
  turns and never fork the chain; ``verify()`` compares it with the last record, so deleting the
  newest records is detected too.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives a crash (or ``kill -9``)
of the process; a power cut may lose the last few commits but never corrupts the file.

A live database file is only ever opened through SQLite. Opening and closing it from Python
(even to read its first bytes) drops every POSIX lock the process holds on it, after which
another process may checkpoint and delete the write-ahead log under this one's open
connections, silently losing its later commits (SQLite's "how to corrupt your database",
section 2.2). So paths are only ``stat``-ed here, and a file that is not an SQLite database is
recognised by SQLite's own answer (``file is not a database``).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from lacuna._forks import fresh_pool_in_child
from lacuna.errors import AuditError
from lacuna.redact import redact_url

if TYPE_CHECKING:
    from lacuna.state.engines import Lease

LAYOUT_VERSION = 3  # 2: records carry a signature; 3: and their decision's operation id
SQLITE_MAGIC = b"SQLite format 3\x00"  # what SQLite writes first (tests build files)
BUSY_TIMEOUT_S = 30.0

metadata = MetaData()

records = Table(
    "lacuna_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("id", String(32), nullable=False, unique=True),
    Column("timestamp", String(40), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("allowed", Boolean, nullable=False),
    Column("policy_id", String(255)),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", String(128)),  # NULL only in a trail written before layout 2
    # the operation id of a decision record (lacuna.audit.record.indexed_operation_id), NULL
    # for outcomes and events: derived from the body, so not hashed or signed (verify
    # compares it with the body); what of_operation looks up
    Column("operation_id", String(255)),
    Index("ix_lacuna_audit_timestamp", "timestamp"),
    Index("ix_lacuna_audit_user_id", "user_id"),
    Index("ix_lacuna_audit_action", "action"),
    Index("ix_lacuna_audit_allowed", "allowed"),
    Index("ix_lacuna_audit_policy_id", "policy_id"),
    Index("ix_lacuna_audit_operation_id", "operation_id"),
)

head = Table(
    "lacuna_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("layout_version", Integer, nullable=False),
)


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        msg = (f"audit URL {redact_url(url)!r} is not a database URL ({exc}). Use e.g. "
               "'sqlite:////var/lib/lacuna/audit.db' or 'postgresql+psycopg://user@host/db'.")
        raise AuditError(msg) from None
    if parsed.get_backend_name() == "sqlite" and _sqlite_path(parsed) is not None:
        parsed = parsed.set(database=str(Path(parsed.database or "").expanduser()))
    return parsed


def _sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    db = url.database or ""
    if db in ("", ":memory:") or db.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(db).expanduser()


def sqlite_file(url: URL) -> Path | None:
    return _sqlite_path(url) if url.get_backend_name() == "sqlite" else None


def check_sqlite_file(path: Path, *, create: bool) -> None:
    """Refuse a folder at the path; create the parent folder (``create``) or refuse a missing
    file. Only ``stat``: the file itself is never opened here (see the module docstring)."""
    if path.is_dir():
        msg = (f"audit trail {path} is a folder, not an SQLite file. "
               f"Point audit.url at a file inside it, e.g. sqlite:///{path}/audit.db.")
        raise AuditError(msg)
    if path.exists():
        return
    if not create:
        msg = f"no audit trail at {path}: nothing has been recorded there yet."
        raise AuditError(msg)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = (f"cannot create the folder {path.parent} for the audit trail "
               f"({exc.strerror}). Create it, or set audit.url to a writable location.")
        raise AuditError(msg) from exc


def explain(exc: BaseException, where: str, doing: str) -> str:
    """A driver error as what happened, where, and what to do (never the raw exception)."""
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    if "locked" in detail or "busy" in detail:
        return (f"cannot {doing} the audit trail {where}: another process held its lock "
                f"for too long ({detail}). Retry; if it persists, look for a stuck process.")
    if "not a database" in detail or "malformed" in detail:
        return (f"{where} exists but is not an SQLite database, or is damaged ({detail}), so "
                "Lacuna will not use or overwrite it. Move it aside (e.g. rename it to "
                "audit.db.bad) and keep it as evidence to start a new audit trail, or set "
                "audit.url in lacuna.yaml to another file.")
    if "unable to open" in detail or "readonly" in detail or "read-only" in detail:
        return (f"cannot {doing} the audit trail {where} ({detail}). Check that the file and "
                "its folder exist and that this user may read (and, to record, write) them.")
    return f"cannot {doing} the audit trail {where}: {detail}."


class _SqliteStatements:
    """The compiled statements of every SQLite engine :func:`build_engine` makes, shared.

    SQLAlchemy keeps each engine's compiled statements in a cache of its own, keyed by the
    engine's dialect *object*: a process that opens several state databases (the stores of a
    new ``LACUNA_HOME``, ``lacuna audit verify`` beside a writer, every test) compiled each of
    Lacuna's statements again for each, ~0.3 ms apiece, some 60 of them before a governed read
    and write. Every SQLite engine here is built the same way (the same driver, no dialect
    arguments), so their dialects compile alike: this cache (the ``compiled_cache`` execution
    option, a mapping SQLAlchemy only ever reads with ``get`` and fills with ``[key] = ...``)
    keys by what a dialect compiles with (its class, SQLite's version, the driver module and
    paramstyle) instead of by its identity. The statements' own cache keys are SQLAlchemy's.
    """

    def __init__(self, size: int) -> None:
        from sqlalchemy.util import LRUCache

        self._held: Any = LRUCache(size)

    @staticmethod
    def _key(key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect = key[0]
        return (type(dialect), dialect.server_version_info, dialect.paramstyle,
                dialect.dbapi, *key[1:])

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self._held.get(self._key(key), default)

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self._held[self._key(key)] = value

    def __len__(self) -> int:
        return len(self._held)


#: shared by every SQLite engine of the process (SQLAlchemy's default is 500 per engine)
SQLITE_STATEMENTS = _SqliteStatements(1500)


def build_engine(url: URL, *, read_only: bool = False, stores: int = 1) -> Engine:
    """An engine with SQLite's locking made explicit; other backends as SQLAlchemy builds them.

    ``read_only`` opens a SQLite file with ``mode=ro``: SQLite itself refuses every write, so a
    reader (``lacuna audit verify``) cannot change what it inspects. ``stores``: how many
    stores share the engine (:mod:`lacuna.state.engines`); its pool holds as many connections
    as their engines of their own did together (SQLAlchemy's 5, and 10 more at a peak, each),
    so one store's readers never make another's writer wait for a connection.
    """
    kwargs: dict[str, Any] = {}
    is_sqlite = url.get_backend_name() == "sqlite"
    path = _sqlite_path(url) if is_sqlite else None
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        kwargs["execution_options"] = {"compiled_cache": SQLITE_STATEMENTS}
        if path is None:
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        elif read_only:
            kwargs["creator"] = _read_only_creator(path)
    if stores > 1 and (path is not None or not is_sqlite):
        kwargs["pool_size"], kwargs["max_overflow"] = 5 * stores, 10 * stores
    try:
        engine = create_engine(url, **kwargs)
    except ImportError as exc:
        driver = url.drivername
        msg = (f"the database driver for {driver!r} is not installed ({exc}). "
               "Install it, e.g. pip install 'psycopg[binary]' for postgresql+psycopg.")
        raise AuditError(msg) from exc
    except NoSuchModuleError:  # postgres://, mysql://: no dialect of that name
        msg = (f"database URL {redact_url(url.render_as_string())!r}: SQLAlchemy has no "
               f"database kind {url.drivername!r}. The state database is SQLite or "
               "PostgreSQL: use e.g. 'postgresql+psycopg://user@host/db' (not postgres://) or "
               "'sqlite:////var/lib/lacuna/audit.db'.")
        raise AuditError(msg) from None
    if is_sqlite:
        _sqlite_events(engine, memory=path is None, read_only=read_only)
    if path is not None or not is_sqlite:  # (an in-memory database is the child's own copy)
        fresh_pool_in_child(engine)
    return engine


def _read_only_creator(path: Path) -> Callable[[], sqlite3.Connection]:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)

    return connect


def _sqlite_events(engine: Engine, *, memory: bool, read_only: bool = False) -> None:
    # pysqlite opens transactions lazily and only before DML; take control so that an append
    # starts with BEGIN IMMEDIATE (the write lock) and reads with a plain BEGIN.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        configure_sqlite(dbapi_conn, memory=memory, read_only=read_only)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction on ``engine`` that takes SQLite's write lock first (``BEGIN
    IMMEDIATE``, waiting for it within the busy timeout; other databases: their ``BEGIN``).

    A transaction that reads before it writes must begin so: begun ``DEFERRED``, a commit of
    any other connection between its first read and its first write (another process, a
    server's group commit, this process's OpenLineage outbox thread) makes SQLite answer
    ``database is locked`` at once: a stale read snapshot cannot become a write, and no busy
    timeout applies to that."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        yield conn


SYNCHRONOUS = "NORMAL"  # in WAL mode: a commit survives kill -9; see docs/audit.md


def configure_sqlite(dbapi_conn: Any, *, memory: bool = False, read_only: bool = False) -> None:
    """Autocommit driver mode (Lacuna issues BEGIN itself), WAL, synchronous, busy timeout."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        if not memory and not read_only:
            _ensure_wal(cur)
        cur.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    finally:
        cur.close()


@contextmanager
def write_transaction(conn: sqlite3.Connection,
                      begin: Callable[[sqlite3.Connection], None] | None = None) -> Iterator[None]:
    """One write transaction on a raw ``sqlite3`` connection in autocommit mode (the appends
    of the audit trail and the decision log, which issue their statements themselves):
    ``BEGIN IMMEDIATE`` (or ``begin(conn)``), the block, ``COMMIT``; any exception rolls it
    all back and goes on."""
    if begin is None:
        conn.execute("BEGIN IMMEDIATE")
    else:
        begin(conn)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


ROWS_PER_INSERT = 256  # the most rows one INSERT of insert_rows carries


def insert_rows(conn: sqlite3.Connection, into: str, width: int,
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (each ``width`` values) with ``INSERT INTO <into> VALUES (...), (...)``
    statements of up to :data:`ROWS_PER_INSERT` rows, not an ``executemany`` step per row.

    Every step of a statement lets go of the GIL and takes it back. In a server worker whose
    event loop keeps the GIL busy, taking it back waits until the loop blocks or a switch
    interval has passed, and the writer holds the trail's write lock (and the writers' turn)
    all that time: with a thread spinning in Python beside it, ``executemany`` of 100 rows took
    a median 11 ms (84 ms with a 0.5 ms switch interval) where one statement took 4 to 8 ms
    (1.3 to 1.7 ms alone). One statement per group bounds those hand-overs by the number of
    statements, not of rows. ``into`` is ``table (col, ...)``."""
    if not rows:
        return
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(ROWS_PER_INSERT, limit // width))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        conn.execute(_insert_statement(into, width, len(chunk)),
                     [value for row in chunk for value in row])


@functools.lru_cache(maxsize=512)
def _insert_statement(into: str, width: int, count: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return f"INSERT INTO {into} VALUES " + ",".join([one] * count)


def _ensure_wal(cur: Any) -> None:
    """Put the file in WAL mode, once: the mode is stored in the file itself.

    Switching needs an exclusive lock, and SQLite answers ``database is locked`` at once,
    without waiting on the busy handler, when another process holds the file (two processes
    opening a new trail together). So read the mode first, and retry a locked switch until
    the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def ensure_tables(engine: Engine, tables: MetaData, *, where: str) -> None:
    """Upgrade the state schema (:func:`lacuna.state.upgrade`), then create the missing
    tables of ``tables``, safely when many processes start together.

    The check runs without a write lock (the usual case: everything exists). Creation runs
    in one ``BEGIN IMMEDIATE`` transaction, which waits for the write lock within the busy
    timeout, re-checks under it and creates what is still missing: one process creates, the
    others find the tables made. A deferred transaction would instead fail at once with
    ``database is locked`` when it tries to upgrade its read snapshot to a write.

    Raises:
        AuditError: the lock was held too long, the file is not SQLite, or it is damaged.
        StateSchemaError: the database was written by a newer Lacuna.
    """
    from lacuna.state.schema import upgrade

    upgrade(engine, where=where)  # the migrated state schema (lacuna.state), then any table
    # of ``tables`` not (yet) under a migration, created as before
    sqlite = engine.dialect.name == "sqlite"
    wanted = [t.name for t in tables.sorted_tables]
    attempts = 1 if sqlite else 2  # PostgreSQL: two processes may still race on CREATE
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                found = set(inspect(conn).get_table_names())
            if all(name in found for name in wanted):
                return
            opts = {"sqlite_begin": "IMMEDIATE"} if sqlite else {}
            with engine.connect().execution_options(**opts) as conn, conn.begin():
                tables.create_all(conn, checkfirst=True)
            return
        except (SQLAlchemyError, sqlite3.Error) as exc:
            if attempt == attempts:
                raise AuditError(explain(exc, where, "open")) from exc


def lease_state_database(url: str, tables: MetaData, owner: object) -> Lease:
    """:func:`open_state_database` on the engine this process shares for the database
    (:mod:`lacuna.state.engines`), leased for ``owner``: release it when ``owner`` closes.

    Raises:
        AuditError: as :func:`open_state_database`.
    """
    from lacuna.state import engines

    parsed = parse_url(url)
    path = sqlite_file(parsed)
    where = str(path) if path is not None else redact_url(parsed)
    if path is not None:
        check_sqlite_file(path, create=True)
    lease = engines.lease(parsed).held_by(owner)
    # checked once while the engine stays leased (each enable() opens a new decision log on
    # the audit trail's engine: ~3 ms of schema checks apiece)
    settled = "tables:" + ",".join(sorted(tables.tables))
    if settled in lease.settled:
        return lease
    try:
        ensure_tables(lease.engine, tables, where=where)
    except AuditError:
        lease.release()
        raise
    lease.settled.add(settled)
    return lease


def open_state_database(url: str, tables: MetaData) -> Engine:
    """An engine on Lacuna's state database with ``tables`` created: the same checks as the
    audit trail (a non-SQLite file is refused untouched, folders are created), for the stores
    that live beside it (exceptions, decision logs, the classification cache).

    Raises:
        AuditError: a malformed URL, a file that is not SQLite, a missing driver, a lock held
            too long while creating the tables.
    """
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    where = str(path) if path is not None else redact_url(parsed)
    if path is not None:
        check_sqlite_file(path, create=True)
    engine = build_engine(parsed)
    try:
        ensure_tables(engine, tables, where=where)
    except AuditError:
        engine.dispose()
        raise
    return engine
