"""DuckDB tables and files are classified by what all their rows hold, not by their first rows.

Before: a table's class came from its first 1,000 rows (and Lacuna's record of what was
written into it), so ``UPDATE t SET v = 'p' || rowid || '@example.com' WHERE rowid > 1400``,
an ``INSERT`` after them or rows written without Lacuna were copied to ~/Downloads as PUBLIC;
a file's class came from ``LIMIT 1000``, so a CSV of 1,500 ``n/a`` then 500 e-mail addresses
was copied as PUBLIC (pandas, sampling evenly over the frame, denied it). Real DuckDB, real
files; the allowed paths are compared with the same write without Lacuna."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation, IntegrationError

duckdb = pytest.importorskip("duckdb")

FIRST = "CREATE TABLE {t} AS SELECT 'n/a' AS v, range AS i FROM range(1500)"


@pytest.fixture
def con(governed: Path) -> Any:
    return duckdb.connect()


def _denied(write: Callable[[], Any], target: Path, why: str = r"PII \(email\)") -> None:
    with pytest.raises(GovernanceViolation, match=why):
        write()
    assert not target.exists()


def _plain(con: Any, sql: str) -> None:
    with _bypass.bypass():
        con.execute(sql)


@pytest.mark.parametrize("change", [
    "UPDATE t SET v = 'p' || rowid || '@example.com' WHERE rowid > 1400",
    "INSERT INTO t SELECT 'p' || range || '@example.com', range FROM range(100)",
    "INSERT INTO t VALUES ('kira@example.org', 2000)",
])
def test_a_table_changed_after_its_first_rows_is_not_copied_as_public(
        governed: Path, con: Any, change: str) -> None:
    out = governed / "Downloads" / "t.csv"
    con.execute(FIRST.format(t="t"))
    con.execute(change)
    _denied(lambda: con.execute(f"COPY t TO '{out}'"), out)
    _denied(lambda: con.sql("SELECT v FROM t WHERE i > 0").write_csv(str(out)), out)


def test_rows_written_without_lacuna_are_read_whole_at_a_write(governed: Path, con: Any) -> None:
    """Rows Lacuna never saw written (before ``enable``, another process) and the first rows
    deleted: the table's class from its first rows was PUBLIC."""
    out = governed / "Downloads" / "t.csv"
    _plain(con, "CREATE TABLE t AS SELECT CASE WHEN range >= 1500 THEN 'p' || range || "
                "'@example.com' ELSE 'n/a' END AS v FROM range(2000)")
    _denied(lambda: con.execute(f"COPY t TO '{out}'"), out)
    con.execute("DELETE FROM t WHERE v = 'n/a'")
    _denied(lambda: con.execute(f"COPY (SELECT * FROM t) TO '{out}'"), out)


def test_a_public_table_is_still_written_as_plain_duckdb_writes_it(governed: Path,
                                                                   con: Any) -> None:
    out, plain = governed / "Downloads" / "t.csv", governed / "plain.csv"
    con.execute(FIRST.format(t="t"))
    con.execute("UPDATE t SET v = 'item-' || rowid WHERE rowid > 1400")
    con.execute(f"COPY t TO '{out}'")
    _plain(con, f"COPY t TO '{plain}'")
    assert out.read_bytes() == plain.read_bytes()


def _late_file(path: Path, late: Callable[[int], str]) -> None:
    path.write_text("v\n" + "n/a\n" * 1500 + "".join(f"{late(i)}\n" for i in range(500)))


@pytest.mark.parametrize("source", ["'late.csv'", "read_csv('late.csv')"])
def test_a_file_with_late_values_is_sampled_over_all_its_rows(governed: Path, con: Any,
                                                               source: str) -> None:
    _late_file(governed / "late.csv", lambda i: f"p{i}@example.com")
    out = governed / "Downloads" / "b.csv"
    _denied(lambda: con.execute(f"COPY (SELECT * FROM {source}) TO '{out}'"), out)
    _denied(lambda: con.sql(f"SELECT * FROM {source}").write_parquet(str(out)), out)


def test_a_file_of_public_rows_is_still_written(governed: Path, con: Any) -> None:
    _late_file(governed / "late.csv", lambda i: f"item-{i}")
    out, plain = governed / "Downloads" / "b.csv", governed / "plain.csv"
    con.execute(f"COPY (SELECT * FROM 'late.csv') TO '{out}'")
    _plain(con, f"COPY (SELECT * FROM 'late.csv') TO '{plain}'")
    assert out.read_bytes() == plain.read_bytes()


