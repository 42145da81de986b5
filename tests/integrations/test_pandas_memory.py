"""A governed pandas frame written into memory (``to_csv()``, ``to_parquet()`` returning bytes,
a writer given an ``io.BytesIO``) is no export, and a frame read back from that memory was
classified from its names and values alone: salaries renamed ``x`` went to ~/Downloads as
PUBLIC. The frame's columns are now indexed by what they hold when it is written there (as
polars' and Arrow's are), and a frame read from memory holds what the matching columns held.
A frame pickled with its state (``pickle.dumps``) and read with ``pd.read_pickle`` keeps that
state as a restriction."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna.errors import GovernanceViolation
from lacuna.model import Tier


def _through(
    write: Callable[[Any, io.BytesIO], object], read: Callable[[io.BytesIO], Any]
) -> Callable[[Any], Any]:
    def round_trip(frame: Any) -> Any:
        buffer = io.BytesIO()
        write(frame, buffer)
        buffer.seek(0)
        return read(buffer)

    return round_trip


TRIPS: dict[str, Callable[[Any], Any]] = {
    "csv text": lambda f: pd.read_csv(io.StringIO(f.to_csv(index=False))),
    "csv with index": lambda f: pd.read_csv(io.StringIO(f.to_csv()), index_col=0),
    "json text": lambda f: pd.read_json(io.StringIO(f.to_json())),
    "parquet bytes": lambda f: pd.read_parquet(io.BytesIO(f.to_parquet())),
    "feather": _through(lambda f, b: f.to_feather(b), lambda b: pd.read_feather(b)),
    "pickle": _through(lambda f, b: f.to_pickle(b), lambda b: pd.read_pickle(b)),
    "excel": _through(lambda f, b: f.to_excel(b, index=False), lambda b: pd.read_excel(b)),
    "html": lambda f: pd.read_html(io.StringIO(f.to_html(index=False)))[0],
    "pickle.dumps": lambda f: pd.read_pickle(io.BytesIO(pickle.dumps(f))),
}


@pytest.fixture
def salaries(downloads: Path, sandbox: Path) -> pd.DataFrame:
    (sandbox / "pay.csv").write_text(
        "person_id,salary,region\n"
        + "".join(f"P{i:03},{50000 + 137 * i},R{i % 4}\n" for i in range(60))
    )
    pay = pd.read_csv(sandbox / "pay.csv")
    return pay[["salary", "region"]].rename(columns={"salary": "x"})


@pytest.mark.parametrize("trip", TRIPS)
def test_values_read_back_from_memory_keep_their_class(
    salaries: pd.DataFrame, downloads: Path, trip: str
) -> None:
    tier = salaries.lacuna.classification.tier
    assert tier > Tier.PUBLIC
    back = TRIPS[trip](salaries)
    assert back["x"].tolist() == salaries["x"].tolist()
    assert back.lacuna.classification.tier >= tier
    assert (
        back.lacuna.columns["region"].classification
        == salaries.lacuna.columns["region"].classification
    )  # a public column is not raised
    with pytest.raises(GovernanceViolation):
        back[["x"]].to_csv(downloads / "x.csv", index=False)
    assert not (downloads / "x.csv").exists()


def test_a_series_and_a_named_index_read_back_from_memory_keep_their_class(
    salaries: pd.DataFrame, downloads: Path
) -> None:
    series = pd.read_csv(io.StringIO(salaries["x"].to_csv(index=False)))
    indexed = pd.read_csv(io.StringIO(salaries.set_index("x").to_csv()))
    for back in (series, indexed):
        with pytest.raises(GovernanceViolation):
            back[["x"]].to_csv(downloads / "x.csv", index=False)
    assert not (downloads / "x.csv").exists()


@pytest.mark.parametrize("trip", TRIPS)
def test_public_values_through_memory_are_written_and_read_back(
    salaries: pd.DataFrame, downloads: Path, trip: str
) -> None:
    public = pd.DataFrame({"colour": ["red", "green", "blue"], "size": [1, 2, 3]})
    assert pd.read_csv(io.StringIO(public.to_csv(index=False))).equals(public)
    back = TRIPS[trip](public)
    assert back.lacuna.classification.tier is Tier.PUBLIC
    back.to_csv(downloads / "p.csv", index=False)
    assert pd.read_csv(downloads / "p.csv").equals(public)
    assert (downloads / ".p.csv.lacuna.json").exists()


def test_an_excel_writer_into_memory_or_a_stream(salaries: pd.DataFrame, downloads: Path) -> None:
    """``pd.ExcelWriter(io.BytesIO())`` (a workbook made for a download, say) names no file:
    its ``__fspath__`` is ``''``, which was decided as the destination ``''``, an internal error
    that denied every such write. Into memory it is no export; into a stream with no path (a zip
    member) personal data is denied and public data written."""
    import zipfile

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        salaries.to_excel(writer, index=False)
    back = pd.read_excel(io.BytesIO(buffer.getvalue()))
    assert back.equals(salaries)
    assert back.lacuna.classification.tier >= salaries.lacuna.classification.tier
    public = salaries[["region"]]
    for frame, name in ((salaries, "pay.zip"), (public, "public.zip")):
        denied = frame is salaries
        with zipfile.ZipFile(downloads / name, "w") as zf, zf.open("book", "w") as member:
            writer = pd.ExcelWriter(member)
            try:
                if denied:
                    with pytest.raises(GovernanceViolation, match="stream://python"):
                        frame.to_excel(writer, index=False)
                else:
                    frame.to_excel(writer, index=False)
            finally:
                writer.close()
        with zipfile.ZipFile(downloads / name) as zf:
            book = pd.read_excel(io.BytesIO(zf.read("book"))) if not denied else None
            raw = zf.read("book")
        with zipfile.ZipFile(io.BytesIO(raw)) as xlsx:  # no salary in any part of the book
            assert not any(b"50137" in xlsx.read(n) for n in xlsx.namelist())
        if book is not None:
            assert book.equals(public)
