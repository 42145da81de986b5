"""Alternatives to a denied SQL statement, written in SQL for the same database, and checked.

When the Governor denies a statement the hook runs (:mod:`lacuna.sql.govern`), the alternatives
a policy names are rendered here instead of as pandas code (:mod:`lacuna.alternatives` asks the
:class:`SqlAlternatives` active for the statement):

- ``anonymize``: the same statement with the columns that keep it denied redacted
  (``CAST(NULL AS TEXT) AS email``): the same ``CREATE TABLE … AS`` or ``INSERT … SELECT``, in
  the database's dialect. Each candidate statement is checked exactly as the hook would check
  it if the user ran it: read with sqlglot, classified through column lineage, and decided (a
  dry run). The fewest columns that make it allowed are redacted; when no redaction makes it
  allowed, or the statement is not one this can rewrite (``UPDATE``, ``MERGE``, a projection
  with ``*``, a set operation), the alternative is not shown.
- ``exception``: ``lacuna.request_exception`` for the tables read and the table written (the
  request is filed from Python or a notebook: there is no SQL for it).
- ``governed_location``: not shown: another database is not a table this connection can write
  to in the same statement.

Kinds this module does not know are dropped for SQL (pandas code would not run here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from lacuna.lineage.sql_dialects import sqlglot_dialect
from lacuna.model import Alternative, Decision

if TYPE_CHECKING:
    from lacuna.alternatives import Context
    from lacuna.governor import Governor
    from lacuna.model import Operation
    from lacuna.sql.catalog import Database
    from lacuna.sql.statements import Statement

log = logging.getLogger(__name__)
TEXT_TYPES = {"sqlite": "TEXT", "duckdb": "VARCHAR", "postgres": "TEXT"}


@dataclass(frozen=True, slots=True)
class SqlAlternatives:
    """Renders and checks SQL alternatives for one statement on one database."""

    gov: Governor
    db: Database
    stmt: Statement
    method: str

    def handles(self, operation: Operation) -> bool:
        return operation.method == self.method

    def key(self) -> str:
        """What the alternatives depend on beyond the operation (for the alternatives memo)."""
        return f"{self.db.url}\x1f{self.db.dialect}\x1f{self.stmt.sql}"

    def build(self, alt: Alternative, decision: Decision, ctx: Context) -> Alternative | None:
        if alt.kind == "anonymize":
            return self._anonymize(alt, ctx)
        if alt.kind == "exception":
            return self._exception(alt, decision, ctx)
        return None

    # -- anonymize: the same statement with columns redacted --------------------------------

    def _anonymize(self, alt: Alternative, ctx: Context) -> Alternative | None:
        from lacuna.alternatives import sensitive_columns

        tree, select, names = self._projection()
        if tree is None or select is None:
            return None
        source = self._operation_of(self.stmt.sql)
        if source is None:
            return None
        wanted = [c for c in sensitive_columns(source.classification, self.gov.config)
                  if c in names]
        if not wanted or not self._allowed(ctx, tree, select, names, wanted):
            return None
        chosen = list(wanted)
        for name in reversed(wanted):  # least restrictive first: keep what is not needed
            fewer = [c for c in chosen if c != name]
            if fewer and self._allowed(ctx, tree, select, names, fewer):
                chosen = fewer
        listed = ", ".join(chosen)
        return replace(alt, title=f"{alt.title}: the same statement with {listed} redacted",
                       code=self._render(tree, select, names, chosen), note=None)

    def _projection(self) -> tuple[exp.Expr | None, exp.Select | None, list[str]]:
        """The parsed statement, its outermost SELECT, and the written name of each of its
        columns (by position: INSERT's column list or the target's columns when given)."""
        if self.stmt.kind != "write" or self.stmt.verb not in ("create", "insert"):
            return None, None, []
        if self.stmt.values:
            return None, None, []
        try:
            tree = sqlglot.parse_one(self.stmt.sql, dialect=sqlglot_dialect(self.db.dialect))
        except sqlglot.errors.SqlglotError:
            return None, None, []
        select = tree.expression if isinstance(tree, (exp.Insert, exp.Create)) else None
        if not isinstance(select, exp.Select):
            return None, None, []
        projections = select.expressions
        if any(isinstance(p, exp.Star) or p.find(exp.Star) for p in projections):
            return None, None, []
        names = [p.alias_or_name for p in projections]
        if self.stmt.verb == "insert":
            columns = list(self.stmt.columns)
            if not columns and self.stmt.target:
                info = self.db.table(self.stmt.target)
                columns = [c.name for c in info.columns] if info is not None else []
            if len(columns) != len(names):
                return None, None, []
            names = columns
        return tree, select, names

    def _render(self, tree: exp.Expr, select: exp.Select, names: Sequence[str],
                redact: Sequence[str]) -> str:
        out = tree.copy()
        query = out.expression
        assert isinstance(query, exp.Select)
        text = TEXT_TYPES.get(self.db.dialect, "TEXT")
        projections = list(query.expressions)
        for i, (projection, name) in enumerate(zip(select.expressions, names, strict=True)):
            if name in redact:
                alias = projection.alias_or_name
                projections[i] = exp.alias_(exp.cast(exp.null(), text), alias, quoted=_quoted(
                    projection))
        query.set("expressions", projections)
        return out.sql(dialect=self.db.dialect)

    def _allowed(self, ctx: Context, tree: exp.Expr, select: exp.Select,
                 names: Sequence[str], redact: Sequence[str]) -> bool:
        """Whether the statement with ``redact`` redacted would be allowed, decided as the
        hook decides it (fails closed on errors)."""
        op = self._operation_of(self._render(tree, select, names, redact))
        if op is None:
            return False
        try:
            return ctx.decide(op).allowed
        except Exception as exc:  # a variant that cannot be decided is not suggested
            log.debug("SQL alternative check failed: %s", exc)
            return False

    def _operation_of(self, sql: str) -> Operation | None:
        """The operation the hook would decide for ``sql`` (None: it would not be a write)."""
        from lacuna.sql.govern import _write
        from lacuna.sql.statements import analyse

        stmt = analyse(sql, self.db.dialect)
        if stmt.kind != "write":
            return None
        try:
            op, _ = _write(self.gov, self.db, stmt, None, False, self.method)
        except Exception as exc:
            log.debug("SQL alternative could not be classified: %s", exc)
            return None
        return op  # type: ignore[no-any-return]

    # -- exception ------------------------------------------------------------------------

    def _exception(self, alt: Alternative, decision: Decision, ctx: Context) -> Alternative | None:
        op = ctx.operation
        target = ctx.target
        approver = dict(alt.params).get("approver") or decision.steward
        if target is None or not approver:
            return None
        sources = [s.name for s in op.sources]
        purpose = op.purpose or "Describe the business need"
        spec: dict[str, Any] = {"action": op.action.value, "destination": target}
        if sources:
            spec["source"] = sources[0]
        code = ctx.code(
            f"{ctx.lacuna}.request_exception(",
            f"    operation={json.dumps(spec)},",
            f"    purpose={json.dumps(purpose)},",
            f"    approver={json.dumps(approver)}",
            ")",
        )
        return replace(alt, code=code, note="file it from Python; then run the statement again")


def _quoted(projection: exp.Expr) -> bool:
    ident = projection.args.get("alias") if isinstance(projection, exp.Alias) else projection
    found = ident.find(exp.Identifier) if ident is not None else None
    return bool(found is not None and found.args.get("quoted"))


__all__ = ["SqlAlternatives"]
