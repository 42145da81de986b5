"""A lineage graph's nodes read each dataset's latest as ``latest`` does: a row inserted by
hand with the highest id no longer decides a dataset's class in ``impact``, ``path`` and the
graph walks (nor in the parents a read restores)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

RAW = DatasetRef.of("s3://lake/customers.csv")
OUT = DatasetRef.of("s3://lake/report.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
MORE = Classification(tier=Tier.PROPRIETARY, tags=("PII", "PHI"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """report.csv derived from customers.csv, both PII."""
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(Run(id="derive", operation="export", status=RunStatus.SUCCEEDED,
                         inputs=(DatasetVersion(dataset=RAW, classification=PII),),
                         outputs=(DatasetVersion(dataset=OUT, classification=PII),)))
    return path


def _by_hand(db: Path, ref: DatasetRef, body: str, *, trusted: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO lacuna_lineage_versions (id, dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT 1000, "
            "id, 'byhand', NULL, 'PUBLIC', ?, '[]', '2099-01-01T00:00:00+00:00', 1, ?, 0 "
            "FROM lacuna_lineage_datasets WHERE name = ?", (body, trusted, ref.name))


@pytest.mark.parametrize("trusted", [0, 1])
def test_lineage14_a_lower_row_written_by_hand_does_not_hide_a_dataset_from_impact(
        db: Path, trusted: int) -> None:
    _by_hand(db, OUT, '{"tier": "PUBLIC"}', trusted=trusted)
    with LineageStore(f"sqlite:///{db}") as store:
        assert [v.dataset for v in store.impact(RAW)] == [OUT]  # before: [] (PUBLIC)
        assert store.downstream(RAW).nodes[OUT].classification == PII
        assert store.upstream_of([OUT]).nodes[OUT].classification == PII
        assert [(e.parent, e.child) for e in store.path(OUT, "PII")] == [(RAW, OUT)]


def test_lineage14_a_claim_saying_more_is_a_graph_node_still(db: Path) -> None:
    from json import dumps

    _by_hand(db, OUT, dumps(MORE.to_dict()), trusted=0)
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.downstream(RAW).nodes[OUT].classification == MORE
        assert [v.dataset for v in store.impact(RAW, "PHI")] == [OUT]


def test_lineage14_a_graph_over_a_version_deleted_by_hand_is_refused(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(Run(id="again", operation="export", status=RunStatus.SUCCEEDED,
                         outputs=(DatasetVersion(dataset=OUT, classification=MORE),)))
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM lacuna_lineage_run_io WHERE run_id = 'again'")
        conn.execute("DELETE FROM lacuna_lineage_versions WHERE run_id = 'again'")
    with LineageStore(f"sqlite:///{db}") as store:
        with pytest.raises(LineageError, match="superseded by a later version"):
            store.impact(RAW, "PHI")  # before: [] (the older version, without PHI)
        assert store.upstream(RAW).nodes == {RAW: store.latest(RAW)}  # the allowed path
