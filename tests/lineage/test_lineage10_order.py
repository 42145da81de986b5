"""Which version of a dataset is its latest goes by the order its signature covers, not its id.

A version row's id decided "latest", and neither it nor ``created`` was signed: a user who edits
the state database could give an older, lower version the highest id, and it read as the
dataset's state with its signature holding. Trusted versions now sign their run's ``seq`` and
their ``created`` time (``order`` in their classification JSON)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import ORDER_KEY, LineageStore, version_payload
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))


def _written(run_id: str, c: Classification) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=REF, classification=c),))


def _swap(db: Path) -> None:
    """Give the older version the newer one's id, and the other way round."""
    with sqlite3.connect(db) as conn:
        (old,), (new,) = conn.execute(
            "SELECT id FROM lacuna_lineage_versions ORDER BY id").fetchall()
        for a, b in ((old, -1), (new, old), (-1, new)):
            conn.execute("UPDATE lacuna_lineage_versions SET id = ? WHERE id = ?", (b, a))
            conn.execute("UPDATE lacuna_lineage_run_io SET version_id = ? WHERE version_id = ?",
                         (b, a))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(_written("old", Classification()))  # PUBLIC, recorded first
        store.record(_written("new", PII))
    return path


def _tiers(store: LineageStore) -> tuple[Tier | None, ...]:
    return tuple(v.classification.tier if v else None for v in (
        store.latest(REF, trusted=True), store.latest(REF)))


def test_lineage10_the_latest_version_is_the_one_recorded_last(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}") as store:
        assert _tiers(store) == (Tier.PROPRIETARY, Tier.PROPRIETARY)


def test_lineage10_an_older_version_given_a_higher_id_is_not_the_latest(
        db: Path, caplog: pytest.LogCaptureFixture) -> None:
    _swap(db)
    with sqlite3.connect(db) as conn:  # the swap is what the old order reads: PUBLIC newest
        (run,) = conn.execute("SELECT run_id FROM lacuna_lineage_versions "
                              "ORDER BY id DESC LIMIT 1").fetchone()
    assert run == "old"
    with caplog.at_level(logging.WARNING, "lacuna"), LineageStore(f"sqlite:///{db}") as store:
        assert _tiers(store) == (Tier.PROPRIETARY, Tier.PROPRIETARY)
    assert "the ids were edited by hand" in caplog.text


def test_lineage10_a_version_signed_before_its_order_was_is_older(db: Path) -> None:
    """A version recorded before versions signed their order still verifies, and is older than
    every version that signed one, whatever its id."""
    with LineageStore(f"sqlite:///{db}") as store, sqlite3.connect(db) as conn:
        (vid, body, columns, fp, produced) = conn.execute(
            "SELECT id, classification, columns, fingerprint, produced FROM "
            "lacuna_lineage_versions WHERE run_id = 'old'").fetchone()
        data = json.loads(body)
        data.pop("signature")
        data.pop(ORDER_KEY)
        data["signature"] = store.keyring.sign(version_payload(
            REF, "old", fp, data, json.loads(columns), bool(produced)))
        conn.execute("UPDATE lacuna_lineage_versions SET classification = ? WHERE id = ?",
                     (json.dumps(data, sort_keys=True), vid))
    with LineageStore(f"sqlite:///{db}") as store:
        assert _tiers(store) == (Tier.PROPRIETARY, Tier.PROPRIETARY)
        _swap(db)
        assert _tiers(store) == (Tier.PROPRIETARY, Tier.PROPRIETARY)


def test_lineage10_a_versions_created_time_is_signed(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lacuna_lineage_versions SET created = '2099-01-01T00:00:00' "
                     "WHERE run_id = 'old'")
    with LineageStore(f"sqlite:///{db}") as store:
        row = store._read(store_rows(), {"run_id": "old"})[0]
        assert not store._verifies(row, REF)


def store_rows():  # every column a read of a version has
    from sqlalchemy import bindparam

    from lacuna.lineage import queries
    from lacuna.lineage.schema import versions

    return queries.version_select().where(versions.c.run_id == bindparam("run_id"))
