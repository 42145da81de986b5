"""A governed frame handed from one library to another keeps its class.

Each route copies a column whose values no classifier recognises (a religion: only the column
name gives it away), renamed ``code``, from one library's governed object into another's by
that library's own constructor; exporting the result to ~/Downloads must be denied. The same
route over a public column must still export, and the file read back must hold its values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna.errors import GovernanceViolation

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

FAITHS = ["f1", "f2", "f3", "f4", "f5"]  # coded: only the column name says what they are


@pytest.fixture
def staff(downloads: Path) -> pd.DataFrame:
    """A religion (PII by its name alone) and a region (public), read through Lacuna."""
    Path("staff.csv").write_text("emp,religion,region\n" + "".join(
        f"E{i:03},{FAITHS[(i * 7) % 5]},R{i % 4}\n" for i in range(40)))
    df = pd.read_csv("staff.csv")
    assert df.lacuna.columns["religion"].is_personal
    assert not df.lacuna.columns["region"].is_personal
    return df


def _code(staff: pd.DataFrame, column: str) -> pd.DataFrame:
    return staff[[column]].rename(columns={column: "code"})


# a pandas frame with one column, "code" -> a polars frame holding it
TO_POLARS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "DataFrame(pandas)": lambda f: pl.DataFrame(f),
    "DataFrame(pandas, schema)": lambda f: pl.DataFrame(f, schema=["code"]),
    "LazyFrame(pandas)": lambda f: pl.LazyFrame(f).collect(),
    "DataFrame(arrow table)": lambda f: pl.DataFrame(pa.Table.from_pandas(f, preserve_index=False)),
    "DataFrame(record batch)": lambda f: pl.DataFrame(
        pa.RecordBatch.from_pandas(f, preserve_index=False)),
    "DataFrame({name: pandas Series})": lambda f: pl.DataFrame({"code": f["code"]}),
    "DataFrame([pandas Series])": lambda f: pl.DataFrame([f["code"]]),
    "from_dict(pandas Series)": lambda f: pl.from_dict({"code": f["code"]}),
    "Series(pandas Series)": lambda f: pl.Series(f["code"]).to_frame(),
    "Series(name, pandas Series)": lambda f: pl.Series("code", f["code"]).to_frame(),
    "from_pandas(Series)": lambda f: pl.from_pandas(f["code"]).to_frame(),
    "from_dataframe(pandas)": lambda f: pl.from_dataframe(f),
    "from_dataframe(arrow)": lambda f: pl.from_dataframe(pa.Table.from_pandas(f)),
}


def _leaks(routes: dict[str, Callable[[pd.DataFrame], Any]], staff: pd.DataFrame,
           write: Callable[[Any, Path], None], downloads: Path, suffix: str = ".csv"
           ) -> list[str]:
    """The routes whose result of the religion column exports (one test for every route: a
    sandbox per route would cost ~0.4 s each)."""
    leaked = []
    for route, convert in routes.items():
        target = downloads / f"code{suffix}"
        try:
            write(convert(_code(staff, "religion")), target)
        except GovernanceViolation:
            assert not target.exists(), route
        else:
            leaked.append(route)
            target.unlink()
    return leaked


def _broken(routes: dict[str, Callable[[pd.DataFrame], Any]], staff: pd.DataFrame,
            write: Callable[[Any, Path], None], read: Callable[[Path], list[Any]],
            downloads: Path, suffix: str = ".csv") -> list[str]:
    """The routes whose result of the public region column does not export, or does not read
    back as the region's values."""
    broken = []
    for route, convert in routes.items():
        target = downloads / f"{len(broken)}-{abs(hash(route))}{suffix}"
        write(convert(_code(staff, "region")), target)
        if read(target) != staff["region"].tolist():
            broken.append(route)
    return broken


def _polars_csv(frame: Any, target: Path) -> None:
    frame.write_csv(target)


def test_a_frame_copied_into_polars_keeps_its_class(staff, downloads):
    """(One sandbox for the denied and the allowed routes: each costs ~0.4 s.)"""
    assert _leaks(TO_POLARS, staff, _polars_csv, downloads) == []
    read = lambda target: pl.read_csv(target)["code"].to_list()  # noqa: E731
    assert _broken(TO_POLARS, staff, _polars_csv, read, downloads) == []  # public: exported


