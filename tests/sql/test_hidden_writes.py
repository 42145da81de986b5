"""Writes that reached the database undecided (an analyst copying customers' e-mails into a
table nobody classified): SQLAlchemy constructs given to ``pd.read_sql``, a ``WITH`` that
writes, and the triggers a write, a ``TRUNCATE`` or a DDL statement runs."""

from __future__ import annotations

import contextlib
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from lacuna.errors import GovernanceViolation
from lacuna.model import ColumnKind, Tier
from lacuna.sql.statements import analyse


def _mails(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {table} WHERE c LIKE '%%@%%'"
            if engine.dialect.name == "postgresql" else
            f"SELECT COUNT(*) FROM {table} WHERE c LIKE '%@%'").scalar() or 0)


@pytest.mark.parametrize("how", ["connection", "engine", "url"])
def test_pd_read_sql_decides_a_sqlalchemy_construct_as_the_sql_it_compiles_to(
        how, sandbox, sqlite_url, sandbox_config):
    """``pd.read_sql(insert(t).from_select(…).returning(…), con)`` (and a ``text()`` object,
    ``update().returning()``) ran under pandas' read, decided only on the ids it handed back:
    60 e-mails went into ``t``. A construct is now compiled with the connection's dialect and
    decided as that SQL, as text is; a ``select()`` is the read it was (with column lineage
    now), and a write of public data runs and hands back its rows."""
    plain = sa.create_engine(sqlite_url)
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT)")
    meta = sa.MetaData()
    customers = sa.Table("customers", meta, autoload_with=plain)
    t = sa.Table("t", meta, autoload_with=plain)
    mails = sa.insert(t).from_select(["c"], sa.select(customers.c.email)).returning(t.c.id)
    writes = {
        "insert().from_select().returning()": mails,
        "text()": sa.text("INSERT INTO t (c) SELECT email FROM customers RETURNING id"),
        "update().returning()": sa.update(t).values(
            c=sa.select(customers.c.email).limit(1).scalar_subquery()).returning(t.c.id),
    }
    with contextlib.ExitStack() as stack:
        con: object = {"connection": lambda: stack.enter_context(plain.connect()),
                       "engine": lambda: plain, "url": lambda: sqlite_url}[how]()
        with lacuna.governed(sandbox_config()):
            for what, construct in writes.items():
                with pytest.raises(GovernanceViolation, match="Export to sqlite"):
                    pd.read_sql(construct, con)
                if how == "connection":
                    con.commit()  # type: ignore[attr-defined]
                assert _mails(plain, "t") == 0, what
            with pytest.raises(GovernanceViolation):
                pd.read_sql_query(mails, con)
            frame = pd.read_sql(sa.select(customers.c.customer_id, customers.c.email), con)
            assert len(frame) == 60
            assert frame.lacuna_classification.columns["email"].classification \
                is ColumnKind.PII
            regions = sa.insert(t).from_select(
                ["c"], sa.select(customers.c.region).where(
                    customers.c.customer_id.in_(["C0001", "C0002"]))).returning(t.c.c)
            back = pd.read_sql(regions, con)
            if how == "connection":
                con.commit()  # type: ignore[attr-defined]
            assert len(back) == 2
            assert back.lacuna_classification.tier is Tier.PUBLIC
    assert _mails(plain, "t") == 0
    plain.dispose()


def test_a_governed_engine_decides_constructs_it_executes(sqlite_url, governed_engine):
    engine = governed_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (c TEXT)")
    meta = sa.MetaData()
    customers = sa.Table("customers", meta, autoload_with=engine)
    t = sa.Table("t", meta, autoload_with=engine)
    with pytest.raises(GovernanceViolation), engine.begin() as conn:
        conn.execute(sa.insert(t).from_select(["c"], sa.select(customers.c.email)))
    with engine.begin() as conn:
        conn.execute(sa.insert(t).from_select(["c"], sa.select(customers.c.region)))
    assert _mails(engine, "t") == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() == 60


