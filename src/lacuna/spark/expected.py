"""Which query-listener events are a governed write's own: matched by the query, not by time.

Spark numbers every ``QueryExecution`` it creates from one counter (``QueryExecution.id``,
taken when the query is created, on the thread that creates it), and the listener's event
carries that query. A governed write takes a number from the same counter before it runs and
another once it returned: the queries Spark created for it (the write command, the insert a
CTAS runs inside it, Lacuna's own sample and label queries) are numbered between the two, and
a query created after the write returned is numbered above it, however soon it comes and
however late the listener gets to its event.

Before, a governed write's target was remembered for 10 s after it finished (``GRACE_S``), and
any event for that target in those seconds was taken as the governed write's own: an outside
write (``df._jdf.write().mode("append").saveAsTable(t)``) right after a governed write to ``t``
was neither flagged UNGOVERNED nor re-labelled, and the table kept the governed write's lower
label over the e-mails it appended.

What the counter cannot tell: a query created on another thread *while* a governed write to
the same target runs (the event says which query, not which thread). Such a write is taken as
the governed one's, as any write to that target in flight was before.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

KEEP_S = 600.0  # a finished write's numbers are kept this long, for an event handled late


@dataclass(slots=True, eq=False)
class Window:
    """The queries of one governed write: numbered above ``first`` and below ``last`` (None:
    still running). A number that could not be read is None: the write then claims events
    only while it runs (fail closed: its late events are flagged, not a later write's)."""

    keys: tuple[str, ...]
    first: int | None
    last: int | None = None
    running: bool = True
    forget_at: float = math.inf

    def holds(self, key: str | None, execution: int | None) -> bool:
        if key is not None and key not in self.keys:
            return False
        if execution is None or self.first is None:  # which query cannot be told
            return self.running
        return self.first < execution and (self.running or (
            self.last is not None and execution < self.last))


_LOCK = threading.Lock()
_RUNNING: list[Window] = []
_DONE: list[Window] = []


_COUNTERS: dict[int, Any] = {}  # id of a py4j JVM view -> its counter method (looked up once)


def next_id(spark: SparkSession) -> int | None:
    """A fresh number from Spark's ``QueryExecution`` counter (None: it cannot be read, logged).
    The counter's own method, else the id of a new, empty query (the same counter)."""
    try:
        counter = _COUNTERS.get(id(spark._jvm))
        if counter is None:
            module = getattr(spark._jvm.org.apache.spark.sql.execution,  # type: ignore[union-attr]
                             "QueryExecution$")
            counter = getattr(getattr(module, "MODULE$"),
                              "org$apache$spark$sql$execution$QueryExecution$$nextExecutionId")
            _COUNTERS[id(spark._jvm)] = counter
        return int(counter())
    except Exception:  # not this Spark's internal name: a query of its own
        pass
    try:
        return int(spark._jsparkSession.range(0).queryExecution().id())
    except Exception as exc:
        log.error("could not read Spark's query counter (%s): the listener events of this "
                  "governed write are recognised only while it runs", exc)
        return None


def execution_of(qe: Any) -> int | None:
    """The number of the query a listener event is for (None: it cannot be read)."""
    try:
        return int(qe.id())
    except Exception as exc:
        log.error("lacuna query listener: the id of a query cannot be read (%s); it is taken "
                  "as governed only while a governed write to its target runs", exc)
        return None


def expect(spark: SparkSession | None, keys: tuple[str, ...]) -> Window:
    """A governed write to ``keys`` starts: its queries are numbered from now."""
    window = Window(keys, next_id(spark) if spark is not None else None)
    with _LOCK:
        _RUNNING.append(window)
    return window


def finished(spark: SparkSession | None, window: Window) -> None:
    """The governed write of ``window`` returned: a query numbered from now is not its."""
    window.last = next_id(spark) if spark is not None and window.first is not None else None
    with _LOCK:
        window.running = False
        window.forget_at = time.monotonic() + KEEP_S
        if window in _RUNNING:
            _RUNNING.remove(window)
        _DONE.append(window)


def claim(key: str | None, execution: int | None) -> bool:
    """Whether the listener event of query ``execution`` writing to ``key`` is a governed
    write's own (``key`` None: a target Lacuna cannot name, any governed write's)."""
    with _LOCK:
        now = time.monotonic()
        _DONE[:] = [w for w in _DONE if w.forget_at >= now]
        return any(w.holds(key, execution) for w in (*_RUNNING, *_DONE))


__all__ = ["KEEP_S", "Window", "claim", "execution_of", "expect", "finished", "next_id"]
