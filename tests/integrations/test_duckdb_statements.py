"""A string of several statements given to DuckDB (``execute``, ``sql``, the module's) is
decided as a whole: one whose first word says no data flows (``BEGIN``, ``SET``,
``PREPARE``) ran the ``COPY`` after it undecided, the customers' e-mails written to
~/Downloads. Several statements that each move no data still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacuna.errors import GovernanceViolation

duckdb = pytest.importorskip("duckdb")


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN; COPY c TO '{out}'; COMMIT",
        "SET threads = 1; COPY (SELECT email FROM c) TO '{out}'",
        "PREPARE p AS COPY c TO '{out}'; EXECUTE p",
        "CHECKPOINT; COPY c TO '{out}' (FORMAT parquet)",
    ],
)
@pytest.mark.parametrize("how", ["connection", "module"])
def test_a_copy_after_a_statement_that_moves_nothing_is_denied(
    downloads: Path, sandbox: Path, sql: str, how: str
) -> None:
    out = downloads / "c.csv"
    con = duckdb.connect() if how == "connection" else duckdb.default_connection()
    con.execute(f"CREATE OR REPLACE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    run = con.execute if how == "connection" else duckdb.execute
    with pytest.raises(GovernanceViolation, match=r"[23] statements") as err:
        run(sql.format(out=out))
    assert err.value.decision.operation.classification.tier.value == "PROPRIETARY"
    assert not out.exists()


def test_statements_that_move_nothing_run_and_a_public_copy_alone_is_written(
    downloads: Path,
) -> None:
    con = duckdb.connect()
    con.execute("BEGIN; CREATE TABLE t (n INTEGER); COMMIT")  # CREATE without data: passes
    con.execute("SET threads = 1; SET threads = 2;")
    con.execute("INSERT INTO t VALUES (1), (2)")
    con.execute(f"COPY t TO '{downloads / 'n.csv'}'")
    assert (downloads / "n.csv").read_text().split() == ["n", "1", "2"]


@pytest.mark.parametrize("create", ["CREATE VIEW", "CREATE OR REPLACE VIEW", "CREATE TEMP VIEW"])
def test_a_sql_view_in_memory_carries_its_class_as_a_table_there_does(
    downloads: Path, sandbox: Path, create: str
) -> None:
    """``CREATE VIEW v AS SELECT …`` of personal data in an in-memory database was refused as
    an export to a database without classification support, where ``CREATE TABLE … AS`` and
    ``rel.create_view`` are derived relations this process holds. Now it runs, recorded as a
    read, and the view carries its query's class as its comment: a hashed e-mail under a new
    name stays personal through the view."""
    from lacuna.integrations.duckdb import classification

    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    con.execute(f"{create} v AS SELECT md5(email) AS h, region FROM c")
    con.execute(f"{create} pv AS SELECT region FROM c")
    assert classification(con.sql("SELECT h AS x FROM v")).tier.value == "PROPRIETARY"
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        con.execute(f"COPY (SELECT h AS x FROM v) TO '{downloads / 'v.csv'}'")
    assert not (downloads / "v.csv").exists()
    con.execute(f"COPY pv TO '{downloads / 'pv.csv'}'")  # public through a view: written
    back = (downloads / "pv.csv").read_text().split()
    assert back[0] == "region"
    assert sorted(set(back[1:])) == ["AMER", "APAC", "EMEA", "LATAM"]