def _csv_in_memory(table: Any) -> Any:
    """Written as CSV bytes in memory (no export) and read back by Arrow: pandas' text is
    ``large_string``, what Arrow's CSV reader gives back ``string``."""
    import pyarrow.csv as pa_csv

    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink)
    return pa_csv.read_csv(pa.BufferReader(sink.getvalue()))


# a pandas frame with one column, "code" -> an Arrow table holding it, through a polars frame
# handed to Arrow by the Arrow PyCapsule interface (polars' own export, not ``to_arrow``), or
# through bytes in memory
TO_ARROW: dict[str, Callable[[pd.DataFrame], Any]] = {
    "CSV bytes in memory": lambda f: _csv_in_memory(pa.Table.from_pandas(f, preserve_index=False)),
    "table(polars)": lambda f: pa.table(pl.from_pandas(f)),
    # a copy no hook sees, of polars' string views: matched by what it holds
    "table(polars).combine_chunks()": lambda f: pa.table(
        pl.concat([pl.from_pandas(f.iloc[:20]), pl.from_pandas(f.iloc[20:])], rechunk=False)
    ).combine_chunks(),
    "RecordBatchReader.from_stream(polars)": lambda f: pa.RecordBatchReader.from_stream(
        pl.from_pandas(f)).read_all(),
    "chunked_array(polars Series)": lambda f: pa.table(
        {"code": pa.chunked_array(pl.from_pandas(f)["code"])}),
    "array(polars Series)": lambda f: pa.table({"code": pa.array(pl.from_pandas(f)["code"])}),
    "array(computed polars Series)": lambda f: pa.table(
        {"code": pa.array(pl.from_pandas(f)["code"].str.to_lowercase().str.to_uppercase())}),
}


def _arrow_parquet(table: Any, target: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, target)  # (Arrow's CSV writer takes no string views, polars' own)


def test_a_polars_frame_handed_to_arrow_keeps_its_class(staff, downloads):
    import pyarrow.parquet as pq

    assert _leaks(TO_ARROW, staff, _arrow_parquet, downloads, ".parquet") == []
    read = lambda target: pq.read_table(target).column("code").to_pylist()  # noqa: E731
    assert _broken(TO_ARROW, staff, _arrow_parquet, read, downloads, ".parquet") == []


# a pandas frame with one column, "code" -> a pandas frame holding it again, by way of a polars
# frame or Series or an Arrow array, given to pandas' own constructors
TO_PANDAS: dict[str, Callable[[pd.DataFrame], Any]] = {
    # pandas iterates a polars frame as rows, one per column: the frame transposed
    "DataFrame(polars)": lambda f: pd.DataFrame(pl.from_pandas(f)),
    "Series(polars Series)": lambda f: pd.Series(pl.from_pandas(f)["code"]).to_frame(),
    "DataFrame({name: polars Series})": lambda f: pd.DataFrame(
        {"code": pl.from_pandas(f)["code"]}),
    "DataFrame({name: Arrow column})": lambda f: pd.DataFrame(
        {"code": pa.Table.from_pandas(f)["code"]}),
    "Series(Arrow column)": lambda f: pd.Series(pa.Table.from_pandas(f)["code"]).to_frame(),
    "api.interchange.from_dataframe(polars)": lambda f: _interchange(pl.from_pandas(f)),
}


def _interchange(frame: Any) -> pd.DataFrame:
    import warnings

    with warnings.catch_warnings():  # pandas 3 deprecates the interchange protocol
        warnings.simplefilter("ignore", DeprecationWarning)
        return pd.api.interchange.from_dataframe(frame)


def _pandas_csv(frame: Any, target: Path) -> None:
    frame.to_csv(target)


def test_a_polars_or_arrow_column_given_to_pandas_keeps_its_class(staff, downloads):
    assert _leaks(TO_PANDAS, staff, _pandas_csv, downloads) == []
    for route, convert in TO_PANDAS.items():  # public: exported as plain pandas writes it
        frame = convert(_code(staff, "region"))
        target = downloads / "code.csv"
        frame.to_csv(target)
        assert target.read_text() == frame.to_csv(), route  # the bytes plain pandas writes
        values = pd.read_csv(target, index_col=0).to_numpy().ravel().tolist()
        assert values == staff["region"].tolist(), route


def _batch_table(batch: Any) -> Any:
    return pa.Table.from_batches([batch])


