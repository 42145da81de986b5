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
