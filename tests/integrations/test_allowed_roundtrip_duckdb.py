"""DuckDB's writers on the allowed path, option by option: plainly, to ~/Downloads and into
governed storage, the same outcome, files and relations read back (tests/roundtrip.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from lacuna.errors import GovernanceViolation, StorageError
from lacuna.lineage import sidecar as sc
from roundtrip import GZIP, PARQUET, ZSTD, Case, every_case, then, tilde

ROWS = "SELECT * FROM (VALUES (1, 'x'), (2, NULL), (3, 'é')) t(a, b)"


def _rel() -> Any:
    return duckdb.sql(ROWS)


def _copy(options: str) -> Any:
    return lambda p: duckdb.sql(f"COPY ({ROWS}) TO '{p}' ({options})")


def _csv(p: Path) -> Any:
    return duckdb.read_csv(str(p)).order("a").pl()


def _parquet(p: Path) -> Any:
    return duckdb.read_parquet(str(p)).order("a").pl()


def _hive(p: Path) -> Any:
    return duckdb.read_parquet(f"{p}/**/*.parquet", hive_partitioning=True).order("a").pl()


DUCKDB: dict[str, Case] = {
    "write_csv": Case("x.csv", lambda p: _rel().write_csv(str(p)), _csv),
    "write_csv-options": Case("x.csv.gz", lambda p: _rel().write_csv(
        str(p), sep=";", header=False, compression="gzip", quotechar="'", na_rep="NA"),
                              lambda p: duckdb.read_csv(str(p), sep=";", header=False,
                                                        na_values=["NA"]).pl(), magic=GZIP),
    "write_csv-gz-inferred": Case("x.csv.gz", lambda p: _rel().write_csv(str(p)), _csv,
                                  magic=GZIP),
    "to_csv": Case("x.csv", lambda p: _rel().to_csv(str(p)), _csv),
    "write_parquet-zstd": Case("x.parquet", lambda p: _rel().write_parquet(
        str(p), compression="zstd"), _parquet, magic=PARQUET),
    "write_parquet-pathlib": Case("x.parquet", lambda p: _rel().write_parquet(p), _parquet),
    "read_parquet-of-a-list": Case("x.parquet", lambda p: _rel().write_parquet(str(p)),
                                   lambda p: duckdb.read_parquet([str(p), str(p)]).order(
                                       "a").pl()),
    "to_parquet-partition_by": Case("part", lambda p: _rel().to_parquet(
        str(p), partition_by=["b"]), _hive, magic=PARQUET),
    "COPY-csv": Case("x.csv", _copy("FORMAT csv, HEADER"), _csv),
    "COPY-csv-gz-inferred": Case("x.csv.gz", _copy("FORMAT csv"), _csv, magic=GZIP),
    "COPY-csv-zstd": Case("x.csv.zst", _copy("FORMAT csv, COMPRESSION zstd"), _csv,
                          magic=ZSTD),
    "COPY-parquet-options": Case("x.parquet", _copy(
        "FORMAT parquet, COMPRESSION gzip, ROW_GROUP_SIZE 1"), _parquet, magic=PARQUET),
    "COPY-json": Case("x.json", _copy("FORMAT json"),
                      lambda p: duckdb.read_json(str(p)).order("a").pl()),
    "COPY-partition_by": Case("part", _copy("FORMAT parquet, PARTITION_BY (b)"), _hive,
                              magic=PARQUET),
    # into a folder that is not empty: DuckDB refuses (without OVERWRITE), or deletes what is
    # there (OVERWRITE); the sealed write went to an empty scratch folder and kept stale files
    "COPY-partition_by-into-a-full-folder": Case("part", then(
        _copy("FORMAT parquet, PARTITION_BY (b)"), _copy("FORMAT parquet, PARTITION_BY (b)")),
                                                 _hive),
    "COPY-partition_by-OVERWRITE": Case("part", then(
        _copy("FORMAT parquet, PARTITION_BY (b)"), lambda p: duckdb.sql(
            f"COPY (SELECT 7 AS a, 'z' AS b) TO '{p}' (FORMAT parquet, PARTITION_BY (b), "
            "OVERWRITE)")), _hive, magic=PARQUET),
    "COPY-home-relative": Case("x.csv", lambda p: _copy("FORMAT csv")(tilde(p)),
                               lambda p: _csv(tilde(p))),
    "write_parquet-home-relative": Case("x.parquet", lambda p: _rel().write_parquet(tilde(p)),
                                        lambda p: _parquet(tilde(p))),
    "COPY-parameter": Case("x.csv", lambda p: duckdb.execute(
        "COPY (SELECT 1 AS a) TO ? (FORMAT csv)", [str(p)]), _csv),
    "COPY-connection": Case("x.parquet", lambda p: duckdb.connect().execute(
        f"COPY (SELECT 42 AS a) TO '{p}'"), _parquet),
}


def test_duckdb_allowed_writes_as_plain_duckdb(governed, monkeypatch):
    monkeypatch.setenv("HOME", str(governed))
    every_case(governed, DUCKDB)


def _exported(folder: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.execute(f"EXPORT DATABASE '{folder}' (FORMAT parquet)")


def test_export_database_into_governed_storage_is_refused_not_written_in_plaintext(governed):
    """EXPORT DATABASE was decided and then written as plaintext into governed storage."""
    _exported(governed / "Downloads" / "db")  # allowed elsewhere, as DuckDB writes it
    assert duckdb.read_parquet(str(governed / "Downloads" / "db" / "t.parquet")).fetchall() == [
        (1,)]
    target = governed / "governed" / "workspace" / "db"
    with pytest.raises(StorageError, match="cannot be encrypted"):
        _exported(target)
    assert not target.exists()


def test_duckdb_personal_data_to_downloads_is_refused_and_nothing_is_written(downloads):
    con = duckdb.connect()
    con.execute("CREATE TABLE c AS SELECT * FROM (VALUES (1, 'ann@example.com'), "
                "(2, 'bob@example.org'), (3, 'cy@example.net')) t(id, email)")
    for name, write in {
        "c.csv.gz": lambda p: con.execute(f"COPY c TO '{p}' (FORMAT csv)"),
        "part": lambda p: con.execute(f"COPY c TO '{p}' (FORMAT parquet, PARTITION_BY (id))"),
        "c.parquet": lambda p: con.table("c").write_parquet(str(p)),
        "db": lambda p: con.execute(f"EXPORT DATABASE '{p}'"),
    }.items():
        target = downloads / name
        with pytest.raises(GovernanceViolation):
            write(target)
        assert not target.exists(), name
        assert not sc.sidecar_path(target).exists(), name
