"""The standard library's ``sqlite3`` used directly, under ``lacuna.enable()``: an analyst's
``con.execute("ATTACH 'out.db' AS o")`` then ``CREATE TABLE o.t AS SELECT email FROM
customers``, or ``VACUUM INTO '/tmp/leak.db'``, copied PII out with no decision and no audit
record. ``sqlite3.connect`` now opens a governed connection whose statements are decided as a
governed SQLAlchemy engine's are (lacuna.integrations.sqlite3)."""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from audit_rows import methods as _methods
from lacuna.errors import GovernanceViolation, IntegrationError
from lacuna.governor import GovernanceFailureWarning
from lacuna.integrations import sqlite3 as governed_sqlite3
from lacuna.model import ColumnKind, Tier

PLAIN_CONNECT = sqlite3.connect



def _tables(path: Path) -> list[str]:
    con = PLAIN_CONNECT(path)
    try:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        con.close()


@pytest.fixture
def warehouse(sandbox: Path, sqlite_url: str) -> Path:
    """The sandbox's SQLite file with ``customers`` and ``sales`` (loaded ungoverned)."""
    return sandbox / "warehouse.db"


@pytest.fixture
def enabled(sandbox_config: Callable[..., lacuna.Config], warehouse: Path
            ) -> Iterator[Callable[..., None]]:
    """``enabled(aware=True, mode=…)``: ``lacuna.enable()`` with the sandbox's config (aware:
    the warehouse keeps classifications, so writes into it are allowed)."""

    def enable(*, aware: bool = False, **extra: object) -> None:
        destinations: dict[str, object] = {"unmanaged": [str(warehouse.parent / "Downloads")]}
        if aware:
            destinations["classification_aware_databases"] = [f"sqlite:///{warehouse}"]
        lacuna.enable(sandbox_config(destinations=destinations, **extra))

    yield enable
    lacuna.disable()


def test_connect_opens_a_governed_connection_and_disable_restores_it(enabled, warehouse, sandbox):
    before = sqlite3.connect(warehouse)  # opened before enable(): not governed (documented)
    enabled()
    assert sqlite3.connect is not PLAIN_CONNECT
    con = sqlite3.connect(warehouse)
    assert isinstance(con, sqlite3.Connection)
    assert governed_sqlite3.is_governed(con)
    assert isinstance(con.cursor(), sqlite3.Cursor)
    assert not governed_sqlite3.is_governed(before)
    leak = sandbox / "Downloads" / "before.db"
    before.execute(f"VACUUM INTO '{leak}'")  # the caveat, as documented
    assert leak.exists()
    lacuna.disable()
    assert sqlite3.connect is PLAIN_CONNECT
    after = sandbox / "Downloads" / "after.db"
    con.execute(f"VACUUM INTO '{after}'")  # governed only while governance is on
    assert after.exists()
    assert _methods(sandbox) == []


def test_attach_and_vacuum_into_that_copy_pii_out_are_refused(enabled, warehouse, sandbox):
    enabled()
    con = sqlite3.connect(warehouse)
    out = sandbox / "Downloads" / "out.db"
    con.execute(f"ATTACH '{out}' AS o")  # no data flows: passes
    with pytest.raises(GovernanceViolation, match=r"Export to sqlite:///.*out\.db#o\.t"):
        con.execute("CREATE TABLE o.t AS SELECT email FROM customers")
    assert "t" not in _tables(out)
    leak = sandbox / "Downloads" / "leak.db"
    with pytest.raises(GovernanceViolation, match=r"leak\.db"):
        con.execute(f"VACUUM INTO '{leak}'")
    assert not leak.exists()
    cur = con.cursor()  # a cursor, and the cursor con.execute returns, are governed too
    with pytest.raises(GovernanceViolation):
        cur.execute("INSERT INTO o.t2 SELECT email FROM customers")
    returned = con.execute("SELECT 1")
    with pytest.raises(GovernanceViolation):
        returned.execute(f"VACUUM INTO '{leak}'")
    with pytest.raises(GovernanceViolation):  # backup(): the whole database into another file
        con.backup(PLAIN_CONNECT(sandbox / "Downloads" / "copy.db"))
    assert _tables(sandbox / "Downloads" / "copy.db") == []
    assert [m for m, allowed in _methods(sandbox) if not allowed] == [
        "sql.sqlite.create", "sql.sqlite.vacuum", "sql.sqlite.insert", "sql.sqlite.vacuum",
        "sql.sqlite.vacuum"]


