"""``COPY (SELECT …) TO 'file'`` through a governed engine records its column edges into the
file, as ``CREATE TABLE … AS SELECT`` does into its table. The edges led into the query's own
name (``query_<hash>``), which is not an output of the run, so the lineage store refused the
whole run (logged, nothing recorded) and OpenLineage did not send it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import lacuna
import lacuna.sql
from lacuna import _bypass
from lacuna.config import DestinationConfig
from lacuna.lineage.openlineage import event_to_dict, run_to_events
from lacuna.lineage.records import DatasetRef, EdgeKind, Run, RunStatus
from lacuna.sql.tables import table_ref

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("duckdb_engine", reason="pip install duckdb-engine")


def _edges(run: Run) -> set[tuple[str, str, str, str, EdgeKind]]:
    return {(e.source.name.rpartition("#")[2].rpartition(".")[2], e.source_column,
             e.target.name, e.target_column, e.kind) for e in run.column_edges}


def test_a_copy_to_a_file_records_its_column_edges(sandbox: Path, sandbox_config) -> None:
    url = f"duckdb:///{sandbox / 'warehouse.duckdb'}"
    plain = sa.create_engine(url)
    with _bypass.bypass():
        pd.read_csv(sandbox / "sales.csv").to_sql("sales", plain, index=False)
    plain.dispose()
    # the sandbox is under /tmp, unmanaged by default: its Downloads/ is the unmanaged place
    lacuna.configure(sandbox_config(destinations={"unmanaged": [
        str(sandbox / "Downloads"), *(u for u in DestinationConfig().unmanaged if u != "/tmp")]}))
    engine = lacuna.sql.govern(sa.create_engine(url))
    (sandbox / "reports").mkdir()
    out = sandbox / "reports" / "by_category.csv"
    query = "SELECT product_category, upper(order_id) AS oid, revenue FROM sales"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE TABLE copied AS {query}")
            conn.exec_driver_sql(f"COPY ({query}) TO '{out}' (HEADER)")
    finally:
        lacuna.sql.ungovern(engine)
        engine.dispose()
    assert out.read_text().splitlines()[0] == "product_category,oid,revenue"
    store = lacuna.governor.current().lineage_store
    (table,) = store.runs(table_ref(url, "copied"), limit=2)
    runs = store.runs(DatasetRef.of(str(out)), limit=2)
    assert [(r.status, [v.dataset for v in r.outputs]) for r in runs] == [
        (RunStatus.SUCCEEDED, [DatasetRef.of(str(out))])]
    expected = {("sales", "product_category", "product_category", EdgeKind.IDENTITY),
                ("sales", "order_id", "oid", EdgeKind.TRANSFORMATION),
                ("sales", "revenue", "revenue", EdgeKind.IDENTITY)}
    into = table.outputs[0].dataset.name
    assert _edges(table) == {(s, c, into, t, k) for s, c, t, k in expected}
    assert _edges(runs[0]) == {(s, c, str(out), t, k) for s, c, t, k in expected}
    (sent,) = [e["outputs"][0]["facets"]["columnLineage"]["fields"]
               for e in map(event_to_dict, run_to_events(runs[0])) if e.get("outputs")]
    assert set(sent) == {"product_category", "oid", "revenue"}
