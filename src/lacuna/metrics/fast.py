"""The metrics of a period from the rollups (:mod:`lacuna.metrics.rollup`): whole UTC hours
from the counters, the partial hours at either end from their records, and the few events
(feedback, survey answers) from the records by their indexed ``action``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lacuna.audit.record import AuditRecord, iso
from lacuna.audit.schema import records
from lacuna.metrics import compute, rollup
from lacuna.metrics.facts import FEEDBACK, SURVEY, DecisionFact, classify, decision

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from lacuna.governor import Governor
    from lacuna.metrics.api import Numbers
    from lacuna.metrics.period import Period


def _record(row: Any) -> AuditRecord:
    return AuditRecord(seq=row.seq, id=row.id, timestamp=datetime.fromisoformat(row.timestamp),
                       user_id=row.user_id, action=row.action, allowed=bool(row.allowed),
                       policy_id=row.policy_id, body=row.body, prev_hash=row.prev_hash,
                       hash=row.hash)


def _between(conn: Connection, start: datetime, end: datetime, *where: Any) -> list[AuditRecord]:
    if start >= end:
        return []
    stmt = select(records).where(records.c.timestamp >= iso(start),
                                 records.c.timestamp < iso(end), *where)
    return [_record(row) for row in conn.execute(stmt.order_by(records.c.seq)).all()]


def from_rollups(gov: Governor, period: Period, role: str | None) -> Numbers | None:
    """The numbers of ``period`` (optionally one role) from the rollups; None when the rollups
    are incomplete or the period holds no whole hour (the records are then read instead)."""
    from lacuna.metrics.api import Numbers, intercepted_operations

    first = rollup.next_hour(period.start)
    last = period.end.replace(minute=0, second=0, microsecond=0)
    if first >= last:
        return None
    with gov.audit.engine.connect() as conn:
        if not rollup.complete(conn):
            return None
        whole = rollup.totals(conn, iso(first)[:13], iso(last)[:13], role)
        every_total = whole if role is None else rollup.totals(
            conn, iso(first)[:13], iso(last)[:13], None)
        head = _between(conn, period.start, first)
        tail = _between(conn, last, period.end)
        events = [r for r in (_record(row) for row in conn.execute(  # an index range
            select(records).where(records.c.action.in_((FEEDBACK, SURVEY)),
                                  records.c.timestamp >= iso(period.start),
                                  records.c.timestamp < iso(period.end))).all())
            if r.timestamp in period]
        _, feedback, survey = classify(events)
        named = {f.decision_record_id for f in feedback}
        targets = [_record(row) for row in conn.execute(select(records).where(
            records.c.id.in_(sorted(named)))).all()] if named else []

    def keep(d: DecisionFact) -> bool:
        return role is None or d.role == role

    decisions = 0
    denials = 0
    resolved = 0
    minutes = 0.0
    tricks = 0
    audited = every_total.decisions
    names: dict[str, bool] = {}
    for edge in (head, tail):
        every = classify(edge)[0]
        audited += len(every)
        mine = [d for d in every if keep(d)]
        decisions += len(mine)
        denials += sum(not d.allowed for d in mine)
        by_user: dict[str, list[DecisionFact]] = {}
        for d in mine:  # both definitions pair operations of one user: per user is linear
            by_user.setdefault(d.user, []).append(d)
        for ops in by_user.values():
            found = compute.resolutions(ops)
            resolved += len(found)
            minutes += sum(r.minutes for r in found)
            tricks += len(compute.workarounds(ops))
        for d in mine:
            evaluated = bool(d.packages) and not d.engine_error
            for n in set(d.sources) | ({d.destination} if d.destination else set()):
                names[n] = names.get(n, False) or evaluated
    with gov.audit.engine.connect() as conn:
        covered, assets = rollup.coverage(conn, iso(first)[:13], iso(last)[:13], role, names)
    denied = [d for d in (_decision(r) for r in targets) if d is not None and
              not d.allowed and d.when in period and keep(d)]
    logged = intercepted_operations(gov, period)
    return Numbers(
        decisions=whole.decisions + decisions, denials=whole.denials + denials,
        false_positives=len(compute.false_positives(denied, feedback)),
        resolved=whole.resolved + resolved,
        resolution_minutes=whole.resolution_minutes + minutes,
        workarounds=whole.workarounds + tricks,
        covered=covered, assets=assets, audited=audited,
        intercepted=max(audited, len(logged)), survey=tuple(survey))


def _decision(record: AuditRecord) -> DecisionFact | None:
    body = json.loads(record.body)
    return decision(record, body) if body.get("kind") is None else None
