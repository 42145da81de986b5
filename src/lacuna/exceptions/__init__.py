"""The exception workflow: request, approve or deny, use, expire.

    exc = lacuna.request_exception(data=df, destination="~/Downloads/board_report.csv",
                                   purpose="Board Q4 presentation", approver="steward@example.com",
                                   duration_hours=2, conditions=["File will be encrypted"])
    # a steward:  lacuna exceptions approve EXC-2025-001 --by jane@example.com --role data_steward
    df.to_csv("~/Downloads/board_report.csv", exception_id=exc.id)

The policy sees ``input.exception_approved`` (true only for a verified, unexpired grant that
covers this user, action and destination) and ``input.exception_approver_role``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lacuna.errors import ConfigError
from lacuna.exceptions.model import ExceptionRequest, Status, normalize_target
from lacuna.exceptions.store import ExceptionNotFound, ExceptionStore
from lacuna.model import utcnow


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
        purpose: the business purpose.
        approver: who should decide (a steward's e-mail or role).
        operation: the seed's spelling: ``{"action", "source", "destination"}``.
        business_justification: why the policy should not apply this time.
        duration_hours: how long an approval lasts, from its start.
        conditions: conditions the requester commits to.
        action: the action to cover, ``export`` by default.

    Returns:
        The pending request; ``str()`` explains what happens next.

    Raises:
        ConfigError: no destination, an empty purpose, or a non-positive duration.
    """
    from lacuna.governor import current

    op = dict(operation or {})
    target = destination if destination is not None else op.get("destination")
    if not target:
        msg = "request_exception needs a destination (the path or URI the data should go to)."
        raise ConfigError(msg)
    if not purpose or not purpose.strip():
        msg = "request_exception needs a purpose: say what the data is for."
        raise ConfigError(msg)
    if duration_hours <= 0:
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
    request = ExceptionRequest(
        id="",
        requested_by=user.id,
        requester_role=user.role,
        action=str(op.get("action") or action),
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
    )
    return gov.exceptions.add(request)


def approve_exception(
    exception_id: str,
    *,
    by: str,
    role: str = "data_steward",
    comment: str | None = None,
    start: datetime | None = None,
) -> ExceptionRequest:
    """Approve a pending request; it is valid from ``start`` (default now) for its duration."""
    from lacuna.governor import current

    return current().exceptions.decide(
        exception_id, approve=True, by=by, role=role, comment=comment, start=start
    )


def deny_exception(
    exception_id: str, *, by: str, role: str = "data_steward", comment: str | None = None
) -> ExceptionRequest:
    """Deny a pending request, or revoke an approved one."""
    from lacuna.governor import current

    return current().exceptions.decide(
        exception_id, approve=False, by=by, role=role, comment=comment
    )


__all__ = [
    "ExceptionNotFound",
    "ExceptionRequest",
    "ExceptionStore",
    "Status",
    "approve_exception",
    "deny_exception",
    "request_exception",
]
