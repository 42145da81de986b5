"""A DuckDB write Lacuna refuses leaves a sequence where it was; an allowed one advances it as
plain DuckDB does.

Before, Lacuna ran the statement's query to learn its column names (``con.sql(q).columns``:
this DuckDB runs a query that calls ``nextval`` at the call) and sampled a view whose query
calls ``nextval`` like a table: a refused ``COPY (SELECT nextval('s') …) TO`` left the sequence
moved by a run, a refused ``COPY v TO`` by two, an allowed one wrote other numbers than plain
DuckDB (the write was the second run), and a plain ``SELECT * FROM v`` advanced it twice. Each
script is run governed and plain (governance off) on fresh in-memory databases, and compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lacuna
from lacuna.errors import GovernanceViolation, IntegrationError

duckdb = pytest.importorskip("duckdb")

SETUP = ["CREATE SEQUENCE s",
         "CREATE TABLE people AS SELECT 'code-' || range AS c FROM range(5)",
         "COMMENT ON COLUMN people.c IS 'pii'",  # codes only their record says are PII
         "CREATE TABLE things AS SELECT 'item-' || range AS c FROM range(5)"]


def _next(con: Any) -> int:
    with lacuna._bypass.bypass():
        return int(con.execute("SELECT nextval('s')").fetchone()[0])


def _run(statements: list[str], out: Path) -> tuple[int, list[tuple[Any, ...]], bytes | None]:
    """Each statement run on a new in-memory database: the sequence's next value, the rows of
    the last statement (a query), and the file written, if any."""
    out.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        for sql in SETUP:
            con.execute(sql)
        rows: list[tuple[Any, ...]] = []
        for sql in statements:
            rows = con.execute(sql.format(out=out)).fetchall() if sql.startswith(
                "SELECT") else (con.execute(sql.format(out=out)) and [])
        return _next(con), rows, out.read_bytes() if out.exists() else None
    finally:
        con.close()


def _plain(statements: list[str], out: Path) -> tuple[int, list[tuple[Any, ...]], bytes | None]:
    with lacuna._bypass.bypass():
        return _run(statements, out)


@pytest.mark.parametrize("statements", [
    ["COPY (SELECT nextval('s') AS id, 'p' || range || '@example.com' AS e FROM range(5)) "
     "TO '{out}'"],
    ["CREATE VIEW v AS SELECT nextval('s') AS id, 'p' || range || '@example.com' AS e "
     "FROM range(5)", "COPY v TO '{out}'"],
    ["CREATE VIEW v AS SELECT nextval('s') AS id, c FROM people", "COPY v TO '{out}'"],
    ["CREATE TABLE t (id BIGINT, c VARCHAR)",
     "INSERT INTO t BY NAME SELECT nextval('s') AS id, 'p' || c || '@example.com' AS c "
     "FROM things"],
], ids=["copy", "copy-view-computed", "copy-view-of-pii", "insert-by-name"])
def test_a_refused_write_leaves_the_sequence_where_it_was(governed: Path,
                                                         statements: list[str]) -> None:
    out = governed / "Downloads" / "t.csv"
    *before, last = statements
    _run(before, out)  # the setup is allowed
    con = duckdb.connect()
    try:
        for sql in (*SETUP, *before):
            con.execute(sql)
        with pytest.raises((GovernanceViolation, IntegrationError)):
            con.execute(last.format(out=out))
        assert _next(con) == 1  # never advanced: nothing ran
        assert not out.exists()
        if "INSERT" in last:
            assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    finally:
        con.close()


@pytest.mark.parametrize("statements", [
    # an allowed write: a sequence's numbers need no sample
    ["COPY (SELECT nextval('s') AS id, range AS n FROM range(5)) TO '{out}'"],
    ["CREATE VIEW v AS SELECT nextval('s') AS id, c FROM things", "SELECT * FROM v",
     "SELECT id, c FROM v ORDER BY id"],
    ["CREATE VIEW v AS SELECT nextval('s') AS id, c FROM people",
     "SELECT c, id FROM v ORDER BY id"],
    ["SELECT nextval('s') AS id, c FROM things ORDER BY id"],
    ["CREATE VIEW v AS SELECT nextval('s') AS id, c FROM things",
     "CREATE VIEW w AS SELECT id, c FROM v", "SELECT * FROM w ORDER BY id"],
], ids=["copy", "view-read-twice", "view-of-pii-read", "query", "view-of-a-view"])
def test_an_allowed_statement_advances_the_sequence_as_plain_duckdb(
        governed: Path, statements: list[str]) -> None:
    out = governed / "Downloads" / "t.csv"
    plain = _plain(statements, out)
    assert _run(statements, out) == plain
    assert plain[0] > 1  # the statements did call nextval


def test_a_copy_of_pii_with_a_sequence_to_a_governed_file_runs_the_query_once(
        governed: Path) -> None:
    """An allowed write (PII into governed storage): the query ran once, as in plain DuckDB
    (before, the look at its column names ran it first: the sequence ended 5 further)."""
    out = governed / "governed" / "workspace" / "t.parquet"
    statements = ["COPY (SELECT nextval('s') AS id, c FROM people) TO '{out}'"]
    plain = _plain(statements, governed / "plain.parquet")
    found = _run(statements, out)
    assert found[0] == plain[0] == 6
    assert out.exists()