def test_a_file_lacuna_declared_is_not_read_whole(governed: Path, con: Any) -> None:
    """A trusted sidecar binds the file's content: its first rows are sample enough (a file
    of a million rows is not read for a sample). Changed since, it is read whole again."""
    from lacuna.integrations.duckdb import _declared

    out = governed / "Downloads" / "d.parquet"
    con.sql("SELECT 'item-' || range AS v FROM range(2000)").write_parquet(str(out))
    assert _declared(str(out))
    _plain(con, f"COPY (SELECT 'p' || range || '@example.com' AS v FROM range(9)) TO '{out}'")
    assert not _declared(str(out))


def _comment(con: Any, table: str) -> str:
    with _bypass.bypass():
        return str(con.sql("SELECT comment FROM duckdb_tables() WHERE table_name = "
                           f"'{table}'").fetchall()[0][0])


def test_values_written_into_an_in_memory_table_are_carried_by_it(governed: Path,
                                                                    con: Any) -> None:
    """``INSERT … VALUES`` and ``UPDATE`` into memory are reads, as ``CREATE TABLE … AS``
    into memory is (they were refused as exports "to a database without classification
    support"); the table carries what they wrote, by column."""
    out = governed / "Downloads" / "m.csv"
    con.execute("CREATE TABLE t (v VARCHAR, n INTEGER)")
    con.execute("INSERT INTO t (n, v) VALUES (1, 'kira@example.org')")
    assert '"v":{"classification":"pii","pii_type":"email"' in _comment(con, "t")
    assert '"n":{"classification":"public"' in _comment(con, "t")
    _denied(lambda: con.execute(f"COPY (SELECT v FROM t) TO '{out}'"), out)
    con.execute(f"COPY (SELECT n FROM t) TO '{out}'")  # the other column: allowed
    assert out.read_text().split() == ["n", "1"]
    # a value from a classified table, which no pattern would find again (a name)
    con.execute("CREATE TABLE c AS SELECT * FROM 'customers.csv'")
    con.execute("CREATE TABLE s AS SELECT 'n/a' AS who, range AS i FROM range(3)")
    con.execute("UPDATE s SET who = (SELECT max(name) FROM c) WHERE i = 2")
    assert '"who":{"classification":"pii","pii_type":"name"' in _comment(con, "s")
    named = governed / "Downloads" / "s.csv"
    _denied(lambda: con.execute(f"COPY s TO '{named}'"), named, r"PII \(name\)")


@pytest.mark.parametrize("sql", ["CREATE TYPE mood AS ENUM ('happy', 'sad')",
                                 "CREATE TYPE pair AS STRUCT(a INTEGER, b VARCHAR)"])
def test_a_type_holds_no_data_and_is_created(governed: Path, con: Any, sql: str) -> None:
    con.execute(sql)
    with _bypass.bypass():
        assert con.sql("SELECT count(*) FROM duckdb_types() WHERE type_name IN "
                       "('mood', 'pair')").fetchall() == [(1,)]


@pytest.mark.parametrize(("sql", "why"), [
    ("CREATE TYPE m AS ENUM ('kira@example.org', 'b')", "labels that are data"),
    ("CREATE TYPE m AS ENUM (SELECT email FROM c)", "from a query"),
])
def test_an_enum_of_data_is_refused(governed: Path, con: Any, sql: str, why: str) -> None:
    con.execute("CREATE TABLE c AS SELECT * FROM 'customers.csv'")
    with pytest.raises(IntegrationError, match=why):
        con.execute(sql)
    with _bypass.bypass():
        assert con.sql("SELECT count(*) FROM duckdb_types() WHERE type_name = 'm'"
                       ).fetchall() == [(0,)]


