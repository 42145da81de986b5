"""``INSERT … VALUES`` with parameters: each value is classified as the column it really fills,
by the driver's binding rules. Before, a mapping was read by the *column's* name (``VALUES (:b,
:a)`` with ``{"a": "north", "b": e-mail}`` put the e-mail in ``a`` and classified ``a`` as
``north``) or in the mapping's order, and a sequence in its own order (``VALUES (?2, ?1)``), so
a column holding e-mails was recorded PUBLIC and read back as PUBLIC."""

from __future__ import annotations

import sqlite3
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
import sqlglot

import lacuna
from lacuna.model import ColumnKind
from lacuna.sql.tables import table_ref

EMAIL = "kira.k@example.com"


def _classes(engine: sa.Engine, url: str) -> dict[str, ColumnKind]:
    stored = lacuna.governor.current().lineage_store.latest(table_ref(url, "t"))
    assert stored is not None
    return {name: c.classification for name, c in stored.classification.columns.items()}


SQLITE_CASES = [
    ("INSERT INTO t (a, b) VALUES (:b, :a)", {"a": "north", "b": EMAIL}),
    ("INSERT INTO t (a, b) VALUES (:y, :x)", {"x": "north", "y": EMAIL}),
    ("INSERT INTO t (a, b) VALUES (?2, ?1)", ("north", EMAIL)),
    ("INSERT INTO t (a, b) VALUES (:1, :2)", {"2": "north", "1": EMAIL}),  # by name "1"
    ("INSERT INTO t (a, b) VALUES (@b, @a)", {"a": "north", "b": EMAIL}),
    ("INSERT INTO t (a, b) VALUES (?, ?)", (EMAIL, "north")),
    ("INSERT INTO t (a, b) VALUES (:v, :w)", (EMAIL, "north")),  # names bound by position
    ("INSERT INTO t (a, b, c) VALUES (:v, :w, :v)", (EMAIL, "north")),  # :v twice: 1st value
    ("INSERT INTO t (b, a) VALUES (?1, ?2)", ("north", EMAIL)),
    ("INSERT INTO t (a, b, c) VALUES (?, ?5, ?)", ("x", "y", "z", "w", "north", EMAIL)),
    ("INSERT INTO t (a, b) VALUES (:a, :b)", {"a": "north", "b": "east"}),  # allowed, PUBLIC
]


@pytest.mark.parametrize(("sql", "params"), SQLITE_CASES)
def test_sqlite_values_land_on_the_column_they_fill(sql, params, make_db, governed_engine):
    url = make_db("sqlite", tables=())
    engine = governed_engine(url, aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a TEXT, b TEXT, c TEXT)")
        conn.exec_driver_sql(sql, params)
        row = conn.exec_driver_sql("SELECT a, b, c FROM t").fetchone()
    with sqlite3.connect(":memory:") as plain:  # what SQLite itself puts where
        plain.execute("CREATE TABLE t (a TEXT, b TEXT, c TEXT)")
        plain.execute(sql, params)
        assert tuple(row) == plain.execute("SELECT a, b, c FROM t").fetchone()
    classes = _classes(engine, url)
    for name, value in zip("abc", row, strict=True):
        if value == EMAIL:
            assert classes[name] is ColumnKind.PII, (name, classes)
        elif value is not None:
            assert classes[name] is not ColumnKind.PII, (name, classes)


def test_many_rows_in_one_statement_and_executemany(make_db, governed_engine):
    """SQLAlchemy's insertmanyvalues: rows of named parameters in one statement, and sets."""
    url = make_db("sqlite", tables=())
    engine = governed_engine(url, aware=True)
    sql = "INSERT INTO t (a, b) VALUES (:b0, :a0), (:b1, :a1)"
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a TEXT, b TEXT, c TEXT)")
        conn.exec_driver_sql(sql, {"a0": "north", "a1": "east", "b0": EMAIL, "b1": EMAIL})
        conn.exec_driver_sql("INSERT INTO t (b, a) VALUES (?2, ?1)",
                             [(EMAIL, "north"), (EMAIL, "east")])
        rows = conn.exec_driver_sql("SELECT a, b FROM t").fetchall()
    assert {a for a, _ in rows} == {EMAIL}
    assert EMAIL not in {b for _, b in rows}
    classes = _classes(engine, url)
    assert classes["a"] is ColumnKind.PII
    assert classes["b"] is not ColumnKind.PII


def _placed(sql: str, dialect: str, params: Any) -> tuple[Any, ...]:
    from lacuna.lineage.sql_dialects import sqlglot_dialect
    from lacuna.sql.binding import value_rows

    tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    rows = value_rows(tree, [params])
    assert rows is not None
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(("sql", "params"), [
    ("INSERT INTO t (a, b, c) VALUES ($b, $a, $b)", {"a": "north", "b": EMAIL}),
    ("INSERT INTO t (a, b, c) VALUES ($3, $1, $2)", ("north", "east", EMAIL)),
    ("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", ("north", "east", EMAIL)),
])
def test_duckdb_binding_is_duckdbs(sql, params):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a TEXT, b TEXT, c TEXT)")
    con.execute(sql, params)
    assert _placed(sql, "duckdb", params) == con.execute("SELECT a, b, c FROM t").fetchone()


@pytest.mark.parametrize(("sql", "params", "placed"), [
    # psycopg's pyformat binds by name, its %s and $n (asyncpg) by position
    ("INSERT INTO t (a, b, c) VALUES (%(b)s, %(a)s, %(b)s)", {"a": "north", "b": EMAIL},
     (EMAIL, "north", EMAIL)),
    ("INSERT INTO t (a, b) VALUES (%s, %s)", (EMAIL, "north"), (EMAIL, "north")),
    ("INSERT INTO t (a, b) VALUES ($2, $1)", ("north", EMAIL), (EMAIL, "north")),
])
def test_postgres_styles(sql, params, placed):
    assert _placed(sql, "postgres", params) == placed


@pytest.mark.parametrize(("sql", "params"), [
    ("INSERT INTO t (a, b) VALUES (?, ?)", {"a": "north", "b": EMAIL}),  # drivers refuse it
    ("WITH x AS (SELECT ? AS v) INSERT INTO t (a, b) VALUES (?, ?)", ("a", "north", EMAIL)),
])
def test_what_cannot_be_told_gives_every_column_every_value(sql, params):
    from lacuna.sql.binding import value_rows

    rows = value_rows(sqlglot.parse_one(sql, read="sqlite"), [params])
    assert rows is not None
    for column in zip(*rows, strict=True):
        assert EMAIL in column
