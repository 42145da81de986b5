"""A table of an ATTACHed DuckDB file carries what was written into it, never lowered.

Before: ``CREATE TABLE o.t AS …`` / ``INSERT INTO o.t SELECT …`` / ``rel.create('o.t')`` left
no record a later read of ``o.t`` finds (the lineage store keeps it under the alias the write
named, and a read looks under the connection's own URL): a column declared PII was read back
from its values alone, PUBLIC, and ``COPY o.t TO '~/Downloads/…'`` let it out, in the same
session as after ``DETACH``/``ATTACH … AS y``. And ``UPDATE o.t SET email = 'n/a'`` wrote
the table's comment as ``email`` public, which the next session read so. Real DuckDB files; the
database file is a classification-aware destination, so writing PII into it is allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation

duckdb = pytest.importorskip("duckdb")


@pytest.fixture
def con(sandbox: Path, sandbox_config: Callable[..., Any]) -> Any:
    db = sandbox / "o.duckdb"
    lacuna.enable(sandbox_config(destinations={
        "classification_aware_databases": [f"duckdb:///{db}"],
        "governed": [f"{sandbox / 'governed' / 'workspace'}/"],
        "unmanaged": [str(sandbox / "Downloads")]}))
    connection = duckdb.connect()
    try:
        connection.execute(f"ATTACH '{db}' AS o")
        # a column declared PII whose values show nothing (codes): only its record says so
        connection.execute("CREATE TABLE src AS SELECT 'code-' || range AS s, range AS i "
                           "FROM range(30)")
        connection.execute("COMMENT ON COLUMN src.s IS 'pii'")
        yield connection
    finally:
        connection.close()
        lacuna.disable()


def _reattached(con: Any, sandbox: Path) -> str:
    """The file detached and attached again under another alias (a later session's view)."""
    con.execute("DETACH o")
    con.execute(f"ATTACH '{sandbox / 'o.duckdb'}' AS y")
    return "y"


def _copy_denied(con: Any, table: str, out: Path) -> None:
    with pytest.raises(GovernanceViolation, match="PII"):
        con.execute(f"COPY {table} TO '{out}'")
    assert not out.exists()


@pytest.mark.parametrize("write", [
    lambda con: con.execute("CREATE TABLE o.t AS SELECT s, i FROM src"),
    lambda con: con.sql("SELECT s, i FROM src").create("o.t"),
    lambda con: (con.execute("CREATE TABLE o.t (s VARCHAR, i BIGINT)"),
                 con.execute("INSERT INTO o.t SELECT s, i FROM src")),
])
def test_a_class_written_into_an_attached_file_is_read_back_in_every_session(
        sandbox: Path, con: Any, write: Callable[[Any], Any]) -> None:
    out = sandbox / "Downloads" / "t.csv"
    write(con)
    _copy_denied(con, "o.t", out)
    _copy_denied(con, f"{_reattached(con, sandbox)}.t", out)


def test_public_rows_written_into_an_attached_file_still_leave(sandbox: Path, con: Any) -> None:
    out, plain = sandbox / "Downloads" / "t.csv", sandbox / "plain.csv"
    con.execute("CREATE TABLE o.t AS SELECT 'item-' || i AS v, i FROM src")
    con.execute("UPDATE o.t SET v = 'other-' || i WHERE i > 3")
    con.execute(f"COPY o.t TO '{out}'")
    with _bypass.bypass():
        con.execute(f"COPY o.t TO '{plain}'")
    assert out.read_bytes() == plain.read_bytes()


def test_an_update_writing_pii_into_an_attached_table_raises_it(sandbox: Path, con: Any) -> None:
    out = sandbox / "Downloads" / "t.csv"
    con.execute("CREATE TABLE o.t AS SELECT 'item-' || i AS v, i FROM src")
    con.execute("CREATE TABLE o.u AS SELECT 'item-' || i AS v, i FROM src")
    con.execute("UPDATE o.t SET v = 'kira@example.org' WHERE i = 3")  # a value
    con.execute("UPDATE o.u SET v = src.s FROM src WHERE src.i = u.i AND u.i = 3")  # a column
    _copy_denied(con, "o.t", out)
    _copy_denied(con, "o.u", out)
    alias = _reattached(con, sandbox)
    _copy_denied(con, f"{alias}.t", out)
    _copy_denied(con, f"{alias}.u", out)


def test_an_update_of_public_values_never_lowers_an_attached_pii_column(
        sandbox: Path, con: Any) -> None:
    out = sandbox / "Downloads" / "t.csv"
    con.execute("CREATE TABLE o.t AS SELECT s, i FROM src")
    con.execute("UPDATE o.t SET s = 'n/a'")  # every row: its values now look public
    _copy_denied(con, "o.t", out)
    _copy_denied(con, f"{_reattached(con, sandbox)}.t", out)


def test_an_update_of_an_attached_table_is_recorded_in_the_lineage_store(
        sandbox: Path, con: Any) -> None:
    """The UPDATE's column edges named the table as the connection's (``:memory:#o.t``), not
    the file's the run writes: the store refused the run, and its version was never kept."""
    from lacuna.governor import current
    from lacuna.lineage.records import DatasetRef

    ref = DatasetRef.of(f"duckdb:///{sandbox / 'o.duckdb'}#t")  # the file's t
    con.execute("CREATE TABLE o.t AS SELECT 'item-' || i AS v, i FROM src")
    con.execute("UPDATE o.t SET v = src.s FROM src WHERE src.i = t.i AND t.i = 3")
    latest = current().lineage_store.latest(ref)
    assert latest is not None
    assert latest.classification.columns["v"].is_personal


@pytest.mark.parametrize("table", ["m", "o.m"])  # in memory, in the attached file
def test_insert_by_name_is_recorded_by_the_columns_it_fills(sandbox: Path, con: Any,
                                                             table: str) -> None:
    """``INSERT … BY NAME`` puts each column of the query into the table's column of its
    name: it was recorded by position, ``a`` holding the codes, and ``b`` copied as PUBLIC."""
    out = sandbox / "Downloads" / "t.csv"
    con.execute(f"CREATE TABLE {table} (a VARCHAR, b VARCHAR)")
    con.execute(f"INSERT INTO {table} BY NAME SELECT s AS b, 'x' AS a FROM src")
    _copy_denied(con, f"(SELECT b FROM {table})", out)
    con.execute(f"COPY (SELECT a FROM {table}) TO '{out}'")  # the literal column leaves
    assert out.read_text().splitlines() == ["a", *["x"] * 30]
    assert con.sql(f"SELECT count(*) FROM {table} WHERE b LIKE 'code-%'").fetchall() == [(30,)]


def test_the_record_in_an_attached_tables_comment_cannot_be_replaced(sandbox: Path,
                                                                     con: Any) -> None:
    """The comment is the record that travels with the file: ``COMMENT ON TABLE o.t IS
    'hello'`` wiped it (attached, or the file opened directly), and the codes left as
    PUBLIC. A table without Lacuna's record still takes a comment."""
    from lacuna.errors import IntegrationError

    out = sandbox / "Downloads" / "t.csv"
    con.execute("CREATE TABLE o.t AS SELECT s, i FROM src")
    con.execute("CREATE TABLE o.notes (n VARCHAR)")
    with pytest.raises(IntegrationError, match="COMMENT ON COLUMN"):
        con.execute("COMMENT ON TABLE o.t IS 'hello'")
    con.execute("COMMENT ON TABLE o.notes IS 'scratch'")
    con.execute("DETACH o")
    direct = duckdb.connect(str(sandbox / "o.duckdb"))
    try:
        with pytest.raises(IntegrationError, match="COMMENT ON COLUMN"):
            direct.execute("COMMENT ON TABLE t IS NULL")
        _copy_denied(direct, "t", out)
        assert direct.sql("SELECT comment FROM duckdb_tables() WHERE table_name = 'notes'"
                          ).fetchall() == [("scratch",)]
    finally:
        direct.close()
