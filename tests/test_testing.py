"""lacuna.testing's fakes behave like the real engine and audit trail, without files."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.testing import MemoryAudit, StaticEngine, fake_governor


def test_fake_governor_denies_every_export_and_records_it(sandbox):
    gov = fake_governor(allowed=False, reasoning="exports are off in tests")
    lacuna.enable()
    assert isinstance(gov.engine, StaticEngine)
    assert isinstance(gov.audit, MemoryAudit)
    with pytest.raises(lacuna.GovernanceViolation, match="exports are off in tests"):
        pd.read_csv("sales.csv")
    assert [r.action for r in gov.audit.list()] == ["read"]
    assert gov.engine.decided[0].sources[0].name == "sales.csv"
    assert not (sandbox / ".lacuna-home").exists() or not any((sandbox / ".lacuna-home").iterdir())


def test_fake_governor_allows_and_check_accepts_column_names(sandbox):
    fake_governor(allowed=True)
    lacuna.enable()
    df = pd.read_csv("customers.csv")
    df.to_csv(sandbox / "Downloads" / "fine.csv")
    assert (sandbox / "Downloads" / "fine.csv").exists()
    assert lacuna.check(["ssn"], "s3://anywhere/x").allowed
