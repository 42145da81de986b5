"""DuckDB's ``executemany(sql, rows)`` with ``rows`` an iterator (a generator), which DuckDB
runs as it runs a list: Lacuna took ``len()`` of it and failed, so the statement was denied as
"Lacuna failed while governing" even for public rows. The rows are read once now, decided and
run as the same list: public rows go in as plain DuckDB writes them, e-mails are decided."""

from __future__ import annotations

import duckdb
import pytest

from lacuna.errors import GovernanceViolation

INSERT = "INSERT INTO t VALUES (?, ?)"


def _plain(rows: list[tuple[int, str]]) -> list[tuple]:
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        con.executemany(INSERT, rows)
        return con.execute("SELECT * FROM t ORDER BY a").fetchall()
    finally:
        con.close()


def test_an_iterator_of_rows_is_decided_and_run_once(enable_on, sandbox):
    path = sandbox / "w.duckdb"
    enable_on(f"duckdb:///{path}")
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    rows = [(i, region) for i, region in enumerate(["north", "south", "west"])]
    con.executemany(INSERT, (row for row in rows))
    assert con.execute("SELECT * FROM t ORDER BY a").fetchall() == _plain(rows)
    with pytest.raises(GovernanceViolation, match="PII"):
        con.executemany(INSERT, ((9, f"user{i}@example.com") for i in range(3)))
    assert con.execute("SELECT * FROM t ORDER BY a").fetchall() == _plain(rows)
    con.close()
