"""Part files put into a labelled folder's or table's location by something other than a
governed write (copied in by hand, or left by a write outside Lacuna that failed half-way:
``part-*`` files and no ``_SUCCESS``) are never read under the folder's older, lower label.

A local folder's sidecar and a local table's label bind the folder's content (each file's
fingerprint), so the change makes them stale. A table whose files are remote (the label bound
its column names only: what stands in for it in these tests is ``table_files`` answering None,
as for an ``s3a://`` location) bound nothing of its files, and was read at its label over the
e-mails copied in. Its label now binds its files' listing (names and sizes, read through
Spark's Hadoop file system, no job)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import lacuna.spark
from lacuna.governor import current
from lacuna.model import Tier

WORDS = [("hello",), ("world",)]
EMAILS = [("a@example.com",), ("b@example.org",)]


def _emails_part(tmp: Path) -> Path:
    """A Parquet part file of e-mails made by something other than Spark (pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lacuna import _bypass

    part = tmp / "part-00000-elsewhere.snappy.parquet"
    with _bypass.bypass():  # not a governed write: made by hand, as far as Lacuna knows
        pq.write_table(pa.table({"contact": [e for (e,) in EMAILS]}), str(part))
    return part


def _copy_in(part: Path, folder: Path, *, success: bool) -> None:
    shutil.copy(part, folder / "part-99999-copied-in.snappy.parquet")
    if not success:
        (folder / "_SUCCESS").unlink(missing_ok=True)


def _is_emails(c: Any) -> bool:
    return c.tier is Tier.PROPRIETARY and c.columns["contact"].pii_type == "email"


@pytest.mark.parametrize("success", [True, False])
def test_part_files_added_to_a_local_folder(gspark, governed: Path, tmp_path: Path,
                                            success: bool) -> None:
    spark = gspark
    out = governed / "governed" / "workspace" / f"s14_folder_{success}.parquet"
    spark.createDataFrame(WORDS, ["contact"]).write.parquet(str(out))
    assert lacuna.spark.classification(spark.read.parquet(str(out))).tier is Tier.PUBLIC
    _copy_in(_emails_part(tmp_path), out, success=success)
    read = spark.read.parquet(str(out))
    assert _is_emails(lacuna.spark.classification(read))
    assert len(read.collect()) == 4


@pytest.mark.parametrize("remote", [False, True])
def test_part_files_added_to_a_table_location(gspark, governed: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              remote: bool) -> None:
    from lacuna.spark import sources

    spark = gspark
    table = f"s14_added_{'remote' if remote else 'local'}"
    if remote:  # the label cannot bind a local folder's content
        monkeypatch.setattr(sources, "table_files", lambda leaf: None)
    try:
        spark.createDataFrame(WORDS, ["contact"]).write.saveAsTable(table)
        assert lacuna.spark.classification(spark.table(table)).tier is Tier.PUBLIC
        location = _location(spark, table)
        _copy_in(_emails_part(tmp_path), location, success=False)
        spark.catalog.refreshTable(table)
        read = spark.table(table)
        c = lacuna.spark.classification(read)
        assert _is_emails(c), c  # was PUBLIC (remote)
        assert len(read.collect()) == 4
        # a governed write labels it again, bound to what it holds now; the allowed path
        spark.createDataFrame(WORDS, ["contact"]).write.mode("overwrite").saveAsTable(table)
        back = spark.table(table)
        assert lacuna.spark.classification(back).tier is Tier.PUBLIC
        assert sorted(r[0] for r in back.collect()) == ["hello", "world"]
        assert not [r for r in current().audit.list(limit=None) if "UNGOVERNED" in r.body]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")


def _location(spark: Any, table: str) -> Path:
    from lacuna.spark.sources import local_path

    uri = spark._jsparkSession.sessionState().catalog().getTableMetadata(
        spark._jvm.org.apache.spark.sql.catalyst.TableIdentifier(table)).location().toString()
    found = local_path(str(uri))
    assert found is not None
    return Path(found)


def test_part_files_added_to_a_remote_folder(gspark, governed: Path, tmp_path: Path) -> None:
    """A folder read by a remote path (``s3a://…``) has no sidecar: the lineage store's record
    of the governed write there declared it, without looking at the files, so e-mails copied
    in read as the record's PUBLIC. Spark cannot reach a remote store here: the leaf is the
    one Lacuna makes for such a read (its path named remote, so no sidecar and no local
    folder), over a plan that reads a local folder holding the e-mails copied in, and the store
    has the governed PUBLIC write of that remote path recorded as a run's output."""
    import uuid

    import pandas as pd

    from lacuna import _bypass
    from lacuna.lineage.recording import as_stored
    from lacuna.lineage.records import DatasetVersion, Run, RunStatus
    from lacuna.spark import _jvm, sources

    spark = gspark
    gov = current()
    remote = "s3a://s14-bucket/words.parquet"
    folder = tmp_path / "bucket"
    folder.mkdir()
    _emails_part(folder)
    with _bypass.bypass():
        plan = _jvm.leaf(_jvm.analyzed(spark.read.parquet(str(folder))))
    leaf = sources._files_leaf([remote], ("contact",), plan)
    assert (leaf.path, leaf.ref) == (None, sources.path_ref(remote))
    public = gov.classify_read(None, pd.DataFrame({"contact": ["hello", "world"]}))[0]
    assert public.tier is Tier.PUBLIC
    gov.lineage_store.record(Run(
        id=uuid.uuid4().hex, operation="spark.write", status=RunStatus.SUCCEEDED,
        outputs=(DatasetVersion(dataset=leaf.ref, classification=as_stored(public),
                                columns=("contact",)),)))
    sources.forget()
    c = sources.classify_leaf(gov, spark, leaf).classification
    assert _is_emails(c), c  # was PUBLIC: the store's record declared it
