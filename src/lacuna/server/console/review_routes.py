"""Feedback on decisions in the console: the page a violation message links to (one decision
and a "false positive / this was right" form), and the review queue of false-positive reports
for data stewards (compliance officers may read it). Forms post back with a CSRF token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lacuna.errors import LacunaError
from lacuna.identity import same_name
from lacuna.server.app import status_of, unplaced
from lacuna.server.console.session import Session
from lacuna.server.console.web import (
    COMPLIANCE,
    EVERYONE,
    STEWARD,
    not_found,
    refuse,
    render,
    require,
    server_state,
)
from lacuna.server.console.web import check_csrf as csrf_form

router = APIRouter(prefix="/console", include_in_schema=False)

AnyRole = Annotated[Session, Depends(require(*EVERYONE))]
Overseer = Annotated[Session, Depends(require(STEWARD, COMPLIANCE))]
Reviewer = Annotated[Session, Depends(require(STEWARD))]
NO_DECISION = ("No decision has this id in the audit trail: use the link in the violation "
               "message, or an id that lacuna audit list --denied shows.")


def _role(session: Session) -> str:
    return session.roles[0] if session.roles else ""


def _not_theirs(request: Request, session: Session, record: Any) -> bool:
    """Whether ``record`` is another's decision, which ``session`` (not a steward or a
    compliance officer) may not see: answered as no decision is (404), so the page does not
    say which ids exist (as an exception's page does); the attempt is audited."""
    if same_name(record.user_id, session.name) or session.has(STEWARD, COMPLIANCE):
        return False
    from lacuna.identity import Principal
    from lacuna.server.security import audit_refusal

    audit_refusal(server_state(request), request, 404, f"{session.name} may give feedback "
                  "only on their own decisions (answered as not found)",
                  Principal(session.name, session.roles))
    return True


@router.get("/feedback/{decision_id}")
def feedback_page(request: Request, decision_id: str, session: AnyRole,
                  done: str = "") -> Response:
    """One decision, and the form to say whether it was right."""
    from lacuna.metrics.facts import decision
    from lacuna.metrics.feedback import DecisionNotFound, find_decision

    gov = server_state(request).governor
    try:
        record = find_decision(decision_id, gov, user=session.name)
    except DecisionNotFound:
        return not_found(request, session, "No such decision", NO_DECISION)
    if _not_theirs(request, session, record):
        return not_found(request, session, "No such decision", NO_DECISION)
    fact = decision(record, record.data)
    reasoning = str((record.data.get("decision") or {}).get("reasoning") or "")
    flash = {"fp": "Thank you: reported as a false positive; the policy owners will review it.",
             "ok": "Thank you: recorded that this decision was right."}.get(done)
    return render(request, "feedback.html", session, active="", title="Decision feedback",
                  d=fact, record=record, reasoning=reasoning,
                  flash=flash)


@router.post("/feedback/{decision_id}")
async def give_feedback(request: Request, decision_id: str, session: AnyRole) -> Response:
    from lacuna.metrics.feedback import DecisionNotFound, find_decision, report_feedback

    fields = await csrf_form(request, session)
    verdict = fields.get("verdict", "")
    if verdict not in ("false_positive", "correct"):
        refuse(request, session, 400, "verdict must be false_positive or correct")
    gov = server_state(request).governor

    def report() -> Any:
        record = find_decision(decision_id, gov, user=session.name)
        if _not_theirs(request, session, record):
            return None
        report_feedback(record.id, false_positive=verdict == "false_positive",
                        comment=fields.get("comment", "").strip(), governor=gov,
                        reporter=(session.name, _role(session)))
        return record

    try:  # reads and an audit append: off the event loop (every request would wait on them)
        record = await run_in_threadpool(report)
    except DecisionNotFound:
        record = None
    except LacunaError as exc:
        return render(request, "error.html", session, status=status_of(exc),
                      title="Not recorded", heading="Feedback not recorded",
                      message=unplaced(request, exc))
    if record is None:  # none, or another's (answered alike)
        return not_found(request, session, "No such decision", NO_DECISION)
    done = "fp" if verdict == "false_positive" else "ok"
    return RedirectResponse(f"/console/feedback/{record.id}?done={done}", status_code=303)


@router.get("/review")
def review(request: Request, session: Overseer, policy: str = "", status: str = "open",
           done: str = "", limit: str = "") -> Response:
    """False-positive reports with the decision behind each, filtered by policy and status:
    the newest ``limit`` of them (a notice says when more match)."""
    from lacuna.errors import ConfigError
    from lacuna.metrics.facts import FEEDBACK
    from lacuna.metrics.review import STATUSES, review_page
    from lacuna.server.paging import CONSOLE_REVIEW

    gov = server_state(request).governor
    shown = status if status in STATUSES else "open"
    flash = {"accepted": "Report accepted: the policy or classification needs a change.",
             "rejected": "Report rejected."}.get(done)
    flash_kind = None
    try:
        size = CONSOLE_REVIEW.parse(limit)
    except ConfigError as exc:
        size, flash, flash_kind = CONSOLE_REVIEW.default, f"Page not applied: {exc}", "error"
    # a page read newest first until it is full, not the whole queue cut to a page
    items, more = review_page(governor=gov, policy=policy or None, status=shown, limit=size)
    policies = gov.audit.policy_ids(action=FEEDBACK)  # any feedback's, counted by the database
    return render(request, "review.html", session, status=400 if flash_kind else 200,
                  active="/console/review", title="Review queue", items=tuple(items),
                  more=more, limit=size, limit_max=CONSOLE_REVIEW.maximum,
                  statuses=STATUSES, shown=shown,
                  policies=policies, policy=policy, can_review=session.has(STEWARD),
                  flash=flash, flash_kind=flash_kind)


@router.post("/review/{feedback_id}")
async def decide_report(request: Request, feedback_id: str, session: Reviewer) -> Response:
    from lacuna.metrics.review import (
        VERDICTS,
        ReportNotFound,
        ReviewNotAuthorized,
        review_report,
    )

    fields = await csrf_form(request, session)
    verdict = fields.get("verdict", "")
    if verdict not in VERDICTS:
        refuse(request, session, 400, "verdict must be accept or reject")
    try:  # reads and an audit append: off the event loop (every request would wait on them)
        await run_in_threadpool(
            review_report, feedback_id, verdict=verdict,
            comment=fields.get("comment", "").strip(), reviewer=(session.name, _role(session)),
            governor=server_state(request).governor)
    except ReportNotFound:
        return not_found(request, session, "Review not recorded",
                         "No false-positive report has this id; pick one from the queue.")
    except ReviewNotAuthorized as exc:
        return render(request, "error.html", session, status=status_of(exc),
                      title="Not yours to review", heading="Review not recorded",
                      message=unplaced(request, exc))
    except LacunaError as exc:
        return render(request, "error.html", session, status=status_of(exc), title="Not done",
                      heading="Review not recorded", message=unplaced(request, exc))
    return RedirectResponse(f"/console/review?status=all&done={VERDICTS[verdict]}",
                            status_code=303)
