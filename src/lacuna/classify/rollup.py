"""From column classes to a table classification: tier and tags by the configured mapping.

The mapping (``classification.mapping`` in ``lacuna.yaml``) says what each column class implies:
by default ``pii`` → PROPRIETARY with tags PII, GDPR; ``phi`` → PROPRIETARY with PHI, HIPAA;
``financial`` → INTERNAL with FINANCIAL; ``identifier`` and ``public`` → PUBLIC. A column
of sensitivity ``critical`` raises the table to ``classification.critical_tier``. The table's tier
is the maximum over its columns and its floor; its tags are the union, in first-seen order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from lacuna.config import ClassificationConfig
from lacuna.model import (
    Classification,
    ColumnClass,
    ColumnKind,
    Layer,
    Sensitivity,
    Tier,
    unique,
)


def column_tier(column: ColumnClass, config: ClassificationConfig) -> Tier:
    return config.tier_for(column.classification, column.sensitivity)


def column_tags(column: ColumnClass, config: ClassificationConfig) -> tuple[str, ...]:
    return kind_tags(column.classification, config)


def kind_tags(kind: ColumnKind, config: ClassificationConfig) -> tuple[str, ...]:
    """The tags a column of ``kind`` gives its table (the kind's rule)."""
    return config.rule_for(kind).tags


def rollup(
    columns: Mapping[str, ColumnClass],
    config: ClassificationConfig,
    *,
    floor: Tier = Tier.PUBLIC,
    extra_tags: Iterable[str] = (),
    reasoning: Iterable[str] = (),
    layer: Layer = Layer.HEURISTIC,
) -> Classification:
    """Build a table classification from its columns, a floor and table-level tags.

    Columns that hold different pieces of one source column (:func:`rejoin_pieces`) carry
    that column's class: side by side, the reader glues them back."""
    columns = rejoin_pieces(columns, config)
    # a column's tier is its kind's and sensitivity's: looked up once per distinct pair (the
    # configured mapping's look-up costs more than this dict's, 500 columns have a handful)
    known: dict[tuple[ColumnKind, Sensitivity], Tier] = {}
    tiers: list[Tier] = []
    for c in columns.values():
        pair = (c.classification, c.sensitivity)
        found = known.get(pair)
        if found is None:
            found = known[pair] = column_tier(c, config)
        tiers.append(found)
    tier = max({floor, *tiers})  # a handful of distinct tiers: compared once each
    tier_of = dict(zip(columns, tiers, strict=True))
    table_tags = unique(extra_tags)
    kinds = dict.fromkeys(c.classification for c in columns.values())  # in first-seen order
    tags = unique([t for kind in kinds for t in kind_tags(kind, config)] + list(table_tags))
    confidences = [c.confidence for c in columns.values() if not _is_default_public(c)]
    reasons = list(reasoning)
    drivers = [name for name in columns if tier_of[name] == tier and tier > Tier.PUBLIC]
    if drivers and tier > floor:
        reasons.append(
            f"{tier.value} because of column(s): {', '.join(drivers[:8])}"
            + (" …" if len(drivers) > 8 else "")
        )
    elif (
        tier == floor
        and floor > Tier.PUBLIC
        and not any(r.startswith(floor.value) for r in reasons)
    ):
        reasons.append(f"{tier.value} from the table-level floor")
    return Classification(
        tier=tier,
        tags=tags,
        columns=dict(columns),
        floor=floor,
        table_tags=table_tags,
        confidence=min(confidences, default=1.0),
        reasoning=tuple(reasons),
        layer=layer,
    )


def rejoin_pieces(
    columns: Mapping[str, ColumnClass], config: ClassificationConfig
) -> Mapping[str, ColumnClass]:
    """``columns`` with the rule of :func:`lacuna.lineage.sql_masking.rejoined` applied to what
    they are pieces of (:attr:`ColumnClass.pieces`): when two or more *different* pieces of one
    source column are held together (a table or frame built from several that each kept one),
    every column holding one of them carries the class that source column had. The same piece
    twice is still one piece."""
    seen: dict[tuple[str, str], set[str]] = {}
    for col in columns.values():
        for piece in col.pieces:
            seen.setdefault(piece.origin, set()).add(piece.sql)
    together = {origin for origin, found in seen.items() if len(found) > 1}
    if not together:
        return columns
    out = dict(columns)
    for name, col in columns.items():
        best = col
        for piece in col.pieces:
            if piece.origin not in together:
                continue
            before = piece.before()
            tb, tc = column_tier(before, config), column_tier(best, config)
            if tb > tc or (tb == tc and before.sensitivity > best.sensitivity):
                found = sorted(seen[piece.origin])
                best = replace(before, reasoning=(
                    f"{before.classification.value}: {len(found)} different pieces of "
                    f"{piece.table}.{piece.column} are held together ({', '.join(found)}): "
                    "they rejoin the value"))
        if best is not col:
            out[name] = best
    return out


def _is_default_public(column: ColumnClass) -> bool:
    return column.classification == "public" and not column.evidence
