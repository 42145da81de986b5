"""Authentication and role checks for every route, and the audit of refusals.

Use ``Depends(require_role(...))`` on each route; the dependency returns the caller's
:class:`~lacuna.identity.Principal`. A missing or unknown credential is **401**, a known caller
without the role is **403**; both are appended to the audit trail (as denied operations whose
``method`` is ``HTTP <verb> <path>``) and counted in ``/metrics``. Only :data:`PUBLIC_PATHS`
need no credentials (tests/server/test_routes.py walks the route table to make sure).

Credentials: ``Authorization: Bearer <API token or JWT>``. A web console may install a
``session_lookup`` on the server state (a callable ``request -> Principal | None``) to accept
its own session cookie too; bearer tokens win when both are present.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from lacuna.identity import (
    ADMIN,
    ANALYST,
    COMPLIANCE_OFFICER,
    DATA_STEWARD,
    ROLES,
    AuthenticationError,
    Principal,
)
from lacuna.model import Action, Classification, Decision, Operation, User
from lacuna.server.refusals import Suppressed, caller_key

if TYPE_CHECKING:
    from lacuna.server.state import ServerState

log = logging.getLogger("lacuna.server.auth")

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/openapi.json"})
ANY_ROLE: tuple[str, ...] = ROLES
REFUSAL_SESSION = "lacuna-server"
SUPPRESSED_POLICY = "lacuna.server.refusals_suppressed"


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.lacuna
    return state


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def _principal(request: Request, state: ServerState) -> Principal:
    token = bearer(request)
    if token is None and state.session_lookup is not None:
        found = state.session_lookup(request)
        if found is not None:
            return found
    if not token:
        detail = ("no credentials: send Authorization: Bearer <token> (an API token from "
                  "lacuna users add, or an OIDC access token)")
        refuse(request, state, 401, detail, None)
    try:
        return state.authenticator.authenticate(token or "")
    except AuthenticationError as exc:
        refuse(request, state, 401, str(exc), None)
        raise  # unreachable: refuse raises


def refuse(request: Request, state: ServerState, status: int, detail: str,
           principal: Principal | None) -> None:
    """Audit, count and raise a 401/403 (the detail never contains the credential)."""
    state.metrics.auth_failure(status)
    who = principal.name if principal else "anonymous"
    recorded = audit_refusal(state, request, status, detail, principal)
    log.log(logging.WARNING if recorded else logging.DEBUG, "HTTP %s for %s %s (user %s): %s",
            status, request.method, request.url.path, who, detail)
    headers = {"WWW-Authenticate": 'Bearer realm="lacuna"'} if status == 401 else None
    raise HTTPException(status_code=status, detail=detail, headers=headers)


def audit_refusal(state: ServerState, request: Request, status: int, detail: str,
                  principal: Principal | None) -> bool:
    """Append a refusal to the audit trail, within the caller's audit budget
    (:mod:`lacuna.server.refusals`): ``True`` when it was recorded one by one, ``False`` when
    it was over budget and only counted for the caller's summary record (the caller logs it
    quietly then, so a flood does not fill the log either)."""
    client = request.client.host if request.client else None
    admission = state.refusals.admit(caller_key(client, principal.name if principal else None),
                                     status, f"{request.method} {request.url.path}")
    if admission.summary is not None:
        write_suppressed(state, [admission.summary])
    if not admission.record:
        state.metrics.refusal_suppressed()
        return False
    operation = Operation(
        action=Action.READ,
        user=User(id=principal.name if principal else "anonymous",
                  role=principal.role if principal else "none"),
        classification=Classification(),
        method=f"HTTP {request.method} {request.url.path}",
        code_location=f"client {client}" if client else None,
    )
    what = "unauthenticated" if status == 401 else "forbidden"
    decision = Decision(allowed=False, operation_id=operation.id,
                        reasoning=f"HTTP {status} {what}: {detail}",
                        policy_id=f"lacuna.server.http_{status}", operation=operation)
    try:
        state.governor.audit.record(decision, operation, session=REFUSAL_SESSION)
        state.metrics.audit_write(True)
    except Exception as exc:  # the refusal stands; the failed write is loud
        state.metrics.audit_write(False)
        log.error("could not audit an HTTP %s refusal: %s", status, exc)
    return True


def write_suppressed(state: ServerState, summaries: list[Suppressed]) -> None:
    """Append one record per :class:`~lacuna.server.refusals.Suppressed` summary (refusals
    over budget, counted). A summary that cannot be appended is counted again for the next
    try, and the failure is logged."""
    if not summaries:
        return
    budget = state.refusals
    items = []
    for s in summaries:
        user = s.caller.removeprefix("user ") if s.caller.startswith("user ") else "anonymous"
        operation = Operation(action=Action.READ, user=User(id=user, role="none"),
                              classification=Classification(), method="HTTP refusals",
                              code_location=s.caller)
        decision = Decision(allowed=False, operation_id=operation.id,
                            reasoning=s.reasoning(budget.burst, budget.per_minute),
                            policy_id=SUPPRESSED_POLICY, operation=operation)
        items.append((decision, operation, REFUSAL_SESSION))
    try:
        state.governor.audit.record_many(items)
        state.metrics.audit_write(True)
    except Exception as exc:
        state.metrics.audit_write(False)
        budget.give_back(summaries)
        log.error("could not audit %d summary record(s) of refused requests (kept for the "
                  "next try): %s", len(summaries), exc)


def require_role(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the authenticated caller, who must hold one of ``roles``
    (``admin`` holds every role; no roles: any authenticated caller).

    Example:
        ``def route(who: Principal = Depends(require_role("data_steward"))): ...``
    """
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        msg = f"unknown role(s) {unknown}; use: {', '.join(ROLES)}"
        raise ValueError(msg)
    needed = roles or ANY_ROLE

    def check(request: Request, principal: Principal | None) -> Principal:
        state = state_of(request)
        if principal is None:
            principal = _principal(request, state)
        if not principal.has(*needed):
            refuse(request, state, 403,
                   f"{principal.name} lacks the role for this: needs one of "
                   f"{', '.join(needed)} (has {', '.join(principal.roles) or 'none'})",
                   principal)
        request.state.principal = principal
        return principal

    async def dependency(request: Request) -> Principal:
        # A recently seen API token with the role: answered on the event loop, no I/O. Else
        # (a database read, a JWT check, an audited refusal) on a worker thread.
        token = bearer(request)
        known = state_of(request).authenticator.cached(token) if token else None
        if known is not None and known.has(*needed):
            request.state.principal = known
            return known
        return await run_in_threadpool(check, request, known)

    dependency.lacuna_roles = needed  # type: ignore[attr-defined]
    dependency.__name__ = f"require_role_{'_'.join(needed)}"
    return dependency


# The usual role sets, as annotations: ``def route(who: Steward) -> ...``.
AnyUser = Annotated[Principal, Depends(require_role(*ROLES))]
Producer = Annotated[Principal, Depends(require_role(ANALYST, DATA_STEWARD))]
Steward = Annotated[Principal, Depends(require_role(DATA_STEWARD))]
Auditor = Annotated[Principal, Depends(require_role(DATA_STEWARD, COMPLIANCE_OFFICER))]
Compliance = Annotated[Principal, Depends(require_role(COMPLIANCE_OFFICER))]
Operator = Annotated[Principal, Depends(require_role(ADMIN, COMPLIANCE_OFFICER))]
Admin = Annotated[Principal, Depends(require_role(ADMIN))]
