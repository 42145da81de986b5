"""Values that left a governed database as PUBLIC because column lineage did not see them:
DuckDB's positional columns (``SELECT #3``), a ``SUMMARIZE`` inside a query (its minima and
maxima), and a hash "keyed" by a column (``md5(email || salt)`` with ``'' AS salt``). Each is
checked with the allowed path next to it: the named, masked or public query still runs and
writes exactly its rows."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna.sql
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import Classification

KEY = "kJ8vQ2mZ0xR4tY6uWq"  # a key check_key takes


def _customers(sandbox: Path) -> pd.DataFrame:
    return pd.read_csv(sandbox / "customers.csv", dtype=str)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))[1:]


def _why(found: Classification) -> str:
    """Every reason ``found`` gives, its columns' too (with their evidence)."""
    return " ".join(
        [*found.reasoning, *(f"{c.reasoning} {c.evidence}" for c in found.columns.values())]
    )


def _copied(engine: sa.Engine, query: str, out: Path) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"COPY ({query}) TO '{out}' (HEADER)")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT #3 FROM customers",
        "SELECT customer_id, upper(#3) AS e FROM customers",
        "SELECT x FROM (SELECT #3 AS x FROM customers)",
    ],
)
def test_duckdb_positional_column_carries_what_it_may_name(
    query, sandbox, make_db, governed_engine
):
    """``#3`` is DuckDB's third column (``email``): it left as PUBLIC, 60 e-mails in the file."""
    engine = governed_engine(make_db("duckdb"))
    out = sandbox / "Downloads" / "p.csv"
    with pytest.raises(GovernanceViolation):
        _copied(engine, query, out)
    assert not out.exists()
    with engine.connect() as conn:
        read = conn.exec_driver_sql(query)
        assert any("@" in str(v) for row in read.fetchall() for v in row)  # it is the e-mail
        found = lacuna.sql.classification(read)
        assert any(c.is_personal for c in found.columns.values())
        assert "by its place" in _why(found)
    # the allowed path: the public column named, in the same place
    _copied(engine, "SELECT region FROM customers ORDER BY customer_id", out)
    assert [r[0] for r in _rows(out)] == _customers(sandbox).sort_values("customer_id")[
        "region"
    ].tolist()


def test_duckdb_summarize_inside_a_query_is_a_read_of_what_it_summarises(
    sandbox, make_db, governed_engine
):
    """``SELECT min, max FROM (SUMMARIZE customers)`` returned real e-mails and names as PUBLIC;
    a COPY of it reached Downloads. A statement ``SUMMARIZE customers`` was governed already."""
    engine = governed_engine(make_db("duckdb"))
    out = sandbox / "Downloads" / "s.csv"
    for query in (
        "SELECT * FROM (SUMMARIZE customers)",
        "SELECT min, max FROM (SUMMARIZE SELECT email FROM customers)",
        "WITH s AS (SUMMARIZE customers) SELECT max FROM s",
    ):
        with pytest.raises(GovernanceViolation):
            _copied(engine, query, out)
        assert not out.exists(), query
    with engine.connect() as conn:
        read = conn.exec_driver_sql("SELECT min, max FROM (SUMMARIZE customers)")
        assert any("@" in str(v) for row in read.fetchall() for v in row)
        found = lacuna.sql.classification(read)
        assert found.tier.name == "PROPRIETARY"
        assert "SUMMARIZE inside a query" in " ".join(found.reasoning)
    # the allowed path: the statistics of a public column, selected by name
    _copied(engine, "SELECT min(region) AS lo, max(region) AS hi FROM customers", out)
    regions = _customers(sandbox)["region"]
    assert _rows(out) == [[regions.min(), regions.max()]]


@pytest.fixture
def salted(request, make_db) -> str:
    """A database whose ``keys`` table holds an empty salt (the analyst made it)."""
    kind = request.param
    url = make_db(kind)
    engine = sa.create_engine(url)
    with _bypass.bypass(), engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE keys AS SELECT '' AS salt, customer_id AS key FROM customers LIMIT 1"
        )
    engine.dispose()
    return url