def test_a_refused_write_over_a_reader_leaves_the_reader_unread(governed: Path,
                                                                con: Any) -> None:
    """A reader Lacuna cannot see the rows of is PROPRIETARY (fail closed), and its rows are
    the user's: ``project`` sampled the relation for the classes of its columns, which read
    the reader, and the refused write left it empty."""
    import pyarrow as pa

    table = pa.table({"i": list(range(10))})
    reader = table.to_reader()
    out = governed / "Downloads" / "r.csv"
    _denied(lambda: con.from_arrow(reader).project("random() AS r, i").write_csv(str(out)),
            out, "PROPRIETARY")
    assert reader.read_all() == table
    reader = table.to_reader()  # the allowed path (governed storage): the write reads it
    kept = governed / "governed" / "workspace" / "r.parquet"
    con.from_arrow(reader).project("i").write_parquet(str(kept))
    assert kept.stat().st_size > 0
    assert reader.read_all().num_rows == 0


def test_an_insert_naming_its_columns_is_carried_into_those_columns(governed: Path,
                                                                     con: Any) -> None:
    """``INSERT INTO t (b, a) SELECT md5(email), region``: the hashes go into ``b``, whose
    values no pattern reads as personal (their class is the lineage's); the table's record
    put them in ``a`` (the table's first column) and ``b`` was copied out as PUBLIC."""
    con.execute("CREATE TABLE c AS SELECT * FROM 'customers.csv'")
    con.execute("CREATE TABLE t (a VARCHAR, b VARCHAR)")
    con.execute("INSERT INTO t (b, a) SELECT md5(email), region FROM c")
    out = governed / "Downloads" / "t.csv"
    _denied(lambda: con.execute(f"COPY (SELECT b FROM t) TO '{out}'"), out, "PII")
    con.execute(f"COPY (SELECT a FROM t) TO '{out}'")  # the regions: allowed
    assert out.read_text().split()[0] == "a"


def test_a_column_classified_other_than_personal_is_scanned_too(governed: Path,
                                                                 con: Any) -> None:
    """A column declared financial holds no more than its first rows showed either: rows
    changed where Lacuna did not see it are found at the write."""
    con.execute("CREATE TABLE ids AS SELECT 'cust-' || range AS customer_id FROM range(1500)")
    con.execute("COMMENT ON COLUMN ids.customer_id IS 'financial'")
    from lacuna.integrations.duckdb import relation_state

    held = relation_state(con.sql("SELECT * FROM ids")).classification.columns["customer_id"]
    assert held.classification.value == "financial"
    _plain(con, "UPDATE ids SET customer_id = 'p' || rowid || '@example.com' WHERE rowid > 1400")
    out = governed / "Downloads" / "ids.csv"
    _denied(lambda: con.execute(f"COPY ids TO '{out}'"), out)


@pytest.mark.parametrize("read", ["con.read_csv", "con.from_csv_auto", "duckdb.read_csv"])
def test_a_file_a_relation_reads_is_sampled_over_all_its_rows(governed: Path, con: Any,
                                                               read: str) -> None:
    """``con.read_csv(…)`` and friends sampled the file's first rows (``rel.limit``)."""
    _late_file(governed / "late.csv", lambda i: f"p{i}@example.com")
    out = governed / "Downloads" / "b.csv"
    reader = getattr(con if read.startswith("con.") else duckdb, read.split(".")[1])
    _denied(lambda: reader("late.csv").write_csv(str(out)), out)


def test_a_files_first_rows_are_still_in_its_sample(governed: Path, con: Any) -> None:
    """Half the sample is the file's first rows, as before: a reservoir alone could miss
    the few e-mails a file starts with."""
    (governed / "early.csv").write_text("v\n" + "".join(f"p{i}@example.com\n" for i in range(5))
                                        + "n/a\n" * 20000)
    out = governed / "Downloads" / "e.csv"
    _denied(lambda: con.execute(f"COPY (SELECT * FROM 'early.csv') TO '{out}'"), out)


def test_a_read_of_a_table_sees_past_its_first_rows(governed: Path, con: Any) -> None:
    """A read (no write, no scan) is classified on half the table's first rows and half a
    reservoir over all of them: the e-mails an UPDATE wrote past the first 1,000 rows were
    read (and audited) as PUBLIC."""
    from lacuna.integrations.duckdb import relation_state

    con.execute(FIRST.format(t="t"))
    con.execute("UPDATE t SET v = 'p' || rowid || '@example.com' WHERE rowid >= 1000")
    held = relation_state(con.sql("SELECT v FROM t")).classification.columns["v"]
    assert held.pii_type == "email"
    con.execute(FIRST.format(t="u"))
    assert not relation_state(con.sql("SELECT v FROM u")).classification.columns["v"].is_personal
