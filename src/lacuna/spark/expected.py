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

The counter cannot tell a query created on another thread *while* a governed write to the
same target runs (the event says which query, not which thread): such a write outside Lacuna
(``df._jdf.write()`` of other rows to that table) was taken as the governed one's, neither
flagged UNGOVERNED nor re-labelled, and the table kept the governed write's lower label. So a
governed write also registers the plan of what it writes (its DataFrame's analyzed plan), and
an event is its own only when the query the event wrote is that plan or holds it (Spark may
put a projection or a cast over it: ``sameResult``, expression ids aside). An event numbered in
its window that writes anything else is flagged; one whose query cannot be compared is flagged
too (fail closed: a flag re-labels with the stricter of the label and what was written, never
lower). What is left: another thread writing *the same DataFrame* to the same target meanwhile
is taken as the governed write's (it writes what was decided).

An outside write caught while a governed write to its target is in flight is handled once that
write has stored its label (:func:`settle`): otherwise the governed write, which read the
table's classification before it ran, labelled it after the listener's re-label, over it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
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
    plan: Any = None  # the analyzed plan of what it writes (None: not known, any query is)
    labelled: threading.Event = field(default_factory=threading.Event)

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


def expect(spark: SparkSession | None, keys: tuple[str, ...], plan: Any = None) -> Window:
    """A governed write to ``keys`` of the analyzed plan ``plan`` starts: its queries are
    numbered from now, and write ``plan``."""
    window = Window(keys, next_id(spark) if spark is not None else None, plan=plan)
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


def labelled(window: Window) -> None:
    """The governed write of ``window`` stored its label (or failed): an outside write to its
    target caught meanwhile can be re-labelled now (:func:`settle`)."""
    window.labelled.set()


SETTLE_S = 300.0  # how long the listener waits for a governed write in flight to label


def settle(key: str, timeout: float = SETTLE_S) -> None:
    """Wait until every governed write to ``key`` in flight stored its label: the listener
    re-labels an outside write to ``key`` after it (logged when one does not within
    ``timeout``: the re-label then goes first, and that write may label over it)."""
    with _LOCK:
        waiting = [w for w in (*_RUNNING, *_DONE) if key in w.keys and not w.labelled.is_set()]
    deadline = time.monotonic() + timeout
    for window in waiting:
        if not window.labelled.wait(max(0.0, deadline - time.monotonic())):
            log.error("lacuna query listener: a governed write to %s has not stored its label "
                      "after %.0f s; an outside write to it is re-labelled now, and that write "
                      "may label over it (write the table again under Lacuna)", key, timeout)
            return


def claim(key: str | None, execution: int | None, written: Any = None) -> bool:
    """Whether the listener event of query ``execution`` writing ``written`` (the write
    command's query; None: not known) to ``key`` is a governed write's own (``key`` None: a
    target Lacuna cannot name, any governed write's). Numbered within a governed write's
    window, it must also write that write's plan (:func:`writes`); a comparison that fails
    is no match (logged)."""
    with _LOCK:
        now = time.monotonic()
        _DONE[:] = [w for w in _DONE if w.forget_at >= now]
        found = [w for w in (*_RUNNING, *_DONE) if w.holds(key, execution)]
    return any(w.plan is None or written is None or writes(written, w.plan) for w in found)


MAX_NODES = 10_000  # nodes of a written query compared (a bigger one is not the plan: flagged)


def writes(written: Any, plan: Any) -> bool:
    """Whether the query ``written`` (an event's) is the analyzed ``plan`` or holds it: a node
    of it whose result is the same (``sameResult``: expression ids aside). False when it cannot
    be compared (logged)."""
    from lacuna.spark import _jvm

    try:
        stack, seen = [written], 0
        while stack and seen < MAX_NODES:
            node = stack.pop()
            seen += 1
            if node.sameResult(plan):
                return True
            stack.extend(_jvm.children(node))
    except Exception as exc:
        log.error("lacuna query listener: a write's query cannot be compared with a governed "
                  "write's (%s); it is taken as a write outside Lacuna", exc)
    return False


__all__ = ["KEEP_S", "MAX_NODES", "SETTLE_S", "Window", "claim", "execution_of", "expect",
           "finished", "labelled", "next_id", "settle", "writes"]
