"""What a Spark read of a source takes from the lineage store as its declaration: only a
version a run *wrote* (the whole dataset), never what a run *read*, which may be a part of it
(``pd.read_csv(uri, usecols=[...])``, ``nrows=``, a chunk). Tested on the store and on
``lacuna.spark.sources._from_store`` without starting Spark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from lacuna.lineage.records import DatasetVersion
from lacuna.lineage.schema import run_io
from lacuna.lineage.store import LineageStore
from lacuna.model import ColumnKind, Tier
from remote_customers import REMOTE, URI, regions, remote_run, spark_sees, whole


@pytest.fixture
def store(tmp_path: Path):
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as s:
        yield s


def test_a_read_of_part_of_a_remote_file_never_declares_the_whole(store: LineageStore) -> None:
    store.record(remote_run("read-some", read=regions()), trusted=True)
    known = store.latest(REMOTE, trusted=True)
    assert known is not None
    assert known.classification == regions()  # the dataset's state: nothing was known before
    declared, restricts = spark_sees(store)
    assert declared is None  # Spark samples the file; what was read only adds restrictions
    assert restricts == regions()
    assert store.latest_written(REMOTE) is None


def test_a_write_of_the_whole_declares_and_a_later_read_only_restricts(
        store: LineageStore) -> None:
    store.record(remote_run("wrote", wrote=whole()), trusted=True)
    assert spark_sees(store) == (whole(), None)
    store.record(remote_run("read-some", read=regions(), minutes=5), trusted=True)
    declared, restricts = spark_sees(store)
    assert declared == whole()
    assert restricts is None  # the store kept the lower read off the dataset's state


def test_a_written_version_edited_by_hand_or_moved_to_a_read_declares_nothing(
        store: LineageStore) -> None:
    store.record(remote_run("wrote", wrote=whole()), trusted=True)
    with store.engine.begin() as conn:  # the row that says the run wrote it, edited
        conn.execute(update(run_io).where(run_io.c.run_id == "wrote").values(direction="in"))
    # the version's signature says the run wrote it: hiding the write does not lower the
    # dataset to an older one (tests/lineage/test_lineage9_written.py)
    assert store.latest_written(REMOTE) == DatasetVersion(
        dataset=REMOTE, classification=whole(), columns=("region", "c3"))
    with store.engine.begin() as conn:
        conn.execute(update(run_io).where(run_io.c.run_id == "wrote").values(direction="out"))
        row = conn.exec_driver_sql(
            "SELECT id, classification FROM lacuna_lineage_versions").one()
        data = json.loads(row.classification)
        data["columns"]["c3"]["classification"] = "public"  # lowered by hand: no longer signed
        conn.exec_driver_sql("UPDATE lacuna_lineage_versions SET classification = ? "
                             "WHERE id = ?", (json.dumps(data), row.id))
    assert store.latest_written(REMOTE) is None


def test_register_lineage_of_a_remote_source_known_from_part_of_it(governed: Path) -> None:
    """register_lineage took the store's newest trusted version of a remote source as its class:
    after a read of its region column, a copy of the whole customer file was registered PUBLIC
    (the fingerprint rule guards local files only)."""
    import lacuna
    from lacuna.errors import LineageError

    store = lacuna.governor.current().lineage_store
    store.record(remote_run("read-some", read=regions()), trusted=True)
    with pytest.raises(LineageError, match="only from what runs read of it"):
        lacuna.register_lineage(source=URI, destination="s3://lake/copy.csv", operation="copy")
    store.record(remote_run("wrote", wrote=whole(), minutes=1), trusted=True)
    store.record(remote_run("read-again", read=regions(), minutes=2), trusted=True)
    run = lacuna.register_lineage(source=URI, destination="s3://lake/copy.csv", operation="copy")
    copied = run.outputs[0].classification
    assert (copied.tier, copied.columns["c3"].classification) == (Tier.PROPRIETARY,
                                                                  ColumnKind.PII)
