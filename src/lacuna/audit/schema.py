"""The audit tables and the engine that reaches them (SQLite by default, PostgreSQL by URL).

Two tables:

- ``lacuna_audit``: one row per record; the canonical JSON body, its hash link, and copies of the
  fields that ``list`` filters on (indexed).
- ``lacuna_audit_head``: one row (``id = 1``) with the last ``seq`` and ``hash``. Appends lock it
  (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` elsewhere), so concurrent writers take
  turns and never fork the chain; ``verify()`` compares it with the last record, so deleting the
  newest records is detected too.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives a crash of the process;
a power cut may lose the last few commits but never corrupts the file.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from lacuna.errors import AuditError

LAYOUT_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
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
    Index("ix_lacuna_audit_timestamp", "timestamp"),
    Index("ix_lacuna_audit_user_id", "user_id"),
    Index("ix_lacuna_audit_action", "action"),
    Index("ix_lacuna_audit_allowed", "allowed"),
    Index("ix_lacuna_audit_policy_id", "policy_id"),
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
        msg = (f"audit URL {url!r} is not a database URL ({exc}). Use e.g. "
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
    """Refuse, without touching it, a path that exists but is not an SQLite database."""
    if path.is_dir():
        msg = (f"audit trail {path} is a folder, not an SQLite file. "
               f"Point audit.url at a file inside it, e.g. sqlite:///{path}/audit.db.")
        raise AuditError(msg)
    if not path.exists():
        if not create:
            msg = f"no audit trail at {path}: nothing has been recorded there yet."
            raise AuditError(msg)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = (f"cannot create the folder {path.parent} for the audit trail "
                   f"({exc.strerror}). Create it, or set audit.url to a writable location.")
            raise AuditError(msg) from exc
        return
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        msg = f"cannot read the audit trail {path} ({exc.strerror}). Check its permissions."
        raise AuditError(msg) from exc
    if magic and magic != SQLITE_MAGIC:
        msg = (f"{path} exists but is not an SQLite database, so Lacuna will not use or overwrite "
               "it. Move it aside (e.g. rename it to audit.db.bad) to start a new audit trail, "
               "or set audit.url in lacuna.yaml to another file.")
        raise AuditError(msg)


def build_engine(url: URL) -> Engine:
    """An engine with SQLite's locking made explicit; other backends as SQLAlchemy builds them."""
    kwargs: dict[str, Any] = {}
    is_sqlite = url.get_backend_name() == "sqlite"
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        if _sqlite_path(url) is None:
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
    try:
        engine = create_engine(url, **kwargs)
    except ImportError as exc:
        driver = url.drivername
        msg = (f"the database driver for {driver!r} is not installed ({exc}). "
               "Install it, e.g. pip install 'psycopg[binary]' for postgresql+psycopg.")
        raise AuditError(msg) from exc
    if is_sqlite:
        _sqlite_events(engine, memory=_sqlite_path(url) is None)
    return engine


def _sqlite_events(engine: Engine, *, memory: bool) -> None:
    # pysqlite opens transactions lazily and only before DML; take control so that an append
    # starts with BEGIN IMMEDIATE (the write lock) and reads with a plain BEGIN.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            if not memory:
                _ensure_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


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


def open_state_database(url: str, tables: MetaData) -> Engine:
    """An engine on Lacuna's state database with ``tables`` created: the same checks as the
    audit trail (a non-SQLite file is refused untouched, folders are created), for the stores
    that live beside it (exceptions, decision logs, the classification cache).

    Raises:
        AuditError: a malformed URL, a file that is not SQLite, a missing driver.
    """
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        check_sqlite_file(path, create=True)
    engine = build_engine(parsed)
    tables.create_all(engine)
    return engine
