"""Reading a period's facts for the exact metrics in bounded memory and bounded work.

The exact computation held every record of the period at once (its body text, its parsed
body and its facts): ``GET /api/v1/metrics?period=last_36500_days&exact=true`` read the whole
trail into one process. Records are now read in batches of :data:`BATCH`, in time order
(the ``timestamp`` index), each turned into its fact and dropped. A period holding more than
:data:`EXACT_RECORDS` records is counted as it is read (:mod:`lacuna.metrics.stream`) rather
than held, and one holding more than :data:`STREAM_RECORDS` is refused before any is read,
with what to do instead (the rollups answer any period in constant memory: ``lacuna metrics
rebuild``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from lacuna.audit.record import iso
from lacuna.audit.schema import records
from lacuna.errors import ConfigError
from lacuna.metrics.facts import DecisionFact, FeedbackFact, SurveyFact, fact_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from sqlalchemy import ColumnElement

    from lacuna.governor import Governor
    from lacuna.metrics.period import Period

BATCH = 2000  # records read (and held) at once
# The most records of a period (decisions, outcomes and events) whose decisions the exact path
# holds (``GovernanceMetrics.decisions``): the pairs it computes span the period, about 1.1 kB
# of memory a decision. A larger period is counted as it is read instead, in bounded memory
# (lacuna.metrics.stream), with the same numbers and no ``decisions``.
EXACT_RECORDS = 500_000
# The most records of a period the exact path reads at all: a bound on one request's time
# (``GET /api/v1/metrics?exact=true`` holds a server thread while it reads; about a minute a
# million records, measured with the compliance report's reading of the same stream).
STREAM_RECORDS = 2_000_000


def _window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(records.c.timestamp >= iso(since))
    if until is not None:
        where.append(records.c.timestamp < iso(until))
    return where


class TooManyRecords(ConfigError):
    """A period holds more records than the exact computation reads (:func:`check_size`)."""


def check_size(gov: Governor, period: Period) -> int:
    """How many records ``period`` holds (counted up to :data:`STREAM_RECORDS` and one more,
    on the ``timestamp`` index: the count's own work is bounded); more than that is refused.
    Counted within the period itself, not its read window (a day wider each side, for trails
    no writer has migrated): only the period's facts are read, and a three-hour period of a
    busy trail (too short for the rollups) would be refused for the two days around it.

    Raises:
        TooManyRecords: the period holds more (what to ask instead).
    """
    held = (select(records.c.seq).where(*_window(period.start, period.end))
            .limit(STREAM_RECORDS + 1))
    (found,) = gov.audit.rows(select(func.count()).select_from(held.subquery()))[0]
    if int(found) > STREAM_RECORDS:
        msg = (f"metrics of {period.label}: the period holds more than {STREAM_RECORDS:,} "
               "audit records, more than the exact computation reads in one request (it "
               "reads every record, about a minute a million). Leave exact unset, or "
               "exact=false, so the rollups answer it (run `lacuna metrics rebuild` if they "
               "are incomplete), or ask a shorter period.")
        raise TooManyRecords(msg)
    return int(found)


def read_facts(gov: Governor, period: Period) -> tuple[
        list[DecisionFact], list[FeedbackFact], list[SurveyFact]]:
    """The decisions, feedback and survey answers of ``period``, oldest first (ties by
    ``seq``), read :data:`BATCH` records at a time; only the facts are kept.

    Raises:
        AuditError: the trail cannot be read, or a record's time is no time (named).
    """
    decisions: list[DecisionFact] = []
    feedback: list[FeedbackFact] = []
    survey: list[SurveyFact] = []
    seen: dict[Any, Any] = {}  # one object per distinct value: a user's name, the sources...
    for fact in iter_facts(gov, period):
        if isinstance(fact, DecisionFact):
            decisions.append(_shared(fact, seen))
        elif isinstance(fact, FeedbackFact):
            feedback.append(fact)
        else:
            survey.append(fact)
    return decisions, feedback, survey


def iter_facts(gov: Governor, period: Period) -> Iterator[
        DecisionFact | FeedbackFact | SurveyFact]:
    """The facts of ``period``'s records, in the ``timestamp`` column's order (ties by
    ``seq``), read :data:`BATCH` records at a time and none kept.

    Raises:
        AuditError: the trail cannot be read, or a record's time is no time (named).
    """
    from lacuna.audit.store import READ_COLUMNS, _to_record

    since, until = period.read_bounds()
    stmt = (select(*READ_COLUMNS).where(*_window(since, until))
            .order_by(records.c.timestamp, records.c.seq).limit(BATCH))
    after = stmt
    while True:
        rows = gov.audit.rows(after)
        for row in rows:
            record = _to_record(row)  # a column that is no time: an AuditError naming it
            if record.timestamp not in period:
                continue
            fact = fact_of(record)
            if fact is not None:
                yield fact
        if len(rows) < BATCH:
            return
        last = rows[-1]  # the next batch: after this one in (timestamp, seq) order
        after = stmt.where(records.c.timestamp >= last.timestamp,
                           or_(records.c.timestamp > last.timestamp,
                               records.c.seq > last.seq))


def _shared(fact: DecisionFact, seen: dict[Any, Any]) -> DecisionFact:
    """``fact`` holding the one copy of each value it repeats from others (names, tuples of
    sources, packages, columns): a month of one team's decisions holds a few hundred distinct
    values, each decision its own copies of them (about half its memory). A value that is
    not hashable (a body's destination written as a list) is kept as it is."""

    def one(value: Any) -> Any:
        try:
            return seen.setdefault(value, value)
        except TypeError:
            return value

    return replace(fact, user=one(fact.user), role=one(fact.role), action=one(fact.action),
                   sources=one(fact.sources), destination=one(fact.destination),
                   tier=one(fact.tier), policy_id=one(fact.policy_id),
                   packages=one(fact.packages), policy_ids=one(fact.policy_ids),
                   columns=one(fact.columns))
