"""pandas column lineage: the edges a governed pipeline records, in the store and in OpenLineage.

Each pandas operation that moves content (merge, projection, rename, assignment, insert,
concat, group-by, anonymize) carries where each column came from; the export that writes the
result records those as column edges of its run. Read back in a fresh process through the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.lineage import DatasetRef, current_store
from lacuna.lineage.records import EdgeKind

YAML = """\
user: {{id: analyst_alice, role: data_analyst}}
audit: {{url: "sqlite:///{db}"}}
destinations:
  governed: ["{governed}/"]
lineage:
  openlineage:
    transport: {{type: file, path: "{events}"}}
"""


@pytest.fixture
def notebook(sandbox: Path):
    (sandbox / "lacuna.yaml").write_text(YAML.format(
        db=sandbox / "state.db", governed=sandbox / "governed" / "workspace",
        events=sandbox / "events.jsonl"))
    lacuna.enable(str(sandbox / "lacuna.yaml"))
    yield sandbox
    lacuna.disable()


def _out(notebook: Path, name: str) -> Path:
    return notebook / "governed" / "workspace" / name


def _edges(target: Path) -> set[tuple[str, str, str, str]]:
    """(source file, source column, target column, kind) of the runs that wrote ``target``."""
    ref = DatasetRef.of(target)
    return {(Path(e.source.name).name, e.source_column, e.target_column, e.kind.value)
            for run in current_store().runs(ref) for e in run.column_edges if e.target == ref}


def test_merge_rename_groupby_edges_reach_the_cli_in_a_fresh_process(notebook: Path) -> None:
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv")
    joined = customers.merge(sales, on="customer_id")
    joined = joined.rename(columns={"region": "market"})
    summary = joined.groupby("market", as_index=False).agg(total=("revenue", "sum"))
    target = _out(notebook, "per_market.csv")
    summary.to_csv(target, index=False)

    out = subprocess.run(
        [sys.executable, "-m", "lacuna", "lineage", "show", str(target), "--columns",
         "--format", "json"], cwd=notebook, capture_output=True, text=True, timeout=120,
        env={**os.environ}, check=False)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    edges = {(Path(e["source"].split("://", 1)[-1]).name, e["source_column"], e["target_column"],
              e["kind"], e["description"]) for e in shown["column_edges"]}
    assert ("customers.csv", "region", "market", "identity", "group key") in edges
    assert ("sales.csv", "revenue", "total", "aggregation", "sum") in edges
    assert {(s, c, t) for s, c, t, _, _ in edges} == {
        ("customers.csv", "region", "market"), ("sales.csv", "revenue", "total")}

    text = subprocess.run(
        [sys.executable, "-m", "lacuna", "lineage", "show", str(target), "--columns"],
        cwd=notebook, capture_output=True, text=True, timeout=120, env={**os.environ},
        check=False)
    assert text.returncode == 0, text.stderr
    assert "total ← sales.csv.revenue" in text.stdout
    assert "market ← customers.csv.region" in text.stdout


def test_merge_keys_come_from_both_sides_and_suffixes_from_their_side(notebook: Path) -> None:
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv").assign(email="x")  # a clash: email_x / email_y
    sales["email"] = sales["order_id"]  # content from order_id, under the label email
    joined = customers.merge(sales, on="customer_id")
    target = _out(notebook, "joined.csv")
    joined[["customer_id", "email_x", "email_y", "revenue"]].to_csv(target, index=False)
    edges = {(s, c, t) for s, c, t, _ in _edges(target)}
    assert edges == {
        ("customers.csv", "customer_id", "customer_id"),
        ("sales.csv", "customer_id", "customer_id"),
        ("customers.csv", "email", "email_x"), ("sales.csv", "order_id", "email_y"),
        ("sales.csv", "revenue", "revenue"),
    }


def test_assign_insert_concat_and_projection_edges(notebook: Path) -> None:
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv")
    frame = customers[["customer_id", "email"]].copy()
    frame["contact"] = frame["email"]
    frame.insert(0, "who", customers["name"])
    frame = frame.assign(zone=customers["region"])
    target = _out(notebook, "contacts.csv")
    frame[["who", "contact", "zone"]].to_csv(target, index=False)
    assert {(s, c, t) for s, c, t, _ in _edges(target)} == {
        ("customers.csv", "name", "who"), ("customers.csv", "email", "contact"),
        ("customers.csv", "region", "zone")}

    stacked = pd.concat([sales[["customer_id"]], customers[["customer_id"]]])
    side = pd.concat([customers["email"], sales["revenue"].rename("amount")], axis=1)
    stacked.to_csv(_out(notebook, "ids.csv"), index=False)
    side.to_csv(_out(notebook, "side.csv"), index=False)
    assert {(s, c, t) for s, c, t, _ in _edges(_out(notebook, "ids.csv"))} == {
        ("sales.csv", "customer_id", "customer_id"),
        ("customers.csv", "customer_id", "customer_id")}
    assert {(s, c, t) for s, c, t, _ in _edges(_out(notebook, "side.csv"))} == {
        ("customers.csv", "email", "email"), ("sales.csv", "revenue", "amount")}


def test_anonymize_records_masking_edges_that_reach_openlineage(notebook: Path) -> None:
    customers = pd.read_csv("customers.csv")
    masked = lacuna.anonymize(customers[["customer_id", "email", "region"]],
                              columns=["email"], strategy="redact")
    target = _out(notebook, "masked.csv")
    masked.to_csv(target, index=False)
    kinds = {t: (k, c) for _, c, t, k in _edges(target)}
    assert kinds["email"] == (EdgeKind.MASKING.value, "email")
    assert kinds["region"] == (EdgeKind.IDENTITY.value, "region")
    run = next(r for r in current_store().runs(DatasetRef.of(target)))
    assert any(e.description == "redact" for e in run.column_edges if e.target_column == "email")

    from lacuna.lineage.ol_emit import flush_all

    flush_all()
    events = [json.loads(line) for line in (notebook / "events.jsonl").read_text().splitlines()]
    complete = [e for e in events if e["eventType"] == "COMPLETE" and e["run"]["runId"]
                and any(o["name"] == str(target) for o in e.get("outputs", []))]
    assert complete, "the export's COMPLETE event was emitted"
    output = next(o for o in complete[-1]["outputs"] if o["name"] == str(target))
    fields = output["facets"]["columnLineage"]["fields"]
    email = fields["email"]["inputFields"][0]
    assert email["field"] == "email"
    assert email["name"].endswith("customers.csv")
    assert [t["masking"] for t in email["transformations"]] == [True]
    region = fields["region"]["inputFields"][0]
    assert [t["masking"] for t in region["transformations"]] == [False]


def test_detokenized_columns_lose_their_masking_edge(sandbox: Path) -> None:
    from lacuna.anonymize.reveal import detokenize
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor
    from lacuna.lineage.state import get_state

    def settings(role: str) -> lacuna.Config:
        return config_from_dict({"audit": {"url": f"sqlite:///{sandbox / 'state.db'}"},
                                 "user": {"id": "ana", "role": role},
                                 "anonymize": {"detokenize_roles": ["privacy_officer"]}})

    lacuna.enable(settings("analyst"))
    try:
        customers = pd.read_csv(sandbox / "customers.csv")
        out = lacuna.anonymize(customers, ["email", "phone"], strategy="tokenize",
                               config=settings("analyst"))
        masked = get_state(out).origins  # type: ignore[union-attr]
        assert [o.kind for o in masked["email"]] == [EdgeKind.MASKING]
        back = detokenize(out, ["email"], governor=Governor(settings("privacy_officer")))
    finally:
        lacuna.disable()
    origins = get_state(back).origins  # type: ignore[union-attr]
    assert [o.kind for o in origins["email"]] == [EdgeKind.TRANSFORMATION]
    assert "detokenized" in origins["email"][0].description
    assert [o.kind for o in origins["phone"]] == [EdgeKind.MASKING]  # still tokenized
    assert [o.kind for o in origins["region"]] == [EdgeKind.IDENTITY]
