from __future__ import annotations

import json

import pytest

import lacuna
from lacuna.config import ClassificationConfig
from lacuna.errors import LineageError
from lacuna.lineage.records import ColumnEdge, DatasetRef, EdgeKind
from lacuna.model import DERIVED_FROM_PII, Classification, ColumnClass, ColumnKind, Tier

DIALECTS = ["ansi", "postgres", "duckdb", "spark", "snowflake"]
KEY = "kJ8vQ2mZ0xR4tY6u"  # a key check_key takes: 16 bytes, 16 distinct
SCHEMA = {
    "customers": {
        "id": "identifier",
        "email": "pii:email",
        "name": "pii:person",
        "zip": "pii:zip",
        "dob": "pii:date_of_birth",
        "region": "public",
    },
    "orders": {"order_id": "identifier", "customer_id": "identifier", "amount": "financial"},
    "secrets": {"key": "public"},
}
DONE_WHEN = """
INSERT INTO t
SELECT c.id, c.email, sha256(c.email || :key) AS email_hash, o.amount
FROM customers c JOIN orders o ON o.customer_id = c.id CROSS JOIN secrets s
"""


def kinds(out, column):
    return {(e.source.name, e.source_column): e.kind for e in out.edges_of(column)}


def cls(out, column):
    return out.classification.columns[column].classification


@pytest.mark.parametrize("dialect", DIALECTS)
def test_classify_sql_insert_join_keyed_hash_masks_and_plain_copy_stays_pii(dialect):
    out = lacuna.classify_sql(DONE_WHEN, schema=SCHEMA, dialect=dialect, parameters={"key": KEY})
    assert out.statement == "insert"
    assert out.target == DatasetRef(dialect, "t")
    assert out.columns == ("id", "email", "email_hash", "amount")
    assert kinds(out, "email_hash") == {("customers", "email"): EdgeKind.MASKING}
    assert kinds(out, "email") == {("customers", "email"): EdgeKind.IDENTITY}
    assert cls(out, "email") is ColumnKind.PII
    assert not out.classification.columns["email_hash"].is_personal
    assert cls(out, "email_hash") is ColumnKind.IDENTIFIER
    assert out.classification.tier is Tier.PROPRIETARY  # the plain e-mail copy
    assert DERIVED_FROM_PII in out.classification.tags
    assert set(out.sources) == {DatasetRef(dialect, n) for n in ("customers", "orders", "secrets")}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_classify_sql_without_the_plain_copy_is_not_pii(dialect):
    sql = (
        "CREATE TABLE t AS SELECT sha256(c.email || :key) AS email_hash, o.amount "
        "FROM customers c JOIN orders o ON o.customer_id = c.id"
    )
    out = lacuna.classify_sql(sql, schema=SCHEMA, dialect=dialect, parameters={"key": KEY})
    assert out.statement == "create"
    assert out.classification.personal_columns == ()
    assert "PII" not in out.classification.tags
    assert out.classification.tier is Tier.INTERNAL  # the financial amount


