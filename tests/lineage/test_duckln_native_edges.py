"""Native DuckDB statements (``con.execute``) record the column edges their SQL lineage computes.

``COPY (SELECT …) TO 'file'`` and ``CREATE TABLE t AS SELECT …`` into a file database were
recorded with no column edges: the DuckDB integration decided the write on a state with no
column origins, although ``statement_state`` traced the SQL's column lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

import lacuna
from lacuna.lineage.records import DatasetRef, EdgeKind, Run
from lacuna.sql.tables import table_ref

duckdb = pytest.importorskip("duckdb")


def _edges(run: Run) -> set[tuple[str, str, str, str, EdgeKind]]:
    return {(e.source.name, e.source_column, e.target.name, e.target_column, e.kind)
            for e in run.column_edges}


def test_native_copy_and_ctas_record_their_column_edges(sandbox: Path, sandbox_config) -> None:
    governed = sandbox  # a live database file under governed storage needs it unsealed
    lacuna.enable(sandbox_config(storage={"encrypt": False}))
    sales = str(governed / "sales.csv")
    out = governed / "governed" / "workspace" / "by_category.csv"
    query = f"SELECT product_category, upper(order_id) AS oid, revenue FROM '{sales}'"
    again = governed / "governed" / "workspace" / "from_table.csv"
    db = governed / "governed" / "workspace" / "w.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute(f"COPY ({query}) TO '{out}' (HEADER)")
        con.execute(f"CREATE TABLE t AS {query}")
        con.execute(f"INSERT INTO t {query}")
        con.execute(f"COPY (SELECT oid AS ref, revenue * 2 AS double FROM t) TO '{again}' (HEADER)")
    finally:
        con.close()
    assert out.read_text().splitlines()[0] == "product_category,oid,revenue"
    store = lacuna.governor.current().lineage_store
    (copied,) = store.runs(DatasetRef.of(str(out)), limit=2)
    inserted, created = store.runs(table_ref(f"duckdb:///{db}", "t"), limit=3)
    expected = {("product_category", "product_category", EdgeKind.IDENTITY),
                ("order_id", "oid", EdgeKind.TRANSFORMATION),
                ("revenue", "revenue", EdgeKind.IDENTITY)}
    assert _edges(copied) == {(sales, s, str(out), t, k) for s, t, k in expected}
    into = created.outputs[0].dataset.name
    assert _edges(created) == {(sales, s, into, t, k) for s, t, k in expected}
    assert (inserted.method, _edges(inserted)) == ("duckdb.insert", _edges(created))
    # the reasoning names the file the statement read, not Lacuna's placeholder for it
    assert created.outputs[0].classification.columns["revenue"].reasoning == (
        f"financial from '{sales}'.revenue by identity")
    (table,) = store.runs(DatasetRef.of(str(again)), limit=2)  # a table of the database
    assert _edges(table) == {(into, "oid", str(again), "ref", EdgeKind.IDENTITY),
                             (into, "revenue", str(again), "double", EdgeKind.TRANSFORMATION)}
