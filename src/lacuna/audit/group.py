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

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

from lacuna.errors import AuditError

if TYPE_CHECKING:
    from lacuna.audit.record import AuditRecord
    from lacuna.audit.store import AuditStore
    from lacuna.model import Decision, Operation

_Item = tuple["Decision", "Operation", str, "Future[AuditRecord]"]


class GroupCommit:
    """Appends decisions to ``store`` in groups from one background thread.

    Args:
        store: the audit trail.
        max_group: the most records in one transaction.
    """

    def __init__(self, store: AuditStore, *, max_group: int = 256) -> None:
        self.store = store
        self.max_group = max_group
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
        with self._wake:
            if self._closed:
                future.set_exception(AuditError(
                    "the audit trail's writer is closed (the server is stopping): nothing "
                    "was recorded."))
                return future
            self._items.append((decision, operation, session, future))
            self._wake.notify()
        return future

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
                group = [self._items.popleft()
                         for _ in range(min(len(self._items), self.max_group))]
            self._commit(group)

    def _commit(self, group: Sequence[_Item]) -> None:
        try:
            stored = self.store.record_many([(d, o, s) for d, o, s, _ in group])
        except BaseException as exc:  # every caller of the group learns it was not recorded
            error = exc if isinstance(exc, AuditError) else AuditError(
                f"could not append to the audit trail {self.store.where}: "
                f"{type(exc).__name__}: {exc}")
            for *_, future in group:
                future.set_exception(error)
            return
        self.groups += 1
        self.records += len(stored)
        for (*_, future), record in zip(group, stored, strict=True):
            future.set_result(record)
