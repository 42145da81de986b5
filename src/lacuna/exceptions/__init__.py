"""The exception workflow: request, approve or deny, use, expire.

    exc = lacuna.request_exception(data=df, destination="~/Downloads/board_report.csv",
                                   purpose="Board Q4 presentation", approver="steward@example.com",
                                   duration_hours=2, conditions=["File will be encrypted"])
    # a steward (user.id jane@example.com):  lacuna exceptions approve EXC-2025-001
    df.to_csv("~/Downloads/board_report.csv", exception_id=exc.id)

Only a steward may approve (``stewards:`` in lacuna.yaml, or the deciding policy's steward),
never the requester; every request and decision is signed, and the governor honours only grants
whose signature verifies (:mod:`lacuna.exceptions.authority`). The policy sees
``input.exception_approved`` (true only for a verified, unexpired grant that covers this user,
action and destination) and ``input.exception_approver_role``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lacuna.errors import ConfigError
from lacuna.exceptions.authority import ExceptionNotAuthorized, approvers, check_purpose
from lacuna.exceptions.model import ExceptionRequest, Status, normalize_target
from lacuna.exceptions.store import (
    ExceptionNotFound,
    ExceptionStore,
    MalformedException,
    grant_for,
)
from lacuna.model import Decision, utcnow

log = logging.getLogger("lacuna.exceptions")


def request_exception(
    data: Any = None,
    destination: str | os.PathLike[str] | None = None,
    *,
    purpose: str,
    approver: str,
    operation: Mapping[str, Any] | None = None,
    business_justification: str = "",
    duration_hours: float = 24,
    conditions: Sequence[str] = (),
    action: str = "export",
) -> ExceptionRequest:
    """File a request for an exception; a steward approves or denies it later.

    Args:
        data: the DataFrame (or Series) to act on; its classification and sources are recorded.
        destination: where it should go (path or URI).
        purpose: the business purpose (a real one: placeholders such as "test" or "n/a" and
            purposes of fewer than 10 letters are refused).
        approver: who you ask to decide (a steward's e-mail). Only an entitled steward can
            approve, whoever is named here.
        operation: the seed's spelling: ``{"action", "source", "destination"}``.
        business_justification: why the policy should not apply this time.
        duration_hours: how long an approval lasts, from its start.
        conditions: conditions the requester commits to.
        action: the action to cover, ``export`` by default.

    Returns:
        The pending request; ``str()`` explains what happens next.

    Raises:
        ConfigError: no destination, an empty or placeholder purpose, or a non-positive
            duration.
    """
    from lacuna.governor import current

    op = dict(operation or {})
    target = destination if destination is not None else op.get("destination")
    if not target:
        msg = "request_exception needs a destination (the path or URI the data should go to)."
        raise ConfigError(msg)
    purpose = check_purpose(purpose)
    if not duration_hours > 0:
        msg = f"duration_hours must be positive, got {duration_hours}."
        raise ConfigError(msg)
    gov = current()
    sources: tuple[str, ...] = ()
    tier, tags = "UNKNOWN", tuple[str, ...]()
    if data is not None:
        from lacuna.lineage.state import get_state

        state = get_state(data)
        if state is not None:
            sources = state.lineage.roots()
            tier, tags = state.classification.tier.value, state.classification.tags
    elif op.get("source"):
        sources = (str(op["source"]),)
    user = gov.config.user
    verb = str(op.get("action") or action)
    subject = data if data is not None else (sources[0] if sources else None)
    deciding = _dry_run(subject, os.fspath(target), verb)
    request = ExceptionRequest(
        id="",
        requested_by=user.id,
        requester_role=user.role,
        action=verb,
        destination=normalize_target(os.fspath(target)),
        sources=sources,
        tier=tier,
        tags=tuple(tags),
        purpose=purpose.strip(),
        business_justification=" ".join(business_justification.split()),
        approver=approver,
        duration_hours=float(duration_hours),
        conditions=tuple(conditions),
        created_at=utcnow(),
        policy_id=deciding.policy_id if deciding else None,
        policy_steward=deciding.steward if deciding else None,
        domains=_domains(deciding),
    )
    return gov.exceptions.add(request)


def _dry_run(subject: Any, target: str, action: str) -> Decision | None:
    """The decision without an exception: it names the policy (and its steward) to ask."""
    if subject is None:
        return None
    from lacuna.api import check

    try:
        return check(subject, target, action=action)
    except Exception as exc:  # only the default stewards can decide then; say why
        log.warning("could not find the policy behind this request (%s); only the default "
                    "stewards may approve it", exc)
        return None


def _domains(decision: Decision | None) -> tuple[str, ...]:
    if decision is None:
        return ()
    out: list[str] = []
    for ref in decision.policies:
        parts = ref.package.split(".")
        if "domains" in parts[:-1]:
            domain = parts[parts.index("domains") + 1]
            if domain not in out:
                out.append(domain)
    return tuple(out)


def approve_exception(
    exception_id: str,
    *,
    by: str | None = None,
    comment: str | None = None,
    start: datetime | None = None,
) -> ExceptionRequest:
    """Approve a pending request as the configured user (``user.id``), who must be a steward.

    Args:
        exception_id: e.g. ``EXC-2026-001``.
        by: who approves; when given it must be the configured user (a check, not a switch).
        comment: a note for the record.
        start: when validity starts (default now); it lasts the requested duration.

    Raises:
        ExceptionNotAuthorized: the approver is the requester or not a steward for this
            request, or the stored request was changed outside Lacuna.
    """
    from lacuna.governor import current

    gov = current()
    return gov.exceptions.decide(
        exception_id,
        approve=True,
        by=_identity(by),
        stewards=gov.config.stewards,
        comment=comment,
        start=start,
    )


def deny_exception(
    exception_id: str, *, by: str | None = None, comment: str | None = None
) -> ExceptionRequest:
    """Deny a pending request, or revoke an approved one (a steward, or the requester
    withdrawing their own)."""
    from lacuna.governor import current

    gov = current()
    return gov.exceptions.decide(
        exception_id, approve=False, by=_identity(by), stewards=gov.config.stewards,
        comment=comment,
    )


def _identity(by: str | None) -> str:
    """The deciding identity: the configured user; ``by`` must name the same one."""
    from lacuna.governor import current

    me = current().config.user.id
    if by is not None and by.strip().casefold() != me.strip().casefold():
        msg = (
            f"decisions are made as the configured user ({me}), not as {by!r}: run as the "
            "steward (user.id in lacuna.yaml, or $LACUNA_USER) instead of naming someone else."
        )
        raise ExceptionNotAuthorized(msg)
    return me


__all__ = [
    "ExceptionNotAuthorized",
    "ExceptionNotFound",
    "ExceptionRequest",
    "ExceptionStore",
    "MalformedException",
    "Status",
    "approve_exception",
    "approvers",
    "deny_exception",
    "grant_for",
    "request_exception",
]
