"""Decision-log sinks: a table beside the audit trail, and batches over HTTP.

* :class:`SqlDecisionLog` — table ``lacuna_decision_log`` in the state database (``audit.url``:
  SQLite by default, PostgreSQL by URL), one row per decision: ``decision_id``, ``timestamp``,
  ``operation_id``, ``path``, ``allowed``, ``revision`` (indexed) and the record as JSON.
* :class:`HttpDecisionLog` — POSTs each batch as a gzip-compressed JSON array, as OPA's
  decision-log plugin does (``Content-Encoding: gzip``), with a timeout and retries with
  exponential backoff; a batch that still fails is dropped and logged at ERROR.
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, Column, MetaData, String, Table, Text, select

from lacuna.audit.schema import open_state_database
from lacuna.policy.decision_log import DecisionLogSink

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
)


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

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._engine = open_state_database(url, metadata)

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Insert one batch in one transaction."""
        rows = [{
            "decision_id": r["decision_id"], "timestamp": r["timestamp"],
            "operation_id": (r.get("result") or {}).get("operation_id"), "path": r["path"],
            "allowed": bool((r.get("result") or {}).get("allowed")),
            "revision": record_revision(r),
            "body": json.dumps(r, sort_keys=True, separators=(",", ":"), default=str),
        } for r in records]
        with self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, \
                conn.begin():
            conn.execute(table.insert(), rows)

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
        self._engine.dispose()


def record_revision(record: Mapping[str, Any]) -> str | None:
    """The first bundle's revision in a record (Lacuna writes one bundle)."""
    bundles: Mapping[str, Any] = record.get("bundles") or {}
    for info in bundles.values():
        if isinstance(info, Mapping):
            return None if info.get("revision") is None else str(info["revision"])
    return None


class HttpDecisionLog(DecisionLogSink):
    """Batches of records POSTed to a collector, gzip-compressed, as OPA does.

    Args:
        url: where to POST (e.g. ``https://logs.example.com/logs``).
        timeout_s: per attempt.
        retries: extra attempts after a failure (connection error, timeout, HTTP 5xx or 429).
        backoff_s: the wait before the first retry; doubled for each next one.
        headers: extra headers (e.g. ``{"Authorization": "Bearer ..."}``).
        **kwargs: queue and batch settings (see :class:`DecisionLogSink`).
    """

    name = "http"

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 0.2, headers: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.headers = dict(headers or {})

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """POST one batch; raise after the last failed attempt."""
        body = gzip.compress(json.dumps(list(records), default=str).encode("utf-8"))
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                   **self.headers}
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                if (exc.code < 500 and exc.code != 429) or attempt == self.retries:
                    msg = f"{self.url} answered HTTP {exc.code} {exc.reason}"
                    raise OSError(msg) from None
            except (urllib.error.URLError, OSError) as exc:
                if attempt == self.retries:
                    reason = getattr(exc, "reason", exc)
                    msg = (f"{self.url} unreachable after {self.retries + 1} attempts "
                           f"({reason})")
                    raise OSError(msg) from None
            time.sleep(self.backoff_s * 2**attempt)


def sink_from_settings(settings: Mapping[str, Any] | Any, *, audit_url: str | None = None
                       ) -> DecisionLogSink | None:
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
        labels: {}                  # extra labels on every record

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
        return SqlDecisionLog(str(url), **common)
    if kind == "http":
        url = get("url", None)
        if not url:
            msg = ("policy.decision_log: type http needs url: the collector to POST batches to "
                   "(e.g. https://logs.example.com/logs).")
            raise ConfigError(msg)
        return HttpDecisionLog(str(url), timeout_s=float(get("timeout_ms", 5000) or 5000) / 1000,
                               retries=int(get("retries", 3) or 0),
                               headers=dict(get("headers", None) or {}), **common)
    msg = f"policy.decision_log.type {kind!r} is not one of: sql, http, none."
    raise ConfigError(msg)