@pytest.mark.parametrize("salted", ["duckdb", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    "expression",
    [
        "md5(email || k.salt)",
        "md5(concat(k.salt, email))",
        "md5(email || k.key)",  # a customer id named "key": public, in the output besides
        "md5(email || s.salt)",  # a salt written as a literal, named by a subquery
    ],
)
def test_a_hash_keyed_by_a_column_is_not_a_pseudonym(salted, expression, sandbox, governed_engine):
    """``md5(email || salt)`` counted as a keyed hash because the column was *named* like a key;
    with ``salt = ''`` it is ``md5(email)``, reversed by hashing candidate addresses."""
    engine = governed_engine(salted)
    query = (
        f"SELECT customer_id, {expression} AS h FROM customers "
        "CROSS JOIN keys k CROSS JOIN (SELECT '' AS salt) s ORDER BY customer_id"
    )
    with engine.connect() as conn:
        read = conn.exec_driver_sql(query)
        hashes = [row[1] for row in read.fetchall()]
        found = lacuna.sql.classification(read)
    unsalted = {hashlib.md5(e.encode()).hexdigest() for e in _customers(sandbox)["email"]}
    if "k.key" not in expression:
        assert set(hashes) == unsalted  # what the column "keyed" is plain md5(email)
    assert found.columns["h"].is_personal, found
    assert "keys nothing" in _why(found)
    if engine.dialect.name == "duckdb":
        out = sandbox / "Downloads" / "h.csv"
        with pytest.raises(GovernanceViolation):
            _copied(engine, query, out)
        assert not out.exists()


@pytest.mark.parametrize("salted", ["duckdb", "postgresql"], indirect=True)
def test_a_hash_keyed_by_a_bound_key_is_still_a_pseudonym(salted, sandbox, governed_engine):
    """The allowed path: the key bound as a parameter (checked) masks, and the digests are
    exactly md5(email || key)."""
    engine = governed_engine(salted)
    query = sa.text("SELECT customer_id, md5(email || :k) AS h FROM customers ORDER BY customer_id")
    with engine.connect() as conn:
        read = conn.execute(query, {"k": KEY})
        rows = read.fetchall()
        found = lacuna.sql.classification(read).columns["h"]
    assert not found.is_personal, found
    expected = _customers(sandbox).sort_values("customer_id")
    assert [r[1] for r in rows] == [
        hashlib.md5((e + KEY).encode()).hexdigest() for e in expected["email"]
    ]


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
@pytest.mark.parametrize("name", ["pg_stash", "duckdb_stash"])
def test_a_users_table_named_like_the_catalog_is_read_as_a_table(
    kind, name, sandbox, make_db, governed_engine
):
    """``SELECT * FROM pg_stash`` was taken for a catalog read (a ``pg_`` name): it ran
    undecided and its rows came back with no classification, though Lacuna had stored
    ``md5(email)`` (an unkeyed hash) as personal when the table was written."""
    engine = governed_engine(make_db(kind), aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {name} AS SELECT customer_id, md5(email) AS s, region FROM customers"
        )
    with engine.connect() as conn:
        read = conn.exec_driver_sql(f"SELECT s, region FROM {name} ORDER BY customer_id")
        rows = read.fetchall()
        found = lacuna.sql.classification(read)
    assert len(rows) == 60
    assert found is not None
    assert found.columns["s"].is_personal, found
    assert not found.columns["region"].is_personal
    # the allowed path: a public column of it, and the real catalog, read as before
    with engine.connect() as conn:
        read = conn.exec_driver_sql(f"SELECT region FROM {name} ORDER BY customer_id")
        assert [r[0] for r in read.fetchall()] == _customers(sandbox).sort_values("customer_id")[
            "region"
        ].tolist()
        assert not lacuna.sql.classification(read).personal_columns
        catalog = (
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            if kind == "postgresql"
            else "SELECT table_name FROM duckdb_tables() WHERE NOT internal"
        )
        assert name in {r[0] for r in conn.exec_driver_sql(catalog).fetchall()}
    if kind == "duckdb":
        out = sandbox / "Downloads" / "c.csv"
        with pytest.raises(GovernanceViolation):
            _copied(engine, f"SELECT s FROM {name}", out)
        assert not out.exists()
        _copied(engine, f"SELECT region FROM {name} ORDER BY customer_id", out)
        assert [r[0] for r in _rows(out)] == _customers(sandbox).sort_values("customer_id")[
            "region"
        ].tolist()


@pytest.mark.parametrize("switch", ["SET schema = 's2'", "USE warehouse.s2"])
def test_duckdb_an_unqualified_name_is_the_table_duckdb_reads(
    switch, sandbox, make_db, governed_engine
):
    """After ``SET schema = 's2'`` an unqualified ``contacts`` is ``s2.contacts``
    (``md5(email)``, stored as personal), but Lacuna read the comments of every schema's
    ``contacts`` and took ``main.contacts``'s (public): ``COPY`` let 60 e-mail hashes out."""
    engine = governed_engine(make_db("duckdb"), aware=True)
    out = sandbox / "Downloads" / "c.csv"
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA s2")
        conn.exec_driver_sql(
            "CREATE TABLE s2.contacts AS SELECT customer_id, md5(email) AS h FROM customers"
        )
        # the allowed path: a table of that name in main, where none was (it was refused)
        conn.exec_driver_sql(
            "CREATE TABLE contacts AS SELECT customer_id, md5(region) AS h FROM customers"
        )
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f"COPY (SELECT h FROM contacts ORDER BY customer_id) TO '{out}' (HEADER)"
        )
        copied = [r[0] for r in _rows(out)]
        out.unlink()
        conn.exec_driver_sql(switch)
        read = conn.exec_driver_sql("SELECT h FROM contacts ORDER BY customer_id")
        hashes = [r[0] for r in read.fetchall()]
        assert lacuna.sql.classification(read).columns["h"].is_personal
        with pytest.raises(GovernanceViolation):
            conn.exec_driver_sql(f"COPY (SELECT h FROM contacts) TO '{out}'")
        assert not out.exists()
    ordered = _customers(sandbox).sort_values("customer_id")
    assert hashes == [hashlib.md5(e.encode()).hexdigest() for e in ordered["email"]]
    assert copied == [hashlib.md5(r.encode()).hexdigest() for r in ordered["region"]]


