"""Decision-log sinks: a table beside the audit trail, and batches over HTTP.

* :class:`SqlDecisionLog` — table ``lacuna_decision_log`` in the state database (``audit.url``:
  SQLite by default, PostgreSQL by URL), one row per decision: ``decision_id``, ``timestamp``,
  ``operation_id``, ``path``, ``allowed``, ``revision`` (indexed) and the record as JSON,
  hash-chained and signed like the audit trail (:mod:`lacuna.audit.ledger`).
* :class:`HttpDecisionLog` — POSTs each batch as a gzip-compressed JSON array, as OPA's
  decision-log plugin does (``Content-Encoding: gzip``), with a timeout and retries with
  exponential backoff; a batch that still fails is dropped and logged at ERROR.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Boolean, Column, MetaData, String, Table, Text, inspect, select
from sqlalchemy.engine import Engine

from lacuna._forks import no_fork
from lacuna.audit import ledger
from lacuna.audit.checkpoint import CheckpointLog
from lacuna.audit.record import ORJSON_CANONICAL
from lacuna.audit.schema import (
    lease_state_database,
    parse_url,
    sqlite_file,
    write_transaction,
)
from lacuna.audit.turn import Turn
from lacuna.audit.walcheck import BACKSTOP_PAGES, WalCheckpointer
from lacuna.errors import AuditError, needed
from lacuna.policy.decision_log import DecisionLogSink
from lacuna.redact import redact_url
from lacuna.signing import default_keyring
from lacuna.state import database_id
from lacuna.state.locks import serialize

metadata = MetaData()
table = Table(
    "lacuna_decision_log",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("timestamp", String(40), nullable=False, index=True),
    Column("operation_id", String(64), index=True),
    Column("path", String(255), nullable=False),
    Column("allowed", Boolean, nullable=False, index=True),
    Column("revision", String(128), index=True),
    Column("body", Text, nullable=False),
    *ledger.chain_columns(),
)
heads = ledger.head_table(metadata, "lacuna_decision_log_head")
#: a row's own columns, in the order :func:`row_values` gives them
ROW_COLUMNS = ("decision_id", "timestamp", "operation_id", "path", "allowed", "revision", "body")


class SqlDecisionLog(DecisionLogSink):
    """Decision-log records in table ``lacuna_decision_log`` of the state database.

    Args:
        url: a SQLAlchemy URL, the same as ``audit.url`` (e.g. ``sqlite:///.lacuna/audit.db``).
        **kwargs: queue and batch settings (see :class:`DecisionLogSink`).

    Raises:
        AuditError: the URL is malformed, the file is not an SQLite database, or the driver is
            missing.
    """

    name = "sql"

    def __init__(self, url: str, *, checkpoint_log: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # the engine the audit trail on the same database uses too (lacuna.state.engines)
        self._lease = lease_state_database(url, metadata, self)
        self._engine = self._lease.engine
        self._path = sqlite_file(parse_url(url))
        self.where = str(self._path) if self._path is not None else redact_url(url)
        self._checkpoint = ledger.checkpoint_file(ledger.checkpoint_path(self._path))
        self._log = (None if checkpoint_log is None
                     else CheckpointLog(Path(checkpoint_log).expanduser()))
        with self._engine.connect() as conn:  # made by the state schema's revision 0008
            self._database = database_id.read(conn)
        # Waits its turn with the audit trail's writers (lacuna.audit.turn), not in SQLite's
        # busy handler, and makes them wait on the turn rather than on SQLite.
        self._turn = Turn(self._path)
        self._wal: WalCheckpointer | None = None  # see checkpoint_in_background()
        if "decision-log:chained" not in self._lease.settled:  # once per leased engine
            self._migrate()
            self._lease.settled.add("decision-log:chained")
        # SQLite: batches go through the raw driver connection with prepared statements.
        self._sqlite = (ledger.sqlite_statements(table, heads)
                        if self._engine.dialect.name == "sqlite" else None)
        # Now, not on the writer thread: the key is the one of this process's LACUNA_HOME as
        # it is when the sink is made (a batch may be written at exit, after it changed).
        self._keyring = default_keyring()

    @property
    def engine(self) -> Engine:
        """The engine on the state database the records go to (readers share it)."""
        return self._engine

    def _migrate(self) -> None:
        """Add the chain columns to a table written before the decision log was chained."""
        with self._engine.connect() as conn:
            found = {c["name"] for c in inspect(conn).get_columns(table.name)}
        if set(ledger.CHAIN_COLUMNS) <= found:
            return
        with self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, \
                conn.begin():
            found = {c["name"] for c in inspect(conn).get_columns(table.name)}
            for column in ledger.chain_columns():
                if column.name not in found:
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Insert one batch in one transaction, hash-chained and signed, then checkpoint it.

        SQLite: on the raw ``sqlite3`` connection, one prepared ``executemany`` per batch
        (:func:`~lacuna.audit.ledger.append_chained_sqlite`); other databases: SQLAlchemy
        Core. Either way a failure rolls the whole batch back and raises."""
        if not records:
            return
        if self._database is None:
            raise AuditError(database_id.missing(f"the decision log in {self.where}"))
        rows = [row_values(r) for r in records]
        wal = self._wal
        if self._sqlite is not None:
            seq, digest = self._append_sqlite(self._sqlite, rows, wal)
        else:
            with self._turn.hold(), no_fork():
                seq, digest = self._append_sqlalchemy(rows, wal)
        if wal is not None:
            wal.committed()
        ledger.write_checkpoint(self._checkpoint, seq, digest, self._keyring,
                                database=self._database, log=self._log)

    def _append_sqlite(self, sql: ledger.SqliteStatements, rows: list[tuple[Any, ...]],
                       wal: WalCheckpointer | None) -> tuple[int, str]:
        """The batch hashed and signed first, after the head as it is now, then written in
        the writers' turn (which then covers only the SQL; the audit trail's writers wait
        on it: lacuna.audit.turn)."""
        # Each call into SQLite holds no_fork() (a child forked meanwhile would inherit
        # SQLite's locks taken); the writers' turn is waited for outside it, so that a fork
        # never waits on another process.
        with no_fork():
            raw = self._engine.raw_connection()  # pooled, configured by the engine's events
        try:
            conn = raw.driver_connection  # autocommit mode: BEGIN and COMMIT are ours
            if not isinstance(conn, sqlite3.Connection):  # pragma: no cover - another driver
                msg = f"{table.name}: expected an sqlite3 connection, got {type(conn)}"
                raise TypeError(msg)
            with no_fork():
                if wal is not None:  # this pooled connection leaves checkpoints to ``wal``
                    conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
                ahead = ledger.link_ahead(conn, sql, rows, self._keyring)
            with self._turn.hold(), no_fork(), write_transaction(conn):
                head = ledger.append_chained_sqlite(conn, sql, rows, self._keyring, ahead)
        finally:
            with no_fork():
                raw.close()  # back to the pool
        return head

    def _append_sqlalchemy(self, rows: list[tuple[Any, ...]], wal: WalCheckpointer | None
                           ) -> tuple[int, str]:
        with self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, \
                conn.begin():
            if wal is not None:  # this pooled connection leaves checkpoints to ``wal``
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            serialize(conn, ledger.CHAIN)  # PostgreSQL: the head row may not exist yet
            return ledger.append_chained(conn, table, heads,
                                         [dict(zip(ROW_COLUMNS, row, strict=True))
                                          for row in rows], self._keyring)

    def checkpoint_in_background(self) -> None:
        """Copy the SQLite write-ahead log back on a thread of its own, not in the commit of
        a batch that holds the writers' turn (:mod:`lacuna.audit.walcheck`); the server asks
        for it. Nothing to do for other databases."""
        if self._path is not None and self._wal is None:
            self._wal = WalCheckpointer(self._path)

    def records(self, *, limit: int = 100, operation_id: str | None = None,
                revision: str | None = None) -> list[dict[str, Any]]:
        """The newest records first (flush first to see the latest decisions)."""
        query = select(table.c.body).order_by(table.c.timestamp.desc()).limit(limit)
        if operation_id is not None:
            query = query.where(table.c.operation_id == operation_id)
        if revision is not None:
            query = query.where(table.c.revision == revision)
        with self._engine.connect() as conn:
            return [json.loads(row.body) for row in conn.execute(query)]

    def _release(self) -> None:
        self._turn.close()
        if self._checkpoint is not None:
            self._checkpoint.close()
        if self._log is not None:
            self._log.close()
        if self._wal is not None:
            self._wal.close()
        self._lease.release()  # the shared engine's connections close with its last store


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def body_text(record: Mapping[str, Any]) -> str:
    """A record's stored (and hashed) text: compact JSON with sorted keys. ``orjson`` writes
    the plain JSON types (a tenth of ``json``'s time for a record of a few KB); a value it
    would write differently from ``json.dumps(..., default=str)`` (a ``str`` or ``int``
    subclass, a date, a dataclass, an object only ``str()`` can write) sends the whole record
    to ``json`` as before. The two differ only in how the text spells the same values
    (non-ASCII kept as UTF-8, ``0.00001`` for ``1e-05``): the chain hashes the stored text."""
    try:
        return orjson.dumps(record, default=_refuse, option=ORJSON_CANONICAL).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


def row_values(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """A record's row in :data:`ROW_COLUMNS` order (the chain's columns come later)."""
    result: Mapping[str, Any] = record.get("result") or {}
    return (record["decision_id"], record["timestamp"], result.get("operation_id"),
            record["path"], bool(result.get("allowed")), record_revision(record),
            body_text(record))


def derived_columns(body: str) -> dict[str, Any] | None:
    """The columns a row copies from its record (:func:`row_values` but the body), as read
    back from its stored ``body``, or None when that is not a record (for
    :func:`lacuna.audit.ledger.verify_ledger`: each column must equal its body's)."""
    try:
        record = json.loads(body)
        values = row_values(record) if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None if values is None else dict(zip(ROW_COLUMNS[:-1], values[:-1], strict=True))


def record_revision(record: Mapping[str, Any]) -> str | None:
    """The first bundle's revision in a record (Lacuna writes one bundle)."""
    bundles: Mapping[str, Any] = record.get("bundles") or {}
    for info in bundles.values():
        if isinstance(info, Mapping):
            return None if info.get("revision") is None else str(info["revision"])
    return None


class HttpDecisionLog(DecisionLogSink):
    """Batches of records POSTed to a collector, gzip-compressed, as OPA does.

    Requests go through :class:`lacuna.http.HttpClient` (httpx, configured in one place),
    imported by the sink: the decision log's module is imported by every governor, most of
    which log to the state database (httpx and its command line cost ~50 ms of CPU).

    Args:
        url: where to POST (e.g. ``https://logs.example.com/logs``).
        timeout_s: per phase of an attempt (connect, send, each read); one batch's deadline,
            every attempt and the backoff included, is ``(retries + 1) * timeout_s`` plus the
            backoff.
        retries: extra attempts after a failure (connection error, timeout, HTTP 5xx or 429).
        backoff_s: the wait before the first retry; doubled for each next one.
        headers: extra headers (e.g. ``{"Authorization": "Bearer ..."}``).
        tls_verify: check the collector's certificate (https).
        ca_file: a PEM file of CAs to trust for the collector's certificate.
        **kwargs: queue and batch settings (see :class:`DecisionLogSink`).
    """

    name = "http"

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 0.2, headers: Mapping[str, str] | None = None,
                 tls_verify: bool = True, ca_file: str | None = None,
                 **kwargs: Any) -> None:
        with needed("Lacuna's HTTP client (lacuna.http; httpx), for the decision log's "
                    "collector", "The decision log (policy.decision_log: type http) was not "
                    "built"):
            from lacuna.http import HttpClient, HttpSettings

        super().__init__(**kwargs)
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.headers = dict(headers or {})
        # The deadline covers every attempt and the backoff between them.
        deadline = timeout_s * (retries + 1) + backoff_s * (2 ** max(0, retries) - 1)
        self._http = HttpClient(HttpSettings(
            timeout_s=timeout_s, deadline_s=deadline, retries=retries, backoff_s=backoff_s,
            max_connections=2, verify=tls_verify, ca_file=ca_file,
            headers=tuple({"Content-Type": "application/json", "Content-Encoding": "gzip",
                           **self.headers}.items())), https=not url.startswith("http://"))

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """POST one batch; raise after the last failed attempt.

        Raises:
            OSError: the collector did not take the batch (the message says why).
        """
        from lacuna.http import HttpFailure, message

        body = gzip.compress(json.dumps(list(records), default=str).encode("utf-8"))
        try:
            response = self._http.request("POST", self.url, content=body)
        except HttpFailure as exc:
            if exc.kind == "status":
                msg = f"{redact_url(self.url)} answered {exc}"
            else:
                msg = f"{redact_url(self.url)} unreachable: {exc}"
            raise OSError(msg) from None
        if response.status >= 300:
            msg = (f"{redact_url(self.url)} answered HTTP {response.status}: "
                   f"{message(response.body)}")
            raise OSError(msg)

    def _release(self) -> None:
        self._http.close()


def sink_from_settings(settings: Mapping[str, Any] | Any, *, audit_url: str | None = None,
                       checkpoint_log: Path | None = None) -> DecisionLogSink | None:
    """A sink for the ``policy.decision_log`` setting, or ``None`` when it is off.

    ``settings`` is a mapping (or an object with the same attributes)::

        type: sql | http | none     # sql: table lacuna_decision_log at url, else audit.url
        url: ...                    # http: the collector (required); sql: a database URL
        batch_size: 100
        flush_interval_ms: 1000
        queue_size: 10000
        timeout_ms: 5000            # http only
        retries: 3                  # http only
        headers: {}                 # http only
        tls_verify: true            # http only
        ca_file: null               # http only: CAs for the collector's certificate
        labels: {}                  # extra labels on every record

    ``checkpoint_log`` (``audit.checkpoint_log``) also receives the checkpoints of a ``sql``
    decision log kept in the audit trail's own database (``url`` unset or ``audit_url``), the
    one ``lacuna audit verify`` checks beside the trail.

    Raises:
        ConfigError: an unknown type, or ``http`` without a url.
    """
    from lacuna.errors import ConfigError

    get = settings.get if isinstance(settings, Mapping) else (
        lambda key, default=None: getattr(settings, key, default))
    kind = str(get("type", "sql") or "none").lower()
    common: dict[str, Any] = {"batch_size": int(get("batch_size", 100) or 100),
              "flush_interval_s": float(get("flush_interval_ms", 1000) or 1000) / 1000,
              "queue_size": int(get("queue_size", 10_000) or 10_000),
              "labels": dict(get("labels", None) or {})}
    if kind == "none":
        return None
    if kind == "sql":
        url = get("url", None) or audit_url
        if not url:
            msg = "policy.decision_log: type sql needs a url (or audit.url to be set)."
            raise ConfigError(msg)
        beside = url == audit_url  # the trail's database: verify checks it there
        return SqlDecisionLog(str(url), checkpoint_log=checkpoint_log if beside else None,
                              **common)
    if kind == "http":
        url = get("url", None)
        if not url:
            msg = ("policy.decision_log: type http needs url: the collector to POST batches to "
                   "(e.g. https://logs.example.com/logs).")
            raise ConfigError(msg)
        return HttpDecisionLog(str(url), timeout_s=float(get("timeout_ms", 5000) or 5000) / 1000,
                               retries=int(get("retries", 3) or 0),
                               headers=dict(get("headers", None) or {}),
                               tls_verify=bool(get("tls_verify", True)),
                               ca_file=get("ca_file", None), **common)
    msg = f"policy.decision_log.type {kind!r} is not one of: sql, http, none."
    raise ConfigError(msg)
