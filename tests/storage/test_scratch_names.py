"""An error a library raises about the private scratch path Lacuna handed it (a sealed write's
staging folder, a sealed read's plaintext copy) names the user's path, as the library names it
without Lacuna, never the private scratch folder (it named ``/dev/shm/lacuna-plain-…``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pytest

from lacuna import _bypass
from lacuna.storage import frames


@pytest.fixture
def scratch_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "private-scratch-parent"
    where.mkdir()
    monkeypatch.setattr(frames, "_SCRATCH_PARENT", str(where))
    return where


def _table() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})


def _twice(write: Callable[[Path], Any]) -> Callable[[Path], Any]:
    def both(path: Path) -> Any:
        write(path)
        return write(path)

    return both


def _into_a_folder(write: Callable[[Path], Any]) -> Callable[[Path], Any]:
    def into(path: Path) -> Any:
        path.mkdir()
        return write(path)

    return into


FAILING: dict[str, Callable[[Path], Any]] = {
    # "Could not write to <folder> as the directory is not empty"
    "pyarrow.write_dataset-not-empty": _twice(
        lambda p: pa_ds.write_dataset(_table(), p, format="parquet")
    ),
    # 'Directory "<folder>" is not empty! Enable OVERWRITE option'
    "duckdb.write_parquet-partitioned-not-empty": _twice(
        lambda p: duckdb.sql("SELECT 1 AS a, 2 AS b").write_parquet(str(p), partition_by=["a"])
    ),
    # "expected a file path; '<folder>' is a directory"
    "polars.sink_parquet-into-a-folder": _into_a_folder(
        lambda p: pl.LazyFrame({"a": [1]}).sink_parquet(p)
    ),
}


def _failure(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_sealed_writes_error_names_the_users_path_not_the_scratch_folder(
    governed: Path, scratch_parent: Path, case: str
) -> None:
    plain = governed / "plain" / "out"
    target = governed / "governed" / "workspace" / "out"
    plain.parent.mkdir()
    with _bypass.bypass():
        expected = _failure(lambda: FAILING[case](plain))
    got = _failure(lambda: FAILING[case](target))
    assert type(got) is type(expected)
    assert str(scratch_parent) not in str(got)
    assert "lacuna-plain-" not in str(got)
    assert str(got) == str(expected).replace(str(plain), str(target))
    assert not list(scratch_parent.iterdir())  # and the scratch folder is gone


def test_a_sealed_reads_error_names_the_users_file_not_its_plaintext_copy(
    governed: Path, scratch_parent: Path
) -> None:
    """A folder of sealed CSV files read as Parquet: pyarrow names the file it cannot read."""
    plain = governed / "plain"
    target = governed / "governed" / "workspace" / "ds"
    frame = pd.DataFrame({"a": [1, 2]})
    plain.mkdir()
    target.mkdir()
    with _bypass.bypass():
        frame.to_csv(plain / "part.csv", index=False)
        expected = _failure(lambda: pa_ds.dataset(plain, format="parquet").to_table())
    frame.to_csv(target / "part.csv", index=False)  # sealed
    got = _failure(lambda: pa_ds.dataset(target, format="parquet"))
    assert type(got) is type(expected)
    assert str(scratch_parent) not in str(got)
    assert str(target / "part.csv") in str(got)
    assert str(got) == str(expected).replace(str(plain), str(target))