@pytest.mark.parametrize(
    ("expression", "masked"),
    [
        ("sha256(email)", False),  # unkeyed: a dictionary attack recovers it
        ("md5(email)", False),
        ("md5(email || 'pepper')", False),  # a salt written in the code is no secret
        ("sha256(email || :key)", True),  # bound to KEY (see the test)
        ("sha256(email || ?)", True),
        ("sha256(cast(:key AS varchar) || email)", True),
        # a column keys nothing, whatever its name: its values are data ('' AS salt)
        ("md5(concat(salt, email))", False),
        ("md5(email || salt)", False),
        ("hmac(email, salt, 'sha256')", False),
        ("md5(email || which_secret('s3://b/k', 's3'))", False),  # a secret's name, no secret
        ("hmac(email, :k, 'sha256')", True),
        ("hmac(email, 'k3y-in-the-code', 'sha256')", False),
        ("sha256(email || :short)", False),  # bound to a guessable key
        ("sha256(email || :missing)", False),  # bound to nothing
        ("sha256(email || left(:key, 0))", False),  # the key cut away
        ("sha256(coalesce(:key, '') || email)", False),
        ("sha256(email || replace(:key, :key, ''))", False),
        ("sha256(concat_ws(:key, email))", False),  # a separator with one value: none
        ("sha256(email || CASE WHEN 1 = 0 THEN :key ELSE '' END)", False),
        # redaction only when the pattern provably replaces every character but separators
        ("regexp_replace(email, '^.*@', '***@')", False),  # a value without '@' stays whole
        ("regexp_replace(email, '^$', 'x')", False),  # matches nothing: the value leaves
        ("regexp_replace(email, '.', '*')", False),  # the first character only (ANSI)
        ("regexp_replace(email, '.', '*', 'g')", True),
        ("regexp_replace(email, '.+', '#', 'g')", True),
        ("regexp_replace(email, '[^@]', '*', 'g')", True),
        (r"regexp_replace(email, '[^@.\s-]', '*', 'g')", True),  # the dbt macro's pattern
        (r"regexp_replace(email, '[\s\S]+', '')", True),  # one match takes it all
        ("regexp_replace(email, '^.+$', '*', 'g')", False),  # one line of many
        ("regexp_replace(email, '.*?', '*', 'g')", False),  # lazy: matches empty strings
        (r"regexp_replace(email, '\w', '*', 'g')", False),  # ASCII in RE2: 'Żółć' survives
        ("regexp_replace(email, '[a-z]', '*', 'g')", False),
        ("regexp_replace(email, '[^.-@]', '*', 'g')", False),  # a range keeps digits
        (r"regexp_replace(email, '(.+)', '\1', 'g')", False),  # a back-reference
        ("regexp_replace(email, '.', '*', 'gq')", False),  # 'q': the pattern is a literal
        ("regexp_replace(email, '.', email, 'g')", False),
        ("left(zip, 3)", True),
        ("left(email, 40)", False),  # keeps too much
        ("substring(zip, 1, 3)", True),
        ("left(zip, 3) || '-' || left(zip, 3)", True),  # one piece, twice
        ("left(zip, 3) || right(zip, 2)", False),  # two pieces rejoin the value
        ("concat(substring(email, 1, 4), substring(email, 5, 4))", False),
        ("extract(year from dob) || '-' || extract(month from dob)", False),
        ("date_trunc('year', dob)", True),
        ("date_trunc('day', dob)", False),
        ("extract(year from dob)", True),
        ("count(distinct email)", True),
        ("upper(email)", False),
        ("coalesce(name, email)", False),
        ("CASE WHEN email IS NULL THEN 'none' ELSE email END", False),
        ("max(email)", False),  # returns one person's value
    ],
)
def test_classify_sql_masking_is_read_off_the_expression(expression, masked):
    schema = {"customers": {**SCHEMA["customers"], "salt": "public"}}
    group = " GROUP BY region" if "max(" in expression or "count(" in expression else ""
    parameters: object = {"key": KEY, "k": KEY, "short": "s3cr3t"}
    if "?" in expression:
        parameters = [KEY]
    out = lacuna.classify_sql(
        f"SELECT {expression} AS x FROM customers{group}", schema=schema, parameters=parameters
    )
    edge_kinds = {e.kind for e in out.edges_of("x") if e.source_column != "salt"}
    assert (edge_kinds == {EdgeKind.MASKING}) is masked, out.edges
    assert out.classification.columns["x"].is_personal is not masked


def test_classify_sql_aggregation_masks_only_under_static_k_anonymity():
    schema = {"people": {"region": "public", "salary": "pii", "email": "pii"}}
    plain = lacuna.classify_sql(
        "SELECT region, avg(salary) AS pay FROM people GROUP BY region", schema=schema
    )
    assert kinds(plain, "pay") == {("people", "salary"): EdgeKind.AGGREGATION}
    assert cls(plain, "pay") is ColumnKind.PII
    assert "HAVING COUNT(*) >= 5" in plain.edges_of("pay")[0].description
    safe = lacuna.classify_sql(
        "SELECT region, avg(salary) AS pay FROM people GROUP BY region HAVING count(*) >= 5",
        schema=schema,
    )
    assert kinds(safe, "pay") == {("people", "salary"): EdgeKind.MASKING}
    assert cls(safe, "pay") is ColumnKind.PUBLIC
    small = lacuna.classify_sql(
        "SELECT region, avg(salary) AS pay FROM people GROUP BY region HAVING count(*) > 2",
        schema=schema,
    )
    assert cls(small, "pay") is ColumnKind.PII
    per_person = lacuna.classify_sql(
        "SELECT avg(salary) AS pay FROM people GROUP BY email HAVING count(*) >= 10",
        schema=schema,
    )
    assert cls(per_person, "pay") is ColumnKind.PII
    k3 = lacuna.classify_sql(
        "SELECT region, avg(salary) AS pay FROM people GROUP BY region HAVING count(*) > 2",
        schema=schema,
        config=ClassificationConfig(k_anonymity=3),
    )
    assert cls(k3, "pay") is ColumnKind.PUBLIC


