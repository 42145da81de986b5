"""SQLite's Tcl-style ``$name`` parameters: sqlglot reads ``$v`` as a column named ``$v``, so
the value bound to it was no value at all, and ``CREATE TABLE u AS SELECT $v AS b`` with an
e-mail bound to ``v`` went into the database as PUBLIC. Lacuna cannot tell what it binds:
refused (fail closed), saying to bind it as ``:name``; the other styles are read as before."""

from __future__ import annotations

import sqlite3

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.sql.statements import analyse

EMAIL = "kira.k@example.com"


@pytest.mark.parametrize("sql", [
    "CREATE TABLE u AS SELECT $v AS b",
    "INSERT INTO t (a, b) SELECT 1, upper($v) || 'x'",
    "SELECT $v AS x FROM t WHERE a = 1",
    "UPDATE t SET b = $v WHERE a = 1",
])
def test_a_dollar_parameter_on_sqlite_is_unknown(sql):
    stmt = analyse(sql, "sqlite")
    assert stmt.kind == "unknown"
    assert ":name" in (stmt.problem or "")


@pytest.mark.parametrize(("sql", "kind"), [
    ('CREATE TABLE u AS SELECT "$v" AS b FROM t', "write"),  # a quoted name is a column
    ("CREATE TABLE u AS SELECT a$b AS b FROM t", "write"),  # $ inside a name
    ("CREATE TABLE u AS SELECT :v AS b", "write"),
    # a parameter that only picks rows carries no value into the output
    ("SELECT b FROM t WHERE a = $id LIMIT $n", "read"),
    ("CREATE TABLE u AS SELECT t.b FROM t JOIN s ON s.a = $v WHERE t.a > $lo", "write"),
])
def test_other_names_and_styles_are_read_as_before(sql, kind):
    assert analyse(sql, "sqlite").kind == kind


def test_a_dollar_parameter_is_refused_and_a_named_one_decided(make_db, governed_engine):
    url = make_db("sqlite", tables=())
    engine = governed_engine(url)
    with pytest.raises(GovernanceViolation, match=r"\$name parameter"), engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE u AS SELECT $v AS b", {"v": EMAIL})
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE u AS SELECT :v AS b", {"v": EMAIL})
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE u AS SELECT :v AS b", {"v": "north"})
    with engine.connect() as conn:
        governed = conn.exec_driver_sql("SELECT b FROM u").fetchall()
    with sqlite3.connect(":memory:") as plain:
        plain.execute("CREATE TABLE u AS SELECT :v AS b", {"v": "north"})
        assert governed == plain.execute("SELECT b FROM u").fetchall()
