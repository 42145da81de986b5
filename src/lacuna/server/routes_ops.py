"""``/health`` (public, as OPA's), ``/metrics`` (Prometheus text) and ``/api/v1/metrics`` (JSON)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from lacuna.server import state as server_state
from lacuna.server.security import Auditor, Operator, state_of

router = APIRouter()


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
def metrics(request: Request, _: Auditor) -> dict[str, Any]:
    """What exists today: this process's counters, the audit trail's counts by result, the
    exceptions by status, the policy revision. Issue 15's GovernanceMetrics plugs in through
    :data:`lacuna.server.state.governance_metrics_hook` (reported under ``governance``)."""
    state = state_of(request)
    gov = state.governor
    exceptions = gov.exceptions.counts()  # counted by the database, none read
    hook = server_state.governance_metrics_hook
    return {
        "uptime_s": round(time.time() - state.started, 1),
        "policy_revision": state.policy_engine.revision,
        "audit": gov.audit.counts(),
        "exceptions": exceptions,
        "process": state.metrics.summary(),
        "governance": hook(state) if hook is not None else None,
    }
