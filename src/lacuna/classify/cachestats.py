"""Hit and miss counters of the classification caches, per cache layer, kept across processes.

The cache layers, in the order a read meets them:

- ``file``: the governor's per-file cache of whole classifications (memory, one per process);
- ``memory``: the answer cache's memory tier (layer-2/3 answers by column name and value shape);
- ``store``: the answer cache's persistent tier (table ``lacuna_classify_cache``).

A lookup counts a hit on the layer that answered, or a miss on each layer it passed. Counting
is a dict increment under a lock; the counts reach the state store (table
``lacuna_classify_cache_stats``) when the answer cache writes or reads the store anyway, and
when the process exits, so ``lacuna cache stats`` in another process sees them. A failure to
store them is logged, never raised: statistics never break classification.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import Counter
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, select, update
from sqlalchemy.exc import SQLAlchemyError

from lacuna.audit.schema import writing

log = logging.getLogger(__name__)
LAYERS = ("file", "memory", "store")

metadata = MetaData()
table = Table(
    "lacuna_classify_cache_stats",
    metadata,
    Column("counter", String(32), primary_key=True),  # "<layer>.hit" or "<layer>.miss"
    Column("count", BigInteger, nullable=False),
)

_lock = threading.Lock()
_process: Counter[str] = Counter()  # this process, since start (or the last clear)
_pending: Counter[str] = Counter()  # not yet in the store
_engines: list[Any] = []  # where pending counts go at exit: the latest answer cache's store


def count(layer: str, *, hits: int = 0, misses: int = 0) -> None:
    """Count ``hits`` and ``misses`` on a cache layer."""
    if not hits and not misses:
        return
    with _lock:
        for name, n in ((f"{layer}.hit", hits), (f"{layer}.miss", misses)):
            if n:
                _process[name] += n
                _pending[name] += n


def process_counts() -> dict[str, int]:
    """This process's counts, by ``<layer>.hit`` / ``<layer>.miss``."""
    with _lock:
        return dict(_process)


def attach(engine: Any) -> None:
    """Flush pending counts to ``engine``'s state store at exit. Only the latest engine is
    kept (a process normally uses one state store; holding every engine would keep their
    connections open)."""
    with _lock:
        if not _engines:
            atexit.register(_flush_at_exit)
        _engines[:] = [engine]


def flush(engine: Any) -> None:
    """Add the pending counts to the stored ones (one transaction); log failures."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
    if not pending:
        return
    try:
        with writing(engine) as conn:
            stored = {r.counter for r in conn.execute(
                select(table.c.counter).where(table.c.counter.in_(list(pending))))}
            for name, n in pending.items():
                if name in stored:
                    conn.execute(update(table).where(table.c.counter == name)
                                 .values(count=table.c.count + n))
                else:
                    conn.execute(table.insert().values(counter=name, count=n))
    except SQLAlchemyError as exc:
        log.warning("classification cache statistics not stored: %s", exc)
        with _lock:  # keep them for the next flush
            _pending.update(pending)


def stored(engine: Any) -> dict[str, int]:
    """The counts in the state store (every process's, since the last clear)."""
    with engine.connect() as conn:
        return {r.counter: int(r.count) for r in conn.execute(select(table))}


def reset(engine: Any | None = None) -> None:
    """Forget this process's counts and, with ``engine``, the stored ones."""
    with _lock:
        _process.clear()
        _pending.clear()
    if engine is not None:
        with engine.begin() as conn:
            conn.execute(table.delete())


def _flush_at_exit() -> None:
    for engine in list(_engines):
        flush(engine)


__all__ = ["LAYERS", "attach", "count", "flush", "process_counts", "reset", "stored"]