def test_allowed_reads_and_writes_run_and_the_written_table_keeps_its_classification(
        enabled, warehouse, sandbox):
    enabled(aware=True)
    con = sqlite3.connect(warehouse)
    rows = con.execute("SELECT email FROM customers WHERE customer_id IN (?, ?)",
                       ("C0001", "C0002")).fetchall()
    assert len(rows) == 2
    assert "@" in rows[0][0]
    read = lacuna.sql.classification()
    assert read is not None
    assert read.columns["email"].classification is ColumnKind.PII
    con.execute("CREATE TABLE kept AS SELECT customer_id, email FROM customers")
    con.commit()
    count = PLAIN_CONNECT(warehouse).execute("SELECT COUNT(*) FROM customers").fetchone()[0]
    assert con.execute("SELECT COUNT(email) FROM kept").fetchone()[0] == count > 0
    stored = lacuna.sql.table_classification(con, "kept")
    assert stored is not None
    assert stored.tier >= Tier.PROPRIETARY
    assert stored.columns["email"].classification is ColumnKind.PII
    assert _methods(sandbox) == [("sql.sqlite.select", True), ("sql.sqlite.create", True),
                                 ("sql.sqlite.create", True), ("sql.sqlite.select", True)]


def test_parameters_are_classified_as_the_values_written(enabled, warehouse, sandbox):
    """``?`` and ``:name`` values of an INSERT are what it writes: classified, and stored as
    the table's classification; ``executemany`` of a generator runs the sets Lacuna saw."""
    enabled(aware=True)
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE notes (who TEXT, n INTEGER)")
    con.execute("INSERT INTO notes VALUES (?, ?)", ("ada.lovelace@example.com", 1))
    con.execute("INSERT INTO notes (who, n) VALUES (:who, :n)",
                {"who": "alan.turing@example.com", "n": 2})
    con.executemany("INSERT INTO notes VALUES (?, ?)",
                    ((f"user{i}@example.org", i) for i in range(3, 6)))
    con.commit()
    assert [r[0] for r in con.execute("SELECT n FROM notes ORDER BY n")] == [1, 2, 3, 4, 5]
    stored = lacuna.sql.table_classification(con, "notes")
    assert stored is not None
    assert stored.columns["who"].classification is ColumnKind.PII
    con.execute(f"ATTACH '{sandbox / 'Downloads' / 'o.db'}' AS o")
    con.execute("CREATE TABLE o.notes (who TEXT)")
    with pytest.raises(GovernanceViolation):  # the same values into an unmanaged file
        con.execute("INSERT INTO o.notes VALUES (?)", ("grace.hopper@example.com",))
    assert _methods(sandbox) == [("sql.sqlite.insert", True)] * 6 + [  # decided, then done
        ("sql.sqlite.select", True), ("sql.sqlite.insert", False)]


def test_executescript_decides_each_statement_in_order(enabled, warehouse, sandbox):
    enabled(aware=True)
    con = sqlite3.connect(warehouse)
    # a later statement reads a table an earlier one made: decided on what it holds
    con.executescript("CREATE TABLE a AS SELECT email FROM customers;\n"
                      "-- a comment; with a semicolon\n"
                      "CREATE TABLE b AS SELECT email AS contact FROM a;")
    stored = lacuna.sql.table_classification(con, "b")
    assert stored is not None
    assert stored.columns["contact"].classification is ColumnKind.PII
    leak = sandbox / "Downloads" / "script.db"
    with pytest.raises(GovernanceViolation) as err:
        con.executescript(f"CREATE TABLE c AS SELECT 'x;y' AS v; VACUUM INTO '{leak}'; "
                          "CREATE TABLE d (v TEXT);")
    assert "statement 2 of 3" in str(err.value.__notes__)
    assert "the 1 statement(s) before it ran" in str(err.value.__notes__)
    assert not leak.exists()
    assert "c" in _tables(warehouse)
    assert "d" not in _tables(warehouse)
    with pytest.raises(GovernanceViolation) as err:
        con.executescript(f"VACUUM INTO '{leak}'; CREATE TABLE e (v TEXT);")
    assert "nothing in the script ran" in str(err.value.__notes__)
    assert "e" not in _tables(warehouse)


