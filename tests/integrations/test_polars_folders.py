"""polars reads a folder file by file, hidden ones included (pyarrow, pandas and Spark skip
them): under Lacuna ``scan_parquet`` of a folder skips Lacuna's hidden sidecars, and an eager
read that trips over one says what to do instead."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lacuna.integrations import polars as governed_polars
from lacuna.lineage.sidecar import sidecar_path
from lacuna.model import Tier


def _folder(governed: Path) -> Path:
    folder = governed / "out"
    folder.mkdir()
    for i in range(2):
        pl.DataFrame({"city": ["Paris", "Oslo"], "n": [i, i]}).write_parquet(
            folder / f"part-{i}.parquet")
    assert sidecar_path(folder / "part-0.parquet").is_file()
    return folder


def test_a_scan_of_a_folder_skips_the_sidecars(governed: Path) -> None:
    folder = _folder(governed)
    back = pl.scan_parquet(folder).collect()
    assert back.sort("n").get_column("n").to_list() == [0, 0, 1, 1]
    assert governed_polars.classification(back).tier is Tier.PUBLIC
    by_glob = pl.read_parquet(folder / "*.parquet")  # the way the note below says
    assert by_glob.height == 4


def test_an_eager_read_of_the_folder_says_how_to_read_it(governed: Path) -> None:
    folder = _folder(governed)
    with pytest.raises(pl.exceptions.PolarsError, match=r"lacuna\.json") as err:
        pl.read_parquet(folder)  # polars' own error, with a note
    assert any("pl.read_parquet('folder/*.parquet')" in n for n in err.value.__notes__)


def test_pyarrow_partition_cols_write_a_sealed_folder_that_reads_back(governed: Path) -> None:
    """``write_parquet(path, use_pyarrow=True, pyarrow_options={"partition_cols": [...]})``
    has pyarrow write a folder (``pq.write_to_dataset``): into governed storage it was handed
    a sealing stream and raised ``TypeError``. It is a partitioned write now, as polars'
    ``partition_by`` is: each file sealed, the folder read back; to ~/Downloads personal data
    is denied and nothing is left."""
    from lacuna.errors import GovernanceViolation

    root = governed / "governed" / "workspace"
    options = {"partition_cols": ["region"]}
    customers = pl.read_csv(governed / "customers.csv")
    customers.write_parquet(root / "c", use_pyarrow=True, pyarrow_options=options)
    files = sorted((root / "c").rglob("*.parquet"))
    assert len(files) == customers.get_column("region").n_unique()
    assert all(f.read_bytes().startswith(b"LACUNAS1") for f in files)  # sealed
    back = pl.read_parquet(root / "c", hive_partitioning=True)
    assert sorted(back.get_column("email").to_list()) == sorted(
        customers.get_column("email").to_list())
    assert governed_polars.classification(back).tier is Tier.PROPRIETARY
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        customers.write_parquet(governed / "Downloads" / "c", use_pyarrow=True,
                                pyarrow_options=options)
    assert list((governed / "Downloads").iterdir()) == []