@pytest.mark.parametrize("sql", [
    "WITH x AS (INSERT INTO t SELECT email FROM customers RETURNING c) SELECT count(*) FROM x",
    "WITH x AS (UPDATE t SET c = 'a' RETURNING c) SELECT * FROM x",
    "WITH x AS (DELETE FROM customers RETURNING email) INSERT INTO t SELECT email FROM x",
    "SELECT * FROM (WITH x AS (INSERT INTO t SELECT email FROM customers RETURNING c) "
    "SELECT c FROM x) AS y",
])
def test_a_statement_holding_another_write_is_not_read_as_its_outer_statement(sql):
    stmt = analyse(sql, "postgres")
    assert stmt.kind == "unknown"
    assert "inside (a WITH or a subquery that writes)" in (stmt.problem or "")


@pytest.mark.parametrize("sql", [
    "WITH x AS (SELECT email FROM customers) INSERT INTO t SELECT email FROM x",
    "MERGE INTO t USING customers s ON t.c = s.email WHEN MATCHED THEN UPDATE SET c = s.region "
    "WHEN NOT MATCHED THEN INSERT (c) VALUES (s.region)",
    "INSERT INTO t SELECT region FROM customers ON CONFLICT (c) DO UPDATE SET c = 'x'",
])
def test_writes_without_a_nested_write_are_sorted_as_before(sql):
    assert analyse(sql, "postgres").kind == "write"