@pytest.mark.parametrize("dialect", DIALECTS)
def test_classify_sql_ctes_subqueries_union_and_star(dialect):
    sql = """
    WITH hashed AS (SELECT id, sha256(email || :key) AS h, email FROM customers, secrets s),
         raw AS (SELECT * FROM customers)
    SELECT x.h, x.e, (SELECT max(amount) FROM orders) AS top
    FROM (SELECT h, email AS e FROM hashed) x
    UNION ALL
    SELECT 'n/a', r.name, 0 FROM raw r
    """
    out = lacuna.classify_sql(sql, schema=SCHEMA, dialect=dialect, parameters={"key": KEY})
    assert out.columns == ("h", "e", "top")
    assert kinds(out, "h") == {("customers", "email"): EdgeKind.MASKING}
    assert kinds(out, "e") == {
        ("customers", "email"): EdgeKind.IDENTITY,
        ("customers", "name"): EdgeKind.IDENTITY,
    }
    assert kinds(out, "top") == {("orders", "amount"): EdgeKind.AGGREGATION}
    assert cls(out, "h") is ColumnKind.IDENTIFIER
    assert cls(out, "e") is ColumnKind.PII
    assert cls(out, "top") is ColumnKind.FINANCIAL
    star = lacuna.classify_sql("SELECT * FROM orders", schema=SCHEMA, dialect=dialect)
    assert star.columns == ("order_id", "customer_id", "amount")


def test_classify_sql_window_case_coalesce_carry_the_class():
    sql = """
    SELECT row_number() OVER (PARTITION BY email ORDER BY id) AS rn,
           sum(amount) OVER (PARTITION BY customer_id) AS running,
           CASE WHEN region = 'EU' THEN name ELSE 'x' END AS eu_name,
           coalesce(zip, 'unknown') AS z
    FROM customers JOIN orders ON orders.customer_id = customers.id
    """
    out = lacuna.classify_sql(sql, schema=SCHEMA, dialect="postgres")
    assert kinds(out, "rn") == {
        ("customers", "email"): EdgeKind.TRANSFORMATION,
        ("customers", "id"): EdgeKind.TRANSFORMATION,
    }
    assert cls(out, "rn") is ColumnKind.PII  # fail closed: partitioned per person
    assert cls(out, "running") is ColumnKind.FINANCIAL  # a window is never k-anonymous
    assert cls(out, "eu_name") is ColumnKind.PII
    assert kinds(out, "z") == {("customers", "zip"): EdgeKind.TRANSFORMATION}


def test_classify_sql_unknown_and_ambiguous_columns_fail_closed_with_reason():
    out = lacuna.classify_sql(
        "SELECT nope, id FROM customers JOIN orders ON orders.customer_id = customers.id",
        schema={"customers": {"id": "identifier", "email": "pii"},
                "orders": {"id": "identifier", "customer_id": "identifier"}},
    )  # fmt: skip
    for column in ("nope", "id"):
        assert cls(out, column) is ColumnKind.PII, column
        assert "fail closed" in out.classification.columns[column].reasoning
        assert "customers.email" in out.classification.columns[column].reasoning
    assert any(r.startswith("nope: source unresolved") for r in out.classification.reasoning)


