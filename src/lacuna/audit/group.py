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
arrived while another process committed goes into this group. A caller on an event loop
(:meth:`GroupCommit.submit_async`) is answered through one ``call_soon_threadsafe`` per group
and loop, not one thread hand-over per record.

Guarantees are those of ``AuditStore.record``:

- **Durable before the answer.** :meth:`GroupCommit.record` returns only after the group that
  holds the record has committed; a caller that is told "allowed" has its record on the trail
  (a crash loses only records whose callers are still waiting, and those callers have not
  answered).
- **Strictly ordered.** One writer per process appends groups in queue order; across processes
  the database's write lock orders groups, and each group is chained after the head it reads.
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
        self._thread = threading.Thread(target=self._run, name="lacuna-audit-group-commit",
                                        daemon=True)
        self._thread.start()

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
        if not self._queue((decision, operation, session, (loop, future))):
            future.set_exception(_closed())
        return future

    def _queue(self, item: _Item) -> bool:
        with self._wake:
            if self._closed:
                return False
            self._items.append(item)
            if len(self._items) == 1:  # the writer waits only when the queue was empty
                self._wake.notify()
        return True

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
            with self.store.turn():
                with self._wake:
                    group = [self._items.popleft()
                             for _ in range(min(len(self._items), self.max_group))]
                outcomes = self._commit(group)
            _settle(outcomes)

    def _commit(self, group: Sequence[_Item]
                ) -> list[tuple[Any, AuditRecord | None, BaseException | None]]:
        try:
            stored = self.store.record_many([(d, o, s) for d, o, s, _ in group])
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


def _settle(outcomes: list[tuple[Any, AuditRecord | None, BaseException | None]]) -> None:
    """Answer a group's waiters: thread callers at once, each event loop with one callback."""
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
