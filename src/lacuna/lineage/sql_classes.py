"""Per-column classification of a SQL statement's output from its traced flows.

- an output column carries the most sensitive class among the source columns that reach it by
  a path that does not mask (identity, transformation, or an aggregation that is not
  k-anonymous);
- reached from personal columns only through masking, it is an ``identifier`` when the masking is
  a keyed hash (a pseudonym: joinable, not reversible without the key) and ``public`` otherwise
  (redacted, generalised, counted, k-anonymous aggregate); the table gets ``DERIVED_FROM_PII``;
- an unresolved source fails closed: the most sensitive class of every input column read, and the
  floor rises to every opaque input's tier.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from lacuna.classify.layers import stricter
from lacuna.classify.rollup import rollup
from lacuna.lineage.records import EdgeKind
from lacuna.lineage.sql_trace import Flow, merge_kinds, source_class
from lacuna.model import (
    DERIVED_FROM_PII,
    Classification,
    ColumnClass,
    ColumnKind,
    Evidence,
    Layer,
    Piece,
    Tier,
    merge_pieces,
    unique,
)

if TYPE_CHECKING:
    from lacuna.config import ClassificationConfig
    from lacuna.lineage.sql_schema import Schema, Table

# The personal-data types whose short prefix or suffix generalises: quasi-identifiers, which
# point at a person only together with other columns (``left(zip, 3)``: a region). Of any
# other personal column (a direct identifier: ``ssn``, ``email``, ``phone``, ``name``, a type
# Lacuna does not know, or none) a cut keeps the class: ``right(ssn, 4)`` is what a bank asks
# to identify you, ``left(email, 4)`` with a domain names a person. Dates generalise by
# date_trunc/extract, not by a cut.
QUASI_IDENTIFIERS = frozenset({"zip", "zip_code", "postal_code", "postcode", "address",
                               "street_address", "city", "state", "region", "country"})
_CUT = re.compile(r"generalisation \((left|right|substring), ")


def classify_outputs(
    flows: list[list[Flow]],
    names: list[str],
    tables: Schema,
    config: ClassificationConfig,
    read: set[str],
) -> Classification:
    """The output's Classification: one column class per output column, then the rollup."""
    columns: dict[str, ColumnClass] = {}
    floor = Tier.PUBLIC
    tags: list[str] = []
    reasons: list[str] = []
    for name, column_flows in zip(names, flows, strict=True):
        col, contributing, masked_personal, why = _column(column_flows, tables, config, read)
        # two outputs of one name (SELECT email AS x, region AS x; PostgreSQL's "X" and "x"):
        # the name holds both, so the stricter class (the last one used to replace the other)
        columns[name] = stricter(columns[name], col) if name in columns else col
        for table in contributing:
            floor = max(floor, table.floor, table.tier if table.columns is None else Tier.PUBLIC)
            tags.extend(table.table_tags)
        if masked_personal:
            tags.append(DERIVED_FROM_PII)
        if _aggregates_personal(column_flows, tables):  # as pandas' aggregation rule
            floor = max(floor, Tier.INTERNAL)
            tags.append(DERIVED_FROM_PII)
        if why:
            reasons.append(f"{name}: {why}")
    result = rollup(columns, config, floor=floor, extra_tags=unique(tags), layer=Layer.INHERITED)
    return replace(result, reasoning=(*result.reasoning, *reasons))


def _column(
    flows: list[Flow], tables: Schema, config: ClassificationConfig, read: set[str]
) -> tuple[ColumnClass, list[Table], bool, str]:
    """(class, tables whose data it carries, masked personal data?, fail-closed reason).

    A column that holds generalised pieces of a non-public column (cut here, or stored in a
    column read as it is) remembers them (:attr:`ColumnClass.pieces`), so that the pieces put
    the value back together when they meet again in a later statement."""
    col, carried, masked_personal, why = _classify_column(flows, tables, config, read)
    if why or col.is_personal:
        return col, carried, masked_personal, why  # fail closed, or the value itself leaves
    pieces = merge_pieces(col.pieces, _pieces(flows, tables))
    return replace(col, pieces=pieces), carried, masked_personal, why


