"""``LineageStore.latest_written`` takes which side of its run a version was on from the
version's signature, not from ``lacuna_lineage_run_io.direction``, a plain column the owner of
the state database can flip: a read of one PUBLIC column flipped into a write became the
dataset's written class (what Spark and ``register_lineage`` take as the declaration of a
remote dataset), and the newest write flipped into a read made an older, lower write the
latest. A version signed before the direction was is not vouched for as written: it only
adds restrictions."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.schema import run_io
from lacuna.lineage.store import LineageStore, version_payload
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier
from lacuna.spark.sources import Leaf, _from_store

URI = "s3://lake/raw/customers.csv"
REMOTE = DatasetRef.of(URI)
REPORT = DatasetRef.of("s3://lake/reports/regions.csv")
WHEN = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _regions() -> Classification:  # what usecols=["region"] of the customer file holds
    return Classification(columns={"region": ColumnClass()})


def _whole() -> Classification:
    return Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR"), columns={
        "region": ColumnClass(),
        "c3": ColumnClass(classification=ColumnKind.PII, pii_type="ssn",
                          sensitivity=Sensitivity.CRITICAL)})


def _run(run_id: str, *, read: Classification | None = None,
         wrote: Classification | None = None, minutes: int = 0) -> Run:
    return Run(
        id=run_id, operation="export", status=RunStatus.SUCCEEDED,
        inputs=(DatasetVersion(dataset=REMOTE, classification=read,
                               columns=tuple(read.columns)),) if read else (),
        outputs=(DatasetVersion(dataset=REMOTE if wrote else REPORT,
                                classification=wrote or _regions(),
                                columns=tuple((wrote or _regions()).columns)),),
        started_at=WHEN + dt.timedelta(minutes=minutes))


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


def _spark_sees(store: LineageStore) -> tuple[Classification | None, Classification | None]:
    leaf = Leaf(key="file:s3", label=REMOTE.name, columns=("region", "c3"), ref=REMOTE)
    return _from_store(SimpleNamespace(lineage_store=store), leaf)  # type: ignore[arg-type]


def test_a_read_flipped_into_a_write_is_not_the_written_class(lite: LineageStore) -> None:
    lite.record(_run("read-some", read=_regions()), trusted=True)
    assert _written(lite) is None
    _flip(lite, "read-some", "out")  # the run "wrote" the PUBLIC read of one column
    assert _written(lite) is None
    assert _spark_sees(lite) == (None, _regions())  # a read: it only adds restrictions


def test_the_newest_write_flipped_into_a_read_stays_the_written_class(
        store: LineageStore) -> None:  # SQLite and PostgreSQL (the signed "io" is matched in SQL)
    store.record(_run("wrote-public", wrote=_regions()), trusted=True)
    assert _written(store) == _regions()  # the allowed path: a write is the written class
    store.record(_run("wrote-whole", wrote=_whole(), minutes=1), trusted=True)
    assert _written(store) == _whole()
    _flip(store, "wrote-whole", "in")  # hide the newest write: the older, PUBLIC one showed
    assert _written(store) == _whole()
    assert _spark_sees(store) == (_whole(), None)


def test_register_lineage_of_a_remote_source_whose_read_was_flipped(sandbox: Path,
                                                                    sandbox_config) -> None:
    import lacuna

    with LineageStore(f"sqlite:///{sandbox / 'audit.db'}") as store:
        store.record(_run("read-some", read=_regions()), trusted=True)
        _flip(store, "read-some", "out")
    lacuna.enable(sandbox_config())
    with pytest.raises(LineageError, match="only from what runs read of it"):
        lacuna.register_lineage(source=URI, destination="s3://lake/copy.csv", operation="copy")


def test_a_write_signed_before_the_direction_was_only_restricts(
        lite: LineageStore, caplog: pytest.LogCaptureFixture) -> None:
    """A version signed as this store signed them before (no direction in the signature):
    its run_io row says written, which nothing vouches for. Not lost: it still raises what a
    read of the dataset is classified as."""
    lite.record(_run("wrote", wrote=_whole()), trusted=True)
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
    assert known.classification == _whole()  # the version still verifies as Lacuna's own
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.store"):
        assert _written(lite) is None
        assert _written(lite) is None
    said = [r.getMessage() for r in caplog.records if "listed as written" in r.getMessage()]
    assert len(said) == 1
    assert "recorded before Lacuna signed which side of a run" in said[0]
    assert _spark_sees(lite) == (None, _whole())


def test_a_completed_files_fingerprint_keeps_it_written(tmp_path: Path) -> None:
    """``set_fingerprint`` signs the version again (an ExcelWriter closed after its run was
    recorded): what the run did with it is signed again with it."""
    path = DatasetRef.of(str(tmp_path / "book.xlsx"))
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.record(Run(id="w", operation="to_excel", status=RunStatus.SUCCEEDED,
                         outputs=(DatasetVersion(dataset=path, classification=_whole(),
                                                 columns=("region", "c3")),)))
        assert store.set_fingerprint("w", path, "fp-1") == 1
        found = store.latest_written(path)
        assert found is not None
        assert (found.fingerprint, found.classification) == ("fp-1", _whole())
