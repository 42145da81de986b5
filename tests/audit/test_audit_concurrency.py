"""Concurrent writers must take turns: one chain, no gaps, no forks."""

from __future__ import annotations

import itertools
import textwrap
import threading
from pathlib import Path
from typing import Any

from lacuna.audit import AuditStore
from writers import at_once, run_together

WRITER = textwrap.dedent("""
    import sys
    import time
    from lacuna.audit import AuditStore
    from lacuna.model import Action, Classification, Decision, Operation, User

    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = AuditStore(url)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for _ in range(n):
        time.sleep(0.0005)  # widen the window, so the two writers surely overlap
        op = Operation(action=Action.WRITE, user=User(id=name), classification=Classification())
        store.record(Decision(allowed=True, operation_id=op.id, reasoning="ok"), op, session=name)
    store.close()
""")


def test_two_processes_append_one_chain(db_url: str, home: Path) -> None:
    n = 150
    run_together(WRITER, db_url, n)
    with AuditStore(db_url) as store:
        report = store.verify()
        assert (report.ok, report.checked) == (True, 2 * n), report.problem
        found = store.list(limit=None)
        assert sorted(r.seq for r in found) == list(range(1, 2 * n + 1))
        users = [r.user_id for r in reversed(found)]
        assert users.count("proc0") == users.count("proc1") == n
        # They really interleaved (otherwise the test proves nothing about locking).
        assert any(a != b for a, b in itertools.pairwise(users))


def test_threads_with_separate_stores_append_one_chain(db_url: str, home: Path, mk: Any) -> None:
    n, workers = 40, 4

    def write(store: AuditStore, name: str) -> None:
        with store:
            for _ in range(n):
                op = mk.op(user=name)
                store.record(mk.decision(op), op, session=name)

    at_once(write, [(f"t{i}",) for i in range(workers)], ready=lambda _: AuditStore(db_url))
    with AuditStore(db_url) as store:
        assert store.verify().checked == n * workers
        assert store.verify().ok


def test_threads_sharing_one_store(store: AuditStore, mk: Any) -> None:
    def write() -> None:
        for _ in range(25):
            op = mk.op()
            store.record(mk.decision(op), op, session="shared")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = store.verify()
    assert (report.ok, report.checked) == (True, 100)


def test_record_event_once_appends_once_among_separate_stores(db_url: str, home: Path) -> None:
    """``record_event_once`` asks ``present`` inside the append's write transaction: four
    stores (four connections, as four processes) appending the same event at once append it
    once; the others get None and append nothing. The chain stays whole."""
    from sqlalchemy import select

    from lacuna.audit.record import event_body
    from lacuna.audit.schema import records

    workers = 4

    def present(conn: Any) -> bool:
        return conn.execute(select(records.c.seq).where(
            records.c.action == "marker")).first() is not None

    def once(store: AuditStore, name: str) -> Any:
        with store:
            body = event_body("marker", user=(name, "admin"), session=name,
                              what={"action": "marker", "event": "once"}, reasoning="once")
            return store.record_event_once(body, present)

    results = at_once(once, [(f"t{i}",) for i in range(workers)],
                      ready=lambda _: AuditStore(db_url))
    appended = [r for r in results if r is not None]
    assert (len(appended), len(results)) == (1, workers)
    with AuditStore(db_url) as store:
        assert [r.seq for r in store.list(action="marker")] == [appended[0].seq]
        assert store.get(appended[0].seq).body == appended[0].body  # read back
        other = event_body("other", user=("t0", "admin"), session="t0",
                           what={"action": "other", "event": "once"}, reasoning="not present")
        assert store.record_event_once(other, present) is None  # "marker" is present
        assert store.list(action="other") == []
        report = store.verify()
        assert (report.ok, report.checked) == (True, 1), report.problem
