"""Classifications from outside the pipeline only raise: the one rule for ingested lineage.

Lacuna's pipeline computes a dataset's classification from its values, its declarations and its
parents. An OpenLineage event (``POST /api/v1/lineage``, ``lacuna lineage import``, a Python
caller of :func:`ingest`) carries a classification somebody else claims: a ``lacuna_classification``
facet is a few lines of JSON any token holder can write, with the real content fingerprint of
a file they can read. Taken as it is, it would declassify the data (a later read restoring
PUBLIC, an export allowed). So a claim is held to what the store already knows:

- **raise: taken.** A stricter tier, floor, column class or an added tag is kept.
- **lower: refused.** Where the claim is below what the store knows of the dataset (its latest
  version) or of the same content (its fingerprint, anywhere), the known class is kept, and the
  refusal is said: in the stored version's reasoning, in what :func:`ingest` returns (the
  server's answer, the import report), in the log.
- **unclassified outputs inherit.** An output the events say nothing of (no facet, no tags)
  is held to at least the tier and tags of what the run read (:func:`_from_inputs`).
- **a declared lower class needs Lacuna's signature.** An output the events classify below
  what the run read (a lower tier, an input's tag missing: ``public`` for a copy of a
  ``restricted`` input) is held to the inputs the same way, and the lowering is refused,
  unless its ``lacuna_classification`` facet carries this installation's signature over it,
  the run and its inputs (:attr:`DatasetVersion.attested`): the evidence Lacuna writes when its
  own pipeline masked or aggregated the data, so such a run round-trips.
- **client claims too.** A decision asked over HTTP carries the client's classification of
  its sources; :func:`hold_sources` raises each named source to what the store knows of it.
- **never the authority.** Ingested versions are stored ``trusted=False``. A read that restores
  a file's classification from the store by content (``restore_declared``) and
  ``register_lineage`` take a trusted version as the authority and let an ingested one add
  restrictions only, as with an unsigned sidecar (:func:`lacuna.lineage.sidecar.restrict`). A
  claim about content the pipeline never saw therefore cannot lower what the values show.

Lowering a classification is a steward's act, not a side effect of reporting lineage: Lacuna
has no declassify command, so there is no ingest route to it (docs/lineage.md). What a steward
may do is dismiss a wrong raise (:mod:`lacuna.lineage.dismiss`): the claim stops counting, and
what the store knew without it stands.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from lacuna.lineage.records import DatasetVersion, Run, RunStatus
from lacuna.lineage.rules import combine, held
from lacuna.model import Classification, ColumnClass, Operation, Source, Tier, unique

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lacuna.config import ClassificationConfig
    from lacuna.lineage.store import LineageStore

log = logging.getLogger("lacuna.lineage")


def at_least(claim: Classification, known: Classification | None,
             config: ClassificationConfig, *, what: str) -> tuple[Classification, tuple[str, ...]]:
    """``claim``, raised to at least ``known``; and a line for each lowering it refused.

    A claim that lowers nothing is returned unchanged (an ingested run stays what its producer
    said). Otherwise the result is the stricter of both in every respect (tier, floor, tags,
    each column), its reasoning opening with the refusals.
    """
    if known is None:
        return claim, ()
    refused: list[str] = []
    if claim.tier < known.tier:
        refused.append(f"{what}: tier {claim.tier.value} refused, Lacuna knows it as "
                       f"{known.tier.value}: kept {known.tier.value}")
    if claim.floor < known.floor:
        refused.append(f"{what}: floor {claim.floor.value} refused, kept {known.floor.value}")
    missing = [t for t in known.tags if t not in claim.tags]
    if missing:
        refused.append(f"{what}: dropping tag(s) {', '.join(missing)} refused: kept")
    columns = dict(claim.columns)
    for name, mine in known.columns.items():
        theirs = claim.columns.get(name)
        if theirs is None:
            columns[name] = mine
            continue
        kept = held(mine, theirs, config)
        if kept is not theirs and _same_class(kept, theirs):
            # as strict in every respect that governs (only its confidence, layer or wording
            # differ: a client's read of a stored file declares what the store inferred):
            # nothing is lowered, and nothing was refused
            kept = theirs
        if kept is not theirs and theirs != mine:
            refused.append(f"{what}: column {name!r} claimed {theirs.classification.value}, "
                           f"Lacuna knows {mine.classification.value}"
                           + (f"/{mine.pii_type}" if mine.pii_type else "") + ": kept")
        columns[name] = kept
    if not refused and columns == dict(claim.columns):
        return claim, ()
    merged = combine([known, claim], config)
    merged = replace(merged, columns=columns, tags=unique([*known.tags, *claim.tags]),
                     layer=claim.layer,
                     reasoning=unique([*refused, *claim.reasoning, *merged.reasoning]))
    return merged, tuple(refused)


def _same_class(a: ColumnClass, b: ColumnClass) -> bool:
    """Whether column classes ``a`` and ``b`` govern alike: kind, type, sensitivity, pieces."""
    return (a.classification, a.pii_type, a.sensitivity, a.pieces) == (
        b.classification, b.pii_type, b.sensitivity, b.pieces)


def known_of(store: LineageStore, version: DatasetVersion,
             config: ClassificationConfig) -> Classification | None:
    """What ``store`` knows of ``version``'s dataset and content, trusted or raised by an
    earlier claim: the stricter of the dataset's latest version and the newest version with the
    same fingerprint; None when it knows neither."""
    return known_of_all(store, (version,), config)[0]


def known_of_all(store: LineageStore, versions: Sequence[DatasetVersion],
                 config: ClassificationConfig) -> list[Classification | None]:
    """:func:`known_of` of each of ``versions``, in order, read together: a few statements
    however many there are (:meth:`LineageStore.known`), so a run of 1,000 datasets costs a
    handful of queries, not two per dataset."""
    if not versions:
        return []
    latest, by_content = store.known([v.dataset for v in versions],
                                     [v.fingerprint for v in versions if v.fingerprint])
    out: list[Classification | None] = []
    for version in versions:
        found = [v.classification for v in (
            latest.get(version.dataset),
            by_content.get(version.fingerprint) if version.fingerprint else None,
        ) if v is not None]
        out.append(None if not found else found[0] if len(found) == 1
                   else combine(found, config))
    return out


def guard(run: Run, store: LineageStore, config: ClassificationConfig
          ) -> tuple[Run, tuple[str, ...]]:
    """``run`` with every input and output classification raised to at least what ``store``
    knows, and the lowerings refused (see the module docstring). What the store knows is read
    once for all of the run's datasets (:func:`known_of_all`)."""
    refused: list[str] = []
    # A run that did not succeed produced nothing: its intended outputs are never a dataset's
    # state (LineageStore.record), so there is nothing to hold them to.
    produced = run.status is RunStatus.SUCCEEDED
    checked = (*run.inputs, *run.outputs) if produced else run.inputs
    known = iter(known_of_all(store, checked, config))
    changed = False
    from lacuna.lineage.openlineage import _declares

    def held(version: DatasetVersion) -> DatasetVersion:
        nonlocal changed
        kept, notes = at_least(version.classification, next(known), config,
                               what=str(version.dataset))
        if kept is version.classification:
            return version
        changed = True
        # A dataset the events say nothing of (no facet, no tags: Spark's listener reading a
        # known file) claims nothing: it is raised all the same, but no lowering was refused
        # (said, it made an honest import exit 1 and the server audit a denial)
        if _declares(version.classification):
            refused.extend(notes)
        return replace(version, classification=kept)

    inputs = tuple(held(v) for v in run.inputs)
    outputs = tuple(held(v) for v in run.outputs) if produced else run.outputs
    if not changed:
        return run, ()
    return replace(run, inputs=inputs, outputs=outputs), tuple(unique(refused))


