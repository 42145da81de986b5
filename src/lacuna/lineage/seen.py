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

**Whose file.** ``/data/out.csv`` on one client host is not ``/data/out.csv`` on another: a
client names its host (``X-Lacuna-Host``, :data:`HOST_HEADER`), and the server keys the clock of
a local path written there as the dataset ``file://<host>`` + path (:func:`on_host`, the name
the server gives a client's exception files too). A clock recorded without a host (before
hosts were sent, or by a client that sends none) is kept under ``file`` + path, and still
counts for that path on every host (:func:`first_seen`): it was the path's clock before, and a
clock is never made later.

**A copy by hand.** ``cp a.csv b.csv`` is no governed write: the server never saw ``b.csv``
written. Its data is ``a.csv``'s all the same, so a content has a clock too: when a run's
output is recorded with its content fingerprint, that content takes the output's clock
(:func:`record_run`, :func:`record_content`). A file asked of with its fingerprint
(:func:`known`) has the earlier of its name's clock and its content's, and its name keeps it
(a write derived from the copy then takes it, as from the original).
"""

from __future__ import annotations

import logging
import re
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

log = logging.getLogger("lacuna.lineage")
WRITES = (Action.WRITE, Action.EXPORT)
LOCAL = "file"  # a local path's namespace, host not known
# the header a client with ``server:`` names its host in, on every request
HOST_HEADER = "X-Lacuna-Host"
# a host as a client sends it (its name percent-encoded: lacuna.remote.client.host_name)
_HOST = re.compile(r"^[A-Za-z0-9._~%-]{1,255}$")
# where a content's clock is kept (its fingerprint as the name): no dataset namespace is
# this (DatasetRef.of gives a path without "://" the namespace "file")
CONTENT = "lacuna:content"


def valid_host(host: str) -> bool:
    """Whether ``host`` is a host as a client names it (:data:`HOST_HEADER`)."""
    return bool(_HOST.match(host))


def on_host(ref: DatasetRef, host: str | None) -> DatasetRef:
    """The dataset whose clock is ``ref``'s, a local path, written on ``host``:
    ``file://<host>`` + path (``ref`` itself without a host, or when it is no local path)."""
    if host is None or ref.namespace != LOCAL:
        return ref
    return DatasetRef(f"file://{host}", ref.name)


def file_ref(name: str | None, host: str | None = None) -> DatasetRef | None:
    """The dataset a local path or ``file:`` URI names (None for anything else: a table, a
    URL, a relative path, which no clock is kept for), on ``host`` (:func:`on_host`)."""
    import os

    if not name or ("://" not in name and not os.path.isabs(name)):
        return None
    ref = DatasetRef.of(name)
    return on_host(ref, host) if ref.namespace == LOCAL else None


def content_ref(fingerprint: str) -> DatasetRef:
    """Where the clock of the content with this fingerprint is kept."""
    return DatasetRef(CONTENT, fingerprint)


def _kept(store: LineageStore, ref: DatasetRef) -> datetime | None:
    """The clock recorded for ``ref`` itself."""
    row = store._read(select(table.c.first_seen).where(
        table.c.namespace == ref.namespace, table.c.name == ref.name))
    return aware(row[0][0]) if row else None


def first_seen(store: LineageStore, ref: DatasetRef) -> datetime | None:
    """The clock the store keeps for ``ref``; None when it saw no write there. A host's file
    (``file://<host>``) also has the clock recorded for its path without a host (see the
    module docstring), when that is earlier."""
    if not ref.namespace.startswith("file://"):
        return _kept(store, ref)
    rows = store._read(select(table.c.first_seen).where(  # one query: on a decision's path
        table.c.namespace.in_((ref.namespace, LOCAL)), table.c.name == ref.name))
    return earliest(*(aware(r[0]) for r in rows))


CHUNK = 500  # names per IN list (well within SQLite's oldest limit of 999 parameters)


def first_seen_of(store: LineageStore, refs: Iterable[DatasetRef]) -> dict[DatasetRef, datetime]:
    """:func:`first_seen` of each of ``refs`` the store keeps a clock for, read together: one
    query per namespace and :data:`CHUNK` names (one per input and output made a run of 1,000
    inputs and 1,000 outputs a million queries on the server's request path)."""
    wanted = list(dict.fromkeys(refs))
    by_namespace: dict[str, set[str]] = {}
    for ref in wanted:
        by_namespace.setdefault(ref.namespace, set()).add(ref.name)
        if ref.namespace.startswith("file://"):  # and the path's clock without a host
            by_namespace.setdefault(LOCAL, set()).add(ref.name)
    kept: dict[DatasetRef, datetime] = {}
    for namespace, names in by_namespace.items():
        ordered = sorted(names)
        for start in range(0, len(ordered), CHUNK):
            for name, at in store._read(select(table.c.name, table.c.first_seen).where(
                    table.c.namespace == namespace,
                    table.c.name.in_(ordered[start:start + CHUNK]))):
                when = aware(at)
                if when is not None:
                    kept[DatasetRef(namespace, name)] = when
    found: dict[DatasetRef, datetime] = {}
    for ref in wanted:
        hostless = (kept.get(DatasetRef(LOCAL, ref.name))
                    if ref.namespace.startswith("file://") else None)
        at = earliest(kept.get(ref), hostless)
        if at is not None:
            found[ref] = at
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


