"""``INSERT INTO t SELECT … FROM s … ON CONFLICT (a) DO UPDATE SET b = ?`` was refused as
unknown whatever the values, since Lacuna could not tell the ``SET``'s parameter from the
query's: it is the ``INSERT … SELECT`` it is, its columns classified from the ``SELECT`` and
``b`` from the values bound to the ``SET`` (a named or numbered parameter by its own value, an
anonymous ``?`` by every positional value)."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import ColumnKind
from lacuna.sql.statements import analyse
from lacuna.sql.tables import table_ref

EMAIL = "kira.k@example.com"
SETUP = (
    "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)",
    "CREATE TABLE s (a INTEGER, b TEXT, c TEXT)",
    "INSERT INTO t VALUES (1, 'north', 'x')",
    "INSERT INTO s VALUES (1, 'south', 'y'), (2, 'west', 'z')",
)
# SQLite needs WHERE true to read ON CONFLICT after a SELECT's FROM (not a join's ON)
UPSERT = ("INSERT INTO t SELECT a, b, c FROM s WHERE a > ? "
          "ON CONFLICT (a) DO UPDATE SET b = ?")
NAMED = ("INSERT INTO t SELECT a, b, c FROM s WHERE a > :lo "
         "ON CONFLICT (a) DO UPDATE SET b = :v")


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgres"])
@pytest.mark.parametrize("sql", [
    UPSERT, NAMED,
    "INSERT INTO t (a, b) SELECT a, b FROM s WHERE a > $1 ON CONFLICT (a) DO UPDATE SET b = $2",
])
def test_an_upsert_of_a_query_with_a_bound_set_is_a_write(dialect, sql):
    if dialect == "sqlite" and "$1" in sql:
        pytest.skip("SQLite has no $1 parameters")
    stmt = analyse(sql, dialect)
    assert (stmt.kind, stmt.verb, stmt.target, stmt.reads) == ("write", "insert", "t", ("s",))
    assert stmt.upsert is not None
    assert stmt.placeholders or dialect == "postgres"  # $2 is a Parameter there


def _plain(sql: str, parameters: tuple[object, ...] | dict[str, object]) -> list[tuple]:
    """What SQLite itself does with the same statements, ungoverned."""
    with sqlite3.connect(":memory:") as conn:
        for setup in SETUP:
            conn.execute(setup)
        conn.execute(sql, parameters)
        return conn.execute("SELECT a, b, c FROM t ORDER BY a").fetchall()


def _rows(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT a, b, c FROM t ORDER BY a")]


def _engine(make_db, governed_engine, kind: str, *, aware: bool = False) -> tuple[sa.Engine, str]:
    url = make_db(kind, tables=())
    engine = governed_engine(url, aware=aware)
    with engine.begin() as conn:
        for setup in SETUP:
            conn.exec_driver_sql(setup)
    return engine, url


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_public_values_are_upserted_as_plain_sql_does(make_db, governed_engine, kind):
    engine, _ = _engine(make_db, governed_engine, kind)
    before = _rows(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(UPSERT, (0, "east"))
    assert _rows(engine) == _plain(UPSERT, (0, "east")) != before
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        conn.exec_driver_sql(UPSERT, (0, EMAIL))  # the e-mail goes into b: refused
    assert _rows(engine) == _plain(UPSERT, (0, "east"))  # nothing ran


def test_named_parameters_are_decided_by_the_set_s_own_value(make_db, governed_engine):
    engine, _ = _engine(make_db, governed_engine, "sqlite")
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        conn.execute(sa.text(NAMED), {"lo": 0, "v": EMAIL})
    with engine.begin() as conn:
        conn.execute(sa.text(NAMED), {"lo": 0, "v": "east"})
    assert _rows(engine) == _plain(NAMED, {"lo": 0, "v": "east"})


def test_the_query_s_columns_still_count(make_db, governed_engine):
    """A public ``SET`` value does not make the query's e-mails public."""
    engine, _ = _engine(make_db, governed_engine, "sqlite")
    with _bypass.bypass(), engine.begin() as conn:  # data that was there before Lacuna
        conn.exec_driver_sql("CREATE TABLE people (a INTEGER, b TEXT, c TEXT)")
        conn.exec_driver_sql(f"INSERT INTO people VALUES (5, '{EMAIL}', 'q')")
    sql = UPSERT.replace("FROM s", "FROM people")
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        conn.exec_driver_sql(sql, (0, "east"))


def test_a_sensitive_set_value_is_decided_by_its_class(make_db, governed_engine):
    """Into a database that keeps classifications the e-mail may go: ``b`` is stored as the
    PII it holds, and reads back so."""
    engine, url = _engine(make_db, governed_engine, "sqlite", aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(UPSERT, (0, EMAIL))
    assert _rows(engine) == _plain(UPSERT, (0, EMAIL))
    stored = lacuna.governor.current().lineage_store.latest(table_ref(url, "t"))
    assert stored is not None
    assert stored.classification.columns["b"].classification is ColumnKind.PII
    with engine.connect() as conn:
        read = lacuna.sql.classification(conn.exec_driver_sql("SELECT b FROM t"))
    assert read is not None
    assert read.columns["b"].classification is ColumnKind.PII


def test_postgres_upsert_of_a_query(pg, governed_engine):
    """psycopg binds ``%(name)s``: SQLAlchemy's ``text()`` parameters on PostgreSQL."""
    engine = governed_engine(pg)
    with engine.begin() as conn:
        for setup in SETUP:
            conn.exec_driver_sql(setup)
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        conn.execute(sa.text(NAMED), {"lo": 0, "v": EMAIL})
    with engine.begin() as conn:
        conn.execute(sa.text(NAMED), {"lo": 0, "v": "east"})
    assert _rows(engine) == _plain(NAMED, {"lo": 0, "v": "east"})