def test_postgresql_a_with_that_writes_is_denied_through_pandas_and_the_engine(
        make_db, governed_engine, sandbox_config):
    """``WITH x AS (INSERT INTO t SELECT email … RETURNING c) SELECT count(*) FROM x`` was a
    read of ``customers`` (allowed): the INSERT ran undecided. So was a ``select()`` of an
    ``insert().cte()`` given to ``pd.read_sql``."""
    url = make_db("postgresql", tables=("customers",))
    engine = governed_engine(url, aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (c TEXT)")
    meta = sa.MetaData()
    customers = sa.Table("customers", meta, autoload_with=engine)
    t = sa.Table("t", meta, autoload_with=engine)
    with pytest.raises(GovernanceViolation, match="INSERT INTO t inside"), \
            engine.begin() as conn:
        conn.exec_driver_sql("WITH x AS (INSERT INTO t SELECT email FROM customers "
                             "RETURNING c) SELECT count(*) FROM x")
    cte = sa.insert(t).from_select(["c"], sa.select(customers.c.email)).returning(t.c.c).cte()
    with lacuna.governed(lacuna.governor.current().config), engine.connect() as conn:
        with pytest.raises(GovernanceViolation, match="INSERT INTO t inside"):
            pd.read_sql(sa.select(sa.func.count()).select_from(cte), conn)
        conn.rollback()
        frame = pd.read_sql(sa.select(customers.c.region), conn)
        assert len(frame) == 60
    assert _mails(engine, "t") == 0
    with engine.begin() as conn:  # the write on its own is decided (and allowed: public)
        conn.exec_driver_sql("INSERT INTO t SELECT region FROM customers")
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 60


def test_postgresql_triggers_a_write_reaches_and_event_triggers_are_decided(
        make_db, governed_engine, refused):
    """A PL/pgSQL trigger ran undecided when fired by ``TRUNCATE`` (a ``BEFORE TRUNCATE``
    trigger: TRUNCATE was a pass), by a ``DELETE`` cascading through a foreign key to a table
    with a ``DELETE`` trigger, by an ``INSERT`` routed to a partition with its own trigger,
    and an event trigger ran on every ``CREATE TABLE``. Each now fails closed, naming what
    runs (a table whose quoted name has capitals too); the same statements on tables without
    such triggers run."""
    url = make_db("postgresql", tables=("customers",))
    plain = sa.create_engine(url)
    with plain.begin() as conn:
        for sql in (
            "CREATE TABLE contacts (c TEXT)",
            "CREATE FUNCTION copy_mails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; RETURN NULL; END $$",
            "CREATE TABLE members (id TEXT)",
            "CREATE TRIGGER on_truncate BEFORE TRUNCATE ON members FOR EACH STATEMENT "
            "EXECUTE FUNCTION copy_mails()",
            "CREATE TABLE parents (id TEXT PRIMARY KEY)",
            "INSERT INTO parents VALUES ('p')",
            "CREATE TABLE kids (pid TEXT REFERENCES parents (id) ON DELETE CASCADE)",
            "INSERT INTO kids VALUES ('p')",
            "CREATE TRIGGER on_delete AFTER DELETE ON kids FOR EACH ROW "
            "EXECUTE FUNCTION copy_mails()",
            "CREATE TABLE routed (r TEXT) PARTITION BY LIST (r)",
            "CREATE TABLE routed_a PARTITION OF routed FOR VALUES IN ('a')",
            "CREATE TRIGGER on_routed AFTER INSERT ON routed_a FOR EACH ROW "
            "EXECUTE FUNCTION copy_mails()",
            'CREATE TABLE "Quoted" (id TEXT)',
            'CREATE TRIGGER on_quoted AFTER INSERT ON "Quoted" FOR EACH STATEMENT '
            "EXECUTE FUNCTION copy_mails()",
            "CREATE TABLE plain (id TEXT)",
            "CREATE TABLE plain_parents (id TEXT PRIMARY KEY)",
            "CREATE TABLE plain_kids (pid TEXT REFERENCES plain_parents (id) ON DELETE CASCADE)",
            "CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; END $$",
            "CREATE EVENT TRIGGER ddl_mails ON ddl_command_end EXECUTE FUNCTION on_ddl()",
        ):
            conn.exec_driver_sql(sql)
    engine = governed_engine(url, aware=True)
    denied = {
        "TRUNCATE members": "trigger on_truncate (it runs copy_mails",
        "TRUNCATE plain, members": "trigger on_truncate",
        "DELETE FROM parents": "trigger on_delete on kids (it runs copy_mails",
        "INSERT INTO routed VALUES ('a')": "trigger on_routed on routed_a",
        # Lacuna keeps the name unquoted; PostgreSQL would fold Quoted to quoted
        """INSERT INTO public."Quoted" VALUES ('x')""": "trigger on_quoted",
        "CREATE TABLE harmless (n INT)": "event trigger ddl_mails (it runs on_ddl",
        "ALTER TABLE plain RENAME COLUMN id TO key": "event trigger ddl_mails",
    }
    refused(engine, denied)
    assert _mails(plain, "contacts") == 0
    with plain.begin() as conn:  # an administrator disables the event trigger
        conn.exec_driver_sql("ALTER EVENT TRIGGER ddl_mails DISABLE")
    with engine.begin() as conn:  # the same statements without opaque triggers run
        conn.exec_driver_sql("INSERT INTO plain VALUES ('x')")
        conn.exec_driver_sql("TRUNCATE plain")
        conn.exec_driver_sql("INSERT INTO plain_parents VALUES ('p')")
        conn.exec_driver_sql("INSERT INTO plain_kids VALUES ('p')")
        conn.exec_driver_sql("DELETE FROM plain_parents")
        conn.exec_driver_sql("CREATE TABLE harmless (n INT)")
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM plain_kids").scalar() == 0
    assert _mails(plain, "contacts") == 0
    plain.dispose()


def test_sqlite_triggers_made_outside_lacuna_fail_closed(sandbox, sqlite_url, governed_engine,
                                                       refused):
    """A trigger made on the file outside Lacuna (``CREATE TRIGGER … AFTER INSERT ON members
    BEGIN INSERT INTO contacts SELECT email FROM customers; END``) ran its body undecided on
    every governed write to ``members``: 3,660 e-mails for two statements. A write to a table
    with triggers (or whose foreign keys cascade to one) is now denied in enforce mode."""
    with contextlib.closing(sqlite3.connect(sandbox / "warehouse.db")) as raw, raw:
        raw.executescript(
            "CREATE TABLE contacts (c TEXT); CREATE TABLE members (id TEXT PRIMARY KEY);"
            "CREATE TABLE kids (pid TEXT REFERENCES members (id) ON DELETE CASCADE);"
            "CREATE TABLE plain (c TEXT);"
            "CREATE TRIGGER mails AFTER DELETE ON kids BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; END;"
            "CREATE TRIGGER more AFTER INSERT ON members BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; END;")
    engine = governed_engine(sqlite_url)
    refused(engine, {"INSERT INTO members VALUES ('x')": "trigger more (its body runs SQL",
                     "INSERT INTO members SELECT region FROM customers": "trigger more",
                     "DELETE FROM members": "trigger mails on kids"})
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO plain SELECT region FROM customers")
        conn.exec_driver_sql("DELETE FROM plain WHERE c = 'none'")
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM plain").scalar() == 60
    assert _mails(engine, "contacts") == 0


def test_a_generated_column_takes_the_class_of_the_columns_it_is_computed_from(
        db_url, governed_engine):
    """``g TEXT GENERATED ALWAYS AS (replace(email, '@', ' at '))`` (added outside Lacuna)
    holds every e-mail in a form the value classifier does not recognise: ``SELECT g FROM
    customers`` was PUBLIC, free to leave. A generated column now takes the class of the
    columns its expression reads; one computed from public columns stays public."""
    plain = sa.create_engine(db_url)
    with plain.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE contacts (e TEXT, r TEXT, "
            "g TEXT GENERATED ALWAYS AS (replace(e, '@', ' at ')), "
            "u TEXT GENERATED ALWAYS AS (upper(r)))"
            if plain.dialect.name != "postgresql" else
            "CREATE TABLE contacts (e TEXT, r TEXT, "
            "g TEXT GENERATED ALWAYS AS (replace(e, '@', ' at ')) STORED, "
            "u TEXT GENERATED ALWAYS AS (upper(r)) STORED)")
        conn.exec_driver_sql("INSERT INTO contacts (e, r) SELECT email, region FROM customers")
    plain.dispose()
    engine = governed_engine(db_url)
    with engine.connect() as conn:
        result = conn.exec_driver_sql("SELECT g, u FROM contacts ORDER BY g")
        rows = result.fetchall()
    assert len(rows) == 60
    assert " at " in rows[0][0]
    c = lacuna.sql.classification(result)
    assert c is not None
    assert c.columns["g"].classification is ColumnKind.PII
    assert c.columns["u"].classification is ColumnKind.PUBLIC
    with engine.connect() as conn:
        result = conn.exec_driver_sql("SELECT u FROM contacts")
        assert len(result.fetchall()) == 60
    assert lacuna.sql.classification(result).tier is Tier.PUBLIC  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_to_sql_into_a_table_whose_trigger_runs_code_fails_closed(
        kind, make_db, sandbox_config):
    """``df.to_sql("members", con, if_exists="append")`` of one public row was decided on that
    row alone; the trigger on ``members`` (made outside Lacuna) then copied every e-mail into
    ``contacts``. to_sql now fails closed on a table with such a trigger, as the SQL hook does;
    to a table without one it writes as before."""
    url = make_db(kind, tables=("customers",))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contacts (c TEXT)")
        conn.exec_driver_sql("CREATE TABLE members (id TEXT)")
        if kind == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER mails AFTER INSERT ON members BEGIN "
                                 "INSERT INTO contacts SELECT email FROM customers; END")
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION copy_mails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO contacts SELECT email FROM customers; RETURN NULL; END $$")
            conn.exec_driver_sql("CREATE TRIGGER mails AFTER INSERT ON members "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION copy_mails()")
    row = pd.DataFrame({"id": ["x"]})
    with lacuna.governed(sandbox_config()):
        for con in (engine, url):
            with pytest.raises(GovernanceViolation, match="trigger mails"):
                row.to_sql("members", con, if_exists="append", index=False)
        row.to_sql("plain", engine, index=False)
    assert _mails(engine, "contacts") == 0
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM members").scalar() == 0
        assert conn.exec_driver_sql("SELECT id FROM plain").scalar() == "x"
    engine.dispose()


@pytest.mark.parametrize("how", ["sqlite3", "engine"])
def test_delete_returning_through_pd_read_sql_fires_no_undecided_trigger(
        sandbox, sqlite_url, sandbox_config, how):
    """``pd.read_sql("DELETE … RETURNING id", con)`` was taken for a plain read (rows come
    back, none go in), so the table's ``AFTER DELETE`` trigger copied the deleted e-mails into
    another table undecided, where a plain ``DELETE`` of the same table was refused. It is now
    decided as the SQL it is: refused, naming the trigger, and nothing is deleted; without a
    trigger it runs, and what it hands back is classified by its lineage."""
    with contextlib.closing(sqlite3.connect(sandbox / "warehouse.db")) as raw, raw:
        raw.executescript(
            "CREATE TABLE contacts (c TEXT);"
            "CREATE TABLE leavers AS SELECT customer_id, email FROM customers;"
            "CREATE TABLE quiet AS SELECT customer_id, email FROM customers;"
            "CREATE TRIGGER copied AFTER DELETE ON leavers BEGIN "
            "INSERT INTO contacts VALUES (old.email); END;")
    engine = sa.create_engine(sqlite_url)
    with contextlib.closing(sqlite3.connect(sandbox / "warehouse.db")) as raw, \
            lacuna.governed(sandbox_config()):
        con = raw if how == "sqlite3" else engine
        with pytest.raises(GovernanceViolation) as err:
            pd.read_sql("DELETE FROM leavers RETURNING customer_id", con)
        assert "trigger copied" in str(err.value)
        frame = pd.read_sql("DELETE FROM quiet WHERE rowid <= 10 RETURNING email", con)
        raw.commit()
        assert len(frame) == 10
        assert frame.lacuna.classification.columns["email"].classification is ColumnKind.PII
    assert _mails(engine, "contacts") == 0
    with engine.connect() as conn:  # the refused DELETE ran nothing
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM leavers").scalar() == 60
    engine.dispose()


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "sqlite"])
@pytest.mark.parametrize("sql", [
    "BEGIN; COPY customers TO '/tmp/out.csv'; COMMIT",
    "SET search_path = public; INSERT INTO t SELECT email FROM customers",
    "PREPARE p AS COPY customers TO '/tmp/out.csv'; EXECUTE p",
    "DROP TABLE IF EXISTS t; CREATE TABLE t AS SELECT email FROM customers",
    "CHECKPOINT; SELECT email FROM customers",
    "SELECT 1; SELECT 2",
])
def test_a_statement_after_one_that_moves_no_data_is_not_passed_with_it(sql, dialect):
    """A first word that says no data flows (``BEGIN``, ``SET``, ``PREPARE``, ``DROP``) passed
    the whole string: ``BEGIN; COPY customers TO 'x.csv'`` ran undecided through DuckDB."""
    stmt = analyse(sql, dialect)
    assert stmt.kind == "unknown"
    assert "statements; send them one by one" in (stmt.problem or "")


@pytest.mark.parametrize("sql", ["BEGIN; COMMIT", "SET a = 1; SET b = 2;", "BEGIN;",
                                 "SET a = 1; -- ; x", "/* ; */ BEGIN"])
def test_statements_that_each_move_no_data_still_pass(sql):
    assert analyse(sql, "duckdb").kind == "pass"
