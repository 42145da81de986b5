"""``LineageStore.latest_written`` takes which side of its run a version was on from the
version's signature, not from ``lacuna_lineage_run_io.direction``, a plain column the owner of
the state database can flip: a read of one PUBLIC column flipped into a write became the
dataset's written class (what Spark and ``register_lineage`` take as the declaration of a
remote dataset), and the newest write flipped into a read made an older, lower write the
latest. A version signed before the direction was is not vouched for as written: it only
adds restrictions."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import update

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.schema import run_io
from lacuna.lineage.store import LineageStore, version_payload
from lacuna.model import Classification
from remote_customers import REMOTE, URI, regions, remote_run, spark_sees, whole


@pytest.fixture
def lite(tmp_path: Path):
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as s:
        yield s


def _flip(store: LineageStore, run_id: str, to: str) -> None:
    with store.engine.begin() as conn:
        assert conn.execute(update(run_io).where(run_io.c.run_id == run_id,
                                                 run_io.c.direction != to)
                            .values(direction=to)).rowcount > 0


def _written(store: LineageStore) -> Classification | None:
    found = store.latest_written(REMOTE)
    return found.classification if found is not None else None


def test_a_read_flipped_into_a_write_is_not_the_written_class(lite: LineageStore) -> None:
    lite.record(remote_run("read-some", read=regions()), trusted=True)
    assert _written(lite) is None
    _flip(lite, "read-some", "out")  # the run "wrote" the PUBLIC read of one column
    assert _written(lite) is None
    assert spark_sees(lite) == (None, regions())  # a read: it only adds restrictions


def test_the_newest_write_flipped_into_a_read_stays_the_written_class(
        store: LineageStore) -> None:  # SQLite and PostgreSQL (the signed "io" is matched in SQL)
    store.record(remote_run("wrote-public", wrote=regions()), trusted=True)
    assert _written(store) == regions()  # the allowed path: a write is the written class
    store.record(remote_run("wrote-whole", wrote=whole(), minutes=1), trusted=True)
    assert _written(store) == whole()
    _flip(store, "wrote-whole", "in")  # hide the newest write: the older, PUBLIC one showed
    assert _written(store) == whole()
    assert spark_sees(store) == (whole(), None)


def test_register_lineage_of_a_remote_source_whose_read_was_flipped(sandbox: Path,
                                                                    sandbox_config) -> None:
    import lacuna

    with LineageStore(f"sqlite:///{sandbox / 'audit.db'}") as store:
        store.record(remote_run("read-some", read=regions()), trusted=True)
        _flip(store, "read-some", "out")
    lacuna.enable(sandbox_config())
    with pytest.raises(LineageError, match="only from what runs read of it"):
        lacuna.register_lineage(source=URI, destination="s3://lake/copy.csv", operation="copy")


def test_a_write_signed_before_the_direction_was_only_restricts(
        lite: LineageStore, caplog: pytest.LogCaptureFixture) -> None:
    """A version signed as this store signed them before (no direction in the signature):
    its run_io row says written, which nothing vouches for. Not lost: it still raises what a
    read of the dataset is classified as."""
    lite.record(remote_run("wrote", wrote=whole()), trusted=True)
    with lite.engine.begin() as conn:  # the row as the earlier signature left it
        row = conn.exec_driver_sql(
            "SELECT id, run_id, fingerprint, classification, columns, produced "
            "FROM lacuna_lineage_versions").one()
        data = json.loads(row.classification)
        for key in ("io", "signature"):
            data.pop(key)
        data["signature"] = lite.keyring.sign(version_payload(
            REMOTE, row.run_id, row.fingerprint, data, json.loads(row.columns), row.produced))
        conn.exec_driver_sql("UPDATE lacuna_lineage_versions SET classification = ? "
                             "WHERE id = ?", (json.dumps(data, sort_keys=True), row.id))
    known = lite.latest(REMOTE, trusted=True)
    assert known is not None
    assert known.classification == whole()  # the version still verifies as Lacuna's own
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.store"):
        assert _written(lite) is None
        assert _written(lite) is None
    said = [r.getMessage() for r in caplog.records if "listed as written" in r.getMessage()]
    assert len(said) == 1
    assert "recorded before Lacuna signed which side of a run" in said[0]
    assert spark_sees(lite) == (None, whole())


def test_a_completed_files_fingerprint_keeps_it_written(tmp_path: Path) -> None:
    """``set_fingerprint`` signs the version again (an ExcelWriter closed after its run was
    recorded): what the run did with it is signed again with it."""
    path = DatasetRef.of(str(tmp_path / "book.xlsx"))
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.record(Run(id="w", operation="to_excel", status=RunStatus.SUCCEEDED,
                         outputs=(DatasetVersion(dataset=path, classification=whole(),
                                                 columns=("region", "c3")),)))
        assert store.set_fingerprint("w", path, "fp-1") == 1
        found = store.latest_written(path)
        assert found is not None
        assert (found.fingerprint, found.classification) == ("fp-1", whole())