def test_classify_sql_opaque_table_classification_and_column_forms():
    secret = Classification(tier=Tier.PROPRIETARY, tags=("PII",), floor=Tier.PROPRIETARY)
    schema = {
        "crm": secret,
        "t": {"a": ColumnClass(classification=ColumnKind.PHI), "b": Classification()},
    }
    out = lacuna.classify_sql("SELECT anything FROM crm", schema=schema)
    assert cls(out, "anything") is ColumnKind.PII
    assert out.classification.tier is Tier.PROPRIETARY
    out = lacuna.classify_sql("SELECT a, b FROM t", schema=schema, dialect="duckdb")
    assert (cls(out, "a"), cls(out, "b")) == (ColumnKind.PHI, ColumnKind.PUBLIC)


def test_classify_sql_update_and_merge():
    schema = {"customers": {"id": "identifier", "email": "pii", "region": "public"},
              "staging": {"id": "identifier", "email": "pii", "region": "public"}}  # fmt: skip
    full = lacuna.classify_sql(
        "UPDATE customers SET email = sha256(email || :key)", schema=schema, parameters={"key": KEY}
    )
    assert full.statement == "update"
    assert cls(full, "email") is ColumnKind.IDENTIFIER  # every row replaced
    partial = lacuna.classify_sql(
        "UPDATE customers SET email = md5(email || :key) WHERE region = 'EU'",
        schema=schema,
        parameters={"key": KEY},
    )
    assert cls(partial, "email") is ColumnKind.PII  # other rows keep the raw e-mail
    merge = lacuna.classify_sql(
        """MERGE INTO customers t USING staging s ON t.id = s.id
           WHEN MATCHED THEN UPDATE SET region = s.region
           WHEN NOT MATCHED THEN INSERT (id, email, region) VALUES (s.id, s.email, s.region)""",
        schema=schema,
        dialect="snowflake",
    )
    assert merge.statement == "merge"
    assert kinds(merge, "email") == {
        ("staging", "email"): EdgeKind.IDENTITY,
        ("customers", "email"): EdgeKind.IDENTITY,
    }
    assert set(merge.columns) == {"id", "email", "region"}


def test_classify_sql_insert_column_list_and_values():
    out = lacuna.classify_sql(
        "INSERT INTO t (a, b) SELECT email, region FROM customers", schema=SCHEMA
    )
    assert out.columns == ("a", "b")
    assert out.edges_of("a") == (
        ColumnEdge(source=DatasetRef("ansi", "customers"), source_column="email",
                   target=DatasetRef("ansi", "t"), target_column="a"),
    )  # fmt: skip
    values = lacuna.classify_sql("INSERT INTO t (a) VALUES (1)", schema=SCHEMA)
    assert values.edges == ()


@pytest.mark.parametrize(
    ("sql", "schema", "message"),
    [
        ("SELECT email FROM nowhere", SCHEMA, "not in schema="),
        ("SELECT FROM WHERE (", SCHEMA, "does not parse"),
        ("SELECT 1; SELECT 2", SCHEMA, "one SQL statement"),
        ("DROP TABLE customers", SCHEMA, "no column lineage"),
        ("SELECT a FROM t", {"t": {"a": "secretish"}}, "unknown column classification"),
        ("SELECT a FROM t", {"t": 3}, "must be"),
        ("SELECT a FROM t", {"t": {"a": 3}}, "must be"),
        ("SELECT a FROM t", {"t": {"a": "pii"}, "s.u": {"b": "pii"}}, "different depths"),
        ("INSERT INTO t (a, b) SELECT email FROM customers", SCHEMA, "names 2 column"),
    ],
)
def test_classify_sql_errors_are_lineage_errors(sql, schema, message):
    with pytest.raises(LineageError, match=message):
        lacuna.classify_sql(sql, schema=schema)


def test_classify_sql_unknown_dialect():
    with pytest.raises(LineageError, match="unknown SQL dialect"):
        lacuna.classify_sql("SELECT 1", schema={}, dialect="nosuchsql")


