"""A copy built outside sealed governed storage (``datasets.root`` elsewhere) is an export like any
other write there: decided on its classification and audited, never written under a bypass."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.audit import AuditRecord
from lacuna.governor import Governor, current
from lacuna.lineage.state import get_state

STEWARD = "steward@example.com"


def _exports(gov: Governor) -> list[AuditRecord]:
    return [r for r in gov.audit.list(limit=None, action="export") if r.kind == "decision"]


def test_a_root_in_an_unmanaged_folder_does_not_write_personal_data_there(sandbox, home, enabled):
    downloads = home / "Downloads"
    enabled(datasets={"root": str(downloads)})
    with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
        lacuna.datasets.register("raw_copy", "customers.csv", {"email": "keep"},
                                 approved_by=STEWARD)
    assert list(downloads.iterdir()) == []  # nothing written, not even a sidecar
    (denied,) = _exports(current())
    assert not denied.allowed
    assert denied.destination == str(downloads / "raw_copy.parquet")
    assert denied.data["how"]["method"] == "lacuna.datasets.build"
    with pytest.raises(lacuna.datasets.DatasetNotFound):
        lacuna.datasets.show("raw_copy")  # a build that was refused registers nothing


def test_an_anonymized_copy_may_go_there_and_round_trips(sandbox, home, enabled):
    downloads = home / "Downloads"
    enabled(datasets={"root": str(downloads)})
    entry = lacuna.datasets.register("customers_anonymized", "customers.csv",
                                     approved_by=STEWARD)
    assert entry.location == str(downloads / "customers_anonymized.parquet")
    (allowed,) = _exports(current())
    assert allowed.allowed
    assert allowed.data["how"]["method"] == "lacuna.datasets.build"
    df = lacuna.datasets.get("customers_anonymized")
    assert len(df) == entry.rows == len(pd.read_csv(sandbox / "customers.csv"))
    assert get_state(df).classification.tier == lacuna.Tier.PUBLIC
    df.to_csv(downloads / "out.csv", index=False)  # the seed's export, still allowed


def test_governed_storage_without_encryption_keeps_personal_data(sandbox, enabled):
    enabled(storage={"encrypt": False})  # a plain copy in governed storage: allowed, audited
    entry = lacuna.datasets.register("contacts", "customers.csv", {"email": "keep"},
                                     approved_by=STEWARD)
    assert entry.classification.tier != lacuna.Tier.PUBLIC
    assert entry.location == str(sandbox / "governed" / "workspace" / "datasets"
                                 / "contacts.parquet")
    assert [r.allowed for r in _exports(current())] == [True]
    assert len(lacuna.datasets.get("contacts")) == entry.rows


def test_a_plain_folder_outside_governed_storage_is_decided_like_to_parquet(sandbox, enabled):
    enabled(datasets={"root": str(sandbox / "approved")})
    with pytest.raises(lacuna.GovernanceViolation):
        pd.read_csv("customers.csv").to_parquet(sandbox / "approved" / "mine.parquet")
    with pytest.raises(lacuna.GovernanceViolation):
        lacuna.datasets.register("contacts", "customers.csv", {"email": "keep"},
                                 approved_by=STEWARD)
    entry = lacuna.datasets.register("customers_anonymized", "customers.csv",
                                     approved_by=STEWARD)
    assert len(lacuna.datasets.get("customers_anonymized")) == entry.rows
