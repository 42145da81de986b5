"""``AuditStore``: an append-only, hash-chained, signed audit trail in SQLite or PostgreSQL.

Every decision, allowed or denied, is appended with its provenance (who, what, when, why, how).
Appends are serialized by a lock on the head row, so any number of processes can share one
trail without forking the chain. Each record is signed (:mod:`lacuna.signing`), and after each
commit a signed checkpoint (head seq, hash, time) is written outside the database
(:mod:`lacuna.audit.checkpoint`); ``verify()`` recomputes the chain, checks the signatures and
compares the trail with the latest checkpoint.

On SQLite an append is one ``BEGIN IMMEDIATE`` transaction of three prepared statements (read
the head, insert the record, move the head) on a connection the store keeps, committed in WAL
mode with ``synchronous=NORMAL``: once ``record()`` returns, the record survives ``kill -9``.

Example:
    >>> from lacuna.audit import AuditStore
    >>> store = AuditStore("sqlite://")          # in memory; a file path in real use
    >>> store.verify().ok, store.list()
    (True, [])
    >>> store.close()
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Text,
    and_,
    cast,
    false,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from lacuna._forks import keep, renew_in_child
from lacuna.audit.checkpoint import (
    Checkpoint,
    CheckpointFile,
    CheckpointLog,
    read_checkpoint_file,
)
from lacuna.audit.record import (
    GENESIS_HASH,
    OPERATION_ID_INDEXED,
    OUTCOME,
    AuditRecord,
    VerifyReport,
    build_body,
    build_outcome_body,
    canonical_json,
    chain_hash,
    column_time,
    escape_surrogates,
    indexed_operation_id,
    iso,
    link_payload,
    parse_when,
    plain_float,
)
from lacuna.audit.schema import (
    LAYOUT_VERSION,
    build_engine,
    check_sqlite_file,
    explain,
    head,
    insert_rows,
    metadata,
    parse_url,
    records,
    sqlite_file,
    write_transaction,
)
from lacuna.audit.turn import Turn
from lacuna.audit.verify import (
    Seen,
    compare_checkpoint,
    lenient_text,
    undecodable,
    verify_chain,
)
from lacuna.audit.walcheck import BACKSTOP_PAGES, WalCheckpointer
from lacuna.errors import AuditError, ConfigError
from lacuna.model import Decision, Operation, ordered_id, ordered_ids, utcnow
from lacuna.redact import redact_url
from lacuna.signing import Keyring, default_keyring
from lacuna.state import database_id, engines
from lacuna.state.schema import upgrade as upgrade_state

CHAIN = "audit"
_HEAD = select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
_INSERT = insert(records)
_UPDATE_HEAD = update(head).where(head.c.id == 1)
# The SQLite append: prepared once per connection (sqlite3's statement cache), no ORM layer.
_SQL_HEAD = "SELECT seq, hash FROM lacuna_audit_head WHERE id = 1"
_SQL_INTO = ("lacuna_audit (seq, id, timestamp, user_id, action, allowed, policy_id, body, "
             "prev_hash, hash, signature, operation_id)")
_SQL_UPDATE_HEAD = "UPDATE lacuna_audit_head SET seq = ?, hash = ? WHERE id = 1"
_UNSET: Any = object()
# the instants a record's 'when' may name (the column's text sorts as they do)
_EARLIEST = iso(datetime.min.replace(tzinfo=UTC) + timedelta(days=2))
_LATEST = iso(datetime.max.replace(tzinfo=UTC) - timedelta(days=2))
_MOST_ROWS = 2**63 - 1  # a LIMIT SQLite and PostgreSQL take (a bigger one was an OverflowError)
# What a read returns: every column but the derived index column (layout 3), so a read-only
# store reads a trail that no writer has migrated yet, as it did before layout 3.
READ_COLUMNS = tuple(c for c in records.c if c.name != "operation_id")


class AuditStore:
    """The audit trail at one SQLAlchemy URL.

    Args:
        url: e.g. ``sqlite:////home/me/.lacuna/audit.db`` (the default, from
            ``Config.audit_url``) or ``postgresql+psycopg://lacuna@db/governance``.
        create: create the SQLite file (and its folder) when missing; with ``False`` a missing
            file raises ``AuditError`` instead, for read-only commands.
        read_only: open for reading only (SQLite ``mode=ro``): nothing is created, migrated or
            written, not even a checkpoint. ``lacuna audit verify`` uses it.
        keyring: the signing keys; default :func:`lacuna.signing.default_keyring`.
        checkpoint: the checkpoint file; default ``<database>.checkpoint`` beside a SQLite file,
            none for other databases unless given. ``None`` turns it off.
        checkpoint_log: an optional external, append-only checkpoint log (a path).

    Raises:
        AuditError: the URL is malformed, its driver is missing, or the file at the path is not
            an SQLite audit trail (it is left untouched).
    """

    def __init__(self, url: str, *, create: bool = True, read_only: bool = False,
                 keyring: Keyring | None = None, checkpoint: Path | None = _UNSET,
                 checkpoint_log: Path | None = None) -> None:
        self.url = parse_url(url)
        self.path = sqlite_file(self.url)
        self.where = str(self.path) if self.path else redact_url(self.url)
        self.read_only = read_only
        # the configuration revision stamped on the decisions and outcomes appended from now
        # on (set by lacuna.audit.configuration.record_configuration)
        self.config_revision: str | None = None
        self.configured_with: Any = None  # the lacuna.config.Config of that revision
        self._first_append: Callable[[], object] | None = None
        self._first_lock = threading.RLock()  # other appenders wait for the hook to finish
        self._first_running = False
        self._first_taker: int | None = None  # the thread that took the hook off, recording
        if self.path is not None:
            check_sqlite_file(self.path, create=create and not read_only)
        if checkpoint is _UNSET:
            checkpoint = None if self.path is None else Path(f"{self.path}.checkpoint")
        self.checkpoint_path: Path | None = checkpoint
        # Resolved now for a writer: records signed later use the key of this moment's
        # LACUNA_HOME. A reader resolves it when it first verifies.
        self._keyring = keyring if keyring is not None or read_only else default_keyring()
        self._checkpoint = None if checkpoint is None else CheckpointFile(checkpoint, chain=CHAIN)
        self._log = (None if checkpoint_log is None
                     else CheckpointLog(Path(checkpoint_log).expanduser()))
        self.checkpoint_log: Path | None = None if self._log is None else self._log.path
        # the state database's id, which every checkpoint written here names (a writer reads
        # it once it has migrated the database; verify reads it in its snapshot)
        self.database_id: str | None = None
        self._sqlite = self.url.get_backend_name() == "sqlite"
        # a writer shares its engine with the decision log on the same database
        # (lacuna.state.engines); a reader opens one of its own, read-only
        self._lease = (engines.Lease(build_engine(self.url, read_only=True)) if read_only
                       else engines.lease(self.url)).held_by(self)
        self._engine = self._lease.engine
        self._lock = threading.Lock()  # threads of this process queue here, not on the database
        self._raw: Any = None  # the SQLite append connection, opened on first append
        self._raw_pid = 0
        self._turn = Turn(None if read_only else self.path)  # see turn()
        self._wal: WalCheckpointer | None = None  # see checkpoint_in_background()
        renew_in_child(self)
        try:
            if not read_only:
                self._init_schema()
                self._install_rollups()
        except AuditError:
            self._lease.release()
            raise
        except (SQLAlchemyError, sqlite3.Error) as exc:
            self._lease.release()
            raise AuditError(self._explain(exc, "open")) from exc

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            try:  # a reader never creates a key: a new one would verify nothing
                self._keyring = default_keyring(create=not self.read_only)
            except ConfigError as exc:
                msg = f"cannot verify the audit trail at {self.where}: {exc}"
                raise AuditError(msg) from None
        return self._keyring

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
            elif not write:  # one snapshot, and the server refuses any write in it
                conn.execution_options(isolation_level="REPEATABLE READ",
                                       postgresql_readonly=True)
            with conn.begin():
                yield conn

    def _init_schema(self) -> None:
        upgrade_state(self._engine, where=self.where)  # tables and migrations (lacuna.state)
        with self._transaction(write=False) as conn:  # the usual case: nothing to create
            ready = self._ready(conn)
            self.database_id = database_id.read(conn)  # made by revision 0008
        if not ready:
            for attempt in (1, 2):  # two PostgreSQL processes may race to create the tables
                try:
                    with self._transaction(write=True) as conn:  # waits for the write lock
                        metadata.create_all(conn)
                        self._migrate(conn)
                        self._check_layout(conn)
                        if not self._has_head_or_records(conn):
                            conn.execute(insert(head).values(
                                id=1, seq=0, hash=GENESIS_HASH, layout_version=LAYOUT_VERSION))
                    break
                except IntegrityError:
                    if attempt == 2 or self._sqlite:
                        raise
        if self._checkpoint is not None and self._checkpoint.peek() is None \
                and not self._checkpoint.path.exists():
            with self._transaction(write=False) as conn:
                top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
            if top is not None and top.seq == 0:  # a new trail: checkpoint its empty state
                self._advance(0, GENESIS_HASH)

    def _install_rollups(self) -> None:
        """The metrics' rollup tables, kept in each append's transaction (lacuna.metrics.rollup)."""
        from lacuna.metrics.rollup import install, installed

        with self._transaction(write=False) as conn:
            if installed(conn):
                return
        with self._transaction(write=True) as conn:
            top = conn.execute(select(head.c.seq).where(head.c.id == 1)).first()
            install(conn, top.seq if top is not None else 0)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for readers of the store's other tables, e.g. the rollups)."""
        return self._engine

    def _ready(self, conn: Connection) -> bool:
        """Both tables and the head row exist at this layout: no write lock needed to open."""
        inspector = inspect(conn)
        if not all(inspector.has_table(t.name) for t in (records, head)):
            return False
        if "signature" not in {c["name"] for c in inspector.get_columns(records.name)}:
            return False  # layout 1: migrate under the write lock
        self._check_layout(conn)
        return self._has_head_or_records(conn)

    def _migrate(self, conn: Connection) -> None:
        """Layout 1 → 3, once, inside the caller's write transaction: add the signature column
        and sign the records already there (vouching for them as they were at the upgrade).
        Layout 3's ``operation_id`` column is added and filled in by the state migration
        ``0010`` (run by :func:`lacuna.state.schema.upgrade` before this), as is the step
        2 → 3; it raises only layout 2 to 3, so a layout-1 trail is finished here."""
        columns = {c["name"] for c in inspect(conn).get_columns(records.name)}
        if "signature" in columns or set(records.c.keys()) - {"signature"} - columns:
            return  # current, or not Lacuna's table at all (_check_layout says so)
        conn.exec_driver_sql("ALTER TABLE lacuna_audit ADD COLUMN signature VARCHAR(128)")
        for row in conn.execute(select(records.c.seq, records.c.hash)).all():
            conn.execute(update(records).where(records.c.seq == row.seq).values(
                signature=self.keyring.sign(link_payload(CHAIN, row.seq, row.hash))))
        conn.execute(update(head).where(head.c.id == 1).values(layout_version=LAYOUT_VERSION))

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

    def _explain(self, exc: BaseException, doing: str) -> str:
        return explain(exc, self.where, doing)

    # -- append ------------------------------------------------------------------------------

    def before_first_append(self, run: Callable[[], object] | None) -> None:
        """Run ``run`` before this store's next append (whatever it appends), until ``run``
        takes itself off with :meth:`take_first_append`: how a governor records its
        configuration ahead of its first decision or event (:mod:`lacuna.audit.configuration`;
        a failure leaves it set, so the next append tries again). Other threads appending
        meanwhile wait for it. When ``run`` raises (an :class:`AuditError`: the append must not
        go on without it), the append raises it and appends nothing."""
        self._first_taker = None
        self._first_append = run

    def take_first_append(self) -> Callable[[], object] | None:
        """The :meth:`before_first_append` hook, taken off (None: there was none)."""
        run, self._first_append = self._first_append, None
        self._first_taker = threading.get_ident()  # its appends do what the hook would
        return run

    def _first(self) -> None:
        """Run the :meth:`before_first_append` hook; called before a body is built (its
        ``config_revision`` is set by the hook). An append the hook itself makes (on this
        thread) does not run it again; other threads wait until it has run (the hook takes
        itself off before it appends, so a running hook is waited for too)."""
        if self._first_taker == threading.get_ident() or (
                self._first_append is None and not self._first_running):
            return  # (the thread that took the hook off must not wait for a run of it)
        with self._first_lock:
            run = self._first_append
            if run is None or self._first_running:
                return
            self._first_running = True
            try:
                run()
            finally:
                self._first_running = False

    def record(self, decision: Decision, operation: Operation, *, session: str) -> AuditRecord:
        """Append one decision (allowed or denied) with its provenance, hash-chained and signed.

        Args:
            decision: the policy's answer.
            operation: the operation it answers (who, what, when, why, how).
            session: the governor's session id, recorded under ``who``.

        Returns:
            The stored record, with its ``seq`` and ``hash``.

        Raises:
            AuditError: the database could not be written (locked too long, damaged, gone), or
                it is behind its checkpoint (records were removed): nothing is appended.
        """
        return self.record_many([(decision, operation, session)])[0]

    def record_many(self, items: Sequence[tuple[Decision, Operation, str]], *,
                    wait: bool = True) -> builtins.list[AuditRecord]:
        """Append several decisions ``(decision, operation, session)`` in one transaction, in
        order, chained one after the other (a group commit: see :mod:`lacuna.audit.group`).

        All or nothing: when the transaction fails, none is appended and :class:`AuditError`
        is raised for the whole group.

        Args:
            items: the decisions, in the order they are chained.
            wait: wait for the database's write lock (up to the busy timeout). ``False``
                (SQLite only, for a caller on an event loop that holds the writers' turn):
                when another connection holds the write lock right now, nothing is appended
                and :class:`StoreBusy` is raised at once, for the caller to hand the group to
                a thread that waits.

        Raises:
            AuditError: as for :meth:`record`.
            StoreBusy: ``wait=False`` and the database was locked: nothing was appended.
        """
        self._first()
        recorded_at = iso(utcnow())  # one instant for the group, formatted once
        prepared = [build_body(decision, operation, session=session, record_id=record_id,
                               seq=0, recorded_at=recorded_at,
                               config_revision=self.config_revision)
                    for (decision, operation, session), record_id
                    in zip(items, ordered_ids(len(items)), strict=True)]
        plain = all(plain_float(body["decision"]["eval_ms"]) for body in prepared)
        return self._append_all(prepared, plain=plain, wait=wait)

    def _append_all(self, bodies: Sequence[dict[str, Any]], *, plain: bool = False,
                    wait: bool = True, unless: Callable[[Connection], bool] | None = None
                    ) -> builtins.list[AuditRecord]:
        """The one append path: chain, sign and insert ``bodies`` (their ``id`` set, ``seq``
        filled in here) in one transaction with their rollups, move the head, commit, then
        advance the checkpoint. All or nothing. ``plain``: the bodies are decision bodies
        (see :func:`~lacuna.audit.record.canonical_json`). ``unless``: asked in the
        transaction once the write lock is held; true appends nothing (returns ``[]``)."""
        if self.read_only:
            msg = f"the audit trail {self.where} was opened read-only; nothing can be recorded."
            raise AuditError(msg)
        if not bodies:
            return []
        prepared = []
        for body in bodies:
            who, what, dec = body["who"], body["what"], body["decision"]
            _column_text(who["user_id"], "user id", self.where)
            _column_text(what["action"], "action", self.where)
            prepared.append((body, {
                "id": body["id"], "timestamp": _column_time(body, self.where),
                "user_id": who["user_id"],
                "action": what["action"], "allowed": dec["allowed"],
                "policy_id": dec["policy_id"], "operation_id": indexed_operation_id(body)}))
        keyring = self.keyring
        if wait:
            self._lock.acquire()
        elif not (self._sqlite and self._lock.acquire(blocking=False)):
            raise StoreBusy(self.where)  # another thread of this process is appending
        try:
            if self._sqlite and unless is None:
                linked = self._append_many_sqlite(prepared, keyring, plain, wait)
            else:  # a guarded append reads in the transaction: SQLAlchemy's, on SQLite too
                linked = self._append_many_sqlalchemy(prepared, keyring, plain, unless)
            if self._sqlite and linked and self._wal is not None:
                self._wal.committed()
            if not linked:
                return []
            self._advance(linked[-1][0], linked[-1][3])
        finally:
            self._lock.release()
        out = []
        for (_, values), (seq, prev, text, digest) in zip(prepared, linked, strict=True):
            out.append(AuditRecord(
                seq=seq, id=values["id"], timestamp=datetime.fromisoformat(values["timestamp"]),
                user_id=values["user_id"], action=values["action"], allowed=values["allowed"],
                policy_id=values["policy_id"], body=text, prev_hash=prev, hash=digest))
        return out

    def _append_many_sqlite(self, prepared: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                            keyring: Keyring, plain: bool, wait: bool = True
                            ) -> builtins.list[tuple[int, str, str, str]]:
        linked: builtins.list[tuple[int, str, str, str]] = []
        try:
            conn = self._raw_connection().dbapi_connection
            begin = None if wait else functools.partial(_begin_now, where=self.where)
            with write_transaction(conn, begin):
                last = conn.execute(_SQL_HEAD).fetchone()
                if last is None:
                    raise AuditError(self._headless())
                self._guard(last[0], last[1])
                seq, prev = last[0], last[1]
                rows = []
                for body, values in prepared:
                    seq += 1
                    text, digest, sig = self._link(body, seq, prev, keyring, plain)
                    rows.append((seq, values["id"], values["timestamp"], values["user_id"],
                                 values["action"], values["allowed"], values["policy_id"],
                                 text, prev, digest, sig, values["operation_id"]))
                    linked.append((seq, prev, text, digest))
                    prev = digest
                insert_rows(conn, _SQL_INTO, 12, rows)
                roll_up(conn, [body for body, _ in prepared])
                conn.execute(_SQL_UPDATE_HEAD, (seq, prev))
        except (sqlite3.Error, SQLAlchemyError) as exc:
            self._drop_raw()
            raise AuditError(self._explain(exc, "append to")) from exc
        return linked

    def _append_many_sqlalchemy(self, prepared: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                                keyring: Keyring, plain: bool,
                                unless: Callable[[Connection], bool] | None = None
                                ) -> builtins.list[tuple[int, str, str, str]]:
        linked: builtins.list[tuple[int, str, str, str]] = []
        try:
            with self._transaction(write=True) as conn:
                last = conn.execute(_HEAD).first()  # the write lock (PostgreSQL: the head row)
                if last is None:
                    raise AuditError(self._headless())
                self._guard(last.seq, last.hash)
                # held now, so what ``unless`` reads no other append can change before commit
                # (PostgreSQL reads committed rows, each statement anew: a writer's record
                # committed while this one waited for the lock is seen)
                if unless is not None and unless(conn):
                    return []
                seq, prev = last.seq, last.hash
                rows = []
                for body, values in prepared:
                    seq += 1
                    text, digest, sig = self._link(body, seq, prev, keyring, plain)
                    rows.append({**values, "seq": seq, "body": text, "prev_hash": prev,
                                 "hash": digest, "signature": sig})
                    linked.append((seq, prev, text, digest))
                    prev = digest
                conn.execute(_INSERT, rows)
                roll_up(conn, [body for body, _ in prepared])
                conn.execute(_UPDATE_HEAD, {"seq": seq, "hash": prev})
        except SQLAlchemyError as exc:
            raise AuditError(self._explain(exc, "append to")) from exc
        return linked

    def _link(self, body: dict[str, Any], seq: int, prev: str,
              keyring: Keyring, plain: bool) -> tuple[str, str, str]:
        body["seq"] = seq
        text = canonical_json(body, plain=plain)
        digest = chain_hash(prev, text)
        return text, digest, keyring.sign(link_payload(CHAIN, seq, digest))

    def _guard(self, seq: int, digest: str | None) -> None:
        """Refuse to extend a trail that is behind, or forked from, its checkpoint."""
        if self.database_id is None:
            raise AuditError(database_id.missing(f"the audit trail {self.where}"))
        cp = self._checkpoint.peek() if self._checkpoint is not None else None
        if cp is not None and cp.database not in (None, self.database_id):
            msg = (f"cannot append to the audit trail {self.where}: its checkpoint "
                   f"({self._checkpoint_name()}) names state database {cp.database}, not this "
                   f"one ({self.database_id}): one of them was copied from another database. "
                   "Nothing was recorded. Run `lacuna audit verify` and keep both as evidence.")
            raise AuditError(msg)
        if cp is None or (cp.seq < seq) or (cp.seq == seq and cp.hash == digest):
            return
        if cp.seq > seq:
            found = (f"it ends at #{seq} but its checkpoint ({self._checkpoint_name()}) records "
                     f"#{cp.seq}: records were deleted or an older copy was restored")
        else:
            found = f"its record #{seq} is not the one its checkpoint records: it was rebuilt"
        msg = (f"cannot append to the audit trail {self.where}: {found}. Nothing was recorded. "
               "Run `lacuna audit verify`, keep the database and its checkpoint as evidence, "
               "and move both aside to start a new trail.")
        raise AuditError(msg)

    def turn(self) -> contextlib.AbstractContextManager[None]:
        """Wait for this writer's turn among the processes writing to an SQLite trail (see
        :mod:`lacuna.audit.turn`): held around a group commit
        (:class:`~lacuna.audit.group.GroupCommit`), so the server's workers take turns
        without SQLite's busy-handler sleeps. Nothing to wait for on other databases."""
        return self._turn.hold()

    def attempt_turn(self) -> contextlib.AbstractContextManager[bool]:
        """The writers' turn if it is free now (yields whether it was taken), for a caller on
        an event loop that must not wait (:meth:`Turn.attempt
        <lacuna.audit.turn.Turn.attempt>`)."""
        return self._turn.attempt()

    @property
    def appends_without_waiting(self) -> bool:
        """Whether :meth:`record_many` can be asked not to wait (``wait=False``): a writable
        SQLite file, where taking the write lock is a local call that fails at once when it
        is taken. A PostgreSQL append is a network round trip that may wait on a row lock."""
        return self._writable_file

    @property
    def _writable_file(self) -> bool:
        return self._sqlite and self.path is not None and not self.read_only

    def checkpoint_in_background(self) -> None:
        """Copy the SQLite write-ahead log back into the database on a thread of its own
        (:mod:`lacuna.audit.walcheck`) instead of inside whichever append's commit crosses
        SQLite's threshold, while that append holds the writers' turn. The server's group
        commit asks for it; nothing to do for other databases or a read-only store."""
        if not self._writable_file:
            return
        with self._lock:
            if self._wal is None:
                self._wal = WalCheckpointer(self.path)
                if self._raw is not None and self._raw_pid == os.getpid():
                    self._backstop(self._raw)

    @staticmethod
    def _backstop(raw: Any) -> None:
        raw.dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

    def _checkpoint_name(self) -> str:
        return str(self.checkpoint_path)

    def _raw_connection(self) -> Any:
        if self._raw is None or self._raw_pid != os.getpid():
            self._raw = self._engine.raw_connection()  # configured by the engine's events
            self._raw_pid = os.getpid()
            if self._wal is not None:
                self._backstop(self._raw)
        return self._raw

    def _headless(self) -> str:
        return (f"cannot append to the audit trail {self.where}: its head row is missing, so the "
                "trail was tampered with. Run `lacuna audit verify` and keep the database as "
                "evidence; start a new trail elsewhere.")

    def _advance(self, seq: int, digest: str) -> None:
        """Write the signed checkpoint of a committed head (after the commit, never before:
        a checkpoint never names a record that a crash could take back)."""
        if self._checkpoint is None and self._log is None:
            return
        cp = Checkpoint(chain=CHAIN, seq=seq, hash=digest, time=iso(utcnow()),
                        database=self.database_id).signed(self.keyring)
        try:
            if self._checkpoint is not None:
                self._checkpoint.advance(cp)
            if self._log is not None:
                self._log.append(cp)
        except OSError as exc:
            msg = (f"recorded #{seq} in {self.where} but could not write its checkpoint "
                   f"({exc.strerror}); `lacuna audit verify` will report the gap. Fix the "
                   "checkpoint file's permissions or free disk space.")
            raise AuditError(msg) from exc

    def _after_fork_in_child(self) -> None:
        """A forked child appends on a connection of its own (:mod:`lacuna._forks`); the
        parent's append connection is kept, unused and open, for the parent."""
        keep(self._raw)
        self._raw = None
        self._raw_pid = 0
        self._lock = threading.Lock()
        self._first_lock = threading.RLock()

    def _drop_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with contextlib.suppress(sqlite3.Error, SQLAlchemyError):
                raw.close()

    def record_outcome(
        self,
        decision: Decision,
        operation: Operation,
        *,
        session: str,
        of: str,
        error: BaseException | None = None,
        mode: str | None = None,
    ) -> AuditRecord:
        """Append the outcome of an operation whose decision is record ``of``, hash-chained.

        Args:
            decision: the decision the operation ran under.
            operation: the operation.
            session: the governor's session id.
            of: the id of the decision's record.
            error: what the operation raised; ``None`` when it succeeded. Only its type and
                message are stored (see :func:`lacuna.audit.record.build_outcome_body`).
            mode: a denied operation that ran: the mode it ran in (``warn``, ``observe``).

        Raises:
            AuditError: the database could not be written.
        """
        self._first()
        return self._append(self._outcome_body(decision, operation, session, of, error, mode))

    def record_outcome_once(
        self,
        decision: Decision,
        operation: Operation,
        *,
        session: str,
        of: str,
        error: BaseException | None = None,
        mode: str | None = None,
    ) -> AuditRecord | None:
        """:meth:`record_outcome`, unless the trail already holds an outcome of record ``of``
        (an operation runs once: one outcome, as :meth:`Governor.execute
        <lacuna.governor.Governor.execute>` appends it). Asked in the append's own write
        transaction (:meth:`record_event_once`), so two callers at once append one. Returns
        the record, or None when ``of`` already had an outcome (nothing appended).

        Raises:
            AuditError: the database could not be written (or read).
        """
        self._first()
        body = self._outcome_body(decision, operation, session, of, error, mode)
        done = self._append_all([body], unless=lambda conn: _has_outcome(conn, of))
        return done[0] if done else None

    def _outcome_body(self, decision: Decision, operation: Operation, session: str, of: str,
                      error: BaseException | None, mode: str | None) -> dict[str, Any]:
        return build_outcome_body(decision, operation, session=session, record_id=ordered_id(),
                                  of=of, error=error, finished_at=utcnow(),
                                  config_revision=self.config_revision, mode=mode)

    def record_event(self, body: dict[str, Any]) -> AuditRecord:
        """Append an event that is not a policy decision (an exception requested, decided or
        expired, a file deleted by the sweep, a decryption), hash-chained like a decision.

        ``body`` needs ``kind``, ``who`` (``user_id``), ``what`` (``action``), ``when`` and
        ``decision`` (``allowed``, ``policy_id``); ``id`` and ``seq`` are filled in here.

        Raises:
            AuditError: the database could not be written.
        """
        self._first()
        return self._append({**body, "id": ordered_id(), "seq": 0})

    def record_event_once(self, body: dict[str, Any],
                          present: Callable[[Connection], bool]) -> AuditRecord | None:
        """Append an event as :meth:`record_event` does, unless ``present(conn)`` finds that
        the trail already holds it: asked inside the append's own write transaction, once the
        trail's write lock is taken (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the head row's
        lock), so that processes doing this at once append it once, whichever goes first.
        Returns the record, or None when ``present`` found one (nothing appended).

        Raises:
            AuditError: the database could not be written (or read).
        """
        self._first()
        done = self._append_all([{**body, "id": ordered_id(), "seq": 0}], unless=present)
        return done[0] if done else None

    def _append(self, body: dict[str, Any]) -> AuditRecord:
        """Chain, sign and insert one body (its ``seq`` is filled in here), as ``record`` does;
        used by outcomes and events."""
        return self._append_all([body])[0]

    # -- read --------------------------------------------------------------------------------

    def list(
        self,
        *,
        limit: int | None = 50,
        denied_only: bool = False,
        user: str | Sequence[str] | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        before: int | None = None,
        after: int | None = None,
        policy_id: str | None = None,
        naming: tuple[str, Sequence[str]] | None = None,
    ) -> builtins.list[AuditRecord]:
        """Records, newest first, optionally filtered.

        Args:
            limit: at most this many records (None: all).
            denied_only: only denials.
            user: only this user id (or these: :meth:`spellings` gives a person's).
            action: only this action (``read``, ``write``, ``export``, ``transform``).
            since: only operations at or after this instant (a datetime or ISO-8601 string;
                naive values are taken as UTC).
            until: only operations before this instant (as ``since``).
            before: only records before this ``seq`` (the next page of a list read newest
                first: the oldest ``seq`` the last page held).
            after: only records after this ``seq``.
            policy_id: only records of this policy id.
            naming: ``(field, values)``: only records whose body holds ``"field": value``
                for one of ``values`` (strings), at any depth. A filter of the stored text:
                the caller checks the field where it expects it in ``data``.
        """
        stmt = select(*READ_COLUMNS).order_by(records.c.seq.desc())
        if before is not None:
            stmt = stmt.where(records.c.seq < before)
        if after is not None:
            stmt = stmt.where(records.c.seq > after)
        if policy_id is not None:
            stmt = stmt.where(_holds(records.c.policy_id, [policy_id]))
        if naming is not None:
            field, values = naming
            if not values:
                return []
            key = json.dumps(field, ensure_ascii=False) + ":"  # the canonical text's form
            stmt = stmt.where(or_(*(records.c.body.contains(
                key + _json_text(v), autoescape=True) for v in values)))
        if denied_only:
            stmt = stmt.where(records.c.allowed.is_(False))
        if user is not None:
            stmt = stmt.where(_holds(records.c.user_id, [user] if isinstance(user, str)
                                     else builtins.list(user)))
        if action is not None:
            stmt = stmt.where(_holds(records.c.action, [action]))
        # the column holds each record's instant in iso()'s UTC form (_column_time; migration
        # 0016 rewrote older records'), so comparing its text compares instants, on its index
        if since is not None:
            stmt = stmt.where(records.c.timestamp >= iso(_as_datetime(since, "since")))
        if until is not None:
            stmt = stmt.where(records.c.timestamp < iso(_as_datetime(until, "until")))
        if limit is not None:  # past a 64-bit integer (-n 2**64): as many as there are
            stmt = stmt.limit(min(max(int(limit), 0), _MOST_ROWS))
        return [_to_record(row) for row in self.rows(stmt)]

    def check_times(self) -> None:
        """Refuse a trail holding a record whose ``timestamp`` column is not a time: a read by
        time (``list(since=, until=)``) compares the column's text, so such a record fell
        outside every window and was silently left out of exact metrics, insights and a
        searched page. Every column a writer stores (and migration 0016 rewrote) has
        :func:`~lacuna.audit.record.iso`'s shape; the database finds the others and each is
        parsed (a read-only store on a trail not yet migrated may hold other spellings of a
        time, which are fine as long as the text sorts within a day of the instant it names,
        the reads' slack: ``20261103T090000`` and ``2026-W45-2T09:00`` are ISO-8601 times
        that sort after every ``2026-12-...`` and were left out of their period). The
        database's test is of digits and of the date they name (:func:`_surely_timed`): a
        ``LIKE`` of the shape let ``2026-0X-01T...`` (and month 13, 30 February, year 0)
        through unparsed, and such a record, sorting outside the
        window, was left out of every period in silence.

        The scan reads ``seq`` and ``timestamp`` only, which the ``timestamp`` index holds
        (``seq`` is SQLite's rowid): SQLite reads that index, not the table, whose pages hold
        every body (a million records: about 50 MB instead of 1.5 GB). It is not made
        incremental (only the records appended since the last scan): an edit of an older
        record's column would then go unnoticed, and its record left out of every period.

        Raises:
            AuditError: the first such record, by seq and id, and ``lacuna audit verify``.
        """
        with self.snapshot() as conn:
            if not inspect(conn).has_table(records.name):
                return
            stmt = (select(records.c.seq, records.c.timestamp)
                    .with_hint(records, "INDEXED BY ix_lacuna_audit_timestamp", "sqlite")
                    .where(or_(records.c.timestamp.is_(None),
                               ~_surely_timed(conn.dialect.name))))
            first: tuple[int, object] | None = None  # read in the index's order, not seq's
            for row in conn.execute(stmt):
                when = parse_when(row.timestamp)
                if (when is None or not _sorts_near(str(row.timestamp), when)) and (
                        first is None or row.seq < first[0]):
                    first = (row.seq, row.timestamp)
            if first is not None:
                rid = conn.execute(select(records.c.id).where(
                    records.c.seq == first[0])).scalar()
                raise untimed_error(first[0], rid, first[1])

    def spellings(self, name: str) -> builtins.list[str]:
        """The user ids on the trail that name the person ``name`` names (compared as
        :func:`lacuna.identity.same_name` does: ``Jane``, ``jane`` and fullwidth ``ｊａｎｅ``
        are one person), ``name`` itself first: what a search for a person's records filters
        by. The trail keeps each name as it was authenticated or declared, so an exact match
        left a person's other spellings out. Read from the indexed ``user_id`` column."""
        from lacuna.identity.names import same_name

        found = [str(u) for (u,) in self.rows(select(records.c.user_id).distinct())
                 if u is not None and str(u) != name and same_name(str(u), name)]
        return [name, *sorted(found)]

    def actions(self) -> builtins.list[str]:
        """The actions the trail's records hold, sorted (the indexed ``action`` column)."""
        return sorted(str(a) for (a,) in self.rows(select(records.c.action).distinct())
                      if a is not None)

    def policy_ids(self, *, action: str) -> builtins.list[str]:
        """The policy ids that records of ``action`` name, sorted, found by the database (no
        record is read into memory)."""
        stmt = (select(records.c.policy_id).distinct()
                .where(records.c.action == action, records.c.policy_id.is_not(None)))
        return sorted(str(row[0]) for row in self.rows(stmt) if row[0])

    def counts(self) -> dict[str, int]:
        """How many records the trail holds, and how many of them allowed and denied what they
        record, counted by the database (no record is read into memory)."""
        stmt = select(records.c.allowed, func.count()).group_by(records.c.allowed)
        found = {bool(allowed): int(n) for allowed, n in self.rows(stmt)}
        allowed, denied = found.get(True, 0), found.get(False, 0)
        return {"records": allowed + denied, "allowed": allowed, "denied": denied}

    def of_operation(self, operation_id: str, *, user: str | None = None
                     ) -> AuditRecord | None:
        """The newest decision record of the operation with this id (what a violation message
        calls the decision id), or None; with ``user``, the newest of that user's (names
        compared as :func:`lacuna.identity.same_name` does): a server's clients choose their
        operation ids, so another caller may have decided one under the same id.

        The database picks the candidates with the indexed ``operation_id`` column (audit
        layout 3; :func:`~lacuna.audit.record.indexed_operation_id`), newest first; each
        candidate is then checked on its parsed, hashed body (a decision, not an outcome or
        event, of exactly this operation), so an edited column never returns another
        operation's record. An edit that hides a record from the column is what ``verify``
        reports. Where the column cannot hold the id (longer than
        :data:`~lacuna.audit.record.OPERATION_ID_INDEXED` characters), or a read-only store
        finds a trail not yet migrated to layout 3, the candidates are the records whose
        stored body mentions the id (the body is canonical JSON: ``"operation_id":"..."``)."""
        if len(operation_id) <= OPERATION_ID_INDEXED and not self._unindexed():
            where = records.c.operation_id == operation_id
        else:
            needle = '"operation_id":' + _json_text(operation_id)
            where = records.c.body.contains(needle, autoescape=True)
        stmt = select(*READ_COLUMNS).where(where).order_by(records.c.seq.desc())
        from lacuna.identity.names import same_name

        for row in self.rows(stmt):
            record = _to_record(row)
            if ("kind" not in record.data and record.data.get("operation_id") == operation_id
                    and (user is None or same_name(record.user_id, user))):
                return record
        return None

    def _unindexed(self) -> bool:
        """A read-only store on a trail that no writer has migrated to layout 3 yet (it has no
        ``operation_id`` column); a writer migrates when it opens."""
        if not self.read_only:
            return False
        try:
            with self._transaction(write=False) as conn:
                inspector = inspect(conn)
                return inspector.has_table(records.name) and "operation_id" not in {
                    c["name"] for c in inspector.get_columns(records.name)}
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise AuditError(self._explain(exc, "read")) from exc

    def get(self, record_id: str | int) -> AuditRecord | None:
        """One record by its id (a hex string) or its ``seq`` (an int); None when absent."""
        column = records.c.seq if isinstance(record_id, int) else records.c.id
        rows = self.rows(select(*READ_COLUMNS).where(column == record_id))
        return _to_record(rows[0]) if rows else None

    def get_many(self, record_ids: Sequence[str]) -> dict[str, AuditRecord]:
        """The records with these ids (hex strings), by id, in one read; absent ones left
        out."""
        if not record_ids:
            return {}
        rows = self.rows(select(*READ_COLUMNS).where(records.c.id.in_(set(record_ids))))
        return {record.id: record for record in map(_to_record, rows)}

    def verify(self) -> VerifyReport:
        """Recompute the whole hash chain, check every record's signature and compare the trail
        with its latest checkpoint(s); see :mod:`lacuna.audit.verify` for what it checks."""
        try:
            keyring = self.keyring
        except AuditError:
            self._read_tables()  # an unreadable database is the bigger news than a missing key
            raise
        # The checkpoints are read before the trail's snapshot begins: a writer that commits
        # meanwhile moves its checkpoint after its records, so the snapshot is never behind.
        # One exception: a checkpoint missing when read may have been created since, by the
        # first writer of a new trail, whose records the snapshot then holds. That looks like a
        # deleted checkpoint, so it is read again; when it appeared meanwhile, verify starts
        # over (once: a new trail is created once).
        for attempt in range(2):
            checkpoints = self._read_checkpoints(keyring)
            report = self._verify_against(checkpoints, keyring)
            if report.ok or attempt or not any(
                    not exists and Path(where).exists() for where, exists, _ in checkpoints):
                break
        return report

    def _read_checkpoints(self, keyring: Keyring) -> builtins.list[tuple[str, bool, Seen]]:
        checkpoints: list[tuple[str, bool, Seen]] = []
        if self.checkpoint_path is not None:
            exists, cp = read_checkpoint_file(self.checkpoint_path)
            checkpoints.append((str(self.checkpoint_path), exists, cp))
        if self._log is not None:
            logged = self._log.valid(CHAIN, keyring)
            checkpoints.append((str(self._log.path), self._log.path.exists(), logged))
        return checkpoints

    def _verify_against(self, checkpoints: builtins.list[tuple[str, bool, Seen]],
                        keyring: Keyring) -> VerifyReport:
        try:
            with self._transaction(write=False) as conn:
                database = database_id.read(conn)
                if not inspect(conn).has_table(records.name):
                    report = VerifyReport(ok=True, checked=0)
                    return compare_checkpoint(report, checkpoints, keyring, conn=None,
                                              database=database,
                                              empty=f"{self.where} holds no audit tables")
                report = verify_chain(conn, keyring)
                return compare_checkpoint(report, checkpoints, keyring, conn=conn,
                                          database=database)
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise AuditError(self._explain(exc, "read")) from exc

    def _read_tables(self) -> None:
        """Read the database's schema once (raises :class:`AuditError` when it is unreadable)."""
        try:
            with self._transaction(write=False) as conn:
                inspect(conn).has_table(records.name)
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise AuditError(self._explain(exc, "read")) from exc

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction on the trail's database (one consistent view), e.g. to check the
        decision log beside it."""
        try:
            with self._transaction(write=False) as conn:
                yield conn
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise AuditError(self._explain(exc, "read")) from exc

    def rows(self, stmt: Any) -> builtins.list[Any]:
        """The rows of a read of the trail's tables (``stmt``), in one read transaction. A
        text value SQLite holds that is not UTF-8 (written around Lacuna: its driver refused
        the whole read over one) is read with each such byte as a lone surrogate, which every
        display shows escaped (``\\udcff``) and ``verify()`` names as an edit.

        Raises:
            AuditError: the database cannot be read.
        """
        try:
            with self._transaction(write=False) as conn:
                if self.read_only and not inspect(conn).has_table(records.name):
                    return []  # a file another process has only just created: nothing yet
                try:
                    return list(conn.execute(stmt).all())
                except OperationalError as exc:
                    if not undecodable(exc):
                        raise
                with lenient_text(conn, shown=True):
                    return list(conn.execute(stmt).all())
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise AuditError(self._explain(exc, "read")) from exc


    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections and the checkpoint files."""
        with self._lock:
            if self._raw_pid == os.getpid():
                self._drop_raw()
            self._raw = None
            if self._checkpoint is not None:
                self._checkpoint.close()
            if self._log is not None:
                self._log.close()
            self._turn.close()
            if self._wal is not None:
                self._wal.close()
        self._lease.release()  # the shared engine's connections close with its last store

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditStore({self.where!r})"


