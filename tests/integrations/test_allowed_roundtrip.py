"""The allowed path, tortured: what policy allows is written and read back through Lacuna exactly
as plain pandas / polars / pyarrow / DuckDB write and read it.

Each case writes a hostile-but-legitimate frame (empty, one row, categorical, tz-aware, nullable
extension types, Decimal, bytes, nested, odd and duplicate column names, MultiIndex, 2,000
columns, nulls everywhere, ...) three times with the same call:

1. plainly, Lacuna bypassed: what the library itself writes and reads back (or raises);
2. governed, public data to an unmanaged folder (~/Downloads): allowed, written as is;
3. governed, into governed storage: allowed and sealed (encrypted at rest).

The governed results must read back equal to the plain one (the library's own testing
asserts), and raise where (and what) the plain call raises, never more. Personal data written to
governed storage reads back with its classification (the signed sidecar); the same data to an
unmanaged place is still denied (the controls at the end).
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import polars.testing
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.feather as pa_feather
import pyarrow.parquet as pq
import pytest

import lacuna
from lacuna import _bypass, storage
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.integrations import duckdb as lduckdb
from lacuna.integrations import polars as lpolars
from lacuna.integrations import pyarrow as lpyarrow
from lacuna.lineage import sidecar as sc
from lacuna.lineage.state import ATTRS_KEY
from lacuna.model import Tier
from lacuna.storage import sealed
from roundtrip import attempt

# -- hostile (public) pandas frames ------------------------------------------------------------


def _pd_frames() -> dict[str, Callable[[], pd.DataFrame]]:
    return {
        "no-columns": pd.DataFrame,
        "no-rows": lambda: pd.DataFrame({"a": pd.Series([], dtype="int64"),
                                         "b": pd.Series([], dtype="object")}),
        "one-row": lambda: pd.DataFrame({"a": [1], "b": ["x"]}),
        "categorical": lambda: pd.DataFrame({"c": pd.Categorical(["a", "b", "a"])}),
        "tz-aware": lambda: pd.DataFrame(
            {"t": pd.date_range("2024-03-30", periods=3, freq="12h", tz="Europe/Paris")}),
        "timedelta": lambda: pd.DataFrame({"d": pd.to_timedelta([1, 2, None], unit="s")}),
        "nullable": lambda: pd.DataFrame({
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["x", None, "z"], dtype="string[pyarrow]"),
        }),
        "decimal": lambda: pd.DataFrame(
            {"d": [decimal.Decimal("1.10"), decimal.Decimal("-2.5"), None]}),
        "bytes": lambda: pd.DataFrame({"b": [b"\x00\x01", b"xyz", None]}),
        "nested": lambda: pd.DataFrame({"l": [[1, 2], [3], []],
                                        "m": [{"k": 1}, {"k": 2}, {"k": 3}]}),
        "odd-names": lambda: pd.DataFrame(
            {"naïve ✓": [1], "😀": [2], "with space": [3], "a.b": [4], "1st": [5]}),
        "duplicate-names": lambda: pd.DataFrame([[1, 2]], columns=["a", "a"]),
        "integer-labels": lambda: pd.DataFrame({0: [1, 2], 1: [3, 4]}),
        "multiindex-columns": lambda: pd.DataFrame(
            [[1, 2, 3, 4]],
            columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")])),
        "multiindex-rows": lambda: pd.DataFrame(
            {"v": [1, 2, 3]},
            index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["k", "n"])),
        "named-index": lambda: pd.DataFrame({"v": [1, 2]}, index=pd.Index(["p", "q"], name="key")),
        "nulls": lambda: pd.DataFrame({"f": [np.nan, None, 1.0], "o": [None, np.nan, "x"],
                                       "t": pd.to_datetime([None, "2024-01-01", None])}),
    }


PD_FRAMES = _pd_frames()
WIDE = "2000-columns"


def _wide() -> pd.DataFrame:
    return pd.DataFrame(np.arange(2000 * 3).reshape(3, 2000),
                        columns=[f"c{i}" for i in range(2000)])


# -- pandas writer/reader pairs: (suffix, write, read, frames it is tried with: None = all) -----

Write = Callable[[Any, Any], Any]
Read = Callable[[Any], Any]


def _late(module: Any, name: str) -> Read:
    """``module.<name>`` looked up when called: the governed reader while Lacuna is enabled."""
    return lambda p: getattr(module, name)(p)

CORE = ("no-columns", "no-rows", "one-row", "categorical", "tz-aware", "nullable", "odd-names",
        "duplicate-names", "integer-labels", "multiindex-columns", "named-index", "nulls")

PANDAS: dict[str, tuple[str, Write, Read, tuple[str, ...] | None]] = {
    "to_csv": ("csv", lambda d, p: d.to_csv(p), _late(pd, "read_csv"), None),
    "to_csv-index=False": ("csv", lambda d, p: d.to_csv(p, index=False), _late(pd, "read_csv"),
                           CORE),
    "to_csv-gzip-inferred": ("csv.gz", lambda d, p: d.to_csv(p), _late(pd, "read_csv"), CORE),
    "to_csv-zip-dict": ("csv.zip", lambda d, p: d.to_csv(
        p, compression={"method": "zip", "archive_name": "inner.csv"}), _late(pd, "read_csv"),
        ("one-row", "odd-names")),
    "to_csv-utf-16": ("csv", lambda d, p: d.to_csv(p, encoding="utf-16", index=False),
                      lambda p: pd.read_csv(p, encoding="utf-16"), ("one-row", "odd-names")),
    "to_parquet": ("parquet", lambda d, p: d.to_parquet(p), _late(pd, "read_parquet"), None),
    "to_parquet-zstd": ("parquet", lambda d, p: d.to_parquet(p, compression="zstd"),
                        _late(pd, "read_parquet"), ("one-row", "nested", "decimal")),
    "to_parquet-index=False": ("parquet", lambda d, p: d.to_parquet(p, index=False),
                               _late(pd, "read_parquet"), ("named-index", "multiindex-rows")),
    "to_json": ("json", lambda d, p: d.to_json(p), _late(pd, "read_json"), CORE),
    "to_json-records-lines": ("jsonl", lambda d, p: d.to_json(p, orient="records", lines=True),
                              lambda p: pd.read_json(p, orient="records", lines=True), CORE),
    "to_json-split": ("json", lambda d, p: d.to_json(p, orient="split"),
                      lambda p: pd.read_json(p, orient="split"), CORE),
    "to_json-table": ("json", lambda d, p: d.to_json(p, orient="table"),
                      lambda p: pd.read_json(p, orient="table"), CORE),
    "to_json-bz2-inferred": ("json.bz2", lambda d, p: d.to_json(p, orient="records", lines=True),
                             lambda p: pd.read_json(p, orient="records", lines=True),
                             ("one-row", "nulls")),
    "to_excel": ("xlsx", lambda d, p: d.to_excel(p), _late(pd, "read_excel"),
                 ("no-rows", "one-row", "odd-names", "multiindex-rows", "named-index", "nulls")),
    "to_feather": ("feather", lambda d, p: d.to_feather(p), _late(pd, "read_feather"), None),
    "to_pickle": ("pkl", lambda d, p: d.to_pickle(p), _late(pd, "read_pickle"), None),
    "to_pickle-xz-inferred": ("pkl.xz", lambda d, p: d.to_pickle(p), _late(pd, "read_pickle"),
                              ("one-row", "decimal")),
}
WIDE_PANDAS = ("to_parquet",)


def _same_outcome(label: str, plain: tuple[Any, BaseException | None],
                  governed: tuple[Any, BaseException | None]) -> bool:
    """Both raised the same kind of error (True: nothing more to compare), or neither did."""
    (_, plain_error), (_, error) = plain, governed
    if plain_error is None:
        assert error is None, f"{label}: governed raised where plain did not: {error!r}"
        return False
    assert error is not None, f"{label}: plain raised {plain_error!r}, governed did not"
    assert type(error) is type(plain_error), f"{label}: {error!r} instead of {plain_error!r}"
    return True


def _round_trip(where: Path, write: Callable[[Path], Any], read: Callable[[Path], Any],
                equal: Callable[[Any, Any], None], suffix: str, *, case: str = "case") -> None:
    """Write and read back plainly and through Lacuna (an unmanaged folder and governed
    storage), each in a folder ``case``: the same outcome, and equal data."""
    folders = [where / "plain" / case, where / "Downloads" / case,
               where / "governed" / "workspace" / case]
    for folder in folders:
        folder.mkdir(parents=True)
    plain_path, *targets = (folder / f"out.{suffix}" for folder in folders)
    with _bypass.bypass():
        plain_write = attempt(lambda: write(plain_path))
        plain_read = attempt(lambda: read(plain_path)) if plain_write[1] is None else None
    for target in targets:
        label = f"{case}: {target.parent.parent.name}/{target.name}"
        if _same_outcome(f"write {label}", plain_write, attempt(lambda t=target: write(t))):
            continue
        if target.parent.parent.name == "workspace" and target.is_file():
            assert sealed.is_sealed(target), f"{label} is not sealed"
        assert plain_read is not None
        back = attempt(lambda t=target: read(t))
        if _same_outcome(f"read {label}", plain_read, back):
            continue
        try:
            equal(back[0], plain_read[0])
        except AssertionError as exc:
            raise AssertionError(f"{label} reads back differently: {exc}") from None


def _every_frame(where: Path, frames: dict[str, Callable[[], Any]], names: Any,
                 write: Write, read: Read, equal: Callable[[Any, Any], None],
                 suffix: str) -> None:
    """:func:`_round_trip` for each frame; every frame's failure reported together."""
    failures = []
    for name in names:
        try:
            _round_trip(where, lambda p, n=name: write(frames[n](), p), read, equal, suffix,
                        case=name)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("writer", sorted(PANDAS))
