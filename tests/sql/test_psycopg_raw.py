"""psycopg (3) used directly under ``lacuna.enable()``: ``conn.execute``/``cursor.execute`` of
``CREATE TABLE … AS SELECT email …`` or ``COPY … TO 'file'`` ran undecided. Each statement is
now decided as a governed SQLAlchemy engine's is (lacuna.integrations.psycopg), on the
session's live PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from audit_rows import methods as _methods
from fixtures_postgres import libpq_dsn as _dsn
from lacuna.errors import GovernanceViolation
from lacuna.model import ColumnKind

PLAIN_EXECUTE = psycopg.Cursor.execute



def test_copies_of_pii_out_are_refused_and_disable_restores(enabled, pg, sandbox):
    before = psycopg.connect(_dsn(pg))  # opened before enable(): psycopg's classes are hooked
    enabled()
    assert psycopg.Cursor.execute is not PLAIN_EXECUTE
    con = psycopg.connect(_dsn(pg))
    out = sandbox / "Downloads" / "mails.csv"
    for run in (lambda: con.execute("CREATE TABLE kept AS SELECT email FROM customers"),
                lambda: con.cursor().execute(f"COPY (SELECT email FROM customers) TO '{out}'"),
                lambda: before.execute("INSERT INTO customers SELECT * FROM customers")):
        with pytest.raises(GovernanceViolation):
            run()
        con.rollback()
        before.rollback()
    assert not out.exists()
    assert con.execute("SELECT to_regclass('kept')").fetchone() == (None,)
    lacuna.disable()
    assert psycopg.Cursor.execute is PLAIN_EXECUTE
    con.execute("CREATE TABLE kept AS SELECT email FROM customers")  # ungoverned again
    con.close()
    before.close()
    assert [allowed for _, allowed in _methods(sandbox)] == [False, False, False]


def test_allowed_writes_round_trip_and_parameters_are_classified(enabled, pg, sandbox):
    enabled(aware=True)
    with psycopg.connect(_dsn(pg)) as con:
        rows = con.execute("SELECT email FROM customers WHERE customer_id = %s",
                           ("C0001",)).fetchall()
        assert len(rows) == 1
        read = lacuna.sql.classification()
        assert read is not None
        assert read.columns["email"].classification is ColumnKind.PII
        con.execute("CREATE TABLE kept AS SELECT customer_id, email FROM customers")
        with con.cursor() as cur:
            cur.execute("CREATE TABLE notes (who TEXT)")
            cur.executemany("INSERT INTO notes VALUES (%(who)s)",
                            ({"who": f"user{i}@example.org"} for i in range(3)))
        con.commit()
        assert con.execute("SELECT COUNT(*) FROM notes").fetchone() == (3,)
    engine = sa.create_engine(pg)
    try:
        for table, column in (("kept", "email"), ("notes", "who")):
            stored = lacuna.sql.table_classification(engine, table)
            assert stored is not None, table
            assert stored.columns[column].classification is ColumnKind.PII, table
    finally:
        engine.dispose()
    methods = [m for m, _ in _methods(sandbox)]
    assert methods.count("sql.postgres.create") == 2  # decided, then done
    assert methods.count("sql.postgres.insert") == 2


def test_sqlalchemy_on_psycopg_is_decided_once(enabled, pg, sandbox):
    enabled()
    engine = sa.create_engine(pg)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT email FROM customers").fetchall()
    finally:
        engine.dispose()
    assert _methods(sandbox) == [("sql.postgres.select", True)]


def test_create_table_as_execute_of_a_prepared_statement_is_refused(enabled, pg, sandbox):
    """``PREPARE q AS SELECT email …`` (no data flows: it passes) then ``CREATE TABLE t AS
    EXECUTE q`` copied PII into a table undecided: the CREATE was read as a table without a
    query. Lacuna does not see the prepared query: fail closed."""
    enabled()
    with psycopg.connect(_dsn(pg)) as con:
        con.execute("PREPARE q AS SELECT email FROM customers")
        with pytest.raises(GovernanceViolation, match="AS EXECUTE"):
            con.execute("CREATE TABLE kept AS EXECUTE q")
        con.rollback()
        assert con.execute("SELECT to_regclass('kept')").fetchone() == (None,)
    assert _methods(sandbox) == [("sql.postgres.create", False)]


def test_a_write_to_a_foreign_table_is_refused(enabled, pg, make_db, sandbox):
    """A foreign table an administrator made (``postgres_fdw``) on a classification-aware
    database: ``INSERT INTO remote SELECT email FROM customers`` was allowed as a write into
    that database, while the rows went to another server. Now it fails closed, naming it."""
    other = make_db("postgresql", tables=())
    dsn, far = _dsn(pg), psycopg.conninfo.conninfo_to_dict(_dsn(other))
    with psycopg.connect(_dsn(other), autocommit=True) as remote:
        remote.execute("CREATE TABLE sink (e TEXT)")
    with psycopg.connect(dsn, autocommit=True) as admin:  # before enable(): ungoverned
        for sql in (
            "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
            f"CREATE SERVER far FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host "
            f"'{far['host']}', port '{far['port']}', dbname '{far['dbname']}')",
            f"CREATE USER MAPPING FOR CURRENT_USER SERVER far OPTIONS (user '{far['user']}', "
            f"password '{far.get('password', '')}')",
            "CREATE FOREIGN TABLE remote (e TEXT) SERVER far OPTIONS (table_name 'sink')",
        ):
            admin.execute(sql)
    enabled(aware=True)
    with psycopg.connect(dsn) as con:
        with pytest.raises(GovernanceViolation, match="foreign table remote"):
            con.execute("INSERT INTO remote SELECT email FROM customers")
        con.rollback()
        con.execute("INSERT INTO customers SELECT * FROM customers")  # a table: as before
        con.rollback()
    with psycopg.connect(_dsn(other)) as remote:
        assert remote.execute("SELECT COUNT(*) FROM sink").fetchone() == (0,)
