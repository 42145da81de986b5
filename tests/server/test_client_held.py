"""A client with ``server:`` shows the decision the server made and recorded: when the server's
lineage store knows a source better than the client claims (its sidecar deleted, a copy, a
hand-written claim), the server decides on what it knows, and the denial the user reads names
that class, not the client's (it said ``Classification: PUBLIC`` above a reason about
PROPRIETARY data)."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.model import Action, Classification, Source


def _config(live: Any, user: str) -> Any:
    return config_from_dict({
        "server": {"url": live.url, "token": live.tokens[user], "deadline_ms": 8000,
                   "timeout_ms": 6000},
        "lineage": {"openlineage": {"enabled": False}},
        "destinations": {"governed": [f"{live.root / 'governed'}/"],
                         "unmanaged": [str(live.root / "Downloads")]},
    })


def _record(live: Any, operation_id: str) -> dict[str, Any]:
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 50},
                        headers=live.headers("carla")).json()["records"]
    return next(r for r in records
                if r.get("operation_id") == operation_id and r.get("kind") != "outcome")


def test_a_denial_names_the_class_the_server_decided_and_recorded(
        live, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    target = live.root / "governed" / "held-customers.csv"
    with lacuna.governed(_config(live, "ana")):
        pd.DataFrame({"name": ["Ann Lee", "Bob Stone"],
                      "email": ["ann@example.com", "bob@example.com"]}).to_csv(target, index=False)
        gov = current()
        claimed = Classification()  # what a read without its sidecar may say: PUBLIC
        export = gov.operation(Action.EXPORT, claimed,
                               sources=[Source(name=str(target), classification=claimed)],
                               destination=gov.destination(str(live.root / "Downloads" / "x.csv")),
                               method="test.export")
        with pytest.raises(GovernanceViolation) as denied:
            gov.govern(export)
        copy = gov.operation(Action.WRITE, claimed,
                             sources=[Source(name=str(target), classification=claimed)],
                             destination=gov.destination(str(live.root / "governed" / "y.csv")),
                             method="test.write")
        allowed = gov.govern(copy)
    text = str(denied.value)
    recorded = _record(live, export.id)
    assert recorded["what"]["tier"] == "PROPRIETARY"  # what the server decided on
    assert "Classification: PROPRIETARY" in text  # before: Classification: PUBLIC
    assert "Classification: PUBLIC" not in text
    assert "Tags: (none)" not in text
    assert denied.value.decision.operation.classification.tier.value == "PROPRIETARY"
    assert denied.value.decision.operation.sources[0].classification.tier.value == "PROPRIETARY"
    # the allowed path: the decision carries the class the server recorded too
    assert allowed.allowed
    assert allowed.operation.classification.tier.value == "PROPRIETARY"
    assert _record(live, copy.id)["what"]["tier"] == "PROPRIETARY"
    # a claim the server does not raise keeps the client's own classification object
    plain = gov.operation(Action.WRITE, claimed,
                          destination=gov.destination(str(live.root / "governed" / "z.csv")),
                          method="test.plain")
    assert gov.decide(plain).operation.classification is claimed
