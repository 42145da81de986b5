"""A statement's size is bounded before Lacuna reads it. sqlglot tokenizes and parses in pure
Python, in time proportional to the text: a 250 kB ``OR`` chain took seconds (10 s under load)
to analyse, a 440 kB ``UNION ALL`` chain minutes, before the statement ran. Over
:data:`MAX_LENGTH` characters a statement is unknown (denied saying so, at once); over
:data:`MAX_SET_OPERATIONS` set operations too (column lineage ran out of stack: "Lacuna failed")."""

from __future__ import annotations

import time

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.sql import statements
from lacuna.sql.statements import MAX_LENGTH, MAX_SET_OPERATIONS, analyse


def _or_chain(length: int) -> str:
    """``SELECT a FROM t WHERE a = 0 OR a = 1 …``, just over ``length`` characters."""
    terms = " OR ".join(f"a = {i}" for i in range(length // 12))
    sql = f"SELECT a FROM t WHERE {terms}"
    while len(sql) <= length:
        sql += " OR a = 0"
    return sql


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgres"])
def test_a_statement_over_the_length_is_unknown_at_once(dialect):
    sql = _or_chain(MAX_LENGTH)
    started = time.perf_counter()
    stmt = analyse(sql, dialect)
    assert time.perf_counter() - started < 0.05  # no tokenizing: it took seconds
    assert (stmt.kind, stmt.verb) == ("unknown", "select")
    assert f"over the {MAX_LENGTH:,}" in (stmt.problem or "")
    assert stmt.unparsed == f"it is over {MAX_LENGTH:,} characters long"


def _union(branches: int) -> str:
    return "CREATE TABLE u AS " + " UNION ALL ".join(
        f"SELECT {i} AS a" for i in range(branches + 1))


def test_too_many_set_operations_are_unknown_and_fewer_are_read():
    stmt = analyse(_union(MAX_SET_OPERATIONS + 1), "duckdb")
    assert (stmt.kind, stmt.unparsed) == (
        "unknown", f"it holds over {MAX_SET_OPERATIONS} set operations")
    assert analyse(_union(MAX_SET_OPERATIONS), "duckdb").kind == "write"


def test_the_limits_deny_saying_so_and_a_statement_under_them_runs(
        make_db, governed_engine, monkeypatch):
    monkeypatch.setattr(statements, "MAX_LENGTH", 2_000)
    monkeypatch.setattr(statements, "MAX_SET_OPERATIONS", 5)
    engine = governed_engine(make_db("sqlite", tables=()))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INT)")
        conn.exec_driver_sql(_union(5).replace("CREATE TABLE u AS", "INSERT INTO t"))
        under = _or_chain(1_980)
        assert 1_980 < len(under) <= 2_000
        assert conn.exec_driver_sql(under).fetchall() == [(i,) for i in range(6)]
    with pytest.raises(GovernanceViolation, match="over 2,000 characters"), engine.begin() as c:
        c.exec_driver_sql(_or_chain(2_000))
    with pytest.raises(GovernanceViolation, match="over 5 set operations"), engine.begin() as c:
        c.exec_driver_sql(_union(6))


def test_a_statement_is_tokenized_once(monkeypatch):
    """Half of the time went to tokenizing: once for the parser, again for the names it calls
    (``called_by_name``). The parser's tokens serve both now."""

    def again(text: str, dialect: str) -> None:
        raise AssertionError(text)

    monkeypatch.setattr(statements, "_tokens", again)
    stmt = analyse("CREATE TABLE u AS SELECT md5(a) AS h, ?1 AS b FROM t -- once", "sqlite")
    assert (stmt.kind, stmt.placeholders) == ("write", True)
    assert "md5" in stmt.functions
