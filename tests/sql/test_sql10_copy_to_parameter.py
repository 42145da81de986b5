"""``COPY … TO ?``: DuckDB binds the file from a parameter (and psycopg2 writes ``%(f)s`` into
the SQL), so the file Lacuna decided was the parameter's name, ``?`` (a relative path that is
nowhere in particular), while the rows went to the bound path. DuckDB also takes an expression
(``COPY t TO ('~/Downloads/' || 'c.csv')``), whose file Lacuna read as "", the client
(``STDOUT``): e-mails went to ``~/Downloads`` as a read. Lacuna cannot read which file either
writes: unknown, refused saying so; the path written in the statement is decided as before."""

from __future__ import annotations

import duckdb
import pytest

from lacuna.errors import GovernanceViolation
from lacuna.sql.statements import analyse


@pytest.mark.parametrize(("dialect", "sql"), [
    ("duckdb", "COPY customers TO ? (HEADER)"),
    ("duckdb", "COPY (SELECT email FROM customers) TO $1"),
    ("postgres", "COPY customers TO %s"),
    ("postgres", "COPY (SELECT email FROM customers) TO %(f)s WITH CSV"),
    ("duckdb", "COPY customers TO ('/home/me/Downloads/' || 'c.csv')"),  # was STDOUT
])
def test_a_copy_to_a_bound_or_computed_file_is_unknown(dialect, sql):
    stmt = analyse(sql, dialect)
    assert (stmt.kind, stmt.file) == ("unknown", None)
    assert "Lacuna cannot read which file it writes" in (stmt.problem or "")


@pytest.mark.parametrize(("dialect", "sql", "file"), [
    ("duckdb", "COPY customers TO 'x.csv' (HEADER)", "x.csv"),
    ("duckdb", 'COPY customers TO "x.csv"', "x.csv"),
    ("duckdb", "COPY customers TO $$x.csv$$", "x.csv"),
    ("postgres", "COPY customers TO E'/tmp/x.csv'", "/tmp/x.csv"),
    ("postgres", "COPY customers TO STDOUT WITH CSV", "STDOUT"),
])
def test_a_copy_to_a_written_file_is_an_export_as_before(dialect, sql, file):
    assert (analyse(sql, dialect).kind, analyse(sql, dialect).file) == ("export", file)


def test_the_bound_file_is_refused_and_a_written_one_decided(make_db, governed_engine, sandbox):
    engine = governed_engine(make_db("duckdb"))
    out = sandbox / "Downloads" / "c.csv"
    with pytest.raises(GovernanceViolation, match="bound parameter"), engine.begin() as conn:
        conn.exec_driver_sql("COPY (SELECT email FROM customers) TO ? (HEADER)", (str(out),))
    with pytest.raises(GovernanceViolation, match="an expression"), engine.begin() as conn:
        conn.exec_driver_sql(  # decided as COPY … TO STDOUT: a read by the client
            f"COPY (SELECT email FROM customers) TO ('{out.parent}/' || 'c.csv')")
    assert not out.exists()
    with engine.begin() as conn:  # the allowed path: what DuckDB writes itself
        conn.exec_driver_sql(f"COPY (SELECT DISTINCT region FROM customers ORDER BY 1) TO "
                             f"'{out}' (HEADER)")
    plain = duckdb.connect()
    expected = plain.execute("SELECT DISTINCT region FROM read_csv(?) ORDER BY 1",
                             [str(sandbox / "customers.csv")]).fetchall()
    assert plain.execute("SELECT * FROM read_csv(?)", [str(out)]).fetchall() == expected
    plain.close()


@pytest.mark.parametrize(("sql", "file"), [
    ("VACUUM INTO lower('/HOME/ME/DOWNLOADS/X.DB')", None),  # wrote /home/me/downloads/x.db
    ("VACUUM INTO '/tmp/' || 'x.db'", None),
    ("VACUUM main INTO ?", None),
    ("VACUUM main INTO '/tmp/x.db';", "/tmp/x.db"),
    ("/* c */ vacuum/**/into 'x.db'", "x.db"),
])
def test_vacuum_into_reads_only_a_written_path(sql, file):
    stmt = analyse(sql, "sqlite")
    assert (stmt.kind, stmt.file) == ("unknown" if file is None else "export", file)
