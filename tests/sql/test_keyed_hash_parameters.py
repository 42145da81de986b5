"""A hash keyed by a bind parameter masks only when the value bound to it is a key
(``lacuna.anonymize.keys.check_key``) that reaches the hash input by concatenation alone:
``md5(dob || :k)`` with ``k=''`` is ``md5(dob)``, reversed by hashing every date."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

KEY = "kJ8vQ2mZ0xR4tY6uWq"  # 18 bytes, 18 distinct: a key check_key takes


@pytest.fixture
def kids(governed: Path) -> sa.Engine:
    """A DuckDB database with children's dates of birth, loaded before Lacuna governs it."""
    pytest.importorskip("duckdb_engine", reason="pip install duckdb-engine")
    engine = sa.create_engine(f"duckdb:///{governed / 'w.duckdb'}")
    frame = pd.DataFrame({
        "person_id": [f"P{i:03}" for i in range(40)],
        "date_of_birth": [f"201{i % 10}-0{1 + i % 9}-1{i % 10}" for i in range(40)],
    })
    with _bypass.bypass():
        frame.to_sql("kids", engine, index=False)
    yield engine
    engine.dispose()


def _reversed(hashes: pd.Series) -> int:
    start = dt.date(2000, 1, 1)
    table = {hashlib.md5(str(start + dt.timedelta(n)).encode()).hexdigest()
             for n in range(8000)}
    return int(hashes.isin(table).sum())


@pytest.mark.parametrize(("expression", "params"), [
    ("md5(date_of_birth || :k)", {"k": ""}),
    ("md5(date_of_birth || :k)", {"k": None}),
    ("md5(date_of_birth || :k)", {"k": "short"}),
    ("md5(date_of_birth || :k)", {"k": "k" * 32}),  # long, one distinct byte
    ("md5(coalesce(:k, '') || date_of_birth)", {"k": None}),
    ("md5(date_of_birth || left(:k, 0))", {"k": KEY}),
    ("md5(date_of_birth || substr(:k, 1, 0))", {"k": KEY}),
    ("md5(date_of_birth || replace(:k, :k, ''))", {"k": KEY}),
    ("md5(date_of_birth || nullif(:k, :k))", {"k": KEY}),
    ("md5(concat_ws(:k, date_of_birth))", {"k": KEY}),
])
def test_a_hash_keyed_by_no_key_is_not_a_pseudonym(governed, kids, expression, params):
    out = governed / "Downloads" / "h.csv"
    with pytest.raises(GovernanceViolation):
        pd.read_sql(sa.text(f"SELECT person_id, {expression} AS h FROM kids"), kids,
                    params=params).to_csv(out, index=False)
    assert not out.exists()


def test_a_hash_keyed_by_a_key_is_a_pseudonym_written_and_read_back(governed, kids):
    out = governed / "Downloads" / "h.csv"
    frame = pd.read_sql(sa.text("SELECT person_id, md5(date_of_birth || :k) AS h FROM kids"),
                        kids, params={"k": KEY})
    assert not frame.lacuna_classification.columns["h"].is_personal
    frame.to_csv(out, index=False)
    with _bypass.bypass():
        back = pd.read_csv(out)
    assert len(back) == 40
    assert back.h.str.len().eq(32).all()
    assert _reversed(back.h) == 0
    expected = hashlib.md5(("2010-01-10" + KEY).encode()).hexdigest()
    assert back.h[0] == expected  # the database hashed the bound key, as classified


def test_a_driver_level_statement_is_checked_by_position(governed, kids):
    """``pd.read_sql`` of text runs it as written: ``$1`` is the first value given."""
    sql = "SELECT person_id, md5(date_of_birth || $1) AS h FROM kids"
    out = governed / "Downloads" / "h.csv"
    pd.read_sql(sql, kids, params=(KEY,)).to_csv(out, index=False)
    assert out.exists()
    out.unlink()
    with pytest.raises(GovernanceViolation):
        pd.read_sql(sql, kids, params=("",)).to_csv(out, index=False)
    assert not out.exists()


def test_a_copy_is_decided_with_the_values_it_runs_with(governed, kids):
    """The governed execute path (``COPY (…) TO`` a file through the engine): the bound
    value decides, before the statement runs."""
    import lacuna.sql

    lacuna.sql.govern(kids)
    target = governed / "Downloads" / "copy.csv"
    sql = sa.text(f"COPY (SELECT person_id, md5(date_of_birth || :k) AS h FROM kids) "
                  f"TO '{target}' (HEADER)")
    with kids.connect() as con, pytest.raises(GovernanceViolation):
        con.execute(sql, {"k": ""})
    assert not target.exists()
    with kids.connect() as con:
        con.execute(sql, {"k": KEY})
    with _bypass.bypass():
        back = pd.read_csv(target)
    assert len(back) == 40
    assert _reversed(back.h) == 0


def test_without_its_values_a_parameter_keys_nothing():
    """Classified without the values it runs with, a parameter-keyed hash is unkeyed."""
    import lacuna

    schema = {"kids": {"person_id": "identifier", "date_of_birth": "pii:dob"}}
    sql = "SELECT md5(date_of_birth || :k) AS h FROM kids"
    assert lacuna.classify_sql(sql, schema=schema).classification.columns["h"].is_personal
    keyed = lacuna.classify_sql(sql, schema=schema, parameters={"k": KEY})
    assert not keyed.classification.columns["h"].is_personal
    anonymous = "SELECT md5(date_of_birth || ?) AS h FROM kids WHERE person_id = ?"
    mixed = lacuna.classify_sql(anonymous, schema=schema, parameters=[KEY, "P001"])
    assert mixed.classification.columns["h"].is_personal  # which ? is the key: not known


def test_a_python_function_on_duckdb_is_not_taken_for_a_keyed_hash(make_db, governed_engine):
    """DuckDB lists a function a program adds (``create_function``) as internal, like its own,
    so ``hmac_x(email, :k)``, named like a keyed hash, returning the e-mail whole, wrote every
    e-mail into a database that keeps no classification as a pseudonym. Such a function is
    now the users' own (PROPRIETARY, fail closed); DuckDB's ``sha256(email || :k)`` still is
    a keyed hash."""
    engine = governed_engine(make_db("duckdb", tables=("customers",)))
    key = {"k": "9f2c7d41e8b3a6051c4d2e7f8a9b0c1d2e3f4a5b6c7d8e9f"}
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE kept AS SELECT customer_id, sha256(email || :k) AS h FROM customers"),
            key)
    with engine.connect() as conn:
        conn.connection.driver_connection.create_function(
            "hmac_x", lambda value, _key: value, ["VARCHAR", "VARCHAR"], "VARCHAR")
        with pytest.raises(GovernanceViolation, match="calls hmac_x, defined in the database"):
            conn.execute(sa.text(
                "CREATE TABLE z AS SELECT customer_id, hmac_x(email, :k) AS h FROM customers"),
                key)
    with engine.connect() as conn:
        names = {r[0] for r in conn.exec_driver_sql("SELECT table_name FROM duckdb_tables()")}
    assert names == {"customers", "kept"}
