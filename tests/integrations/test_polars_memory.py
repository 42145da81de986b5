"""A governed polars frame written into memory (``write_parquet(io.BytesIO())``,
``write_ipc``, ``write_csv``, ``serialize()``) is no export, and a frame read back from those
bytes was classified from its names and values alone: salaries renamed ``x`` (round numbers
under a neutral name) went to ~/Downloads as PUBLIC. The frame's columns are now indexed by
what they hold when it is written there, as Arrow's are, and a frame read from bytes in memory
holds what the matching columns held."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from lacuna.errors import GovernanceViolation
from lacuna.integrations import polars as governed_polars
from lacuna.model import Tier


def _through(
    write: Callable[[pl.DataFrame, io.BytesIO], object], read: Callable[[io.BytesIO], pl.DataFrame]
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def round_trip(frame: pl.DataFrame) -> pl.DataFrame:
        buffer = io.BytesIO()
        write(frame, buffer)
        buffer.seek(0)
        return read(buffer)

    return round_trip


TRIPS = {
    "parquet": _through(lambda f, b: f.write_parquet(b), lambda b: pl.read_parquet(b)),
    "ipc": _through(lambda f, b: f.write_ipc(b), lambda b: pl.read_ipc(b)),
    "ipc stream": _through(lambda f, b: f.write_ipc_stream(b), lambda b: pl.read_ipc_stream(b)),
    "csv": _through(lambda f, b: f.write_csv(b), lambda b: pl.read_csv(b)),
    "serialize": lambda f: pl.DataFrame.deserialize(io.BytesIO(f.serialize())),
    # text returned by a writer given no file, read back from a StringIO (it was not matched)
    "csv text": lambda f: pl.read_csv(io.StringIO(f.write_csv())),
}


@pytest.fixture
def salaries(downloads: Path, sandbox: Path) -> pl.DataFrame:
    (sandbox / "kids.csv").write_text(
        "person_id,salary,region\n"
        + "".join(f"P{i:03},{50000 + 137 * i},R{i % 4}\n" for i in range(60))
    )
    return pl.read_csv(sandbox / "kids.csv").select(pl.col("salary").alias("x"))


@pytest.mark.parametrize("trip", TRIPS)
def test_values_read_back_from_memory_keep_their_class(
    salaries: pl.DataFrame, downloads: Path, trip: str
) -> None:
    assert governed_polars.classification(salaries).tier is Tier.INTERNAL
    back = TRIPS[trip](salaries)
    assert back.get_column("x").to_list() == salaries.get_column("x").to_list()
    assert governed_polars.classification(back).tier is Tier.INTERNAL
    with pytest.raises(GovernanceViolation, match="Cannot export INTERNAL"):
        back.write_csv(downloads / "x.csv")
    assert not (downloads / "x.csv").exists()


@pytest.mark.parametrize("trip", TRIPS)
def test_public_values_through_memory_are_written_and_read_back(
    salaries: pl.DataFrame, downloads: Path, trip: str
) -> None:
    public = pl.DataFrame({"colour": ["red", "green", "blue"], "size": [1, 2, 3]})
    back = TRIPS[trip](public)
    assert governed_polars.classification(back).tier is Tier.PUBLIC
    back.write_csv(downloads / "p.csv")
    assert pl.read_csv(downloads / "p.csv").equals(public)


def test_a_lazy_plan_serialized_to_bytes_is_the_plan_it_was(
    salaries: pl.DataFrame, downloads: Path, sandbox: Path
) -> None:
    """``LazyFrame.deserialize`` of the bytes ``serialize()`` returned is a plan whose scans
    read their files when collected, which Lacuna does not see: it was classified from the
    values alone (PUBLIC). It is the plan serialized, with its state."""
    plan = pl.scan_csv(sandbox / "kids.csv").select(pl.col("salary").alias("x"))
    back = pl.LazyFrame.deserialize(io.BytesIO(plan.serialize()))
    assert governed_polars.classification(back).tier is Tier.INTERNAL
    with pytest.raises(GovernanceViolation, match="Cannot export INTERNAL"):
        back.collect().write_csv(downloads / "x.csv")
    public = pl.LazyFrame({"colour": ["red", "green"]}).select(pl.col("colour").alias("c"))
    pl.LazyFrame.deserialize(io.BytesIO(public.serialize())).collect().write_csv(
        downloads / "c.csv"
    )
    assert pl.read_csv(downloads / "c.csv").get_column("c").to_list() == ["red", "green"]