def _pieces(flows: list[Flow], tables: Schema) -> list[Piece]:
    """The pieces of a value an output column holds: generalisations of non-public columns
    (:attr:`Flow.piece`), and the pieces its source columns hold."""
    found: list[Piece] = []
    for flow in flows:
        table = tables.tables.get(flow.table) if flow.table else None
        col = source_class(tables, flow) if table is not None else None
        if table is None or col is None or flow.restored:
            continue
        if flow.kind is not EdgeKind.MASKING or flow.piece:  # a piece of a piece: that piece
            found.extend(col.pieces)
        if flow.piece and col.classification is not ColumnKind.PUBLIC:
            found.append(Piece(table=table.origin, column=flow.column, sql=flow.piece,
                               classification=col.classification, pii_type=col.pii_type,
                               sensitivity=col.sensitivity))  # fmt: skip
    return found


def _classify_column(
    flows: list[Flow], tables: Schema, config: ClassificationConfig, read: set[str]
) -> tuple[ColumnClass, list[Table], bool, str]:
    grouped: dict[tuple[str, str], list[Flow]] = {}
    unresolved: list[str] = []
    for flow in flows:
        if flow.table:
            grouped.setdefault((flow.table, flow.column), []).append(flow)
        elif flow.kind is not EdgeKind.MASKING:
            unresolved.append(flow.description)
    carried: list[tuple[Flow, ColumnClass, Table]] = []
    masked: list[tuple[Flow, ColumnClass]] = []
    for (table_key, column), group in grouped.items():
        flow = merge_kinds(group)
        table = tables.tables[table_key]
        col = table.opaque_class if table.columns is None else table.columns.get(column)
        restored = [(f, c) for f in group for c in f.restored]
        if restored:  # stored pieces of one column rejoined: the class that column had
            flow, before = restored[0]
            for f, c in restored[1:]:
                if _more_sensitive(c, before, config):
                    flow, before = f, c
            col = before if col is None or _more_sensitive(before, col, config) else col
        if col is None:
            unresolved.append(f"column {tables.show(column)!r} is not in schema[{table.display!r}]")
        elif flow.kind is EdgeKind.MASKING:
            masked.append((flow, col))
        else:
            carried.append((flow, col, table))
    if unresolved:
        return _fail_closed(unresolved, tables, config, read)
    masked_personal = [(f, c) for f, c in masked if c.is_personal]
    if carried:
        best_flow, best, _ = carried[0]
        for flow, col, _ in carried[1:]:
            if _more_sensitive(col, best, config):
                best_flow, best = flow, col
        source = f"{tables.tables[best_flow.table].display}.{tables.show(best_flow.column)}"
        how = best_flow.kind.value + (
            f" ({best_flow.description})" if best_flow.description else ""
        )
        # a k-anonymity check's mark (ColumnClass.quasi_identifier) goes with the values: the
        # rows a query keeps are counted again (`SELECT * FROM release LIMIT 1` in DuckDB was
        # one person's row, PUBLIC)
        marks = [e for _, c, _ in carried for e in c.evidence
                 if e.rule.startswith("quasi_identifier:")][:1]
        col = replace(
            best,
            layer=Layer.INHERITED,
            reasoning=f"{best.classification.value} from {source} by {how}",
            evidence=(Evidence(source="inherited", rule=f"sql:{best_flow.kind.value}",
                               detail=f"{source}: {how}"), *marks),
        )  # fmt: skip
        return col, [t for _, _, t in carried], bool(masked_personal), ""
    if masked_personal:
        flow, source_col = masked_personal[0]
        keyed = "keyed" in flow.description or "hmac" in flow.description
        source = f"{tables.tables[flow.table].display}.{tables.show(flow.column)}"
        col = ColumnClass(
            classification=ColumnKind.IDENTIFIER if keyed else ColumnKind.PUBLIC,
            reasoning=(
                f"masked: {source} ({source_col.classification.value}) by {flow.description}; "
                "a masking edge stops propagation"
            ),
            layer=Layer.INHERITED,
            evidence=(Evidence(source="inherited", rule="sql:masking",
                               detail=f"{source}: {flow.description}"),),
        )  # fmt: skip
        return col, [], True, ""
    kept = [
        (f, c) for f, c in masked if _is_aggregate(f) and c.classification is not ColumnKind.PUBLIC
    ]
    if kept:  # a k-anonymous aggregate of non-personal data keeps its class (pandas: inherits)
        flow, best = kept[0]
        for f, c in kept[1:]:
            if _more_sensitive(c, best, config):
                flow, best = f, c
        source = f"{tables.tables[flow.table].display}.{tables.show(flow.column)}"
        return (
            replace(
                best,
                layer=Layer.INHERITED,
                reasoning=(
                    f"{best.classification.value} from {source}: an aggregate of non-personal data "
                    "keeps its class"
                ),
            ),
            [],
            False,
            "",
        )
    detail = "masked non-personal input" if masked else "a constant or a row count: no input value"
    return ColumnClass(reasoning=detail, layer=Layer.INHERITED), [], False, ""


