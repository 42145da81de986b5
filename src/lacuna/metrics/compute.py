"""The metric definitions, as pure functions over facts (docs/metrics.md says the same in words).

Every rate is a percentage rounded to 2 decimals; an empty denominator gives 0.0 for rates and
``None`` for averages (nothing to average).
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lacuna.metrics.facts import DecisionFact, FeedbackFact, SurveyFact

RESOLUTION_WINDOW = timedelta(minutes=60)  # a denial is resolved within this, or not at all
WORKAROUND_WINDOW = timedelta(minutes=60)


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _overlap(a: DecisionFact, b: DecisionFact) -> bool:
    return bool(set(a.sources) & set(b.sources))


def _place(destination: str) -> str:
    """Where a destination is: its folder (files) or scheme and host (URLs)."""
    if "://" in destination:
        scheme, _, rest = destination.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return os.path.dirname(os.path.abspath(os.path.expanduser(destination)))


def is_workaround(denial: DecisionFact, later: DecisionFact) -> bool:
    """Whether ``later`` tries to get round ``denial``: same user, same data, within the window,
    and either a retry of the same action to a changed destination that is denied again, or an
    allowed operation that sends the data to the same place the denial refused (renamed,
    reshaped or by another route). An operation an approved exception covered is the compliant
    path, not a workaround (an exception id that was not honoured does not count)."""
    if (denial.allowed or denial.destination is None or later.user != denial.user
            or (later.allowed and later.exception_approved)
            or not _overlap(denial, later) or later.destination is None
            or not timedelta(0) < later.when - denial.when <= WORKAROUND_WINDOW):
        return False
    if not later.allowed:
        return later.action == denial.action and later.destination != denial.destination
    return _place(later.destination) == _place(denial.destination)


def workarounds(decisions: Sequence[DecisionFact]) -> list[DecisionFact]:
    """The operations that are workaround attempts (each counted once), in ``decisions``'
    order. Each is held only against its user's denials of the window before it (found by
    bisection), so a month of records costs n log n, not decisions times denials."""
    denials: dict[str, list[DecisionFact]] = {}
    for d in decisions:
        if not d.allowed and not d.engine_error and d.destination is not None:
            denials.setdefault(d.user, []).append(d)
    times: dict[str, list[datetime]] = {}
    for user, theirs in denials.items():
        theirs.sort(key=lambda d: d.when)
        times[user] = [d.when for d in theirs]
    out = []
    for op in decisions:
        held = denials.get(op.user)
        if held is None or op.destination is None:
            continue
        when = times[op.user]
        window = held[bisect_left(when, op.when - WORKAROUND_WINDOW):bisect_left(when, op.when)]
        if any(is_workaround(d, op) for d in window):
            out.append(op)
    return out


@dataclass(frozen=True, slots=True)
class Resolution:
    denial: DecisionFact
    by: DecisionFact
    minutes: float


def resolutions(decisions: Sequence[DecisionFact]) -> list[Resolution]:
    """Each denial followed, within the window, by an allowed operation of the same user on the
    same data that is not a workaround: the first such operation resolves it. Each denial is
    held against its user's later decisions only (in denial time order, as before)."""
    ordered = sorted(decisions, key=lambda d: d.when)
    tricks = {d.record_id for d in workarounds(ordered)}
    theirs: dict[str, list[DecisionFact]] = {}  # each user's decisions, in time order
    for d in ordered:
        theirs.setdefault(d.user, []).append(d)
    at = {id(d): i for same in theirs.values() for i, d in enumerate(same)}
    out = []
    for denial in ordered:
        if denial.allowed or denial.engine_error:
            continue
        same = theirs[denial.user]
        for j in range(at[id(denial)] + 1, len(same)):
            later = same[j]
            if later.when - denial.when > RESOLUTION_WINDOW:
                break
            if (later.allowed and _overlap(denial, later)
                    and later.record_id not in tricks):
                minutes = (later.when - denial.when).total_seconds() / 60
                out.append(Resolution(denial, later, minutes))
                break
    return out


def false_positives(denials: Iterable[DecisionFact], feedback: Iterable[FeedbackFact]) -> set[str]:
    """The denials whose latest feedback says "false positive" (a later "this was right" from
    the same user withdraws it)."""
    ids = {d.record_id for d in denials}
    latest: dict[tuple[str, str], FeedbackFact] = {}
    for fb in sorted(feedback, key=lambda f: f.when):
        if fb.decision_record_id in ids:
            latest[(fb.decision_record_id, fb.user)] = fb
    return {key[0] for key, fb in latest.items() if fb.false_positive}


def satisfaction(answers: Iterable[SurveyFact]) -> float | None:
    """The mean of each user's latest answer in the period, 1–5; None without answers."""
    latest: dict[str, SurveyFact] = {}
    for a in sorted(answers, key=lambda s: s.when):
        latest[a.user] = a
    if not latest:
        return None
    return round(sum(a.score for a in latest.values()) / len(latest), 2)


def coverage(decisions: Iterable[DecisionFact], known: Iterable[str] = ()) -> tuple[int, int]:
    """(covered, assets): assets are the datasets named as a source or destination of a decision,
    plus ``known`` (from the lineage store); covered ones were a source or destination of a
    decision that at least one policy evaluated without an engine error."""
    assets, covered = set(known), set()
    for d in decisions:
        names = set(d.sources) | ({d.destination} if d.destination else set())
        assets |= names
        if d.packages and not d.engine_error:
            covered |= names
    return len(covered & assets), len(assets)
