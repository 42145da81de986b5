"""What a Spark read of a source takes from the lineage store as its declaration: only a
version a run *wrote* (the whole dataset), never what a run *read*, which may be a part of it
(``pd.read_csv(uri, usecols=[...])``, ``nrows=``, a chunk). Tested on the store and on
``lacuna.spark.sources._from_store`` without starting Spark."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.schema import run_io
from lacuna.lineage.store import LineageStore
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
def store(tmp_path: Path):
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as s:
        yield s


def _spark_sees(store: LineageStore) -> tuple[Classification | None, Classification | None]:
    leaf = Leaf(key="file:s3", label=REMOTE.name, columns=("region", "c3"), ref=REMOTE)
    return _from_store(SimpleNamespace(lineage_store=store), leaf)  # type: ignore[arg-type]


def test_a_read_of_part_of_a_remote_file_never_declares_the_whole(store: LineageStore) -> None:
    store.record(_run("read-some", read=_regions()), trusted=True)
    known = store.latest(REMOTE, trusted=True)
    assert known is not None
    assert known.classification == _regions()  # the dataset's state: nothing was known before
    declared, restricts = _spark_sees(store)
    assert declared is None  # Spark samples the file; what was read only adds restrictions
    assert restricts == _regions()
    assert store.latest_written(REMOTE) is None


def test_a_write_of_the_whole_declares_and_a_later_read_only_restricts(
        store: LineageStore) -> None:
    store.record(_run("wrote", wrote=_whole()), trusted=True)
    assert _spark_sees(store) == (_whole(), None)
    store.record(_run("read-some", read=_regions(), minutes=5), trusted=True)
    declared, restricts = _spark_sees(store)
    assert declared == _whole()
    assert restricts is None  # the store kept the lower read off the dataset's state


def test_a_written_version_edited_by_hand_or_moved_to_a_read_declares_nothing(
        store: LineageStore) -> None:
    store.record(_run("wrote", wrote=_whole()), trusted=True)
    with store.engine.begin() as conn:  # the row that says the run wrote it, edited
        conn.execute(update(run_io).where(run_io.c.run_id == "wrote").values(direction="in"))
    # the version's signature says the run wrote it: hiding the write does not lower the
    # dataset to an older one (tests/lineage/test_lineage9_written.py)
    assert store.latest_written(REMOTE) == DatasetVersion(
        dataset=REMOTE, classification=_whole(), columns=("region", "c3"))
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
    store.record(_run("read-some", read=_regions()), trusted=True)
    with pytest.raises(LineageError, match="only from what runs read of it"):
        lacuna.register_lineage(source=URI, destination="s3://lake/copy.csv", operation="copy")
    store.record(_run("wrote", wrote=_whole(), minutes=1), trusted=True)
    store.record(_run("read-again", read=_regions(), minutes=2), trusted=True)
    run = lacuna.register_lineage(source=URI, destination="s3://lake/copy.csv", operation="copy")
    copied = run.outputs[0].classification
    assert (copied.tier, copied.columns["c3"].classification) == (Tier.PROPRIETARY,
                                                                  ColumnKind.PII)
