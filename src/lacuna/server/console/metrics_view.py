"""The metrics dashboard's numbers, computed from the audit trail and the exception store.

- violations and exceptions over time: denied decisions and exception requests per day;
- top policies: the policies that denied most often;
- decisions by tier: allowed and denied decisions per tier of the data;
- resolution time: how long requests waited for a decision (median, 90th percentile, slowest),
  over the newest ``MAX_RECORDS`` requests.

A page view reads at most the newest ``MAX_RECORDS`` audit records of the window; when the
window holds more, ``Metrics.partial`` is set and the page says its counts are of those only
(``lacuna metrics`` and ``GovernanceMetrics`` count every record).

Only decision records count (an operation's outcome record repeats its decision). The window
is the last ``days`` days, by the time of the operation.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from lacuna.audit.record import iso
from lacuna.server.console.audit_view import AuditFilters, search

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lacuna.audit import AuditStore
    from lacuna.exceptions import ExceptionStore
    from lacuna.server.console.audit_view import AuditRow

TIERS = ("PUBLIC", "INTERNAL", "PROPRIETARY", "UNKNOWN")
MAX_RECORDS = 100_000  # a bound on what one page view reads


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupCheck:
    """The rollups' counts of the window's whole hours (up to the hour ``now`` is in) beside
    the records': ``(decisions, denied)`` each; and how many denials were appended after a
    later-dated decision of their user that they could pair with (the rollups take records in
    append order, so they count such a denial but do not pair it: docs/metrics.md)."""

    until: datetime  # the whole hours compared end here (the window starts at midnight)
    rollups: tuple[int, int]
    records: tuple[int, int]
    unordered: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    days: tuple[str, ...]  # "MM-DD" labels, oldest first
    violations_per_day: tuple[int, ...]
    exceptions_per_day: tuple[int, ...]
    top_policies: tuple[tuple[str, int], ...]
    by_tier: tuple[tuple[str, int, int], ...]  # tier, allowed, denied
    decisions: int
    denied: int
    requests: int
    pending: int
    approved: int
    resolution_hours: tuple[float, ...]  # per decided request
    # the window held more than MAX_RECORDS records: only the newest were counted (the page
    # said nothing, and its totals were lower than the trail's)
    partial: bool = False
    read: int = 0  # the records of the window read (decisions, outcomes and events)
    rollups: RollupCheck | None = None  # the rollups against the records read (not partial)

    @property
    def rollups_disagree(self) -> bool:
        """The rollups (what ``lacuna metrics`` and ``GET /api/v1/metrics`` read) count other
        decisions or denials than the records of the same whole hours, or some of those
        records were appended after a later-dated one of their user (which the rollups count
        but do not pair): their numbers for these days differ from ``exact=true``'s, or may."""
        c = self.rollups
        return c is not None and (c.rollups != c.records or c.unordered > 0)

    @property
    def median_resolution(self) -> float | None:
        return median(self.resolution_hours) if self.resolution_hours else None

    @property
    def p90_resolution(self) -> float | None:
        if not self.resolution_hours:
            return None
        ordered = sorted(self.resolution_hours)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]

    @property
    def slowest_resolution(self) -> float | None:
        return max(self.resolution_hours) if self.resolution_hours else None


