"""An in-memory DuckDB table keeps what it holds only in its comment (``lacuna: {…}``): the
lineage store keeps no record for memory. ``COMMENT ON TABLE t IS NULL`` wiped it, and ``COPY
t TO`` then let ``md5(name)`` of every customer (an unkeyed hash: personal data) out as PUBLIC."""

from __future__ import annotations

import csv

import duckdb
import pytest

from lacuna.errors import GovernanceViolation, IntegrationError


@pytest.mark.parametrize(
    "comment",
    [
        "COMMENT ON TABLE t IS NULL",
        "COMMENT ON TABLE t IS ''",
        'COMMENT ON TABLE main.t IS \'lacuna: {"tier": "PUBLIC", "columns": {}}\'',
        "/* a note */ COMMENT ON TABLE T IS 'customers, hashed'",
    ],
)
def test_an_in_memory_tables_record_cannot_be_replaced(comment, governed):
    out = governed / "Downloads" / "m.csv"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM read_csv('{governed / 'customers.csv'}')")
    con.execute("CREATE TABLE t AS SELECT customer_id, md5(name) AS s FROM c")
    with pytest.raises(IntegrationError, match="COMMENT ON COLUMN"):
        con.execute(comment)
    (kept,) = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 't'").fetchone()
    assert kept.startswith("lacuna:")  # nothing ran
    with pytest.raises(GovernanceViolation):
        con.execute(f"COPY t TO '{out}'")
    assert not out.exists()


@pytest.mark.parametrize("name", ['"is"', '"IS"', 'main."Is"'])
def test_a_table_quoted_like_the_keyword_keeps_its_record(name, governed):
    """The target was cut at the first token whose text is IS: a table quoted "is" cut the
    statement before its name, nothing parsed, and the record was wiped."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM read_csv('{governed / 'customers.csv'}')")
    con.execute(f"CREATE TABLE {name} AS SELECT customer_id, md5(name) AS s FROM c")
    with pytest.raises(IntegrationError, match="COMMENT ON COLUMN"):
        con.execute(f"COMMENT ON TABLE {name} IS NULL")
    (kept,) = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE lower(table_name) = 'is'"
    ).fetchone()
    assert kept.startswith("lacuna:")


def test_comments_that_keep_the_record_run_and_public_tables_still_leave(governed):
    out = governed / "Downloads" / "r.csv"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM read_csv('{governed / 'customers.csv'}')")
    con.execute("CREATE TABLE t AS SELECT customer_id, md5(name) AS s FROM c")
    con.execute("COMMENT ON COLUMN t.s IS 'hashed names'")  # a column's comment: runs
    con.execute("CREATE TABLE notes (n VARCHAR)")  # no record of Lacuna's on it
    con.execute("COMMENT ON TABLE notes IS 'scratch'")
    assert con.execute(
        "SELECT comment FROM duckdb_tables() WHERE table_name = 'notes'"
    ).fetchone() == ("scratch",)
    con.execute("CREATE TABLE r AS SELECT DISTINCT region FROM c ORDER BY region")
    con.execute(f"COPY r TO '{out}' (HEADER)")
    with (governed / "customers.csv").open(newline="") as f:
        regions = sorted({row["region"] for row in csv.DictReader(f)})
    with out.open(newline="") as f:
        assert [row[0] for row in list(csv.reader(f))[1:]] == regions
