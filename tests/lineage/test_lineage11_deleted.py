"""A version row deleted by hand is detected: the dataset's version before it says (signed) that
a later one was recorded, so a read that lands on it refuses instead of taking the older,
lower class as the dataset's state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
OTHER = DatasetRef.of("s3://lake/other.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))


def _written(run_id: str, c: Classification, *refs: DatasetRef) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED,
               outputs=tuple(DatasetVersion(dataset=r, classification=c) for r in refs))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(_written("old", Classification(), REF, OTHER))  # PUBLIC, recorded first
        store.record(_written("new", PII, REF))
    return path


def _delete(db: Path, run_id: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM lacuna_lineage_run_io WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM lacuna_lineage_versions WHERE run_id = ?", (run_id,))


def test_lineage11_the_version_before_the_latest_still_verifies(db: Path) -> None:
    """Marking the older version superseded re-signs it: both hold, the newer is latest."""
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.latest(REF).classification.tier is Tier.PROPRIETARY
        assert store.latest(REF, trusted=True).classification.tier is Tier.PROPRIETARY
        assert store.latest(OTHER, trusted=True).classification.tier is Tier.PUBLIC
        assert store.known([REF, OTHER])[0][REF].classification.tier is Tier.PROPRIETARY


def test_lineage11_a_deleted_latest_version_is_refused_not_replaced(db: Path) -> None:
    _delete(db, "new")
    with LineageStore(f"sqlite:///{db}") as store:
        for read in (lambda: store.latest(REF), lambda: store.latest(REF, trusted=True),
                     lambda: store.known([REF])):
            with pytest.raises(LineageError, match="superseded by a later version"):
                read()  # before: PUBLIC, the older version, as the dataset's state
        # a dataset nothing was deleted of reads as before
        assert store.latest(OTHER).classification.tier is Tier.PUBLIC
        # writing the dataset again through Lacuna is the way back
        store.record(_written("again", PII, REF))
        assert store.latest(REF).classification.tier is Tier.PROPRIETARY
        assert store.known([REF])[0][REF].classification.tier is Tier.PROPRIETARY


def test_lineage11_a_run_recorded_again_unmarks_what_it_superseded(db: Path) -> None:
    """Recording a run id again replaces it (Lacuna's own API, not a deletion by hand): when
    the new record writes nothing, the version before it is the latest again, without a
    refusal, as long as that lowers nothing (lineage13: here it would make the PII file
    PUBLIC, so the record is refused and the earlier one stands; the unmarking itself is
    tested there, with a version before it that says as much)."""
    with LineageStore(f"sqlite:///{db}") as store:
        with pytest.raises(LineageError, match="recording it again"):
            store.record(Run(id="new", operation="export", status=RunStatus.FAILED,
                             outputs=(DatasetVersion(dataset=REF, classification=PII),)))
        assert store.latest(REF).classification.tier is Tier.PROPRIETARY
        assert store.latest(REF, trusted=True).classification.tier is Tier.PROPRIETARY


def test_lineage11_a_fingerprint_set_later_keeps_the_mark(db: Path) -> None:
    """The older version given its fingerprint afterwards (a writer closed late) stays marked
    superseded: the deletion of the newer one is still refused."""
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.set_fingerprint("old", REF, "f" * 64) == 1
    _delete(db, "new")
    with LineageStore(f"sqlite:///{db}") as store, pytest.raises(LineageError):
        store.latest(REF, trusted=True)
