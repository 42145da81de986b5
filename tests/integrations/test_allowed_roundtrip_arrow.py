"""pyarrow's writers on the allowed path, option by option: plainly, to ~/Downloads and into
governed storage, the same outcome, files and tables read back (tests/roundtrip.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.feather as pa_feather
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.lineage import sidecar as sc
from roundtrip import ARROW, PARQUET, Case, every_case, then, tilde


def _table() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["x", None, "é"]})


def _parquet(p: Path) -> pa.Table:
    return pq.read_table(p)


def _csv(p: Path) -> pa.Table:
    return pa_csv.read_csv(p)


def _feather(p: Path) -> pa.Table:
    return pa_feather.read_table(p)


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by("a")


def _closing(writer: Any, table: pa.Table) -> None:
    writer.write_table(table)
    writer.close()


def _hive_dataset(table: pa.Table, path: Path, **options: Any) -> None:
    pa_ds.write_dataset(table, path, format="parquet", partitioning=["a"],
                        partitioning_flavor="hive", **options)


def _orc() -> Any:
    return pytest.importorskip("pyarrow.orc", reason="pyarrow built without ORC")


ARROW_CASES: dict[str, Case] = {
    "parquet.write_table": Case("x.parquet", lambda p: pq.write_table(_table(), p), _parquet,
                                same_bytes=False, magic=PARQUET),
    "parquet.write_table-options": Case("x.parquet", lambda p: pq.write_table(
        _table(), str(p), compression={"a": "gzip", "b": "zstd"}, use_dictionary=False,
        row_group_size=1, version="2.4", write_statistics=False), _parquet, same_bytes=False,
                                        magic=PARQUET),
    "parquet.write_table-home-relative": Case("x.parquet", lambda p: pq.write_table(
        _table(), tilde(p)), lambda p: pq.read_table(tilde(p)), same_bytes=False, magic=PARQUET),
    "parquet.write_table-file-url": Case("x.parquet", lambda p: pq.write_table(
        _table(), p.as_uri()), lambda p: pq.read_table(p.as_uri()), same_bytes=False,
                                         magic=PARQUET),
    "parquet.ParquetWriter": Case("x.parquet", lambda p: _closing(
        pq.ParquetWriter(p, _table().schema, compression="gzip"), _table()), _parquet,
                                  magic=PARQUET),
    # a hive folder's partition column is a dictionary with a null: Lacuna's to_pandas of it
    # failed, and the read was denied (fail closed), wherever the folder was
    "parquet.write_to_dataset": Case("ds", lambda p: pq.write_to_dataset(
        _table(), p, partition_cols=["b"], basename_template="part-{i}.parquet"),
                                     _parquet, same_bytes=False,
                                     magic=PARQUET),
    "csv.write_csv": Case("x.csv", lambda p: pa_csv.write_csv(_table(), p), _csv),
    "csv.write_csv-options": Case("x.csv", lambda p: pa_csv.write_csv(
        _table(), p, pa_csv.WriteOptions(include_header=False, delimiter=";",
                                         quoting_style="all_valid")),
                                  lambda p: pa_csv.read_csv(
                                      p, read_options=pa_csv.ReadOptions(column_names=["a", "b"]),
                                      parse_options=pa_csv.ParseOptions(delimiter=";"))),
    # pyarrow does not compress by name: it writes CSV into x.csv.gz, which its reader (which
    # decompresses by name) refuses; read from a sealed file's stream it did not refuse
    "csv.write_csv-gz-name": Case("x.csv.gz", lambda p: pa_csv.write_csv(_table(), p), _csv),
    "csv.CSVWriter": Case("x.csv", lambda p: _closing(pa_csv.CSVWriter(p, _table().schema),
                                                      _table()), _csv),
    "feather.write_feather": Case("x.feather", lambda p: pa_feather.write_feather(_table(), p),
                                  _feather, same_bytes=False, magic=ARROW),
    "feather.write_feather-zstd": Case("x.feather", lambda p: pa_feather.write_feather(
        _table(), p, compression="zstd", compression_level=5), _feather, same_bytes=False,
                                       magic=ARROW),
    "feather.write_feather-v1": Case("x.feather", lambda p: pa_feather.write_feather(
        _table(), p, version=1), _feather, magic=b"FEA1"),
    "feather.write_feather-pandas": Case("x.feather", lambda p: pa_feather.write_feather(
        pd.DataFrame({"a": [1, 2]}), p), lambda p: pa_feather.read_feather(p), magic=ARROW),
    # pyarrow.ipc.open_file/open_stream were not hooked: a sealed file was read as ciphertext
    "ipc.new_file-lz4": Case("x.arrow", lambda p: _closing(pa_ipc.new_file(
        str(p), _table().schema, options=pa_ipc.IpcWriteOptions(compression="lz4")),
        _table()), lambda p: pa_ipc.open_file(str(p)).read_all(), magic=ARROW),
    "ipc.new_stream": Case("x.arrows", lambda p: _closing(pa_ipc.new_stream(
        str(p), _table().schema), _table()), lambda p: pa_ipc.open_stream(p).read_all()),
    "dataset.write_dataset-parquet": Case("ds", lambda p: pa_ds.write_dataset(
        _table(), p, format="parquet"), lambda p: pa_ds.dataset(p, format="parquet").to_table(),
                                          same_bytes=False, magic=PARQUET),
    "dataset.write_dataset-hive-csv": Case("ds", lambda p: pa_ds.write_dataset(
        _table(), str(p), format="csv", partitioning=["a"], partitioning_flavor="hive",
        basename_template="part-{i}.csv"), lambda p: _sorted(pa_ds.dataset(
            p, format="csv", partitioning="hive").to_table())),
    # into a folder that is not empty: pyarrow refuses (existing_data_behavior="error"), or
    # deletes the partitions it writes ("delete_matching"); the sealed write went to an empty
    # scratch folder and kept stale files
    "dataset.write_dataset-into-a-full-folder": Case("ds", then(
        lambda p: pa_ds.write_dataset(_table(), p, format="parquet"),
        lambda p: pa_ds.write_dataset(_table(), p, format="parquet")),
                                                     lambda p: pa_ds.dataset(p).to_table()),
    "dataset.write_dataset-delete_matching": Case("ds", then(
        lambda p: _hive_dataset(_table(), p),
        lambda p: _hive_dataset(_table().slice(0, 1), p, basename_template="new-{i}.parquet",
                                existing_data_behavior="delete_matching")),
                                                  lambda p: _sorted(pa_ds.dataset(
                                                      p, partitioning="hive").to_table()),
                                                  same_bytes=False, magic=PARQUET),
    "dataset.dataset-of-a-list": Case("x.parquet", lambda p: pq.write_table(_table(), p),
                                      lambda p: pa_ds.dataset([str(p)]).to_table(),
                                      same_bytes=False, magic=PARQUET),
    "dataset.write_dataset-ipc-zstd": Case("ds", lambda p: pa_ds.write_dataset(
        _table(), p, format="ipc",
        file_options=pa_ds.IpcFileFormat().make_write_options(compression="zstd")),
                                           lambda p: pa_ds.dataset(p, format="ipc").to_table(),
                                           same_bytes=False, magic=ARROW),
}


def test_pyarrow_allowed_writes_as_plain_pyarrow(governed, monkeypatch):
    monkeypatch.setenv("HOME", str(governed))
    every_case(governed, ARROW_CASES)


def test_pyarrow_orc_round_trips(governed):
    """``pyarrow.orc.read_table`` was not hooked: a sealed ORC file was read as ciphertext."""
    orc = _orc()
    every_case(governed, {"orc.write_table-zlib": Case(
        "x.orc", lambda p: orc.write_table(_table(), p, compression="zlib"),
        lambda p: orc.read_table(p), magic=b"ORC")})


def test_pyarrow_reads_a_sealed_compressed_csv_as_it_reads_the_file(governed):
    """pyarrow decompresses x.csv.gz by its name; the decrypted stream of a sealed one has no
    name, and pyarrow parsed the gzip bytes as CSV (ArrowInvalid)."""
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "é"]})
    with _bypass.bypass():
        frame.to_csv(governed / "plain.csv.gz", index=False)
        expected = pa_csv.read_csv(governed / "plain.csv.gz")
    target = governed / "governed" / "workspace" / "x.csv.gz"
    frame.to_csv(target, index=False)  # sealed gzip, as pandas compresses it by its name
    assert pa_csv.read_csv(target).replace_schema_metadata(None).equals(expected)


def test_pyarrow_writes_into_memory_are_plain_pyarrow(governed):
    def write() -> list[bytes]:
        out = []
        for writer in (pq.write_table, pa_csv.write_csv, pa_feather.write_feather):
            sink = io.BytesIO()
            writer(_table(), sink)
            out.append(sink.getvalue())
        return out

    with _bypass.bypass():
        plain = write()
    assert write() == plain


def test_a_table_read_from_a_hive_folder_is_written_as_pyarrow_writes_it(governed):
    """The table ``pq.read_table`` gives of a hive folder (a dictionary partition column with a
    null) cannot be written by pyarrow; Lacuna failed first (a fail-closed denial), not with
    pyarrow's own error."""
    with _bypass.bypass():
        pq.write_to_dataset(_table(), governed / "src", partition_cols=["b"])
        table = pq.read_table(governed / "src")
        with pytest.raises(pa.ArrowNotImplementedError):
            pq.write_table(table, governed / "plain.parquet")
    governed_table = pq.read_table(governed / "src")
    with pytest.raises(pa.ArrowNotImplementedError):
        pq.write_table(governed_table, governed / "Downloads" / "x.parquet")


def _customers() -> pa.Table:
    return pa.table({"customer_id": [101, 102, 103],
                     "email": ["ann@example.com", "bob@example.org", "cy@example.net"]})


DENIED = {
    "parquet.write_to_dataset": ("ds", lambda p: pq.write_to_dataset(
        _customers(), p, partition_cols=["customer_id"])),
    "csv.write_csv": ("c.csv", lambda p: pa_csv.write_csv(_customers(), p)),
    "dataset.write_dataset": ("ds", lambda p: pa_ds.write_dataset(_customers(), p,
                                                                  format="parquet")),
}


@pytest.mark.parametrize("writer", sorted(DENIED))
def test_pyarrow_personal_data_to_downloads_is_refused_and_nothing_is_written(downloads,
                                                                              writer):
    name, write = DENIED[writer]
    target = downloads / name
    with pytest.raises(GovernanceViolation):
        write(target)
    assert not target.exists()
    assert not sc.sidecar_path(target).exists()