def test_pandas_allowed_writes_read_back_as_plain_pandas(governed, writer):
    suffix, write, read, frames = PANDAS[writer]
    _every_frame(governed, {**PD_FRAMES, WIDE: _wide}, frames or PD_FRAMES, write, read,
                 pd.testing.assert_frame_equal, suffix)


@pytest.mark.parametrize("writer", WIDE_PANDAS)
def test_pandas_allowed_writes_of_a_wide_frame(governed, writer):
    suffix, write, read, _ = PANDAS[writer]
    _every_frame(governed, {WIDE: _wide}, [WIDE], write, read, pd.testing.assert_frame_equal,
                 suffix)


# -- targets: str, pathlib, file:// URL, "~", subfolders, file objects, buffers, to_sql ------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})


TARGETS: dict[str, tuple[Write, Read]] = {
    "str": (lambda d, p: d.to_csv(str(p)), lambda p: pd.read_csv(str(p))),
    "pathlib": (lambda d, p: d.to_csv(p), lambda p: pd.read_csv(p)),
    "home-relative": (lambda d, p: d.to_csv(_tilde(p)), lambda p: pd.read_csv(_tilde(p))),
    "cwd-relative": (lambda d, p: d.to_csv(_relative(p)), lambda p: pd.read_csv(_relative(p))),
    "file-url-parquet": (lambda d, p: d.to_parquet(p.with_suffix(".parquet").as_uri()),
                         lambda p: pd.read_parquet(p.with_suffix(".parquet").as_uri())),
    "file-url-csv-read": (lambda d, p: d.to_csv(p, index=False),
                          lambda p: pd.read_csv(p.as_uri())),
    "missing-subfolder-csv": (lambda d, p: d.to_csv(p.parent / "no" / "x.csv"),
                              lambda p: pd.read_csv(p.parent / "no" / "x.csv")),
    "missing-subfolder-parquet": (lambda d, p: d.to_parquet(p.parent / "no" / "x.parquet"),
                                  lambda p: pd.read_parquet(p.parent / "no" / "x.parquet")),
    "positional-arguments": (lambda d, p: d.to_csv(p, ";", "-", None, None, True, False),
                             lambda p: pd.read_csv(p, sep=";")),
    "tab-quoted-crlf": (lambda d, p: d.to_csv(p, sep="\t", quoting=1, lineterminator="\r\n"),
                        lambda p: pd.read_csv(p, sep="\t")),
    "append-csv": (lambda d, p: _twice(p, lambda m: d.to_csv(p, mode=m, index=False,
                                                             header=m == "w")),
                   lambda p: pd.read_csv(p)),
    "append-csv-to-a-new-file": (lambda d, p: d.to_csv(p, mode="a", index=False),
                                 lambda p: pd.read_csv(p)),
    "append-csv-gzip": (lambda d, p: _twice(p.with_suffix(".csv.gz"), lambda m: d.to_csv(
        p.with_suffix(".csv.gz"), mode=m, index=False, header=m == "w")),
                        lambda p: pd.read_csv(p.with_suffix(".csv.gz"))),
    "append-csv-utf-16": (lambda d, p: _twice(p, lambda m: d.to_csv(
        p, mode=m, index=False, header=m == "w", encoding="utf-16")),
                          lambda p: pd.read_csv(p, encoding="utf-16")),
    "append-json-lines": (lambda d, p: _twice(p, lambda m: d.to_json(
        p, mode=m, orient="records", lines=True)),
                          lambda p: pd.read_json(p, orient="records", lines=True)),
    "append-json-not-lines": (lambda d, p: _twice(p, lambda m: d.to_json(p, mode=m)),
                              lambda p: pd.read_json(p)),
    "series-to_csv": (lambda d, p: d["b"].to_csv(p), lambda p: pd.read_csv(p)),
    "series-to_json": (lambda d, p: d["a"].to_json(p),
                       lambda p: pd.read_json(p, typ="series").to_frame()),
    "chunked-read": (lambda d, p: d.to_csv(p, index=False),
                     lambda p: pd.concat(list(pd.read_csv(p, chunksize=1)), ignore_index=True)),
    "read-columns": (lambda d, p: d.to_parquet(p), lambda p: pd.read_parquet(p, columns=["b"])),
    "read-filters": (lambda d, p: d.to_parquet(p, row_group_size=1),
                     lambda p: pd.read_parquet(p, filters=[("a", ">", 1)])),
    "feather-zstd": (lambda d, p: d.to_feather(p, compression="zstd"), _late(pd, "read_feather")),
    "orc": (lambda d, p: d.to_orc(p), _late(pd, "read_orc")),
    "stata": (lambda d, p: d.to_stata(p, write_index=False), _late(pd, "read_stata")),
    "xml": (lambda d, p: d.to_xml(p), _late(pd, "read_xml")),
    "html": (lambda d, p: d.to_html(p), lambda p: pd.read_html(p)[0]),
}


