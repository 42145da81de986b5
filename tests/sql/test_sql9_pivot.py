"""DuckDB's simplified ``PIVOT``/``UNPIVOT`` statement used as a query (``FROM (UNPIVOT
customers ON email, region INTO NAME k VALUE v)``): column lineage did not follow it, so
``COPY (SELECT v FROM (UNPIVOT …)) TO '~/Downloads/p.csv'`` wrote the e-mails as PUBLIC. It is
unknown now (fail closed), saying to write the clause form, which Lacuna follows."""

from __future__ import annotations

import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.sql.statements import analyse

SIMPLIFIED = "SELECT v FROM (UNPIVOT {t} ON {a}, {b} INTO NAME k VALUE v)"
CLAUSE = "SELECT k, v FROM {t} UNPIVOT (v FOR k IN ({a}, {b})) ORDER BY k, v"


@pytest.mark.parametrize("sql", [
    "COPY (" + SIMPLIFIED.format(t="customers", a="email", b="region") + ") TO 'p.csv'",
    "CREATE TABLE x AS SELECT * FROM (PIVOT customers ON region USING first(email))",
    "WITH u AS (UNPIVOT customers ON email, region INTO NAME k VALUE v) SELECT v FROM u",
    "INSERT INTO x SELECT v FROM (UNPIVOT customers ON email, region INTO NAME k VALUE v)",
])
def test_a_pivot_statement_inside_a_query_is_unknown(sql):
    stmt = analyse(sql, "duckdb")
    assert stmt.kind == "unknown"
    assert "UNPIVOT (v FOR k IN" in (stmt.problem or "")


@pytest.mark.parametrize("sql", [
    CLAUSE.format(t="customers", a="email", b="region"),
    "SELECT * FROM customers PIVOT (first(email) FOR region IN ('AMER', 'EMEA'))",
])
def test_the_clause_form_is_read(sql):
    assert analyse(sql, "duckdb").kind == "read"


def test_the_simplified_form_is_refused_and_the_clause_form_copies_as_duckdb_does(
        make_db, governed_engine, sandbox):
    engine = governed_engine(make_db("duckdb"))
    out = sandbox / "Downloads"
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE pub (id INTEGER, a TEXT, b TEXT)")
        conn.exec_driver_sql("INSERT INTO pub VALUES (1, 'north', 'east'), (2, 'south', 'west')")
    leak = SIMPLIFIED.format(t="customers", a="email", b="region")
    with pytest.raises(GovernanceViolation, match="UNPIVOT"), engine.begin() as conn:
        conn.exec_driver_sql(f"COPY ({leak}) TO '{out / 'p.csv'}' (HEADER)")
    assert not (out / "p.csv").exists()
    public = CLAUSE.format(t="pub", a="a", b="b")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"COPY ({public}) TO '{out / 'q.csv'}' (HEADER)")
    with _bypass.bypass(), engine.begin() as conn:  # plain DuckDB
        conn.exec_driver_sql(f"COPY ({public}) TO '{out / 'plain.csv'}' (HEADER)")
    assert (out / "q.csv").read_text() == (out / "plain.csv").read_text()
    assert "north" in (out / "q.csv").read_text()