def _from_inputs(output: DatasetVersion, inputs: Sequence[DatasetVersion], *,
                 why: str = "its events declare no classification of it") -> DatasetVersion:
    """``output`` of an ingested run that declares nothing of it (no classification facet or
    tags: Spark's listener, dbt-ol, Airflow), held to at least the tier and tags of what the
    run read (``inputs``, as held to the store), as a table-level floor (no column classes are
    added). Also what :func:`_unattested` holds an output to that its events classify below
    what the run read without Lacuna's signature; a run Lacuna emitted (signed), masked output
    included, imports as it was.

    Such an output was recorded as PUBLIC (what a dataset nobody classified reads as): a
    Spark job copying ``customers.csv`` (PROPRIETARY, PII) to a new ``copy.csv`` made the copy
    PUBLIC in the store, ``register_lineage`` from it registered PUBLIC data, and ``impact``
    of the customer file did not list it. What the job did is not known, so it inherits (the
    inherit rule, docs/lineage.md): fail closed."""
    read = [v.classification for v in inputs]
    tier = max((c.tier for c in read), default=Tier.PUBLIC)
    tags = unique(t for c in read for t in (*c.tags, *c.table_tags))
    if tier is Tier.PUBLIC and not tags:
        return output
    c = output.classification
    names = ", ".join(str(v.dataset) for v in inputs[:3]) + (", …" if len(inputs) > 3 else "")
    kept = replace(c, tier=max(c.tier, tier), floor=max(c.floor, tier),
                   tags=unique([*c.tags, *tags]), table_tags=unique([*c.table_tags, *tags]),
                   reasoning=(f"{tier.value}: inherited from what the run read ({names}): "
                              f"{why}", *c.reasoning))
    return replace(output, classification=kept)


