"""Fixtures of the anonymization tests: an isolated LACUNA_HOME and a classified customer frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lacuna.lineage.frames import attach
from lacuna.lineage.state import LineageNode
from lacuna.model import Classification, ColumnClass, ColumnKind, Layer, Sensitivity, Tier

EMAIL = ColumnClass(
    classification=ColumnKind.PII,
    pii_type="email",
    sensitivity=Sensitivity.HIGH,
    confidence=0.95,
    reasoning="name and values look like e-mail addresses",
)
PHONE = ColumnClass(
    classification=ColumnKind.PII,
    pii_type="phone",
    sensitivity=Sensitivity.HIGH,
    confidence=0.9,
    reasoning="phone numbers",
)
REVENUE = ColumnClass(
    classification=ColumnKind.FINANCIAL, sensitivity=Sensitivity.MEDIUM, reasoning="revenue figures"
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("LACUNA_HOME", str(path))
    monkeypatch.delenv("LACUNA_ANONYMIZE_KEY", raising=False)
    monkeypatch.delenv("LACUNA_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray lacuna.yaml
    return path


@pytest.fixture
def source_lineage() -> LineageNode:
    return LineageNode(name="customers.csv", operation="read_csv")


@pytest.fixture
def customers(source_lineage: LineageNode) -> pd.DataFrame:
    """e-mail + phone (PII) + revenue (FINANCIAL): PROPRIETARY with PII, GDPR, FINANCIAL."""
    df = pd.DataFrame(
        {
            "email": ["jane@example.com", None, "bob@corp.co.uk", "jane@example.com"],
            "phone": ["+1 555-123-4567", "0612345678", None, "+1 555-123-4567"],
            "revenue": [120.5, 99.0, None, 10.0],
        }
    )
    cls = Classification(
        tier=Tier.PROPRIETARY,
        tags=("PII", "GDPR", "FINANCIAL"),
        columns={"email": EMAIL, "phone": PHONE, "revenue": REVENUE},
        confidence=0.9,
        reasoning=("PROPRIETARY because of column(s): email, phone",),
        layer=Layer.HEURISTIC,
    )
    return attach(df, cls, source_lineage)  # as a reader attaches it: with content fingerprints