def _twice(path: Path, write: Callable[[str], Any]) -> None:
    """Write, then append (``mode="a"``); into governed storage the sealed file is re-sealed
    with what it held followed by what pandas appends."""
    write("w")
    write("a")


def _tilde(p: Path) -> str:
    return "~/" + str(p.relative_to(Path.home()))


def _relative(p: Path) -> str:
    return str(p.relative_to(Path.cwd()))


@pytest.mark.parametrize("how", sorted(TARGETS))
def test_pandas_targets_and_options_round_trip(governed, monkeypatch, how):
    monkeypatch.setenv("HOME", str(governed))
    write, read = TARGETS[how]
    needs = {"xml": "lxml", "html": "lxml"}.get(how)
    if needs:
        pytest.importorskip(needs)
    _round_trip(governed, lambda p: write(_frame(), p), read, pd.testing.assert_frame_equal,
                "csv")


# not under a governed root: a database file there cannot be sealed, and is refused
# (tests/storage/test_database_files.py)
@pytest.mark.parametrize("where", ["Downloads"])
def test_to_sql_on_sqlite_round_trips(governed, where):
    import sqlite3

    def run(db: Path) -> pd.DataFrame:
        with sqlite3.connect(db) as con:
            _frame().to_sql("t", con, index=False)
            _frame().to_sql("t", con, index=False, if_exists="append", chunksize=1,
                            method="multi")
            _frame()["a"].to_sql("s", con, index=False)
            back = pd.read_sql_query("select * from t", con)
            back["s"] = pd.read_sql("select * from s", con)["a"].tolist() * 2
        return back

    with _bypass.bypass():
        expected = run(governed / "plain.db")
    pd.testing.assert_frame_equal(run(governed / where / "w.db"), expected)