def identifier_cuts(flows: list[list[Flow]], tables: Schema) -> list[list[Flow]]:
    """Take the masking away from a prefix or suffix (left/right/substring) of a personal
    column that is no quasi-identifier (:data:`QUASI_IDENTIFIERS`): ``left(ssn, 4)`` carries
    the ssn's class, in the lineage's edges as in the output's classification."""
    return [[_uncut(flow, tables) for flow in column] for column in flows]


def _uncut(flow: Flow, tables: Schema) -> Flow:
    if flow.kind is not EdgeKind.MASKING or not flow.table or not _CUT.search(flow.description):
        return flow
    col = source_class(tables, flow)
    if col is None or not col.is_personal or (col.pii_type or "").lower() in QUASI_IDENTIFIERS:
        return flow
    return replace(flow, kind=EdgeKind.TRANSFORMATION, piece="", description=(
        f"{flow.description}: a prefix or suffix of a direct identifier "
        f"({col.pii_type or col.classification.value}) is no generalisation; it keeps the "
        "class"))


def _is_aggregate(flow: Flow) -> bool:
    """A k-anonymous aggregate or a count (not a hash, redaction or generalisation)."""
    return "k-anonymous" in flow.description or flow.description.startswith("count")


def _aggregates_personal(flows: list[Flow], tables: Schema) -> bool:
    """Whether an output aggregates (k-anonymously) a table that holds personal data: the
    result is no longer personal, but stays at least INTERNAL, as pandas' aggregation rule."""
    for flow in flows:
        if flow.kind is EdgeKind.MASKING and flow.table and _is_aggregate(flow):
            table = tables.tables.get(flow.table)
            if table is not None and any(c.is_personal for c in (table.columns or {}).values()):
                return True
    return False


def _fail_closed(
    unresolved: list[str], tables: Schema, config: ClassificationConfig, read: set[str]
) -> tuple[ColumnClass, list[Table], bool, str]:
    """An unresolved source inherits the most sensitive input column of all tables read."""
    inputs = [tables.tables[k] for k in sorted(read)]
    best: ColumnClass | None = None
    best_name = ""
    for table in inputs:
        candidates = (
            [("*", table.opaque_class)] if table.columns is None or table.opaque_class
            else list(table.columns.items())
        )  # fmt: skip
        for name, col in candidates:
            if col is not None and (best is None or _more_sensitive(col, best, config)):
                best, best_name = col, f"{table.display}.{tables.show(name)}"
    why = "; ".join(unique(unresolved))
    reason = f"source unresolved ({why}); fail closed: inherits the most sensitive input column" + (
        f" {best_name}" if best_name else ""
    )
    col = replace(best or ColumnClass(), layer=Layer.INHERITED, reasoning=reason, evidence=())
    return col, inputs, False, reason


def _more_sensitive(a: ColumnClass, b: ColumnClass, config: ClassificationConfig) -> bool:
    ta = config.tier_for(a.classification, a.sensitivity)
    tb = config.tier_for(b.classification, b.sensitivity)
    if ta != tb:
        return ta > tb
    return stricter(b, a) is a and a != b
