"""Group commit on the caller's event loop (lacuna.audit.group): when the turn and SQLite's
write lock are free the loop commits its own group; when either is taken the loop never waits,
the writer thread does, and every caller is still answered only after its record is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import loops
from lacuna.audit import AuditStore
from lacuna.audit.group import GroupCommit
from lacuna.audit.store import StoreBusy
from lacuna.audit.turn import Turn


def test_a_free_trail_is_committed_on_the_loop(store: AuditStore, mk: Any) -> None:
    writer = GroupCommit(store)

    async def one(i: int) -> int:
        op = mk.op(user=f"u{i % 3}")
        rec = await writer.submit_async(mk.decision(op), op, session="s")
        assert store.get(rec.id) == rec  # on the trail when the caller is answered
        return rec.seq

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(30)))

    seqs = loops.run(main())
    writer.close()
    assert sorted(seqs) == list(range(1, 31))
    assert writer.inline_groups == writer.groups >= 1  # no hand-over to the thread
    assert writer.groups < 30  # one turn of the loop: one group
    report = store.verify()
    assert (report.ok, report.checked) == (True, 30), report.problem


def test_a_taken_turn_goes_to_the_writer_thread_and_the_loop_keeps_running(
        store: AuditStore, mk: Any) -> None:
    """Another process's writer holds the turn: the loop does not wait for it (a ticker on the
    same loop keeps ticking), nothing is committed or answered meanwhile, and once the turn is
    free the writer thread commits the group and answers the loop."""
    assert store.path is not None
    other = Turn(store.path)  # another process's writer, as far as flock can tell
    writer = GroupCommit(store)
    op = mk.op()
    writer.record(mk.decision(op), op, session="s")  # the writer has opened its lock file
    ticks = 0

    async def main(release: threading.Event) -> list[int]:
        nonlocal ticks
        futures = [writer.submit_async(mk.decision(op), op, session="s") for _ in range(4)]
        until = time.monotonic() + 0.3
        while time.monotonic() < until:
            ticks += 1
            await asyncio.sleep(0.01)
        assert not any(f.done() for f in futures)
        assert [r.seq for r in store.list(limit=None)] == [1]
        release.set()
        return [r.seq for r in await asyncio.gather(*futures)]

    seqs = loops.run(_with_turn_held(other, main))
    writer.close()
    other.close()
    assert seqs == [2, 3, 4, 5]
    assert ticks >= 10  # ~30 ticks of 10 ms: the loop never blocked on the turn
    assert writer.inline_groups == 0  # the one group went through the thread
    assert store.verify().ok


def test_a_held_write_lock_goes_to_the_writer_thread(store: AuditStore, mk: Any) -> None:
    """A connection that writes without taking the turn (another tool) holds SQLite's write
    lock: ``record_many(wait=False)`` appends nothing and says so at once, and the loop's
    callers are committed by the writer thread once the lock is released."""
    assert store.path is not None
    op = mk.op()
    blocker = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    writer = GroupCommit(store)
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusy):
            store.record_many([(mk.decision(op), op, "s")], wait=False)
        assert time.monotonic() - started < 1.0  # not the 30 s busy timeout

        async def main() -> list[int]:
            futures = [writer.submit_async(mk.decision(op), op, session="s")
                       for _ in range(3)]
            await asyncio.sleep(0.2)
            assert not any(f.done() for f in futures)
            blocker.execute("ROLLBACK")
            return [r.seq for r in await asyncio.gather(*futures)]

        seqs = loops.run(main())
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
    writer.close()
    assert seqs == [1, 2, 3]
    assert writer.inline_groups == 0
    report = store.verify()
    assert (report.ok, report.checked) == (True, 3), report.problem


def test_an_in_memory_trail_is_never_committed_on_the_loop(
        tmp_path: Path, home: Path, mk: Any) -> None:
    """Only an SQLite file appends without waiting; an in-memory trail (no file, no turn)
    is never committed on the loop, and ``wait=False`` there is refused without writing."""
    store = AuditStore("sqlite://")
    try:
        assert not store.appends_without_waiting
        op = mk.op()
        writer = GroupCommit(store)

        async def main() -> int:
            return (await writer.submit_async(mk.decision(op), op, session="s")).seq

        assert loops.run(main()) == 1
        writer.close()
        assert writer.inline_groups == 0
        assert store.verify().ok
    finally:
        store.close()


async def _with_turn_held(other: Turn, main: Any) -> Any:
    """``await main(release)`` while ``other`` holds the turn, on a thread of its own, until
    ``release`` is set."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with other.hold():
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    try:
        return await main(release)
    finally:
        release.set()
        thread.join(10)
