"""The policy input document."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from lacuna.config import Config
from lacuna.destinations import classify_destination
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Operation,
    Sensitivity,
    Source,
    Tier,
    User,
)
from lacuna.policy import build_input


def test_inputs_have_the_seed_shape_extended(tmp_path) -> None:
    columns = {
        "email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                             sensitivity=Sensitivity.HIGH),
        "diagnosis": ColumnClass(classification=ColumnKind.PHI, sensitivity=Sensitivity.CRITICAL),
        "region": ColumnClass(),
    }
    c = Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR"), columns=columns)
    old, new = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    destination = classify_destination("~/Downloads/export.csv", Config().destinations)
    operation = Operation(
        action=Action.EXPORT,
        user=User(id="analyst_alice", role="data_analyst", department="sales",
                  attributes={"team": "emea"}),
        classification=c,
        sources=(Source(name="customers.csv", classification=c, created_at=new),
                 Source(name="sales.csv", classification=c, created_at=old)),
        destination=destination, environment="production", purpose="Q4 board deck",
        exception_id="EXC-1", method="pandas.DataFrame.to_csv", variable="df",
        code_location="analysis.py:12",
    )
    doc = build_input(operation, exception_approved=True, exception_approver_role="data_steward")
    assert doc == {
        "action": "export",
        "source": {
            "classification": "PROPRIETARY",
            "tags": ["PII", "GDPR"],
            "columns": {
                "email": {"classification": "pii", "sensitivity": "high", "pii_type": "email"},
                "diagnosis": {"classification": "phi", "sensitivity": "critical"},
                "region": {"classification": "public", "sensitivity": "low"},
            },
            "pii_columns": ["email", "diagnosis"],
            "pii_types": ["email"],
            "names": ["customers.csv", "sales.csv"],
            "created_at": "2024-01-01T00:00:00+00:00",
        },
        "destination": destination.to_input(),
        "user": {"team": "emea", "id": "analyst_alice", "role": "data_analyst",
                 "clearance": "INTERNAL", "department": "sales"},
        "lineage": ["customers.csv", "sales.csv"],
        "environment": "production",
        "environment_category": "production",
        "purpose": "Q4 board deck",
        "exception_id": "EXC-1",
        "exception_approved": True,
        "exception_approver_role": "data_steward",
        "context": {"method": "to_csv", "call": "pandas.DataFrame.to_csv", "variable": "df",
                    "code_location": "analysis.py:12"},
    }
    assert json.loads(json.dumps(doc)) == doc


def test_inputs_context_keeps_only_identifiers() -> None:
    operation = Operation(action=Action.WRITE, user=User(id="a"),
                          classification=Classification(), method="weird call()",
                          variable="df[0]")
    assert build_input(operation)["context"] == {
        "method": None, "call": "weird call()", "variable": None, "code_location": None}


def test_inputs_without_destination_or_sources() -> None:
    doc = build_input(Operation(action=Action.READ, user=User(id="a"),
                                classification=Classification(tier=Tier.INTERNAL)))
    assert doc["destination"] is None
    assert doc["lineage"] == []
    assert "created_at" not in doc["source"]
    assert doc["exception_approved"] is False


def test_build_input_created_at_is_rfc3339_utc_even_for_naive_times() -> None:
    from datetime import datetime, timedelta, timezone

    from lacuna.model import Action, Classification, Operation, Source, Tier, User

    c = Classification(tier=Tier.INTERNAL)
    paris = timezone(timedelta(hours=1))
    op = Operation(action=Action.READ, user=User(id="a"), classification=c, sources=(
        Source(name="a", classification=c, created_at=datetime(2025, 1, 15, 10, 30, tzinfo=paris)),
        Source(name="b", classification=c, created_at=datetime(2025, 1, 15, 9, 45))))
    assert build_input(op)["source"]["created_at"] == "2025-01-15T09:30:00+00:00"
