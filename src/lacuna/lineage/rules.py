"""Classification inheritance: DESIGN.md's rules as pure functions over ``Classification``.

No host library appears here: pandas, dbt and Spark integrations translate their operations into
these calls.

- :func:`combine` — join / merge / concat: tier is the max of the parents, tags the union,
  floor the max of the parents' floors.
- row filters, sorts, samples and other transforms: inherit (the result *is* the parent's
  classification; integrations need no call).
- :func:`project` — keeping a subset of columns recomputes tier and tags from the kept columns,
  never below the floor, keeping table-level (provenance) tags. A column Lacuna has never seen
  (a rename, a computed column) means the result inherits the parent unchanged: it may carry
  anything its parent carried.
- :func:`reassign` — content moved under other labels (rename, assignment, insertion) keeps
  its class whatever it is called; the tier is recomputed, never below the floor nor below a
  tier no column explains.
- :func:`aggregate` — a group-by result may downgrade to INTERNAL only when no individual-level
  personal data survives: no personal column among the keys or the outputs, and every group has
  at least ``k`` rows. It then drops personal tags (``classification.personal_tags``), adds
  ``DERIVED_FROM_PII`` and keeps the rest. The floor drops to INTERNAL, except a floor held up
  by a sensitive term (tag ``SENSITIVE_TERM``), which is about the business, not a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from lacuna.classify.rollup import column_tier, rejoin_pieces, rollup
from lacuna.config import ClassificationConfig
from lacuna.model import (
    DERIVED_FROM_PII,
    SENSITIVE_TERM,
    Classification,
    ColumnClass,
    ColumnKind,
    Layer,
    Tier,
    merge_pieces,
    unique,
)

# A count of rows says nothing about the values it counted.
COUNTING_FUNCTIONS = frozenset({"count", "nunique", "size"})
_COUNT_COLUMN = ColumnClass(
    classification=ColumnKind.PUBLIC, reasoning="a count of rows", layer=Layer.INHERITED
)


def combine(
    parents: Sequence[Classification],
    config: ClassificationConfig,
    *,
    columns: Mapping[str, ColumnClass] | None = None,
    names: Sequence[str] = (),
) -> Classification:
    """The join rule: most restrictive parent wins, tags are united in first-seen order.

    Args:
        parents: the inputs' classifications, left to right.
        config: the classification settings.
        columns: the result's column classes when the caller mapped them (suffixes, renames);
            by default the parents' column maps are merged, the more sensitive class winning.
        names: the parents' display names, for the reasoning line.
    """
    if not parents:
        return Classification()
    tier = max(p.tier for p in parents)
    merged: dict[str, ColumnClass] = dict(columns) if columns is not None else {}
    if columns is None:
        for parent in parents:
            for name, col in parent.columns.items():
                held = merged.get(name)
                merged[name] = carrying_pieces(stricter(held, col, config),
                                               [col] if held is None else [held, col])
    labels = list(names) or [f"input {i + 1}" for i in range(len(parents))]
    detail = ", ".join(f"{n} ({p.tier.value})" for n, p in zip(labels, parents, strict=False))
    return held_together(Classification(
        tier=tier,
        tags=unique(t for p in parents for t in p.tags),
        columns=merged,
        floor=max(p.floor for p in parents),
        table_tags=unique(t for p in parents for t in p.table_tags),
        confidence=min(p.confidence for p in parents),
        reasoning=(f"{tier.value}: most restrictive of the joined inputs: {detail}",),
        layer=Layer.INHERITED,
    ), config)


def held_together(c: Classification, config: ClassificationConfig) -> Classification:
    """``c`` once the different pieces of one source column its columns hold are put back
    together (:func:`lacuna.classify.rollup.rejoin_pieces`): a join or a column computed from
    several inputs, each of which kept one piece, holds the value again."""
    columns = rejoin_pieces(c.columns, config)
    if columns is c.columns:
        return c
    held = rollup(columns, config)
    tier = max(c.tier, held.tier)
    return replace(c, columns=columns, tier=tier, tags=unique([*c.tags, *held.tags]),
                   reasoning=(*c.reasoning, f"{tier.value}: different pieces of one column "
                              "are held together: they rejoin the value"))


def carrying_pieces(best: ColumnClass, sources: Iterable[ColumnClass]) -> ColumnClass:
    """``best`` (the strictest of ``sources``) holding every piece the sources hold: a value
    computed from several pieces (``a.p + b.s``) holds them all."""
    pieces = merge_pieces(best.pieces, *(s.pieces for s in sources))
    return best if pieces == best.pieces else replace(best, pieces=pieces)


def keeping_mark(best: ColumnClass, label: str,
                 sources: Iterable[tuple[str, ColumnClass]]) -> ColumnClass:
    """``best`` (the strictest of ``sources``, the input columns that fed output ``label``)
    still marked as a quasi-identifier of a k-anonymous frame when the source of the same label
    was (evidence ``quasi_identifier:<type>``). The strictest class of several inputs is one of
    them: ``anon.apply(f, axis=1)`` (every column fed by every column) took the hashed e-mail's
    class, without the mark, for the ZIP band, and one person's row of its result was no
    longer counted (:func:`lacuna.lineage.frames._k_of_subset`)."""
    if best.is_personal or best.quasi_identifier is not None:
        return best
    for name, col in sources:
        if name == label and not col.is_personal and col.quasi_identifier is not None:
            marks = tuple(e for e in col.evidence if e.rule.startswith("quasi_identifier:"))
            return replace(best, evidence=(*best.evidence, *marks))
    return best


def project(
    parent: Classification, kept: Iterable[str], config: ClassificationConfig
) -> Classification:
    """The projection rule: recompute from the kept columns, never below the floor."""
    kept = list(dict.fromkeys(kept))
    if not parent.columns or any(name not in parent.columns for name in kept):
        return parent  # an unknown column: inherit everything (a rename or a computed column)
    if len(kept) == len(parent.columns):
        return parent
    columns = {name: parent.columns[name] for name in kept}
    result = rollup(
        columns, config, floor=parent.floor, extra_tags=parent.table_tags, layer=Layer.INHERITED
    )
    dropped = len(parent.columns) - len(columns)
    reason = (
        f"{result.tier.value}: recomputed from the {len(columns)} kept column(s) "
        f"({dropped} dropped), floor {parent.floor.value}"
    )
    return replace(result, reasoning=(reason, *result.reasoning), confidence=parent.confidence)


def aggregate(
    parent: Classification,
    *,
    keys: Sequence[str],
    outputs: Mapping[str, str | None],
    min_group_size: int | None,
    config: ClassificationConfig,
) -> Classification:
    """The aggregation rule (see the module docstring).

    Args:
        parent: the classification of the grouped data.
        keys: the group-by key columns (they survive into the result).
        outputs: result column -> the source column it aggregates, ``"*"`` for a row count,
            ``None`` when unknown (then treated as possibly personal).
        min_group_size: rows in the smallest group; ``None`` when not computed.
        config: the classification settings (``k_anonymity``, ``personal_tags``).
    """
    surviving: dict[str, ColumnClass] = {}
    blockers: list[str] = []
    for key in keys:
        col = parent.columns.get(key)
        if col is None or col.is_personal:
            blockers.append(f"group key {key!r} is " + ("personal data" if col else "unclassified"))
        surviving[key] = col or ColumnClass(reasoning="unclassified key", layer=Layer.INHERITED)
    for out, source in outputs.items():
        if source == "*":
            surviving[out] = _COUNT_COLUMN
            continue
        col = parent.columns.get(source) if source is not None else None
        if col is None:
            if parent.personal_columns:
                blockers.append(f"output {out!r} cannot be traced to a source column")
            surviving[out] = ColumnClass(reasoning="unclassified output", layer=Layer.INHERITED)
        else:
            if col.is_personal:
                blockers.append(f"output {out!r} carries personal column {source!r}")
            surviving[out] = col

    if not involves_personal_data(parent, config):
        # Nothing personal to begin with: the aggregate inherits, restricted to its columns.
        return replace(
            parent,
            columns=surviving,
            layer=Layer.INHERITED,
            reasoning=(f"{parent.tier.value}: aggregate inherits its source",),
        )

    k = config.k_anonymity
    if min_group_size is not None and min_group_size < k:
        blockers.append(f"the smallest group has {min_group_size} row(s), fewer than k={k}")
    if blockers:
        reason = f"{parent.tier.value} kept after aggregation: " + "; ".join(blockers)
        return replace(parent, columns=surviving, reasoning=(reason,), layer=Layer.INHERITED)

    kept_tags = [t for t in parent.table_tags if t not in config.personal_tags]
    sticky = SENSITIVE_TERM in parent.table_tags
    floor = max(parent.floor, Tier.INTERNAL) if sticky else Tier.INTERNAL
    result = rollup(
        surviving,
        config,
        floor=floor,
        extra_tags=[*kept_tags, DERIVED_FROM_PII],
        layer=Layer.INHERITED,
    )
    size = f"smallest group {min_group_size} ≥ k={k}" if min_group_size is not None else ""
    reason = (
        f"{result.tier.value}: aggregation removed individual-level personal data "
        f"(no personal column in keys or outputs; {size})".replace("; )", ")")
    )
    return replace(result, reasoning=(reason, *result.reasoning), confidence=parent.confidence)


def involves_personal_data(parent: Classification, config: ClassificationConfig) -> bool:
    """Whether an aggregate of ``parent`` needs the k-anonymity check (and group sizes)."""
    return bool(parent.personal_columns) or any(t in config.personal_tags for t in parent.tags)


def stricter(a: ColumnClass | None, b: ColumnClass, config: ClassificationConfig) -> ColumnClass:
    """The more restrictive of two column classes (``a`` on a tie; ``b`` when ``a`` is None)."""
    if a is None:
        return b
    ta = config.tier_for(a.classification, a.sensitivity)
    tb = config.tier_for(b.classification, b.sensitivity)
    if tb > ta or (tb == ta and b.sensitivity > a.sensitivity):
        return b
    return a


def held(known: ColumnClass, claim: ColumnClass, config: ClassificationConfig) -> ColumnClass:
    """A claimed column class held to a known one (a classification from outside the pipeline,
    an untrusted declaration): the :func:`stricter` of the two, except that a personal class
    (PII, PHI) is never traded for one that is not. ``identifier`` at ``critical`` rolls up to
    the tier of ``pii`` at ``high``; taken, an e-mail column would become a pseudonym and a
    projection of it lose the PII tag. Then the known kind and type are kept, at the higher
    sensitivity of the two."""
    kept = stricter(known, claim, config)
    if known.is_personal and not kept.is_personal:
        return replace(known, sensitivity=max(known.sensitivity, claim.sensitivity))
    return kept


def reassign(
    parent: Classification,
    assigned: Mapping[str, ColumnClass],
    config: ClassificationConfig,
    *,
    removed: Iterable[str] = (),
    floor: Tier = Tier.PUBLIC,
    table_tags: Iterable[str] = (),
    reason: str,
) -> Classification:
    """The move rule: content keeps its class whatever label it is moved under.

    A rename, an assignment (``df["region"] = df["email"]``), an insertion or a relabelling
    puts content under a label: ``assigned`` maps each such label to the class of the content it
    now holds; labels in ``removed`` no longer exist (or hold content that cannot be traced).
    Tier and tags are recomputed from the column map, never below the parent's floor, raised to
    ``floor`` when the content came from a table with a higher one.

    Args:
        parent: the classification before the move.
        assigned: label -> class of its new content.
        config: the classification settings.
        removed: labels to drop from the column map.
        floor: the floor of the tables the moved content came from.
        table_tags: their table-level tags.
        reason: one reasoning line, e.g. ``"renamed: email → region"``.
    """
    gone = set(removed)
    columns = {k: assigned.get(k, v) for k, v in parent.columns.items() if k not in gone}
    for name, col in assigned.items():
        columns.setdefault(name, col)
    # A tier no column explains (an aggregate kept PROPRIETARY by k-anonymity, a path rule)
    # belongs to the table, not to a label: moving columns cannot lower it.
    explained = max([parent.floor, *(column_tier(c, config) for c in parent.columns.values())])
    held = parent.tier if parent.tier > explained else Tier.PUBLIC
    result = rollup(
        columns,
        config,
        floor=max(parent.floor, floor, held),
        extra_tags=[*parent.table_tags, *table_tags],
        layer=Layer.INHERITED,
    )
    return replace(
        result,
        tags=unique([*result.tags, *parent.tags]) if held > Tier.PUBLIC else result.tags,
        reasoning=(f"{result.tier.value}: {reason}", *result.reasoning),
        confidence=min(parent.confidence, result.confidence),
    )


def derive(
    parent: Classification,
    kept: Sequence[str],
    new_columns: Mapping[str, ColumnClass],
    config: ClassificationConfig,
) -> Classification:
    """The classification of data whose columns changed since ``parent`` was computed.

    - only known columns, some dropped: :func:`project`;
    - new columns appeared (assigned, computed, renamed): they are classified on their own
      (``new_columns``) and added; if parent columns also vanished, the change may be a rename
      or a computation from them, so the parent's tier becomes the floor (transformation rule:
      inherit unless explicitly anonymized).
    """
    known = [name for name in kept if name in parent.columns]
    if not new_columns:
        return project(parent, known, config) if parent.columns else parent
    vanished = bool(parent.columns) and len(known) < len(parent.columns)
    floor = max(parent.floor, parent.tier) if vanished else parent.floor
    columns = {name: parent.columns[name] for name in known} | dict(new_columns)
    result = rollup(
        columns, config, floor=floor, extra_tags=parent.table_tags, layer=Layer.INHERITED
    )
    if not parent.columns:  # nothing known before: this is a first classification
        return replace(
            result,
            tags=unique([*result.tags, *parent.tags]),
            reasoning=(*parent.reasoning, *result.reasoning),
        )
    reason = f"{result.tier.value}: {len(new_columns)} new column(s) classified" + (
        f"; parent columns changed, so the parent's {parent.tier.value} is the floor"
        if vanished
        else ""
    )
    return replace(
        result,
        tags=unique([*result.tags, *parent.tags]) if vanished else result.tags,
        reasoning=(reason, *result.reasoning),
    )
