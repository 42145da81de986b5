"""polars' writers on the allowed path, option by option: plainly, to ~/Downloads and into
governed storage, the same outcome, files and frames read back (tests/roundtrip.py). The
frame-by-frame torture (hostile dtypes, names) is tests/integrations/test_allowed_roundtrip.py.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import polars as pl
import pytest

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.integrations import polars as lpolars
from lacuna.lineage import sidecar as sc
from lacuna.model import Tier
from roundtrip import GZIP, PARQUET, ZSTD, Case, every_case, tilde


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"a": [1, 2, 3], "b": ["x", None, "é"], "c": [1.5, None, -2.0]})


def _keyed() -> pl.DataFrame:
    return _frame().fill_null("n")


def _csv(p: Path) -> pl.DataFrame:
    return pl.read_csv(p)


def _parquet(p: Path) -> pl.DataFrame:
    return pl.read_parquet(p)


def _ndjson(p: Path) -> pl.DataFrame:
    return pl.read_ndjson(p)


def _ipc(p: Path) -> pl.DataFrame:
    return pl.read_ipc(p)


def _hive(p: Path) -> pl.DataFrame:
    return pl.read_parquet(p, hive_partitioning=True).sort("a")


def _owner(p: Path) -> pl.DataFrame:
    """The frame, and the ``owner`` entry of its Parquet metadata as a column."""
    return pl.read_parquet(p).with_columns(owner=pl.lit(pl.read_parquet_metadata(p)["owner"]))


POLARS: dict[str, Case] = {
    "write_csv": Case("x.csv", lambda p: _frame().write_csv(p), _csv),
    "write_csv-str": Case("x.csv", lambda p: _frame().write_csv(str(p)), _csv),
    # "~/..." into governed storage was not expanded (FileNotFoundError), and a file:// URL
    # was refused (StorageError): polars writes and reads both as the local file
    "write_csv-home-relative": Case("x.csv", lambda p: _frame().write_csv(tilde(p)),
                                    lambda p: pl.read_csv(tilde(p))),
    "sink_parquet-home-relative": Case("x.parquet", lambda p: _frame().lazy().sink_parquet(
        tilde(p)), lambda p: pl.scan_parquet(tilde(p)).collect(), same_bytes=False,
                                       magic=PARQUET),
    "write_parquet-file-url": Case("x.parquet", lambda p: _frame().write_parquet(p.as_uri()),
                                   lambda p: pl.read_parquet(p.as_uri()), same_bytes=False,
                                   magic=PARQUET),
    # a list of sealed files was read as ciphertext (a polars panic)
    "write_csv-read-as-a-list": Case("x.csv", lambda p: _frame().write_csv(p),
                                     lambda p: pl.read_csv([p, p])),
    "write_parquet-scanned-as-a-list": Case("x.parquet", lambda p: _frame().write_parquet(p),
                                            lambda p: pl.scan_parquet([p, str(p)]).collect(),
                                            same_bytes=False, magic=PARQUET),
    # polars refuses a .gz name written uncompressed and gzip to a .csv name (check_extension):
    # into governed storage (a sealing stream, no name) both were written
    "write_csv-gz-name-uncompressed": Case("x.csv.gz", lambda p: _frame().write_csv(p), _csv),
    "write_csv-gzip-to-csv-name": Case("x.csv", lambda p: _frame().write_csv(
        p, compression="gzip"), _csv),
    "write_csv-gzip": Case("x.csv.gz", lambda p: _frame().write_csv(p, compression="gzip"),
                           _csv, same_bytes=False, magic=GZIP),
    "write_csv-zstd-level": Case("x.csv.zst", lambda p: _frame().write_csv(
        p, compression="zstd", compression_level=9), _csv, same_bytes=False, magic=ZSTD),
    "write_csv-gz-name-check_extension=False": Case("x.csv.gz", lambda p: _frame().write_csv(
        p, check_extension=False), _csv),
    "write_csv-options": Case("x.txt", lambda p: _frame().write_csv(
        p, include_bom=True, separator=";", line_terminator="\r\n", quote_style="always",
        null_value="NA", float_precision=2), lambda p: pl.read_csv(
            p, separator=";", null_values="NA"), magic=b"\xef\xbb\xbf"),
    "write_csv-no-header": Case("x.csv", lambda p: _frame().write_csv(p, include_header=False),
                                lambda p: pl.read_csv(p, has_header=False)),
    "write_ndjson": Case("x.ndjson", lambda p: _frame().write_ndjson(p), _ndjson),
    "write_ndjson-gzip": Case("x.ndjson.gz", lambda p: _frame().write_ndjson(
        p, compression="gzip"), _ndjson, same_bytes=False, magic=GZIP),
    "write_ndjson-gzip-to-ndjson-name": Case("x.ndjson", lambda p: _frame().write_ndjson(
        p, compression="gzip"), _ndjson),
    "write_json": Case("x.json", lambda p: _frame().write_json(p), lambda p: pl.read_json(p)),
    "write_parquet": Case("x.parquet", lambda p: _frame().write_parquet(p), _parquet,
                          same_bytes=False, magic=PARQUET),
    "write_parquet-options": Case("x.parquet", lambda p: _frame().write_parquet(
        p, compression="gzip", compression_level=9, statistics=False, row_group_size=1,
        data_page_size=1024), _parquet, same_bytes=False, magic=PARQUET),
    "write_parquet-metadata": Case("x.parquet", lambda p: _frame().write_parquet(
        p, metadata={"owner": "team"}), _owner, same_bytes=False, magic=PARQUET),
    # polars refuses metadata= with use_pyarrow=True, which Lacuna passed it
    "write_parquet-use_pyarrow": Case("x.parquet", lambda p: _frame().write_parquet(
        p, use_pyarrow=True, compression="snappy"), _parquet, same_bytes=False, magic=PARQUET),
    "write_parquet-mkdir": Case("sub/x.parquet", lambda p: _frame().write_parquet(
        p, mkdir=True), _parquet, same_bytes=False, magic=PARQUET),
    "write_parquet-partition_by": Case("part", lambda p: _keyed().write_parquet(
        p, partition_by="b"), _hive, same_bytes=False, magic=PARQUET),
    "write_ipc": Case("x.arrow", lambda p: _frame().write_ipc(p), _ipc),
    "write_ipc-lz4": Case("x.arrow", lambda p: _frame().write_ipc(p, compression="lz4"), _ipc),
    "write_ipc_stream-zstd": Case("x.arrows", lambda p: _frame().write_ipc_stream(
        p, compression="zstd"), lambda p: pl.read_ipc_stream(p)),
    "write_avro-deflate": Case("x.avro", lambda p: _frame().write_avro(
        p, compression="deflate", name="rec"), lambda p: pl.read_avro(p), same_bytes=False,
                               magic=b"Obj\x01"),
    # DataFrame.deserialize was not hooked: a sealed file was read as ciphertext
    "serialize": Case("x.bin", lambda p: _frame().serialize(p),
                      lambda p: pl.DataFrame.deserialize(p)),
    "lazy-serialize": Case("x.bin", lambda p: _frame().lazy().serialize(p),
                           lambda p: pl.LazyFrame.deserialize(p).collect()),
    "sink_csv-gzip": Case("x.csv.gz", lambda p: _frame().lazy().sink_csv(
        p, compression="gzip"), _csv, same_bytes=False, magic=GZIP),
    "sink_csv-gz-name-uncompressed": Case("x.csv.gz", lambda p: _frame().lazy().sink_csv(p),
                                          _csv),
    "sink_csv-options": Case("x.csv", lambda p: _frame().lazy().sink_csv(
        p, include_bom=True, separator="\t"), lambda p: pl.read_csv(p, separator="\t"),
                             magic=b"\xef\xbb\xbf"),
    "sink_csv-mkdir": Case("sub/x.csv", lambda p: _frame().lazy().sink_csv(p, mkdir=True),
                           _csv),
    "sink_ndjson-zstd": Case("x.ndjson.zst", lambda p: _frame().lazy().sink_ndjson(
        p, compression="zstd"), _ndjson, same_bytes=False, magic=ZSTD),
    "sink_parquet-options": Case("x.parquet", lambda p: _frame().lazy().sink_parquet(
        p, compression="lz4", row_group_size=1), _parquet, same_bytes=False, magic=PARQUET),
    "sink_parquet-metadata": Case("x.parquet", lambda p: _frame().lazy().sink_parquet(
        p, metadata={"owner": "team"}), _owner, same_bytes=False, magic=PARQUET),
    "sink_ipc-zstd": Case("x.arrow", lambda p: _frame().lazy().sink_ipc(
        p, compression="zstd"), _ipc),
    # a pl.PartitionBy target was taken for an in-memory write: not governed, not sealed
    "sink_parquet-PartitionBy": Case("part", lambda p: _keyed().lazy().sink_parquet(
        pl.PartitionBy(p, key="b")), _hive, same_bytes=False, magic=PARQUET),
    "sink_csv-PartitionBy-max_rows": Case("part", lambda p: _frame().lazy().sink_csv(
        pl.PartitionBy(p, max_rows_per_file=2)), lambda p: pl.read_csv(p).sort("a")),
    # lazy=True: the sink runs when collected, after the scratch folder is gone
    "sink_csv-lazy=True": Case("x.csv", lambda p: pl.collect_all(
        [_frame().lazy().sink_csv(p, lazy=True)]), _csv),
}


def test_polars_allowed_writes_as_plain_polars(governed, monkeypatch):
    monkeypatch.setenv("HOME", str(governed))
    every_case(governed, POLARS)


@pytest.mark.parametrize("writer", ["write_csv", "write_ndjson", "write_json", "write_ipc",
                                    "write_parquet", "write_avro"])
def test_polars_writes_into_memory_are_plain_polars(governed, writer):
    """A buffer is not an export: the same bytes as plain polars (Avro: a random sync marker;
    Parquet: the same frame)."""
    def write() -> bytes:
        buffer = io.BytesIO()
        getattr(_frame(), writer)(buffer)
        return buffer.getvalue()

    with _bypass.bypass():
        plain = write()
    if writer in ("write_avro", "write_parquet"):
        reader = getattr(pl, writer.replace("write_", "read_"))
        assert reader(io.BytesIO(write())).equals(reader(io.BytesIO(plain)))
    else:
        assert write() == plain


def test_deserialize_stays_a_classmethod(governed, sandbox_config):
    """Hooked as a reader, ``deserialize`` is still called on the class or on an instance, and
    ``lacuna.disable()`` puts the classmethod back."""
    path = governed / "governed" / "workspace" / "x.bin"
    _frame().serialize(path)
    assert pl.DataFrame.deserialize(path).equals(_frame())
    assert _frame().deserialize(path).equals(_frame())
    lacuna.disable()
    assert isinstance(vars(pl.DataFrame)["deserialize"], classmethod)
    lacuna.enable(sandbox_config())


def test_polars_write_database_round_trips(governed):
    """A database file under a governed root cannot be sealed: refused there, nothing written
    (it was written in plaintext; tests/storage/test_database_files.py)."""
    pytest.importorskip("sqlalchemy", reason="polars' write_database needs sqlalchemy")
    for where in ("plain", "Downloads"):
        db = governed / where / "x.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        _frame().write_database("t", f"sqlite:///{db}", if_table_exists="replace")
        with sqlite3.connect(db) as con:
            back = pl.read_database("select * from t", con)
        assert back.equals(_frame()), where
    db = governed / "governed" / "workspace" / "x.db"
    with pytest.raises(StorageError, match="a live database file cannot be sealed"):
        _frame().write_database("t", f"sqlite:///{db}", if_table_exists="replace")
    assert not db.exists()


def test_polars_write_excel_round_trips(governed):
    pytest.importorskip("xlsxwriter", reason="polars' write_excel needs xlsxwriter")
    pytest.importorskip("fastexcel", reason="polars' read_excel needs fastexcel")
    for where in ("Downloads", "governed/workspace"):
        target = governed / where / "x.xlsx"
        _frame().write_excel(target)
        assert pl.read_excel(target).equals(_frame()), where


# -- personal data to an unmanaged folder: refused, nothing written ----------------------------


def _customers() -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [101, 102, 103],
                         "email": ["ann@example.com", "bob@example.org", "cy@example.net"]})


DENIED = {
    "write_csv-gzip": ("c.csv.gz", lambda p: _customers().write_csv(p, compression="gzip")),
    "write_parquet-partition_by": ("part", lambda p: _customers().write_parquet(
        p, partition_by="customer_id")),
    "sink_parquet-PartitionBy": ("part", lambda p: _customers().lazy().sink_parquet(
        pl.PartitionBy(p, key="customer_id"))),
    "sink_csv-mkdir": ("sub/c.csv", lambda p: _customers().lazy().sink_csv(p, mkdir=True)),
    "sink_csv-lazy=True": ("c.csv", lambda p: _customers().lazy().sink_csv(p, lazy=True)),
    "write_parquet-use_pyarrow": ("c.parquet", lambda p: _customers().write_parquet(
        p, use_pyarrow=True)),
}


@pytest.mark.parametrize("writer", sorted(DENIED))
def test_polars_personal_data_to_downloads_is_refused_and_nothing_is_written(downloads, writer):
    name, write = DENIED[writer]
    target = downloads / name
    with pytest.raises(GovernanceViolation):
        write(target)
    assert not target.exists()
    assert not target.parent.exists() or target.parent == downloads
    assert not sc.sidecar_path(target).exists()


SEALED_PERSONAL = {
    "sink_parquet-PartitionBy": (lambda p: _customers().lazy().sink_parquet(
        pl.PartitionBy(p, key="customer_id")), lambda p: pl.read_parquet(p)),
    "sink_csv-lazy=True": (lambda p: pl.collect_all([_customers().lazy().sink_csv(
        p, lazy=True)]), lambda p: pl.read_csv(p)),
    "serialize": (lambda p: _customers().serialize(p), lambda p: pl.DataFrame.deserialize(p)),
    "write_csv-read-as-a-list": (lambda p: _customers().write_csv(p),
                                 lambda p: pl.read_csv([p, p])),
}


@pytest.mark.parametrize("writer", sorted(SEALED_PERSONAL))
def test_polars_personal_data_keeps_its_class_through_governed_storage(governed, writer):
    write, read = SEALED_PERSONAL[writer]
    target = governed / "governed" / "workspace" / "c"
    write(target)
    got = lpolars.classification(read(target))
    assert got.tier is Tier.PROPRIETARY
    assert got.columns["email"].classification.value == "pii"