def test_the_plaintext_inside_a_sealed_file_is_what_pandas_writes_to_that_path(governed):
    """Not only read back equal: ``lacuna storage cat`` of x.csv.gz gives a gzip file, of a
    UTF-16 CSV a byte order mark, as pandas writes them."""
    root = governed / "governed" / "workspace"
    data = pd.DataFrame({"é": ["ü", "😀"]})
    for name, write in {
        "x.csv": lambda p: data.to_csv(p),
        "u16.csv": lambda p: data.to_csv(p, encoding="utf-16"),
        "u32.csv": lambda p: data.to_csv(p, encoding="utf-32", index=False),
        "x.txt": lambda p: data.to_string(p, encoding="utf-16"),
        "x.json": lambda p: data.to_json(p, orient="records", lines=True),
    }.items():
        with _bypass.bypass():
            write(governed / name)
        write(root / name)
        assert storage.read_governed(root / name) == (governed / name).read_bytes(), name
    data.to_csv(root / "x.csv.gz")
    assert storage.read_governed(root / "x.csv.gz")[:2] == b"\x1f\x8b"
    assert gzip.decompress(storage.read_governed(root / "x.csv.gz")) == (
        governed / "x.csv").read_bytes()


def test_an_embedded_declaration_is_not_copied_into_every_column(governed):
    """pandas deep-copies ``attrs`` into each column it hands out, and pyarrow takes every
    column of a frame it writes: a per-column declaration copied each time made to_parquet of a
    wide frame quadratic (2,000 columns: minutes). The declaration is its own copy."""
    from lacuna.integrations.pandas._io import _without_state

    out = _without_state(_wide(), {"columns": {f"c{i}": {} for i in range(2000)}})
    assert copy.deepcopy(out.attrs)[ATTRS_KEY] is out.attrs[ATTRS_KEY]
    assert out["c1"].attrs[ATTRS_KEY] is out.attrs[ATTRS_KEY]


# -- polars, pyarrow, DuckDB -------------------------------------------------------------------