def _below(output: DatasetVersion, inputs: Sequence[DatasetVersion]) -> bool:
    """Whether ``output`` is classified below what the run read: a lower tier than the
    highest of ``inputs``, or one of their tags (table tags included) missing."""
    tier = max((v.classification.tier for v in inputs), default=Tier.PUBLIC)
    c = output.classification
    have = {*c.tags, *c.table_tags}
    return c.tier < tier or any(t not in have for v in inputs
                                for t in (*v.classification.tags, *v.classification.table_tags))


def _unattested(held: Run) -> tuple[Run, tuple[str, ...]]:
    """``held`` (a succeeded ingested run) with each output its events classify below what it
    read, without Lacuna's signature over that class (:attr:`DatasetVersion.attested`), held
    to the inputs (:func:`_from_inputs`); and a refusal line for each. An event is a claim
    anyone allowed to send lineage can write: ``public`` declared for a copy of a
    ``restricted`` input is not evidence that a job masked anything."""
    refused: list[str] = []
    outputs: list[DatasetVersion] = []
    for v in held.outputs:
        if v.attested:
            outputs.append(v)
            continue
        if not _below(v, held.inputs):
            # its tier and tags stand, but as a floor too: column classes the events lowered
            # (an e-mail column declared public under a PROPRIETARY, PII table) would
            # otherwise make a projection of them PUBLIC
            c = v.classification
            floor = max((i.classification.tier for i in held.inputs), default=Tier.PUBLIC)
            if c.floor < floor or any(t not in c.table_tags for i in held.inputs for t in (
                    *i.classification.tags, *i.classification.table_tags)):
                v = _from_inputs(v, held.inputs,
                                 why="a floor, as its events are not signed by this Lacuna")
            outputs.append(v)
            continue
        kept = _from_inputs(v, held.inputs)
        refused.append(f"{v.dataset}: tier {v.classification.tier.value} declared below what "
                       f"the run read refused (its event carries no signature of this Lacuna "
                       f"over that class): kept {kept.classification.tier.value} and the "
                       "inputs' tags")
        outputs.append(kept)
    if tuple(outputs) == held.outputs:
        return held, ()
    return replace(held, outputs=tuple(outputs)), tuple(refused)