@pytest.mark.parametrize(
    ("dialect", "expression", "masked"),
    [
        ("duckdb", "regexp_replace(email, '.', '*')", False),  # DuckDB: the first match only
        ("duckdb", "regexp_replace(email, '.', '*', 'g')", True),
        ("duckdb", "regexp_replace(email, '.', '*', 'gl')", False),  # 'l': a literal pattern
        ("duckdb", "regexp_replace(email, '(?s).*', '*')", True),
        ("duckdb", "regexp_replace(email, '.*', '*')", False),  # the first line only
        ("postgres", "regexp_replace(email, '[^@]', 'x', 'g')", True),
        ("postgres", "regexp_replace(email, '[^@]', 'x')", False),
        ("spark", "regexp_replace(email, '.', '*')", True),  # Spark replaces every match
        ("snowflake", "regexp_replace(email, '.', '*', 1, 0)", True),  # occurrence 0: all
        ("snowflake", "regexp_replace(email, '.', '*', 1, 1)", False),
        ("snowflake", "regexp_replace(email, '.', '*', 3)", False),  # starts at the third
        ("bigquery", "regexp_replace(email, r'\\S', '*')", True),
        ("bigquery", "regexp_replace(email, r'^$', '*')", False),
    ],
)
def test_regexp_replace_redacts_only_what_it_provably_replaces(dialect, expression, masked):
    out = lacuna.classify_sql(
        f"SELECT {expression} AS x FROM customers", schema=SCHEMA, dialect=dialect
    )
    kinds = {e.kind for e in out.edges_of("x")}
    assert (kinds == {EdgeKind.MASKING}) is masked, out.edges
    assert out.classification.columns["x"].is_personal is not masked
    if not masked:
        assert "not redaction" in out.edges_of("x")[0].description


def test_pieces_of_one_column_rejoin_it_in_one_expression_in_a_cte_or_side_by_side():
    pieces = " || ".join(f"substring(email, {n}, 4)" for n in range(1, 33, 4))
    for sql in (
        f"SELECT {pieces} AS x FROM customers",
        "WITH p AS (SELECT left(email, 4) AS a, substring(email, 5, 4) AS b FROM customers) "
        "SELECT a || b AS x FROM p",
        "SELECT left(zip, 3) AS x, right(zip, 2) AS y FROM customers",  # rejoined by the reader
    ):
        out = lacuna.classify_sql(sql, schema=SCHEMA, dialect="duckdb")
        edge = out.edges_of("x")[0]
        assert edge.kind is EdgeKind.TRANSFORMATION, sql
        assert "different pieces" in edge.description
        assert out.classification.columns["x"].is_personal
    one = lacuna.classify_sql(  # one short prefix, however often, is still a generalisation
        "SELECT left(zip, 3) AS x, left(zip, 3) || 'xx' AS y FROM customers",
        schema=SCHEMA,
        dialect="duckdb",
    )
    assert {e.kind for e in one.edges} == {EdgeKind.MASKING}
    assert not any(c.is_personal for c in one.classification.columns.values())
    # of a quasi-identifier only: a cut of a direct identifier (left(email, 2), right(ssn, 4))
    # keeps its class
    cut = lacuna.classify_sql("SELECT left(email, 2) AS z FROM customers", schema=SCHEMA,
                              dialect="duckdb")
    assert [e.kind for e in cut.edges] == [EdgeKind.TRANSFORMATION]
    assert cut.classification.columns["z"].pii_type == "email"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT to_json(c) AS j FROM customers c",  # a row as JSON
        "SELECT c AS j FROM customers c",  # DuckDB: the row as a struct
        "WITH x AS (SELECT email FROM customers) SELECT x AS j FROM x",
        "SELECT row_to_json(c) AS j FROM customers c",
    ],
)
def test_classify_sql_a_whole_row_carries_every_column_of_it(sql):
    """A source named as a value is its whole row (DuckDB, PostgreSQL): it was read as a
    constant, so the e-mail left as PUBLIC."""
    out = lacuna.classify_sql(sql, schema=SCHEMA, dialect="duckdb")
    assert cls(out, "j") is ColumnKind.PII
    assert "email" in {e.source_column for e in out.edges_of("j")}


def test_classify_sql_duckdb_columns_pattern_fails_closed():
    out = lacuna.classify_sql(
        "SELECT COLUMNS('e.*') FROM customers", schema=SCHEMA, dialect="duckdb"
    )
    assert all(c.classification is ColumnKind.PII for c in out.classification.columns.values())
    out = lacuna.classify_sql(
        "SELECT count(c) AS n FROM customers c", schema=SCHEMA, dialect="duckdb"
    )
    assert cls(out, "n") is ColumnKind.PUBLIC  # counting rows reads no value


