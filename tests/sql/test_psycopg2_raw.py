"""psycopg2 used directly under ``lacuna.enable()``: ``copy_expert``/``copy_to`` of a PII table
into ~/Downloads, ``CREATE TABLE … AS SELECT email …`` and ``execute_values`` ran undecided.
``psycopg2.connect`` now opens a governed connection whose cursors decide each statement as a
governed SQLAlchemy engine's are (lacuna.integrations.psycopg2), on the session's live
PostgreSQL."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from audit_rows import methods as _methods
from fixtures_postgres import libpq_dsn as _dsn
from lacuna.errors import GovernanceViolation, IntegrationError, StorageError
from lacuna.model import ColumnKind, Tier

psycopg2 = pytest.importorskip("psycopg2", reason="pip install 'psycopg2-binary>=2.9'")
pytest.importorskip("psycopg2.extras")  # psycopg2.extras.execute_values, …
pytest.importorskip("psycopg2.sql")

PLAIN_CONNECT = psycopg2.connect


def _exists(con: object, table: str) -> bool:
    with con.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(cur.fetchone()[0])


def test_exports_of_pii_to_a_local_file_are_refused_with_nothing_written(enabled, pg, sandbox):
    enabled()
    con = psycopg2.connect(_dsn(pg))
    out = sandbox / "Downloads" / "mails.csv"
    with open(out, "w") as fh:
        for export in (
            lambda cur: cur.copy_expert("COPY customers TO STDOUT WITH CSV HEADER", fh),
            lambda cur: cur.copy_expert("COPY (SELECT email FROM customers) TO STDOUT", fh),
            lambda cur: cur.copy_to(fh, "customers", columns=("customer_id", "email")),
        ):
            with pytest.raises(GovernanceViolation) as err:
                export(con.cursor())
            assert err.value.decision.operation.destination.uri == str(out)
            con.rollback()
    assert out.read_text() == ""
    con.close()
    assert _methods(sandbox) == [("sql.postgres.copy", False)] * 3


def test_a_copy_into_an_open_file_under_sealed_governed_storage_is_refused(governed, pg):
    """Its rows would land there in plaintext (Lacuna cannot seal the caller's file)."""
    out = governed / "governed" / "workspace" / "sales.csv"
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur, open(out, "w") as fh:
        with pytest.raises(StorageError, match="governed root"):
            cur.copy_expert("COPY sales TO STDOUT", fh)
        with pytest.raises(StorageError, match="governed root"):
            cur.copy_to(fh, "sales")
    assert out.read_text() == ""


def test_an_allowed_export_to_a_file_and_a_copy_into_memory_round_trip(enabled, pg, sandbox):
    enabled()
    out = sandbox / "Downloads" / "by_category.csv"
    counts = (
        "COPY (SELECT product_category, COUNT(*) AS n FROM sales GROUP BY "
        "product_category HAVING COUNT(*) >= 5 ORDER BY 1) TO STDOUT WITH CSV"
    )
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:
        with open(out, "w") as fh:  # a k-anonymous count of non-personal data may leave
            cur.copy_expert(counts, fh)
        cur.execute("SELECT product_category, COUNT(*) FROM sales GROUP BY 1 ORDER BY 1")
        expected = "".join(f"{c},{n}\n" for c, n in cur.fetchall())
        buffer = io.StringIO()  # the client reads the rows: a read, not an export
        cur.copy_expert(
            "COPY (SELECT customer_id, email FROM customers ORDER BY 1) TO STDOUT", buffer
        )
    assert out.read_text() == expected
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 60
    assert lines[0] == "C0001\tkira.kowalski1@example.com"
    assert (
        _methods(sandbox)
        == [("sql.postgres.copy", True)] * 2
        + [  # decided, then done
            ("sql.postgres.select", True)
        ]
        + [("sql.postgres.copy", True)] * 2
    )


def test_pii_copied_into_a_table_is_decided_like_psycopg_3(enabled, pg, sandbox):
    enabled()
    con = psycopg2.connect(_dsn(pg))
    cur = con.cursor()
    composed = psycopg2.sql.SQL("CREATE TABLE {} AS SELECT email FROM customers")
    for sql in (
        composed.format(psycopg2.sql.Identifier("kept")),
        "CREATE TABLE kept AS SELECT email FROM customers",
        "CREATE TABLE notes (who TEXT); INSERT INTO notes SELECT email FROM customers",
    ):
        with pytest.raises(GovernanceViolation):
            cur.execute(sql)
        con.rollback()
    cur.execute("CREATE TABLE notes (who TEXT)")
    with pytest.raises(GovernanceViolation):
        cur.execute("INSERT INTO notes SELECT email FROM customers")
    con.rollback()
    assert not _exists(con, "kept")
    assert not _exists(con, "notes")
    con.close()
    assert [allowed for _, allowed in _methods(sandbox)] == [False] * 4


def test_allowed_writes_round_trip_with_their_classification(enabled, pg, sandbox):
    enabled(aware=True)
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE kept AS SELECT customer_id, email FROM customers")
        cur.execute(
            "INSERT INTO kept SELECT customer_id, email FROM customers WHERE customer_id = %s",
            ("C0001",),
        )
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT email) FROM kept")
        assert cur.fetchone() == (61, 60)
        cur.execute("CREATE TABLE notes (who TEXT, n INT)")  # data Lacuna does not read:
        cur.copy_from(io.StringIO("ann@example.org\t1\n"), "notes")  # PROPRIETARY, kept
        cur.execute("SELECT * FROM notes")
        assert cur.fetchall() == [("ann@example.org", 1)]
    engine = sa.create_engine(pg)
    try:
        stored = lacuna.sql.table_classification(engine, "kept")
        notes = lacuna.sql.table_classification(engine, "notes")
    finally:
        engine.dispose()
    assert stored is not None
    assert stored.columns["email"].classification is ColumnKind.PII
    assert notes is not None
    assert notes.tier is Tier.PROPRIETARY
    methods = [m for m, _ in _methods(sandbox)]
    assert methods.count("sql.postgres.create") == 2  # decided, then done
    assert methods.count("sql.postgres.insert") == 2
    assert methods.count("sql.postgres.copy_from") == 2


