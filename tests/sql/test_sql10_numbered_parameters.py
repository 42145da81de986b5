"""SQLite's numbered parameters (``?1``, ``:1``, ``@1``): sqlglot's SQLite parser refused
``?1`` and ``:1``, so even a public value bound to them was refused as a statement Lacuna could
not parse. They are read now, and bound: the value bound to ``?2`` is the second. A named
parameter bound by position (``:v`` with a tuple, which ``sqlite3`` accepts) bound no value at
all, so an e-mail went into a table as PUBLIC; it now takes the strictest of the values (fail
closed), and a name that is a number SQLite gives another (``:2`` before ``:1``) is refused."""

from __future__ import annotations

import sqlite3

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.lineage.sql_dialects import sqlite_misnumbered
from lacuna.sql.statements import analyse

EMAIL = "kira.k@example.com"


@pytest.mark.parametrize(("sql", "kind"), [
    ("CREATE TABLE u AS SELECT ?1 AS b", "write"),
    ("INSERT INTO t (a, b) VALUES (?1, ?2)", "write"),
    ("INSERT INTO t (a, b) SELECT ?2, ?1", "write"),
    ("CREATE TABLE u AS SELECT :1 AS a, :2 AS b", "write"),
    ("CREATE TABLE u AS SELECT @1 AS a", "write"),
    ("SELECT b FROM t WHERE a = ?1 AND '?1' <> b -- ?1", "read"),
])
def test_numbered_parameters_parse_on_sqlite(sql, kind):
    stmt = analyse(sql, "sqlite")
    assert (stmt.kind, stmt.unparsed, stmt.placeholders) == (kind, None, True)


@pytest.mark.parametrize(("sql", "wrong"), [
    ("SELECT :2 AS a, :1 AS b", ":2"),  # SQLite numbers :2 first: it binds the 1st value
    ("SELECT ?2 AS a, :1 AS b", ":1"),  # :1 takes 3 after ?2
    ("SELECT :a AS a, @1 AS b", "@1"),
    ("SELECT :1 AS a, :2 AS b, :1 AS c", None),
    ("SELECT ?1 AS a, ?1 AS b, :2 AS c", None),
    ("SELECT a FROM t WHERE a = $v AND b = :2", None),
    ("SELECT ? AS a, ?2 AS b", None),
])
def test_a_name_that_is_another_number_is_found(sql, wrong):
    assert sqlite_misnumbered(sql) == wrong
    stmt = analyse(f"CREATE TABLE u AS {sql}", "sqlite")
    assert (stmt.kind == "unknown") is (wrong is not None)
    if wrong is not None:
        assert "?1, ?2" in (stmt.problem or "")


def test_numbered_and_positional_names_are_decided_on_their_values(make_db, governed_engine):
    engine = governed_engine(make_db("sqlite", tables=()))
    denied = [
        ("CREATE TABLE u AS SELECT ?1 AS b", (EMAIL,)),
        ("CREATE TABLE u AS SELECT ?2 AS b", ("north", EMAIL)),
        ("CREATE TABLE u AS SELECT :1 AS b", {"1": EMAIL}),
        ("CREATE TABLE u AS SELECT :v AS b", (EMAIL,)),  # bound no value: went in PUBLIC
        ("CREATE TABLE u AS SELECT @v AS b", (EMAIL,)),
        ("CREATE TABLE u AS SELECT :2 AS b, :1 AS c", (EMAIL, "north")),
    ]
    for sql, params in denied:
        with pytest.raises(GovernanceViolation), engine.begin() as conn:
            conn.exec_driver_sql(sql, params)
    allowed = [  # the allowed path: public values, as sqlite3 itself writes them
        ("CREATE TABLE u1 AS SELECT ?1 AS b, ?1 AS c", ("north",)),
        ("CREATE TABLE u3 AS SELECT :1 AS b, :2 AS c", ("north", "south")),
        ("CREATE TABLE u4 AS SELECT @v AS b", {"v": "west"}),
    ]
    plain = sqlite3.connect(":memory:")
    for sql, params in allowed:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, params)
        plain.execute(sql, params)
    for table in ("u1", "u3", "u4"):
        with engine.connect() as conn:
            governed = conn.exec_driver_sql(f"SELECT * FROM {table}").fetchall()
        assert governed == plain.execute(f"SELECT * FROM {table}").fetchall()
    plain.close()


def test_an_at_parameter_next_to_a_literal_counts_the_literal(make_db, governed_engine):
    """``VALUES (@a, 'kira@…')``: SQLite's ``@a`` did not count as a parameter, so the row was
    read as the client's values (the bound one) and the e-mail written in the SQL not at all."""
    engine = governed_engine(make_db("sqlite", tables=()))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a TEXT, b TEXT)")
    with pytest.raises(GovernanceViolation), engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO t (a, b) VALUES (@a, '{EMAIL}')", {"a": "north"})
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (a, b) VALUES (@a, 'south')", {"a": "north"})
        assert conn.exec_driver_sql("SELECT a, b FROM t").fetchall() == [("north", "south")]


def test_sqlalchemy_s_numeric_paramstyle_is_governed(make_db, governed_engine):
    """``create_engine(url, paramstyle="numeric")`` sends ``VALUES (:1, :2)``: every statement
    it sent was refused as one Lacuna could not parse."""
    import sqlalchemy as sa

    import lacuna.sql

    url = make_db("sqlite", tables=())
    governed_engine(url)  # configures Lacuna for the sandbox
    engine = lacuna.sql.govern(sa.create_engine(url, paramstyle="numeric"))
    table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.Text), sa.Column("b", sa.Text))
    try:
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"a": "north", "b": "south"}, {"a": "west", "b": "x"}])
            assert conn.execute(sa.select(table.c.b).where(table.c.a == "west")).all() == [
                ("x",)]
        with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
            conn.execute(table.insert(), [{"a": "north", "b": EMAIL}])
    finally:
        lacuna.sql.ungovern(engine)
        engine.dispose()


def test_a_sqlite3_connection_binds_them_too(governed, sandbox):
    con = sqlite3.connect(sandbox / "w.db")
    try:
        con.execute("CREATE TABLE u AS SELECT ?1 AS b, ?1 AS c", ("north",))
        assert con.execute("SELECT * FROM u").fetchall() == [("north", "north")]
        with pytest.raises(GovernanceViolation):
            con.execute("CREATE TABLE v AS SELECT ?2 AS b", ("north", EMAIL))
        with pytest.raises(GovernanceViolation):
            con.execute("CREATE TABLE w AS SELECT :v AS b", (EMAIL,))
    finally:
        con.close()