def _stored(sql: str, dialect: str, schema: dict | None = None) -> Classification:
    """What a CREATE TABLE … AS stores, read back as the lineage store reads it (JSON)."""
    out = lacuna.classify_sql(
        sql, schema=schema or SCHEMA, dialect=dialect, parameters={"key": KEY}
    )
    return Classification.from_dict(json.loads(json.dumps(out.classification.to_dict())))


@pytest.mark.parametrize("dialect", ["ansi", "duckdb", "postgres"])
def test_pieces_stored_in_different_tables_rejoin_the_column(dialect):
    a = _stored("CREATE TABLE a AS SELECT id, left(zip, 3) AS p FROM customers", dialect)
    b = _stored("CREATE TABLE b AS SELECT id, right(zip, 3) AS s FROM customers c", dialect)
    assert a.columns["p"].classification is ColumnKind.PUBLIC  # each piece alone: lowered
    assert b.columns["s"].classification is ColumnKind.PUBLIC
    schema = {"a": a, "b": b, **SCHEMA}
    for sql in (
        "SELECT a.p || b.s AS x FROM a JOIN b USING (id)",
        "SELECT a.p AS x, b.s AS y FROM a JOIN b ON a.id = b.id",
        "SELECT x FROM (SELECT p AS x FROM a UNION ALL SELECT s FROM b) u",
        "WITH j AS (SELECT a.p, b.s FROM a, b) SELECT concat(p, s) AS x FROM j",
    ):
        out = lacuna.classify_sql(sql, schema=schema, dialect=dialect)
        x = out.classification.columns["x"]
        assert (x.classification, x.pii_type) == (ColumnKind.PII, "zip"), sql
        assert "different pieces of 'zip'" in x.reasoning, sql
        assert out.classification.tier is Tier.PROPRIETARY
        assert {e.kind for e in out.edges_of("x")} == {EdgeKind.TRANSFORMATION}, sql
    # a stored piece meets a piece the statement cuts itself
    mixed = lacuna.classify_sql(
        "SELECT a.p || right(c.zip, 2) AS x FROM a JOIN customers c USING (id)",
        schema=schema,
        dialect=dialect,
    )
    assert mixed.classification.columns["x"].is_personal


ADDRESSES = {"customers": {"id": "identifier", "address": "pii:address"}}


def test_an_address_moved_out_four_characters_per_table_rejoins():
    tables = {}
    for i, n in enumerate(range(1, 33, 4)):
        tables[f"t{i}"] = _stored(
            f"CREATE TABLE t{i} AS SELECT id, substring(address, {n}, 4) AS s FROM customers",
            "duckdb",
            schema=ADDRESSES,
        )
        assert not tables[f"t{i}"].personal_columns
    names = list(tables)
    joins = " ".join(f"JOIN {t} USING (id)" for t in names[1:])
    for sql in (
        f"SELECT {' || '.join(f'{t}.s' for t in names)} AS e FROM t0 {joins}",
        f"SELECT {', '.join(f'{t}.s' for t in names)} FROM t0 {joins}",
        "SELECT t0.s || t5.s AS e FROM t0 JOIN t5 USING (id)",
    ):  # two are enough
        out = lacuna.classify_sql(sql, schema={**tables, **ADDRESSES}, dialect="duckdb")
        assert all(c.pii_type == "address" for c in out.classification.columns.values()), sql


