"""ADR-0012's Tier 1 gate ``quality.dbt_tests``: ``lacuna dbt record`` reads the dbt tests'
results of the invocation; a failed one (a warned one with ``fail_on_warning``, one that did not
run) fails the gate for the model it tests; ``enabled: false`` turns exactly that off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt.gates import DbtTests, load_gates
from lacuna.dbt.manifest import load_project
from lacuna.dbt.record import QUALITY_GATE, RecordReport, dbt_test_failures, record_run
from lacuna.governor import current

runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})
ORDERS = "model.p.orders"
NOT_NULL = "test.p.not_null_orders_id.1"
UNIQUE = "test.p.unique_orders_id.2"


def _project(tmp_path: Path) -> Any:
    (tmp_path / "target").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    model = {"unique_id": ORDERS, "resource_type": "model", "name": "orders",
             "package_name": "p", "path": "orders.sql", "original_file_path": "models/orders.sql",
             "config": {"materialized": "table"}, "schema": "main", "alias": "orders",
             "columns": {"id": {"name": "id"}}, "depends_on": {"nodes": []}}
    tests = [{"unique_id": uid, "resource_type": "test", "name": uid.split(".")[2],
              "package_name": "p", "original_file_path": "models/schema.yml",
              "test_metadata": {"name": kind, "kwargs": {"column_name": "id"}},
              "attached_node": ORDERS, "column_name": "id", "depends_on": {"nodes": [ORDERS]}}
             for uid, kind in ((NOT_NULL, "not_null"), (UNIQUE, "unique"))]
    manifest = {"metadata": {"project_name": "p", "adapter_type": "duckdb"},
                "nodes": {n["unique_id"]: n for n in (model, *tests)}, "sources": {}}
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(manifest))
    return load_project(tmp_path, verify=False)


def _results(**tests: str) -> list[dict[str, Any]]:
    """The model built, and each named test (not_null, unique) with its status."""
    uids = {"not_null": NOT_NULL, "unique": UNIQUE}
    return [{"unique_id": ORDERS, "status": "success"},
            *({"unique_id": uids[k], "status": v,
               "message": "Got 3 results, configured to fail if != 0" if v != "pass" else None}
              for k, v in tests.items())]


def _failed(project: Any, setting: DbtTests, **tests: str) -> list[tuple[str, str, str]]:
    found = dbt_test_failures(project, _results(**tests), setting)
    return [(f.test, f.node, f.status) for f in found.get(ORDERS, ())]


ON, STRICT_WARN, OFF = DbtTests(), DbtTests(fail_on_warning=True), DbtTests(enabled=False)


def test_passing_tests_pass_the_gate(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _failed(project, ON, not_null="pass", unique="pass") == []
    assert _failed(project, STRICT_WARN, not_null="pass", unique="pass") == []


@pytest.mark.parametrize("status", ["fail", "error", "skipped"])
def test_a_failed_test_fails_the_gate_naming_test_and_model(tmp_path: Path, status: str) -> None:
    project = _project(tmp_path)
    assert _failed(project, ON, not_null=status, unique="pass") == [
        ("not_null_orders_id", "orders", status)]
    [failure] = dbt_test_failures(project, _results(not_null=status, unique="pass"), ON)[ORDERS]
    assert str(failure) == (f"dbt test not_null_orders_id on orders: {status}: Got 3 results, "
                            "configured to fail if != 0")


def test_a_warned_test_fails_only_with_fail_on_warning(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _failed(project, ON, not_null="warn", unique="pass") == []
    assert _failed(project, STRICT_WARN, not_null="warn", unique="pass") == [
        ("not_null_orders_id", "orders", "warn")]


def test_tests_that_did_not_run_fail_the_gate(tmp_path: Path) -> None:
    """`dbt run` without the tests: the model was built and nothing verified it."""
    project = _project(tmp_path)
    assert _failed(project, ON) == [("not_null_orders_id", "orders", "not run"),
                                    ("unique_orders_id", "orders", "not run")]
    assert _failed(project, ON, unique="pass") == [("not_null_orders_id", "orders", "not run")]


def test_disabled_turns_exactly_the_dbt_tests_check_off(tmp_path: Path) -> None:
    project = _project(tmp_path)
    for tests in ({"not_null": "fail", "unique": "warn"}, {}):
        assert dbt_test_failures(project, _results(**tests), OFF) == {}
        assert _failed(project, ON, **tests) != []  # the same results fail it when on


def test_only_strict_enforcement_with_block_on_failure_blocks() -> None:
    from lacuna.dbt.record import DbtTestFailure, RecordedNode

    failed = RecordedNode(unique_id=ORDERS, run_id="r", status="succeeded", decision=None,
                          tracked=False, quality_failures=(DbtTestFailure(
                              test="not_null_orders_id", node="orders", status="fail"),))
    passed = RecordedNode(unique_id=ORDERS, run_id="r", status="succeeded", decision=None,
                          tracked=False)

    def report(node: RecordedNode, enforcement: Any, block: bool) -> RecordReport:
        return RecordReport(project="p", invocation_id="i", nodes=(node,), hook_rows=0,
                            enforcement=enforcement, block_on_failure=block)

    assert report(failed, "strict", True).quality_blocks
    assert not report(failed, "strict", False).quality_blocks
    assert not report(failed, "warn", True).quality_blocks
    assert not report(failed, "off", True).quality_blocks
    assert not report(passed, "strict", True).quality_blocks


# -- lacuna dbt record on the built example project (floe.yaml: strict, block_on_failure) -----


def _fail_a_test(project: Path, model: str, status: str = "fail") -> str:
    """Mark one of ``model``'s tests ``status`` in run_results.json; its name."""
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    path = project / "target" / "run_results.json"
    results = json.loads(path.read_text())
    for r in results["results"]:
        test = manifest["nodes"].get(r["unique_id"])
        if test and test["resource_type"] == "test" and \
                test.get("attached_node") == f"model.lacuna_example.{model}":
            r["status"], r["message"] = status, "Got 2 results, configured to fail if != 0"
            path.write_text(json.dumps(results))
            return str(test["name"])
    raise AssertionError(f"no test of {model} in the run results")


