"""A SQLite or DuckDB database file written into governed storage: refused, since a live
database file cannot be sealed (the engine rewrites it in place while it is open) and it was
left there in plaintext. The governed alternative the refusal names — tables written there as
files, which are sealed — reads back; databases elsewhere, and read-only ones, are untouched."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pytest
import sqlalchemy as sa

from lacuna import _bypass
from lacuna.errors import StorageError
from lacuna.storage import sealed


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    _frame().to_sql("t", con, index=False)
    con.close()


def _sqlite_uri(path: Path) -> None:
    con = sqlite3.connect(f"file:{path}?mode=rwc", uri=True)
    con.execute("CREATE TABLE t (a)")
    con.close()


def _sqlalchemy_url(path: Path) -> None:
    _frame().to_sql("t", f"sqlite:///{path}", index=False)


def _sqlalchemy_engine(path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        _frame().to_sql("t", engine, index=False)
    finally:
        engine.dispose()


def _sqlalchemy_statement(path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as con:
            con.execute(sa.text("CREATE TABLE t (a INTEGER)"))
    finally:
        engine.dispose()


def _polars(path: Path) -> None:
    pl.from_pandas(_frame()).write_database("t", f"sqlite:///{path}")


def _sqlite_attach(path: Path) -> None:
    con = sqlite3.connect(":memory:")
    con.execute(f"ATTACH DATABASE '{path}' AS o")
    con.execute("CREATE TABLE o.t (a)")
    con.close()


def _sqlite_vacuum_into(path: Path) -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (a)")
    con.execute(f"VACUUM INTO '{path}'")
    con.close()


def _duckdb(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()


def _duckdb_attach(path: Path) -> None:
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS o")
    con.execute("CREATE TABLE o.t AS SELECT 1 AS a")
    con.close()


WRITES: dict[str, Callable[[Path], Any]] = {
    "sqlite3.connect": _sqlite,
    "sqlite3.connect-uri": _sqlite_uri,
    "pandas.to_sql-url": _sqlalchemy_url,
    "pandas.to_sql-engine": _sqlalchemy_engine,
    "sqlalchemy-statement": _sqlalchemy_statement,
    "polars.write_database": _polars,
    "sqlite-ATTACH": _sqlite_attach,
    "sqlite-VACUUM-INTO": _sqlite_vacuum_into,
    "duckdb.connect": _duckdb,
    "duckdb-ATTACH": _duckdb_attach,
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_database_file_in_governed_storage_is_refused_and_not_created(
    governed: Path, write: str
) -> None:
    target = governed / "governed" / "workspace" / "x.db"
    with pytest.raises(StorageError) as refused:
        WRITES[write](target)
    message = str(refused.value)
    assert f"opens the database file {target} under a governed root" in message
    assert "cannot be sealed" in message
    assert "df.to_parquet(path)" in message  # the governed alternative
    assert message.endswith("Nothing was written.")
    assert not target.exists()


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_database_file_outside_governed_storage_is_written_and_reads_back(
    governed: Path, write: str
) -> None:
    target = governed / "Downloads" / "x.db"
    WRITES[write](target)
    assert target.exists()
    assert not sealed.is_sealed(target)
    if write.startswith("duckdb"):
        with _bypass.bypass():
            con = duckdb.connect(str(target), read_only=True)
            assert con.execute("SELECT * FROM t").fetchall() == [(1,)]
            con.close()
        return
    with _bypass.bypass(), sqlite3.connect(target) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() is not None


def test_the_governed_alternative_seals_the_table_and_reads_it_back(governed: Path) -> None:
    """What the refusal says to do: keep the database elsewhere, write the table there as a
    file (sealed), read it back through Lacuna (pandas, DuckDB)."""
    work = governed / "Downloads" / "work.db"
    _sqlite(work)
    with sqlite3.connect(work) as con:
        table = pd.read_sql("SELECT * FROM t", con)
    target = governed / "governed" / "workspace" / "t.parquet"
    table.to_parquet(target)
    assert sealed.is_sealed(target)
    pd.testing.assert_frame_equal(pd.read_parquet(target), _frame())
    back = duckdb.read_parquet(str(target)).df()
    pd.testing.assert_frame_equal(back, _frame())


def test_a_read_only_connection_to_a_database_file_there_is_not_refused(governed: Path) -> None:
    """Reading writes nothing: a file put there without Lacuna opens read-only."""
    target = governed / "governed" / "workspace" / "old.duckdb"
    old_sqlite = governed / "governed" / "workspace" / "old.db"
    with _bypass.bypass():
        _duckdb(target)
        _sqlite(old_sqlite)
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("SELECT a FROM t").fetchall() == [(1,)]
    con.close()
    lite = sqlite3.connect(f"file:{old_sqlite}?mode=ro", uri=True)
    assert lite.execute("SELECT count(*) FROM t").fetchone() == (3,)
    lite.close()
    with pytest.raises(StorageError):  # and writable, it is refused
        sqlite3.connect(old_sqlite)


def test_in_memory_databases_are_not_files(governed: Path) -> None:
    con = sqlite3.connect(":memory:")
    _frame().to_sql("t", con, index=False)
    assert con.execute("SELECT count(*) FROM t").fetchone() == (3,)
    assert duckdb.connect(":memory:").execute("SELECT 1").fetchall() == [(1,)]


@pytest.mark.parametrize("attach", ["ATTACH DATABASE ? AS o", "ATTACH DATABASE lower(?) AS o"])
def test_an_attach_whose_path_lacuna_cannot_read_is_refused_while_storage_seals(
    governed: Path, attach: str
) -> None:
    """``ATTACH ?`` (or an expression) named no string, so the check above returned: a bound
    path under the governed root wrote an unsealed database file there (public rows
    allowed). Refused now, saying to write the path as a string; a string path outside
    governed storage is attached as before."""
    target = governed / "governed" / "workspace" / "x.db"
    con = sqlite3.connect(":memory:")
    try:
        with pytest.raises(StorageError, match="named by a parameter or an expression"):
            con.execute(attach, (str(target),))
    finally:
        con.close()
    assert not target.exists()
    elsewhere = governed / "elsewhere.db"
    _sqlite_attach(elsewhere)
    assert elsewhere.exists()
    assert not sealed.is_sealed(elsewhere)
