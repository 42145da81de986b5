"""Fingerprints of classified data that governed reads have seen, for the egress proxy.

When a governed read classifies a column as anything but public (PII, PHI, financial,
identifier), :func:`record_read` keeps keyed hashes of a sample of its values (HMAC-SHA256 with
the key store's ``fingerprint`` key, cut to 128 bits) in the state database, beside the audit
trail, with the column's class and the source's name. The proxy hashes the values of an outbound
body the same way and looks them up (:meth:`FingerprintStore.match`): a customer id or a name that
no recognizer knows is still recognised as the customers file's ``customer_id``.

The hashing and the INSERT run on the store's writer thread, in batches (one transaction for
what is handed over meanwhile); with ``proxy.fingerprint_writes: wait`` (the default) the read
waits for the commit, so a proxy in any process recognises the values at once; with
``background`` it does not, and :meth:`FingerprintStore.match` waits for what this process has
pending (docs/proxy.md).

Only hashes are stored, never values; without the key they cannot be tested against guesses.
Values are normalised (trimmed, case-folded) and short ones are skipped: a value of fewer than 4
characters, or a number of fewer than 6 digits, or a decimal amount, would match innocent data
(counts, years, prices) by chance; so are literals every API sends (:data:`COMMON`) and a
column's categories (a value repeated in its sample, :func:`distinctive`). A request that
carries :data:`BODY_MATCHES` values of one dataset is matched however much else it carries.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text
from sqlalchemy.exc import SQLAlchemyError

from lacuna.audit.schema import build_engine, check_sqlite_file, parse_url, sqlite_file
from lacuna.errors import AuditError
from lacuna.model import ColumnClass, ColumnKind, Layer
from lacuna.redact import redact_url

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config
    from lacuna.model import Classification

log = logging.getLogger(__name__)

KEY_ID = "fingerprint"
DIGEST_BYTES = 16
_NUMBER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?\d*[.,]\d+$")

metadata = MetaData()
fingerprints = Table(
    "lacuna_proxy_fingerprints",
    metadata,
    Column("digest", String(64), primary_key=True),  # hex HMAC, with the key version
    Column("key_version", Integer, nullable=False),
    Column("column_name", Text, nullable=False),
    Column("column_class", Text, nullable=False),  # ColumnClass.to_dict JSON
    Column("source", Text, nullable=False),
    Column("seen_at", String(40), nullable=False),
)


# literals every API sends (booleans, nulls, placeholders): in no column are they its data
COMMON = frozenset({"true", "false", "null", "none", "nil", "undefined", "n/a", "unknown",
                    "empty", "default", "other", "missing", "not set", "nan", "-inf"})
LOOKUP_CHUNK = 20_000  # digests per query where the database binds that many parameters
BODY_MATCHES = 3  # distinct values of one dataset that make a body carry it, however padded
# a value this many times in a column's sample (and at least twice) is a category of it
# (a country, a status), no value of a record: not fingerprinted
REPEATS_SHARE = 0.01


def normalise(value: Any) -> str | None:
    """The form a value is hashed in, or None when it is too short or too common to tell
    anything."""
    text = str(value).strip().casefold()
    if (len(text) < 4 or _DECIMAL.match(text) or (_NUMBER.match(text) and len(text) < 6)
            or text in COMMON):
        return None
    return text


def _enough(matched: int, checked: int) -> bool:
    """Whether ``matched`` of a field's ``checked`` distinct values seen in a column make the
    field that column's: three, or at least half (one id alone in a JSON object does)."""
    return matched >= BODY_MATCHES or matched * 2 >= checked


def distinctive(values: Iterable[Any]) -> list[Any]:
    """``values`` (a column's sample) without those repeated in it: each value that occurs
    at least twice and in at least :data:`REPEATS_SHARE` of the sample is a category of the
    column (a country, a flag, a status), shared with every other dataset; fingerprinted, a
    body sending ``{"country": "Germany"}`` was refused as the customers file's data."""
    values = list(values)
    counts: dict[str, int] = {}
    for value in values:
        text = normalise(value)
        if text is not None:
            counts[text] = counts.get(text, 0) + 1
    least = max(2, REPEATS_SHARE * len(values))
    return [v for v in values if counts.get(normalise(v) or "", 0) < least]


