"""``lacuna lineage runs`` shows an imported run as imported: the producer its OpenLineage events
named, and what their ``lacuna_run`` facet claims of its user and producer as claims.

An event whose facet said ``runProducer: "lacuna"`` and ``userId: "ciso"`` was listed as
producer ``lacuna``, user ``ciso``: as if Lacuna's pipeline had recorded it for the CISO."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification

runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})


def test_an_imported_run_is_listed_as_imported_with_its_claims_as_claims(
        sandbox: Path) -> None:
    config = sandbox / "lacuna.yaml"
    config.write_text(yaml.safe_dump({"user": {"id": "analyst_alice", "role": "data_analyst"},
                                      "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"}}))
    event = {"eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z",
             "producer": "https://x.example/producer",
             "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
             "job": {"namespace": "n", "name": "j"},
             "run": {"runId": str(uuid.uuid4()), "facets": {"lacuna_run": {
                 "id": "r9", "operation": "export", "status": "succeeded",
                 "runProducer": "lacuna", "userId": "ciso"}}},
             "outputs": [{"namespace": "file", "name": "/x.csv"}]}
    events = sandbox / "events.jsonl"
    events.write_text(json.dumps(event) + "\n")
    done = runner.invoke(app, ["lineage", "import", str(events), "--config", str(config)])
    assert done.exit_code == 0, done.output
    # and a run Lacuna's pipeline records, beside it: its own user and producer, as they are
    own = Run(id="r-own", operation="export", status=RunStatus.SUCCEEDED,
              outputs=(DatasetVersion(dataset=DatasetRef.of(str(sandbox / "out.csv")),
                                      classification=Classification()),),
              user_id="analyst_alice")
    with LineageStore(f"sqlite:///{sandbox / 'audit.db'}") as store:
        store.record(own)

    listed = runner.invoke(app, ["lineage", "runs", "--json", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    shown = {r["id"]: {k: v for k, v in r.items() if k not in ("started_at", "status")}
             for r in json.loads(listed.output)}
    assert shown["r9"] == {
        "id": "r9", "operation": "export", "user": None, "claimed_user": "ciso",
        "producer": "https://x.example/producer", "claimed_producer": "lacuna",
        "imported": True, "outputs": ["/x.csv"]}
    assert {k: shown[own.id][k] for k in ("user", "producer", "imported")} == {
        "user": "analyst_alice", "producer": "lacuna", "imported": False}

    text = runner.invoke(app, ["lineage", "runs", "--config", str(config)])
    assert text.exit_code == 0, text.output
    (row,) = [line for line in text.output.splitlines() if line.strip().startswith("r9 ")]
    assert "ciso (claimed)" in row
    assert "https://x.example/producer (imported; claims lacuna)" in row
    (mine,) = [line for line in text.output.splitlines() if own.id in line]
    assert "analyst_alice" in mine
    assert "(claimed)" not in mine
    assert "(imported" not in mine
