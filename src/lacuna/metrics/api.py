"""``GovernanceMetrics``: the seed's "Measuring Success" numbers, computed from real records."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lacuna.errors import ConfigError
from lacuna.metrics import compute
from lacuna.metrics.facts import DecisionFact, SurveyFact
from lacuna.metrics.period import Period, parse_period
from lacuna.metrics.requests import requests_in
from lacuna.metrics.targets import TARGETS, Flag

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lacuna.governor import Governor
    from lacuna.metrics.requests import RequestFact

METRICS = tuple(TARGETS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Numbers:
    """What the metrics of a period are computed from (by records or by rollups)."""

    decisions: int
    denials: int
    false_positives: int
    resolved: int
    resolution_minutes: float
    workarounds: int
    covered: int
    assets: int
    audited: int
    intercepted: int
    survey: tuple[SurveyFact, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """Restrict the decisions counted: policy id, policy domain (a Rego package or its last
    segment), user group (the role), tier."""

    domain: str | None = None
    policy: str | None = None
    user_group: str | None = None
    tier: str | None = None

    def keep(self, d: DecisionFact) -> bool:
        if self.policy is not None and d.policy_id != self.policy:
            return False
        if self.user_group is not None and d.role != self.user_group:
            return False
        if self.tier is not None and (d.tier or "").upper() != self.tier.upper():
            return False
        return self.domain is None or self._domain_of(d.packages)

    def keep_exception(self, r: RequestFact) -> bool:
        if self.policy is not None and r.policy_id != self.policy:
            return False
        if self.user_group is not None and r.role != self.user_group:
            return False
        if self.tier is not None and r.tier.upper() != self.tier.upper():
            return False
        # the request's dry run's packages, matched as a decision's are (rows filed before
        # requests recorded them: their governance.domains.<name> names only)
        return self.domain is None or self._domain_of(r.packages) or self.domain in r.domains

    def _domain_of(self, packages: tuple[str, ...]) -> bool:
        return any(p == self.domain or p.rsplit(".", 1)[-1] == self.domain for p in packages)

    def to_dict(self) -> dict[str, str]:
        # an empty filter counts nothing: said as such, not dropped (the answer read as the
        # whole trail's metrics)
        return {k: v for k, v in (("domain", self.domain), ("policy", self.policy),
                                  ("user_group", self.user_group), ("tier", self.tier))
                if v is not None}


class GovernanceMetrics:
    """The governance metrics of one period, read from the audit trail, the decision log, the
    exception store and the lineage store of the current governor (or ``governor``).

    Args:
        period: ``last_7_days``, ``last_30_days``, ``last_N_days``, ``2026-Q4``, ``2026-11``,
            ``2026-10-01..2026-12-31``, a ``(start, end)`` pair or a :class:`Period`.
        domain, policy, user_group, tier: count only matching decisions (see :class:`Filters`).
        now: the end of ``last_N_days`` periods (default: now).
        exact: ``True`` reads every record of the period (and fills ``decisions`` when it
            holds at most :data:`~lacuna.metrics.exact.EXACT_RECORDS` records; a larger
            period is counted as it is read, with the same numbers);
            ``False`` requires the incremental rollups (:mod:`lacuna.metrics.rollup`); ``None``
            (default) uses the rollups when they can answer, else the records. ``source`` says
            which was used.

    Every metric is an attribute with the seed's name; ``targets``, ``flags`` and ``counts``
    hold each one's target, its flag against it and the numbers it was computed from.

    Raises:
        ConfigError: the period is not understood.
        AuditError: the audit trail cannot be read.
    """

    violation_rate: float
    false_positive_rate: float
    avg_resolution_time_minutes: float | None
    exception_rate: float
    user_satisfaction: float | None
    workaround_attempts: int
    data_coverage_percent: float
    lineage_completeness_percent: float
    audit_completeness: float
    decisions: tuple[DecisionFact, ...]  # the decisions counted (empty when from rollups)
    source: str  # "records" or "rollups" (or "server:" and the server's)
    counts: dict[str, dict[str, int]]

    def __init__(
        self,
        period: str | Period | tuple[datetime | date, datetime | date] = "last_30_days",
        *,
        domain: str | None = None,
        policy: str | None = None,
        user_group: str | None = None,
        tier: str | None = None,
        governor: Governor | None = None,
        now: datetime | None = None,
        exact: bool | None = None,
    ) -> None:
        from lacuna.governor import current

        self.period = parse_period(period, now=now)
        self.filters = Filters(domain=domain, policy=policy, user_group=user_group, tier=tier)
        gov = governor or current()
        if gov.config.server is not None:  # the state is the server's: it computes them
            self._from_server(gov, exact)
            return
        fast = None
        if not exact:
            from lacuna.metrics.fast import from_rollups

            fast = from_rollups(gov, self.period, self.filters)
        if fast is None:
            if exact is False:
                msg = (f"metrics of {self.period.label}: the rollups cannot answer this (they "
                       "are incomplete, the period is shorter than about 3 hours, or a policy "
                       "or domain filter is empty); run `lacuna metrics rebuild`, or leave "
                       "exact unset.")
                raise ConfigError(msg)
            n = self._exact(gov)
            self.source = "records"
        else:
            n = fast
            self.decisions = ()
            self.source = "rollups"
        self._fill(gov, n)

    @classmethod
    def _of_numbers(cls, period: Period, gov: Governor, n: Numbers, source: str
                    ) -> GovernanceMetrics:
        """The unfiltered metrics of ``period`` from numbers computed elsewhere (the
        compliance report's one read of the records, :mod:`lacuna.metrics.stream`)."""
        m = cls.__new__(cls)
        m.period, m.filters, m.decisions, m.source = period, Filters(), (), source
        m._fill(gov, n)
        return m

    def _fill(self, gov: Governor, n: Numbers) -> None:
        """Every metric, its counts and its flag from ``n`` and the stores'."""
        # from the audit trail first (a row deleted from the exceptions table still counts);
        # a row that is not a request Lacuna wrote is said (counts' unreadable_requests)
        filed = requests_in(gov, self.period)
        requests = [r for r in filed.facts if self.filters.keep_exception(r)]
        lineage = gov.lineage_store.completeness()
        self.violation_rate = compute.percent(n.denials, n.decisions)
        self.false_positive_rate = compute.percent(n.false_positives, n.denials)
        self.avg_resolution_time_minutes = (
            round(n.resolution_minutes / n.resolved, 2) if n.resolved else None)
        self.exception_rate = compute.percent(len(requests), n.decisions)
        self.user_satisfaction = compute.satisfaction(n.survey)
        self.workaround_attempts = n.workarounds
        self.data_coverage_percent = compute.percent(n.covered, n.assets)
        self.lineage_completeness_percent = round(100.0 * lineage.ratio, 2)
        self.audit_completeness = compute.percent(n.audited, n.intercepted)
        self.counts = {
            "violation_rate": {"denied": n.denials, "decisions": n.decisions},
            "false_positive_rate": {"reported_false_positive": n.false_positives,
                                    "denials": n.denials},
            "avg_resolution_time_minutes": {"resolved": n.resolved, "denials": n.denials},
            "exception_rate": {"exception_requests": len(requests), "decisions": n.decisions,
                               **({"unreadable_requests": filed.unreadable}
                                  if filed.unreadable else {})},
            "user_satisfaction": {"respondents": len({s.user for s in n.survey})},
            "workaround_attempts": {"attempts": n.workarounds},
            "data_coverage_percent": {"covered_assets": n.covered, "assets": n.assets},
            "lineage_completeness_percent": {"complete": lineage.complete,
                                             "derived": lineage.derived},
            "audit_completeness": {"audited": n.audited, "intercepted": n.intercepted},
        }

    def _from_server(self, gov: Governor, exact: bool | None) -> None:
        """The metrics the Lacuna server computes on its state (``GET /api/v1/metrics``) for
        this period's exact bounds, checked before any is believed: an answer about another
        period or filters, or a value that is not a number, is an error, never a metric.

        Raises:
            ServerUnavailable: no answer, an HTTP error (a 403 for a token that is neither a
                data steward's nor a compliance officer's), or an answer that is not metrics.
        """
        import urllib.parse

        from lacuna.remote.client import ServerUnavailable

        query = {"period": f"{self.period.start.isoformat()}..{self.period.end.isoformat()}",
                 **self.filters.to_dict()}
        if exact is not None:
            query["exact"] = "true" if exact else "false"
        path = "/api/v1/metrics?" + urllib.parse.urlencode(query)
        client = getattr(gov.engine, "client", None)
        if client is None:  # pragma: no cover - a server's governor always has its client
            msg = "governance metrics: lacuna.yaml names a server but no client talks to it"
            raise ServerUnavailable(msg)
        answer = client.call("GET", path)
        try:
            got = _server_metrics(answer, self.period, self.filters)
        except (KeyError, TypeError, ValueError) as exc:
            msg = (f"governance metrics: the Lacuna server {client.shown} answered GET "
                   f"/api/v1/metrics with something that is not the metrics asked for "
                   f"({exc}); check that it runs this version of Lacuna")
            raise ServerUnavailable(msg) from None
        self.counts = {}
        for name, (value, counts) in got.items():
            setattr(self, name, value)
            self.counts[name] = counts
        self.decisions = ()
        self.source = "server:" + str(answer["governance"]["source"])

    def _exact(self, gov: Governor) -> Numbers:
        """Every record of the period read and classified (what the definitions say), in
        batches: only the facts are held. A period of more than
        :data:`~lacuna.metrics.exact.EXACT_RECORDS` records is counted as it is read instead
        (:meth:`_streamed`), and one of more than
        :data:`~lacuna.metrics.exact.STREAM_RECORDS` is a ``ConfigError``."""
        from lacuna.metrics import exact

        gov.audit.check_times()  # a column that is not a time is outside every read window
        if exact.check_size(gov, self.period) > exact.EXACT_RECORDS:
            return self._streamed(gov)
        every, feedback, survey = exact.read_facts(gov, self.period)
        decisions = [d for d in every if self.filters.keep(d)]
        denials = [d for d in decisions if not d.allowed]
        resolved = compute.resolutions(decisions)
        covered, assets = compute.coverage(decisions)
        audited = {d.operation_id for d in every}
        self.decisions = tuple(decisions)
        return Numbers(
            decisions=len(decisions), denials=len(denials),
            false_positives=len(compute.false_positives(denials, feedback)),
            resolved=len(resolved), resolution_minutes=sum(r.minutes for r in resolved),
            workarounds=len(compute.workarounds(decisions)), covered=covered, assets=assets,
            audited=len(audited),
            intercepted=len(audited | intercepted_operations(gov, self.period)),
            survey=tuple(survey))

    def _streamed(self, gov: Governor) -> Numbers:
        """The exact path's numbers from one read of the period in bounded memory
        (:mod:`lacuna.metrics.stream`, as the compliance report reads it): holding each
        decision refused a period of more than 500,000 records. ``decisions`` stays empty.

        Raises:
            TooManyRecords: the trail's ``timestamp`` column is not in time order here, so
                the period can only be read by holding it, which is past its limit.
        """
        from lacuna.metrics import stream
        from lacuna.metrics.exact import EXACT_RECORDS, TooManyRecords

        try:
            numbers, _ = stream.tally(gov, self.period, self.filters)
        except stream.Unordered:
            msg = (f"metrics of {self.period.label}: the audit trail's timestamp column is not "
                   "in time order (a trail no writer has opened since it was normalised), and "
                   f"the period holds more than {EXACT_RECORDS:,} records, more than are read "
                   "that way; open the trail once with a writer (any `lacuna` command that "
                   "records), leave exact unset so the rollups answer, or ask a shorter period.")
            raise TooManyRecords(msg) from None
        self.decisions = ()
        return numbers

    @property
    def targets(self) -> dict[str, str]:
        return {name: t.text for name, t in TARGETS.items()}

    @property
    def flags(self) -> dict[str, Flag]:
        """Each metric against its target; an empty denominator is ``no-data``, not ``ok``."""
        out = {}
        for name, target in TARGETS.items():
            value = getattr(self, name)
            empty = any(v == 0 for k, v in self.counts[name].items()
                        if k in ("decisions", "denials", "assets", "intercepted", "respondents",
                                 "resolved"))
            out[name] = target.judge(None if empty and name != "workaround_attempts" else value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: what ``/api/v1/metrics`` and ``lacuna metrics --json`` give."""
        flags = self.flags
        return {
            "period": self.period.to_dict(),
            "filters": self.filters.to_dict(),
            "metrics": {name: {"value": getattr(self, name), "target": TARGETS[name].text,
                               "unit": TARGETS[name].unit, "flag": flags[name].value,
                               "counts": self.counts[name]} for name in METRICS},
        }

    def __str__(self) -> str:
        """The seed's printout, one line per metric."""
        return "\n".join([
            f"Policy violation rate: {self.violation_rate}%",
            f"False positive rate: {self.false_positive_rate}%",
            "Average resolution time: " + _or_none(self.avg_resolution_time_minutes, " min",
                                                   "no resolved denials in the period"),
            f"Exception request rate: {self.exception_rate}%",
            "User satisfaction: " + _or_none(self.user_satisfaction, "/5",
                                             "no survey answers in the period"),
            f"Workaround attempts: {self.workaround_attempts}",
            f"Data coverage: {self.data_coverage_percent}%",
            f"Lineage completeness: {self.lineage_completeness_percent}%",
            f"Audit completeness: {self.audit_completeness}%",
        ])

    def __repr__(self) -> str:
        filters = "".join(f", {k}={v!r}" for k, v in self.filters.to_dict().items())
        return f"GovernanceMetrics(period={self.period.label!r}{filters})"


_MAY_BE_NONE = ("avg_resolution_time_minutes", "user_satisfaction")


def _server_metrics(answer: Any, period: Period, filters: Filters
                    ) -> dict[str, tuple[float | int | None, dict[str, int]]]:
    """Each metric's value and counts in a server's ``/api/v1/metrics`` answer, after checking
    it is about ``period`` and ``filters``.

    Raises:
        KeyError, TypeError, ValueError: the answer is not that (the message says what).
    """
    g = answer["governance"]
    if not isinstance(g, dict) or not isinstance(g.get("metrics"), dict):
        msg = "no governance metrics in the answer"
        raise TypeError(msg)
    bounds = g["period"]
    if (datetime.fromisoformat(bounds["start"]) != period.start
            or datetime.fromisoformat(bounds["end"]) != period.end):
        msg = f"metrics of {bounds['start']}..{bounds['end']}, not of the period asked for"
        raise ValueError(msg)
    if _tier_upper(g["filters"]) != _tier_upper(filters.to_dict()):  # (the server: Tier.parse)
        msg = f"metrics filtered by {g['filters']!r}, not by {filters.to_dict()!r}"
        raise ValueError(msg)
    out: dict[str, tuple[float | int | None, dict[str, int]]] = {}
    for name in METRICS:
        value, counts = g["metrics"][name]["value"], g["metrics"][name]["counts"]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number or (value is None and name in _MAY_BE_NONE)) or (
                number and not math.isfinite(value)):
            msg = f"{name} is {value!r}, not a number"
            raise ValueError(msg)
        if name == "workaround_attempts" and not isinstance(value, int):
            msg = f"{name} is {value!r}, not a whole number"
            raise ValueError(msg)
        if not isinstance(counts, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in counts.items()):
            msg = f"{name}'s counts are {counts!r}, not whole numbers by name"
            raise ValueError(msg)
        out[name] = (value, counts)
    return out


def _tier_upper(filters: Any) -> Any:
    """``filters`` with the tier as Lacuna spells it (tiers are compared case-insensitively)."""
    if isinstance(filters, dict) and isinstance(filters.get("tier"), str):
        return {**filters, "tier": filters["tier"].upper()}
    return filters


def _or_none(value: float | None, unit: str, why: str) -> str:
    """A metric with no data says why, not ``None/5``."""
    return f"{value}{unit}" if value is not None else f"n/a ({why})"


def intercepted_operations(gov: Governor, period: Period) -> set[str]:
    """Operation ids in the decision log (SQL sink) in the period: every operation the engine
    decided, whether or not the audit trail took it."""
    return set(logged_operations(gov, period))


def logged_operations(gov: Governor, period: Period) -> Iterator[str]:
    """The operation ids of the decision log (SQL sink) in the period, as they are read (an id
    logged twice comes twice): :func:`intercepted_operations` without the set."""
    from lacuna.audit.schema import open_state_database
    from lacuna.policy import log_sinks

    settings = gov.config.policy.decision_log
    if settings is None or settings.type != "sql":
        return
    sink = getattr(gov.engine, "decision_log", None)
    if sink is not None:
        sink.flush()
    # The sink's own engine when the governor writes the log (no schema check per call).
    shared = sink.engine if isinstance(sink, log_sinks.SqlDecisionLog) else None
    engine = shared or open_state_database(settings.url or gov.config.audit_url,
                                           log_sinks.metadata)
    t = log_sinks.table
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"  # the decision log's timestamps (UTC, microseconds)
    start, end = period.start.strftime(fmt), period.end.strftime(fmt)
    try:  # streamed (a server-side cursor on PostgreSQL): only the ids are kept, no body
        with engine.connect() as conn:
            rows = conn.execution_options(yield_per=2000).execute(
                select(t.c.operation_id, t.c.body).where(t.c.timestamp >= start,
                                                         t.c.timestamp < end))
            yield from (str(r.operation_id) for r in rows
                        if r.operation_id and not _dry_run(r.body))
    finally:
        if shared is None:
            engine.dispose()


def _dry_run(body: str) -> bool:
    """A ``lacuna.check`` (dry run: nothing was about to happen) is not an intercepted operation."""
    try:
        context = json.loads(body).get("input", {}).get("context", {})
    except (ValueError, AttributeError):
        return False
    return isinstance(context, dict) and context.get("method") == "check"


def time_series(
    period: str | Period | tuple[datetime | date, datetime | date] = "last_30_days",
    *,
    bucket_days: int = 1,
    governor: Governor | None = None,
    now: datetime | None = None,
    domain: str | None = None,
    policy: str | None = None,
    user_group: str | None = None,
    tier: str | None = None,
) -> list[dict[str, Any]]:
    """The metrics per bucket of ``bucket_days`` (a whole number, at least 1; else a
    :class:`ConfigError`) across the period (oldest first), the last bucket cut at the
    period's end, for charts: ``[{"start": ..., "end": ..., "violation_rate": ..., ...}, ...]``."""
    from datetime import timedelta

    if isinstance(bucket_days, bool) or not isinstance(bucket_days, int) or bucket_days < 1:
        # 0 (or less) never moved past the period's start: the loop below ran forever
        msg = (f"time_series: bucket_days must be a whole number of days, at least 1, got "
               f"{bucket_days!r}: e.g. bucket_days=1 (daily) or 7 (weekly).")
        raise ConfigError(msg)
    whole = parse_period(period, now=now)
    out = []
    start = whole.start
    while start < whole.end:
        end = min(start + timedelta(days=bucket_days), whole.end)
        m = GovernanceMetrics(Period(start, end, f"{start.date()}"), governor=governor,
                              domain=domain, policy=policy, user_group=user_group, tier=tier)
        out.append({"start": start.isoformat(), "end": end.isoformat(),
                    **{name: getattr(m, name) for name in METRICS}})
        start = end
    return out