def _pl_frames() -> dict[str, Callable[[], pl.DataFrame]]:
    return {
        "no-columns": pl.DataFrame,
        "no-rows": lambda: pl.DataFrame({"a": pl.Series([], dtype=pl.Int64),
                                         "b": pl.Series([], dtype=pl.String)}),
        "one-row": lambda: pl.DataFrame({"a": [1], "b": ["x"]}),
        "categorical": lambda: pl.DataFrame(
            {"c": pl.Series(["a", "b", "a"], dtype=pl.Categorical)}),
        "tz-aware": lambda: pl.DataFrame({"t": pl.datetime_range(
            dt.datetime(2024, 3, 30), dt.datetime(2024, 3, 31), "12h", time_zone="Europe/Paris",
            eager=True)}),
        "duration": lambda: pl.DataFrame(
            {"d": pl.Series([dt.timedelta(seconds=1), None], dtype=pl.Duration("us"))}),
        "decimal": lambda: pl.DataFrame(
            {"d": pl.Series([decimal.Decimal("1.10"), None], dtype=pl.Decimal(10, 2))}),
        "binary": lambda: pl.DataFrame({"b": [b"\x00\x01", None]}),
        "nested": lambda: pl.DataFrame({"l": [[1, 2], [3]], "s": [{"k": 1}, {"k": 2}]}),
        "odd-names": lambda: pl.DataFrame(
            {"naïve ✓": [1], "😀": [2], "with space": [3], "a.b": [4], "1st": [5]}),
        "nulls": lambda: pl.DataFrame({"f": [None, float("nan"), 1.0], "o": [None, None, "x"],
                                       "t": pl.Series([None, None, None], dtype=pl.Datetime)}),
    }


PL_FRAMES = _pl_frames()
SMALL = ("no-columns", "no-rows", "one-row", "tz-aware", "odd-names", "nulls")


def _duck_copy(frame: pl.DataFrame, path: Path, options: str) -> Any:
    arrow_table = frame.to_arrow()  # noqa: F841 - DuckDB finds it by name
    return duckdb.sql(f"COPY (SELECT * FROM arrow_table) TO '{path}' ({options})")


FRAMES_LIBS: dict[str, tuple[str, Write, Read, tuple[str, ...] | None]] = {
    "polars.write_csv": ("csv", lambda d, p: d.write_csv(p), _late(pl, "read_csv"), None),
    "polars.write_parquet": ("parquet", lambda d, p: d.write_parquet(p),
                             _late(pl, "read_parquet"), None),
    "polars.write_parquet-gzip": ("parquet", lambda d, p: d.write_parquet(p, compression="gzip"),
                                  _late(pl, "read_parquet"), SMALL),
    "polars.write_ipc-zstd": ("arrow", lambda d, p: d.write_ipc(p, compression="zstd"),
                              _late(pl, "read_ipc"), None),
    "polars.write_ipc_stream": ("arrows", lambda d, p: d.write_ipc_stream(p),
                                _late(pl, "read_ipc_stream"), SMALL),
    "polars.write_ndjson": ("ndjson", lambda d, p: d.write_ndjson(p),
                            _late(pl, "read_ndjson"), None),
    "polars.write_json": ("json", lambda d, p: d.write_json(p), _late(pl, "read_json"), SMALL),
    "polars.sink_parquet": ("parquet", lambda d, p: d.lazy().sink_parquet(p),
                            lambda p: pl.scan_parquet(p).collect(), None),
    "polars.sink_csv": ("csv", lambda d, p: d.lazy().sink_csv(str(p)),
                        lambda p: pl.scan_csv(p).collect(), SMALL),
    "polars.sink_ipc": ("arrow", lambda d, p: d.lazy().sink_ipc(p),
                        lambda p: pl.scan_ipc(p).collect(), SMALL),
    "polars.sink_ndjson": ("ndjson", lambda d, p: d.lazy().sink_ndjson(p),
                           lambda p: pl.scan_ndjson(p).collect(), SMALL),
    "polars.lazy-collect": ("parquet", lambda d, p: d.write_parquet(p),
                            lambda p: pl.scan_parquet(p).filter(pl.lit(True)).collect(), SMALL),
    "pyarrow.parquet": ("parquet", lambda d, p: pq.write_table(d.to_arrow(), p),
                        lambda p: pl.from_arrow(pq.read_table(p)), None),
    "pyarrow.parquet-snappy-str": ("parquet", lambda d, p: pq.write_table(
        d.to_arrow(), str(p), compression="snappy"), lambda p: pl.from_arrow(
            pq.read_table(str(p))), SMALL),
    "pyarrow.csv": ("csv", lambda d, p: pa_csv.write_csv(d.to_arrow(), p),
                    lambda p: pl.from_arrow(pa_csv.read_csv(p)), SMALL),
    "pyarrow.feather": ("feather", lambda d, p: pa_feather.write_feather(d.to_arrow(), p),
                        lambda p: pl.from_arrow(pa_feather.read_table(p)), None),
    "pyarrow.dataset": ("dataset", lambda d, p: pa_ds.write_dataset(d.to_arrow(), p,
                                                                    format="parquet"),
                        lambda p: pl.from_arrow(pa_ds.dataset(p, format="parquet").to_table()),
                        SMALL),
    "duckdb.write_parquet": ("parquet", lambda d, p: duckdb.from_arrow(
        d.to_arrow()).write_parquet(str(p)), lambda p: duckdb.read_parquet(str(p)).pl(), SMALL),
    "duckdb.write_csv": ("csv", lambda d, p: duckdb.from_arrow(d.to_arrow()).write_csv(str(p)),
                         lambda p: duckdb.read_csv(str(p)).pl(), SMALL),
    "duckdb.COPY-parquet-zstd": ("parquet", lambda d, p: _duck_copy(
        d, p, "FORMAT parquet, COMPRESSION zstd"), lambda p: duckdb.read_parquet(str(p)).pl(),
        SMALL),
    "duckdb.COPY-csv": ("csv", lambda d, p: _duck_copy(d, p, "FORMAT csv, HEADER"),
                        lambda p: duckdb.read_csv(str(p)).pl(), SMALL),
}


