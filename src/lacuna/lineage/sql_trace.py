"""Trace each output column of a qualified query back to base-table columns, through CTEs,
derived tables, scalar subqueries and set operations, composing what each hop does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from lacuna.lineage.records import EdgeKind
from lacuna.lineage.sql_masking import NO_KEYS, BoundKeys, Occurrence, occurrence, rejoined

if TYPE_CHECKING:
    from lacuna.config import ClassificationConfig
    from lacuna.lineage.sql_schema import Schema
    from lacuna.model import ColumnClass, Piece

_RANK = {
    EdgeKind.IDENTITY: 0,
    EdgeKind.TRANSFORMATION: 1,
    EdgeKind.AGGREGATION: 2,
    EdgeKind.MASKING: 3,
}


@dataclass(frozen=True, slots=True)
class Flow:
    """One path from a base-table column (``table`` is ``""`` when unresolved) to an output."""

    table: str
    column: str
    kind: EdgeKind
    description: str
    piece: str = ""  # masking by generalisation: the piece of the value kept (see rejoin)
    restored: tuple[ColumnClass, ...] = ()  # stored pieces rejoined here: the class they had


def compose(outer: Occurrence | Flow, inner: Flow) -> Flow:
    """Along one path the strongest step wins: masking anywhere stops the value."""
    kind = max(outer.kind, inner.kind, key=_RANK.__getitem__)
    parts = [d for d in (outer.description, inner.description) if d]
    piece = outer.piece if outer.kind is EdgeKind.MASKING else inner.piece
    return Flow(inner.table, inner.column, kind, " ← ".join(parts), piece)


def rejoin(flows: list[list[Flow]], schema: Schema | None = None) -> list[list[Flow]]:
    """Take the masking away from generalised pieces of one column that leave together.

    ``flows`` are a statement's flows per output column; the rule is
    :func:`lacuna.lineage.sql_masking.rejoined`. Pieces are those the statement cuts
    (``left(zip, 3)``) and, with ``schema``, those its tables hold: a column that an earlier
    statement lowered by a generalisation remembers what it is a piece of
    (:class:`~lacuna.model.Piece`), so ``a.p || b.s`` with ``p`` stored as ``left(zip, 3)`` and
    ``s`` as ``right(zip, 3)`` rejoins ``zip`` and carries the class ``zip`` had.
    """
    cut = [[_pieces_of(flow, schema) for flow in column] for column in flows]
    together = rejoined(
        (origin[0], origin[1], sql) for column in cut for found in column
        for origin, sql, _ in found
    )  # fmt: skip
    if not together:
        return flows
    out: list[list[Flow]] = []
    for column, found_per_flow in zip(flows, cut, strict=True):
        kept: list[Flow] = []
        for flow, found in zip(column, found_per_flow, strict=True):
            met = [(o, p) for o, _, p in found if o in together]
            if not met:
                kept.append(flow)
                continue
            origin = met[0][0]
            pieces = together[origin]
            why = (
                f"{len(pieces)} different pieces of {origin[1]!r} leave together "
                f"({', '.join(pieces)}): they rejoin the value, not a generalisation"
            )
            restored = tuple(dict.fromkeys(p.before() for _, p in met if p is not None))
            kept.append(Flow(flow.table, flow.column, EdgeKind.TRANSFORMATION, why,
                             restored=restored))  # fmt: skip
        out.append(kept)
    return out


_Found = list[tuple[tuple[str, str], str, "Piece | None"]]


def _pieces_of(flow: Flow, schema: Schema | None) -> _Found:
    """The pieces of a value one flow carries: ``(origin, piece SQL, stored piece or None)``."""
    found: _Found = []
    table = schema.tables.get(flow.table) if schema is not None else None
    col = source_class(schema, flow) if schema is not None else None
    stored = col.pieces if col is not None else ()
    if flow.kind is EdgeKind.MASKING:
        if not flow.piece:
            return found  # a keyed hash, a redaction, a count, an aggregate: no value leaves
        found.append(((table.origin if table else flow.table, flow.column), flow.piece, None))
    # the stored piece leaves, as is, transformed, or cut smaller: a piece of a piece shows no
    # more than the piece, so it counts as that piece (with it, it is still one piece)
    found.extend((p.origin, p.sql, p) for p in stored)
    return found


def source_class(schema: Schema, flow: Flow) -> ColumnClass | None:
    """The declared class of a flow's source column; ``None`` when unresolved or unknown."""
    table = schema.tables.get(flow.table)
    if table is None:
        return None
    if table.columns is None:
        return table.opaque_class
    return table.columns.get(flow.column)


