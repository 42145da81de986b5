"""The exact metrics of a period, and its decisions broken down, in bounded memory.

The compliance report broke down every decision of its period through ``GovernanceMetrics(
exact=True)``, which holds each decision's facts at once (the pairs of
:func:`lacuna.metrics.compute.resolutions` span the period), so a period of more than
:data:`~lacuna.metrics.exact.EXACT_RECORDS` records was refused: a yearly report of a busy
deployment could not be made at all. Here the period's records are read in time order, a batch
at a time (:func:`lacuna.metrics.exact.iter_facts`), and each decision is counted as it
arrives. What is held is what the definitions need to look back on: each user's decisions of
the last :data:`~lacuna.metrics.compute.WORKAROUND_WINDOW` (a resolution or a workaround pairs
two operations of one user at most an hour apart), the distinct assets, a 16-byte digest of
each operation id (for audit completeness), the resolved denials' minutes (summed in the
exact path's order, so the average is the same float) and the feedback and survey events.

The numbers are the exact path's (:meth:`GovernanceMetrics._exact
<lacuna.metrics.api.GovernanceMetrics>`), by the same definitions, which
``tests/metrics/test_metrics6_stream.py`` compares on the same records. The exact path sorts
the decisions by time; the records are read in the ``timestamp`` column's order, which is the
same on every trail a writer has normalised (state revision 0016). A record read out of time
order (a read-only store on a trail not yet normalised) raises :class:`Unordered`, and the
caller reads the period the exact way instead.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lacuna.metrics import compute
from lacuna.metrics.facts import DecisionFact, FeedbackFact, SurveyFact

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from lacuna.governor import Governor
    from lacuna.metrics.api import Filters, Numbers
    from lacuna.metrics.period import Period

WINDOW = max(compute.RESOLUTION_WINDOW, compute.WORKAROUND_WINDOW)


class Unordered(Exception):  # an internal signal: never leaves lacuna.metrics
    """A record came before one with an earlier time: the stream cannot pair it as the exact
    path (which sorts) does."""


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(slots=True)
class _Open:
    """One of a user's kept decisions, while a later one can still pair with it."""

    fact: DecisionFact
    order: int  # its place among the kept decisions (the exact path's time order)
    resolved: bool = False


