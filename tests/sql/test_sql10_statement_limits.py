"""Hostile statement sizes. A statement nested deeper than sqlglot's parser recurses
(``SELECT ((((…1…))))``) raised RecursionError out of the hook, in every mode; it is unknown now,
denied saying so. A long statement is analysed each time rather than kept in the statement
cache: 1,024 distinct megabyte statements stayed alive for the process."""

from __future__ import annotations

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.sql.statements import CACHED_LENGTH, analyse

DEEP = "CREATE TABLE u AS SELECT " + "(" * 3000 + "1" + ")" * 3000 + " AS b"


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgres"])
def test_a_statement_nested_too_deep_is_unknown(dialect):
    stmt = analyse(DEEP, dialect)
    assert (stmt.kind, stmt.verb) == ("unknown", "create")
    assert "nests deeper" in (stmt.problem or "")


def test_it_is_denied_saying_so_and_a_shallow_one_runs(make_db, governed_engine):
    engine = governed_engine(make_db("sqlite", tables=()))
    with pytest.raises(GovernanceViolation, match="nests too deeply"), engine.begin() as conn:
        conn.exec_driver_sql(DEEP)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE u AS SELECT " + "(" * 50 + "1" + ")" * 50 + " AS b")
        assert conn.exec_driver_sql("SELECT b FROM u").fetchall() == [(1,)]


def test_only_short_statements_are_cached():
    short = "SELECT a FROM t WHERE a = 1"
    long = f"SELECT a FROM t WHERE a <> '{'x' * CACHED_LENGTH}'"
    assert len(long) > CACHED_LENGTH
    assert analyse(short, "sqlite") is analyse(short, "sqlite")
    first, again = analyse(long, "sqlite"), analyse(long, "sqlite")
    assert first is not again
    assert first == again  # the same answer, analysed twice
