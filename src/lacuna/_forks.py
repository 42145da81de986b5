"""What a forked child must not inherit from the process that forked it.

``os.fork`` copies the whole process but only the thread that called it. A child made by
``multiprocessing``'s ``fork`` start (the default on Linux before Python 3.14), by a
pre-forking server or by ``os.fork`` itself therefore holds Lacuna's per-process state with
none of the threads that serve it:

- a **queue whose writer thread is gone** (the decision log's: the child's decisions were
  queued and never written, while its audit records were);
- **pooled database connections the parent still uses** (two processes on one SQLite handle or
  one PostgreSQL socket);
- **locks held at the fork** by one of those threads, held for ever in the child;
- SQLite's own process-wide mutexes, when a background thread was inside SQLite at the fork.

This module renews that state in the child, in one place:

- :func:`renew_in_child` registers an object whose ``_after_fork_in_child()`` starts it afresh
  (new locks, an empty queue, no thread: the next use starts one). What the parent had queued
  is the parent's to write, not written twice.
- :func:`fresh_pool_in_child` gives a SQLAlchemy engine a new, empty pool in the child. The
  inherited connections are kept, never used and never closed there (closing a connection in
  the child would close the parent's).
- :func:`keep` holds on to something inherited (a connection, a client) for the child's whole
  life, so that it is never closed there: closing a socket or database handle in the child
  can end the parent's session (TLS sends its close alert, a pool rolls back).
- :func:`no_fork` is held by background threads around their calls into the state database;
  ``os.fork`` waits (up to :data:`FORK_WAIT_S`) until none is inside.
- :func:`at_child_exit` runs a flush when a ``multiprocessing`` child ends: one started by
  ``fork`` or ``forkserver`` (the default from Python 3.14) leaves with ``os._exit``, which
  skips ``atexit``; such a child's last decisions, or all of a short one's, were lost.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

#: how long a fork waits for background threads to leave the state database
FORK_WAIT_S = 30.0


class Renewable(Protocol):
    def _after_fork_in_child(self) -> None: ...


_renewed: weakref.WeakSet[Any] = weakref.WeakSet()
_engines: weakref.WeakSet[Any] = weakref.WeakSet()
#: what a child inherited and must never close (see :func:`keep`)
_inherited: list[Any] = []


def renew_in_child(obj: Renewable) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked from now on (``obj`` is held
    weakly: a collected object is forgotten)."""
    _renewed.add(obj)


def keep(inherited: object) -> None:
    """In a forked child: hold ``inherited`` (the parent's connection, client or pool) for
    good, unused, so that it is never closed or finalized here."""
    if inherited is not None:
        _inherited.append(inherited)


def fresh_pool_in_child(engine: Engine) -> None:
    """Give ``engine`` a new, empty connection pool in every forked child (SQLAlchemy's
    ``Engine.dispose(close=False)``, the documented way for a forked process)."""
    _engines.add(engine)


class _Gate:
    """Many threads inside at once; a fork waits until none is, and no one enters during it."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._forking = False

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._cond:
            while self._forking:
                self._cond.wait()
            self._inside += 1
        try:
            yield
        finally:
            with self._cond:
                self._inside -= 1
                if not self._inside:
                    self._cond.notify_all()

    def close(self) -> None:
        """Before a fork: wait for those inside, keep others out (the lock stays held)."""
        self._cond.acquire()
        self._forking = True
        if not self._cond.wait_for(lambda: not self._inside, FORK_WAIT_S):
            log.warning("fork: a background thread of Lacuna is still in the state database "
                        "after %g s; forking anyway (the child may wait on SQLite's locks)",
                        FORK_WAIT_S)

    def open(self) -> None:
        """After a fork, in the parent: let threads in again."""
        self._forking = False
        self._cond.notify_all()
        self._cond.release()


_gate = _Gate()


def no_fork() -> AbstractContextManager[None]:
    """A context manager: held around a background thread's calls into SQLite or another
    library whose process-wide locks a child must not inherit taken."""
    return _gate.inside()


def at_child_exit(callback: Callable[[], object]) -> None:
    """Run ``callback`` when this process, a ``multiprocessing`` child, ends; nothing in other
    processes (``atexit`` covers those). Call it from the child itself, e.g. when a writer
    thread starts: a child's exit handlers are cleared when it starts."""
    mp = sys.modules.get("multiprocessing")
    if mp is None or mp.parent_process() is None:
        return
    from multiprocessing.util import Finalize

    Finalize(None, callback, exitpriority=10)


def _before() -> None:
    _gate.close()


def _after_in_parent() -> None:
    _gate.open()


def _after_in_child() -> None:
    global _gate
    _gate = _Gate()
    for engine in list(_engines):
        keep(engine.pool)
        engine.dispose(close=False)
    for obj in list(_renewed):
        try:
            obj._after_fork_in_child()
        except Exception:  # one component failing to renew must not break the child's others
            log.exception("fork: could not renew %r in the child", obj)


os.register_at_fork(before=_before, after_in_parent=_after_in_parent,
                    after_in_child=_after_in_child)