def merge_kinds(flows: list[Flow]) -> Flow:
    """Parallel paths from one source column: the value leaks if any path does not mask."""
    carried = [f for f in flows if f.kind is not EdgeKind.MASKING]
    chosen = max(carried or flows, key=lambda f: _RANK[f.kind])
    return chosen


def set_operation_scopes(scope: Scope) -> list[Scope]:
    scopes = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", None)
    return list(scopes or [])


def output_names(expression: exp.Expr) -> list[str]:
    while isinstance(expression, exp.SetOperation):
        expression = expression.this
    if isinstance(expression, exp.Subquery):
        return output_names(expression.this)
    if not isinstance(expression, exp.Select):
        return []
    return [p.alias_or_name for p in expression.selects]


class Tracer:
    """Memoised per (scope, output index); one instance per statement."""

    def __init__(
        self, schema: Schema, config: ClassificationConfig, keys: BoundKeys = NO_KEYS
    ) -> None:
        self.schema = schema
        self.config = config
        self.keys = keys  # the bind parameters bound to a key (a keyed hash)
        self._memo: dict[tuple[int, int], list[Flow]] = {}
        self._k_memo: dict[int, str] = {}

    def index(self, scope: Scope, i: int) -> list[Flow]:
        key = (id(scope), i)
        if key not in self._memo:
            self._memo[key] = []  # a recursive CTE refers to itself: stop there
            branches = set_operation_scopes(scope)
            if branches:
                flows = [f for branch in branches for f in self.index(branch, i)]
            else:
                selects = getattr(scope.expression, "selects", [])
                if i < len(selects):
                    flows = self.expression(scope, selects[i])
                else:
                    flows = [Flow("", f"#{i + 1}", EdgeKind.TRANSFORMATION, "no such column")]
            self._memo[key] = flows
        return self._memo[key]

    def by_name(self, scope: Scope, name: str) -> list[Flow]:
        names = output_names(scope.expression)
        if name in names:
            return self.index(scope, names.index(name))
        why = f"column {self.schema.show(name)!r} is not an output of the subquery or CTE"
        return [Flow("", name, EdgeKind.TRANSFORMATION, why)]

    def expression(self, scope: Scope, root: exp.Expr) -> list[Flow]:
        """The flows into one projection (or assigned value) ``root`` evaluated in ``scope``."""
        flows: list[Flow] = []
        for node in root.walk(prune=lambda n: isinstance(n, exp.Subquery) and n is not root):
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                flows.extend(self._column(scope, node, root))
            elif isinstance(node, exp.TableColumn):  # a whole row: ``to_json(t)``, ``SELECT t``
                flows.extend(self._row(scope, node, root))
            elif isinstance(node, exp.Columns):  # DuckDB's COLUMNS('regex'): unknown columns
                why = "COLUMNS(...) selects columns by pattern: which ones is not traced"
                flows.append(Flow("", "*", EdgeKind.TRANSFORMATION, why))
            elif isinstance(node, exp.PositionalColumn):  # DuckDB's #3: a column by place
                why = (
                    f"{node.sql(dialect=self.schema.dialect)} names a column by its place, "
                    "which is not traced; name the column instead"
                )
                flows.append(Flow("", "*", EdgeKind.TRANSFORMATION, why))
            elif isinstance(node, exp.Subquery) and node is not root:
                flows.extend(self._subquery(scope, node, root))
            elif _is_star(node) and not isinstance(node.parent, exp.Count):
                why = "'*' could not be expanded: a source's columns are unknown"
                flows.append(Flow("", "*", EdgeKind.TRANSFORMATION, why))
        return flows

    def _occurrence(self, scope: Scope, node: exp.Expr, root: exp.Expr) -> Occurrence:
        occ = occurrence(node, root, self.schema.dialect, self.keys)
        if occ.kind is EdgeKind.AGGREGATION:
            why = self.k_anonymous(scope)
            if occ.blending and why.startswith("k-anonymous"):
                return Occurrence(EdgeKind.MASKING, f"{occ.description} ({why})")
            return Occurrence(
                occ.kind, f"{occ.description} ({why})" if occ.blending else occ.description
            )
        return occ

    def _column(self, scope: Scope, node: exp.Column, root: exp.Expr) -> list[Flow]:
        occ = self._occurrence(scope, node, root)
        source = scope.sources.get(node.table) if node.table else None
        if isinstance(source, exp.Table):
            table = self.schema.lookup(source)
            if table is not None:
                key = next(k for k, t in self.schema.tables.items() if t is table)
                return [Flow(key, node.name, occ.kind, occ.description, occ.piece)]
        if isinstance(source, Scope):
            return [compose(occ, f) for f in self.by_name(source, node.name)]
        if occ.kind is EdgeKind.MASKING:
            return []  # key material or a masked value of unknown origin: nothing leaves
        name = self.schema.show(node.name)
        why = (
            f"column {name!r} is ambiguous or unknown: no FROM source has it"
            if not node.table
            else f"column {name!r} refers to {node.table!r}, which is no table here"
        )
        return [Flow("", node.name, occ.kind, why)]

    def _row(self, scope: Scope, node: exp.TableColumn, root: exp.Expr) -> list[Flow]:
        """A source named as a value (DuckDB: the row as a struct) carries every column of it."""
        occ = self._occurrence(scope, node, root)
        source = scope.sources.get(node.name)
        if isinstance(source, exp.Table):
            table = self.schema.lookup(source)
            if table is not None:
                key = next(k for k, t in self.schema.tables.items() if t is table)
                names = list(table.columns) if table.columns is not None else [node.name]
                return [Flow(key, c, occ.kind, occ.description, occ.piece) for c in names]
        if isinstance(source, Scope):
            count = len(output_names(source.expression))
            return [compose(occ, f) for i in range(count) for f in self.index(source, i)]
        why = f"row {self.schema.show(node.name)!r} names no source here"
        return [Flow("", node.name, EdgeKind.TRANSFORMATION, why)]

    def _subquery(self, scope: Scope, node: exp.Subquery, root: exp.Expr) -> list[Flow]:
        occ = self._occurrence(scope, node, root)
        inner = next((s for s in scope.subquery_scopes if s.expression is node.this), None)
        if inner is None:
            return [Flow("", "(subquery)", EdgeKind.TRANSFORMATION, "subquery not resolved")]
        count = len(output_names(inner.expression)) or 1
        return [compose(occ, f) for i in range(count) for f in self.index(inner, i)]

    def k_anonymous(self, scope: Scope) -> str:
        """Why an aggregate in ``scope`` is (``"k-anonymous: ..."``) or is not k-anonymous.

        Statically Lacuna can know group sizes only from ``HAVING COUNT(...) >= n`` as a top-level
        condition with ``n >= k``; and the groups must not be people: no personal group key.
        """
        key = id(scope)
        if key not in self._k_memo:
            self._k_memo[key] = self._k_reason(scope)
        return self._k_memo[key]

    def _k_reason(self, scope: Scope) -> str:
        k = self.config.k_anonymity
        select = scope.expression
        having = select.args.get("having") if isinstance(select, exp.Select) else None
        least = _least_group_size(having.this) if having is not None else None
        if least is None or least < k:
            return (
                f"group sizes unknown statically; add HAVING COUNT(*) >= {k} for k-anonymity"
                if least is None
                else f"HAVING guarantees groups of {least}, fewer than k={k}"
            )
        group = select.args.get("group")
        for expr in group.expressions if group is not None else []:
            for flow in self.expression(scope, expr):
                col = self.column_class(flow)
                if flow.kind is not EdgeKind.MASKING and (col is None or col.is_personal):
                    name = self.schema.show(flow.column)
                    return f"group key {name!r} is personal or unknown: groups may be people"
        return f"k-anonymous: HAVING COUNT >= {least}, k={k}, no personal group key"

    def column_class(self, flow: Flow) -> ColumnClass | None:
        """The declared class of a flow's source column; ``None`` when unresolved or unknown."""
        return source_class(self.schema, flow)


def _is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (
        isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
    )


def _least_group_size(condition: exp.Expr) -> int | None:
    """The smallest group a top-level ``COUNT(...) >= n`` conjunct of HAVING allows."""
    best: int | None = None
    for part in condition.flatten() if isinstance(condition, exp.And) else [condition]:
        part = part.unnest()
        if isinstance(part, exp.And):
            inner = _least_group_size(part)
            best = inner if best is None or (inner is not None and inner > best) else best
            continue
        if not isinstance(part, (exp.GTE, exp.GT, exp.LTE, exp.LT)):
            continue
        left, right = part.this, part.expression
        if isinstance(part, (exp.LTE, exp.LT)):
            left, right = right, left
        bound = right.to_py() if isinstance(right, exp.Literal) and not right.is_string else None
        if isinstance(left, exp.Count) and isinstance(bound, int):
            n = bound + (1 if isinstance(part, (exp.GT, exp.LT)) else 0)
            best = n if best is None else max(best, n)
    return best
