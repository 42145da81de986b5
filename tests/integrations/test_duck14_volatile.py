"""Rows a DuckDB statement draws anew at each run are drawn once: the rows classified are the
rows written, whatever function draws them.

Before, only ``random()``, ``uuid()``/``gen_random_uuid()``, ``uuidv4/7`` and the query and
connection ids were held once. A query over the clock (``now()``, ``current_timestamp``), the
transaction id or a sample without a seed (``USING SAMPLE``) ran once for Lacuna's sample and
scan and again for the write: ``WHERE microsecond(now()) % 2 = 0`` was sampled with no rows
and then wrote e-mails, and ``CASE WHEN txid_current() % 2 = 0 THEN <e-mail> …`` was sampled
as ``'n/a'`` and written as e-mail addresses to ~/Downloads. ``setval`` (like ``nextval``)
refuses the sample instead of advancing a sequence. Real DuckDB, in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna.errors import GovernanceViolation, IntegrationError
from lacuna.integrations.duckdb import computed, statement_state

duckdb = pytest.importorskip("duckdb")

MAIL = "'p' || range || '@example.com'"


@pytest.fixture
def con(governed: Path) -> Any:
    return duckdb.connect()


@pytest.mark.parametrize("drawn", [
    "now()", "current_timestamp", "get_current_timestamp()", "transaction_timestamp()",
    "current_time", "current_date", "current_localtimestamp()", "txid_current()",
    "random()", "uuid()", "gen_random_uuid()", "uuidv7()",
])
def test_a_statement_over_a_drawing_function_is_held_once(con: Any, drawn: str) -> None:
    state, _ = statement_state(con, f"SELECT {MAIL} AS e FROM range(5) WHERE {drawn} IS NOT NULL")
    assert computed.draws(state.lineage)


@pytest.mark.parametrize("sample", ["USING SAMPLE 50%", "TABLESAMPLE reservoir(3 ROWS)"])
def test_a_sample_without_a_seed_is_held_once_and_one_with_a_seed_is_not(
        con: Any, sample: str) -> None:
    drawn, _ = statement_state(con, f"SELECT {MAIL} AS e FROM range(9) {sample}")
    seeded, _ = statement_state(con, f"SELECT {MAIL} AS e FROM range(9) {sample} REPEATABLE (3)")
    plain, _ = statement_state(con, f"SELECT {MAIL} AS e FROM range(9)")
    assert computed.draws(drawn.lineage)
    assert not computed.draws(seeded.lineage)
    assert not computed.draws(plain.lineage)


WRITES: dict[str, Callable[[Any, str, Path], Any]] = {
    "copy": lambda con, q, out: con.execute(f"COPY ({q}) TO '{out}'"),
    "write_csv": lambda con, q, out: con.sql(q).write_csv(str(out)),
    "view": lambda con, q, out: (con.execute(f"CREATE OR REPLACE VIEW v AS {q}"),
                                 con.execute(f"COPY v TO '{out}'")),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_rows_drawn_by_the_transaction_id_are_classified_as_written(
        governed: Path, con: Any, write: str) -> None:
    """Each parity in turn: whichever transaction the rows are drawn in, a write either is
    denied or writes no e-mail (before, the sample's run and the write's differed)."""
    out = governed / "Downloads" / "t.csv"
    for parity in (0, 1, 0, 1):
        out.unlink(missing_ok=True)
        query = (f"SELECT CASE WHEN txid_current() % 2 = {parity} THEN {MAIL} ELSE 'n/a' END "
                 "AS e FROM range(50)")
        try:
            WRITES[write](con, query, out)
        except GovernanceViolation:
            assert not out.exists()
            continue
        assert "@" not in out.read_text()


def test_a_public_write_stamped_with_the_clock_is_written_whole(governed: Path,
                                                                 con: Any) -> None:
    out = governed / "Downloads" / "t.csv"
    query = "SELECT 'item-' || range AS v, now() AS stamped, random() AS r FROM range(50)"
    con.execute(f"COPY ({query}) TO '{out}'")
    lines = out.read_text().splitlines()
    assert lines[0] == "v,stamped,r"
    assert [line.split(",")[0] for line in lines[1:]] == [f"item-{i}" for i in range(50)]
    con.execute(f"CREATE TABLE m AS {query}")
    assert con.sql("SELECT count(*), count(DISTINCT stamped) FROM m").fetchall() == [(50, 1)]


def test_setval_refuses_the_sample_as_nextval_does(governed: Path, con: Any) -> None:
    out = governed / "Downloads" / "t.csv"
    con.execute("CREATE SEQUENCE s")
    with pytest.raises(IntegrationError, match="nextval"):
        con.execute(f"COPY (SELECT 'p' || setval('s', 5) || '@x' AS e) TO '{out}'")
    assert not out.exists()


def test_a_view_whose_rows_are_drawn_anew_is_copied_from_rows_held_once(
        governed: Path, con: Any) -> None:
    """``current_query()`` tells the sample's run from the write's: the view's rows were
    sampled as ``'n/a'`` and copied as e-mail addresses. Held once, they are what is written."""
    out = governed / "Downloads" / "t.csv"
    con.execute(f"CREATE VIEW v AS SELECT CASE WHEN current_query() ILIKE 'copy%' THEN {MAIL} "
                "ELSE 'n/a' END AS e, range AS i FROM range(50)")
    for copy in (f"COPY v TO '{out}'", f"COPY v (e) TO '{out}'"):
        out.unlink(missing_ok=True)
        try:
            con.execute(copy)
        except GovernanceViolation:
            assert not out.exists()
            continue
        assert "@" not in out.read_text()
