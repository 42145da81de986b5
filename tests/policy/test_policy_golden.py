"""Golden decisions: each fixtures/<case>.yaml holds an operation, a bundle and the decision.

A case file has:

    description: what it shows
    bundle: default | empty          # the base bundle (default: the shipped one)
    extra_files: {path: rego text}   # added to (a copy of) the base bundle
    config: {...}                    # lacuna.yaml settings (destinations, docs_url, ...)
    operation: {action, classification, destination, user, method, variable, purpose,
                sources, environment, exception: {approved, approver_role}}
    expected: {allowed, reasoning, policy_id, policy_title, steward, docs_url, why,
               alternatives, policies: [[package, effect], ...], engine_error}

The whole expected block is compared at once, so a new field in the answer shows up as a diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lacuna.config import config_from_dict
from lacuna.destinations import classify_destination
from lacuna.model import Action, Classification, Decision, Operation, Source, User
from lacuna.policy import PolicyEngine

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(FIXTURES.glob("*.yaml"))


def load_case(path: Path, write_bundle: Any) -> tuple[PolicyEngine, Operation, dict[str, Any],
                                                       dict[str, Any]]:
    """The one helper: a case file -> (engine, operation, exception kwargs, expected)."""
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = config_from_dict(case.get("config") or {})
    base = case.get("bundle", "default")
    extra = case.get("extra_files") or {}
    if base == "default" and not extra:
        engine = PolicyEngine.from_config(config)
    else:
        root = write_bundle(extra, base=base)
        engine = PolicyEngine.from_config(
            config.model_copy(update={"policy": config.policy.model_copy(update={"dir": root})}))
    op = case["operation"]
    c = Classification.from_dict(op.get("classification") or {})
    target = op.get("destination")
    operation = Operation(
        action=Action(op["action"]),
        user=User(**(op.get("user") or {"id": "analyst_alice", "role": "data_analyst"})),
        classification=c,
        sources=tuple(Source(name=n, classification=c) for n in op.get("sources") or ()),
        destination=classify_destination(target, config.destinations) if target else None,
        environment=op.get("environment", "development"),
        purpose=op.get("purpose"),
        method=op.get("method", ""),
        variable=op.get("variable"),
    )
    exc = op.get("exception") or {}
    kwargs = {"exception_approved": bool(exc.get("approved", False)),
              "exception_approver_role": exc.get("approver_role")}
    return engine, operation, kwargs, case["expected"]


def answer(decision: Decision) -> dict[str, Any]:
    """The comparable part of a decision (no ids, timings or revision)."""
    return {
        "allowed": decision.allowed,
        "reasoning": decision.reasoning,
        "policy_id": decision.policy_id,
        "policy_title": decision.policy_title,
        "steward": decision.steward,
        "docs_url": decision.docs_url,
        "why": list(decision.why),
        "alternatives": [
            {k: v for k, v in a.to_dict().items() if v is not None} for a in decision.alternatives
        ],
        "policies": [[p.package, p.effect] for p in decision.policies],
        "engine_error": decision.engine_error,
    }


def expected_answer(expected: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields a case leaves out with the decision's defaults."""
    defaults = {"policy_id": None, "policy_title": None, "steward": None, "docs_url": None,
                "why": [], "alternatives": [], "policies": [], "engine_error": None}
    return {**defaults, **expected}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_decision(path: Path, write_bundle: Any) -> None:
    engine, operation, kwargs, expected = load_case(path, write_bundle)
    decision = engine.decide(operation, **kwargs)
    assert answer(decision) == expected_answer(expected)
    assert decision.bundle_revision == engine.revision
    assert decision.operation_id == operation.id


def test_golden_cases_exist() -> None:
    assert len(CASES) >= 12