# a pandas frame with one column, "code" -> an Arrow table holding it, built by Arrow's own
# constructors from the pandas Series or the polars Series of it: Arrow copies the values into
# new buffers, calling ``pyarrow.lib.array`` by name for each (``Table.from_pydict``,
# ``Table.from_arrays``, ``RecordBatch.from_arrays`` are compiled methods, not hookable)
ARROW_CONSTRUCTORS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "table({name: pandas Series})": lambda f: pa.table({"code": f["code"]}),
    "Table.from_pydict(pandas Series)": lambda f: pa.Table.from_pydict({"code": f["code"]}),
    "Table.from_arrays([pandas Series])": lambda f: pa.Table.from_arrays(
        [f["code"]], names=["code"]),
    "record_batch({name: pandas Series})": lambda f: _batch_table(
        pa.record_batch({"code": f["code"]})),
    "RecordBatch.from_arrays([pandas Series])": lambda f: _batch_table(
        pa.RecordBatch.from_arrays([f["code"]], names=["code"])),
    "array(pandas Series)": lambda f: pa.table({"code": pa.array(f["code"])}),
    "Array.from_pandas(pandas Series)": lambda f: pa.table(
        {"code": pa.Array.from_pandas(f["code"])}),
    "chunked_array([pandas Series])": lambda f: pa.table(
        {"code": pa.chunked_array([f["code"]])}),
    "array(pandas Index)": lambda f: pa.table({"code": pa.array(f.set_index("code").index)}),
    "table({name: pandas Index})": lambda f: pa.table({"code": f.set_index("code").index}),
    "table({name: polars Series})": lambda f: pa.table({"code": pl.from_pandas(f)["code"]}),
    "Table.from_pydict(polars Series)": lambda f: pa.Table.from_pydict(
        {"code": pl.from_pandas(f)["code"]}),
    "Table.from_arrays([polars Series])": lambda f: pa.Table.from_arrays(
        [pl.from_pandas(f)["code"]], names=["code"]),
    "record_batch({name: polars Series})": lambda f: _batch_table(
        pa.record_batch({"code": pl.from_pandas(f)["code"]})),
}


def _unrecorded(convert: Callable[[pd.DataFrame], Any]) -> Callable[[pd.DataFrame], Any]:
    """``convert`` with no Arrow value recorded before it (the routes before it recorded
    theirs): what it gives holds the column because the Series is found as what it is, not
    because its values match a column written before."""
    from lacuna.integrations.pyarrow import _arrays

    def fresh(frame: pd.DataFrame) -> Any:
        _arrays.clear()
        return convert(frame)

    return fresh


def test_a_series_given_to_an_arrow_constructor_keeps_its_class(staff, downloads):
    import pyarrow.parquet as pq

    routes = {route: _unrecorded(convert) for route, convert in ARROW_CONSTRUCTORS.items()}
    assert _leaks(routes, staff, _arrow_parquet, downloads, ".parquet") == []
    read = lambda target: pq.read_table(target).column("code").to_pylist()  # noqa: E731
    assert _broken(routes, staff, _arrow_parquet, read, downloads, ".parquet") == []


def _pandas_parquet(frame: Any, target: Path) -> None:
    frame.to_parquet(target)


# a pandas frame with one column, "code" -> an Arrow table of it (``Table.from_pandas``) -> its
# column out of Arrow by a compiled method no hook sees (``to_pandas``, ``to_pylist``,
# ``to_numpy``), into pandas or back into Arrow
OUT_OF_ARROW: dict[str, Callable[[pd.DataFrame], Any]] = {
    "ChunkedArray.to_pandas()": lambda f: pa.Table.from_pandas(f)["code"].to_pandas().to_frame(),
    "Array.to_pandas()": lambda f: pa.Table.from_pandas(f)["code"].chunk(0).to_pandas()
    .rename("code").to_frame(),
    "table(to_pylist())": lambda f: pa.table({"code": pa.Table.from_pandas(f)["code"].to_pylist()}),
    "table(to_numpy())": lambda f: pa.table({"code": pa.Table.from_pandas(f)["code"].to_numpy()}),
}


def _any_parquet(data: Any, target: Path) -> None:
    (_arrow_parquet if isinstance(data, pa.Table) else _pandas_parquet)(data, target)


def test_a_column_taken_out_of_arrow_keeps_its_class(staff, downloads):
    import pyarrow.parquet as pq

    assert _leaks(OUT_OF_ARROW, staff, _any_parquet, downloads, ".parquet") == []
    read = lambda target: pq.read_table(target).column("code").to_pylist()  # noqa: E731
    assert _broken(OUT_OF_ARROW, staff, _any_parquet, read, downloads, ".parquet") == []
