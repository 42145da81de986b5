"""``/health`` (public, as OPA's), ``/metrics`` (Prometheus text) and ``/api/v1/metrics`` (JSON)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from lacuna.errors import ConfigError
from lacuna.server.security import Auditor, Operator, state_of

if TYPE_CHECKING:
    from lacuna.server.state import ServerState

router = APIRouter()
PERIOD_CHARS = 100  # the longest period: two ISO times with microseconds and offsets, and ".."
FILTER_CHARS = 200  # the longest filter: a policy id, a Rego package, a role or a tier


@router.get("/health", tags=["operations"], summary="Liveness (OPA-compatible, no auth)")
def health() -> dict[str, Any]:
    """200 ``{}``-like answer while the server runs (OPA clients call it unauthenticated)."""
    return {"status": "ok"}


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse,
            summary="Prometheus metrics (text format 0.0.4)")
def prometheus(request: Request, _: Operator) -> str:
    state = state_of(request)
    sink = getattr(state.policy_engine, "decision_log", None)
    counts = None if sink is None else (sink.written, sink.dropped)
    return state.metrics.render(decision_log=counts)


@router.get("/api/v1/metrics", tags=["operations"], summary="Governance metrics (JSON)")
def metrics(request: Request, _: Auditor, period: str = "last_30_days",
            domain: str | None = None, policy: str | None = None,
            user_group: str | None = None, tier: str | None = None,
            exact: bool | None = None) -> dict[str, Any]:
    """This process's counters, the audit trail's counts by result, the exceptions by status,
    the policy revision, and under ``governance`` the seed's governance metrics of ``period``
    (:class:`~lacuna.metrics.GovernanceMetrics` on the server's own state, as ``lacuna
    metrics --json`` computes them, plus ``source``). A data steward or compliance officer
    only, as the console's metrics page. A period, tier or ``exact=false`` the rollups cannot
    answer is a 422 that says what to send."""
    state = state_of(request)
    gov = state.governor
    exceptions = gov.exceptions.counts()  # counted by the database, none read
    return {
        "uptime_s": round(time.time() - state.started, 1),
        "policy_revision": state.policy_engine.revision,
        "audit": gov.audit.counts(),
        "exceptions": exceptions,
        "process": state.metrics.summary(),
        "governance": governance(state, period, domain=domain, policy=policy,
                                 user_group=user_group, tier=tier, exact=exact),
    }


def governance(state: ServerState, period: str, *, domain: str | None, policy: str | None,
               user_group: str | None, tier: str | None, exact: bool | None) -> dict[str, Any]:
    """The governance metrics of ``period`` on the server's state (what a client's
    ``GovernanceMetrics`` in server mode reads).

    Raises:
        HTTPException: 422, the period, tier or ``exact`` cannot be answered (the message
            says why and what to send).
    """
    from lacuna.metrics import GovernanceMetrics
    from lacuna.model import Tier

    if len(period) > PERIOD_CHARS:  # every form is far shorter; not echoed back whole
        raise HTTPException(422, f"governance metrics: the period is {len(period)} characters, "
                            f"more than {PERIOD_CHARS}: use e.g. last_30_days, 2026-Q4, 2026-11 "
                            "or 2026-10-01..2026-12-31")
    for name, value in (("domain", domain), ("policy", policy), ("user_group", user_group),
                        ("tier", tier)):
        if value is not None and len(value) > FILTER_CHARS:  # not echoed back (a tier was,
            # whole, in the 422; every filter in the answer's filters)
            raise HTTPException(422, f"governance metrics: the {name} filter is {len(value)} "
                                f"characters, more than {FILTER_CHARS}: a policy id, a policy "
                                "domain, a role or a tier")
    try:
        if tier is not None:  # a misspelt tier would count nothing and meet every target
            tier = Tier.parse(tier).value
        m = GovernanceMetrics(period, domain=domain, policy=policy, user_group=user_group,
                              tier=tier, governor=state.governor, exact=exact)
    except ConfigError as exc:
        raise HTTPException(422, f"governance metrics: {exc}") from None
    return {**m.to_dict(), "source": m.source}
