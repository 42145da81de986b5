"""A forged declaration never declassifies, whichever reader loads the file.

The forger edits what Lacuna signed (the Parquet metadata, or the sidecar) without Lacuna: the
edit is made with plain pyarrow/json outside governance. pandas, polars, pyarrow and DuckDB
must all read the file back with ``email`` as pii and the frame PROPRIETARY.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lacuna
from lacuna import _bypass
from lacuna.lineage import sidecar as sc
from lacuna.model import Classification, Tier

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.dataset as pa_ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lacuna.integrations import duckdb as governed_duckdb  # noqa: E402
from lacuna.integrations import polars as governed_polars  # noqa: E402
from lacuna.integrations import pyarrow as governed_arrow  # noqa: E402

Reader = Callable[[Path], Classification]

PARQUET_READERS: dict[str, Reader] = {
    "pandas.read_parquet": lambda p: pd.read_parquet(p).lacuna_classification,
    "polars.read_parquet": lambda p: governed_polars.classification(pl.read_parquet(p)),
    "polars.scan_parquet": lambda p: governed_polars.classification(pl.scan_parquet(p)),
    "pyarrow.parquet.read_table": lambda p: governed_arrow.classification(pq.read_table(p)),
    "pyarrow.dataset.dataset": lambda p: governed_arrow.classification(
        pa_ds.dataset(p).to_table()),
    "duckdb.read_parquet": lambda p: governed_duckdb.classification(duckdb.read_parquet(str(p))),
    "duckdb.sql": lambda p: governed_duckdb.classification(duckdb.sql(f"SELECT * FROM '{p}'")),
}

CSV_READERS: dict[str, Reader] = {
    "pandas.read_csv": lambda p: pd.read_csv(p).lacuna_classification,
    "polars.read_csv": lambda p: governed_polars.classification(pl.read_csv(p)),
    "polars.scan_csv": lambda p: governed_polars.classification(pl.scan_csv(p)),
    "pyarrow.csv.read_csv": lambda p: governed_arrow.classification(pa_csv.read_csv(p)),
    "duckdb.read_csv": lambda p: governed_duckdb.classification(duckdb.read_csv(str(p))),
    "duckdb.sql": lambda p: governed_duckdb.classification(duckdb.sql(f"SELECT * FROM '{p}'")),
}


def _customers() -> pd.DataFrame:
    return pd.read_csv("customers.csv")[["customer_id", "email", "region"]].head(20)


def _declassified(declared: dict[str, Any]) -> None:
    declared["columns"]["email"]["classification"] = "public"
    declared["tier"] = declared["floor"] = "PUBLIC"


def forge_parquet_metadata(target: Path) -> None:
    """Rewrite the signed declaration in ``target``'s metadata as PUBLIC, without Lacuna."""
    with _bypass.bypass():
        table = pq.read_table(target)
        meta = dict(table.schema.metadata)
        attrs = json.loads(meta[b"PANDAS_ATTRS"])
        _declassified(attrs["lacuna"]["classification"])
        meta[b"PANDAS_ATTRS"] = json.dumps(attrs).encode()
        pq.write_table(table.replace_schema_metadata(meta), target)


def forge_sidecar(target: Path) -> None:
    sidecar = sc.sidecar_path(target)
    body = json.loads(sidecar.read_text())
    _declassified(body["classification"])
    sidecar.write_text(json.dumps(body))


# Readers whose result does not name the rejected declaration: DuckDB reads no Parquet metadata
# (it classifies from the sidecar, names and values), and a DuckDB query's reasoning is the SQL
# lineage's (its file source was read with the declaration rejected, as duckdb.read_* shows).
SILENT = {("metadata", "duckdb.read_parquet"), ("metadata", "duckdb.sql"),
          ("sidecar", "duckdb.sql")}


def _still_pii(found: Classification, forged: str, reader: str) -> None:
    assert found.columns["email"].classification.value == "pii"
    assert found.tier is Tier.PROPRIETARY
    if (forged, reader) not in SILENT:
        assert "signature does not verify" in found.reasoning[0]


@pytest.fixture
def governed(sandbox: Path, sandbox_config: Any) -> Any:
    """Governed storage with encryption at rest off: the forger edits the files' own bytes
    (sealed files are covered by tests/storage)."""
    lacuna.enable(sandbox_config(storage={"encrypt": False}))
    yield sandbox
    lacuna.disable()


@pytest.fixture
def forged_parquet(governed: Path) -> Path:
    target = governed / "governed" / "workspace" / "c.parquet"
    _customers().to_parquet(target)
    sc.sidecar_path(target).unlink()
    forge_parquet_metadata(target)
    return target


@pytest.mark.parametrize("reader", sorted(PARQUET_READERS))
def test_forged_parquet_metadata_cannot_declassify(forged_parquet: Path, reader: str) -> None:
    _still_pii(PARQUET_READERS[reader](forged_parquet), "metadata", reader)


@pytest.mark.parametrize("reader", sorted(PARQUET_READERS))
def test_forged_parquet_sidecar_cannot_declassify(governed: Path, reader: str) -> None:
    target = governed / "governed" / "workspace" / "c.parquet"
    _customers().to_parquet(target)
    forge_sidecar(target)
    _still_pii(PARQUET_READERS[reader](target), "sidecar", reader)


@pytest.mark.parametrize("reader", sorted(CSV_READERS))
def test_forged_csv_sidecar_cannot_declassify(governed: Path, reader: str) -> None:
    target = governed / "governed" / "workspace" / "c.csv"
    _customers().to_csv(target, index=False)
    assert sc.read_sidecar(target) is not None
    forge_sidecar(target)
    _still_pii(CSV_READERS[reader](target), "sidecar", reader)