def _hmac_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 under ``key`` (RFC 2104), its inner and outer hashes of the padded key
    computed once: ``hmac.digest`` pads and hashes the key again for each message, which made
    it more than twice as slow (a large body's 150,000 distinct values are each hashed)."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def mac(message: bytes) -> bytes:
        hashed = inner.copy()
        hashed.update(message)
        done = outer.copy()
        done.update(hashed.digest())
        return done.digest()

    return mac


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """A body field whose values a governed read has seen in a classified column."""

    field: str
    matched: int  # distinct values of the field found
    checked: int  # distinct values of the field long enough to look up
    column: str  # the column they were seen in
    source: str  # the dataset it was read from
    column_class: ColumnClass
    # distinct values of ``source`` the whole request carries (all its fields; with
    # ``carried``, the windows of a long body before): at least BODY_MATCHES match each field
    # holding one, whatever its share
    in_body: int = 0


class FingerprintStore:
    """Keyed hashes of classified values, in the state database (``Config.audit_url``)."""

    def __init__(self, url: str, key: bytes, key_version: int = 1) -> None:
        try:
            parsed = parse_url(url)
            file = sqlite_file(parsed)
            if file is not None:
                check_sqlite_file(file, create=True)
            self._engine = build_engine(parsed)
            metadata.create_all(self._engine, checkfirst=True)
        except (AuditError, SQLAlchemyError) as exc:
            msg = f"fingerprint store at {redact_url(url)}: {exc}"
            raise AuditError(msg) from exc
        self._key = key
        self._mac = _hmac_sha256(key)
        self._version = key_version
        self._known: set[str] = set()  # digests this object has stored (skip re-inserting)
        self.recorded: set[tuple[str, str, int, str, str]] = set()  # columns recorded (memo)
        self._writer = _Writer(self)

    @classmethod
    def for_config(cls, config: Config) -> FingerprintStore:
        from lacuna.keystore import keystore_for

        key = keystore_for(config).current(KEY_ID)
        return cls(config.audit_url, key.material, key.ref.version)

    def digest(self, text: str) -> str:
        return f"{self._version}:{self._mac(text.encode('utf-8'))[:DIGEST_BYTES].hex()}"

    def record(self, source: str, column: str, column_class: ColumnClass,
               values: Iterable[Any]) -> int:
        """Store the hashes of ``values`` (a column of ``source``); returns how many this store
        had not stored before (a digest already in the table is left as it is)."""
        return self.record_columns(source, [(column, column_class, values)])

    def record_columns(self, source: str,
                       columns: Sequence[tuple[str, ColumnClass, Iterable[Any]]]) -> int:
        """:meth:`record` for several columns of one source, committed when it returns (by the
        writer thread, batched with what other threads record meanwhile).

        Raises:
            AuditError: the state database did not take them.
        """
        return self._writer.submit(source, columns).result()

    def record_columns_later(self, source: str,
                             columns: Sequence[tuple[str, ColumnClass, Iterable[Any]]]) -> None:
        """:meth:`record_columns` without waiting: hashed and committed by the writer thread
        (:meth:`flush` waits for it; :meth:`match` and :meth:`close` flush first)."""
        self._writer.submit(source, columns)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything handed to the writer is committed (or failed, logged); False
        when ``timeout`` seconds passed first."""
        return self._writer.flush(timeout)

    def _store(self, jobs: Sequence[_Job]) -> None:
        """The writer thread's work: hash the jobs' values (one-shot HMAC) and store the new
        digests in one transaction, one ``executemany`` straight to the driver (the per-row
        work of SQLAlchemy's compiled INSERT was most of the cost of a first read)."""
        rows: list[tuple[str, int, str, str, str, str]] = []
        now = datetime.now(UTC).isoformat()
        seen: set[str] = set()
        mac, version, known = self._mac, self._version, self._known
        prefix = f"{version}:"
        for job in jobs:
            before = len(rows)
            for column, column_class, values in job.columns:
                described = json.dumps(column_class.to_dict(), sort_keys=True)
                for value in values:
                    text = normalise(value)
                    if text is None:
                        continue
                    digest = prefix + mac(text.encode("utf-8"))[:DIGEST_BYTES].hex()
                    if digest in known or digest in seen:
                        continue
                    seen.add(digest)
                    rows.append((digest, version, column, described, job.source, now))
            job.added = len(rows) - before
        if rows:
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(self._insert_sql(), rows)
            except SQLAlchemyError as exc:
                msg = f"fingerprint store at {redact_url(self._engine.url)}: {exc}"
                raise AuditError(msg) from exc
        known.update(seen)

    def _insert_sql(self) -> str:
        """An INSERT that skips digests already stored (another reader, an earlier run), in
        the driver's own parameter style."""
        dialect = self._engine.dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        names = "digest, key_version, column_name, column_class, source, seen_at"
        values = ", ".join([mark] * 6)
        table = fingerprints.name
        if dialect.name == "sqlite":
            return f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({values})"
        if dialect.name == "postgresql":
            return (f"INSERT INTO {table} ({names}) VALUES ({values}) "
                    "ON CONFLICT DO NOTHING")
        # elsewhere a duplicate fails the batch (logged by the caller)
        return f"INSERT INTO {table} ({names}) VALUES ({values})"

    def match(self, fields: Mapping[str, Sequence[str]],
              carried: dict[str, set[str]] | None = None) -> tuple[FieldMatch, ...]:
        """The fields of a body whose values were seen in classified columns.

        A field matches when at least one of its distinct values was seen and either three were
        or at least half of those long enough to look up were (a single id in a JSON object is
        enough; one common word among thousands of values is not). It matches the column most
        of them were seen in, and each other column that many of them were seen in (values of
        two columns in one field, free text or a scanned window: one match each).

        And whatever the shares: when the body carries :data:`BODY_MATCHES` distinct values of
        one dataset or more, in all its fields, each field holding one of them matches the
        column it was seen in. The amount of governed data sent decides, not its share of the
        body: 50 of a file's rows among 5,000 made-up ones, or its values spread over many
        padded fields, two in each, passed. ``carried``: the digests of each dataset seen in
        the same request before (the windows of a long body), updated.
        """
        by_field: dict[str, dict[str, str]] = {}
        hashed: dict[str, str | None] = {}  # value -> digest (None: not looked up), per call
        mac, prefix = self._mac, f"{self._version}:"
        for name, values in fields.items():
            digests = {}
            for value in set(values):
                if value in hashed:
                    digest = hashed[value]
                else:
                    text = normalise(value)
                    digest = hashed[value] = None if text is None else (
                        prefix + mac(text.encode("utf-8"))[:DIGEST_BYTES].hex())
                if digest is not None:
                    digests[digest] = value
            if digests:
                by_field[name] = digests
        everything = {d for digests in by_field.values() for d in digests}
        if not everything:
            return ()
        self.flush()  # what this process's reads handed the writer is looked up too
        found: dict[str, tuple[str, str, str]] = {}
        wanted = list(everything)
        mark = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"
        columns = "digest, column_name, column_class, source"
        with self._engine.connect() as conn:
            step = self._lookup_chunk()
            for start in range(0, len(wanted), step):
                chunk = wanted[start:start + step]
                # straight to the driver: compiling an IN of 20,000 bound values cost more
                # than the query
                sql = (f"SELECT {columns} FROM {fingerprints.name} "
                       f"WHERE digest IN ({', '.join([mark] * len(chunk))})")
                for row in conn.exec_driver_sql(sql, tuple(chunk)):
                    found[row[0]] = (row[1], row[2], row[3])
        # the distinct values of each dataset the request carries, in all its fields
        by_source = {} if carried is None else carried
        for digest, (_, _, source) in found.items():
            by_source.setdefault(source, set()).add(digest)
        matches = []
        for name, digests in by_field.items():
            hits = [found[d] for d in digests if d in found]
            if not hits:
                continue
            # the column most of them were seen in, and every other column enough of them
            # were: ten order ids do not make three customer refs beside them an order id
            # (the gate keeps the strictest class per field); and every column of a dataset
            # the request carries enough of
            common = max(set(hits), key=hits.count)
            for column, described, source in sorted(set(hits), key=hits.count, reverse=True):
                seen = hits.count((column, described, source))
                carries = len(by_source.get(source, ()))
                if (not _enough(seen, len(digests))
                        and not ((column, described, source) == common
                                 and _enough(len(hits), len(digests)))
                        and carries < BODY_MATCHES):
                    continue
                cls = ColumnClass.from_dict(json.loads(described), layer=Layer.DECLARED)
                matches.append(FieldMatch(field=name, matched=seen, checked=len(digests),
                                          column=column, source=source, column_class=cls,
                                          in_body=carries))
        return tuple(matches)

    def _lookup_chunk(self) -> int:
        """Digests looked up per query: as many as the database binds (SQLite 3.32 and later
        32,766 parameters, PostgreSQL 65,535), else SQLite's oldest limit of 999. A large body's
        150,000 distinct values took 300 queries of 500, half a second."""
        dialect = self._engine.dialect
        if dialect.name == "postgresql":
            return LOOKUP_CHUNK
        if dialect.name == "sqlite":
            import sqlite3

            if sqlite3.sqlite_version_info >= (3, 32, 0):
                return LOOKUP_CHUNK
        return 500

    def close(self) -> None:
        """Commit what is pending, stop the writer, close the connections."""
        self._writer.stop()
        self._engine.dispose()


@dataclass(slots=True)
class _Job:
    source: str
    columns: Sequence[tuple[str, ColumnClass, Iterable[Any]]]
    done: threading.Event = field(default_factory=threading.Event)
    added: int = 0
    error: BaseException | None = None

    def result(self) -> int:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.added


class _Writer:
    """The store's one writer thread: every job queued meanwhile is stored in one transaction
    (a burst of reads costs one commit), off the threads that read."""

    MAX_JOBS = 64  # per transaction

    def __init__(self, store: FingerprintStore) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, source: str, columns: Sequence[tuple[str, ColumnClass, Iterable[Any]]]
               ) -> _Job:
        job = _Job(source, columns)
        with self._idle:
            if self._stopped:
                msg = "the fingerprint store is closed"
                raise AuditError(msg)
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="lacuna-fingerprints")
                self._thread.start()
        self._queue.put(job)
        return job

    def flush(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self) -> None:
        with self._idle:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stop = False
            while len(jobs) < self.MAX_JOBS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            try:
                self._store._store(jobs)
            except Exception as exc:  # reported to whoever waits, logged for the others
                log.warning("could not store fingerprints of %s for the egress proxy: %s",
                            ", ".join(sorted({j.source for j in jobs})), exc)
                for job in jobs:
                    job.error = exc
            finally:
                for job in jobs:
                    job.done.set()
                with self._idle:
                    self._pending -= len(jobs)
                    self._idle.notify_all()
            if stop:
                return