@pytest.mark.parametrize("writer", sorted(FRAMES_LIBS))
def test_frame_libraries_allowed_writes_read_back_as_plain(governed, writer):
    suffix, write, read, frames = FRAMES_LIBS[writer]
    _every_frame(governed, PL_FRAMES, frames or PL_FRAMES, write, read,
                 polars.testing.assert_frame_equal, suffix)


def _pl_frame() -> pl.DataFrame:
    return pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]})


def _hive(folder: Path) -> pl.DataFrame:
    table = pa_ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    return pl.from_arrow(table).sort("a").select("a", pl.col("b").cast(pl.String))


FRAME_TARGETS: dict[str, tuple[Callable[[Path], Any], Read]] = {
    "polars-str-path": (lambda p: _pl_frame().write_parquet(str(p)),
                        lambda p: pl.read_parquet(str(p))),
    "polars-missing-subfolder": (lambda p: _pl_frame().write_parquet(p.parent / "no" / "x"),
                                 lambda p: pl.read_parquet(p.parent / "no" / "x")),
    "pyarrow-missing-subfolder": (lambda p: pq.write_table(_pl_frame().to_arrow(),
                                                           p.parent / "no" / "x"),
                                  lambda p: pl.from_arrow(pq.read_table(p.parent / "no" / "x"))),
    "duckdb-missing-subfolder": (
        lambda p: duckdb.sql("select 1 as a").write_parquet(str(p.parent / "no" / "x")),
        lambda p: duckdb.read_parquet(str(p.parent / "no" / "x")).pl()),
    "polars-partition_by": (lambda p: _pl_frame().write_parquet(p.parent / "part",
                                                                partition_by="b"),
                            lambda p: _hive(p.parent / "part")),
    "pyarrow-read_feather": (lambda p: pa_feather.write_feather(_pl_frame().to_arrow(), p),
                             lambda p: pl.from_pandas(pa_feather.read_feather(p))),
    "pyarrow-buffer-output-stream": (lambda p: _into_buffer(p),
                                     lambda p: pl.read_parquet(p)),
}


def _into_buffer(path: Path) -> None:
    """Into memory (not an export), then to the path by Python."""
    sink = pa.BufferOutputStream()
    pq.write_table(_pl_frame().to_arrow(), sink)
    _pl_frame().write_parquet(path)
    assert pl.read_parquet(sink.getvalue().to_pybytes()).shape == (3, 2)


@pytest.mark.parametrize("how", sorted(FRAME_TARGETS))
def test_frame_library_targets_round_trip(governed, how):
    write, read = FRAME_TARGETS[how]
    _round_trip(governed, write, read, polars.testing.assert_frame_equal, "parquet")


def test_a_lazy_scan_of_a_file_polars_cannot_read_raises_polars_error(governed):
    """Lacuna reads a scan's first rows to classify it: polars' own error about the file (an
    empty CSV) is what the user's ``collect()`` raises, not a fail-closed denial."""
    with _bypass.bypass():
        pl.DataFrame().lazy().sink_csv(str(governed / "plain.csv"))
        with pytest.raises(pl.exceptions.NoDataError):
            pl.scan_csv(governed / "plain.csv").collect()
    for folder in ("Downloads", "governed/workspace"):
        path = governed / folder / "empty.csv"
        pl.DataFrame().lazy().sink_csv(str(path))
        with pytest.raises(pl.exceptions.NoDataError):
            pl.scan_csv(path).collect()


def test_an_empty_arrow_table_keeps_a_trusted_declaration(governed):
    """A table without rows has values digests too (of no values): its Parquet declaration is
    bound to the data, not taken for an older Lacuna's unbound one."""
    target = governed / "Downloads" / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), target)
    with _bypass.bypass():
        attrs = json.loads(pq.read_schema(target).metadata[b"PANDAS_ATTRS"])
    declaration = attrs[ATTRS_KEY]
    assert "values" in declaration
    frame = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    assert sc.read_embedded(declaration, data_path=str(target), frame=frame).trusted


