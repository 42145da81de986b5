"""When the lineage store first saw a dataset's data written: the clock retention counts from.

A Lacuna server keeps it for its clients' files (``lacuna_lineage_first_seen``, migration
0015). A client's sidecar is signed with its owner's own key, so what it says of
``first_seen`` is the owner's word: deleting or rewriting it must not restart the retention
clock. The server records a destination's clock when it allows a write there
(:func:`record_write`, from ``POST /api/v1/decide``), by the one rule of
:mod:`lacuna.lineage.clock`: the earliest of the clock the destination had, the clocks of the
sources the write derives from at a tier no higher than its own, and the server's time. A
clock only ever moves earlier. ``GET /api/v1/lineage/known`` answers it, and a client with
``server:`` takes it instead of its sidecar's (:func:`lacuna.lineage.clock.of_file`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from lacuna.audit.record import iso
from lacuna.lineage.clock import aware, earliest, takes
from lacuna.lineage.records import DatasetRef
from lacuna.lineage.schema import first_seen as table
from lacuna.model import Action, Operation, utcnow

if TYPE_CHECKING:
    from lacuna.lineage.records import Run
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Tier

WRITES = (Action.WRITE, Action.EXPORT)


def file_ref(name: str | None) -> DatasetRef | None:
    """The dataset a local path or ``file:`` URI names (None for anything else: a table, a
    URL, a relative path, which no clock is kept for)."""
    import os

    if not name or ("://" not in name and not os.path.isabs(name)):
        return None
    ref = DatasetRef.of(name)
    return ref if ref.namespace == "file" else None


def first_seen(store: LineageStore, ref: DatasetRef) -> datetime | None:
    """The clock the store keeps for ``ref``; None when it saw no write there."""
    row = store._read(select(table.c.first_seen).where(
        table.c.namespace == ref.namespace, table.c.name == ref.name))
    return aware(row[0][0]) if row else None


CHUNK = 500  # names per IN list (well within SQLite's oldest limit of 999 parameters)


def first_seen_of(store: LineageStore, refs: Iterable[DatasetRef]) -> dict[DatasetRef, datetime]:
    """The clocks the store keeps for those of ``refs`` it saw a write to: one query per
    namespace and :data:`CHUNK` names (one per input and output made a run of 1,000 inputs and
    1,000 outputs a million queries on the server's request path)."""
    by_namespace: dict[str, list[str]] = {}
    for ref in dict.fromkeys(refs):
        by_namespace.setdefault(ref.namespace, []).append(ref.name)
    found: dict[DatasetRef, datetime] = {}
    for namespace, names in by_namespace.items():
        for start in range(0, len(names), CHUNK):
            for name, at in store._read(select(table.c.name, table.c.first_seen).where(
                    table.c.namespace == namespace,
                    table.c.name.in_(names[start:start + CHUNK]))):
                when = aware(at)
                if when is not None:
                    found[DatasetRef(namespace, name)] = when
    return found


def saw(store: LineageStore, ref: DatasetRef, at: datetime, *, again: bool = True
        ) -> datetime:
    """Record that ``ref``'s data was seen at ``at``: its clock becomes the earlier of the one
    it had and ``at``; the clock it has now. A clock already at or before ``at`` (every write
    to a file after its first) is only read: no write transaction on the decision's path."""
    had = first_seen(store, ref)
    if had is not None and had <= at:
        return had
    where = (table.c.namespace == ref.namespace, table.c.name == ref.name)
    try:
        with store._lock, store._transaction(write=True) as conn:
            row = conn.execute(select(table.c.first_seen).where(*where)).first()
            if row is None:
                conn.execute(insert(table).values(namespace=ref.namespace, name=ref.name,
                                                  first_seen=iso(at)))
                return at
            had = aware(row[0])
            if had is not None and had <= at:
                return had
            conn.execute(update(table).where(*where).values(first_seen=iso(at)))
            return at
    except IntegrityError:  # two first writes at once: the loser reads the winner's row
        if not again:
            raise
        return saw(store, ref, at, again=False)


def clocks(operation: Operation) -> bool:
    """Whether ``operation`` writes a local file, whose clock an allowed decision records."""
    return (operation.action in WRITES and operation.destination is not None
            and file_ref(operation.destination.uri) is not None)


def record_write(store: LineageStore, operation: Operation, *,
                 now: datetime | None = None) -> datetime | None:
    """The clock of an allowed write ``operation``'s local destination, recorded (see the
    module docstring); None when it writes no local file. ``operation``'s sources carry the
    classes the server held them to."""
    if not clocks(operation):
        return None
    assert operation.destination is not None
    target = file_ref(operation.destination.uri)
    assert target is not None
    tier = operation.classification.tier
    derived = first_seen_of(store, [
        ref for s in operation.sources
        if takes(s.classification.tier, tier) and (ref := file_ref(s.name)) is not None
        and ref != target])
    at = earliest(now or utcnow(), *derived.values())
    assert at is not None
    return saw(store, target, at)


def record_run(store: LineageStore, run: Run) -> None:
    """A succeeded run's local outputs take the clocks of its inputs at a tier no higher than
    theirs (a copy is as old as its source: a write's decision names only the roots of its
    data's lineage, the run names the files read). Only ever earlier: a run can make its
    outputs due sooner, never later."""
    from lacuna.lineage.records import RunStatus

    if run.status is not RunStatus.SUCCEEDED:
        return
    outputs = [out for out in run.outputs if out.dataset.namespace == "file"]
    inputs = [i for i in run.inputs if i.dataset.namespace == "file"]
    if not outputs or not inputs:
        return
    clocks = first_seen_of(store, [i.dataset for i in inputs])
    # per input tier, its two earliest clocks: an output takes the earliest of the tiers it
    # takes, past itself (a run that reads and writes one file); one pass over the inputs and
    # one over the outputs (each output against each input was 10,000 x 10,000 for an
    # OpenLineage run of that size)
    best: dict[Tier, list[tuple[datetime, DatasetRef]]] = {}
    for i in inputs:
        at = clocks.get(i.dataset)
        if at is not None:
            kept = best.setdefault(i.classification.tier, [])
            if (at, i.dataset) not in kept:
                kept.append((at, i.dataset))
                kept.sort(key=lambda pair: pair[0])
                del kept[2:]
    for out in outputs:
        target = out.dataset
        at = earliest(*(next((when for when, ref in kept if ref != target), None)
                        for tier, kept in best.items()
                        if takes(tier, out.classification.tier)))
        if at is not None:
            saw(store, target, at)


__all__ = ["clocks", "file_ref", "first_seen", "first_seen_of", "record_run", "record_write",
           "saw"]
