"""A table whose catalog entry cannot be read: where a write to it goes is unknown. Any error
reading the entry was taken as "no location of its own", so the write was decided as one to a
managed table in the warehouse (internal storage) while Spark wrote into the table's real
folder: an external table in ~/Downloads whose entry could not be read took e-mails. Now
"no such table" and "no such database" are asked as such, and anything else refuses the write
in enforce mode, saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.model import DestinationType, Scope
from lacuna.spark import writes


class _Unreadable:
    """The session catalog, except that no table's entry can be read (a permission error, a
    corrupt metastore entry)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def getTableMetadata(self, ident: Any) -> Any:  # the JVM method's name
        raise RuntimeError("MetaException: permission denied reading the table's entry")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _catalog_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = writes._session_catalog
    monkeypatch.setattr(writes, "_session_catalog", lambda spark: _Unreadable(real(spark)))


def _emails(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([("a@example.com",), ("b@example.org",)], ["contact"])


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_write_to_a_table_whose_entry_cannot_be_read_is_refused(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    folder = governed / "Downloads" / "s5_ext"
    spark.sql(f"CREATE TABLE s5_ext (contact STRING) USING parquet LOCATION '{folder}'")
    try:
        with monkeypatch.context() as m:
            _catalog_fails(m)
            target = writes.table_target(spark, "s5_ext", append=True)
            assert target.table_path is None
            assert target.unreadable is not None
            assert "permission denied" in target.unreadable
            with pytest.raises(GovernanceViolation, match="could not say where the files"):
                _emails(spark).write.insertInto("s5_ext")  # was: a managed table, allowed
        assert _parts(folder) == []  # nothing reached ~/Downloads
        # the catalog answers: the table is its folder, in ~/Downloads, and refused as such
        assert writes.table_target(spark, "s5_ext", append=True).table_path == str(folder)
    finally:
        spark.sql("DROP TABLE IF EXISTS s5_ext")


def test_a_table_or_database_not_there_is_not_an_unreadable_entry(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    with monkeypatch.context() as m:
        _catalog_fails(m)  # no entry to read: the failing call is never made
        assert writes._stored_location(spark, "s5_no_such_db.t") is None
        assert writes.table_target(spark, "s5_no_such_db.t", append=False).unreadable is None
        created = writes.table_target(spark, "s5_new", append=False)
        assert (created.unreadable, created.table_path, created.partitions) == (None, None, ())
        # a new table in the warehouse: decided as the managed catalog, as before
        dest = writes.destination(current(), created)
        assert (dest.type, dest.scope, dest.managed) == (
            DestinationType.DATABASE, Scope.INTERNAL, True)


def test_the_session_catalog_in_another_case_is_the_same_catalog(gspark,
                                                                 governed: Path) -> None:
    """``SPARK_CATALOG.default.t`` is the session catalog's table ``t`` (Spark resolves the
    catalog's name whatever its case): it was taken as another catalog, decided as a managed
    table, and e-mails went into the external table's folder in ~/Downloads."""
    spark = gspark
    folder = governed / "Downloads" / "s5_case"
    spark.sql(f"CREATE TABLE s5_case (contact STRING) USING parquet LOCATION '{folder}'")
    try:
        for name in ("s5_case", "default.s5_case", "SPARK_CATALOG.default.s5_case",
                     "Spark_Catalog.DEFAULT.S5_CASE"):
            target = writes.table_target(spark, name, append=True, views=True)
            assert (target.name, target.table_path) == (
                "spark_catalog.default.s5_case", str(folder)), name
        with pytest.raises(GovernanceViolation, match="Downloads"):
            _emails(spark).write.insertInto("SPARK_CATALOG.default.s5_case")
        assert _parts(folder) == []
    finally:
        spark.sql("DROP TABLE IF EXISTS s5_case")