def test_execute_values_and_execute_batch_are_decided(enabled, pg, sandbox):
    """``execute_values`` sends ``INSERT … VALUES (…), (…)`` as bytes; ``execute_batch`` sends
    a page of ``INSERT``s joined by ``;``: each page decided with the values it sends."""
    people = [(f"user{i}@example.org",) for i in range(5)]
    enabled()
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE notes (who TEXT)")
        con.commit()
        with pytest.raises(GovernanceViolation, match="notes"):
            psycopg2.extras.execute_values(cur, "INSERT INTO notes (who) VALUES %s", people)
        con.rollback()
        with pytest.raises(GovernanceViolation, match="notes") as err:
            psycopg2.extras.execute_batch(cur, "INSERT INTO notes (who) VALUES (%s)", people)
        assert "statements" not in str(err.value)  # decided as executemany, not refused unread
        con.rollback()
        cur.execute("SELECT COUNT(*) FROM notes")
        assert cur.fetchone() == (0,)
    lacuna.disable()
    enabled(aware=True)
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:
        psycopg2.extras.execute_values(
            cur, "INSERT INTO notes (who) VALUES %s", people, page_size=3
        )
        psycopg2.extras.execute_batch(cur, "INSERT INTO notes (who) VALUES (%s)", people)
        cur.execute("SELECT who FROM notes ORDER BY who")
        assert cur.fetchall() == sorted(people * 2)
    methods = [m for m, _ in _methods(sandbox)]
    assert methods.count("sql.postgres.insert") == 2 + 2 * 3  # 2 pages of values, 1 batch