class StoreBusy(Exception):
    """An append that must not wait found the trail's write lock taken: nothing was written.

    Not an :class:`~lacuna.errors.AuditError`: the caller (the group commit on an event loop)
    hands the same group to its writer thread, which waits for the lock as usual."""


def _begin_now(conn: sqlite3.Connection, where: str) -> None:
    """``BEGIN IMMEDIATE`` without the busy handler's wait: :class:`StoreBusy` when another
    connection (of any process) holds the write lock now. The connection's own busy timeout
    is put back after."""
    (busy_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:  # pragma: no cover - BEGIN failed, so there is none
            conn.execute("ROLLBACK")
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusy(where) from None
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")


def roll_up(conn: Any, bodies: Sequence[dict[str, Any]]) -> None:
    """The metrics' rollups of one transaction's appended records, in it (one call per group:
    its statements are per distinct rollup row, not per record)."""
    from lacuna.metrics.rollup import on_append_many

    on_append_many(conn, bodies)


def _as_datetime(value: datetime | str, name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = f"{name}={value!r} is not an ISO-8601 date or time; use e.g. 2026-01-20T14:00."
        raise AuditError(msg) from None


def _column_time(body: dict[str, Any], where: str) -> str:
    """The ``timestamp`` column of ``body``: its ``when`` as a UTC instant in one sortable form
    (:func:`~lacuna.audit.record.column_time`), so ``list(since=, until=)`` and the rollups see
    ``2026-12-01T23:30-05:00`` at 04:30 UTC on the 2nd. A ``when`` that is no time is refused:
    it was stored (an event's; a decision's failed its rollup with a bare ValueError) and
    then fell out of every period as if it had never happened."""
    text = column_time(body.get("when"))
    if text is None:
        msg = (f"cannot append to the audit trail {where}: the record's 'when' "
               f"{str(body.get('when'))[:60]!a} is not an ISO-8601 time (e.g. "
               "2026-01-20T14:00:00+00:00); nothing was recorded.")
        raise AuditError(msg)
    if not _EARLIEST <= text < _LATEST:
        # the rollups look an hour back and the metrics a day around a period: at the
        # calendar's ends that overflowed (a bare OverflowError from inside the append)
        msg = (f"cannot append to the audit trail {where}: the record's 'when' "
               f"{str(body.get('when'))[:60]!a} lies within a day of the calendar's ends "
               f"(UTC {_EARLIEST[:10]} to {_LATEST[:10]}), which no operation does; nothing "
               "was recorded.")
        raise AuditError(msg)
    return text


def _column_text(value: object, name: str, where: str) -> None:
    """Refuse a value for an indexed column that is not UTF-8 text (a lone surrogate: a user
    id from an environment variable holding a byte that is not UTF-8): the body would keep it
    escaped, but the column cannot hold it, and the driver's UnicodeEncodeError was no
    AuditError (nothing said what or where)."""
    if isinstance(value, str) and escape_surrogates(value) != value:
        msg = (f"cannot append to the audit trail {where}: the {name} {value!a} is not UTF-8 "
               "text (it holds a byte that is not UTF-8, as the operating system passes one "
               "on); nothing was recorded. Name it in UTF-8 (user.id in lacuna.yaml or "
               "$LACUNA_USER for the user).")
        raise AuditError(msg)


def _json_text(value: str) -> str:
    """``value`` as the canonical body text writes it (:func:`canonical_json`: a lone surrogate
    as its ``\\uXXXX`` escape), for a search of the stored bodies."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False))


def _holds(column: Any, values: Sequence[str]) -> Any:
    """``column`` holds one of ``values``. A value with a lone surrogate (a name that is not
    UTF-8, as :meth:`AuditStore.rows` reads one back and ``list`` shows it) cannot be sent as
    text: it is looked for as the bytes it stands for (SQLite keeps them in a text column; a
    PostgreSQL text column never holds them, so nothing matches there), and one that stands
    for no bytes matches nothing. It stopped ``lacuna audit list --user`` with a
    UnicodeEncodeError."""
    text = [v for v in values if escape_surrogates(v) == v]
    terms: builtins.list[Any] = [column.in_(text)] if text else []
    for value in values:
        if value not in text:
            with contextlib.suppress(UnicodeEncodeError):  # \ud800: no bytes read as it
                raw = value.encode("utf-8", "surrogateescape")
                terms.append(column == cast(literal(raw, LargeBinary), Text))
    return or_(*terms) if terms else false()


# iso()'s shape, in digits: PostgreSQL's test of a column (days 29 to 31 and years before 1000
# are parsed by Python: whether the day exists depends on the month and the year)
_TIMED_PG = (r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3])"
             r":[0-5][0-9]:[0-5][0-9]\.[0-9]{6}\+00:00$")
_TIMED_GLOB = ("[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
               ".[0-9][0-9][0-9][0-9][0-9][0-9]+00:00")


def _surely_timed(dialect: str) -> Any:
    """A condition true only of ``timestamp`` columns that are surely a time :func:`iso` wrote
    (every such column is; the few others are parsed one by one). SQLite: digits in iso()'s
    shape, not year 0 (which Python has not), and a month, day and hour in range, days up to
    the 28th; a day from the 29th is the date SQLite gives back unchanged once moved by
    nothing (``+0 seconds`` makes 30 February 2 March; month 13 is NULL): ``strftime`` on
    every row cost 8 times the ``LIKE`` it replaces, on a tenth of them 4 to 5 times. PostgreSQL:
    a regular expression of digits in range (days up to the 28th). Another database: digits
    checked by nothing here, so every column is parsed."""
    column = records.c.timestamp
    if dialect == "sqlite":
        seconds = func.substr(column, 1, 19)
        again = func.strftime("%Y-%m-%dT%H:%M:%S", seconds, "+0 seconds")
        day = func.substr(column, 9, 2)
        return and_(column.op("GLOB", is_comparison=True)(_TIMED_GLOB),
                    func.substr(column, 1, 4) != "0000",
                    or_(and_(func.substr(column, 6, 2).between("01", "12"),
                             day.between("01", "28"), func.substr(column, 12, 2) < "24"),
                        func.coalesce(again, "") == seconds))
    if dialect == "postgresql":
        return column.regexp_match(_TIMED_PG)
    return false()


def _sorts_near(text: str, when: datetime) -> bool:
    """Whether a ``timestamp`` column's ``text`` sorts among iso()'s texts within a day of
    ``when``, the instant it names: where a read by time (which reads a day wider than it is
    asked, :meth:`lacuna.metrics.period.Period.read_bounds`) finds it."""
    try:
        low = iso(when - timedelta(days=1))
    except OverflowError:  # the calendar's first day: nothing sorts before
        low = ""
    try:
        high = iso(when + timedelta(days=1))
    except OverflowError:
        return text >= low
    return low <= text < high


def untimed_error(seq: object, record_id: object, text: object) -> AuditError:
    """The error for a record whose ``timestamp`` column is not a time: named, never left out
    (it was read as year 1, so every period, search and page silently dropped it)."""
    msg = (f"audit record #{seq} (id {str(record_id)[:40]!a}): its timestamp column "
           f"{str(text)[:60]!a} is not an ISO-8601 time in the trail's sortable form (a "
           "trail written before the column was normalised, or an edited row), so no "
           "period, search or page can place it. Run `lacuna audit verify` and keep the "
           "database as evidence.")
    return AuditError(msg)


def _parse_time(row: Any) -> datetime:
    """The column's instant, aware (a column written before it was normalised may lack an
    offset: UTC, as :func:`~lacuna.audit.record.iso` takes it; a naive one failed every
    comparison with an aware period bound).

    Raises:
        AuditError: the column is not a time (naming the record and ``lacuna audit verify``).
    """
    found = parse_when(row.timestamp)
    if found is None:
        raise untimed_error(row.seq, row.id, row.timestamp)
    return found


def _to_record(row: Any, *, timed: bool = True) -> AuditRecord:
    """The record of a row; ``timed=False`` for a caller that reads only its body (an outcome
    looked for among later records): a column that is not a time is year 1 there, not an
    error that stops recording."""
    when = _parse_time(row) if timed else (parse_when(row.timestamp)
                                           or datetime.min.replace(tzinfo=UTC))
    return AuditRecord(seq=row.seq, id=row.id, timestamp=when,
                       user_id=row.user_id, action=row.action, allowed=bool(row.allowed),
                       policy_id=row.policy_id, body=row.body, prev_hash=row.prev_hash,
                       hash=row.hash)


def _has_outcome(conn: Connection, of: str) -> bool:
    """Whether the trail holds an outcome record of the decision record ``of``: among the
    records after it (an outcome follows its decision), those whose stored body names it
    (canonical JSON: ``"of":"<id>"``), each checked on its parsed body."""
    found = conn.execute(select(records.c.seq).where(records.c.id == of)).first()
    if found is None:
        return False
    needle = '"of":' + _json_text(of)
    stmt = select(*READ_COLUMNS).where(records.c.seq > found.seq,
                                       records.c.body.contains(needle, autoescape=True))
    return any(r.kind == OUTCOME and r.outcome_of == of
               for r in (_to_record(row, timed=False) for row in conn.execute(stmt)))
