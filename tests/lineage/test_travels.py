"""Classification and lineage travel with written files and through the lineage store.

The done-when test of issue 9 item 4: a notebook reads two files, joins, aggregates and writes
Parquet; a fresh process reads the Parquet back and sees the same tier, tags, column classes
and the full upstream lineage (from the store, found by the run id written into the file).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.lineage import DatasetRef, RunStatus, current_store
from lacuna.lineage.sidecar import read_sidecar
from lacuna.model import Tier

YAML = """\
user: {{id: analyst_alice, role: data_analyst}}
audit: {{url: "sqlite:///{db}"}}
destinations:
  governed: ["{governed}/"]
  unmanaged: ["{downloads}"]
storage: {{encrypt: false}}  # these tests edit and inspect the files' own bytes (tests/storage)
"""

READ_BACK = """
import json, sys
import pandas as pd
import lacuna
from lacuna.lineage import upstream
lacuna.enable()
df = pd.read_parquet(sys.argv[1])
c = df.lacuna.classification
graph = upstream(sys.argv[1])
print(json.dumps({
    "tier": c.tier.value,
    "tags": sorted(c.tags),
    "columns": {k: [v.classification.value, v.pii_type] for k, v in c.columns.items()},
    "sources": sorted(df.lacuna.lineage.sources),
    "upstream": sorted(d.name for d in graph.nodes),
}))
"""


@pytest.fixture
def notebook(sandbox: Path) -> Path:
    db = sandbox / "state.db"
    (sandbox / "lacuna.yaml").write_text(YAML.format(
        db=db, governed=sandbox / "governed" / "workspace", downloads=sandbox / "Downloads"))
    lacuna.enable(str(sandbox / "lacuna.yaml"))
    return sandbox


def _summary(c: lacuna.Classification) -> dict:
    return {
        "tier": c.tier.value,
        "tags": sorted(c.tags),
        "columns": {k: [v.classification.value, v.pii_type] for k, v in c.columns.items()},
    }


def test_parquet_read_in_a_fresh_process_restores_classification_and_upstream(notebook):
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv")
    joined = customers.merge(sales, on="customer_id")
    per_customer = joined.groupby(["customer_id", "email"], as_index=False)["revenue"].sum()
    target = notebook / "governed" / "workspace" / "per_customer.parquet"
    per_customer.to_parquet(target)
    expected = _summary(per_customer.lacuna.classification)
    assert expected["tags"], "the join carries personal data: the test needs tags to compare"

    out = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(target)], cwd=notebook, capture_output=True,
        text=True, timeout=120, env={**os.environ}, check=False,
    )
    assert out.returncode == 0, out.stderr
    back = json.loads(out.stdout.strip().splitlines()[-1])
    assert {k: back[k] for k in expected} == expected
    inputs = sorted(str(notebook / n) for n in ("customers.csv", "sales.csv"))
    assert back["sources"] == ["customers.csv", "sales.csv"]
    assert back["upstream"] == sorted([str(target), *inputs])


def test_two_hops_read_back_in_a_fresh_process_walk_the_whole_chain(notebook):
    customers = pd.read_csv("customers.csv")
    first = notebook / "governed" / "workspace" / "customers.parquet"
    customers[["customer_id", "email", "region"]].to_parquet(first)
    script = (
        "import pandas as pd, lacuna\n"
        "lacuna.enable()\n"
        f"df = pd.read_parquet({str(first)!r})\n"
        f"df[df.region == 'AMER'].to_parquet({str(first.with_name('amer.parquet'))!r})\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=notebook, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(first.with_name("amer.parquet"))], cwd=notebook,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    back = json.loads(out.stdout.strip().splitlines()[-1])
    assert back["sources"] == ["customers.csv"]  # through customers.parquet, from the store
    assert str(first) in back["upstream"]
    assert str(notebook / "customers.csv") in back["upstream"]


def test_the_run_id_travels_in_the_sidecar_and_parquet_metadata(notebook):
    import pyarrow.parquet as pq

    customers = pd.read_csv("customers.csv")
    csv = notebook / "governed" / "workspace" / "copy.csv"
    parquet = csv.with_suffix(".parquet")
    customers.to_csv(csv, index=False)
    customers.to_parquet(parquet)
    store = current_store()
    for path in (csv, parquet):
        run_id = read_sidecar(path).run_id
        run = store.get_run(run_id)
        assert run is not None
        assert run.status is RunStatus.SUCCEEDED
        assert [v.dataset for v in run.outputs] == [DatasetRef.of(path)]
        assert [v.dataset for v in run.inputs] == [DatasetRef.of(notebook / "customers.csv")]
        assert run.outputs[0].fingerprint == store.latest(DatasetRef.of(path)).fingerprint
        assert run.user_id == "analyst_alice"
    meta = pq.read_schema(parquet).metadata
    assert read_sidecar(parquet).run_id.encode() in b"".join(meta.values())


def test_a_denied_export_is_recorded_as_a_run_that_produced_nothing(notebook):
    customers = pd.read_csv("customers.csv")
    target = notebook / "Downloads" / "customers.csv"
    with pytest.raises(GovernanceViolation) as err:
        customers.to_csv(target)
    runs = current_store().runs(limit=None)
    denied = [r for r in runs if r.status is RunStatus.DENIED]
    assert len(denied) == 1
    # where it was headed is kept with the run (policy improvement), never as the dataset's
    # state: no version of it, no edge, no fingerprint (the docs said so; none was kept)
    assert [(v.dataset, v.fingerprint) for v in denied[0].outputs] == [
        (DatasetRef.of(target), None)]
    assert denied[0].outputs[0].classification.tier is Tier.PROPRIETARY
    assert current_store().latest(DatasetRef.of(target)) is None
    assert not current_store().upstream(DatasetRef.of(target)).edges
    assert denied[0].policy_id == err.value.decision.policy_id
    assert [v.dataset for v in denied[0].inputs] == [DatasetRef.of(notebook / "customers.csv")]


def test_a_failed_export_is_recorded_with_its_error(notebook):
    customers = pd.read_csv("customers.csv")
    target = notebook / "governed" / "workspace" / "missing-dir" / "out.csv"
    with pytest.raises(OSError, match="non-existent directory"):
        customers.to_csv(target)
    failed = [r for r in current_store().runs(limit=None) if r.status is RunStatus.FAILED]
    assert len(failed) == 1
    assert [v.dataset for v in failed[0].outputs] == [DatasetRef.of(target)]
    assert current_store().latest(DatasetRef.of(target)) is None
    assert failed[0].error.startswith("OSError: Cannot save file")


def test_to_sql_records_its_run_with_the_table(notebook):
    sales = pd.read_csv("sales.csv")
    db = notebook / "governed" / "workspace" / "warehouse.db"
    with sqlite3.connect(db) as con:
        sales.to_sql("sales", con, index=False)
    runs = [r for r in current_store().runs(limit=None) if r.operation == "to_sql"]
    assert len(runs) == 1
    assert runs[0].status is RunStatus.SUCCEEDED
    assert runs[0].outputs[0].dataset.namespace == "sqlite"
    assert runs[0].outputs[0].dataset.name.endswith("warehouse.db#sales")
    assert runs[0].outputs[0].columns == tuple(sales.columns)
