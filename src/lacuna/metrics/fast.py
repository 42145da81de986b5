"""The metrics of a period from the rollups (:mod:`lacuna.metrics.rollup`), exactly what reading
every record of the period gives, for every filter.

Resolutions and workarounds pair operations up to an hour apart, and the exact computation
pairs only operations inside the period. So the period is cut in three: whole UTC hours at
least an hour from either end, summed from the rollups; and the edges, read from their records
(with the hour beyond them that their pairs can reach, inside the period) and computed as the
exact path does. An edge needs no extra hour when no record lies within an hour outside the
period there (the oldest start, a period ending now). Feedback and survey answers (few) are
read by their indexed ``action``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lacuna.audit.record import OPERATION_ID_INDEXED, AuditRecord, iso, parse_when
from lacuna.audit.schema import records
from lacuna.errors import AuditError
from lacuna.metrics import compute, rollup, sums
from lacuna.metrics.facts import FEEDBACK, SURVEY, DecisionFact, classify, decision
from lacuna.metrics.scopes import scope_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

    from lacuna.governor import Governor
    from lacuna.metrics.api import Filters, Numbers
    from lacuna.metrics.period import Period

EVERYTHING = (0, "", "", "", "")  # the scope of no filter


def _record(row: Any) -> AuditRecord:
    when = parse_when(row.timestamp)
    if when is None:  # never appended since the store refuses it; an edited column
        msg = (f"audit record #{row.seq}'s timestamp {str(row.timestamp)[:60]!a} is not an "
               "ISO-8601 time, so no period can count it. Run `lacuna audit verify`.")
        raise AuditError(msg)
    return AuditRecord(seq=row.seq, id=row.id, timestamp=when,
                       user_id=row.user_id, action=row.action, allowed=bool(row.allowed),
                       policy_id=row.policy_id, body=row.body, prev_hash=row.prev_hash,
                       hash=row.hash)


def _between(conn: Connection, start: datetime, end: datetime, *where: Any) -> list[AuditRecord]:
    if start >= end:
        return []
    stmt = select(records).where(records.c.timestamp >= iso(start),
                                 records.c.timestamp < iso(end), *where)
    return [_record(row) for row in conn.execute(stmt.order_by(records.c.seq)).all()]


def _any_between(conn: Connection, start: datetime, end: datetime) -> bool:
    return conn.execute(select(records.c.seq).where(  # one seek on the timestamp index
        records.c.timestamp >= iso(start), records.c.timestamp < iso(end)).limit(1)).first() \
        is not None


def _moved(instant: datetime, by: timedelta) -> datetime:
    """``instant`` moved by ``by``, stopped at the calendar's ends: a period from year 1
    (``0001-01-01..9999-12-30``, which the periods accept) failed with an OverflowError."""
    try:
        return instant + by
    except OverflowError:
        edge = datetime.min if by < timedelta(0) else datetime.max
        return edge.replace(tzinfo=UTC)


def _floor(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


@dataclass
class Edge:
    """The counts of the decisions in ``[lo, hi)`` computed from records (pairs included)."""

    audited: int = 0
    decisions: int = 0
    denials: int = 0
    resolved: int = 0
    minutes: float = 0.0
    tricks: int = 0
    names: dict[str, bool] = field(default_factory=dict)


def _edge(conn: Connection, lo: datetime, hi: datetime, read: tuple[datetime, datetime],
          keep: Callable[[DecisionFact], bool]) -> Edge:
    """The decisions of ``[lo, hi)``, with their pairs found among the records of ``read``
    (which holds every operation they can pair with inside the period)."""
    out = Edge()
    if lo >= hi:
        return out
    every = classify(_between(conn, *read))[0]

    def inside(d: DecisionFact) -> bool:
        return lo <= d.when < hi

    out.audited = sum(inside(d) for d in every)
    mine = [d for d in every if keep(d)]
    by_user: dict[str, list[DecisionFact]] = {}
    for d in mine:  # both definitions pair operations of one user: per user is linear
        by_user.setdefault(d.user, []).append(d)
        if inside(d):
            out.decisions += 1
            out.denials += not d.allowed
            evaluated = bool(d.packages) and not d.engine_error
            for n in set(d.sources) | ({d.destination} if d.destination else set()):
                out.names[n] = out.names.get(n, False) or evaluated
    for ops in by_user.values():
        found = [r for r in compute.resolutions(ops) if inside(r.denial)]
        out.resolved += len(found)
        out.minutes += sum(r.minutes for r in found)
        out.tricks += sum(inside(w) for w in compute.workarounds(ops))
    return out


def from_rollups(gov: Governor, period: Period, filters: Filters) -> Numbers | None:
    """The numbers of ``period`` for ``filters`` from the rollups; None when the rollups are
    incomplete, cannot tell the filters apart, or the period is too short to hold a whole hour
    away from its edges (the records are then read instead)."""
    from lacuna.metrics.api import Numbers, intercepted_operations

    scope = scope_of(filters)
    if scope is None:
        return None
    start, end, window = period.start, period.end, rollup.WINDOW
    with gov.audit.engine.connect() as conn:
        if not rollup.complete(conn):
            return None
        first = rollup.next_hour(start if not _any_between(conn, _moved(start, -window), start)
                                 else start + window)
        last = _floor(end if not _any_between(conn, end, _moved(end, window)) else end - window)
        if first > last:
            return None
        hours = (iso(first)[:13], iso(last)[:13])
        whole = sums.totals(conn, *hours, scope)
        every_total = whole if scope == EVERYTHING else sums.totals(conn, *hours, EVERYTHING)
        head = _edge(conn, start, first, (start, min(first + window, end)), filters.keep)
        tail = _edge(conn, last, end, (max(last - window, start), end), filters.keep)
        events = [r for r in (_record(row) for row in conn.execute(  # an index range
            select(records).where(records.c.action.in_((FEEDBACK, SURVEY)),
                                  records.c.timestamp >= iso(start),
                                  records.c.timestamp < iso(end))).all())
            if r.timestamp in period]
        _, feedback, survey = classify(events)
        named = {f.decision_record_id for f in feedback}
        targets = [_record(row) for row in conn.execute(select(records).where(
            records.c.id.in_(sorted(named)))).all()] if named else []
        covered, assets = sums.coverage(conn, *hours, scope, {**head.names, **{
            n: c or head.names.get(n, False) for n, c in tail.names.items()}})
    denied = [d for d in (_decision(r) for r in targets) if d is not None and
              not d.allowed and d.when in period and filters.keep(d)]
    audited = every_total.decisions + head.audited + tail.audited
    logged = intercepted_operations(gov, period)
    with gov.audit.engine.connect() as conn:
        unaudited = len(logged - _on_trail(conn, logged, period))
    for long in (i for i in logged if len(i) > OPERATION_ID_INDEXED):  # not in the column
        found = gov.audit.of_operation(long)
        unaudited -= found is not None and found.timestamp in period
    return Numbers(
        decisions=whole.decisions + head.decisions + tail.decisions,
        denials=whole.denials + head.denials + tail.denials,
        false_positives=len(compute.false_positives(denied, feedback)),
        resolved=whole.resolved + head.resolved + tail.resolved,
        resolution_minutes=whole.resolution_minutes + head.minutes + tail.minutes,
        workarounds=whole.workarounds + head.tricks + tail.tricks,
        covered=covered, assets=assets, audited=audited,
        intercepted=audited + unaudited, survey=tuple(survey))


def _on_trail(conn: Connection, ids: set[str], period: Period) -> set[str]:
    """Those of ``ids`` (operation ids the decision log holds) that a decision record of the
    period holds: what is left of ``ids`` was decided and not audited. The exact path takes
    the union of both; ``max`` of the two counts (as before) let an operation missing from
    the log (dropped) hide one missing from the trail: 100 % for a trail with a gap."""
    found: set[str] = set()
    ordered = sorted(i for i in ids if len(i) <= OPERATION_ID_INDEXED)
    for start in range(0, len(ordered), 500):  # bounded IN lists
        chunk = ordered[start:start + 500]
        found.update(str(r[0]) for r in conn.execute(
            select(records.c.operation_id).distinct().where(
                records.c.operation_id.in_(chunk), records.c.timestamp >= iso(period.start),
                records.c.timestamp < iso(period.end))))
    return found


def _decision(record: AuditRecord) -> DecisionFact | None:
    body = json.loads(record.body)
    return decision(record, body) if body.get("kind") is None else None
