"""``completeness()`` reads each derived dataset's class as ``latest()`` does: it took the
tier column of the dataset's highest version id, of any trust, so a PUBLIC row inserted by hand
(or the tier column of Lacuna's own signed version edited by hand: the signature covers the
classification, not that column) left a PII dataset out of the PROPRIETARY counts."""

from __future__ import annotations

import sqlite3
from json import dumps
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

RAW = DatasetRef.of("s3://lake/customers.csv")
OUT = DatasetRef.of("s3://lake/report.csv")
OPEN = DatasetRef.of("s3://lake/regions.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
MORE = Classification(tier=Tier.PROPRIETARY, tags=("PII", "PHI"))
PUBLIC = Classification(tier=Tier.PUBLIC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """report.csv (PII) and regions.csv (PUBLIC), each derived from customers.csv."""
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        for run, out, c in (("derive", OUT, PII), ("open", OPEN, PUBLIC)):
            store.record(Run(id=run, operation="export", status=RunStatus.SUCCEEDED,
                             inputs=(DatasetVersion(dataset=RAW, classification=PII),),
                             outputs=(DatasetVersion(dataset=out, classification=c),)))
    return path


def _by_hand(db: Path, ref: DatasetRef, body: str, tier: str, *, trusted: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO lacuna_lineage_versions (id, dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT 1000, "
            "id, 'byhand', NULL, ?, ?, '[]', '2099-01-01T00:00:00+00:00', 1, ?, 0 "
            "FROM lacuna_lineage_datasets WHERE name = ?", (tier, body, trusted, ref.name))
    conn.close()


def _counts(db: Path) -> tuple[int, int, int]:
    with LineageStore(f"sqlite:///{db}") as store:
        c = store.completeness()
        assert c.proprietary_derived == sum(
            store.latest(d).classification.tier is Tier.PROPRIETARY for d in (OUT, OPEN))
        return c.derived, c.proprietary_derived, c.proprietary_complete


def test_completeness_counts_what_latest_reads(db: Path) -> None:
    assert _counts(db) == (2, 1, 1)  # the allowed path: report.csv only


@pytest.mark.parametrize("trusted", [0, 1])
def test_a_lower_row_written_by_hand_keeps_a_dataset_proprietary(db: Path, trusted: int) -> None:
    _by_hand(db, OUT, '{"tier": "PUBLIC"}', "PUBLIC", trusted=trusted)
    assert _counts(db) == (2, 1, 1)  # before: (2, 0, 0)


def test_a_tier_column_edited_by_hand_is_not_the_class(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # Lacuna's own signed row: the signature still holds
        conn.execute("UPDATE lacuna_lineage_versions SET tier = 'PUBLIC' WHERE run_id = "
                     "'derive' AND dataset_id = (SELECT id FROM lacuna_lineage_datasets "
                     "WHERE name = 'report.csv')")
    conn.close()
    assert _counts(db) == (2, 1, 1)  # before: (2, 0, 0)


def test_a_claim_saying_more_counts_as_latest_takes_it(db: Path) -> None:
    _by_hand(db, OPEN, dumps(MORE.to_dict()), "PROPRIETARY", trusted=0)
    assert _counts(db) == (2, 2, 2)  # regions.csv now PII and PHI, as latest() says


def test_a_version_deleted_by_hand_is_refused_as_latest_refuses_it(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(Run(id="again", operation="export", status=RunStatus.SUCCEEDED,
                         inputs=(DatasetVersion(dataset=RAW, classification=PII),),
                         outputs=(DatasetVersion(dataset=OUT, classification=MORE),)))
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM lacuna_lineage_run_io WHERE run_id = 'again'")
        conn.execute("DELETE FROM lacuna_lineage_versions WHERE run_id = 'again'")
    conn.close()
    with LineageStore(f"sqlite:///{db}") as store:
        with pytest.raises(LineageError, match="superseded by a later version"):
            store.completeness()  # before: counted from the older version
        with pytest.raises(LineageError, match="superseded by a later version"):
            store.latest(OUT)
