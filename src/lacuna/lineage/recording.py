"""How a governed operation becomes a recorded run: the host-neutral hand-over to step 3.

An integration that performs an operation producing datasets (a pandas export, ``to_sql``, and
later SQL, dbt or Spark writes) describes what happened as a :class:`Produced`: the operation's
kind, its inputs (each with the classification it had), its outputs, the outputs' columns and
column edges when it knows them. It hands that to ``Governor.execute``, which decides, runs the
operation, and records one :class:`~lacuna.lineage.records.Run` with the outcome
(:func:`run_for`): succeeded, failed (with the error's type and message, never data values), or
denied (no outputs: the "track for policy improvement" loop).

The run id is chosen before the operation runs (``Produced.run_id``), so the integration can
write it into the file itself (Parquet key-value metadata, the signed sidecar). A later read
finds the run by that id and rebuilds the full upstream lineage from the store
(:func:`lineage_from_store`).

Nothing here imports the governor or a host: settings and stores are passed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lacuna._files import change_key
from lacuna._version import lacuna_version
from lacuna.lineage.attribution import Raised, joined, same
from lacuna.lineage.records import (
    ColumnEdge,
    DatasetRef,
    DatasetVersion,
    Run,
    RunStatus,
)
from lacuna.lineage.state import LineageNode, Origins
from lacuna.model import Classification, Decision, Layer, Operation, utcnow
from lacuna.redact import redact_text

if TYPE_CHECKING:
    from lacuna.config import ClassificationConfig
    from lacuna.lineage.graph import LineageGraph
    from lacuna.lineage.store import LineageStore

MAX_RESTORED_NODES = 500  # a read restores at most this many upstream datasets as nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class Produced:
    """What an integration hands the governor about an operation that produces datasets.

    Attributes:
        operation: the kind of operation, e.g. ``"export"``, ``"to_sql"``.
        inputs: the datasets it read, each with the classification it had when read.
        outputs: the datasets it writes.
        classification: the outputs' classification (what the policy decided on).
        columns: the outputs' column names, when known.
        column_edges: output column <- input column edges, when the host knows them.
        fingerprint: whether the outputs are complete files to fingerprint once written
            (False for a file a store object finishes later, e.g. an ``ExcelWriter``).
        run_id: the run's id, chosen before the operation runs so the host can write it into
            the output (file metadata, sidecar).
    """

    operation: str
    inputs: tuple[DatasetVersion, ...]
    outputs: tuple[DatasetRef, ...]
    classification: Classification
    columns: tuple[str, ...] = ()
    column_edges: tuple[ColumnEdge, ...] = ()
    fingerprint: bool = True
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=utcnow)


def run_for(
    produced: Produced,
    operation: Operation,
    decision: Decision | None,
    *,
    status: RunStatus,
    session: str = "",
    error: BaseException | None = None,
    config: ClassificationConfig | None = None,
) -> Run:
    """The run to record for ``produced`` once its outcome is known.

    A denied or failed run keeps its intended outputs, with the class decided on, for policy
    improvement (where the data was headed), but no fingerprint, column edges or attribution:
    the store keeps them with the run, never as the dataset's state (nothing was produced, or
    what was written, if anything, is not a trustworthy version); a failed run says why it
    failed. ``config``: the classification settings, to attribute a projection of a raised
    input (:func:`output_raise`).
    """
    outputs: tuple[DatasetVersion, ...] = tuple(
        DatasetVersion(dataset=ref, classification=as_stored(produced.classification),
                       columns=produced.columns)
        for ref in produced.outputs)
    edges: tuple[ColumnEdge, ...] = ()
    if status is RunStatus.SUCCEEDED:
        stored = as_stored(produced.classification)
        raised = output_raise(produced.inputs, stored, config)
        outputs = tuple(
            DatasetVersion(
                dataset=ref, classification=stored, columns=produced.columns,
                fingerprint=file_fingerprint(ref) if produced.fingerprint else None,
                raised=raised,
            )
            for ref in produced.outputs
        )
        edges = produced.column_edges
    return Run(
        id=produced.run_id,
        operation=produced.operation,
        status=status,
        inputs=produced.inputs,
        outputs=outputs,
        column_edges=edges,
        user_id=operation.user.id,
        role=operation.user.role,
        session=session,
        started_at=produced.started_at,
        ended_at=utcnow(),
        purpose=operation.purpose,
        exception_id=operation.exception_id,
        method=operation.method,
        code_location=operation.code_location,
        libraries=(("lacuna", lacuna_version()),),
        decision_id=operation.id if decision is not None else None,
        policy_id=decision.policy_id if decision is not None else None,
        error=redact_text(f"{type(error).__name__}: {error}") if error is not None else None,
    )


def output_raise(inputs: Iterable[DatasetVersion], output: Classification,
                 config: ClassificationConfig | None = None) -> Raised | None:
    """The attribution of an output derived from ``inputs`` (:mod:`lacuna.lineage.attribution`):
    None when no input was raised by a claim. The output of a single raised input with its very
    class (a copy, a filter: the class went through unchanged) stands where that input stands:
    its ``own`` is the input's; one whose class is the projection rule applied to that input's
    (with ``config``: a selection of its columns) stands at the same projection of the input's
    ``own``. Any other output (a join, a computed column, an aggregation of raised data) names
    the claims but not what Lacuna would have derived without them, so a dismissal does not
    lower it: its run must write it again (docs/lineage.md)."""
    found = tuple(inputs)
    raised = [v.raised for v in found if v.raised is not None]
    if not raised:
        return None
    only = found[0] if len(found) == 1 else None
    if only is not None and only.raised is not None:
        if only.classification == output:
            return only.raised
        own = only.raised.own
        if config is not None and own is not None and output.columns:
            from lacuna.lineage.rules import project

            kept = list(output.columns)
            if same(project(only.classification, kept, config), output):
                return Raised(own=as_stored(project(own, kept, config)),
                              claims=only.raised.claims)
    return joined(raised)


def input_version(ref: DatasetRef, classification: Classification | None,
                  raised: Raised | None = None) -> DatasetVersion:
    """An input as a run saw it (its classification when read; empty when not known), with
    which part of it ingested claims raised (``raised``, :mod:`lacuna.lineage.attribution`)."""
    return DatasetVersion(dataset=ref, classification=as_stored(classification or Classification()),
                          raised=stored_raise(raised))


def stored_raise(raised: Raised | None) -> Raised | None:
    """``raised`` with its classifications as the store gives them back."""
    if raised is None:
        return None
    return Raised(own=as_stored(raised.own) if raised.own is not None else None,
                  claims=tuple((run_id, as_stored(c) if c is not None else None)
                               for run_id, c in raised.claims))


def inputs_of(node: LineageNode, fallback: Classification) -> tuple[DatasetVersion, ...]:
    """The datasets a frame's lineage read: the nearest named nodes, not their own upstream
    (that is the store's business). A source Lacuna cannot name is an unknown input."""
    found: dict[DatasetRef, DatasetVersion] = {}
    for leaf in _frontier(node):
        if leaf.ref is not None:
            found.setdefault(leaf.ref, input_version(leaf.ref, leaf.classification,
                                                     leaf.raised))
        else:
            ref = DatasetRef.unknown(leaf.name or leaf.operation)
            found.setdefault(ref, input_version(ref, leaf.classification or fallback))
    return tuple(found.values())


def column_edges(
    origins: Origins, columns: Iterable[str], target: DatasetRef | None
) -> tuple[ColumnEdge, ...]:
    """The column edges into ``target`` for its ``columns``: each column's origins (tracked by
    the host through the operations that made it) as edges from the datasets they name."""
    if target is None:
        return ()
    edges: dict[ColumnEdge, None] = {}
    for column in columns:
        for o in origins.get(column, ()):
            if o.dataset != target:
                edges.setdefault(ColumnEdge(
                    source=o.dataset, source_column=o.column, target=target,
                    target_column=column, kind=o.kind, description=o.description))
    return tuple(edges)


def _frontier(node: LineageNode) -> Iterable[LineageNode]:
    """The nearest named nodes (and unnamed sources) above ``node``, in the order a depth-first
    walk meets them, each node visited once and without recursion: a frame concatenated with
    itself shares its node twice, and walking every path took 2^n (16 doublings: 5 s at the
    export, 25: hours); a chain of 1,000 unnamed steps raised RecursionError."""
    stack, seen = [node], set()
    while stack:
        at = stack.pop()
        if id(at) in seen:
            continue
        seen.add(id(at))
        if at.ref is not None or not at.parents:
            yield at
        else:
            stack.extend(reversed(at.parents))


def lineage_from_store(
    store: LineageStore, run_id: str | None, dataset: DatasetRef | None
) -> tuple[LineageNode, ...]:
    """The parents of a dataset being read, rebuilt from the store: the inputs of the run that
    wrote it (found by ``run_id``, else the dataset's latest producing run), each with its own
    upstream, transitively (the nearest :data:`MAX_RESTORED_NODES` datasets beyond them).
    Empty when the store knows nothing about it. One walk for all the inputs together (a
    few queries: one each made 10,000 walks for a run that read 10,000 files)."""
    run = store.get_run(run_id) if run_id else None
    if run is not None:
        roots = tuple(v.dataset for v in run.inputs)
    elif dataset is not None:
        graph = store.upstream(dataset, 1)
        roots = graph.parents(dataset)
    else:
        return ()
    if not roots:
        return ()
    built = _built(store.upstream_of(roots, limit=MAX_RESTORED_NODES), roots)
    return tuple(built[ref] for ref in roots)


def lineage_from_graph(graph: LineageGraph, dataset: DatasetRef) -> tuple[LineageNode, ...]:
    """:func:`lineage_from_store` from one upstream ``graph`` of ``dataset`` already walked
    (a Lacuna server's answer: one request, not one per parent)."""
    roots = graph.parents(dataset)
    built = _built(graph, roots, MAX_RESTORED_NODES)
    return tuple(built[ref] for ref in roots)


def _built(graph: LineageGraph, roots: Iterable[DatasetRef], limit: int | None = None
           ) -> dict[DatasetRef, LineageNode]:
    """``roots`` and their ancestors in ``graph`` as lineage nodes, each built once (shared)
    after its parents: depth first from each root, without recursion. A parent on the way
    to it (a cycle, in rows written by hand) is left out of its parents. With ``limit``,
    ancestors beyond that many are not followed (a node reached then is a source)."""
    into: dict[DatasetRef, set[DatasetRef]] = {}
    for edge in graph.edges:
        into.setdefault(edge.child, set()).add(edge.parent)
    parents_of = {child: sorted(found) for child, found in into.items()}
    built: dict[DatasetRef, LineageNode] = {}
    wanted = dict.fromkeys(roots)
    budget = None if limit is None else len(wanted) + limit

    def make(ref: DatasetRef) -> None:
        version = graph.nodes.get(ref)
        parents = tuple(built[p] for p in parents_of.get(ref, ()) if p in built)
        built[ref] = LineageNode(
            name=display(ref), operation="stored" if parents else "source", parents=parents,
            ref=ref, classification=version.classification if version else None)

    for root in wanted:
        if root in built:
            continue
        stack = [(root, iter(parents_of.get(root, ())))]
        on_stack = {root}
        while stack:
            ref, pending = stack[-1]
            nxt = None
            if budget is None or len(built) + len(on_stack) < budget:
                nxt = next((p for p in pending if p not in built and p not in on_stack), None)
            if nxt is None:
                stack.pop()
                on_stack.discard(ref)
                make(ref)
            else:
                stack.append((nxt, iter(parents_of.get(nxt, ()))))
                on_stack.add(nxt)
    return built


@dataclass(frozen=True, slots=True)
class Restored:
    """What the store says about a file's exact content.

    ``version`` (with the ``run_id`` that produced it) is the newest version Lacuna's own
    pipeline recorded: the authority a read restores from. ``claimed`` is the newest version
    that arrived from outside (OpenLineage ingest): it may only add restrictions
    (:mod:`lacuna.lineage.claims`), recorded by run ``claimed_run_id``.
    """

    version: DatasetVersion | None = None
    run_id: str | None = None
    claimed: DatasetVersion | None = None
    claimed_run_id: str | None = None
    # every standing claim of this content, (run id, what it says), newest first: ``claimed``
    # was held to the earlier ones when it arrived, so it carries their raise too and a read
    # names them all (lacuna.lineage.attribution). None: not known (too many, or a store
    # that cannot list them): the read is attributed to no claim it could be lowered by.
    claims: tuple[tuple[str, Classification], ...] | None = ()


# (the store's generation, path, size, mtime) -> what the store said: re-reading an unchanged
# file neither hashes it nor asks the store again until the store records something new.
_RESTORED: dict[tuple[int, str, tuple[int, ...]], Restored | None] = {}
_RESTORED_MAX = 4096


def restore_declared(store: LineageStore, path: str) -> Restored | None:
    """What the store says a local file read without any declaration (no sidecar, no embedded
    metadata) is: the newest trusted version Lacuna produced with exactly this content, at this
    path, else anywhere (a copy), with the id of the run that produced it; and the newest
    ingested (untrusted) version of this content, which only restricts. None when the content
    is unknown or changed: the file is then classified from scratch, never given a stored class
    for other content."""
    ref = DatasetRef.of(path)
    try:
        st = os.stat(ref.name)
    except OSError:
        return None
    key = (store.generation, ref.name, change_key(st))
    if key in _RESTORED:
        return _RESTORED[key]
    fp = file_fingerprint(ref)
    found: Restored | None = None
    if fp is not None:
        own = (store.produced_with(fp, ref, trusted=True)
               or store.produced_with(fp, trusted=True))
        claimed = store.produced_with(fp, trusted=False)
        if own is not None or claimed is not None:
            listed = (store.standing_claims(fingerprint=fp)
                      if claimed is not None and hasattr(store, "standing_claims") else
                      [] if claimed is None else None)
            found = Restored(version=own[0] if own else None, run_id=own[1] if own else None,
                             claimed=claimed[0] if claimed else None,
                             claimed_run_id=claimed[1] if claimed else None,
                             claims=tuple(listed) if listed is not None else None)
    if len(_RESTORED) >= _RESTORED_MAX:
        _RESTORED.clear()
    _RESTORED[key] = found
    return found


def file_completed(store: LineageStore, path: str, run_ids: Iterable[str]) -> None:
    """A file written in parts (an ExcelWriter or HDFStore, complete once closed) is now on
    disk: give the versions its runs produced the content fingerprint they could not have when
    the runs were recorded."""
    ref = DatasetRef.of(path)
    fp = file_fingerprint(ref)
    if fp is None:
        return
    for run_id in dict.fromkeys(run_ids):
        store.set_fingerprint(run_id, ref, fp)


def display(ref: DatasetRef) -> str:
    """A dataset's name for people: a local file under the working directory relative to it."""
    if ref.namespace == "file":
        here = os.getcwd()
        if ref.name.startswith(here.rstrip(os.sep) + os.sep):
            return os.path.relpath(ref.name, here)
    return str(ref)


def as_stored(c: Classification) -> Classification:
    """``c`` as the store gives it back (its JSON form), so a returned run equals the stored."""
    return Classification.from_dict(c.to_dict(), layer=Layer.INHERITED)


def file_fingerprint(ref: DatasetRef) -> str | None:
    """``sha256:<hex>`` of a local file's content fingerprint (see ``sidecar.fingerprint``);
    None for anything that is not a readable local file."""
    from lacuna.lineage.sidecar import fingerprint

    if ref.namespace != "file" or not os.path.exists(ref.name):  # a file or a Parquet folder
        return None
    try:
        fp = fingerprint(ref.name)
    except OSError:
        return None
    if fp.get("mode") == "full":
        return f"sha256:{fp['sha256']}"
    text = json.dumps(fp, sort_keys=True)
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


__all__ = [
    "Produced",
    "Restored",
    "as_stored",
    "column_edges",
    "file_completed",
    "file_fingerprint",
    "input_version",
    "inputs_of",
    "lineage_from_store",
    "restore_declared",
    "run_for",
]
