"""The server worker's runtime, settled once the state is built: the garbage collector and the
interval at which the interpreter hands the GIL between threads.

A server worker holds a large, long-lived heap (the compiled policy bundle, the stores, FastAPI
and pydantic's schemas: ~175,000 objects the collector tracks) and makes many small,
short-lived ones per request, which reference counting frees. With CPython's default
thresholds (700, 10, 10) a burst of a few hundred live objects (one decision-log batch, a group
of audit records) starts a young collection, and now and then a full one walks the whole heap:
~60 µs of CPU per recorded decision in all, and a pause of tens of milliseconds in the latency
tail (``benchmarks/profile_recorded.py``, measured with ``gc.callbacks``).

:func:`settle` collects once, moves everything alive then into the permanent generation
(``gc.freeze``: the start-up heap is never walked again) and raises the young generation's
threshold, so a request's own garbage is collected after thousands of requests' worth of
surviving objects, not hundreds. Cycles are still found and freed, later; memory held by them
meanwhile is bounded by the threshold.

It also shortens the GIL's switch interval from CPython's 5 ms to :data:`SWITCH_INTERVAL_S`.
A worker's event loop is busy with requests most of the time, and its helper threads (the
audit trail's group-commit writer, the decision log's writer, the WAL checkpoints, the
threads that decide operations with sources) each hold the database for a moment between
SQLite calls, and every SQLite call gives the GIL up. Getting it back from the busy loop took
up to a whole interval per call, with the writers' turn and SQLite's write lock held all along,
so the other worker's commits waited too: the tail of a recorded decision's latency.

Called by the worker process only (``lacuna serve``), never by the library or the tests'
in-process servers, whose process it would change.
"""

from __future__ import annotations

import gc
import sys

YOUNG_THRESHOLD = 10_000
SWITCH_INTERVAL_S = 0.0005


def settle() -> None:
    """Collect, freeze the start-up heap, raise the young generation's threshold, and hand the
    GIL between threads every :data:`SWITCH_INTERVAL_S`."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