@dataclass(slots=True)
class Tally:
    """The running counts of one period's decisions, fed in time order (:meth:`add`)."""

    keep: Callable[[DecisionFact], bool]
    decisions: int = 0
    denials: int = 0
    tricks: int = 0
    by_policy: Counter[str] = field(default_factory=Counter)
    policy_denials: Counter[str] = field(default_factory=Counter)
    by_action: Counter[str] = field(default_factory=Counter)
    action_denials: Counter[str] = field(default_factory=Counter)
    assets: set[str] = field(default_factory=set)
    covered: set[str] = field(default_factory=set)
    operations: bytearray = field(default_factory=bytearray)  # 16-byte digests, appended
    feedback: list[FeedbackFact] = field(default_factory=list)
    survey: dict[str, SurveyFact] = field(default_factory=dict)  # each user's latest answer
    _minutes: list[tuple[int, float]] = field(default_factory=list)  # (denial's order, min)
    _users: dict[str, deque[_Open]] = field(default_factory=dict)  # denials, oldest first
    _last: datetime | None = None
    _kept: int = 0

    def add(self, fact: DecisionFact | FeedbackFact | SurveyFact) -> None:
        """Count one fact of the period (facts arrive oldest first, ties in ``seq`` order).

        Raises:
            Unordered: the fact is older than the one before it.
        """
        if self._last is not None and fact.when < self._last:
            raise Unordered
        self._last = fact.when
        if isinstance(fact, FeedbackFact):
            self.feedback.append(fact)
        elif isinstance(fact, SurveyFact):
            self.survey.pop(fact.user, None)  # the latest last (compute.satisfaction's order)
            self.survey[fact.user] = fact
        else:
            self._decision(fact)

    def _decision(self, d: DecisionFact) -> None:
        self.operations += _digest(d.operation_id)
        if self.keep(d):
            self.count(d)
            self._pair(d)

    def count(self, d: DecisionFact) -> None:
        """Count a kept decision's totals, breakdown and assets (in any order; no pairing)."""
        self.decisions += 1
        self.by_action[d.action] += 1
        for pid in d.policy_ids or ((d.policy_id,) if d.policy_id else ()):
            self.by_policy[pid] += 1
        if not d.allowed:
            self.denials += 1
            self.policy_denials[d.policy_id or "(no policy)"] += 1
            self.action_denials[d.action] += 1
        names = set(d.sources) | ({d.destination} if d.destination else set())
        self.assets |= names
        if d.packages and not d.engine_error:
            self.covered |= names

    def _pair(self, d: DecisionFact) -> None:
        """compute.workarounds and compute.resolutions for ``d``, against its user's denials
        of the window before it (the only decisions either definition pairs it with)."""
        order = self._kept
        self._kept += 1
        if self._kept % 4096 == 0:  # users gone quiet: their windows are over
            self._forget(d.when)
        held = self._users.get(d.user)
        if held:
            while held and d.when - held[0].fact.when > WINDOW:
                held.popleft()
            trick = d.destination is not None and any(
                o.fact.destination is not None and compute.is_workaround(o.fact, d)
                for o in held)
            self.tricks += trick
            if d.allowed and not trick:
                for o in held:  # each open denial's first later allowed operation on its data
                    if (not o.resolved and d.when - o.fact.when <= compute.RESOLUTION_WINDOW
                            and not set(o.fact.sources).isdisjoint(d.sources)):
                        o.resolved = True
                        self._minutes.append(
                            (o.order, (d.when - o.fact.when).total_seconds() / 60))
        # only a denial without an engine error is paired later (resolved, or worked round)
        if not d.allowed and not d.engine_error:
            self._users.setdefault(d.user, deque()).append(_Open(d, order))

    def _forget(self, now: datetime) -> None:
        for user in [u for u, held in self._users.items()
                     if not held or now - held[-1].fact.when > WINDOW]:
            del self._users[user]

    def numbers(self, denied: Iterable[DecisionFact], logged: Iterable[str]) -> Numbers:
        """The period's numbers: ``denied`` are the kept denials of the period that its
        feedback names (few: :func:`named_denials`), ``logged`` the decision log's operation
        ids of the period."""
        from lacuna.metrics.api import Numbers

        self._minutes.sort()  # the exact path adds them in the denials' time order
        audited = _distinct(bytes(self.operations))
        every = bytearray(self.operations)
        for op in logged:
            every += _digest(op)
        return Numbers(
            decisions=self.decisions, denials=self.denials,
            false_positives=len(compute.false_positives(denied, self.feedback)),
            resolved=len(self._minutes), resolution_minutes=sum(m for _, m in self._minutes),
            workarounds=self.tricks, covered=len(self.covered & self.assets),
            assets=len(self.assets), audited=audited, intercepted=_distinct(bytes(every)),
            survey=tuple(self.survey.values()))

    def breakdown(self) -> tuple[tuple[tuple[str, int, int], ...],
                                 tuple[tuple[str, int, int], ...]]:
        """(by policy, by action): (name, decisions, denials), most denials first."""
        policies, denials = self.by_policy, self.policy_denials
        by_policy = tuple(sorted(((p, max(policies[p], denials[p]), denials[p])
                                  for p in set(policies) | set(denials)),
                                 key=lambda r: (-r[2], -r[1], r[0])))
        by_action = tuple(sorted(((a, n, self.action_denials[a])
                                  for a, n in self.by_action.items()),
                                 key=lambda r: (-r[2], -r[1], r[0])))
        return by_policy, by_action


def _distinct(digests: bytes) -> int:
    """How many distinct 16-byte digests ``digests`` holds (sorted by numpy: 16 bytes each,
    where a set of the ids held about 100 bytes each)."""
    if not digests:
        return 0
    return int(np.unique(np.frombuffer(digests, dtype="V16")).size)


def named_denials(gov: Governor, period: Period, feedback: Iterable[FeedbackFact],
                  keep: Callable[[DecisionFact], bool]) -> list[DecisionFact]:
    """The decisions the feedback names that are denials of ``period`` kept by ``keep``: what
    the exact path's denials list holds of them (read by id, a few hundred at a time)."""
    from lacuna.metrics.facts import fact_of

    ids = sorted({f.decision_record_id for f in feedback})
    out: list[DecisionFact] = []
    for start in range(0, len(ids), 500):
        for record in gov.audit.get_many(ids[start:start + 500]).values():
            if record.timestamp not in period:
                continue
            fact = fact_of(record)
            if isinstance(fact, DecisionFact) and not fact.allowed and keep(fact):
                out.append(fact)
    return out


def tally(gov: Governor, period: Period, filters: Filters) -> tuple[Numbers, Tally]:
    """The numbers of ``period`` for ``filters`` as the exact path computes them, and the
    tally (its breakdown by policy and action), reading each record once.

    Raises:
        Unordered: the trail's ``timestamp`` column is not in time order here.
        AuditError: the trail cannot be read, or a record is not what Lacuna writes (named).
    """
    from lacuna.metrics.api import logged_operations
    from lacuna.metrics.exact import iter_facts

    counted = Tally(keep=filters.keep)
    for fact in iter_facts(gov, period):
        counted.add(fact)
    denied = named_denials(gov, period, counted.feedback, filters.keep)
    return counted.numbers(denied, logged_operations(gov, period)), counted