_STORES: dict[tuple[str, str], FingerprintStore] = {}
_STORES_LOCK = threading.Lock()
MAX_OPEN_STORES = 2  # a process uses one state database; more (tests) close the oldest


EXIT_FLUSH_S = 10.0  # at exit, how long pending fingerprints may take to commit


@atexit.register
def _flush_at_exit() -> None:
    """``proxy.fingerprint_writes: background`` leaves writes pending: commit them at exit."""
    with _STORES_LOCK:
        stores = list(_STORES.values())
    for store in stores:
        if not store.flush(EXIT_FLUSH_S):
            log.warning("fingerprints still pending at exit were not stored")


def store_for(config: Config) -> FingerprintStore:
    """The store of ``config``'s state database and key folder, kept open in this process.

    At most :data:`MAX_OPEN_STORES` stay open: opening another closes the least recently used,
    so a process that goes through many configurations does not pile up database connections.
    """
    from lacuna.config import lacuna_home

    ident = (config.audit_url, config.anonymize.key_dir or str(lacuna_home()))
    with _STORES_LOCK:
        store = _STORES.pop(ident, None)
        if store is None:
            store = FingerprintStore.for_config(config)
        _STORES[ident] = store  # most recently used last
        while len(_STORES) > MAX_OPEN_STORES:
            _STORES.pop(next(iter(_STORES))).close()
    return store


