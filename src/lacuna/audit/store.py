"""``AuditStore``: an append-only, hash-chained audit trail in SQLite or PostgreSQL.

Every decision, allowed or denied, is appended with its provenance (who, what, when, why, how).
Appends are serialized by a lock on the head row, so any number of processes can share one
trail without forking the chain; ``verify()`` recomputes the chain and names the first record
that was edited, deleted or reordered.

Example:
    >>> from lacuna.audit import AuditStore
    >>> store = AuditStore("sqlite://")          # in memory; a file path in real use
    >>> store.verify().ok, store.list()
    (True, [])
    >>> store.close()
"""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lacuna.audit.record import (
    GENESIS_HASH,
    AuditRecord,
    VerifyReport,
    build_body,
    canonical_json,
    chain_hash,
    iso,
)
from lacuna.audit.schema import (
    LAYOUT_VERSION,
    build_engine,
    check_sqlite_file,
    head,
    metadata,
    parse_url,
    records,
    sqlite_file,
)
from lacuna.audit.verify import verify_chain
from lacuna.errors import AuditError
from lacuna.model import Decision, Operation, utcnow

_HEAD = select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
_INSERT = insert(records)
_UPDATE_HEAD = update(head).where(head.c.id == 1)


class AuditStore:
    """The audit trail at one SQLAlchemy URL.

    Args:
        url: e.g. ``sqlite:////home/me/.lacuna/audit.db`` (the default, from
            ``Config.audit_url``) or ``postgresql+psycopg://lacuna@db/governance``.
        create: create the SQLite file (and its folder) when missing; with ``False`` a missing
            file raises ``AuditError`` instead, for read-only commands.

    Raises:
        AuditError: the URL is malformed, its driver is missing, or the file at the path is not
            an SQLite audit trail (it is left untouched).
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = parse_url(url)
        self.path = sqlite_file(self.url)
        self.where = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        if self.path is not None:
            check_sqlite_file(self.path, create=create)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        self._engine = build_engine(self.url)
        self._lock = threading.Lock()  # threads of this process queue here, not on the database
        try:
            self._init_schema()
        except AuditError:
            self._engine.dispose()
            raise
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise AuditError(self._explain(exc, "open")) from exc

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
            elif not write:
                conn.execution_options(isolation_level="REPEATABLE READ")  # one snapshot
            with conn.begin():
                yield conn

    def _init_schema(self) -> None:
        with self._transaction(write=False) as conn:  # the usual case: nothing to create
            if self._ready(conn):
                return
        for attempt in (1, 2):  # two PostgreSQL processes may race to create the tables
            try:
                with self._transaction(write=True) as conn:
                    metadata.create_all(conn)
                    self._check_layout(conn)
                    if not self._has_head_or_records(conn):
                        conn.execute(insert(head).values(
                            id=1, seq=0, hash=GENESIS_HASH, layout_version=LAYOUT_VERSION))
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _ready(self, conn: Connection) -> bool:
        """Both tables and the head row exist (layout checked): no write lock needed to open."""
        inspector = inspect(conn)
        if not all(inspector.has_table(t.name) for t in (records, head)):
            return False
        self._check_layout(conn)
        return self._has_head_or_records(conn)

    @staticmethod
    def _has_head_or_records(conn: Connection) -> bool:
        # A missing head over existing records is tampering: leave it for verify() to report,
        # never paper over it with a fresh head.
        if conn.execute(select(head.c.id).where(head.c.id == 1)).first() is not None:
            return True
        return conn.execute(select(records.c.seq).limit(1)).first() is not None

    def _check_layout(self, conn: Connection) -> None:
        for table in (records, head):
            found = {c["name"] for c in inspect(conn).get_columns(table.name)}
            missing = sorted(set(table.c.keys()) - found)
            if missing:
                msg = (f"{self.where}: table {table.name} exists but lacks column(s) "
                       f"{', '.join(missing)}: it was not written by Lacuna. Point audit.url at "
                       "another database; Lacuna will not change this table.")
                raise AuditError(msg)
        row = conn.execute(select(head.c.layout_version).where(head.c.id == 1)).first()
        if row is not None and row.layout_version > LAYOUT_VERSION:
            msg = (f"{self.where} was written by a newer Lacuna (audit layout "
                   f"{row.layout_version}, this one reads {LAYOUT_VERSION}). Upgrade Lacuna.")
            raise AuditError(msg)

    def _explain(self, exc: SQLAlchemyError, doing: str) -> str:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if "locked" in detail or "busy" in detail:
            return (f"cannot {doing} the audit trail {self.where}: another process held its lock "
                    f"for too long ({detail}). Retry; if it persists, look for a stuck process.")
        if "not a database" in detail or "malformed" in detail:
            return (f"the audit trail {self.where} is damaged ({detail}). Lacuna will not "
                    "overwrite it: move it aside and keep it as evidence; a new trail starts "
                    "in its place.")
        return f"cannot {doing} the audit trail {self.where}: {detail}."

    # -- append ------------------------------------------------------------------------------

    def record(self, decision: Decision, operation: Operation, *, session: str) -> AuditRecord:
        """Append one decision (allowed or denied) with its provenance, hash-chained.

        Args:
            decision: the policy's answer.
            operation: the operation it answers (who, what, when, why, how).
            session: the governor's session id, recorded under ``who``.

        Returns:
            The stored record, with its ``seq`` and ``hash``.

        Raises:
            AuditError: the database could not be written (locked too long, damaged, gone).
        """
        record_id = uuid.uuid4().hex
        recorded_at = utcnow()
        body = build_body(decision, operation, session=session, record_id=record_id, seq=0,
                          recorded_at=recorded_at)
        when = body["when"]
        try:
            with self._lock, self._transaction(write=True) as conn:
                last = conn.execute(_HEAD).first()
                if last is None:
                    msg = (f"cannot append to the audit trail {self.where}: its head row is "
                           "missing, so the trail was tampered with. Run `lacuna audit verify` "
                           "and keep the database as evidence; start a new trail elsewhere.")
                    raise AuditError(msg)
                seq = last.seq + 1
                body["seq"] = seq
                text = canonical_json(body)
                digest = chain_hash(last.hash, text)
                conn.execute(_INSERT, {
                    "seq": seq, "id": record_id, "timestamp": when, "user_id": operation.user.id,
                    "action": operation.action.value, "allowed": decision.allowed,
                    "policy_id": decision.policy_id, "body": text, "prev_hash": last.hash,
                    "hash": digest,
                })
                conn.execute(_UPDATE_HEAD, {"seq": seq, "hash": digest})
        except SQLAlchemyError as exc:
            raise AuditError(self._explain(exc, "append to")) from exc
        return AuditRecord(seq=seq, id=record_id, timestamp=datetime.fromisoformat(when),
                           user_id=operation.user.id, action=operation.action.value,
                           allowed=decision.allowed, policy_id=decision.policy_id, body=text,
                           prev_hash=last.hash, hash=digest)

    # -- read --------------------------------------------------------------------------------

    def list(
        self,
        *,
        limit: int | None = 50,
        denied_only: bool = False,
        user: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
    ) -> builtins.list[AuditRecord]:
        """Records, newest first, optionally filtered.

        Args:
            limit: at most this many records (None: all).
            denied_only: only denials.
            user: only this user id.
            action: only this action (``read``, ``write``, ``export``, ``transform``).
            since: only operations at or after this instant (a datetime or ISO-8601 string;
                naive values are taken as UTC).
        """
        stmt = select(records).order_by(records.c.seq.desc())
        if denied_only:
            stmt = stmt.where(records.c.allowed.is_(False))
        if user is not None:
            stmt = stmt.where(records.c.user_id == user)
        if action is not None:
            stmt = stmt.where(records.c.action == action)
        if since is not None:
            stmt = stmt.where(records.c.timestamp >= iso(_as_datetime(since)))
        if limit is not None:
            stmt = stmt.limit(max(int(limit), 0))
        return [_to_record(row) for row in self._read(stmt)]

    def get(self, record_id: str | int) -> AuditRecord | None:
        """One record by its id (a hex string) or its ``seq`` (an int); None when absent."""
        column = records.c.seq if isinstance(record_id, int) else records.c.id
        rows = self._read(select(records).where(column == record_id))
        return _to_record(rows[0]) if rows else None

    def verify(self) -> VerifyReport:
        """Recompute the whole hash chain; see :mod:`lacuna.audit.verify` for what it checks."""
        try:
            with self._transaction(write=False) as conn:
                return verify_chain(conn)
        except SQLAlchemyError as exc:
            raise AuditError(self._explain(exc, "read")) from exc

    def _read(self, stmt: Any) -> builtins.list[Any]:
        try:
            with self._transaction(write=False) as conn:
                return list(conn.execute(stmt).all())
        except SQLAlchemyError as exc:
            raise AuditError(self._explain(exc, "read")) from exc

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditStore({self.where!r})"


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = f"since={value!r} is not an ISO-8601 date or time; use e.g. 2026-01-20T14:00."
        raise AuditError(msg) from None


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):  # an edited column; verify() names the record
        return datetime.min.replace(tzinfo=UTC)


def _to_record(row: Any) -> AuditRecord:
    return AuditRecord(seq=row.seq, id=row.id, timestamp=_parse_time(row.timestamp),
                       user_id=row.user_id, action=row.action, allowed=bool(row.allowed),
                       policy_id=row.policy_id, body=row.body, prev_hash=row.prev_hash,
                       hash=row.hash)
