"""One object store, one dataset name: ``s3a://bucket/x`` (Spark) is ``s3://bucket/x``.

Hadoop's S3A client names the same objects ``s3a://``; the store kept them as two datasets, so
a class recorded for one did not follow to the other (a PROPRIETARY file Spark wrote read as
unknown by pandas). Names are now canonical in every :class:`DatasetRef`, and a store
recorded before is renamed (or merged) when opened, its signatures still holding."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage import seen
from lacuna.lineage.claims import ingest
from lacuna.lineage.openlineage import events_to_runs
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore, _Named, version_payload
from lacuna.model import Classification, Tier

PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))


@pytest.mark.parametrize(("given", "same"), [
    ("s3a://lake/raw/customers.csv", "s3://lake/raw/customers.csv"),
    ("s3n://lake/raw/customers.csv", "s3://lake/raw/customers.csv"),
    ("S3://lake/raw/customers.csv", "s3://lake/raw/customers.csv"),
    ("gcs://lake/customers.csv", "gs://lake/customers.csv"),
])
def test_lineage10_other_spellings_of_a_store_are_one_dataset(given: str, same: str) -> None:
    assert DatasetRef.of(given) == DatasetRef.of(same)
    assert DatasetRef.of(given).namespace == DatasetRef.of(same).namespace
    assert DatasetRef("s3a://lake", "x") == DatasetRef("s3://lake", "x")
    # other stores keep their names
    assert DatasetRef.of("abfss://c@a.dfs.core.windows.net/x").namespace == (
        "abfss://c@a.dfs.core.windows.net")


def _written(run_id: str, ref: DatasetRef, c: Classification) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=ref, classification=c),))


def test_lineage10_a_class_written_as_s3a_holds_an_s3_claim(tmp_path: Path) -> None:
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.record(_written("spark", DatasetRef.of("s3a://lake/customers.csv"), PII))
        known = store.latest(DatasetRef.of("s3://lake/customers.csv"), trusted=True)
        assert known is not None
        assert known.classification.tier is Tier.PROPRIETARY
        event = {"eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z",
                 "producer": "p", "job": {"namespace": "n", "name": "j"},
                 "run": {"runId": str(uuid.uuid4())},
                 "outputs": [{"namespace": "s3://lake", "name": "customers.csv",
                              "facets": {"lacuna_classification": {"tier": "PUBLIC"}}}]}
        (run,) = events_to_runs([event], ClassificationConfig())
        held, refused = ingest(run, store, ClassificationConfig())
        assert held.outputs[0].classification.tier is Tier.PROPRIETARY
        assert f"{DatasetRef.of('s3://lake/customers.csv')}: tier PUBLIC refused, Lacuna knows " \
               "it as PROPRIETARY: kept PROPRIETARY" in refused


def _legacy(db: Path, store: LineageStore, name: str, run_id: str) -> None:
    """Rename the dataset ``s3://lake/<name>`` of the store in ``db`` back to ``s3a://lake``
    and sign its versions as a Lacuna before canonical names signed them."""
    with sqlite3.connect(db) as conn:
        (did,) = conn.execute("SELECT id FROM lacuna_lineage_datasets WHERE namespace = "
                              "'s3://lake' AND name = ?", (name,)).fetchone()
        conn.execute("UPDATE lacuna_lineage_datasets SET namespace = 's3a://lake' WHERE id = ?",
                     (did,))
        for vid, body, columns, fp, produced in conn.execute(
                "SELECT id, classification, columns, fingerprint, produced FROM "
                "lacuna_lineage_versions WHERE dataset_id = ? AND run_id = ?", (did, run_id)):
            data = json.loads(body)
            data.pop("signature")
            data["signature"] = store.keyring.sign(version_payload(
                _Named("s3a://lake", name), run_id, fp, data, json.loads(columns),
                bool(produced)))
            conn.execute("UPDATE lacuna_lineage_versions SET classification = ? WHERE id = ?",
                         (json.dumps(data, sort_keys=True), vid))
        conn.execute("INSERT INTO lacuna_lineage_first_seen VALUES ('s3a://lake', ?, ?)",
                     (name, "2026-01-01T00:00:00+00:00"))


def test_lineage10_a_store_recorded_under_s3a_is_read_under_s3(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    ref = DatasetRef.of("s3://lake/customers.csv")
    both = DatasetRef.of("s3://lake/orders.csv")
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("old", ref, PII))
        store.record(_written("old-orders", both, PII))
        _legacy(db, store, "customers.csv", "old")
        _legacy(db, store, "orders.csv", "old-orders")
    with LineageStore(f"sqlite:///{db}") as store:  # renamed on open, no refusal
        pass
    with sqlite3.connect(db) as conn:
        # a later run wrote orders.csv under its canonical name beside the old s3a one
        conn.execute("INSERT INTO lacuna_lineage_datasets (namespace, name) VALUES "
                     "('s3a://lake', 'orders.csv')")
        conn.execute("UPDATE lacuna_lineage_versions SET dataset_id = (SELECT id FROM "
                     "lacuna_lineage_datasets WHERE namespace = 's3a://lake' AND name = "
                     "'orders.csv') WHERE run_id = 'old-orders'")
        conn.execute("UPDATE lacuna_lineage_first_seen SET namespace = 's3a://lake' WHERE "
                     "name = 'orders.csv'")
        # a file's clock kept without a dataset of its name (a server's client's file)
        conn.execute("INSERT INTO lacuna_lineage_first_seen VALUES ('s3n://lake', 'loose.csv', "
                     "'2025-06-01T00:00:00+00:00')")
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("new-orders", both, Classification(tier=Tier.INTERNAL)))
    with LineageStore(f"sqlite:///{db}") as store:  # merged on open
        old = store.latest(ref, trusted=True)
        assert old is not None
        assert old.classification.tier is Tier.PROPRIETARY  # its s3a signature still holds
        newest = store.latest(both, trusted=True)
        assert newest is not None
        assert newest.classification.tier is Tier.INTERNAL  # the newest of both, by id
        assert seen.first_seen(store, ref) == datetime(2026, 1, 1, tzinfo=UTC)
        assert seen.first_seen(store, DatasetRef.of("s3://lake/loose.csv")) == datetime(
            2025, 6, 1, tzinfo=UTC)
    with sqlite3.connect(db) as conn:
        names = conn.execute("SELECT namespace, name FROM lacuna_lineage_datasets "
                             "ORDER BY name").fetchall()
        spelled = conn.execute("SELECT DISTINCT namespace FROM "
                               "lacuna_lineage_first_seen").fetchall()
    assert names == [("s3://lake", "customers.csv"), ("s3://lake", "orders.csv")]
    assert spelled == [("s3://lake",)]