def record_read(config: Config, source: str, frame: pd.DataFrame,
                classification: Classification) -> None:
    """The governed-read hook: fingerprint the classified columns of ``frame``. Never raises:
    a read is not refused because its fingerprints could not be kept (logged)."""
    if not config.proxy.fingerprints or config.proxy.fingerprint_sample == 0:
        return
    wanted = [(name, c) for name, c in classification.columns.items()
              if c.classification is not ColumnKind.PUBLIC and name in frame.columns]
    if not wanted:
        return
    try:
        from lacuna.classify.scan import sample_values

        store = store_for(config)
        batch: list[tuple[str, ColumnClass, Iterable[Any]]] = []
        keys = []
        for name, column_class in wanted:
            series = frame[name]
            if not hasattr(series, "dropna"):  # duplicate column names: a frame, skip
                continue
            seen = (source, str(name), len(series), repr(series.iloc[:3].tolist()),
                    repr(series.iloc[-3:].tolist()))
            if seen in store.recorded:  # the same file read again: its sample is stored
                continue
            values = sample_values(series.dropna(), config.proxy.fingerprint_sample)
            batch.append((str(name), column_class, distinctive(values.tolist())))
            keys.append(seen)
        if batch:
            if config.proxy.fingerprint_writes == "background":
                store.record_columns_later(source, batch)  # the read does not wait
            else:
                store.record_columns(source, batch)  # committed before the read returns
            store.recorded.update(keys)
    except Exception as exc:  # the read itself is governed already
        log.warning("could not record fingerprints of %s for the egress proxy: %s", source, exc)