def ingest(run: Run, store: LineageStore, config: ClassificationConfig, *, by: str = "",
           owner: str | None = None) -> tuple[Run, tuple[str, ...]]:
    """Record a run that arrived from outside the pipeline: held to what the store knows
    (:func:`guard`), an output its events do not classify to at least the tier and tags of
    what it read (:func:`_from_inputs`), and stored untrusted.
    Returns the run as recorded and the refusals.

    Every ingest route goes through here: the server's ``POST /api/v1/lineage``,
    ``lacuna lineage import`` (:func:`lacuna.lineage.ol_import.import_events`).

    With ``owner`` (the server's caller), a run of this id another user recorded is not
    replaced (:meth:`LineageStore.record`).

    Raises:
        RunOwnedError: ``owner`` is given and another user recorded this run id.
        LineageError: the run is malformed, or the store cannot be written.
    """
    if run.imported_from is None:  # marked ingested (and signed so): never shown as Lacuna's own
        run = replace(run, imported_from=run.producer or "openlineage")
    from lacuna.lineage.openlineage import _declares

    # what the events left unclassified, before guard raised it to what the store knows of it
    silent = {v.dataset for v in run.outputs if not _declares(v.classification)}
    held, refused = guard(run, store, config)
    if held.status is RunStatus.SUCCEEDED and held.inputs and silent:
        outputs = tuple(_from_inputs(v, held.inputs) if v.dataset in silent else v
                        for v in held.outputs)
        if outputs != held.outputs:
            held = replace(held, outputs=outputs)
    if held.status is RunStatus.SUCCEEDED and held.inputs:
        held, lowered = _unattested(held)
        refused = (*refused, *lowered)
    store.record(held, trusted=False, owner=owner)
    if refused:
        log.warning("lineage run %s%s: lowering a classification from outside the pipeline is "
                    "refused (only a raise is taken):%s", run.id, f" from {by}" if by else "",
                    "".join(f"\n  {line}" for line in refused))
    return held, refused


def hold_sources(operation: Operation, store: LineageStore, config: ClassificationConfig
                 ) -> tuple[Operation, tuple[str, ...]]:
    """A client's operation (``POST /api/v1/decide``) with each named source's claimed
    classification raised to at least what ``store`` knows of that dataset; and the lowerings
    refused. A client that claims less than the store knows of a source has lost the benefit of
    the doubt for what it derived from it: the operation's classification is raised by the
    known classes of those sources too (a client that reports its sources truly keeps its
    derivation, e.g. an aggregate).

    Raises:
        LineageError: the store cannot be read (the caller denies: fail closed).
    """
    from lacuna.lineage.records import DatasetRef

    if not operation.sources:
        return operation, ()
    refs: list[DatasetRef | None] = []
    for source in operation.sources:
        try:
            refs.append(DatasetRef.of(source.name))
        except Exception:  # not a name the store could hold (an in-memory label): nothing known
            refs.append(None)
    latest, _ = store.known([ref for ref in refs if ref is not None])
    refused: list[str] = []
    sources: list[Source] = []
    known_lowered: list[Classification] = []
    for source, ref in zip(operation.sources, refs, strict=True):
        if ref is None:
            sources.append(source)
            continue
        version = latest.get(ref)
        kept, notes = at_least(source.classification,
                               version.classification if version else None, config,
                               what=f"source {source.name}")
        if notes:
            refused.extend(notes)
            assert version is not None
            known_lowered.append(version.classification)
        sources.append(source if kept is source.classification else replace(
            source, classification=kept))
    if not refused:
        return operation, ()
    claim = operation.classification
    raised, _ = at_least(claim, combine(known_lowered, config), config, what="the data")
    return replace(operation, sources=tuple(sources), classification=raised), tuple(refused)


__all__ = ["at_least", "guard", "hold_sources", "ingest", "known_of", "known_of_all"]
