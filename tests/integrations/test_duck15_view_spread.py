"""``COPY v TO …`` of a DuckDB view reads the view's rows for classification once, not twice.

Before: the view was classified from its first rows and a reservoir sample over all its rows
(one pass over every row of the view), and the write then scanned every row again; the
catalog look-ups (which table, its columns, its comment) ran twice. Now a statement that
writes one catalog table or view whole (``COPY v TO``, ``CREATE TABLE t AS SELECT * FROM v``)
classifies it from its first rows, and a spread of all its rows is taken in the write's own
scan and classified as the reservoir's rows were; each look-up runs once. Nothing is lost:
e-mails past the first rows, or only in the rows the reservoir picks, are refused as before,
for a view and a view over a view; a statement that does not write the view whole keeps the
reservoir; a public view is written as plain DuckDB writes it. Real DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

duckdb = pytest.importorskip("duckdb")

ROWS = 3000  # more than classification.sample_rows (1,000): the reservoir is taken
LATE = (f"SELECT CASE WHEN range >= 1500 THEN 'p' || range || '@example.com' ELSE 'n/a' END "
        f"AS label, range AS n FROM range({ROWS})")


def _reservoir_only() -> str:
    """A view's query whose e-mails are only in rows the reservoir sample of the table's
    classification picks (``REPEATABLE (1013)``), none in its first 1,000 rows: computed with
    plain DuckDB, and checked that the reservoir does pick them."""
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW ids AS SELECT range AS n FROM range({ROWS})")
        picked = sorted(r[0] for r in con.sql(
            "SELECT n FROM ids USING SAMPLE reservoir(500 ROWS) REPEATABLE (1013)").fetchall()
            if r[0] >= 1000)[:40]
        assert picked
        query = (f"SELECT CASE WHEN range IN ({', '.join(map(str, picked))}) THEN 'p' || range "
                 f"|| '@example.com' ELSE 'n/a' END AS label, range AS n FROM range({ROWS})")
        con.execute(f"CREATE VIEW probe AS {query}")
        seen = con.sql("SELECT count(*) FROM (SELECT * FROM probe USING SAMPLE reservoir(500 "
                       "ROWS) REPEATABLE (1013)) WHERE label LIKE '%@%'").fetchall()[0][0]
        first = con.sql("SELECT count(*) FROM (SELECT * FROM probe LIMIT 1000) "
                        "WHERE label LIKE '%@%'").fetchall()[0][0]
        assert seen > 0
        assert first == 0
        return query
    finally:
        con.close()


@pytest.fixture
def con(governed: Path) -> Iterator[Any]:
    connection = duckdb.connect()
    try:
        yield connection
    finally:
        connection.close()


def _view(con: Any, query: str, how: str) -> str:
    """View ``v`` of ``query``, made through Lacuna or where it does not see it; ``over``: a
    view ``w`` over ``v`` (returned: the name to copy)."""
    made, _, over = how.partition("+")
    if made == "governed":
        con.execute(f"CREATE VIEW v AS {query}")
    else:
        with _bypass.bypass():
            con.execute(f"CREATE VIEW v AS {query}")
    if not over:
        return "v"
    con.execute("CREATE VIEW w AS SELECT * FROM v")
    return "w"


_HOW = ["governed", "unseen", "governed+over", "unseen+over"]


@pytest.mark.parametrize("how", _HOW)
@pytest.mark.parametrize("rows", ["past row 1,500", "only where the reservoir samples"])
def test_e_mails_past_the_first_rows_of_a_view_are_refused(
        governed: Path, con: Any, how: str, rows: str) -> None:
    query = LATE if rows.startswith("past") else _reservoir_only()
    name = _view(con, query, how)
    for copy in (f"COPY {name} TO '{{out}}'",  # written whole: the spread is in the scan
                 f"COPY (SELECT * FROM {name}) TO '{{out}}'",
                 f"COPY (SELECT md5(label) AS h, n FROM {name}) TO '{{out}}'",  # not whole
                 f"COPY (SELECT * FROM {name} WHERE n >= 0) TO '{{out}}'"):
        out = governed / "Downloads" / "v.csv"
        with pytest.raises(GovernanceViolation, match="PII"):
            con.execute(copy.format(out=out))
        assert not out.exists()
    con.execute(f"CREATE TABLE t AS SELECT * FROM {name}")  # into memory: carried, then
    with pytest.raises(GovernanceViolation, match="PII"):  # refused on the way out
        con.execute(f"COPY t TO '{governed / 'Downloads' / 't.csv'}'")


@pytest.mark.parametrize("how", _HOW)
def test_a_public_view_is_written_as_plain_duckdb_writes_it(governed: Path, con: Any,
                                                          how: str) -> None:
    name = _view(con, f"SELECT 'item-' || range AS label, range AS n FROM range({ROWS})", how)
    out, plain = governed / "Downloads" / "v.csv", governed / "plain.csv"
    con.execute(f"COPY {name} TO '{out}'")
    con.execute(f"COPY {name} TO '{out}'")  # again: the spread's class from the cache
    with _bypass.bypass():
        con.execute(f"COPY {name} TO '{plain}'")
    assert out.read_bytes() == plain.read_bytes()
    assert len(out.read_text().splitlines()) == ROWS + 1


def test_a_whole_view_is_read_once_for_its_classification_and_each_look_up_made_once(
        governed: Path, con: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Lacuna asks the database itself (its catalog look-ups and samples): no reservoir
    pass for ``COPY v TO``, each look-up once; a read of the view still takes the reservoir
    (what a read is classified on is unchanged)."""
    from lacuna.sql.catalog import Database

    asked: list[str] = []
    query = Database.query

    def recorded(self: Any, sql: str) -> Any:
        asked.append(" ".join(sql.split()))
        return query(self, sql)

    monkeypatch.setattr(Database, "query", recorded)
    _view(con, LATE, "unseen")
    with pytest.raises(GovernanceViolation, match="PII"):
        con.execute(f"COPY v TO '{governed / 'Downloads' / 'v.csv'}'")
    assert not [q for q in asked if "reservoir" in q], asked
    for look_up in ("FROM duckdb_columns()", "SELECT database_name, schema_name FROM",
                    "SELECT sql FROM duckdb_tables()"):
        assert len([q for q in asked if look_up in q]) == 1, (look_up, asked)
    asked.clear()
    assert len(con.execute("SELECT * FROM v").fetchall()) == ROWS
    assert [q for q in asked if "reservoir" in q], asked
