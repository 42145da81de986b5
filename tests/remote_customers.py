"""A remote customer file (``s3://lake/raw/customers.csv``) in the lineage store: runs that read
a part of it or wrote it whole, and what a Spark read of it takes from the store as its
declaration (``lacuna.spark.sources._from_store``), without starting Spark
(tests/lineage/test_lineage8_spark_store.py, test_lineage9_written.py)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier
from lacuna.spark.sources import Leaf, _from_store

URI = "s3://lake/raw/customers.csv"
REMOTE = DatasetRef.of(URI)
REPORT = DatasetRef.of("s3://lake/reports/regions.csv")
WHEN = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def regions() -> Classification:
    """What ``usecols=["region"]`` of the customer file holds."""
    return Classification(columns={"region": ColumnClass()})


def whole() -> Classification:
    """The whole customer file: PROPRIETARY, an SSN column."""
    return Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR"), columns={
        "region": ColumnClass(),
        "c3": ColumnClass(classification=ColumnKind.PII, pii_type="ssn",
                          sensitivity=Sensitivity.CRITICAL)})


def remote_run(run_id: str, *, read: Classification | None = None,
               wrote: Classification | None = None, minutes: int = 0) -> Run:
    """A run that read ``read`` of the file and wrote the report, or wrote ``wrote`` to it."""
    return Run(
        id=run_id, operation="export", status=RunStatus.SUCCEEDED,
        inputs=(DatasetVersion(dataset=REMOTE, classification=read,
                               columns=tuple(read.columns)),) if read else (),
        outputs=(DatasetVersion(dataset=REMOTE if wrote else REPORT,
                                classification=wrote or regions(),
                                columns=tuple((wrote or regions()).columns)),),
        started_at=WHEN + dt.timedelta(minutes=minutes))


def spark_sees(store: LineageStore) -> tuple[Classification | None, Classification | None]:
    """What a Spark read of the file takes from ``store``: (declaration, restrictions)."""
    leaf = Leaf(key="file:s3", label=REMOTE.name, columns=("region", "c3"), ref=REMOTE)
    return _from_store(SimpleNamespace(lineage_store=store), leaf)  # type: ignore[arg-type]