def known(store: LineageStore, ref: DatasetRef, fingerprint: str | None) -> datetime | None:
    """The clock of the file ``ref`` holding the content ``fingerprint`` (None: not known):
    the earlier of its own and its content's (a copy by hand is as old as what it copies).
    When the content's is earlier, ``ref`` keeps it from now on (only earlier, as always),
    so that a write derived from the file takes it too; failing to record that is logged,
    the answer stands."""
    own = first_seen(store, ref)
    if not fingerprint:
        return own
    content = _kept(store, content_ref(fingerprint))
    if content is None or (own is not None and own <= content):
        return own
    if ref.namespace == LOCAL or ref.namespace.startswith("file://"):
        try:
            saw(store, ref, content)
        except Exception as exc:
            log.error("could not record that %s holds content first seen at %s: %s", ref,
                      content.isoformat(), exc)
    return content


def record_content(store: LineageStore, ref: DatasetRef, fingerprint: str | None) -> None:
    """The content ``fingerprint``, just recorded as ``ref``'s, takes ``ref``'s clock (only
    earlier): a copy of it made by hand is then as old as it."""
    if not fingerprint:
        return
    at = first_seen(store, ref)
    if at is not None:
        saw(store, content_ref(fingerprint), at)


def clocks(operation: Operation) -> bool:
    """Whether ``operation`` writes a local file, whose clock an allowed decision records."""
    return (operation.action in WRITES and operation.destination is not None
            and file_ref(operation.destination.uri) is not None)


def record_write(store: LineageStore, operation: Operation, *, host: str | None = None,
                 now: datetime | None = None) -> datetime | None:
    """The clock of an allowed write ``operation``'s local destination on ``host``, recorded
    (see the module docstring); None when it writes no local file. ``operation``'s sources
    carry the classes the server held them to; its local ones are files on ``host`` too."""
    if not clocks(operation):
        return None
    assert operation.destination is not None
    target = file_ref(operation.destination.uri, host)
    assert target is not None
    tier = operation.classification.tier
    derived = first_seen_of(store, [
        ref for s in operation.sources
        if takes(s.classification.tier, tier)
        and (ref := file_ref(s.name, host)) is not None and ref != target])
    at = earliest(now or utcnow(), *derived.values())
    assert at is not None
    return saw(store, target, at)


def record_run(store: LineageStore, run: Run, *, host: str | None = None) -> None:
    """A succeeded run's local outputs take the clocks of its inputs at a tier no higher than
    theirs (a copy is as old as its source: a write's decision names only the roots of its
    data's lineage, the run names the files read). Only ever earlier: a run can make its
    outputs due sooner, never later. Its local datasets are files on ``host``. An output
    recorded with its content fingerprint gives that content its clock
    (:func:`record_content`)."""
    from lacuna.lineage.records import RunStatus

    if run.status is not RunStatus.SUCCEEDED:
        return
    outputs = [out for out in run.outputs if out.dataset.namespace == LOCAL]
    if not outputs:
        return
    inputs = [i for i in run.inputs if i.dataset.namespace == LOCAL]
    clocks = first_seen_of(store, [on_host(i.dataset, host) for i in inputs])
    # per input tier, its two earliest clocks: an output takes the earliest of the tiers it
    # takes, past itself (a run that reads and writes one file); one pass over the inputs and
    # one over the outputs (each output against each input was 10,000 x 10,000 for an
    # OpenLineage run of that size)
    best: dict[Tier, list[tuple[datetime, DatasetRef]]] = {}
    for i in inputs:
        at = clocks.get(on_host(i.dataset, host))
        if at is not None:
            kept = best.setdefault(i.classification.tier, [])
            if (at, i.dataset) not in kept:
                kept.append((at, i.dataset))
                kept.sort(key=lambda pair: pair[0])
                del kept[2:]
    for out in outputs:
        target = on_host(out.dataset, host)
        at = earliest(*(next((when for when, ref in kept if ref != out.dataset), None)
                        for tier, kept in best.items()
                        if takes(tier, out.classification.tier)))
        if at is not None:
            saw(store, target, at)
        record_content(store, target, out.fingerprint)


__all__ = ["CONTENT", "HOST_HEADER", "clocks", "content_ref", "file_ref", "first_seen",
           "first_seen_of", "known", "on_host", "record_content", "record_run", "record_write",
           "saw", "valid_host"]
