"""A table of another catalog (v2, ``spark.sql.catalog.<name>``) keeps its data where that
catalog does: a JDBC catalog's database, an Iceberg or Hadoop catalog's warehouse. Every such
table was decided as a managed, internal database that keeps labels, so a catalog configured on
a database on another host took e-mails as internal storage. Nothing here reaches a catalog:
the write is decided, and refused, before Spark loads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.model import DestinationType, Scope
from lacuna.spark import writes

JDBC = "org.apache.spark.sql.execution.datasources.v2.jdbc.JDBCTableCatalog"


@pytest.fixture
def catalogs(gspark, governed: Path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    spark = gspark
    settings = {
        "spark.sql.catalog.s5pg": JDBC,
        "spark.sql.catalog.s5pg.url": "jdbc:postgresql://evil.example.com/db",
        "spark.sql.catalog.s5wh": "org.example.NoSuchCatalog",
        "spark.sql.catalog.s5wh.warehouse": str(governed / "governed" / "workspace" / "wh"),
        "spark.sql.catalog.s5bare": "org.example.NoSuchCatalog",
    }
    for key, value in settings.items():
        spark.conf.set(key, value)
    yield governed
    for key in settings:
        spark.conf.unset(key)


def test_a_table_of_another_catalog_is_decided_where_that_catalog_keeps_it(
        gspark, catalogs: Path) -> None:
    spark = gspark
    gov = current()
    for name in ("s5pg.public.people", "s5pg.people"):
        target = writes.table_target(spark, name, append=False)
        dest = writes.destination(gov, target)  # was: internal, managed, keeps labels
        assert (dest.type, dest.scope) == (DestinationType.DATABASE, Scope.EXTERNAL), name
    with pytest.raises(GovernanceViolation):  # before Spark loads the catalog (no driver)
        spark.createDataFrame([("a@example.com",)], ["contact"]).writeTo(
            "s5pg.public.people").create()
    # a warehouse in governed storage: allowed there; a catalog that says neither: unknown
    warehouse = writes.destination(gov, writes.table_target(spark, "s5wh.db.t", append=False))
    assert warehouse.uri == str(catalogs / "governed" / "workspace" / "wh")
    assert warehouse.scope is Scope.INTERNAL
    bare = writes.destination(gov, writes.table_target(spark, "s5bare.db.t", append=False))
    assert (bare.uri, bare.scope) == (writes.UNLOCATED_CATALOG, Scope.EXTERNAL)
    # the session catalog is still a managed table
    assert writes.table_target(spark, "db.t", append=False).place is None


def test_a_name_after_use_catalog_is_a_table_of_that_catalog(
        gspark, catalogs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``USE CATALOG s5pg`` (``spark.catalog.setCurrentCatalog``): a bare name is that
    catalog's table, not the session catalog's."""
    spark = gspark
    monkeypatch.setattr(writes, "_current_catalog", lambda spark: "s5pg")
    target = writes.table_target(spark, "people", append=True)
    assert target.name == "s5pg.default.people"
    assert writes.destination(current(), target).scope is Scope.EXTERNAL
