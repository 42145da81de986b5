"""Group commit: many callers' decisions appended in one transaction by one writer thread.

A server answering many requests at once would otherwise run one transaction per decision,
each taking the trail's write lock (``BEGIN IMMEDIATE`` across worker processes), reading the
head, inserting, updating the head and writing the signed checkpoint. :class:`GroupCommit`
queues each caller's record and a single writer thread appends everything queued so far with
:meth:`AuditStore.record_many <lacuna.audit.store.AuditStore.record_many>`: one transaction, one
head update, one checkpoint per group. Under no concurrency a group is one record and costs
what :meth:`~lacuna.audit.store.AuditStore.record` costs; under load the groups grow by
themselves (whatever arrived while the previous group was committing), up to ``max_group``.
The writer never waits for more records to arrive, so no request waits longer than the
commit before it and its own.

Several processes (the server's workers) share one trail: each writer first takes its turn
(:meth:`AuditStore.turn <lacuna.audit.store.AuditStore.turn>`: an ``flock`` beside an SQLite
file, which wakes the next writer as soon as the previous one is done, where SQLite's own busy
handler would sleep 1 to 100 ms between retries), and only then takes what is queued, so what
arrived while another process committed goes into this group.

A caller on an event loop (:meth:`GroupCommit.submit_async`, the server's decide route) is
committed **on its loop** when it can be at once: the records queued during one turn of the
loop are appended by one callback at its end, if no other thread of the process is committing,
the writers' turn is free and SQLite's write lock is free (each tried without waiting). Then no
thread is woken, no GIL is handed over and the callers' futures are answered in place: on a
server with two workers and a handful of requests in flight per worker (groups of one to three
records) those hand-overs cost as much CPU as the append itself. When any of the three is
taken, the group goes to the writer thread, which waits for them as before and answers the
loop with one ``call_soon_threadsafe`` per group. The thread has to win the GIL back from the
busy event loop after each SQLite call while it holds the writers' turn, which CPython hands
over every switch interval: 5 ms by default, 0.5 ms in the server's workers
(:mod:`lacuna.server.collector`). The loop never waits for a lock: at most it
spends the commit's own CPU time (a few hundred microseconds for a small group). Only an
SQLite file is committed on the loop (:attr:`AuditStore.appends_without_waiting
<lacuna.audit.store.AuditStore.appends_without_waiting>`); PostgreSQL always goes through the
thread.

Guarantees are those of ``AuditStore.record``:

- **Durable before the answer.** :meth:`GroupCommit.record` returns only after the group that
  holds the record has committed; a caller that is told "allowed" has its record on the trail
  (a crash loses only records whose callers are still waiting, and those callers have not
  answered).
- **Strictly ordered.** One committer at a time per process (the loop's callback or the
  writer thread, under one lock) takes the queue's oldest records and appends them as a group;
  across processes the database's write lock orders groups, and each group is chained after
  the head it reads.
- **Fail closed.** When a group cannot be committed, nothing of it is written and every caller
  in it gets the :class:`~lacuna.errors.AuditError` (the server turns an allowed decision into a
  denial, as for a single failed append).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lacuna._forks import no_fork, renew_in_child
from lacuna.audit.store import StoreBusy
from lacuna.errors import AuditError

if TYPE_CHECKING:
    from lacuna.audit.record import AuditRecord
    from lacuna.audit.store import AuditStore
    from lacuna.model import Decision, Operation

# (decision, operation, session, waiter): the waiter is a concurrent Future, or (loop, future)
# for an asyncio future of that loop
_Item = tuple["Decision", "Operation", str, Any]


class GroupCommit:
    """Appends decisions to ``store`` in groups from one background thread.

    Args:
        store: the audit trail.
        max_group: the most records in one transaction.
    """

    def __init__(self, store: AuditStore, *, max_group: int = 256) -> None:
        self.store = store
        self.max_group = max_group
        # WAL checkpoints off the commit path: a commit never copies the log while it holds
        # the writers' turn (lacuna.audit.walcheck)
        store.checkpoint_in_background()
        self.groups = 0  # transactions committed (for tests and benchmarks)
        self.records = 0
        self._items: deque[_Item] = deque()
        self._wake = threading.Condition(threading.Lock())
        self._closed = False
        # whoever commits (a loop's callback or the writer thread) holds it: groups are taken
        # from the queue and appended in order
        self._committing = threading.Lock()
        self._inline = store.appends_without_waiting
        self._scheduled: set[asyncio.AbstractEventLoop] = set()  # loops with a drain pending
        self.inline_groups = 0  # groups committed on an event loop (for tests and benchmarks)
        self._thread: threading.Thread | None = self._start_writer()
        renew_in_child(self)

    def _start_writer(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="lacuna-audit-group-commit",
                                  daemon=True)
        thread.start()
        return thread

    def _after_fork_in_child(self) -> None:
        """A forked child gets its own writer and queue (:mod:`lacuna._forks`): the parent's
        queued records are its callers', answered by its writer; the child's would have
        waited for a writer thread it does not have."""
        self._items = deque()
        self._wake = threading.Condition(threading.Lock())
        self._committing = threading.Lock()
        self._scheduled = set()
        self._thread = None  # started at the child's first record (a fork stays cheap)

    def submit(self, decision: Decision, operation: Operation, *, session: str
               ) -> Future[AuditRecord]:
        """Queue one record; the future resolves when its group has committed."""
        future: Future[AuditRecord] = Future()
        if not self._queue((decision, operation, session, future)):
            future.set_exception(_closed())
        return future

    def submit_async(self, decision: Decision, operation: Operation, *, session: str
                     ) -> asyncio.Future[AuditRecord]:
        """Queue one record from a coroutine: the returned future (of the running loop)
        resolves when its group has committed. The writer answers all of a group's callers on
        one loop with one ``call_soon_threadsafe``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AuditRecord] = loop.create_future()
        if not self._queue((decision, operation, session, (loop, future)),
                           loop=loop if self._inline else None):
            future.set_exception(_closed())
        return future

    def _queue(self, item: _Item, *, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Queue ``item``; wake the writer, or with ``loop`` drain the queue on that loop at
        the end of its current turn (one callback per turn, however many records)."""
        with self._wake:
            if self._closed:
                return False
            if self._thread is None:  # a forked child's first record
                self._thread = self._start_writer()
            self._items.append(item)
            if loop is not None:
                if loop not in self._scheduled:
                    self._scheduled.add(loop)
                    loop.call_soon(self._drain, loop)
            else:  # (a no-op unless the writer waits: items a loop will drain do not count)
                self._wake.notify()
        return True

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: commit what is queued here and now if nothing has to be waited for
        (see the module docstring), else hand it to the writer thread."""
        with self._wake:
            self._scheduled.discard(loop)
        outcomes = None
        if self._committing.acquire(blocking=False):
            try:
                with self.store.attempt_turn() as taken:
                    if taken:
                        outcomes = self._commit_now()
            finally:
                self._committing.release()
        if outcomes:
            _settle(outcomes, here=loop)
        with self._wake:  # what is left (busy, or more than one group): the writer's
            if self._items:
                self._wake.notify()

    def _commit_now(self) -> list[tuple[Any, AuditRecord | None, BaseException | None]] | None:
        """One group appended without waiting (the caller holds the turn and the committing
        lock); ``None`` when the database was busy (the group is back at the queue's head)."""
        with self._wake:
            group = [self._items.popleft()
                     for _ in range(min(len(self._items), self.max_group))]
        if not group:
            return None
        try:
            outcomes = self._commit(group, wait=False)
        except StoreBusy:
            with self._wake:
                self._items.extendleft(reversed(group))
            return None
        self.inline_groups += 1
        return outcomes

    def record(self, decision: Decision, operation: Operation, *, session: str,
               timeout: float | None = 30.0) -> AuditRecord:
        """Append one decision and wait until it is committed (as ``AuditStore.record``).

        Raises:
            AuditError: the group could not be committed, or ``timeout`` passed first.
        """
        future = self.submit(decision, operation, session=session)
        try:
            return future.result(timeout)
        except TimeoutError:
            msg = (f"the audit trail {self.store.where} did not commit within {timeout} s "
                   "(the database is locked or slow); the decision is treated as unrecorded.")
            raise AuditError(msg) from None

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._items and not self._closed:
                    self._wake.wait()
                if not self._items:  # closed and drained
                    return
            # Wait for this process's turn on the trail first, then take everything queued by
            # then: what arrived while another process committed joins this group. The
            # callers are answered after the turn is passed on.
            with self._committing, self.store.turn():
                with self._wake:
                    group = [self._items.popleft()
                             for _ in range(min(len(self._items), self.max_group))]
                if not group:  # an event loop committed them meanwhile
                    continue
                outcomes = self._commit(group)
            _settle(outcomes)

    def _commit(self, group: Sequence[_Item], *, wait: bool = True
                ) -> list[tuple[Any, AuditRecord | None, BaseException | None]]:
        try:
            with no_fork():  # a child forked meanwhile would inherit SQLite's locks taken
                stored = self.store.record_many([(d, o, s) for d, o, s, _ in group],
                                                wait=wait)
        except StoreBusy:
            raise
        except BaseException as exc:  # every caller of the group learns it was not recorded
            error = exc if isinstance(exc, AuditError) else AuditError(
                f"could not append to the audit trail {self.store.where}: "
                f"{type(exc).__name__}: {exc}")
            return [(waiter, None, error) for *_, waiter in group]
        self.groups += 1
        self.records += len(stored)
        return [(waiter, record, None)
                for (*_, waiter), record in zip(group, stored, strict=True)]


def _closed() -> AuditError:
    return AuditError("the audit trail's writer is closed (the server is stopping): nothing "
                      "was recorded.")


def _settle(outcomes: list[tuple[Any, AuditRecord | None, BaseException | None]], *,
            here: asyncio.AbstractEventLoop | None = None) -> None:
    """Answer a group's waiters: thread callers at once, each event loop with one callback
    (``here``, the loop this runs on, at once)."""
    loops: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, Any]]] = {}
    for waiter, record, error in outcomes:
        if isinstance(waiter, Future):
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(record)
        else:
            loop, future = waiter
            loops.setdefault(loop, []).append((future, record, error))
    for loop, answers in loops.items():
        if loop is here:
            _answer(answers)
            continue
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there any more
            loop.call_soon_threadsafe(_answer, answers)


def _answer(answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, record, error in answers:
        if future.done():  # timed out or cancelled: that caller was answered already
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(record)
