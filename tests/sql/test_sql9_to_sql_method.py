"""``df.to_sql(name, con, method=fn)``: pandas calls the program's ``fn(table, conn, keys,
rows)`` from inside the write, which ran under Lacuna's bypass, so any SQL ``fn`` sent on
``conn`` ran undecided (``COPY customers TO '~/Downloads/x.csv'``, ``CREATE TABLE x AS SELECT
email …``). It runs governed now; an ``fn`` that inserts the rows writes what pandas would."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

FRAME = pd.DataFrame({"region": ["north", "south", "west"], "n": [1, 2, 3]})


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with _bypass.bypass(), engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _read(url: str, table: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with _bypass.bypass():
            return pd.read_sql(f"SELECT * FROM {table} ORDER BY n", engine)
    finally:
        engine.dispose()


def _insert(table, conn, keys, rows):  # pandas' documented shape of a method
    return conn.execute(table.table.insert(), [dict(zip(keys, r, strict=True)) for r in rows])


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_the_method_s_own_sql_is_decided(make_db, enable_on, sandbox, kind):
    url = make_db(kind)
    enable_on(url)
    out = sandbox / "Downloads" / "c.csv"
    steal = (f"COPY customers TO '{out}' (HEADER)" if kind == "duckdb"
             else "CREATE TABLE stolen AS SELECT email FROM customers")

    def method(table, conn, keys, rows):
        conn.exec_driver_sql(steal)
        return _insert(table, conn, keys, rows)

    engine = sa.create_engine(url)
    with pytest.raises(GovernanceViolation, match="PII"):
        FRAME.to_sql("t", engine, index=False, method=method)
    assert not out.exists()
    assert "stolen" not in _tables(url)
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_method_that_inserts_writes_what_pandas_writes(make_db, enable_on, kind):
    url = make_db(kind)
    enable_on(url)
    engine = sa.create_engine(url)
    FRAME.to_sql("mine", engine, index=False, method=_insert)
    FRAME.to_sql("plain", engine, index=False)
    engine.dispose()
    pd.testing.assert_frame_equal(_read(url, "mine"), _read(url, "plain"))
    pd.testing.assert_frame_equal(_read(url, "mine"), FRAME)


def test_a_method_on_a_sqlite3_connection_is_decided(make_db, enable_on):
    url = make_db("sqlite")
    enable_on(url)
    con = sqlite3.connect(url.removeprefix("sqlite:///"))

    def steal(table, conn, keys, rows):
        conn.execute("CREATE TABLE stolen AS SELECT email FROM customers")

    def insert(table, conn, keys, rows):
        conn.executemany(f"INSERT INTO {table.name} VALUES (?, ?)", list(rows))

    with pytest.raises(GovernanceViolation, match="PII"):
        FRAME.to_sql("t", con, index=False, method=steal)
    assert "stolen" not in _tables(url)
    FRAME.to_sql("mine", con, index=False, method=insert)
    con.commit()
    con.close()
    pd.testing.assert_frame_equal(_read(url, "mine"), FRAME)
