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
import math
import os
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from lacuna._forks import at_child_exit, renew_in_child
from lacuna._version import lacuna_version
from lacuna.model import Decision, ordered_id, ordered_ids
from lacuna.policy.unsendable import release_held
from lacuna.redact import redact_name, redact_text

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
    return _record(event, event.decision_id or ordered_id(), record_labels(labels))


def to_records(events: Sequence[DecisionEvent], labels: Mapping[str, str] | None = None
               ) -> list[dict[str, Any]]:
    """:func:`to_record` of each event of a batch, the same records made for less: the
    labels are merged once, and the ids made together (:func:`~lacuna.model.ordered_ids`)."""
    base = record_labels(labels)
    ids = ordered_ids(len(events))
    return [_record(e, e.decision_id or i, base) for e, i in zip(events, ids, strict=True)]


def record_labels(labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """A record's ``labels``: this process, Lacuna's version, and the sink's own labels."""
    return {"id": INSTANCE_ID, "version": lacuna_version(), "app": "lacuna", **(labels or {})}


def _record(event: DecisionEvent, decision_id: str, labels: Mapping[str, str]
            ) -> dict[str, Any]:
    doc, result = masked(event.input, event.decision.to_dict())
    return {
        "decision_id": decision_id,  # time-ordered: see ordered_id
        "timestamp": iso_timestamp(event.timestamp_ns),
        "path": event.path,
        "input": doc,
        "result": result,
        "bundles": {BUNDLE_NAME: {"revision": event.decision.bundle_revision or ""}},
        "metrics": {"timer_rego_query_eval_ns": event.eval_ns,
                    "counter_lacuna_cache_hit": int(event.cache_hit), **event.extra_metrics},
        "labels": dict(labels),  # each record its own (a sink may keep and change them)
    }


# Where a policy input (Lacuna's shape, docs/policies.md) holds names of data (a password or a
# token in a URL: redact_name) and a client's free text (redact_text), as the audit trail masks
# them (lacuna.audit.store): the decision log is a second copy of the same operation.
_INPUT_NAMES = {"destination": ("uri", "path", "path_prefix"), "source": ("names",),
                "lineage": None}
_INPUT_TEXTS = {"purpose": None, "context": ("code_location", "call")}


def masked(doc: Mapping[str, Any], result: dict[str, Any]
           ) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """A decision's input and result as its log record keeps them: the credentials in the
    input's names (destination, sources, lineage) and free text (purpose, code location)
    masked, and each masked name masked wherever the result repeats it (``destination``, a
    reason). Before, a password in an export's URL, a token in a purpose or an AWS key in a
    code location was kept in the log as sent, while the audit trail masked it. ``doc`` and
    ``result`` come back as they are when nothing was masked (the common case: no copy)."""
    changed: dict[str, str] = {}
    doc = _masked_fields(doc, _INPUT_NAMES, redact_name, changed)
    doc = _masked_fields(doc, _INPUT_TEXTS, redact_text, changed)
    if changed:
        result = _replaced(result, changed)
    return doc, result


def _masked_fields(doc: Mapping[str, Any], fields: Mapping[str, tuple[str, ...] | None],
                   mask: Callable[[str], str], changed: dict[str, str]) -> Mapping[str, Any]:
    """``doc`` with ``mask`` applied to ``fields`` (top-level key -> the keys under it, None for
    the value itself; a string or a list of strings), copied only where something changed."""
    out: dict[str, Any] | None = None
    for key, inner in fields.items():
        value = doc.get(key)
        if inner is None:
            new = _masked_value(value, mask, changed)
        elif isinstance(value, Mapping):
            updates = {k: m for k in inner
                       if (m := _masked_value(value.get(k), mask, changed)) is not value.get(k)}
            new = {**value, **updates} if updates else value
        else:
            continue
        if new is not value:
            out = dict(doc) if out is None else out
            out[key] = new
    return doc if out is None else out


def _masked_value(value: Any, mask: Callable[[str], str], changed: dict[str, str]) -> Any:
    if isinstance(value, str):
        masked_text = mask(value)
        if masked_text == value:
            return value
        changed[value] = masked_text
        return masked_text
    if isinstance(value, (list, tuple)):
        out: list[Any] | None = None
        for i, item in enumerate(value):
            if isinstance(item, str) and (new := mask(item)) != item:
                changed[item] = new
                out = list(value) if out is None else out
                out[i] = new
        return value if out is None else out
    return value


def _replaced(value: Any, changed: Mapping[str, str]) -> Any:
    """``value`` (a decision's ``to_dict()``) with every text in ``changed`` replaced by its
    masked form, in every string of it."""
    if isinstance(value, str):
        for raw, masked_text in changed.items():
            if raw in value:
                value = value.replace(raw, masked_text)
        return value
    if isinstance(value, Mapping):
        return {k: _replaced(v, changed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replaced(v, changed) for v in value]
    return value


def iso_timestamp(timestamp_ns: int) -> str:
    """``2026-01-20T14:00:00.123456Z``: the text ``datetime.fromtimestamp(timestamp_ns / 1e9,
    UTC).isoformat(timespec="microseconds")`` gives, with ``Z`` for ``+00:00``, for a quarter
    of its cost. The microseconds are rounded from the same float as ``datetime`` rounds them
    (the fraction of ``modf``, times 10^6, half to even), so the text is the same for every
    instant; the date and time of the second are formatted once per second
    (:data:`_SECOND`)."""
    global _SECOND
    fraction, whole = math.modf(timestamp_ns / 1e9)
    micro = round(fraction * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1
    elif micro < 0:  # before 1970
        micro += 1_000_000
        second -= 1
    cached = _SECOND
    if cached[0] != second:
        prefix = datetime.fromtimestamp(second, tz=UTC).isoformat(timespec="seconds")[:-6]
        cached = _SECOND = (second, prefix)
    return f"{cached[1]}.{micro:06d}Z"


#: the last second :func:`iso_timestamp` formatted, and its text (one tuple: threads that
#: write it at once each write a correct pair)
_SECOND: tuple[int, str] = (-1 << 64, "")


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
        # ``written`` and ``dropped`` are added to from the callers' threads (a full queue)
        # and the writer's: ``+=`` is not atomic across threads, and /metrics reports them
        self._counting = threading.Lock()
        self._closed = False
        renew_in_child(self)

    def _after_fork_in_child(self) -> None:
        """A forked child starts afresh (:mod:`lacuna._forks`): an empty queue, no writer
        thread until its first decision. What the parent had queued is the parent's to write,
        not written twice; before, the child's decisions were queued for a thread it does not
        have, and lost."""
        self._items = deque()
        self._wake = threading.Event()
        self._thread = None
        _UNWRITTEN.pop(id(self), None)  # the parent's records: not this child's to keep
        self._start_lock = threading.Lock()
        self._counting = threading.Lock()
        self.dropped = self.written = 0

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
            with self._counting:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("decision log %s is full: dropped %d records so far (the %s sink "
                            "is slower than decisions, or failing)", self.name, dropped,
                            self.name)
            return
        self._items.append(event)
        _UNWRITTEN[id(self)] = self  # kept alive until written, even if dropped unclosed
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
        _UNWRITTEN.pop(id(self), None)
        self._release()

    def _release(self) -> None:  # noqa: B027 - optional hook, most sinks hold nothing
        """Release connections (override)."""

    def _start(self) -> None:
        global _AT_EXIT_IN
        with self._start_lock:
            if self._thread is not None:
                return
            # the thread holds the sink weakly (see _writer): a sink dropped unclosed (a
            # Governor never closed) is collected, its thread ends and its state database
            # lease is released; the thread held it, and its engine and compiled statements,
            # for the life of the process
            self._thread = threading.Thread(
                target=_writer, args=(weakref.ref(self), self._wake, self.flush_interval_s),
                name=f"lacuna-decision-log-{self.name}", daemon=True)
            self._thread.start()
            _RUNNING[id(self)] = self
            with _AT_EXIT_LOCK:  # once per process, not a handler per sink for ever
                if os.getpid() != _AT_EXIT_IN:
                    _AT_EXIT_IN = os.getpid()
                    atexit.register(_flush_all)
                    # a multiprocessing child ends with os._exit, which runs no atexit handler
                    at_child_exit(_flush_all)

    def _drain(self) -> bool:
        """Write what is queued (on the writer thread); True when told to stop."""
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
            release_held()  # before a flush returns, or the thread ends
            if isinstance(item, threading.Event):
                item.set()
            elif item is _STOP:
                return True
        self._write(batch)
        # written: the sink no longer needs to be kept alive for its records (in this order:
        # a record queued meanwhile keeps it)
        _UNWRITTEN.pop(id(self), None)
        if self._items:
            _UNWRITTEN[id(self)] = self
        return False

    def _write(self, batch: list[DecisionEvent]) -> None:
        if not batch:
            return
        try:
            self.write(to_records(batch, self.labels))
        except Exception as exc:  # a sink fails on its own; decisions carry on
            with self._counting:
                self.dropped += len(batch)
            log.error("decision log %s could not write %d records (dropped): %s", self.name,
                      len(batch), exc)
            return
        with self._counting:
            self.written += len(batch)


# Sinks with records not written yet: kept alive by this set, not by their writer thread, until
# their thread has written them (a sink dropped unclosed right after a decision still logs it)
_UNWRITTEN: dict[int, DecisionLogSink] = {}  # by id: a plug-in sink may not hash
_RUNNING: weakref.WeakValueDictionary[int, DecisionLogSink] = weakref.WeakValueDictionary()
_AT_EXIT_IN: int | None = None  # the process whose exit handler flushes them
_AT_EXIT_LOCK = threading.Lock()


def _flush_all() -> None:
    for sink in list(_RUNNING.values()):  # at exit
        sink.flush(2.0)


def _writer(ref: weakref.ref[DecisionLogSink], wake: threading.Event, interval: float) -> None:
    """A sink's writer thread: wakes when records are due (or every ``interval`` seconds) and
    writes them; ends when the sink is closed, or collected (it holds the sink only while it
    writes). The engines a denial's explanation compiled here (engine.py's _Explainer) are
    released here after each batch: this daemon thread is still running at exit, and the
    interpreter then dropped them on the main thread, which regorus refuses (unsendable.py)."""
    while True:
        wake.wait(interval)
        wake.clear()
        sink = ref()
        if sink is None:
            break
        stop = sink._drain()
        del sink
        release_held()
        if stop:
            break
    release_held()


class MemoryDecisionLog(DecisionLogSink):
    """Keeps records in ``records`` (for tests and notebooks)."""

    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records: list[Mapping[str, Any]] = []

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append the batch to :attr:`records`."""
        self.records.extend(records)
