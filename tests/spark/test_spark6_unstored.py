"""A label that cannot be stored after a governed write was a log line: a table whose files are
remote binds its label to the column names only, so its old, lower label stayed trusted over
what the write put there (e-mails written into a PUBLIC table read as PUBLIC). The old label is
now stale in this process until a label is stored again: it only adds restrictions to the
lineage store's record of the write or a sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lacuna.spark
from lacuna.model import Tier


def _label_tier(spark, table: str) -> str:  # type: ignore[no-untyped-def]
    from lacuna.spark.labels import read_table_label

    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    text = read_table_label(props)
    assert text is not None
    return str(json.loads(text)["classification"]["tier"])


def test_a_label_that_cannot_be_stored_leaves_the_old_one_untrusted(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacuna.spark import labels, sources, unstored

    spark = gspark
    # remote files: the label binds the column names only (no local folder to bind to)
    monkeypatch.setattr(sources, "table_files", lambda leaf: None)
    words = spark.createDataFrame([("hello",), ("world",)], ["contact"])
    emails = spark.createDataFrame([("a@example.com",), ("b@example.org",)], ["contact"])
    try:
        words.write.saveAsTable("s6_unstored")
        assert lacuna.spark.classification(spark.table("s6_unstored")).tier is Tier.PUBLIC
        with monkeypatch.context() as m:  # the catalog refuses properties
            m.setattr(labels, "set_properties_sql",
                      lambda table, props: "ALTER TABLE s6_no_such_table SET TBLPROPERTIES "
                                           "('k'='v')")
            emails.write.insertInto("s6_unstored", overwrite=True)  # keeps the table's props
        assert _label_tier(spark, "s6_unstored") == "PUBLIC"  # the old label is still there
        assert unstored.stale("spark_catalog.default.s6_unstored") is not None
        c = lacuna.spark.classification(spark.table("s6_unstored"))
        assert (c.tier, c.columns["contact"].pii_type) == (Tier.PROPRIETARY, "email")  # was PUBLIC
        # a write whose label is stored makes the label trusted again
        words.write.insertInto("s6_unstored", overwrite=True)
        assert unstored.stale("spark_catalog.default.s6_unstored") is None
        assert lacuna.spark.classification(spark.table("s6_unstored")).tier is Tier.PUBLIC
    finally:
        spark.sql("DROP TABLE IF EXISTS s6_unstored")
        unstored.stored("spark_catalog.default.s6_unstored")


def test_a_table_moved_onto_other_files_is_relabelled_by_what_they_hold(
        gspark, governed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ALTER TABLE … SET LOCATION`` (Lacuna decides none) onto a folder of e-mails left a
    table on remote files (label bound to its column names only) read at its old PUBLIC label.
    The listener now takes the move as an outside write of what the table holds there."""
    from lacuna.governor import current
    from lacuna.spark import sources, unstored
    from lacuna.spark.listener import flush

    spark = gspark
    table = "s6_moved"
    monkeypatch.setattr(sources, "table_files", lambda leaf: None)  # as for remote files
    spark.createDataFrame([("hello",)], ["contact"]).write.saveAsTable(table)
    folder = tmp_path / "emails"
    spark.createDataFrame([("a@example.com",)], ["contact"])._jdf.write().parquet(str(folder))
    try:
        assert lacuna.spark.classification(spark.table(table)).tier is Tier.PUBLIC
        move = f"ALTER TABLE {table} SET LOCATION '{folder}'"
        spark._jsparkSession.sql(move)  # outside Lacuna (spark.sql runs it the same way)
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
        assert flush(spark, 30)
        c = lacuna.spark.classification(spark.table(table))
        assert (c.tier, c.columns["contact"].pii_type) == (Tier.PROPRIETARY, "email")  # was PUBLIC
        assert _label_tier(spark, table) == "PROPRIETARY"  # re-labelled
        assert [r for r in current().audit.list(limit=None)
                if "UNGOVERNED" in r.body and table in r.body and "SET LOCATION" in r.body]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")
        unstored.stored(f"spark_catalog.default.{table}")
