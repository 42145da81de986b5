"""Two in-memory DuckDB databases (two ``duckdb.connect()``) share one URL,
``duckdb:///:memory:``, but nothing else: what Lacuna noted of one's view must not describe
the other's table (or view) of that name.

Before, a view ``t`` made on connection ``a`` was taken as the statement connection ``b``'s
own table ``t`` was made from (keyed by the URL and the name): ``b``'s columns counted as
accounted for, never scanned at a write, and ``COPY t TO`` wrote the e-mail an ``UPDATE`` put
past the rows its class came from. (Found as an order-dependent failure of
``test_duck11_computed_columns``: a test of another file had made an in-memory view ``pub``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna.errors import GovernanceViolation

duckdb = pytest.importorskip("duckdb")

ROWS = 20_000  # the one e-mail is past the rows the table's class is read from


def _late_email_table(con: Any) -> None:
    """Table ``t`` on ``con``: PUBLIC by its comment and its sampled rows, with one e-mail an
    ``UPDATE`` (classified as PUBLIC: a computed value) put in row 17,777."""
    con.execute(f"CREATE TABLE t AS SELECT 'c' || range AS c, range AS n FROM range({ROWS})")
    con.execute("UPDATE t SET c = 'kira' || n || '@example.org' WHERE n = 17777")


def _other_view(name: str = "t") -> Any:
    """Another in-memory database with a view ``name`` of a public frame."""
    other = duckdb.connect()
    other.from_df(pd.DataFrame({"c": ["red", "green"] * 15})).create_view(name)
    return other


def test_another_connections_view_does_not_stand_for_this_ones_table(governed: Path) -> None:
    from lacuna.integrations.duckdb import computed, relation_state

    other = _other_view()
    con = duckdb.connect()
    _late_email_table(con)
    rel = con.sql("SELECT * FROM t")  # the table's columns: scanned at a write
    assert computed.unsourced(relation_state(rel), list(rel.columns)) == {"c": False,
                                                                          "n": False}
    out = governed / "Downloads" / "t.csv"
    with pytest.raises(GovernanceViolation, match="PII"):
        con.execute(f"COPY t TO '{out}'")
    assert not out.exists()
    with pytest.raises(GovernanceViolation, match="PII"):
        con.sql("SELECT c FROM t").write_csv(str(out))
    assert not out.exists()
    # the view's own connection still reads it as made from its relation (nothing to scan)
    view = other.sql("SELECT * FROM t")
    assert computed.unsourced(relation_state(view), list(view.columns)) == {}
    other.execute(f"COPY t TO '{out}'")
    assert pd.read_csv(out)["c"].tolist() == ["red", "green"] * 15


def test_a_view_dropped_and_replaced_by_a_table_is_no_longer_its_statement(
        governed: Path) -> None:
    """On one connection: ``DROP VIEW t`` then a table ``t``: the table is not the view's
    statement either (its comment names none)."""
    from lacuna.integrations.duckdb import computed, relation_state

    con = _other_view()
    con.execute("DROP VIEW t")
    _late_email_table(con)
    rel = con.sql("SELECT c FROM t")
    assert computed.unsourced(relation_state(rel), list(rel.columns)) == {"c": False}
    out = governed / "Downloads" / "d.csv"
    with pytest.raises(GovernanceViolation, match="PII"):
        con.execute(f"COPY t TO '{out}'")
    assert not out.exists()


def test_a_view_read_on_a_cursor_of_its_database_keeps_its_statement(governed: Path) -> None:
    """The view's comment names its statement: a cursor (another connection to the same
    in-memory database) reads it as made from that statement, as its own connection does
    (rows drawn anew at each run: held once for the write)."""
    from lacuna.integrations.duckdb import computed, relation_state

    con = duckdb.connect()
    con.execute("CREATE VIEW g AS SELECT 'p' || (random() * 1000)::INT || '@example.com' AS e "
                "FROM range(20)")
    out = governed / "Downloads" / "g.csv"
    for reader in (con, con.cursor()):
        rel = reader.sql("SELECT e FROM g")
        assert computed.draws(relation_state(rel).lineage)
        with pytest.raises(GovernanceViolation, match=r"e-mail|email"):
            reader.execute(f"COPY g TO '{out}'")
        assert not out.exists()
    other = duckdb.connect()  # another database's view g: not made from that statement
    other.execute("CREATE VIEW g AS SELECT 'n/a' AS e FROM range(20)")
    assert not computed.draws(relation_state(other.sql("SELECT e FROM g")).lineage)
    # and the first database's view g, made before, is still made from its own
    assert computed.draws(relation_state(con.sql("SELECT e FROM g")).lineage)


def test_a_table_is_not_read_as_another_in_memory_databases_table_of_that_shape(
        governed: Path) -> None:
    """Lacuna's cache of table classes was keyed by URL, name, columns, comment and row count:
    connection ``b``'s table of e-mails (an ``UPDATE`` of computed values left its comment
    PUBLIC) was read as PUBLIC once connection ``a``'s table of colours had been read."""
    from lacuna.integrations.duckdb import relation_state
    from lacuna.model import Tier

    a, b = duckdb.connect(), duckdb.connect()
    for con in (a, b):
        con.execute("CREATE TABLE t AS SELECT 'c' || range AS c, range AS n FROM range(30)")
    b.execute("UPDATE t SET c = 'kira' || n || '@example.org'")
    for _ in range(2):  # each in turn, twice: neither takes the other's class
        assert relation_state(a.sql("SELECT c FROM t")).classification.tier is Tier.PUBLIC
        held = relation_state(b.sql("SELECT c FROM t")).classification
        assert held.tier > Tier.PUBLIC
        assert held.columns["c"].is_personal