@pytest.mark.parametrize(
    ("sql", "schema"),
    [
        ("SELECT email AS x, region AS x FROM customers", None),
        ("SELECT md5(email) AS x, region AS x FROM customers", None),
        ('SELECT md5(email) AS "X", region AS "x" FROM customers', None),  # one name on DuckDB
        ('SELECT "HASH" AS x FROM t', {"t": {"HASH": "pii", "Hash": "public"}}),
        ('SELECT "Hash" AS x FROM t', {"t": {"HASH": "pii", "Hash": "public"}}),
        ("SELECT * FROM t", {"t": {"HASH": "pii", "Hash": "public"}}),
    ],
)
@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "sqlite"])
def test_two_columns_of_one_name_keep_the_stricter_class(sql, schema, dialect):
    """Two output columns of one name (or, on PostgreSQL, ``"HASH"`` and ``"Hash"``, which
    Lacuna's names fold to one) kept the class of the last one: ``SELECT email AS x, region AS
    x`` was PUBLIC and its ``COPY`` left."""
    schema = schema or {
        "customers": {"customer_id": "identifier", "email": "pii:email", "region": "public"}
    }
    out = lacuna.classify_sql(sql, schema=schema, dialect=dialect)
    assert out.classification.personal_columns, out.classification.columns
    assert out.classification.tier.name == "PROPRIETARY"
    public = lacuna.classify_sql(
        "SELECT region AS x, customer_id AS x FROM customers",
        schema={"customers": {"customer_id": "identifier", "region": "public"}},
        dialect=dialect,
    )
    assert not public.classification.personal_columns  # the allowed path


def test_duplicate_output_names_do_not_launder_a_copy(sandbox, make_db, governed_engine):
    engine = governed_engine(make_db("duckdb"))
    out = sandbox / "Downloads" / "d.csv"
    with pytest.raises(GovernanceViolation):
        _copied(engine, "SELECT email AS x, region AS x FROM customers", out)
    assert not out.exists()
    _copied(engine, "SELECT region AS x, region AS x FROM customers ORDER BY customer_id", out)
    regions = _customers(sandbox).sort_values("customer_id")["region"].tolist()
    assert _rows(out) == [[r, r] for r in regions]


def test_postgresql_columns_one_case_apart_keep_the_stricter_class(make_db, governed_engine):
    """``md5(email) AS "HASH", md5(region) AS "Hash"`` was stored with one column, the public
    one; reading ``"HASH"`` back (60 unkeyed e-mail hashes) was PUBLIC."""
    engine = governed_engine(make_db("postgresql"), aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            'CREATE TABLE t3 AS SELECT customer_id, md5(email) AS "HASH", '
            'md5(region) AS "Hash" FROM customers'
        )
    with engine.connect() as conn:
        for column in ('"HASH"', '"Hash"', "*"):
            read = conn.exec_driver_sql(f"SELECT {column} FROM t3")
            assert len(read.fetchall()) == 60
            assert lacuna.sql.classification(read).personal_columns, column


MAIL = "kira.kowalski1@example.com"
SCHEMA = {"customers": {"customer_id": "identifier", "email": "pii:email", "region": "public"},
          "t": {"a": "public", "b": "public"}}