def test_executescript_keeps_sqlite3s_transactions(enabled, warehouse):
    enabled(aware=True)
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE t (v INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    assert con.in_transaction
    con.executescript("INSERT INTO t VALUES (2);")  # commits the pending transaction first
    assert not con.in_transaction
    assert [r[0] for r in PLAIN_CONNECT(warehouse).execute("SELECT v FROM t")] == [1, 2]
    with pytest.raises(sqlite3.IntegrityError):  # the script's own transaction stays one
        con.executescript("CREATE TABLE u (v INTEGER UNIQUE); BEGIN; INSERT INTO u VALUES (1);"
                          " INSERT INTO u VALUES (1); COMMIT;")
    con.rollback()
    assert [r[0] for r in PLAIN_CONNECT(warehouse).execute("SELECT COUNT(*) FROM u")] == [0]
    trigger = ("CREATE TABLE log (v INTEGER); CREATE TRIGGER keep AFTER INSERT ON t BEGIN "
               "INSERT INTO log VALUES (new.v); END; SELECT 'a;b';")
    assert governed_sqlite3.statements(trigger) == [
        "CREATE TABLE log (v INTEGER);",
        " CREATE TRIGGER keep AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v); END;",
        " SELECT 'a;b';"]
    with pytest.raises(GovernanceViolation, match="2 statements") as err:
        con.executescript(trigger)  # Lacuna cannot read a trigger's body: refused
    assert "statement 2 of 3" in str(err.value.__notes__)
    PLAIN_CONNECT(warehouse).executescript(trigger.split(";", 1)[1])  # made by someone else
    with pytest.raises(GovernanceViolation, match="trigger"):  # its body would run undecided
        con.execute("INSERT INTO t VALUES (3)")


def test_sqlalchemy_and_lacunas_own_statements_are_decided_once(enabled, warehouse, sandbox):
    """A user's engine's connections are governed ones: SQLAlchemy's statements pass (the SQL
    hook decides them, once), and a statement on the raw connection (``raw_connection()``, which
    was a plain one: ``VACUUM INTO`` ran undecided) is decided."""
    enabled()
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    creator = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(warehouse))
    leak = sandbox / "Downloads" / "raw.db"
    try:
        for eng in (engine, creator):
            with eng.connect() as conn:
                assert len(conn.exec_driver_sql("SELECT email FROM customers").fetchall())
                raw = conn.connection.dbapi_connection
                assert governed_sqlite3.is_governed(raw)
            fairy = eng.raw_connection()
            try:
                with pytest.raises(GovernanceViolation):
                    fairy.cursor().execute(f"VACUUM INTO '{leak}'")
            finally:
                fairy.close()
    finally:
        engine.dispose()
        creator.dispose()
    assert not leak.exists()
    assert _methods(sandbox) == [("sql.sqlite.select", True), ("sql.sqlite.vacuum", False)] * 2


def test_pandas_on_a_sqlite3_connection_is_decided_once(enabled, warehouse, sandbox):
    """pd.read_sql/to_sql on a sqlite3 connection are decided by the pandas integration: the
    same audit records whether the connection is a governed one or was opened before enable()
    (none of the statements pandas runs is decided again)."""
    plain = PLAIN_CONNECT(warehouse)
    enabled(aware=True)
    governed = sqlite3.connect(warehouse)
    assert governed_sqlite3.is_governed(governed)
    records = []
    for con in (plain, governed):
        before = len(_methods(sandbox))
        frame = pd.read_sql("SELECT customer_id, email FROM customers", con)
        frame.to_sql(f"copied_{len(records)}", con, index=False)
        with pytest.raises(GovernanceViolation):
            pd.read_sql(f"VACUUM INTO '{sandbox / 'Downloads' / 'x.db'}'", con)
        records.append(_methods(sandbox)[before:])
    assert records[0] == records[1]
    assert records[0][0] == ("pandas.read_sql", True)
    assert records[0][-1] == ("sql.sqlite.vacuum", False)
    assert not [m for m, _ in records[1] if m in ("sql.sqlite.select", "sql.sqlite.insert",
                                                    "sql.sqlite.create")]


