"""A quality gate that checks nothing is said, not passed (generated manifest, tiny DuckDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt.compile import compile_project
from lacuna.dbt.gates import load_gates
from lacuna.dbt.manifest import load_project

duckdb = pytest.importorskip("duckdb")


def _gate(
    scope: dict[str, Any], on_failure: str = "block", columns: list[str] | None = None
) -> dict[str, Any]:
    return {
        "gates": [
            {
                "name": "g",
                "scope": scope,
                "on_failure": on_failure,
                "checks": [{"type": "null_percentage", "columns": columns or ["*_id"], "max": 0}],
            }
        ]
    }


@pytest.fixture
def project(tmp_path: Path, gen: Any) -> Any:
    gen.write(tmp_path, gen.model("stg_orders", sql="select 1 as order_id", tags=("staging",)))
    return load_project(tmp_path, verify=False)


@pytest.mark.parametrize(
    "scope", [{"tags": ["stagng"]}, {"layer": "gold"}, {"models": ["stg_order"]}]
)
def test_a_gate_whose_scope_covers_no_model_is_a_finding(
    project: Any, scope: dict[str, Any]
) -> None:
    report = compile_project(project, load_gates({"enforcement": "strict"}, _gate(scope)))
    [found] = [f for f in report.findings if f.rule_id == "lacuna.gate.scope"]
    assert found.level.value == "error"  # on_failure: block
    assert "gate 'g' applies to no model" in found.message
    assert report.failed
    warn = compile_project(project, load_gates({"enforcement": "strict"}, _gate(scope, "warn")))
    assert [f.level.value for f in warn.findings if f.rule_id == "lacuna.gate.scope"] == ["warning"]


@pytest.mark.parametrize(
    "scope", [{"tags": ["STAGING"]}, {"layer": "bronze"}, {"models": ["stg_*"]}, {}]
)
def test_a_gate_that_covers_a_model_is_no_finding(project: Any, scope: dict[str, Any]) -> None:
    report = compile_project(project, load_gates({"enforcement": "strict"}, _gate(scope)))
    assert not [f for f in report.findings if f.rule_id == "lacuna.gate.scope"]


def test_a_named_null_check_column_must_exist(project: Any, tmp_path: Path) -> None:
    from lacuna.dbt.checks import run_checks

    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table main.stg_orders as select 1 as order_id, null as note")
    con.close()

    def run(columns: list[str]) -> Any:
        gates = load_gates({}, _gate({"models": ["stg_orders"]}, columns=columns))
        [result] = run_checks(project, gates, db)
        return result

    typo = run(["ordr_id"])  # used to pass: "no column matches"
    assert not typo.passed
    assert "no column ordr_id" in typo.observed
    assert run(["ORDER_ID"]).passed  # case aside
    assert run(["*_id"]).passed
    assert run(["*_code"]).passed  # a glob may match nothing (the ADR's "*_id" everywhere)
    assert not run(["note"]).passed  # the check itself still runs
