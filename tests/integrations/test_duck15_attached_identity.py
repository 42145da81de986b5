"""A table of a DuckDB file is ONE dataset in the lineage store, however it was reached.

Before: the store named a table of an ATTACHed file by the alias the statement used
(``b.duckdb#x.t``), so the same file's table written as ``x.t`` and later as ``z.t`` was two
datasets, one of them a stale PUBLIC version, and neither was ``b.duckdb#t``, the name a
connection that opens the file itself reads and writes. Now each is ``b.duckdb#t``, with one
history. Two files attached one after the other under one alias stay two datasets. Real
DuckDB files; they are classification-aware destinations, so writing PII into them is
allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.lineage.records import DatasetRef

duckdb = pytest.importorskip("duckdb")

_PUBLIC = "SELECT 'item-' || range AS s, range AS i FROM range(30)"


@pytest.fixture
def files(sandbox: Path, sandbox_config: Callable[..., Any]) -> Any:
    a, b = sandbox / "a.duckdb", sandbox / "b.duckdb"
    lacuna.enable(sandbox_config(destinations={
        "classification_aware_databases": [f"duckdb:///{a}", f"duckdb:///{b}"],
        "governed": [f"{sandbox / 'governed' / 'workspace'}/"],
        "unmanaged": [str(sandbox / "Downloads")]}))
    try:
        yield a, b
    finally:
        lacuna.disable()


def _memory() -> Any:
    """An in-memory connection with a table whose column is declared PII (codes: only the
    comment says so)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE src AS SELECT 'code-' || range AS s, range AS i FROM range(30)")
    con.execute("COMMENT ON COLUMN src.s IS 'pii'")
    return con


def _store() -> Any:
    from lacuna.governor import current

    return current().lineage_store


def _datasets_of(file: Path) -> dict[str, list[str]]:
    """Every dataset of ``file`` the store's runs wrote, each with the ids of those runs."""
    found: dict[str, list[str]] = {}
    for run in _store().runs(limit=None):
        for version in run.outputs:
            if str(file) in str(version.dataset):
                found.setdefault(str(version.dataset), []).append(run.id)
    return found


def test_one_files_table_written_through_two_aliases_and_directly_is_one_dataset(
        sandbox: Path, files: tuple[Path, Path]) -> None:
    _, b = files
    con = _memory()
    con.execute(f"ATTACH '{b}' AS x")
    con.execute(f"CREATE TABLE x.t AS {_PUBLIC}")  # PUBLIC, as x.t
    con.execute("DETACH x")
    con.close()
    direct = duckdb.connect(str(b))  # the file opened itself: its t
    try:
        direct.execute(f"INSERT INTO t {_PUBLIC}")
    finally:
        direct.close()
    con = _memory()
    con.execute(f"ATTACH '{b}' AS z")
    con.execute("UPDATE z.t SET s = 'other' WHERE i = 0")  # run_governed's path, as z.t
    con.execute("INSERT INTO z.t SELECT s, i FROM src")  # the declared PII, as z.t
    con.close()

    ref = DatasetRef.of(f"duckdb:///{b}#t")
    datasets = _datasets_of(b)
    assert list(datasets) == [str(ref)], datasets  # one dataset, no alias in its name
    assert len(datasets[str(ref)]) == 4  # its one history: the four writes
    latest = _store().latest(ref)
    assert latest is not None
    assert latest.classification.columns["s"].is_personal  # the strictest, written last
    for alias in ("x", "z"):
        assert _store().latest(DatasetRef.of(f"duckdb:///{b}#{alias}.t")) is None


def test_a_read_through_an_alias_consults_the_files_record(
        sandbox: Path, files: tuple[Path, Path]) -> None:
    """The file opened itself wrote the PII (its record is ``b.duckdb#t``); attached as ``y``
    in another connection, its comment wiped where Lacuna does not see it, the store still
    says what the table holds."""
    from lacuna import _bypass

    _, b = files
    direct = duckdb.connect(str(b))
    try:
        direct.execute("CREATE TABLE src AS SELECT 'code-' || range AS s FROM range(30)")
        direct.execute("COMMENT ON COLUMN src.s IS 'pii'")
        direct.execute("CREATE TABLE t AS SELECT s FROM src")
        with _bypass.bypass():  # another process: no comment, the column's class unsaid
            direct.execute("COMMENT ON TABLE t IS NULL")
            direct.execute("DROP TABLE src")
    finally:
        direct.close()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{b}' AS y")
        out = sandbox / "Downloads" / "t.csv"
        with pytest.raises(GovernanceViolation, match="PII"):
            con.execute(f"COPY y.t TO '{out}'")
        assert not out.exists()
    finally:
        con.close()


def test_a_read_of_an_attached_table_is_named_by_the_file(
        sandbox: Path, files: tuple[Path, Path]) -> None:
    """What a copy out of ``x.t`` read is the file's ``t`` (its input, its column edges'
    source), not ``:memory:#x.t``."""
    _, b = files
    con = _memory()
    try:
        con.execute(f"ATTACH '{b}' AS x")
        con.execute(f"CREATE TABLE x.t AS {_PUBLIC}")
        out = sandbox / "governed" / "workspace" / "t.csv"
        con.execute(f"COPY (SELECT s FROM x.t) TO '{out}'")
    finally:
        con.close()
    copy = next(r for r in _store().runs(limit=None) if r.outputs and str(out) in str(
        r.outputs[0].dataset))
    ref = DatasetRef.of(f"duckdb:///{b}#t")
    # a DuckDB table's node names its input (under the namespace of a source Lacuna does
    # not resolve further, as for every DuckDB table read): the file's t
    assert [v.dataset.name for v in copy.inputs] == [f"duckdb:///{b}#t"]
    assert {e.source for e in copy.column_edges} == {ref}


def test_two_files_attached_under_one_alias_are_two_datasets(
        sandbox: Path, files: tuple[Path, Path]) -> None:
    a, b = files
    con = _memory()
    try:
        con.execute(f"ATTACH '{a}' AS x")
        con.execute("CREATE TABLE x.t AS SELECT s, i FROM src")  # PII into a
        con.execute("DETACH x")
        con.execute(f"ATTACH '{b}' AS x")
        con.execute(f"CREATE TABLE x.t AS {_PUBLIC}")  # public into b
        out = sandbox / "Downloads" / "t.csv"
        con.execute(f"COPY x.t TO '{out}'")  # b's public rows leave
        assert out.read_text().splitlines()[:2] == ["s,i", "item-0,0"]
        con.execute("DETACH x")
        con.execute(f"ATTACH '{a}' AS x")
        with pytest.raises(GovernanceViolation, match="PII"):
            con.execute(f"COPY x.t TO '{sandbox / 'Downloads' / 'a.csv'}'")
    finally:
        con.close()
    in_a = _store().latest(DatasetRef.of(f"duckdb:///{a}#t"))
    in_b = _store().latest(DatasetRef.of(f"duckdb:///{b}#t"))
    assert in_a is not None
    assert in_a.classification.columns["s"].is_personal
    assert in_b is not None
    assert not in_b.classification.columns["s"].is_personal
    assert list(_datasets_of(a)) == [str(DatasetRef.of(f"duckdb:///{a}#t"))]
    assert list(_datasets_of(b)) == [str(DatasetRef.of(f"duckdb:///{b}#t"))]
