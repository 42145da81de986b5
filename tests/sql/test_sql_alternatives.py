"""A denied SQL statement suggests SQL for the same database, and what it prints runs there."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import sqlglot

import lacuna
from lacuna.errors import GovernanceViolation

STATEMENTS = {
    "create": "CREATE TABLE contacts AS SELECT customer_id, name, email AS contact, region "
              "FROM customers",
    "insert": "INSERT INTO contacts (customer_id, contact, region) "
              "SELECT c.customer_id, c.email, c.region FROM customers c",
}


def _denied(engine: sa.Engine, sql: str) -> GovernanceViolation:
    with pytest.raises(GovernanceViolation) as err, engine.begin() as conn:
        conn.exec_driver_sql(sql)
    return err.value


@pytest.mark.parametrize("verb", sorted(STATEMENTS))
def test_every_sql_alternative_printed_runs_as_printed_and_is_allowed(
        db_url, governed_engine, verb):
    engine = governed_engine(db_url)
    if verb == "insert":
        with engine.begin() as conn:  # an empty table to insert into (DDL is not decided)
            conn.exec_driver_sql(
                "CREATE TABLE contacts (customer_id TEXT, contact TEXT, region TEXT)")
    denial = _denied(engine, STATEMENTS[verb])
    alternatives = {a.kind: a for a in denial.decision.alternatives}
    anon = alternatives["anonymize"]
    assert anon.code is not None
    assert "lacuna" not in anon.code  # SQL, not pandas
    assert "df" not in anon.code.split()
    dialect = {"sqlite": "sqlite", "duckdb": "duckdb"}.get(engine.dialect.name, "postgres")
    sqlglot.parse_one(anon.code, dialect=dialect)  # one statement in the engine's dialect
    assert "contact" in anon.title  # the renamed e-mail column is what must be redacted
    assert "region" not in anon.title  # and nothing that is not needed
    assert str(denial).count(anon.code) == 1  # the message shows it as printed
    with engine.begin() as conn:  # executed literally through the same governed engine
        conn.exec_driver_sql(anon.code)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT contact, region FROM contacts").fetchall()
    assert len(rows) == 60
    assert all(contact is None for contact, _ in rows)
    assert {region for _, region in rows} >= {"AMER", "EMEA"}
    # nothing pandas-shaped survives in a SQL denial
    assert "governed_location" not in alternatives
    exception = alternatives.get("exception")
    if exception is not None:
        assert exception.code is not None
        assert "data=df" not in exception.code
        request = {}
        exec(exception.code, request)  # runnable as printed: files the request


def test_a_statement_no_redaction_can_fix_offers_no_sql_anonymize(sqlite_url, governed_engine):
    engine = governed_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id TEXT, note TEXT)")
        conn.exec_driver_sql("INSERT INTO notes SELECT customer_id, region FROM customers")
    denial = _denied(engine, "UPDATE notes SET note = "
                             "(SELECT email FROM customers c WHERE c.customer_id = notes.id)")
    assert all(a.kind != "anonymize" for a in denial.decision.alternatives)
    assert all("lacuna.anonymize" not in (a.code or "") for a in denial.decision.alternatives)


def test_pandas_denials_still_suggest_pandas(sqlite_url, governed_engine, sandbox):
    import pandas as pd

    governed_engine(sqlite_url)
    gov = lacuna.governor.current()
    with lacuna.governed(gov.config):
        frame = pd.read_csv(sandbox / "customers.csv")
        with pytest.raises(GovernanceViolation) as err:
            frame.to_csv(sandbox / "Downloads" / "customers.csv")
    codes = [a.code or "" for a in err.value.decision.alternatives]
    assert any("lacuna.anonymize(frame" in c for c in codes)
