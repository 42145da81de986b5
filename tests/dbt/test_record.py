"""The lacuna dbt package's hooks in a real dbt build, and lacuna dbt record."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt.record import record_run
from lacuna.governor import current
from lacuna.lineage.openlineage import event_to_dict, run_to_events

duckdb = pytest.importorskip("duckdb")
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
SPEC = Path(os.environ.get("LACUNA_OPENLINEAGE_SPEC")
            or Path(__file__).resolve().parents[3] / "shared" / "openlineage-spec")


def test_hooks_run_in_dbt_build_and_write_rows(dbt_built: Any) -> None:
    assert "on-run-start.0" in dbt_built.build_output
    assert "on-run-end.0" in dbt_built.build_output
    con = duckdb.connect(str(dbt_built.warehouse), read_only=True)
    try:
        rows = con.execute("select event, node_id from lacuna_audit.lacuna_events").fetchall()
    finally:
        con.close()
    events = [r[0] for r in rows]
    assert events.count("run_started") == 1
    assert events.count("run_finished") == 1
    built = {r[1] for r in rows if r[0] == "node_built"}
    assert "model.lacuna_example.gold_customer_orders" in built
    assert "seed.lacuna_example.raw_customers" in built
    assert "snapshot.lacuna_example.customers_snapshot" in built


def test_record_then_lineage_show(built_copy: Path) -> None:
    report = record_run(built_copy)
    ids = {n.unique_id for n in report.nodes}
    assert {"model.lacuna_example.gold_customer_orders",
            "seed.lacuna_example.raw_customers"} <= ids
    assert report.hook_rows > 0
    assert all(n.tracked for n in report.nodes)
    assert all(n.decision is not None for n in report.nodes)
    shown = runner.invoke(app, ["lineage", "show", "dbt://lacuna_example/gold_customer_orders"])
    assert shown.exit_code == 0, shown.output
    for name in ("silver_customers", "bronze_customers", "raw_customers", "silver_orders"):
        assert f"dbt://lacuna_example/{name}" in shown.output
    # again: the same invocation is recorded once (stable run ids)
    again = record_run(built_copy)
    assert [n.run_id for n in again.nodes] == [n.run_id for n in report.nodes]
    store = current().lineage_store
    runs = store.runs(limit=None)
    assert len([r for r in runs if r.session == report.invocation_id]) == len(report.nodes)
    # decisions and their outcomes are in the audit trail
    audited = runner.invoke(app, ["audit", "verify"])
    assert audited.exit_code == 0, audited.output


def test_record_without_macros_uses_run_results_only(built_copy: Path) -> None:
    con = duckdb.connect(str(built_copy / "target" / "warehouse.duckdb"))
    con.execute("drop table lacuna_audit.lacuna_events")
    con.close()
    out = runner.invoke(app, ["dbt", "record", "--project-dir", str(built_copy)])
    text = " ".join(out.output.split())  # unwrapped: the console's width is not ours to set
    assert "(0 hook row(s))" in text
    assert "model.lacuna_example.gold_revenue: succeeded allowed" in text  # nothing to treat
    # built in development without lacuna.govern() or lacuna dbt apply: the e-mails and names
    # the policies redact and synthesize there may be raw, so nothing vouches for the build
    # (it was recorded as allowed)
    assert "model.lacuna_example.bronze_customers: succeeded DENIED: bronze_customers was " \
           "built in development without Lacuna's treatment of" in text
    assert out.exit_code == 1, out.output
    report = record_run(built_copy)
    assert report.hook_rows == 0
    assert len(report.nodes) >= 8
    [bronze] = [n for n in report.nodes if n.unique_id.endswith(".bronze_customers")]
    assert bronze.decision is not None
    assert "email (redact)" in bronze.decision.reasoning
    assert "lacuna dbt apply -e development" in " ".join(bronze.decision.why)
    assert not bronze.unrecorded  # the denial is on the audit trail


def test_a_hand_written_apply_note_vouches_for_nothing(built_copy: Path) -> None:
    """target/ is the project's: a lacuna_applied.json written there by hand (naming this dbt
    invocation, environment and warehouse, every column treated) vouched for a development
    build that Lacuna never treated, so the raw e-mails were recorded as allowed. The note is
    signed by lacuna dbt apply now; one without its signature, or edited after, vouches for
    nothing."""
    from lacuna.dbt.manifest import load_project
    from lacuna.dbt.runtime import APPLIED, _where, applied, load_plan

    con = duckdb.connect(str(built_copy / "target" / "warehouse.duckdb"))
    con.execute("drop table lacuna_audit.lacuna_events")  # no hook rows: apply's note only
    con.close()
    invocation = json.loads((built_copy / "target" / "run_results.json").read_text())[
        "metadata"]["invocation_id"]
    gp = load_plan(built_copy, environment="development")
    nodes = {uid: {name: effect.action.value for name, (_, effect) in gp.checked(uid).items()}
             for uid in gp.classification.nodes}
    note = {"invocation_id": invocation, "environment": "development",
            "database": _where(built_copy / "target" / "warehouse.duckdb"), "nodes": nodes}
    (built_copy / "target" / APPLIED).write_text(json.dumps(note))
    report = record_run(built_copy, environment="development")
    [bronze] = [n for n in report.nodes if n.unique_id.endswith(".bronze_customers")]
    assert bronze.decision is not None
    assert not bronze.decision.allowed
    assert "email (redact)" in bronze.decision.reasoning
    project = load_project(built_copy)
    assert applied(project, invocation, "development") == {}
    # what apply signed vouches; the same note with a column added to it does not
    from lacuna.dbt.runtime import apply_environment

    apply_environment(built_copy, environment="development", seed=7)
    signed = json.loads((built_copy / "target" / APPLIED).read_text())
    assert applied(project, invocation, "development")[
        "model.lacuna_example.bronze_customers"] >= {"email", "first_name"}
    signed["nodes"]["model.lacuna_example.gold_revenue"] = {"revenue": "redact"}
    (built_copy / "target" / APPLIED).write_text(json.dumps(signed))
    assert applied(project, invocation, "development") == {}


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource

    if not (SPEC / "OpenLineage.json").is_file():
        pytest.skip(f"the official OpenLineage schemas are not at {SPEC}")
    docs = [json.loads(p.read_text()) for p in (SPEC / "OpenLineage.json",
                                                 *sorted((SPEC / "facets").glob("*.json")))]
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    return Draft202012Validator(
        {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"},
        registry=registry, format_checker=FormatChecker())


def test_model_runs_emit_classification_facets_and_column_tags(built_copy: Path) -> None:
    report = record_run(built_copy)
    node = next(n for n in report.nodes if n.unique_id.endswith("bronze_customers"))
    run = current().lineage_store.get_run(node.run_id)
    assert run is not None
    events = [event_to_dict(e) for e in run_to_events(run)]
    for event in events:
        errors = [e.message for e in _validator().iter_errors(event)]
        assert errors == []
    output = events[-1]["outputs"][0]
    facets = output["facets"]
    assert output["name"] == "bronze_customers"
    assert facets["floe_classification"]["columns"]["ssn"] == {
        "classification": "pii", "pii_type": "ssn", "sensitivity": "critical"}
    assert facets["lacuna_classification"]["tier"] == "PROPRIETARY"
    tags = {(t.get("field"), t["key"], t["value"]) for t in facets["tags"]["tags"]}
    assert ("ssn", "sensitivity", "critical") in tags
    assert ("email", "pii", "email") in tags
    lineage = facets["columnLineage"]["fields"]
    assert lineage["email"]["inputFields"][0]["name"] == "raw_customers"


def test_a_decision_the_audit_trail_refused_is_not_a_silent_success(
        built_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the audit store fails: the governor logs it and returns None; record used to print
    # "allowed" and exit 0 with nothing on the trail
    from lacuna.audit import AuditStore

    def refuse(*_: Any, **__: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(AuditStore, "record", refuse)
    report = record_run(built_copy)
    assert report.nodes
    assert len(report.unrecorded) == len(report.nodes)
    assert all("audit trail could not be written" in (n.unrecorded or "")
               for n in report.nodes)
    out = runner.invoke(app, ["dbt", "record", "--project-dir", str(built_copy)])
    assert out.exit_code == 1, out.output
    text = " ".join(out.output.split())
    assert "model.lacuna_example.gold_revenue: succeeded allowed DECISION NOT RECORDED" in text
    assert "are not on the audit trail" in text
    # the policies themselves fail: no decision, said so
    monkeypatch.undo()
    monkeypatch.setattr(type(current()), "decide", refuse)
    broken = record_run(built_copy)
    assert all(n.decision is None and "could not decide" in (n.unrecorded or "")
               for n in broken.nodes)
    monkeypatch.undo()
    # the recorded path: nothing unrecorded (test_record_without_macros_...: exit 0)
    assert not record_run(built_copy).unrecorded


def test_decisions_are_made_in_the_projects_environment(built_copy: Path) -> None:
    # --environment's default is floe.yaml's environment, else lacuna.yaml's; record took
    # lacuna.yaml's (development) for a project whose floe.yaml says production
    floe = built_copy / "floe.yaml"
    floe.write_text(floe.read_text(encoding="utf-8").replace(
        "environment: development", "environment: production"), encoding="utf-8")
    report = record_run(built_copy)
    assert {n.decision.operation.environment for n in report.nodes
            if n.decision and n.decision.operation} == {"production"}
    given = record_run(built_copy, environment="staging")  # -e still decides
    assert {n.decision.operation.environment for n in given.nodes
            if n.decision and n.decision.operation} == {"staging"}
