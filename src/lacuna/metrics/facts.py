"""What the metrics count, read from audit records: decisions, feedback and survey answers.

Decision records are the audit records without a ``kind`` (outcome and exception events are
not decisions). Feedback and survey answers are audit events of ``kind`` ``feedback`` and
``survey`` (see :mod:`lacuna.metrics.feedback`), hash-chained like everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from lacuna.audit.record import AuditRecord

FEEDBACK = "feedback"
SURVEY = "survey"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionFact:
    record_id: str
    operation_id: str
    when: datetime
    user: str
    role: str
    action: str
    sources: tuple[str, ...]
    destination: str | None
    tier: str | None
    allowed: bool
    policy_id: str | None
    packages: tuple[str, ...]  # the Rego packages that evaluated it
    policy_ids: tuple[str, ...]  # the policies that evaluated it
    columns: tuple[str, ...]  # the columns classified as not public (names only)
    engine_error: str | None
    exception_id: str | None
    exception_approved: bool = False  # a verified grant covered it (the compliant path)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackFact:
    decision_record_id: str
    when: datetime
    user: str
    false_positive: bool
    comment: str
    policy_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyFact:
    when: datetime
    user: str
    score: int


def section(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``body[name]`` when it is an object, else empty (a record written by an older or
    hostile writer may hold anything there)."""
    value = body.get(name)
    return value if isinstance(value, Mapping) else {}


def decision(record: AuditRecord, body: Mapping[str, Any]) -> DecisionFact:
    """A stored decision record as the metrics see it: who, what and when from the record's
    own columns, the rest from its body (:func:`from_body`).

    Raises:
        AuditError: the body's destination, tier or sources are not what Lacuna writes (an
            edited row): a destination written as a list failed the metrics with a bare
            TypeError (an HTTP 500), and sources written as one string counted each of its
            characters as an asset.
    """
    what = section(body, "what")
    for name, ok, wanted in (("destination", _text, "a text or null"),
                             ("tier", _text, "a text or null"),
                             ("sources", _texts, "a list of texts")):
        if not ok(what.get(name)):
            from lacuna.errors import AuditError

            msg = (f"audit record #{record.seq} (id {record.id[:40]!a}): its body's "
                   f"what.{name} is not {wanted} as Lacuna writes it (a "
                   f"{type(what.get(name)).__name__}: an edited row, or another writer), so "
                   "no metric can count it. Run `lacuna audit verify` and keep the database "
                   "as evidence.")
            raise AuditError(msg)
    return from_body(body, record_id=record.id, when=record.timestamp, user=record.user_id,
                     action=record.action, allowed=record.allowed, policy_id=record.policy_id)


def _text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _texts(value: object) -> bool:
    return value is None or (isinstance(value, list | tuple)
                             and all(isinstance(v, str) for v in value))


def from_body(body: Mapping[str, Any], *, record_id: str, when: datetime, user: str,
              action: str, allowed: bool, policy_id: str | None) -> DecisionFact:
    """A decision record's body as the metrics see it, with the fields a store keeps in
    columns given (the one reading of a body: :func:`decision`, and the rollup's
    :func:`lacuna.metrics.rollup.fact_from_body`)."""
    who, what, dec = section(body, "who"), section(body, "what"), section(body, "decision")
    why = section(body, "why")
    policies = dec.get("policies") or []
    return DecisionFact(
        record_id=record_id, operation_id=str(body.get("operation_id") or record_id),
        when=when, user=user, role=str(who.get("role") or ""), action=action,
        sources=tuple(str(s) for s in what.get("sources") or ()),
        destination=what.get("destination"), tier=what.get("tier"), allowed=allowed,
        policy_id=policy_id,
        packages=tuple(str(p.get("package")) for p in policies if isinstance(p, dict)),
        policy_ids=tuple(str(p.get("id")) for p in policies
                         if isinstance(p, dict) and p.get("id")),
        columns=tuple(str(c) for c in (what.get("columns") or {})),
        engine_error=dec.get("engine_error"),
        exception_id=why.get("exception_id"),
        exception_approved=why.get("exception_approved") is True,
    )


def classify(records: list[AuditRecord]) -> tuple[
        list[DecisionFact], list[FeedbackFact], list[SurveyFact]]:
    """Split records into decisions, feedback and survey answers, each oldest first."""
    decisions: list[DecisionFact] = []
    feedback: list[FeedbackFact] = []
    survey: list[SurveyFact] = []
    for record in sorted(records, key=lambda r: r.seq):
        fact = fact_of(record)
        if isinstance(fact, DecisionFact):
            decisions.append(fact)
        elif isinstance(fact, FeedbackFact):
            feedback.append(fact)
        elif fact is not None:
            survey.append(fact)
    return decisions, feedback, survey


def fact_of(record: AuditRecord) -> DecisionFact | FeedbackFact | SurveyFact | None:
    """What one record is to the metrics: a decision (no ``kind``), a feedback or survey
    event, or nothing (an outcome, another event, a survey answer without a whole score)."""
    body = record.data
    kind = body.get("kind")
    if kind is None:
        return decision(record, body)
    if kind == FEEDBACK:
        fb = section(body, FEEDBACK)
        return FeedbackFact(
            decision_record_id=str(fb.get("decision_record_id")), when=record.timestamp,
            user=record.user_id, false_positive=bool(fb.get("false_positive")),
            comment=str(fb.get("comment") or ""), policy_id=record.policy_id)
    if kind == SURVEY:
        score = section(body, SURVEY).get("score")
        if isinstance(score, int):
            return SurveyFact(when=record.timestamp, user=record.user_id, score=score)
    return None
