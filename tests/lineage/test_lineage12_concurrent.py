"""Two writers of one dataset at once make one chain of superseded marks, not two branches.

On PostgreSQL, both read the dataset's newest version, both marked it superseded and inserted
their own: the first of the two new versions was never marked, so deleting the second made it
the dataset's state unnoticed. Writers of lineage now take their turns (an advisory lock on
PostgreSQL; SQLite's write lock is the whole database)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, select

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.schema import run_io, runs, versions
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")


def _written(run_id: str, tier: Tier) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=REF, classification=Classification(tier=tier)),))


def test_lineage12_concurrent_writers_of_one_dataset_make_one_chain(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with LineageStore(store_url) as first:
        first.record(_written("r0", Tier.PUBLIC))
    # each writer waits (a little) for the other after reading what it supersedes: without
    # turns, both read r0 as the newest; with them, the second waits for the first's commit
    met = threading.Barrier(2)
    original = LineageStore._supersede

    def slow(self: LineageStore, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            met.wait(timeout=0.2)

    monkeypatch.setattr(LineageStore, "_supersede", slow)
    stores = [LineageStore(store_url), LineageStore(store_url)]
    errors: list[BaseException] = []

    def write(store: LineageStore, run_id: str) -> None:
        try:
            store.record(_written(run_id, Tier.INTERNAL if run_id == "a" else Tier.PROPRIETARY))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, r))
               for s, r in zip(stores, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for s in stores:
        s.close()
    assert not errors
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            order = [r[0] for r in conn.execute(select(runs.c.id).order_by(runs.c.seq))]
            seqs = [r[0] for r in conn.execute(select(runs.c.seq))]
            assert len(set(seqs)) == 3  # each run its own place in the order
            last = order[-1]
            conn.execute(delete(run_io).where(run_io.c.run_id == last))
            conn.execute(delete(versions).where(versions.c.run_id == last))
    finally:
        engine.dispose()
    with LineageStore(store_url) as store, pytest.raises(
            LineageError, match="superseded by a later version"):
        store.latest(REF)  # before (PostgreSQL): the other writer's version, unmarked
