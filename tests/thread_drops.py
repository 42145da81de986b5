"""Dropping an owner of regorus engines on a thread other than the one that made them.

regorus engines are unsendable (see lacuna.policy.unsendable): one dropped on another thread is
reported through ``sys.unraisablehook`` and leaked. :func:`unraisables_when_dropped_elsewhere`
makes an owner, lets a worker thread compile its engine(s), drops the owner on this thread
while the worker still runs, then lets the worker end, and returns what was reported.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from typing import Any


def collect_and_freeze() -> None:
    """Collect earlier tests' garbage, then freeze what is left out of the collector (as
    conftest's ``_frozen_heap`` does with the start-up heap): each ``gc.collect()`` the test
    makes afterwards walks only the objects made since, so it still collects every owner and
    engine the test drops, but not the whole heap earlier tests left (in a full run, each
    collect took a second or more, and these tests collect several times). What is frozen
    stays frozen: objects alive now are never collected as cyclic garbage later, which costs
    memory, not correctness."""
    gc.collect()
    gc.freeze()


def unraisables_when_dropped_elsewhere(make: Callable[[], Any],
                                       use: Callable[[Any], None]) -> list[BaseException | None]:
    """The unraisable exceptions reported while ``make()``'s owner, used by ``use(owner)`` on a
    worker thread, is dropped here (earlier tests' garbage is collected before listening, and
    what is left frozen: :func:`collect_and_freeze`)."""
    collect_and_freeze()
    seen: list[BaseException | None] = []
    held = [make()]
    used, dropped = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def worker() -> None:
        try:
            use(held[0])  # compiles this thread's engine(s)
        except BaseException as exc:  # re-raised on the test's thread below
            failed.append(exc)
        used.set()
        dropped.wait(30)

    before = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_value)
    try:
        t = threading.Thread(target=worker)
        t.start()
        assert used.wait(60)
        if failed:
            raise failed[0]
        held.clear()  # the last reference: dropped here, on this thread
        gc.collect()
        dropped.set()
        t.join(60)
        gc.collect()
    finally:
        sys.unraisablehook = before
    return seen