def test_a_piece_twice_one_piece_masking_and_aggregates_stay_lowered():
    a = _stored("CREATE TABLE a AS SELECT id, left(zip, 3) AS p FROM customers", "duckdb")
    a2 = _stored(
        "CREATE TABLE a2 AS SELECT c.id, left(c.zip, 3) AS q FROM customers c", "duckdb"
    )  # the same piece, written another way
    h = _stored(
        "CREATE TABLE h AS SELECT id, sha256(zip || :key) AS k, "
        "regexp_replace(zip, '.', '*', 'g') AS r FROM customers",
        "duckdb",
    )
    n = _stored(
        "CREATE TABLE n AS SELECT region, count(DISTINCT zip) AS z FROM customers GROUP BY region",
        "duckdb",
    )
    assert not h.columns["k"].pieces  # a keyed hash and a redaction are no pieces
    assert not h.columns["r"].pieces
    assert not n.columns["z"].pieces  # nor is a count
    schema = {"a": a, "a2": a2, "h": h, "n": n, **SCHEMA}
    twice = lacuna.classify_sql(
        "SELECT a.p || '-' || a2.q AS x, a.p AS y FROM a JOIN a2 USING (id)",
        schema=schema,
        dialect="duckdb",
    )
    assert not twice.classification.personal_columns
    assert [p.sql for p in twice.classification.columns["x"].pieces] == ["LEFT(zip, 3)"]
    others = lacuna.classify_sql(
        "SELECT a.p, h.k, h.r, n.z FROM a JOIN h USING (id) CROSS JOIN n",
        schema=schema,
        dialect="duckdb",
    )
    assert not others.classification.personal_columns
    # a piece copied on keeps what it is a piece of; a piece of a piece counts as that piece
    copied = _stored(
        "CREATE TABLE c AS SELECT id, p AS pp, left(p, 2) AS p2 FROM a", "duckdb", schema
    )
    assert not copied.personal_columns  # with the piece it was cut from, still one piece
    assert copied.columns["pp"].pieces == a.columns["p"].pieces
    assert copied.columns["p2"].pieces == a.columns["p"].pieces
    b = _stored("CREATE TABLE b AS SELECT id, right(zip, 3) AS s FROM customers", "duckdb")
    for col in ("pp", "p2"):
        out = lacuna.classify_sql(
            f"SELECT c.{col} || b.s AS x FROM c JOIN b USING (id)",
            schema={"b": b, "c": copied, **SCHEMA},
            dialect="duckdb",
        )
        assert out.classification.columns["x"].is_personal, col


def test_pieces_are_kept_by_table_name_so_tables_of_another_database_do_not_meet():
    a = _stored("CREATE TABLE a AS SELECT id, left(zip, 3) AS p FROM customers", "duckdb")
    (piece,) = a.columns["p"].pieces
    assert (piece.table, piece.column, piece.sql) == ("duckdb/customers", "zip", "LEFT(zip, 3)")
    elsewhere = lacuna.classify_sql(  # another database's customers.zip is another column
        "CREATE TABLE b AS SELECT id, right(zip, 3) AS s FROM customers",
        schema=SCHEMA,
        dialect="duckdb",
        origins={"customers": "duckdb/other.duckdb#customers"},
    )
    b = elsewhere.classification
    assert b.columns["s"].pieces[0].table == "duckdb/other.duckdb#customers"
    out = lacuna.classify_sql(
        "SELECT a.p || b.s AS x FROM a JOIN b USING (id)", schema={"a": a, "b": b}, dialect="duckdb"
    )
    assert not out.classification.personal_columns


def test_a_column_class_round_trips_its_pieces_and_unreadable_ones_fail_closed():
    from lacuna.model import Piece, Sensitivity

    piece = Piece(
        table="sqlite/w.db#customers",
        column="zip",
        sql="LEFT(zip, 3)",
        classification=ColumnKind.PII,
        pii_type="zip",
        sensitivity=Sensitivity.MEDIUM,
    )
    col = ColumnClass(reasoning="masked", pieces=(piece,))
    assert ColumnClass.from_dict(json.loads(json.dumps(col.to_dict()))).pieces == (piece,)
    assert "pieces" not in ColumnClass().to_dict()  # what was stored before reads as before
    old = {"classification": "public", "sensitivity": "low", "reasoning": "x"}
    assert ColumnClass.from_dict(old).pieces == ()
    for bad in (
        "LEFT(zip, 3)",
        [{"table": "t", "column": "zip"}],
        [{"table": 1}],
        [{"table": "t", "column": "zip", "sql": "x", "classification": "nope"}],
        [3],
    ):
        read = ColumnClass.from_dict({**old, "pieces": bad})
        assert read.is_personal, bad
        assert "fail closed" in read.reasoning
    c = Classification.from_dict({"columns": {"p": {**old, "pieces": [piece.to_dict()]}}})
    assert c.columns["p"].pieces == (piece,)