def _set(project: Path, old: str, new: str) -> None:
    """Change the example's floe.yaml (its quality.dbt_tests)."""
    floe = project / "floe.yaml"
    text = floe.read_text()
    assert text.count(old) == 1
    floe.write_text(text.replace(old, new))


def _record(project: Path) -> Any:
    return runner.invoke(app, ["dbt", "record", "--project-dir", str(project),
                               "-e", "production"])


def test_record_passes_the_gate_when_the_tests_pass(built_copy: Path) -> None:
    out = _record(built_copy)
    assert out.exit_code == 0, out.output
    assert "quality gate dbt_tests FAILED" not in out.output
    runs = [r for r in current().lineage_store.runs(limit=None) if r.producer == "dbt"]
    assert runs
    assert all(f"{QUALITY_GATE}:pass" in r.quality_checks for r in runs
                        if r.status.value == "succeeded")


def test_record_fails_the_gate_on_a_failed_test(built_copy: Path) -> None:
    name = _fail_a_test(built_copy, "silver_orders")
    out = _record(built_copy)
    text = " ".join(out.output.split())
    assert out.exit_code == 1, out.output
    assert (f"quality gate dbt_tests FAILED: dbt test {name} on silver_orders: fail: Got 2 "
            "results") in text
    assert "error: 1 node(s) fail the quality gate quality.dbt_tests" in text
    [run] = [r for r in current().lineage_store.runs(limit=None)
             if r.outputs and r.outputs[0].dataset.name == "silver_orders"]
    assert f"{QUALITY_GATE}:fail" in run.quality_checks  # not recorded as passing
    # the same results, the gate turned off in floe.yaml: the check, and only it, is off
    _set(built_copy, "enabled: true", "enabled: false")
    off = _record(built_copy)
    assert off.exit_code == 0, off.output
    assert "quality gate dbt_tests FAILED" not in off.output
    [run] = [r for r in current().lineage_store.runs(limit=None)
             if r.outputs and r.outputs[0].dataset.name == "silver_orders"]
    assert any(c.startswith("dbt:") and c.endswith(":fail") for c in run.quality_checks)
    assert not any(c.startswith(QUALITY_GATE) for c in run.quality_checks)  # the gate: off


def test_record_warned_test_blocks_only_with_fail_on_warning(built_copy: Path) -> None:
    name = _fail_a_test(built_copy, "silver_orders", status="warn")
    assert _record(built_copy).exit_code == 0
    _set(built_copy, "fail_on_warning: false", "fail_on_warning: true")
    out = _record(built_copy)
    assert out.exit_code == 1, out.output
    assert f"dbt test {name} on silver_orders: warn" in " ".join(out.output.split())


def test_record_reads_the_gates_it_is_given(built_copy: Path) -> None:
    _fail_a_test(built_copy, "silver_orders")
    warn = record_run(built_copy, environment="production",
                      gates=load_gates({"enforcement": "warn"}, None))
    assert [n.unique_id for n in warn.quality_failed] == ["model.lacuna_example.silver_orders"]
    assert not warn.quality_blocks
