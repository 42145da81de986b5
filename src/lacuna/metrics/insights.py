"""Policy-improvement insights: which policies deny, get excepted and get reported wrong most,
the seed's diagnosis for each, the decisions behind them, and the columns reported wrong.

The seed's "Measure and Improve": high violation rate → policies too strict or unclear; high
false positive rate → classification needs tuning; high exception rate → policies don't match
business needs; low user satisfaction → friction too high.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lacuna.metrics import compute
from lacuna.metrics.exact import read_facts
from lacuna.metrics.period import Period, parse_period
from lacuna.metrics.requests import requests_in
from lacuna.metrics.targets import TARGETS, Flag

if TYPE_CHECKING:
    from lacuna.governor import Governor

DIAGNOSES = {
    "violation_rate": "high violation rate: policies too strict or unclear",
    "false_positive_rate": "high false positive rate: classification needs tuning",
    "exception_rate": "high exception rate: policies don't match business needs",
    "user_satisfaction": "low user satisfaction: friction too high",
}
EXAMPLES = 5  # decisions shown per policy


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyInsight:
    """One policy's figures in the period and what they suggest."""

    policy_id: str
    decisions: int  # decisions the policy evaluated
    denials: int  # denials it decided
    false_positives: int
    exception_requests: int
    violation_rate: float
    false_positive_rate: float
    exception_rate: float
    diagnoses: tuple[str, ...]
    examples: tuple[str, ...]  # record ids of denials (false positives first)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True, kw_only=True)
class Insights:
    period: Period
    policies: tuple[PolicyInsight, ...]  # worst first
    columns_reported_wrong: tuple[tuple[str, int], ...]  # (column, false-positive reports)
    user_satisfaction: float | None
    diagnoses: tuple[str, ...]  # overall (satisfaction)

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period.to_dict(),
                "policies": [p.to_dict() for p in self.policies],
                "columns_reported_wrong": [list(c) for c in self.columns_reported_wrong],
                "user_satisfaction": self.user_satisfaction, "diagnoses": list(self.diagnoses)}

    def __str__(self) -> str:
        lines = [f"Policy insights ({self.period.label})"]
        if not self.policies:
            lines.append("  no policy decided anything in this period")
        for p in self.policies:
            lines.append(f"  {p.policy_id}: {p.denials}/{p.decisions} denied "
                         f"({p.violation_rate}%), {p.false_positives} reported false positive "
                         f"({p.false_positive_rate}%), {p.exception_requests} exception "
                         f"request(s) ({p.exception_rate}%)")
            lines.extend(f"    → {d}" for d in p.diagnoses)
            if p.examples:
                lines.append(f"    decisions: {', '.join(p.examples)}")
        if self.columns_reported_wrong:
            lines.append("Columns most often in denials reported as false positives:")
            # names come from the data's headers: shown as escapes, never obeyed by a terminal
            from lacuna.exceptions.shown import visible

            lines.extend(f"  {visible(name, one_line=True)}: {n}"
                         for name, n in self.columns_reported_wrong)
        lines.extend(f"→ {d}" for d in self.diagnoses)
        return "\n".join(lines)


def insights(
    period: str | Period | tuple[datetime | date, datetime | date] = "last_30_days",
    *,
    governor: Governor | None = None,
    now: datetime | None = None,
) -> Insights:
    """The policies ranked by violation, false-positive and exception rate, each flagged
    against the seed's targets, and the columns of the denials reported as false positives."""
    from lacuna.governor import current
    from lacuna.remote.client import refuse_local_state

    window = parse_period(period, now=now)
    gov = governor or current()
    refuse_local_state(gov.config, "metrics insights", "Run `lacuna metrics insights` on "
                       "the server's host; the metrics: GET /api/v1/metrics.")
    gov.audit.check_times()  # a column that is not a time is outside every read window
    # the period's facts, read a batch at a time (lacuna.metrics.exact): every record of the
    # period was held at once with its body (+474 MB for 200,000 records; about 4 times what
    # the facts take). Oldest first by time (ties by seq), where it was by seq: the same
    # order unless records were appended out of time order (then the examples may differ)
    decisions, feedback, survey = read_facts(gov, window)
    denials = [d for d in decisions if not d.allowed]
    fps = compute.false_positives(denials, feedback)
    requests = Counter(r.policy_id for r in requests_in(gov, window).facts if r.policy_id)
    ids = sorted({p for d in decisions for p in d.policy_ids} | {
        d.policy_id for d in denials if d.policy_id})
    out = []
    for pid in ids:
        evaluated = [d for d in decisions if pid in d.policy_ids or d.policy_id == pid]
        denied = [d for d in denials if d.policy_id == pid]
        wrong = [d for d in denied if d.record_id in fps]
        rates = {"violation_rate": compute.percent(len(denied), len(evaluated)),
                 "false_positive_rate": compute.percent(len(wrong), len(denied)),
                 "exception_rate": compute.percent(requests[pid], len(evaluated))}
        out.append(PolicyInsight(
            policy_id=pid, decisions=len(evaluated), denials=len(denied),
            false_positives=len(wrong), exception_requests=requests[pid], **rates,
            diagnoses=tuple(DIAGNOSES[k] for k, v in rates.items()
                            if TARGETS[k].judge(v) is Flag.MISSED),
            examples=tuple(d.record_id for d in [*wrong, *[d for d in denied if d not in wrong]]
                           [:EXAMPLES])))
    out.sort(key=lambda p: (-p.false_positive_rate, -p.violation_rate, -p.exception_rate,
                            p.policy_id))
    columns = Counter(c for d in denials if d.record_id in fps for c in d.columns)
    satisfaction = compute.satisfaction(survey)
    overall = ((DIAGNOSES["user_satisfaction"],)
               if TARGETS["user_satisfaction"].judge(satisfaction) is Flag.MISSED else ())
    return Insights(period=window, policies=tuple(out),
                    columns_reported_wrong=tuple(columns.most_common(10)),
                    user_satisfaction=satisfaction, diagnoses=overall)
