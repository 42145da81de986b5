"""Retention over HTTP: the legal holds and the Rego retention rules' holds, read.

A mount (or ``lacuna retention list-holds``) whose ``lacuna.yaml`` names this server
(``server:``) asks here which data retention holds, so the holds are read where they are
kept (the state store beside the server's audit trail) and the rules of the server's policy
bundle decide, once (:mod:`lacuna.retention.keeping`). Placing and releasing holds stays with
``lacuna retention hold`` / ``release`` on the server's state.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import APIRouter, Query, Request

from lacuna.identity import ADMIN, COMPLIANCE_OFFICER, DATA_STEWARD
from lacuna.model import utcnow
from lacuna.server.schemas import RuleHoldsBody
from lacuna.server.security import AnyUser, refuse, state_of

router = APIRouter(prefix="/api/v1/retention", tags=["retention"])


@router.get("/holds", summary="The legal holds retention obeys")
def retention_holds(
    request: Request,
    principal: AnyUser,
    known: str | None = None,
    history: bool = Query(default=False, alias="all"),
) -> dict[str, Any]:
    """The active holds (the holds table's rows and the holds placed on the audit trail and
    not released there; ``unrecorded`` says why a row is not borne out by the trail), their
    ``version``, and the policy packages that define ``retention`` rules (``rule_packages``:
    none, and no rule can hold anything). With ``known`` equal to the current version the
    holds are left out (``unchanged``: the caller has them). ``all`` lists the holds table's
    whole history instead (released ones too): data stewards and compliance officers."""
    state = state_of(request)
    if history:
        if not principal.has(DATA_STEWARD, COMPLIANCE_OFFICER, ADMIN):
            refuse(
                request,
                state,
                403,
                f"{principal.name} lacks the role for the history of "
                "legal holds (all=true): needs one of data_steward, compliance_officer; "
                "the active holds need no role",
                principal,
            )
        from lacuna.retention.api import list_holds

        return {
            "holds": [_wire(h) for h in list_holds(state.governor.config, include_released=True)]
        }
    keeping = state.keeping
    version, holds = keeping.versioned()
    answer: dict[str, Any] = {"version": version, "rule_packages": list(keeping.packages())}
    if known is not None and known == version:
        return {**answer, "unchanged": True}
    return {**answer, "holds": [_wire(h) for h in holds]}


@router.post("/rule-holds", summary="Which governed items the Rego retention rules hold")
def retention_rule_holds(body: RuleHoldsBody, request: Request, _: AnyUser) -> dict[str, Any]:
    """For each item (as a ``retention`` rule sees it: ``input.dataset``), the rule that holds
    it (``package``, ``reason``), a failure (``error``: the item is kept, fail closed) or
    null. The rules see the server's time, and the age counted from ``clock``."""
    now = utcnow()
    docs = []
    for item in body.items:
        dataset = item.model_dump(mode="json")
        clock = item.clock if item.clock.tzinfo else item.clock.replace(tzinfo=UTC)
        dataset["age_days"] = round((now - clock).total_seconds() / 86400, 3)
        docs.append({"dataset": dataset, "now": now.isoformat()})
    answers = state_of(request).keeping.judge(docs)
    return {
        "answers": [
            None
            if a is None
            else {"path": a.path, "package": a.package, "reason": a.reason, "error": a.error}
            for a in answers
        ]
    }


def _wire(hold: Any) -> dict[str, Any]:
    return {**hold.to_dict(), "unrecorded": hold.unrecorded}
