"""``LineageStore.known`` (what the ingest guard and ``/decide``'s sources are held to) goes by
the order a version signed, as ``latest`` does: it took the highest id, so a user who swapped
two versions' ids in SQLite made it return the older, lower class."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import ingest
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
OTHER = DatasetRef.of("s3://lake/other.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))


def _written(run_id: str, ref: DatasetRef, c: Classification) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=ref, classification=c),))


def _swap(db: Path, ref: DatasetRef) -> None:
    """Give ``ref``'s older version the newer one's id, and the other way round."""
    with sqlite3.connect(db) as conn:
        (old,), (new,) = conn.execute(
            "SELECT v.id FROM lacuna_lineage_versions v JOIN lacuna_lineage_datasets d "
            "ON d.id = v.dataset_id WHERE d.name = ? ORDER BY v.id", (ref.name,)).fetchall()
        for a, b in ((old, -1), (new, old), (-1, new)):
            conn.execute("UPDATE lacuna_lineage_versions SET id = ? WHERE id = ?", (b, a))
            conn.execute("UPDATE lacuna_lineage_run_io SET version_id = ? WHERE version_id = ?",
                         (b, a))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        for ref in (REF, OTHER):
            store.record(_written(f"old-{ref.name}", ref, Classification()))  # PUBLIC first
            store.record(_written(f"new-{ref.name}", ref, PII))
    return path


def _known(store: LineageStore) -> dict[DatasetRef, Tier]:
    latest, _ = store.known([REF, OTHER])
    return {ref: v.classification.tier for ref, v in latest.items()}


def test_lineage11_known_takes_the_version_recorded_last(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}") as store:
        assert _known(store) == {REF: Tier.PROPRIETARY, OTHER: Tier.PROPRIETARY}


def test_lineage11_known_is_not_fooled_by_swapped_ids(db: Path) -> None:
    _swap(db, REF)
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.latest(REF) is not None
        assert _known(store) == {REF: store.latest(REF).classification.tier,
                                 OTHER: Tier.PROPRIETARY}
        assert _known(store)[REF] is Tier.PROPRIETARY  # before: PUBLIC, the older version
        # so an ingested run claiming the older, lower class is held and refused
        claim = Run(id="claim", operation="copy", status=RunStatus.SUCCEEDED,
                    inputs=(DatasetVersion(dataset=REF, classification=Classification()),))
        held, refused = ingest(claim, store, ClassificationConfig())
        assert held.inputs[0].classification.tier is Tier.PROPRIETARY
        assert refused