def test_a_failure_of_lacuna_fails_closed(enabled, warehouse, sandbox, monkeypatch):
    def broken(_con: object) -> object:
        raise RuntimeError("catalog unreadable")

    enabled()
    con = sqlite3.connect(warehouse)
    monkeypatch.setattr("lacuna.sql.catalog.sqlite_database", broken)
    leak = sandbox / "Downloads" / "failed.db"
    with pytest.raises(GovernanceViolation, match="Lacuna failed while governing"):
        con.execute(f"VACUUM INTO '{leak}'")
    with pytest.raises(GovernanceViolation, match="Lacuna failed while governing"):
        con.executescript(f"VACUUM INTO '{leak}';")
    assert not leak.exists()
    lacuna.configure(mode="warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert con.execute("SELECT 1").fetchall() == [(1,)]  # warn: runs, once, with a warning
    assert any(issubclass(w.category, GovernanceFailureWarning) for w in caught)


def test_factories_and_governed_blocks(sandbox_config, warehouse, sandbox):
    class Mine(sqlite3.Connection):
        pass

    class MyCursor(sqlite3.Cursor):
        pass

    leak = sandbox / "Downloads" / "block.db"
    with lacuna.governed(sandbox_config()):
        con = sqlite3.connect(warehouse, factory=Mine)
        assert isinstance(con, Mine)
        assert governed_sqlite3.is_governed(con)
        cur = con.cursor(MyCursor)
        assert isinstance(cur, MyCursor)
        with pytest.raises(GovernanceViolation):
            cur.execute(f"VACUUM INTO '{leak}'")
        with pytest.raises(GovernanceViolation, match="factory"):  # not a Connection class
            sqlite3.connect(warehouse, factory=lambda *a, **k: PLAIN_CONNECT(*a))
        with pytest.raises(IntegrationError, match=r"sqlite3\.Cursor subclass"):
            con.cursor(lambda c: sqlite3.Cursor(c))
        positional = sqlite3.connect(str(warehouse), 5.0, 0, "DEFERRED", True, Mine)
        assert governed_sqlite3.is_governed(positional)
    assert sqlite3.connect is PLAIN_CONNECT
    con.execute(f"VACUUM INTO '{leak}'")  # outside the block: not governed
    assert leak.exists()


def test_lacunas_own_databases_are_never_governed(enabled, warehouse, sandbox):
    """The audit trail (and any state database a ``url`` setting names) is Lacuna's state, not
    data it governs: a connection to it is a plain one, and reading it records nothing."""
    enabled()
    con = sqlite3.connect(warehouse)
    con.execute("SELECT email FROM customers").fetchall()  # one governed read: the trail exists
    own = sqlite3.connect(sandbox / "audit.db")
    assert not governed_sqlite3.is_governed(own)
    # the sandbox's configuration event and the one select
    assert own.execute("SELECT COUNT(*) FROM lacuna_audit").fetchone() == (2,)
    by_uri = sqlite3.connect(f"file:{sandbox / 'audit.db'}?mode=ro", uri=True)
    assert not governed_sqlite3.is_governed(by_uri)
    assert _methods(sandbox) == [("sql.sqlite.select", True)]


def test_lacunas_own_database_cannot_attach_another_file(enabled, warehouse, sandbox):
    """A connection to the audit trail is a plain one (its statements are not decided): it
    attached the warehouse and ``VACUUM w INTO`` (or ``CREATE TABLE o.t AS SELECT …`` into
    another attached file) copied the PII out undecided. In enforce mode it attaches nothing."""
    enabled()
    sqlite3.connect(warehouse).execute("SELECT email FROM customers").fetchall()  # a trail
    leak = sandbox / "Downloads" / "own.db"
    for spelling in (sandbox / "audit.db", f"{sandbox}/Downloads/../audit.db"):
        own = sqlite3.connect(spelling)
        assert not governed_sqlite3.is_governed(own)
        for run, sql in ((own.execute, f"ATTACH '{warehouse}' AS w"),
                         (own.cursor().execute, f"VACUUM INTO '{leak}'"),
                         (own.executescript, f"ATTACH '{leak}' AS o;")):
            with pytest.raises(IntegrationError, match="cannot attach another database"):
                run(sql)
        with pytest.raises(IntegrationError, match="authorizer"):
            own.set_authorizer(None)
        # the sandbox's configuration event and the one select
    assert own.execute("SELECT COUNT(*) FROM lacuna_audit").fetchone() == (2,)
    assert not leak.exists()
    lacuna.disable()
    own.execute(f"ATTACH '{warehouse}' AS w")  # not governed: as before
    assert _methods(sandbox) == [("sql.sqlite.select", True)]


def test_the_dbapi2_spelling_and_a_reloaded_module_connect_governed(enabled, warehouse, sandbox):
    """``sqlite3.dbapi2.connect`` (the same function as ``sqlite3.connect``, the DB-API module's
    spelling) and ``sqlite3.connect`` after ``importlib.reload(sqlite3)`` (which copies it from
    ``dbapi2``) opened plain connections under ``lacuna.enable()``."""
    import importlib

    enabled()
    leak = sandbox / "Downloads" / "dbapi2.db"
    try:
        for connect in (sqlite3.dbapi2.connect, importlib.reload(sqlite3).connect):
            con = connect(warehouse)
            assert governed_sqlite3.is_governed(con)
            with pytest.raises(GovernanceViolation):
                con.execute(f"VACUUM INTO '{leak}'")
        assert not leak.exists()
    finally:
        lacuna.disable()
        importlib.reload(sqlite3)  # the standard library's own connect again
    assert sqlite3.connect is PLAIN_CONNECT
    assert sqlite3.dbapi2.connect is PLAIN_CONNECT


def test_a_dict_row_factory_connection_is_decided_like_any_other(enabled, warehouse, sandbox):
    """The catalog look-ups read rows by position whatever the connection's row factory (a
    dict factory made ``tuple(row)`` its keys: the row count read as ``'count'``, so every
    write failed closed); the caller's rows keep their factory."""
    enabled(aware=True)
    con = sqlite3.connect(warehouse)
    con.row_factory = lambda cur, row: {d[0]: v for d, v in zip(cur.description, row,
                                                                 strict=True)}
    con.execute("CREATE TABLE kept AS SELECT customer_id, email FROM customers")
    con.commit()
    rows = con.execute("SELECT email FROM kept LIMIT 2").fetchall()
    assert [set(r) for r in rows] == [{"email"}, {"email"}]
    stored = lacuna.sql.table_classification(con, "kept")
    assert stored is not None
    assert stored.columns["email"].classification is ColumnKind.PII
    out = sandbox / "Downloads" / "leak.db"
    with pytest.raises(GovernanceViolation):
        con.execute(f"VACUUM INTO '{out}'")
    assert not out.exists()
    target = PLAIN_CONNECT(sandbox / "Downloads" / "copy.db")
    target.row_factory = con.row_factory
    with pytest.raises(GovernanceViolation):  # was a KeyError from reading the target's file
        con.backup(target)
    assert _tables(sandbox / "Downloads" / "copy.db") == []


def test_a_function_the_program_defines_is_not_taken_for_sqlites_own(enabled, warehouse, sandbox):
    """``con.create_function("substr", 3, …)`` replaces SQLite's ``substr``, and a ``sha256``
    the program defines may return what it is given: Lacuna read ``substr(address, 1, 3)`` as
    a short prefix and ``sha256(name || ?)`` with a strong key as a keyed hash, so the whole
    address went into a table of a database that keeps no classification, and every name
    (the key appended) into ~/Downloads as PUBLIC. A function the program defined is now one
    the database's users defined: the statement is PROPRIETARY, fail closed."""
    enabled()
    con = sqlite3.connect(warehouse)
    prefix = "CREATE TABLE z AS SELECT customer_id, substr(address, 1, 3) AS p FROM customers"
    con.execute(prefix)  # SQLite's own substr: three characters, a generalisation
    assert con.execute("SELECT count(*), max(length(p)) FROM z").fetchone() == (
        len(pd.read_csv(sandbox / "customers.csv")), 3)
    con.execute("DROP TABLE z")
    con.create_function("substr", 3, lambda value, start, length: value)
    con.create_function("sha256", 1, lambda value: value)
    with pytest.raises(GovernanceViolation, match=r"calls substr, defined in the database"):
        con.execute(prefix)
    assert "z" not in _tables(warehouse)
    out = sandbox / "Downloads" / "names.csv"
    names = pd.read_sql("SELECT customer_id, sha256(name || ?) AS n FROM customers", con,
                        params=("9f2c7d41e8b3a6051c4d2e7f8a9b0c1d2e3f4a5b6c7d8e9f",))
    assert names.lacuna_classification.tier == Tier.PROPRIETARY
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        names.to_csv(out)
    assert not out.exists()
    con.close()


def test_executemany_is_sampled_over_all_its_rows(enabled, warehouse):
    """``executemany`` was classified by its first 200 parameter sets: 200 regions, then 300
    e-mails went into a database that keeps no classification as PUBLIC. The sets are now
    sampled over the whole batch, as a frame's rows are."""
    enabled()
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE t (region TEXT)")
    regions = [(r,) for r in ("AMER", "APAC", "EMEA", "LATAM")] * 125
    con.executemany("INSERT INTO t VALUES (?)", regions)  # all public: runs, all rows land
    con.commit()
    assert con.execute("SELECT region FROM t").fetchall() == regions
    emails = [(f"person{i}@example.com",) for i in range(300)]
    with pytest.raises(GovernanceViolation, match="PII"):
        con.executemany("INSERT INTO t VALUES (?)", regions[:200] + emails)
    with pytest.raises(GovernanceViolation, match="PII"):  # an iterator: read once, all of it
        con.executemany("INSERT INTO t VALUES (?)", iter(regions[:200] + emails))
    assert con.execute("SELECT count(*) FROM t").fetchone() == (len(regions),)
    con.close()


def test_a_query_among_insert_values_is_classified_as_a_query(enabled, warehouse):
    """``INSERT INTO z VALUES ((SELECT email FROM customers LIMIT 1), 'x')`` was classified by
    its literals only ('x', and nothing for the subquery): the e-mail went into a database that
    keeps no classification as PUBLIC, and a value bound next to a subquery was classified as
    the first column's. Such VALUES are now the SELECT of their rows."""
    enabled()
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE z (r TEXT, s TEXT)")
    with pytest.raises(GovernanceViolation, match=r"r: pii from customers\.email"):
        con.execute("INSERT INTO z VALUES ((SELECT email FROM customers LIMIT 1), 'x')")
    with pytest.raises(GovernanceViolation, match=r"r: pii from customers\.email"):
        con.execute("INSERT INTO z VALUES ('a', 'b'), ((SELECT max(email) FROM customers), 'c')")
    with pytest.raises(GovernanceViolation, match=r"- r: a value written or bound"):
        con.execute("INSERT INTO z (s, r) VALUES ((SELECT count(*) FROM customers), ?)",
                    ("kira.kowalski1@example.com",))
    con.execute("INSERT INTO z VALUES ((SELECT count(*) FROM customers), 'x')")
    con.execute("INSERT INTO z (s, r) VALUES ((SELECT min(region) FROM customers), ?)", ("AMER",))
    assert con.execute("SELECT * FROM z").fetchall() == [
        (str(len(pd.read_csv(warehouse.parent / "customers.csv"))), "x"),
        ("AMER", min(pd.read_csv(warehouse.parent / "customers.csv")["region"]))]
    con.close()


@pytest.mark.parametrize("sql", [
    "INSERT INTO z VALUES ('kira' || '.kowalski1@example.com', 'x')",
    "INSERT INTO z VALUES (lower('KIRA.KOWALSKI1@EXAMPLE.COM'), 'x')",
])
def test_values_written_in_the_sql_are_read_as_the_database_reads_them(enabled, warehouse, sql):
    """An e-mail written in pieces was no value at all, and went into a database that keeps no
    classification as PUBLIC."""
    enabled()
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE z (r TEXT, s TEXT)")
    with pytest.raises(GovernanceViolation, match="e-mail"):
        con.execute(sql)
    con.execute(sql.replace("kira' || '.kowalski1@example.com", "AM' || 'ER").replace(
        "KIRA.KOWALSKI1@EXAMPLE.COM", "AMER"))
    assert con.execute("SELECT * FROM z").fetchall() == [("amer" if "lower" in sql else "AMER",
                                                           "x")]
    con.close()


def test_values_mixing_parameters_and_literals_are_classified_each_in_its_column(
        enabled, warehouse):
    """``VALUES (?, 'kira.kowalski1@example.com')`` with ``('AMER',)`` was classified by its
    parameters alone (as the first columns), the e-mail written in the SQL not at all: it went
    into a database that keeps no classification as PUBLIC."""
    enabled()
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE z (r TEXT, s TEXT)")
    with pytest.raises(GovernanceViolation, match="- s: a value written or bound"):
        con.execute("INSERT INTO z VALUES (?, 'kira.kowalski1@example.com')", ("AMER",))
    with pytest.raises(GovernanceViolation, match="- s: a value written or bound"):
        con.executemany("INSERT INTO z VALUES ('x', ?)",
                        [("AMER",)] * 50 + [("kira.kowalski1@example.com",)] * 5)
    con.executemany("INSERT INTO z VALUES ('x', ?)", [("AMER",), ("APAC",)])
    assert con.execute("SELECT * FROM z").fetchall() == [("x", "AMER"), ("x", "APAC")]
    con.close()
