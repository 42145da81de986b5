"""polars, pyarrow and DuckDB's Python API: writes decided before anything is written,
classification kept across conversions, and hooks removed on disable. Real libraries, real files."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lacuna.integrations import duckdb as governed_duckdb  # noqa: E402
from lacuna.integrations import polars as governed_polars  # noqa: E402
from lacuna.integrations import pyarrow as governed_arrow  # noqa: E402


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for table in ("customers", "sales"):
        shutil.copy(resources.files("lacuna") / "data" / f"{table}.csv", tmp_path / f"{table}.csv")
    return tmp_path


def cfg(folder: Path) -> lacuna.Config:
    return config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                             "audit": {"url": f"sqlite:///{folder / 'audit.db'}"}})


def test_polars_pii_write_is_denied_and_nothing_written(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pl.read_csv(folder / "customers.csv")
        renamed = customers.lazy().select(pl.col("email").alias("notes"))
        target = folder / "out.parquet"
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            renamed.sink_parquet(target)
        assert not target.exists()
        counts = customers.lazy().group_by("region").agg(pl.len())
        assert governed_polars.classification(counts).tier.value == "INTERNAL"  # k-anonymous
        assert governed_polars.classification(renamed).tier.value == "PROPRIETARY"


def test_classification_crosses_conversions(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pl.read_csv(folder / "customers.csv")
        notes = customers.select(pl.col("email").alias("notes"))
        back = notes.to_pandas()
        assert back.lacuna_classification.columns["notes"].classification.value == "pii"
        again = pl.from_pandas(back)
        assert governed_polars.classification(again).columns["notes"].classification.value == "pii"
        table = pa.Table.from_pandas(back)
        assert governed_arrow.classification(table).tier.value == "PROPRIETARY"
        assert table.to_pandas().lacuna_classification.columns["notes"].classification.value \
            == "pii"


def test_pyarrow_writes_are_decided(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        for write in (lambda: pq.write_table(customers, folder / "c.parquet"),
                      lambda: pa_csv.write_csv(customers, folder / "c.csv")):
            with pytest.raises(GovernanceViolation):
                write()
        assert not (folder / "c.parquet").exists()
        assert not (folder / "c.csv").exists()


def test_duckdb_copy_and_relation_writes_are_decided(folder: Path) -> None:
    con = duckdb.connect()
    with lacuna.governed(cfg(folder)):
        customers = con.read_csv(str(folder / "customers.csv"))
        rel = con.sql("SELECT email AS notes FROM customers")
        assert governed_duckdb.classification(rel).columns["notes"].classification.value == "pii"
        with pytest.raises(GovernanceViolation):
            rel.write_csv(str(folder / "r.csv"))
        with pytest.raises(GovernanceViolation):
            con.execute(f"COPY (SELECT email FROM '{folder / 'customers.csv'}') "
                        f"TO '{folder / 'copy.csv'}'")
        assert not (folder / "r.csv").exists()
        assert not (folder / "copy.csv").exists()
        frame = rel.df()
        assert frame.lacuna_classification.tier.value == "PROPRIETARY"
        del customers
    con.close()


def test_disable_restores_the_libraries() -> None:
    before = (pl.read_csv, pl.DataFrame.select, pq.write_table, duckdb.DuckDBPyConnection.sql)
    with lacuna.governed():
        assert pl.read_csv is not before[0]
    assert (pl.read_csv, pl.DataFrame.select, pq.write_table,
            duckdb.DuckDBPyConnection.sql) == before
    assert isinstance(pd.DataFrame(), pd.DataFrame)
