"""One SQLAlchemy engine per state database per process, shared by the stores that write it.

``lacuna.enable(config)`` opens the audit trail and the decision log on the same state
database. Each built its own engine: a dialect set up at the first connection, a cache of
compiled statements begun empty, event listeners registered, ~2 ms apiece at every enable. They
now lease one engine per database from here (:func:`lease`), and a new governor on the same
database (the next ``enable(config)``, the next test) reuses it.

What is written does not change: the engine is built exactly as :func:`lacuna.audit.schema.
build_engine` builds it for either store (same connection settings, same ``BEGIN`` handling).
Every store checks and migrates the schema when it first opens on an engine; a store opened
again while the engine is still leased skips what :attr:`Lease.settled` says was checked (a
decision log per ``enable()`` on the audit trail's engine). Across databases, every SQLite
engine shares one cache of compiled statements (``lacuna.audit.schema.SQLITE_STATEMENTS``).

Lifetime:

- when the last lease on an engine is released (the governor is closed: ``lacuna.enable
  (other_config)``, ``lacuna.governor.reset()``), its pooled connections are closed
  (``Engine.dispose()``), so no file handle or server session outlives the stores; the engine
  object is kept for the next lease, and at most :data:`IDLE_KEPT` idle ones are;
- ``lacuna.disable()`` drops every idle engine (:func:`drop_idle`);
- a forked child gets a fresh, empty pool for each (:func:`lacuna._forks.fresh_pool_in_child`,
  which :func:`~lacuna.audit.schema.build_engine` registers) and a lock of its own.

Only databases named unambiguously are shared: a SQLite file by its absolute path (a relative
path names another file once the working directory changes, so each store keeps its own engine
as before), or a server database (PostgreSQL) by its full URL. An in-memory SQLite database is
each store's own (``sqlite://``: two stores never saw each other's tables, and still do not), and
a read-only store (``lacuna audit verify``) opens its own read-only engine.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna._forks import renew_in_child

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

#: how many engines with no lease are kept for reuse (their connections closed)
IDLE_KEPT = 4
#: the stores that share an engine (the audit trail, the decision log): its pool is as large
#: as their two pools were
SHARED_BY = 2


def _key(url: URL) -> str | None:
    """The database ``url`` names, as the cache's key; None when it is not to be shared."""
    if url.get_backend_name() != "sqlite":
        return url.render_as_string(hide_password=False)
    from lacuna.audit.schema import sqlite_file

    path = sqlite_file(url)
    if path is None or not path.is_absolute() or url.query:
        return None  # in memory, relative to the working directory, or URI options: its own
    return f"{url.drivername}:{Path(path)}"  # the driver too: another driver, another engine


@dataclass(eq=False)
class Lease:
    """One store's use of a state database's engine, released once (:meth:`release`)."""

    engine: Engine
    _cache: _Engines | None = field(default=None, repr=False)
    _released: bool = field(default=False, repr=False)
    _key: str = field(default="", repr=False)
    _finalizer: weakref.finalize[[], Any] | None = field(default=None, repr=False)
    #: what the stores leasing this engine have checked of its database (e.g. that the state
    #: schema is at head and a store's tables exist), kept while the engine is leased without
    #: a break; an engine of its own starts with nothing checked at every lease
    settled: set[str] = field(default_factory=set, repr=False)

    def release(self) -> None:
        """Give the engine back (idempotent). An engine of its own is disposed; a shared one
        when this was its last lease."""
        if self._released:
            return
        self._released = True
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._cache is None:
            self.engine.dispose()
        else:
            self._cache.give_back(self._key)

    def held_by(self, owner: object) -> Lease:
        """Release the lease when ``owner`` is collected unclosed (as its own engine's
        connections were closed when it was), not only at its ``close()``."""
        if self._finalizer is None and not self._released:
            self._finalizer = weakref.finalize(owner, self._collected)
            self._finalizer.atexit = False  # at exit the process's connections close anyway
        return self

    def _collected(self) -> None:
        # run by the garbage collector, maybe inside the cache's lock on this thread: the
        # cache releases it at its next use, outside
        if self._cache is None:
            self.release()
        else:
            self._cache.pending.append(self)


@dataclass(eq=False)
class _Shared:
    engine: Engine
    leases: int = 0
    # Lease.settled of every lease, emptied when the last one is given back: an idle engine's
    # database may be removed, replaced or migrated by another process before its next lease
    settled: set[str] = field(default_factory=set)


class _Engines:
    """The process's shared engines, by database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: OrderedDict[str, _Shared] = OrderedDict()  # idle ones oldest first
        self.pending: deque[Lease] = deque()  # of stores collected unclosed (Lease.held_by)
        renew_in_child(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it at the fork

    def _release_pending(self) -> None:
        while self.pending:
            self.pending.popleft().release()

    def lease(self, url: URL) -> Lease:
        from lacuna.audit.schema import build_engine

        self._release_pending()
        key = _key(url)
        if key is None:
            return Lease(build_engine(url))
        with self._lock:
            shared = self._by_key.get(key)
            if shared is None:
                shared = self._by_key[key] = _Shared(build_engine(url, stores=SHARED_BY))
            shared.leases += 1
            self._by_key.move_to_end(key)
            return Lease(shared.engine, self, _key=key, settled=shared.settled)

    def give_back(self, key: str) -> None:
        with self._lock:
            shared = self._by_key[key]  # leased, so neither evicted nor dropped
            shared.leases -= 1
            if shared.leases > 0:
                return
            shared.settled.clear()
            self._by_key.move_to_end(key)
            idle = [k for k, s in self._by_key.items() if not s.leases]
            evicted = [self._by_key.pop(k) for k in idle[:max(len(idle) - IDLE_KEPT, 0)]]
        shared.engine.dispose()  # its pooled connections closed; kept for the next lease
        for gone in evicted:
            gone.engine.dispose()

    def drop_idle(self) -> None:
        self._release_pending()
        with self._lock:
            idle = [k for k, s in self._by_key.items() if not s.leases]
            dropped = [self._by_key.pop(k) for k in idle]
        for gone in dropped:
            gone.engine.dispose()

    def shared(self) -> dict[str, int]:
        from lacuna.redact import redact_url

        self._release_pending()
        shown: dict[str, int] = {}
        with self._lock:  # a server database's key holds its password: shown without it
            for key, entry in self._by_key.items():
                shown[redact_url(key)] = shown.get(redact_url(key), 0) + entry.leases
        return shown


_ENGINES = _Engines()


def lease(url: URL) -> Lease:
    """An engine on the state database at ``url`` (built as
    :func:`lacuna.audit.schema.build_engine` builds it), shared with the other stores of this
    process on the same database; :meth:`Lease.release` it when the store closes.

    Raises:
        AuditError: the driver is missing, or SQLAlchemy has no such kind of database.
    """
    return _ENGINES.lease(url)


def drop_idle() -> None:
    """Forget every engine no store uses (``lacuna.disable()``); their connections are closed
    already, their pools are disposed again."""
    _ENGINES.drop_idle()


def shared() -> dict[str, int]:
    """The shared engines' databases (passwords hidden) and how many stores lease each,
    summed over the engines a hidden password tells apart (tests, diagnostics)."""
    return _ENGINES.shared()