@pytest.mark.parametrize(
    ("sql", "parameters", "column", "dialect"),
    [
        (f"SELECT '{MAIL}' AS x, region FROM customers", None, "x", "duckdb"),
        # data only as values are read: an address written out, letters drawn like digits
        ("SELECT 'kira[at]example[dot]com' AS x, region FROM customers", None, "x", "duckdb"),
        ("SELECT '+44 2O 7946 O958' AS x, region FROM customers", None, "x", "duckdb"),
        ("SELECT ? AS x, region FROM customers", [MAIL], "x", "sqlite"),
        ("SELECT :e AS x FROM customers", {"e": MAIL}, "x", "postgres"),
        ("SELECT region || $1 AS x FROM customers", ["123-45-6789"], "x", "postgres"),
        (f"SELECT *, '{MAIL}' AS x FROM customers", None, "x", "duckdb"),
        (f"SELECT region AS x FROM customers UNION ALL SELECT '{MAIL}'", None, "x", "duckdb"),
        (f"WITH c AS (SELECT '{MAIL}' AS m) SELECT m AS x FROM c", None, "x", "duckdb"),
        ("INSERT INTO t (a, b) SELECT region, ? FROM customers", [MAIL], "b", "sqlite"),
        ("UPDATE t SET b = ?", [MAIL], "b", "sqlite"),
    ],
)
def test_a_value_written_or_bound_in_the_statement_keeps_its_class(
        sql, parameters, column, dialect):
    """A literal, or a value bound to a parameter, that an output column holds read as a
    constant: ``COPY (SELECT ? AS x) TO '~/Downloads/…'`` with an e-mail bound was PUBLIC and
    written, where ``INSERT … VALUES (?)`` of it was PII. It is now classified by its value."""
    out = lacuna.classify_sql(sql, schema=SCHEMA, dialect=dialect, parameters=parameters)
    found = out.classification.columns[column]
    assert found.is_personal, found
    assert "a value written or bound in the statement" in found.reasoning
    assert out.classification.tier.name == "PROPRIETARY"


@pytest.mark.parametrize(
    ("sql", "parameters", "dialect"),
    [
        ("SELECT 'redacted' AS email, region FROM customers", None, "duckdb"),  # by value
        # a constant written in code: a word list is no evidence ('Denver' is a city)
        ("SELECT 'Denver' AS city, 'Maria' AS team, region FROM customers", None, "duckdb"),
        (f"SELECT region FROM customers WHERE email = '{MAIL}'", None, "duckdb"),  # a condition
        ("SELECT region FROM customers WHERE email = ?", [MAIL], "sqlite"),
        ("SELECT ? AS region, count(*) AS n FROM customers", ["EMEA"], "sqlite"),
        ("SELECT md5(email || :k) AS h FROM customers", {"k": MAIL}, "postgres"),  # a key
    ],
)
def test_public_values_and_conditions_stay_public(sql, parameters, dialect):
    """The allowed path: a public value, a value in a condition (no value leaves) and a key
    bound to a keyed hash (its digest leaves, the key does not) change nothing."""
    out = lacuna.classify_sql(sql, schema=SCHEMA, dialect=dialect, parameters=parameters)
    assert not out.classification.personal_columns, out.classification.columns
    assert out.classification.tier.name == "PUBLIC"


def test_a_bound_e_mail_is_not_copied_out_as_public(sandbox, governed):
    """Through DuckDB's Python API (the values written into the SQL) and a ``sqlite3``
    connection (bound): the e-mail is refused, a public value is written and read back."""
    import sqlite3

    duckdb = pytest.importorskip("duckdb")
    out = sandbox / "Downloads" / "v.csv"
    con = duckdb.connect()
    for query, value in [("SELECT ? AS x", [MAIL]), ("SELECT $e AS x", {"e": MAIL})]:
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY ({query}) TO '{out}' (HEADER)", value)
        assert not out.exists()
    con.execute(f"COPY (SELECT ? AS region) TO '{out}' (HEADER)", ["EMEA"])
    assert _rows(out) == [["EMEA"]]
    db = sqlite3.connect(sandbox / "w.db")
    db.execute("CREATE TABLE t (a TEXT)")
    with pytest.raises(GovernanceViolation):
        db.execute("INSERT INTO t SELECT ?", [MAIL])
    db.execute("INSERT INTO t SELECT ?", ["EMEA"])
    db.commit()
    assert db.execute("SELECT a FROM t").fetchall() == [("EMEA",)]
    db.close()
