"""Fingerprints of classified data that governed reads have seen, for the egress proxy.

When a governed read classifies a column as anything but public (PII, PHI, financial,
identifier), :func:`record_read` keeps keyed hashes of a sample of its values (HMAC-SHA256 with
the key store's ``fingerprint`` key, cut to 128 bits) in the state database, beside the audit
trail, with the column's class and the source's name. The proxy hashes the values of an outbound
body the same way and looks them up (:meth:`FingerprintStore.match`): a customer id or a name that
no recognizer knows is still recognised as the customers file's ``customer_id``.

Only hashes are stored, never values; without the key they cannot be tested against guesses.
Values are normalised (trimmed, case-folded) and short ones are skipped: a value of fewer than 4
characters, or a number of fewer than 6 digits, or a decimal amount, would match innocent data
(counts, years, prices) by chance.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select
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


def normalise(value: Any) -> str | None:
    """The form a value is hashed in, or None when it is too short to tell anything."""
    text = str(value).strip().casefold()
    if len(text) < 4 or _DECIMAL.match(text) or (_NUMBER.match(text) and len(text) < 6):
        return None
    return text


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """A body field whose values a governed read has seen in a classified column."""

    field: str
    matched: int  # distinct values of the field found
    checked: int  # distinct values of the field long enough to look up
    column: str  # the column they were seen in
    source: str  # the dataset it was read from
    column_class: ColumnClass


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
        self._version = key_version
        self._known: set[str] = set()  # digests this object has stored (skip re-inserting)
        self.recorded: set[tuple[str, str, int, str, str]] = set()  # columns recorded (memo)
        self._lock = threading.Lock()

    @classmethod
    def for_config(cls, config: Config) -> FingerprintStore:
        from lacuna.keystore import keystore_for

        key = keystore_for(config).current(KEY_ID)
        return cls(config.audit_url, key.material, key.ref.version)

    def digest(self, text: str) -> str:
        mac = hmac.digest(self._key, text.encode("utf-8"), "sha256")  # one-shot: the fast path
        return f"{self._version}:{mac[:DIGEST_BYTES].hex()}"

    def record(self, source: str, column: str, column_class: ColumnClass,
               values: Iterable[Any]) -> int:
        """Store the hashes of ``values`` (a column of ``source``); returns how many this store
        had not stored before (a digest already in the table is left as it is)."""
        return self.record_columns(source, [(column, column_class, values)])

    def record_columns(self, source: str,
                       columns: Sequence[tuple[str, ColumnClass, Iterable[Any]]]) -> int:
        """:meth:`record` for several columns of one source: one transaction, one
        ``executemany`` straight to the driver (the per-row work of SQLAlchemy's compiled
        INSERT was most of the cost of a first read)."""
        rows: list[tuple[str, int, str, str, str, str]] = []
        now = datetime.now(UTC).isoformat()
        seen: set[str] = set()
        key, version, known = self._key, self._version, self._known
        prefix = f"{version}:"
        for column, column_class, values in columns:
            described = json.dumps(column_class.to_dict(), sort_keys=True)
            for value in values:
                text = normalise(value)
                if text is None:
                    continue
                digest = prefix + hmac.digest(key, text.encode("utf-8"),
                                              "sha256")[:DIGEST_BYTES].hex()
                if digest in known or digest in seen:
                    continue
                seen.add(digest)
                rows.append((digest, version, column, described, source, now))
        if not rows:
            return 0
        with self._lock, self._engine.begin() as conn:
            conn.exec_driver_sql(self._insert_sql(), rows)
        known.update(seen)
        return len(rows)

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

    def match(self, fields: Mapping[str, Sequence[str]]) -> tuple[FieldMatch, ...]:
        """The fields of a body whose values were seen in classified columns.

        A field matches when at least one of its distinct values was seen and either three were
        or at least half of those long enough to look up were (a single id in a JSON object is
        enough; one common word among thousands of values is not).
        """
        by_field: dict[str, dict[str, str]] = {}
        for name, values in fields.items():
            digests = {}
            for value in set(values):
                text = normalise(value)
                if text is not None:
                    digests[self.digest(text)] = text
            if digests:
                by_field[name] = digests
        everything = {d for digests in by_field.values() for d in digests}
        if not everything:
            return ()
        found: dict[str, tuple[str, str, str]] = {}
        wanted = list(everything)
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                query = select(fingerprints.c.digest, fingerprints.c.column_name,
                               fingerprints.c.column_class, fingerprints.c.source)
                for row in conn.execute(query.where(fingerprints.c.digest.in_(chunk))):
                    found[row[0]] = (row[1], row[2], row[3])
        matches = []
        for name, digests in by_field.items():
            hits = [found[d] for d in digests if d in found]
            if not hits or (len(hits) < 3 and len(hits) * 2 < len(digests)):
                continue
            column, described, source = max(set(hits), key=hits.count)
            cls = ColumnClass.from_dict(json.loads(described), layer=Layer.DECLARED)
            matches.append(FieldMatch(field=name, matched=len(hits), checked=len(digests),
                                      column=column, source=source, column_class=cls))
        return tuple(matches)

    def close(self) -> None:
        self._engine.dispose()


_STORES: dict[tuple[str, str], FingerprintStore] = {}
_STORES_LOCK = threading.Lock()
MAX_OPEN_STORES = 2  # a process uses one state database; more (tests) close the oldest


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
            batch.append((str(name), column_class, values.tolist()))
            keys.append(seen)
        if batch:
            store.record_columns(source, batch)
            store.recorded.update(keys)
    except Exception as exc:  # the read itself is governed already
        log.warning("could not record fingerprints of %s for the egress proxy: %s", source, exc)
