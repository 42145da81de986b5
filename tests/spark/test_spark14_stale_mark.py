"""The mark that a table's label is stale outlives the process that set it.

A governed write whose label cannot be stored (the metastore refuses ``ALTER TABLE … SET
TBLPROPERTIES``), and a table moved onto other files outside Lacuna, leave the table's old label
in place. For a table on remote files that label binds the column names only, so it stays
trusted. The mark that it is stale lived in the process's memory (``lacuna.spark.unstored``):
another process, or a new session, read the table at its old, lower label (e-mails written into
a PUBLIC table read as PUBLIC there). The mark is now also recorded in the lineage store, where
the write's run is, and read there by any process until a label written after it is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lacuna
import lacuna.spark
from lacuna.governor import current
from lacuna.model import Tier

TABLE = "s14_stale"
NAME = f"spark_catalog.default.{TABLE}"


def _label_tier(spark: Any, table: str) -> str:
    from lacuna.spark.labels import read_table_label

    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    text = read_table_label(props)
    assert text is not None
    return str(json.loads(text)["classification"]["tier"])


def _another_process() -> None:
    """What another process has: no mark in memory, nothing cached, a governor of its own over
    the same configuration (the same audit and lineage store)."""
    from lacuna.spark import sources, unstored

    config = current().config
    with unstored._LOCK:
        unstored._STALE.clear()
    sources.forget()
    lacuna.disable()
    lacuna.enable(config)


def test_a_label_that_could_not_be_stored_is_stale_in_another_process(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacuna.spark import labels, sources

    spark = gspark
    monkeypatch.setattr(sources, "table_files", lambda leaf: None)  # remote files: names only
    words = spark.createDataFrame([("hello",), ("world",)], ["contact"])
    emails = spark.createDataFrame([("a@example.com",), ("b@example.org",)], ["contact"])
    try:
        words.write.saveAsTable(TABLE)
        with monkeypatch.context() as m:  # the catalog refuses properties
            m.setattr(labels, "set_properties_sql",
                      lambda table, props: "ALTER TABLE s14_no_such_table SET TBLPROPERTIES "
                                           "('k'='v')")
            emails.write.insertInto(TABLE, overwrite=True)
        assert _label_tier(spark, TABLE) == "PUBLIC"  # the old label is still there
        _another_process()
        c = lacuna.spark.classification(spark.table(TABLE))
        assert (c.tier, c.columns["contact"].pii_type) == (Tier.PROPRIETARY, "email")  # was PUBLIC
        assert any("stale" in r for r in c.reasoning), c.reasoning
        # a label stored after the mark is trusted again, in this process and another
        words.write.insertInto(TABLE, overwrite=True)
        assert lacuna.spark.classification(spark.table(TABLE)).tier is Tier.PUBLIC
        _another_process()
        back = spark.table(TABLE)
        assert lacuna.spark.classification(back).tier is Tier.PUBLIC
        assert sorted(r[0] for r in back.collect()) == ["hello", "world"]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {TABLE}")
        from lacuna.spark import unstored

        unstored.stored(NAME)


def test_a_table_that_was_never_marked_reads_at_its_label_in_another_process(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The allowed path: a governed write's label is trusted in a new process, no UNGOVERNED
    record, the rows read back."""
    from lacuna.spark import sources

    spark = gspark
    monkeypatch.setattr(sources, "table_files", lambda leaf: None)
    try:
        spark.createDataFrame([("hello",)], ["contact"]).write.saveAsTable(TABLE)
        _another_process()
        back = spark.table(TABLE)
        assert lacuna.spark.classification(back).tier is Tier.PUBLIC
        assert [r[0] for r in back.collect()] == ["hello"]
        assert not [r for r in current().audit.list(limit=None) if "UNGOVERNED" in r.body]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {TABLE}")
