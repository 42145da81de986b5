"""The seed bundle's golden cases: fixtures/seed/<case>.yaml holds a raw policy input (in the
seed's vocabulary) and the expected decision. ``@days_ago:N`` in the input becomes an RFC 3339
timestamp N days before now (the time-based policy reads the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from lacuna.config import Config
from lacuna.model import Decision
from lacuna.policy import PolicyEngine, seed_bundle_root
from lacuna.policy.engine import settings_from_config

SEED_CASES = sorted((Path(__file__).parent / "fixtures" / "seed").glob("*.yaml"))


def seed_engine(**kwargs: Any) -> PolicyEngine:
    config = Config()
    return PolicyEngine(seed_bundle_root(), settings=settings_from_config(config),
                        docs_url=config.docs_url, **kwargs)


def resolve(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, str) and value.startswith("@days_ago:"):
        days = int(value.split(":", 1)[1])
        return (datetime.now(UTC) - timedelta(days=days)).isoformat()
    return value


def load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    return resolve(case["input"]), case["expected"]


def answer(decision: Decision) -> dict[str, Any]:
    """The comparable part of a decision, with empty fields left out (as in the case files)."""
    out = {
        "allowed": decision.allowed, "reasoning": decision.reasoning,
        "policy_id": decision.policy_id, "policy_title": decision.policy_title,
        "steward": decision.steward, "docs_url": decision.docs_url, "why": list(decision.why),
        "alternatives": [{k: v for k, v in a.to_dict().items() if v is not None}
                         for a in decision.alternatives],
        "policies": [[p.package, p.effect] for p in decision.policies],
        "engine_error": decision.engine_error,
    }
    return {k: v for k, v in out.items() if v not in (None, [])}
