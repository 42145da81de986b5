"""Decision logs in Open Policy Agent's shape: one record per decision, written off the hot path.

A record (OPA's decision-log event, plus Lacuna's decision as ``result``)::

    {"decision_id": "3f0c...", "timestamp": "2026-01-20T14:00:00.123456Z",
     "path": "lacuna/decision/result",          # the Data API path that was (or would be) asked
     "input": {...},                              # the policy input, as the policies saw it
     "result": {"allowed": false, "operation_id": ..., "reasoning": ..., "policy_id": ...,
                "policies": [...], "bundle_revision": ..., ...},   # Decision.to_dict()
     "bundles": {"lacuna": {"revision": "..."}},
     "metrics": {"timer_rego_query_eval_ns": 41000, "counter_lacuna_cache_hit": 0},
     "labels": {"id": "<this process>", "version": "<lacuna version>", "app": "lacuna"}}

An engine hands each decision to its sink with :meth:`DecisionLogSink.log`, which only appends it
to a bounded queue: it never blocks and never raises, and it does not wake the writer for each
record (a thread switch per decision costs more than the decision on a busy server): the writer
wakes when a batch is full, on :meth:`~DecisionLogSink.flush`, or every ``flush_interval_s``.
The background thread builds the records and writes them in batches; a full queue drops
records (counted in ``dropped``, logged at WARNING), a failing write drops its batch (logged at
ERROR). Decisions never wait for, or fail because of,
their log. Sinks: :class:`~lacuna.policy.log_sinks.SqlDecisionLog` (a table beside the audit
trail), :class:`~lacuna.policy.log_sinks.HttpDecisionLog` (batches to a collector, as OPA's
decision-log plugin does) and :class:`MemoryDecisionLog` (tests).
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from lacuna._version import lacuna_version
from lacuna.model import Decision, ordered_id

log = logging.getLogger(__name__)
INSTANCE_ID = uuid.uuid4().hex  # labels.id: this process
BUNDLE_NAME = "lacuna"


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """What an engine hands to a sink: cheap to make, turned into a record off the hot path."""

    decision: Decision
    input: Mapping[str, Any]
    path: str
    timestamp_ns: int
    eval_ns: int
    cache_hit: bool = False
    decision_id: str | None = None  # the server's, for remote decisions
    extra_metrics: Mapping[str, int] = field(default_factory=dict)


def to_record(event: DecisionEvent, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The OPA-shaped record of one decision (see the module docstring)."""
    ts = datetime.fromtimestamp(event.timestamp_ns / 1e9, tz=UTC)
    return {
        "decision_id": event.decision_id or ordered_id(),  # time-ordered: see ordered_id
        "timestamp": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "path": event.path,
        "input": event.input,
        "result": event.decision.to_dict(),
        "bundles": {BUNDLE_NAME: {"revision": event.decision.bundle_revision or ""}},
        "metrics": {"timer_rego_query_eval_ns": event.eval_ns,
                    "counter_lacuna_cache_hit": int(event.cache_hit), **event.extra_metrics},
        "labels": {
            "id": INSTANCE_ID, "version": lacuna_version(), "app": "lacuna", **(labels or {})
        },
    }


_STOP = object()


class DecisionLogSink(ABC):
    """Where decision-log records go. Subclasses implement :meth:`write` (a batch at a time).

    Args:
        queue_size: records held before new ones are dropped.
        batch_size: the most records per :meth:`write`.
        flush_interval_s: how long a record waits for its batch to fill.
        labels: extra ``labels`` on every record (e.g. ``{"environment": "production"}``).
    """

    name: ClassVar[str] = "sink"

    def __init__(self, *, queue_size: int = 10_000, batch_size: int = 100,
                 flush_interval_s: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        self.labels = dict(labels or {})
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.dropped = 0
        self.written = 0
        self.queue_size = queue_size
        self._items: deque[Any] = deque()  # append/popleft are atomic: no lock, no notify
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    @abstractmethod
    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Store or send one batch (called on the background thread; may raise)."""

    def log(self, event: DecisionEvent) -> None:
        """Queue one decision. Never blocks, never raises."""
        if self._closed:
            return
        if self._thread is None:
            self._start()
        if len(self._items) >= self.queue_size:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("decision log %s is full: dropped %d records so far (the %s sink "
                            "is slower than decisions, or failing)", self.name, self.dropped,
                            self.name)
            return
        self._items.append(event)
        if len(self._items) >= self.batch_size:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued so far is written (or dropped). False on timeout."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._items.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush, stop the background thread, release resources."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        if self._thread is not None:
            self._items.append(_STOP)
            self._wake.set()
            self._thread.join(timeout)
        self._release()

    def _release(self) -> None:  # noqa: B027 - optional hook, most sinks hold nothing
        """Release connections (override)."""

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=f"lacuna-decision-log-"
                                            f"{self.name}", daemon=True)
            self._thread.start()
            ref = weakref.ref(self)
            atexit.register(lambda: (s := ref()) is not None and s.flush(2.0))

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            batch: list[DecisionEvent] = []
            while self._items:
                item = self._items.popleft()
                if isinstance(item, DecisionEvent):
                    batch.append(item)
                    if len(batch) >= self.batch_size:
                        self._write(batch)
                        batch = []
                    continue
                self._write(batch)
                batch = []
                if isinstance(item, threading.Event):
                    item.set()
                elif item is _STOP:
                    return
            self._write(batch)

    def _write(self, batch: list[DecisionEvent]) -> None:
        if not batch:
            return
        try:
            self.write([to_record(e, self.labels) for e in batch])
            self.written += len(batch)
        except Exception as exc:  # a sink fails on its own; decisions carry on
            self.dropped += len(batch)
            log.error("decision log %s could not write %d records (dropped): %s", self.name,
                      len(batch), exc)


class MemoryDecisionLog(DecisionLogSink):
    """Keeps records in ``records`` (for tests and notebooks)."""

    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records: list[Mapping[str, Any]] = []

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append the batch to :attr:`records`."""
        self.records.extend(records)
