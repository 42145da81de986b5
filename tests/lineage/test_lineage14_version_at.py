"""``version_at`` ("what did the dataset look like at time T") reads as ``latest`` does: Lacuna's
own versions that verify, in the order they signed; a claim (ingested, or a row marked trusted
whose signature does not hold) only when it says at least as much; the answer says which."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
MORE = Classification(tier=Tier.PROPRIETARY, tags=("PII", "PHI"))
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _run(run_id: str, c: Classification, at: datetime) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED, started_at=at,
               ended_at=at, outputs=(DatasetVersion(dataset=REF, classification=c),))


def _by_hand(db: Path, body: str, created: datetime, *, trusted: int) -> None:
    """A version row inserted by hand into the dataset, at ``created``."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO lacuna_lineage_versions (dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT "
            "dataset_id, 'byhand', NULL, 'PUBLIC', ?, '[]', ?, 1, ?, 0 "
            "FROM lacuna_lineage_versions WHERE run_id = 'pii'",
            (body, created.isoformat(), trusted))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """customers.csv written PUBLIC on day 0, PII on day 1."""
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(_run("public", Classification(), T0))
        store.record(_run("pii", PII, T0 + DAY))
    return path


@pytest.mark.parametrize("trusted", [0, 1])
def test_lineage14_a_lower_row_written_by_hand_in_the_past_is_not_what_it_looked_like(
        db: Path, trusted: int) -> None:
    _by_hand(db, '{"tier": "PUBLIC"}', T0 + 2 * DAY, trusted=trusted)
    with LineageStore(f"sqlite:///{db}") as store:
        found = store.version_at(REF, T0 + 3 * DAY)
        assert (found.classification, found.verified) == (PII, True)  # before: PUBLIC
        before = store.version_at(REF, T0 + DAY / 2)  # the allowed path: day 0 was PUBLIC
        assert (before.classification.tier, before.verified) == (Tier.PUBLIC, True)


@pytest.mark.parametrize("trusted", [0, 1])
def test_lineage14_a_claim_saying_more_is_what_it_looked_like_and_says_so(
        db: Path, trusted: int) -> None:
    _by_hand(db, json.dumps(MORE.to_dict()), T0 + 2 * DAY, trusted=trusted)
    with LineageStore(f"sqlite:///{db}") as store:
        found = store.version_at(REF, T0 + 3 * DAY)
        assert (found.classification, found.verified) == (MORE, False)
        # before the claim's time, Lacuna's own
        assert store.version_at(REF, T0 + DAY + DAY / 2).classification == PII


def test_lineage14_an_ingested_claim_is_reported_as_one(tmp_path: Path) -> None:
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.record(_run("claim", MORE, T0), trusted=False)
        found = store.version_at(REF, T0 + DAY)
        assert (found.classification, found.verified) == (MORE, False)
        assert store.version_at(REF, T0 - DAY) is None


def test_lineage14_a_created_time_edited_by_hand_does_not_reorder_versions(db: Path) -> None:
    """The PUBLIC version's time moved after the PII one's: it no longer verifies."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lacuna_lineage_versions SET created = ? WHERE run_id = 'public'",
                     ((T0 + 2 * DAY).isoformat(),))
    with LineageStore(f"sqlite:///{db}") as store:
        found = store.version_at(REF, T0 + 3 * DAY)
        assert (found.classification, found.verified) == (PII, True)  # before: PUBLIC


def test_lineage14_a_version_deleted_by_hand_is_refused_not_skipped(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM lacuna_lineage_run_io WHERE run_id = 'pii'")
        conn.execute("DELETE FROM lacuna_lineage_versions WHERE run_id = 'pii'")
    with LineageStore(f"sqlite:///{db}") as store:
        with pytest.raises(LineageError, match="superseded by a later version"):
            store.version_at(REF, T0 + 3 * DAY)  # before: the PUBLIC version, silently
        # before the deleted version was recorded, day 0's stands
        assert store.version_at(REF, T0 + DAY / 2).classification.tier is Tier.PUBLIC


def test_lineage14_version_at_on_both_databases(store_url: str) -> None:
    with LineageStore(store_url) as store:
        store.record(_run("public", Classification(), T0))
        store.record(_run("pii", PII, T0 + DAY))
        assert store.version_at(REF, T0 - DAY) is None
        assert store.version_at(REF, T0 + DAY / 2).classification.tier is Tier.PUBLIC
        found = store.version_at(REF, T0 + 2 * DAY)
        assert (found.classification, found.verified) == (PII, True)
