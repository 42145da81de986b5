"""SQLite reads a double-quoted name that no column has as a string (``INSERT INTO t VALUES
(1, "kira@example.com")`` writes the e-mail); sqlglot reads it as a column, so the value was
no value at all and went in as PUBLIC where the same e-mail in single quotes is PII. Such a
statement is unknown now (fail closed), saying to write the string in single quotes."""

from __future__ import annotations

import sqlite3

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.sql.statements import analyse

EMAIL = "kira.k@example.com"


@pytest.mark.parametrize("sql", [
    f'INSERT INTO t (a, b) VALUES (1, "{EMAIL}")',
    f'CREATE TABLE u AS SELECT "{EMAIL}" AS b',
    'INSERT INTO t (a, b) SELECT 1, "4111 1111 1111 1111"',
    f'UPDATE t SET b = lower("{EMAIL}")',
])
def test_a_double_quoted_value_on_sqlite_is_unknown(sql):
    stmt = analyse(sql, "sqlite")
    assert stmt.kind == "unknown"
    assert "single quotes" in (stmt.problem or "")
    assert EMAIL not in (stmt.problem or "")  # the value stays out of the message


@pytest.mark.parametrize(("sql", "kind"), [
    ('SELECT "email", "Customer Name" FROM customers', "read"),  # quoted columns
    ('INSERT INTO t VALUES (1, "north")', "write"),  # a word: a constant in code, as 'north'
    (f'SELECT c."{EMAIL}" FROM c', "read"),  # qualified: a column, whatever its name
])
def test_quoted_names_that_hold_no_data_are_read_as_before(sql, kind):
    assert analyse(sql, "sqlite").kind == kind


def test_double_quoted_e_mail_is_refused_and_a_quoted_column_copied(make_db, governed_engine):
    engine = governed_engine(make_db("sqlite", tables=()))
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE t (a INTEGER, "b" TEXT)')
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'north')")
    with pytest.raises(GovernanceViolation, match="single quotes"), engine.begin() as conn:
        conn.exec_driver_sql(f'INSERT INTO t VALUES (2, "{EMAIL}")')
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE u AS SELECT "a", "b" FROM t')
    with engine.connect() as conn:
        governed = conn.exec_driver_sql("SELECT * FROM u").fetchall()
    with sqlite3.connect(":memory:") as plain:
        plain.execute('CREATE TABLE t (a INTEGER, "b" TEXT)')
        plain.execute("INSERT INTO t VALUES (1, 'north')")
        plain.execute('CREATE TABLE u AS SELECT "a", "b" FROM t')
        assert governed == plain.execute("SELECT * FROM u").fetchall()
