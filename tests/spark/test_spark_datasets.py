"""``lacuna.datasets.get(name, engine="spark")``: a registered dataset whose copy is sealed in
governed storage, as a Spark DataFrame (decrypted through governed storage, Arrow →
createDataFrame) that carries the dataset's classification (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import lacuna
import lacuna.spark
from lacuna import _bypass
from lacuna.config import DestinationConfig, config_from_dict
from lacuna.governor import current
from lacuna.storage import sealed

STEWARD = "steward@example.com"


def _enable(sandbox: Path) -> None:
    lacuna.enable(config_from_dict({
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "destinations": {
            "governed": [f"{sandbox / 'governed' / 'workspace'}/",
                         *DestinationConfig().governed],
            "unmanaged": [str(sandbox / "Downloads"), *DestinationConfig().unmanaged],
        },
        "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"},
        "stewards": {"default": [STEWARD]},
    }))


def test_get_as_spark_from_a_sealed_copy(gspark, sandbox: Path) -> None:
    _enable(sandbox)
    entry = lacuna.datasets.register("customers_anonymized", "customers.csv",
                                     approved_by=STEWARD)
    assert Path(entry.location).read_bytes().startswith(sealed.MAGIC)
    sdf = lacuna.datasets.get("customers_anonymized", engine="spark", spark=gspark)
    expected = lacuna.datasets.get("customers_anonymized")
    with _bypass.bypass():
        got = sdf.toPandas()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    with _bypass.bypass():
        raw = set(pd.read_csv(sandbox / "customers.csv")["email"])
    assert not set(got["email"]) & raw
    found = lacuna.spark.classification(sdf)
    assert found.tier == entry.classification.tier
    assert set(found.tags) == set(entry.classification.tags)
    assert {n: c.is_personal for n, c in found.columns.items()} == {
        n: c.is_personal for n, c in entry.classification.columns.items()}
    # the Spark read of the sealed copy is on the audit trail like any other
    reads = [r.data for r in current().audit.list(limit=None, action="read")
             if r.data.get("kind") != "outcome"
             and r.data.get("how", {}).get("method") == "lacuna.datasets.get"]
    assert len(reads) == 2
    # and a derived DataFrame keeps the dataset's classes (not the raw source's)
    derived = lacuna.spark.classification(sdf.select("email"))
    assert not derived.columns["email"].is_personal
