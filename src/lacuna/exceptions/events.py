"""Exception events on the audit trail: requested, approved, denied, revoked, expired, a file
written under an exception deleted, a notification that failed, a decryption.

Each is one hash-chained record of ``kind: "exception"`` (``what.action`` is ``exception``,
``what.event`` says which step). Writing it never undoes the step it records: when the trail
cannot be written the failure is logged at ERROR (the exceptions table keeps the step itself).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lacuna.audit import record

if TYPE_CHECKING:
    from lacuna.audit.record import AuditRecord
    from lacuna.exceptions.context import Context
    from lacuna.exceptions.model import ExceptionRequest

log = logging.getLogger("lacuna.exceptions")
KIND = "exception"
ACTION = "exception"


def event_body(
    event: str,
    *,
    user_id: str,
    role: str,
    session: str,
    exception_id: str | None,
    allowed: bool = True,
    policy_id: str | None = None,
    destination: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One exception step as an audit event (:func:`lacuna.audit.record.event_body`)."""
    return record.event_body(
        KIND, user=(user_id, role), session=session,
        what={"action": ACTION, "event": event, "exception_id": exception_id,
              "destination": destination},
        why={"exception_id": exception_id}, allowed=allowed, policy_id=policy_id,
        reasoning=f"exception {exception_id or '?'}: {event}", detail=detail or {})


def audit(
    gov: Context,
    event: str,
    request: ExceptionRequest | None,
    *,
    exception_id: str | None = None,
    allowed: bool = True,
    detail: dict[str, Any] | None = None,
    user_id: str | None = None,
) -> AuditRecord | None:
    """Record one exception event as the governor's user (or ``user_id``); ``None`` (logged)
    when the trail cannot be written."""
    user = gov.config.user
    body = event_body(
        event,
        user_id=user_id or user.id,
        role=user.role,
        session=gov.session,
        exception_id=request.id if request is not None else exception_id,
        allowed=allowed,
        policy_id=request.policy_id if request is not None else None,
        destination=request.destination if request is not None else None,
        detail=detail,
    )
    try:
        return gov.audit.record_event(body)
    except Exception as exc:  # the step stands; its audit record is missing: say so loudly
        log.error("could not record exception event %r for %s on the audit trail: %s",
                  event, body["what"]["exception_id"], exc)
        return None


def is_event(data: dict[str, Any]) -> bool:
    return data.get("kind") == KIND


__all__ = ["ACTION", "KIND", "audit", "event_body", "is_event"]