def test_a_catalog_table_is_read_before_a_python_variable_of_its_name(governed: Path) -> None:
    """DuckDB reads a catalog table before a Python variable of the same name (a replacement
    scan is only tried for a name the catalog lacks); Lacuna classified the variable: with a
    frame ``t`` of colours in scope, ``COPY (SELECT c FROM t)`` of table ``t``'s e-mails was
    written. Without the table, the frame is what is read (and written)."""
    con = duckdb.connect()
    t = pd.DataFrame({"c": ["red", "green", "blue"]})
    out = governed / "Downloads" / "v.csv"
    con.execute(f"COPY (SELECT c FROM t) TO '{out}'")  # no table t: the frame
    assert pd.read_csv(out)["c"].tolist() == t["c"].tolist()
    out.unlink()
    con.execute("CREATE TABLE t AS SELECT 'kira' || range || '@example.org' AS c FROM range(30)")
    with pytest.raises(GovernanceViolation, match="PII"):
        con.execute(f"COPY (SELECT c FROM t) TO '{out}'")
    assert not out.exists()


@pytest.mark.parametrize("comment", ["COMMENT ON VIEW v IS NULL", "COMMENT ON VIEW v IS 'x'"])
def test_an_in_memory_views_record_cannot_be_replaced(governed: Path, comment: str) -> None:
    """A view's comment is Lacuna's record of what it holds as a table's is (and names the
    statement it was made from): ``COMMENT ON VIEW v IS 'x'`` replaced it, and ``COPY v TO``
    let ``md5(email)`` of every customer (an unkeyed hash: personal) out as PUBLIC."""
    from lacuna import _bypass
    from lacuna.errors import IntegrationError

    con = duckdb.connect()
    con.execute(f"CREATE VIEW v AS SELECT md5(email) AS s FROM '{governed / 'customers.csv'}'")
    with pytest.raises(IntegrationError, match="COMMENT ON COLUMN"):
        con.execute(comment)
    (kept,) = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'v'").fetchone()
    assert kept.startswith("lacuna:")  # nothing ran
    out = governed / "Downloads" / "v.csv"
    with pytest.raises(GovernanceViolation):
        con.execute(f"COPY v TO '{out}'")
    assert not out.exists()
    with _bypass.bypass():  # a view without Lacuna's record: its comment is the user's
        con.execute("CREATE VIEW w AS SELECT 1 AS one")
    con.execute("COMMENT ON VIEW w IS 'scratch'")
    assert con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'w'"
                       ).fetchone() == ("scratch",)


def test_a_table_is_not_read_as_another_table_of_its_name_on_the_same_connection(
        governed: Path) -> None:
    """One connection, two tables ``t`` of one shape: ``memory.t``, and ``m2.t`` after ``USE
    m2`` (an attached in-memory database has the same URL). The cache keyed by URL and name
    gave the one of e-mails the class of the one of colours, read just before."""
    from lacuna.integrations.duckdb import relation_state
    from lacuna.model import Tier

    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS m2")
    for db in ("memory", "m2"):
        con.execute(f"USE {db}")
        con.execute("CREATE TABLE t AS SELECT 'c' || range AS c, range AS n FROM range(30)")
    con.execute("UPDATE t SET c = 'kira' || n || '@example.org'")  # m2.t
    for _ in range(2):
        con.execute("USE memory")
        assert relation_state(con.sql("SELECT c FROM t")).classification.tier is Tier.PUBLIC
        con.execute("USE m2")
        assert relation_state(con.sql("SELECT c FROM t")).classification.columns[
            "c"].is_personal