def test_an_empty_dataset_writes_nothing_as_pyarrow_does(governed):
    table = pa.table({"a": pa.array([], pa.int64())})
    with _bypass.bypass():
        pa_ds.write_dataset(table, governed / "plain", format="parquet")
    target = governed / "governed" / "workspace" / "empty"
    pa_ds.write_dataset(table, target, format="parquet")  # raised a StorageError
    assert target.exists() is (governed / "plain").exists()


# -- the classification travels; personal data elsewhere is still denied ----------------------


def _customers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [101, 102, 103],
                         "email": ["ann@example.com", "bob@example.org", "cy@example.net"],
                         "spend": [10.5, 20.25, 30.0]})


PERSONAL: dict[str, tuple[str, Write, Read, Callable[[Any], Any]]] = {
    "pandas.to_csv": ("csv", lambda d, p: d.to_csv(p, index=False), _late(pd, "read_csv"),
                      lambda f: f.lacuna_classification),
    "pandas.to_csv-gzip": ("csv.gz", lambda d, p: d.to_csv(p, index=False), _late(pd, "read_csv"),
                           lambda f: f.lacuna_classification),
    "pandas.to_parquet": ("parquet", lambda d, p: d.to_parquet(p), _late(pd, "read_parquet"),
                          lambda f: f.lacuna_classification),
    "pandas.to_json-lines": ("jsonl", lambda d, p: d.to_json(p, orient="records", lines=True),
                             lambda p: pd.read_json(p, orient="records", lines=True),
                             lambda f: f.lacuna_classification),
    "pandas.to_feather": ("feather", lambda d, p: d.to_feather(p), _late(pd, "read_feather"),
                          lambda f: f.lacuna_classification),
    "polars.write_parquet": ("parquet", lambda d, p: pl.from_pandas(d).write_parquet(p),
                             _late(pl, "read_parquet"), lpolars.classification),
    "polars.sink_csv": ("csv", lambda d, p: pl.from_pandas(d).lazy().sink_csv(str(p)),
                        _late(pl, "scan_csv"), lpolars.classification),
    "pyarrow.write_table": ("parquet", lambda d, p: pq.write_table(pa.table(d), p),
                            _late(pq, "read_table"), lpyarrow.classification),
    "pyarrow.write_feather": ("feather", lambda d, p: pa_feather.write_feather(pa.table(d), p),
                              _late(pa_feather, "read_table"), lpyarrow.classification),
    "pyarrow.read_feather": ("feather", lambda d, p: pa_feather.write_feather(d, p),
                             _late(pa_feather, "read_feather"),
                             lambda f: f.lacuna_classification),
    "duckdb.write_parquet": ("parquet", lambda d, p: duckdb.from_df(d).write_parquet(str(p)),
                             lambda p: duckdb.read_parquet(str(p)), lduckdb.classification),
}


@pytest.mark.parametrize("writer", sorted(PERSONAL))
def test_personal_data_round_trips_through_governed_storage_and_is_denied_elsewhere(
    governed, writer
):
    suffix, write, read, classification_of = PERSONAL[writer]
    data = _customers()
    declared = lacuna.classify(data)
    denied = governed / "Downloads" / f"c.{suffix}"
    with pytest.raises(GovernanceViolation):
        write(data, denied)
    assert not denied.exists()
    assert not sc.sidecar_path(denied).exists()

    target = governed / "governed" / "workspace" / f"c.{suffix}"
    write(data, target)
    assert sealed.is_sealed(target)
    label = sc.read_sidecar(target)
    assert label is not None
    assert label.trusted
    assert label.classification.columns["email"].classification.value == "pii"
    back = read(target)
    got = classification_of(back)
    assert got.tier is declared.tier
    assert got.tier is Tier.PROPRIETARY
    assert got.columns["email"].classification.value == "pii"
    assert "PII" in got.tags
    if writer.startswith("pandas"):
        with _bypass.bypass():
            expected = read(_plain(governed, data, write, suffix))
        pd.testing.assert_frame_equal(back, expected)


def _plain(root: Path, data: pd.DataFrame, write: Write, suffix: str) -> Path:
    path = root / f"plain.{suffix}"
    write(data, path)
    return path


def test_an_append_to_a_sealed_file_keeps_the_most_restrictive_class(governed):
    """Appending personal rows to a public sealed file: the file is now personal data. The
    old content is read through open_governed (a decided, audited read)."""
    target = governed / "governed" / "workspace" / "mixed.csv"
    pd.DataFrame({"n": [1], "note": ["none"]}).to_csv(target, index=False)
    assert sc.read_sidecar(target).classification.tier is Tier.PUBLIC
    personal = _customers().rename(columns={"customer_id": "n", "email": "note"})[["n", "note"]]
    personal.to_csv(target, mode="a", header=False, index=False)
    assert sealed.is_sealed(target)
    label = sc.read_sidecar(target)
    assert label.trusted
    assert label.classification.tier is Tier.PROPRIETARY
    back = pd.read_csv(target)
    assert len(back) == 4
    assert back.lacuna_classification.tier is Tier.PROPRIETARY
    reads = [r for r in lacuna.governor.current().audit.list(limit=None, action="read")
             if r.kind == "decision"]
    assert any(r.data["how"]["method"] == "pandas.DataFrame.to_csv" for r in reads)


