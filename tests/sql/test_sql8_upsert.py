"""SQLite's ``REPLACE INTO`` and the upserts (``INSERT OR REPLACE``, ``INSERT … ON CONFLICT
DO UPDATE``): sqlglot reads ``REPLACE INTO`` as an opaque command, so it was denied even for
public values; and what ``DO UPDATE SET`` writes (``SET b = (SELECT email FROM customers)``)
was never classified, so an e-mail went in as the inserted values were, PUBLIC."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.model import ColumnKind
from lacuna.sql.statements import analyse
from lacuna.sql.tables import table_ref


@pytest.mark.parametrize(("sql", "target", "reads"), [
    ("REPLACE INTO t VALUES (1, 'north')", "t", ()),
    ("replace into t(a, b) values (?, ?)", "t", ()),
    ("/* upsert */ REPLACE INTO t (a, b) SELECT a, b FROM u", "t", ("u",)),
    ("WITH x AS (SELECT a, b FROM u) REPLACE INTO t SELECT * FROM x", "t", ("u",)),
    ("INSERT OR REPLACE INTO t VALUES (1, 'north')", "t", ()),
])
def test_sqlite_replace_into_is_the_insert_it_is(sql, target, reads):
    stmt = analyse(sql, "sqlite")
    assert (stmt.kind, stmt.verb, stmt.target, stmt.reads) == ("write", "insert", target, reads)


@pytest.mark.parametrize("sql", [
    "REPLACE INTO t VALUES (1, 'x'); COPY t TO 'x.csv'",
    "REPLACE INTO t VALUES (1, 'x'); DROP TABLE t",
])
def test_a_replace_with_more_statements_is_still_unknown(sql):
    assert analyse(sql, "sqlite").kind == "unknown"


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgres"])
def test_do_update_set_is_read_for_what_it_writes(dialect):
    stmt = analyse("INSERT INTO t AS o (a, b, c) VALUES (1, 'x', 'y') ON CONFLICT (a) DO UPDATE "
                   "SET b = (SELECT email FROM customers LIMIT 1), c = excluded.b || o.c",
                   dialect)
    assert stmt.kind == "write"
    assert stmt.reads == ("customers",)
    assert stmt.moved == (("c", "b"),)
    assert stmt.upsert is not None
    assert set(analyse(stmt.upsert, dialect).reads) == {"customers", "t"}
    nothing = analyse("INSERT INTO t VALUES (1, 'x') ON CONFLICT DO NOTHING", dialect)
    assert nothing.upsert is None
    bound = analyse("INSERT INTO t VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ?", dialect)
    assert (bound.kind, bound.moved) == ("write", (("b", "?"),))  # any parameter's class
    selected = analyse("INSERT INTO t SELECT a, b FROM u ON CONFLICT (a) DO UPDATE SET b = ?",
                       dialect)
    assert (selected.kind, selected.moved) == ("write", ())  # its query binds it (sql9)


def _rows(engine):
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT a, b, c FROM t ORDER BY a").fetchall()


def test_upserts_are_decided_on_what_they_write(make_db, governed_engine):
    engine = governed_engine(make_db("sqlite"))  # DuckDB's are read alike (above)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'north', 'x')")
    allowed = [
        "REPLACE INTO t VALUES (2, 'south', 'q')",
        "INSERT OR REPLACE INTO t VALUES (2, 'south', 'y')",
        "INSERT INTO t VALUES (1, 'east', 'z') ON CONFLICT (a) DO UPDATE SET b = excluded.b",
        "INSERT INTO t VALUES (3, 'west', 'w') ON CONFLICT (a) DO NOTHING",
    ]
    with engine.begin() as conn:
        for sql in allowed:
            conn.exec_driver_sql(sql)
    expected = [(1, "east", "x"), (2, "south", "y"), (3, "west", "w")]
    assert _rows(engine) == expected  # as SQLite wrote them
    denied = [
        "REPLACE INTO t VALUES (2, 'kira.k@example.com', 'y')",
        "INSERT INTO t VALUES (1, 'east', 'z') ON CONFLICT (a) DO UPDATE "
        "SET b = (SELECT email FROM customers ORDER BY customer_id LIMIT 1)",
        "INSERT INTO t SELECT 1, 'east', 'z' ON CONFLICT (a) DO UPDATE "
        "SET c = (SELECT max(phone) FROM customers)",
    ]
    for sql in denied:
        with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    assert _rows(engine) == expected  # nothing ran


def test_a_column_set_from_another_inserted_column_takes_its_class(make_db, governed_engine):
    url = make_db("sqlite")
    engine = governed_engine(url, aware=True)  # the database keeps classifications
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'north', 'x')")
        conn.exec_driver_sql(
            "INSERT INTO t VALUES (1, 'east', 'kira.k@example.com') "
            "ON CONFLICT (a) DO UPDATE SET b = excluded.c")
    assert _rows(engine) == [(1, "kira.k@example.com", "x")]
    stored = lacuna.governor.current().lineage_store.latest(table_ref(url, "t"))
    assert stored is not None
    assert stored.classification.columns["b"].classification is ColumnKind.PII
    with engine.connect() as conn:  # read back: b is the e-mail it holds
        read = lacuna.sql.classification(conn.exec_driver_sql("SELECT b FROM t"))
    assert read is not None
    assert read.columns["b"].classification is ColumnKind.PII


def test_sqlalchemy_on_conflict_do_update_is_decided_on_its_bound_values(
        make_db, governed_engine):
    """``insert(t).on_conflict_do_update(set_={"b": value})`` binds ``value`` as a parameter
    of ``DO UPDATE SET``: classified with the rows' parameters, the column takes the strictest
    class of them all (an e-mail there is PII, a region is not)."""
    from sqlalchemy.dialects.sqlite import insert

    engine = governed_engine(make_db("sqlite"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'north', 'x')")
    table = sa.Table("t", sa.MetaData(), autoload_with=engine)

    def upsert(value: str) -> None:
        stmt = insert(table).values(a=1, b="south", c="x")
        with engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["a"], set_={"b": value}))

    upsert("east")
    assert _rows(engine) == [(1, "east", "x")]
    with pytest.raises(GovernanceViolation, match="PII"):
        upsert("kira.k@example.com")
    assert _rows(engine) == [(1, "east", "x")]