def test_cursor_factories_and_named_cursors_are_governed(enabled, pg, sandbox):
    enabled()
    kinds = (
        psycopg2.extras.RealDictCursor,
        psycopg2.extras.NamedTupleCursor,
        psycopg2.extras.DictCursor,
    )
    with psycopg2.connect(_dsn(pg), cursor_factory=psycopg2.extras.RealDictCursor) as con:
        for kind in kinds:
            cur = con.cursor(cursor_factory=kind)
            assert isinstance(cur, kind)
            with pytest.raises(GovernanceViolation):
                cur.execute("CREATE TABLE kept AS SELECT email FROM customers")
            con.rollback()
        with con.cursor() as cur:  # the connection's own default: RealDictCursor
            cur.execute(
                "SELECT customer_id, email FROM customers WHERE customer_id = %s", ("C0002",)
            )
            assert cur.fetchall() == [
                {"customer_id": "C0002", "email": "elena.petrov2@example.com"}
            ]
        with con.cursor(name="server_side") as named:  # DECLARE … CURSOR FOR the query
            named.execute("SELECT email FROM customers ORDER BY customer_id")
            assert [r["email"] for r in named.fetchmany(2)] == [
                "kira.kowalski1@example.com",
                "elena.petrov2@example.com",
            ]
        read = lacuna.sql.classification()
        assert read is not None
        assert read.columns["email"].classification is ColumnKind.PII
    dict_con = psycopg2.connect(_dsn(pg), connection_factory=psycopg2.extras.DictConnection)
    cur = dict_con.cursor()  # DictConnection picks DictCursor: governed too
    assert isinstance(cur, psycopg2.extras.DictCursor)
    with pytest.raises(GovernanceViolation):
        cur.execute("CREATE TABLE kept AS SELECT email FROM customers")
    dict_con.close()
    assert [allowed for _, allowed in _methods(sandbox)] == [False] * 3 + [True] * 2 + [False]


def test_reads_of_public_tables_return_exact_rows(enabled, pg, sandbox):
    with psycopg2.connect(_dsn(pg)) as plain, plain.cursor() as cur:
        cur.execute("SELECT * FROM sales ORDER BY order_id")
        expected = cur.fetchall()
    enabled()
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:
        cur.execute("SELECT * FROM sales ORDER BY order_id")
        assert cur.fetchall() == expected
        assert len(expected) == 240
        read = lacuna.sql.classification()
        assert read is not None
        assert read.columns["revenue"].classification is not ColumnKind.PII
        cur.executemany("SELECT revenue FROM sales WHERE order_id = %s", [("O00001",)])
        cur.execute("SELECT %s::int + 1", (41,))
        assert cur.fetchone() == (42,)
    assert _methods(sandbox) == [("sql.postgres.select", True)] * 2


