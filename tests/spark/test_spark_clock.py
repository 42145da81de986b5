"""Spark writes carry the retention clock (``first_seen``) in their signed sidecar, as pandas
and polars writes do: a copy of old data is as old as its source, what is written below the
source's tier is new data, a path written again keeps its clock, and a sidecar that is not
trusted never moves it. Real Spark, real signing, the real retention plan."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

import lacuna
from lacuna.lineage.sidecar import read_sidecar, sidecar_path, write_sidecar
from lacuna.model import Tier

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=round(365.25 * 4))  # INTERNAL: max 3 years, so due


def _old_source(folder: Path, name: str = "old.csv") -> Path:
    """The bundled sales data (INTERNAL) with a trusted sidecar signed four years ago, as a
    governed write then left it (not on this audit trail: only its sidecar knows its age)."""
    path = folder / name
    shutil.copy(resources.files("lacuna") / "data" / "sales.csv", path)
    gov = lacuna.governor.current()
    c = gov.classify_read(str(path), pd.read_csv(path))[0]
    assert c.tier is Tier.INTERNAL
    write_sidecar(path, c, written_by="analyst_bob", written_at=OLD, first_seen=OLD)
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trusted
    return path


def _seen(path: Path) -> datetime:
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trusted, declared.problem
    assert declared.first_seen is not None
    return declared.first_seen


def _age_back(path: Path, when: datetime) -> None:
    """``path`` as a governed write left it at ``when``: its sidecar re-signed then."""
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trusted
    write_sidecar(path, declared.classification, sources=declared.sources,
                  written_by=declared.written_by, written_at=when, first_seen=when)


def _forge(path: Path, first_seen: datetime) -> None:
    """Edit the sidecar of ``path`` by hand: its signature no longer verifies."""
    side = sidecar_path(path)
    body = json.loads(side.read_text())
    body["first_seen"] = first_seen.isoformat()
    side.write_text(json.dumps(body), encoding="utf-8")
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trust == "forged"


def _plan() -> dict[str, object]:
    from lacuna.retention import build_plan

    plan = build_plan(lacuna.governor.current())
    return {e.item.path: e for e in plan.entries}


def test_a_spark_copy_keeps_its_source_clock_and_a_public_projection_starts_anew(gspark,
                                                                                governed):
    spark = gspark
    old = _old_source(governed)
    root = governed / "governed" / "workspace"
    copy, categories = root / "copy.parquet", root / "categories.parquet"
    frame = spark.read.csv(str(old), header=True)
    frame.write.parquet(str(copy))
    frame.select("product_category").write.parquet(str(categories))

    assert _seen(copy).date() == OLD.date()
    assert read_sidecar(copy).classification.tier is Tier.INTERNAL  # type: ignore[union-attr]
    assert read_sidecar(categories).classification.tier is Tier.PUBLIC  # type: ignore[union-attr]
    assert _seen(categories) > NOW - timedelta(hours=1)  # below its source's tier: new data
    back = spark.read.parquet(str(copy))  # the allowed path reads back whole
    assert back.count() == frame.count()
    assert sorted(back.columns) == sorted(frame.columns)

    entries = _plan()
    due = entries[str(copy)]
    assert due.action == "delete"  # type: ignore[attr-defined]
    assert due.item.clock.date() == OLD.date()  # type: ignore[attr-defined]
    assert f"its data first seen {OLD:%Y-%m-%d} (its signed sidecar)" \
        in due.item.known_from  # type: ignore[attr-defined]
    kept = entries[str(categories)]
    assert kept.action == "keep"  # type: ignore[attr-defined]
    assert kept.item.clock > NOW - timedelta(hours=1)  # type: ignore[attr-defined]


def test_a_path_written_again_keeps_its_clock(gspark, governed):
    """Overwritten or appended to with data first seen now: the folder's clock stays the
    earlier one (the earliest of the old and the new)."""
    spark = gspark
    root = governed / "governed" / "workspace"
    fresh = spark.createDataFrame([("books", 3), ("games", 4)], ["product_category", "n"])
    for mode in ("overwrite", "append"):
        out = root / f"{mode}.parquet"
        fresh.write.parquet(str(out))
        assert _seen(out) > NOW - timedelta(hours=1)
        _age_back(out, OLD)
        fresh.write.mode(mode).parquet(str(out))
        assert _seen(out).date() == OLD.date(), mode
        assert spark.read.parquet(str(out)).count() == (2 if mode == "overwrite" else 4)

    # appending old data to a fresh folder: the folder is now as old as what it holds
    old = _old_source(governed)
    target = root / "appended.parquet"
    rows = spark.read.csv(str(old), header=True)
    rows.limit(1).write.parquet(str(target))
    assert _seen(target).date() == OLD.date()
    rows.write.mode("append").parquet(str(target))
    assert _seen(target).date() == OLD.date()


def test_a_sidecar_that_is_not_trusted_never_moves_the_clock(gspark, governed):
    """A source whose sidecar is edited to claim ten years carries no clock to its copy; a
    destination whose sidecar is edited to claim ten years does not keep that claim when it is
    written again."""
    spark = gspark
    old = _old_source(governed)
    _forge(old, NOW - timedelta(days=3650))
    root = governed / "governed" / "workspace"
    copy = root / "copy.parquet"
    spark.read.csv(str(old), header=True).write.parquet(str(copy))
    assert _seen(copy) > NOW - timedelta(hours=1)

    target = root / "target.parquet"
    fresh = spark.createDataFrame([("books", 3)], ["product_category", "n"])
    fresh.write.parquet(str(target))
    _forge(target, NOW - timedelta(days=3650))
    fresh.write.mode("overwrite").parquet(str(target))
    assert _seen(target) > NOW - timedelta(hours=1)
    assert _plan()[str(target)].action == "keep"  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["csv", "sql"])
def test_every_writer_of_a_path_carries_the_clock(gspark, governed, how):
    spark = gspark
    old = _old_source(governed)
    out = governed / "governed" / "workspace" / f"by_{how}"
    frame = spark.read.csv(str(old), header=True).withColumn(
        "twice", F.col("revenue").cast("double") * 2)
    if how == "csv":
        frame.write.option("header", True).csv(str(out))
    else:
        frame.createOrReplaceTempView("old_sales")
        spark.sql(f"INSERT OVERWRITE DIRECTORY '{out}' USING parquet SELECT * FROM old_sales")
    assert _seen(out).date() == OLD.date()


def _table_seen(spark, name: str) -> datetime:
    """The clock in the trusted label of the catalog table ``name``."""
    from lacuna.lineage.sidecar import read_embedded
    from lacuna.spark.labels import read_table_label

    props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {name}").collect()}
    label = read_table_label(props)
    assert label is not None
    declared = read_embedded(label, data_path=None, table=f"spark_catalog.default.{name}",
                             frame=pd.DataFrame(columns=spark.table(name).columns))
    assert declared.trusted, declared.problem
    assert declared.first_seen is not None
    return declared.first_seen


def test_a_table_carries_the_clock_from_its_sources_to_what_is_written_from_it(gspark,
                                                                              governed):
    """Old data saved as a table: its label carries the clock, a table written again keeps
    it, and a file written from the table is as old as the data."""
    spark = gspark
    old = _old_source(governed)
    try:
        spark.read.csv(str(old), header=True).write.saveAsTable("old_sales_copy")
        assert _table_seen(spark, "old_sales_copy").date() == OLD.date()
        fresh = spark.createDataFrame([("O9", "C1", "books", "1.00", "2026-12-01")],
                                      spark.table("old_sales_copy").columns)
        fresh.write.mode("append").saveAsTable("old_sales_copy")
        assert _table_seen(spark, "old_sales_copy").date() == OLD.date()
        out = governed / "governed" / "workspace" / "from_table.parquet"
        spark.table("old_sales_copy").write.parquet(str(out))
        assert _seen(out).date() == OLD.date()
        assert spark.read.parquet(str(out)).count() == spark.table("old_sales_copy").count()
        fresh.write.mode("overwrite").saveAsTable("old_sales_copy")  # replaced: still as old
        assert _table_seen(spark, "old_sales_copy").date() == OLD.date()
        assert spark.table("old_sales_copy").count() == 1

        spark.createDataFrame([("books", 3)], ["product_category", "n"]).write.saveAsTable(
            "new_categories")
        assert _table_seen(spark, "new_categories") > NOW - timedelta(hours=1)
    finally:
        spark.sql("DROP TABLE IF EXISTS old_sales_copy")
        spark.sql("DROP TABLE IF EXISTS new_categories")