@pytest.mark.parametrize("how", ["file-object", "append-to-plaintext", "excel-writer",
                                 "file-url-csv"])
def test_what_governed_storage_cannot_seal_is_refused_clearly(governed, how):
    """Documented (docs/storage.md): a write Lacuna cannot seal is a StorageError, never a
    plaintext file and never a crash."""
    target = governed / "governed" / "workspace" / "x.csv"
    with pytest.raises(StorageError, match="cannot be encrypted"):
        _unsealable(how, _frame(), target)
    if how != "append-to-plaintext":
        assert not target.exists() or target.stat().st_size == 0  # open() made it, empty
    book = target.with_suffix(".xlsx")
    assert not book.exists() or book.stat().st_size == 0


def _unsealable(how: str, data: pd.DataFrame, target: Path) -> None:
    if how == "file-object":
        with open(target, "w") as fh:
            data.to_csv(fh)
    elif how == "append-to-plaintext":  # a file there that is not sealed cannot be re-sealed
        with _bypass.bypass():
            data.to_csv(target)
        data.to_csv(target, mode="a")
    elif how == "excel-writer":
        with pd.ExcelWriter(target.with_suffix(".xlsx")) as book:
            data.to_excel(book)
    else:  # pandas itself cannot write a CSV to a file:// URL (it opens URLs for reading)
        data.to_csv(target.as_uri())


@pytest.mark.parametrize("how", ["polars-file-object", "pyarrow-file-object",
                                 "pyarrow-csv-file-object"])
def test_frame_libraries_refuse_file_objects_in_governed_storage(governed, how):
    """pandas refuses an open file object under a governed root (it cannot be sealed); polars
    and pyarrow wrote plaintext into it."""
    target = governed / "governed" / "workspace" / "x.bin"
    table = _pl_frame()
    with open(target, "wb") as fh, pytest.raises(StorageError, match="cannot be encrypted"):
        {"polars-file-object": lambda: table.write_parquet(fh),
         "pyarrow-file-object": lambda: pq.write_table(table.to_arrow(), fh),
         "pyarrow-csv-file-object": lambda: pa_csv.write_csv(table.to_arrow(), fh)}[how]()
    assert target.stat().st_size == 0  # created empty by open(), nothing in plaintext


@pytest.mark.parametrize("stream", ["OSFile", "output_stream"])
def test_arrow_native_files_are_governed_exports(governed, stream):
    """``pq.write_table(table, pa.OSFile(path, "wb"))`` was not governed at all (no name to
    decide on): personal data went anywhere. It is an export to the file the stream's
    descriptor is open on now: public data is written as pyarrow writes it, personal data to
    ~/Downloads is denied."""
    def sink(path: Path) -> Any:
        return pa.OSFile(str(path), "wb") if stream == "OSFile" else pa.output_stream(str(path))

    public = pa.table({"n": [1, 2, 3]})
    with _bypass.bypass(), sink(governed / "plain.parquet") as out:
        pq.write_table(public, out)
    with sink(governed / "Downloads" / "n.parquet") as out:
        pq.write_table(public, out)
    with _bypass.bypass():
        assert pq.read_table(governed / "Downloads" / "n.parquet").equals(
            pq.read_table(governed / "plain.parquet"))
    target = governed / "Downloads" / "c.parquet"
    with sink(target) as out, pytest.raises(GovernanceViolation) as err:
        pq.write_table(pa.table(_customers()), out)
    uri = err.value.decision.operation.destination.uri
    assert uri == str(target)
    assert target.stat().st_size == 0


def test_an_append_cannot_launder_a_file_whose_sidecar_is_gone(governed):
    """The old content keeps what its read was decided on: without a trusted sidecar that is
    PROPRIETARY (fail closed), so appending public rows does not sign it PUBLIC."""
    target = governed / "governed" / "workspace" / "old.csv"
    pd.DataFrame({"n": [1], "note": ["none"]}).to_csv(target, index=False)
    sc.sidecar_path(target).unlink()
    pd.DataFrame({"n": [2], "note": ["none"]}).to_csv(target, mode="a", header=False,
                                                       index=False)
    label = sc.read_sidecar(target)
    assert label.trusted
    assert label.classification.tier is Tier.PROPRIETARY
    assert pd.read_csv(target)["n"].tolist() == [1, 2]