def test_sqlalchemy_on_psycopg2_is_decided_once_and_its_raw_connection_is_governed(
    enabled, pg, sandbox
):
    """The catalog look-ups read a psycopg2 cursor as psycopg 3's (its row factory set to
    psycopg's ``tuple_row``): every governed statement of a ``postgresql+psycopg2`` engine
    that Lacuna looked tables up for failed closed (denied in enforce mode)."""
    enabled()
    engine = sa.create_engine(pg.replace("postgresql+psycopg://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            assert len(conn.exec_driver_sql("SELECT email FROM customers").fetchall()) == 60
        read = lacuna.sql.classification()
        assert read is not None
        assert read.columns["email"].classification is ColumnKind.PII
        assert _methods(sandbox) == [("sql.postgres.select", True)]
        raw = engine.raw_connection()
        try:
            with pytest.raises(GovernanceViolation):
                raw.cursor().execute("CREATE TABLE kept AS SELECT email FROM customers")
            raw.rollback()
        finally:
            raw.close()
    finally:
        engine.dispose()
    assert _methods(sandbox)[1:] == [("sql.postgres.create", False)]


def test_a_function_that_writes_and_a_copy_from_are_decided(enabled, pg, sandbox):
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:  # there before Lacuna
        cur.execute(
            "CREATE FUNCTION leak() RETURNS void LANGUAGE plpgsql AS "
            "$$ BEGIN CREATE TABLE kept AS SELECT email FROM customers; END $$"
        )
        cur.execute("CREATE TABLE notes (who TEXT)")
    enabled()
    with psycopg2.connect(_dsn(pg)) as con, con.cursor() as cur:
        with pytest.raises(GovernanceViolation, match="leak"):
            cur.callproc("leak")
        con.rollback()
        with pytest.raises(GovernanceViolation, match="COPY"):
            cur.copy_from(io.StringIO("ann@example.org\n"), "notes", columns=("who",))
        con.rollback()
        assert not _exists(con, "kept")
        cur.execute("SELECT COUNT(*) FROM notes")
        assert cur.fetchone() == (0,)
    assert [m for m, ok in _methods(sandbox) if not ok] == [
        "sql.postgres.select",
        "sql.postgres.copy_from",
    ]


def test_what_cannot_be_decided_is_refused(enabled, pg):
    enabled()
    with pytest.raises(GovernanceViolation, match="async"):
        psycopg2.connect(_dsn(pg), async_=True)
    with pytest.raises(GovernanceViolation, match="connection_factory"):
        psycopg2.connect(_dsn(pg), connection_factory=lambda dsn: None)
    with psycopg2.connect(_dsn(pg)) as con:
        with pytest.raises(IntegrationError, match="cursor subclass"):
            con.cursor(cursor_factory=lambda *a, **k: None)
        with pytest.raises(GovernanceViolation, match="cannot classify"):
            con.cursor().execute("FROBNICATE THE TABLES")


def test_after_disable_connections_are_plain(enabled, pg, sandbox):
    from lacuna.integrations.psycopg2 import is_governed

    before = psycopg2.connect(_dsn(pg))
    enabled()
    assert psycopg2.connect is not PLAIN_CONNECT
    assert not is_governed(before)  # opened before enable(): psycopg2's own class (documented)
    con = psycopg2.connect(_dsn(pg))
    assert is_governed(con)
    with pytest.raises(GovernanceViolation):
        con.cursor().execute("CREATE TABLE kept AS SELECT email FROM customers")
    con.rollback()
    lacuna.disable()
    assert psycopg2.connect is PLAIN_CONNECT
    with con.cursor() as cur:  # ungoverned again
        cur.execute("CREATE TABLE kept AS SELECT email FROM customers")
        cur.execute("SELECT COUNT(*) FROM kept")
        assert cur.fetchone() == (60,)
    con.close()
    before.close()
    assert _methods(sandbox) == [("sql.postgres.create", False)]


def test_pandas_on_a_raw_psycopg2_connection_is_decided_once(enabled, pg, sandbox):
    """pd.read_sql on a psycopg2 connection (which pandas runs with a warning) failed closed
    for every query (the restrict rules read ``con.url``); it is decided as on a ``sqlite3``
    connection now: one decision, the frame classified, the same whether the connection is a
    governed one or was opened before enable()."""
    import warnings

    import pandas as pd

    plain = PLAIN_CONNECT(_dsn(pg))
    with plain.cursor() as cur:  # there before Lacuna
        cur.execute(
            "CREATE FUNCTION leak() RETURNS int LANGUAGE plpgsql AS "
            "$$ BEGIN CREATE TABLE kept AS SELECT email FROM customers; RETURN 1; END $$"
        )
    plain.commit()
    enabled()
    governed = psycopg2.connect(_dsn(pg))
    records = []
    for con in (plain, governed):
        before = len(_methods(sandbox))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas: only sqlite3 is tested
            frame = pd.read_sql("SELECT customer_id, email FROM customers", con)
            assert len(frame) == 60
            with pytest.raises(GovernanceViolation):
                frame.to_csv(sandbox / "Downloads" / "mails.csv")
            with pytest.raises(GovernanceViolation, match="leak"):
                pd.read_sql("SELECT leak()", con)
        con.rollback()
        stored = lacuna.sql.table_classification(con, "customers")
        assert stored is not None
        assert stored.columns["email"].classification is ColumnKind.PII
        records.append(_methods(sandbox)[before:])
    assert records[0] == records[1]
    assert records[0] == [
        ("pandas.read_sql", True),
        ("pandas.DataFrame.to_csv", False),
        ("sql.postgres.select", False),
    ]
    assert not (sandbox / "Downloads" / "mails.csv").exists()
    plain.close()
    governed.close()