def compute(audit: AuditStore, exceptions: ExceptionStore, *, now: datetime,
            days: int = 14) -> Metrics:
    """The dashboard's numbers over the last ``days`` days up to ``now``."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    labels = [(start + timedelta(days=i)).date() for i in range(days)]
    # up to now: a record dated later (another writer's clock) counted in the totals and in
    # no day of the chart
    rows, more = search(audit, AuditFilters(since=start, until=now, limit=MAX_RECORDS))
    read = len(rows)
    rows = [r for r in rows if r.kind == "decision"]
    violations = Counter(r.when.date() for r in rows if not r.allowed)
    policies = Counter(r.policy_id or "(no policy)" for r in rows if not r.allowed)
    allowed_by_tier = Counter(r.tier or "UNKNOWN" for r in rows if r.allowed)
    denied_by_tier = Counter(r.tier or "UNKNOWN" for r in rows if not r.allowed)
    tiers = [t for t in TIERS if allowed_by_tier[t] or denied_by_tier[t]]
    tiers += sorted((set(allowed_by_tier) | set(denied_by_tier)) - set(TIERS))

    # the newest MAX_RECORDS requests (a bound on what one view reads); the counts by status
    # are the database's, over every request
    requests = exceptions.list(limit=MAX_RECORDS)
    by_status = exceptions.counts()
    recent = [r for r in requests if r.created_at >= start]
    per_day = Counter(r.created_at.date() for r in recent)
    resolution = tuple(
        round((r.decided_at - r.created_at).total_seconds() / 3600, 3)
        for r in requests if r.decided_at is not None
    )
    return Metrics(
        days=tuple(f"{d:%m-%d}" for d in labels),
        violations_per_day=tuple(violations[d] for d in labels),
        exceptions_per_day=tuple(per_day[d] for d in labels),
        top_policies=tuple(policies.most_common(8)),
        by_tier=tuple((t, allowed_by_tier[t], denied_by_tier[t]) for t in tiers),
        decisions=len(rows),
        denied=sum(1 for r in rows if not r.allowed),
        requests=len(recent),
        pending=by_status.get("pending", 0),
        approved=by_status.get("approved", 0),
        resolution_hours=resolution,
        partial=more,
        read=read,
        rollups=None if more else _check_rollups(audit, rows, start, now),
    )


def _check_rollups(audit: AuditStore, rows: list[AuditRow], start: datetime, now: datetime
                   ) -> RollupCheck | None:
    """The cheap comparison of the rollups with the decision records the page has read
    (``rows``, newest first): the rollups' sums of the whole hours from ``start`` to the hour
    of ``now`` (a few hundred rows by their ``hour`` key) against the same hours' records,
    and the records appended out of time order. None when the rollups do not cover the
    whole trail (the metrics read the records then) or no whole hour has passed."""
    from lacuna.metrics import rollup

    until = now.replace(minute=0, second=0, microsecond=0)
    if until <= start:
        return None
    with audit.engine.connect() as conn:
        if not rollup.complete(conn):
            return None
        n, denied = conn.execute(select(
            func.coalesce(func.sum(rollup.hourly.c.decisions), 0),
            func.coalesce(func.sum(rollup.hourly.c.denials), 0)).where(
                rollup.hourly.c.hour >= iso(start)[:13],
                rollup.hourly.c.hour < iso(until)[:13])).one()
    whole = [r for r in rows if r.when < until]
    unordered = _unpaired(reversed(rows))
    return RollupCheck(until=until, rollups=(int(n), int(denied)),
                       records=(len(whole), sum(1 for r in whole if not r.allowed)),
                       unordered=unordered)


UNPAIRED_LOOKBACK = 200  # each user's last appended decisions a late denial is held against


def _unpaired(appended: Iterable[AuditRow]) -> int:
    """How many denials (naming a source) were appended after a decision of their user dated
    within the hour after them and sharing a source: the pairs the exact path may make
    (a resolution, a workaround) that the rollups, taking records in append order, cannot.
    Writers racing by a few milliseconds put records out of order all the time; only such a
    pair changes a number. Each denial is held against its user's last
    :data:`UNPAIRED_LOOKBACK` appended decisions (a bound on the page's work)."""
    from lacuna.metrics.rollup import WINDOW

    recent: dict[str, deque[AuditRow]] = {}
    found = 0
    for r in appended:
        mine = recent.setdefault(r.user, deque(maxlen=UNPAIRED_LOOKBACK))
        if not r.allowed and r.sources and any(
                r.when < p.when <= r.when + WINDOW and not set(p.sources).isdisjoint(r.sources)
                for p in mine):
            found += 1
        mine.append(r)
    return found
