"""Feedback on decisions ("this was a false positive" / "this was right") and the satisfaction
survey, recorded as hash-chained audit events so the metrics count them like everything else.

Feedback names a decision by its audit record id or its operation id
(``GovernanceViolation.decision.operation_id``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lacuna.audit.record import event_body
from lacuna.errors import ConfigError, LacunaError
from lacuna.metrics.facts import FEEDBACK, SURVEY, classify
from lacuna.metrics.period import Period, parse_period

if TYPE_CHECKING:
    from lacuna.audit.record import AuditRecord
    from lacuna.governor import Governor

SURVEY_QUESTION = "Governance tools help me work efficiently"
MAX_COMMENT = 2000


class DecisionNotFound(LacunaError, LookupError):
    """Feedback named a decision the audit trail does not hold."""


def _gov(governor: Governor | None) -> Governor:
    """The governor feedback and survey answers are recorded with; refused with ``server:``
    (they find and append records of this host's trail, and the decisions are the server's).

    Raises:
        NotOnThisHost: ``server:`` is configured.
    """
    from lacuna.governor import current
    from lacuna.remote.client import refuse_local_state

    gov = governor or current()
    refuse_local_state(gov.config, "feedback and the survey", "Give feedback on the server's "
                       "console: /console/feedback/<decision id> (signed in as yourself); the "
                       "survey is not taken over the server.")
    return gov


def find_decision(decision_id: str, governor: Governor | None = None, *,
                  user: str | None = None) -> AuditRecord:
    """The decision record with this record id or operation id. By operation id, ``user``'s
    own decision of it first when there is one (a server's clients choose operation ids:
    another caller who decided one under the id of ``user``'s denial made the newest), else
    the newest.

    Raises:
        DecisionNotFound: no decision record has that id.
    """
    gov = _gov(governor)
    record = gov.audit.get(decision_id)
    if record is not None and record.kind == "decision" and "kind" not in record.data:
        return record
    record = (gov.audit.of_operation(decision_id, user=user) if user else None) or (
        gov.audit.of_operation(decision_id))
    if record is not None:
        return record
    msg = (f"no decision {decision_id!r} in the audit trail {gov.audit.where}: use the id shown "
           "in the violation message or by `lacuna audit list --denied`.")
    raise DecisionNotFound(msg)


def _event(kind: str, gov: Governor, *, action: str, policy_id: str | None, reasoning: str,
           detail: dict[str, Any], who: tuple[str, str] | None = None) -> dict[str, Any]:
    return event_body(kind, user=who or gov.config.user, session=gov.session,
                      what={"action": action}, policy_id=policy_id, reasoning=reasoning,
                      detail=detail)


def report_feedback(
    decision_id: str,
    *,
    false_positive: bool,
    comment: str = "",
    governor: Governor | None = None,
    reporter: tuple[str, str] | None = None,
) -> AuditRecord:
    """Record "this was a false positive" (``false_positive=True``) or "this was right" on a
    decision, with a comment. The latest answer of a user on a decision counts. ``reporter``
    (user id, role) is who says so (default: the configured user; the console passes the
    signed-in person).

    Raises:
        DecisionNotFound: the decision is not in the audit trail.
        ConfigError: the comment is longer than 2000 characters.
    """
    if len(comment) > MAX_COMMENT:
        msg = (
            f"feedback comment: {len(comment)} characters; keep it under "
                          f"{MAX_COMMENT}."
        )
        raise ConfigError(msg)
    gov = _gov(governor)
    target = find_decision(decision_id, gov)
    verdict = "a false positive" if false_positive else "right"
    body = _event(FEEDBACK, gov, action=FEEDBACK, policy_id=target.policy_id,
                  reasoning=f"decision {target.id} reported {verdict}", detail={
        "decision_record_id": target.id, "operation_id": target.data.get("operation_id"),
        "decision_allowed": target.allowed, "false_positive": bool(false_positive),
        "comment": comment}, who=reporter)
    return gov.audit.record_event(body)


def survey_due(
    period: str | Period | tuple[datetime | date, datetime | date] = "last_30_days",
    *,
    governor: Governor | None = None,
) -> bool:
    """Whether the current user should be asked the survey: no answer of theirs in the period."""
    gov = _gov(governor)
    window = parse_period(period)
    records = [r for r in gov.audit.list(limit=None, user=gov.config.user.id,
                                         since=window.start) if r.timestamp in window]
    return not classify(records)[2]


def answer_survey(score: int, *, comment: str = "", governor: Governor | None = None
                  ) -> AuditRecord:
    """Record the current user's answer (1–5) to "Governance tools help me work efficiently".

    Raises:
        ConfigError: the score is not an integer from 1 to 5.
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        msg = (
            f"survey score {score!r}: answer with an integer from 1 (disagree) "
                          "to 5 (agree)."
        )
        raise ConfigError(msg)
    gov = _gov(governor)
    body = _event(SURVEY, gov, action=SURVEY, policy_id=None,
                  reasoning=f"survey answered {score} of 5", detail={
        "question": SURVEY_QUESTION, "score": score, "comment": comment[:MAX_COMMENT]})
    return gov.audit.record_event(body)
