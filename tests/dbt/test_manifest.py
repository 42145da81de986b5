"""The manifest loader against the example project's real manifest and generated ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt import ManifestError, load_project
from lacuna.dbt.manifest import find_dbt
from lacuna.errors import IntegrationError


def test_example_manifest_nodes_columns_and_meta(dbt_built: Any) -> None:
    project = load_project(dbt_built.dir)
    assert project.name == "lacuna_example"
    assert project.adapter_type == "duckdb"
    kinds = {n.resource_type for n in project.nodes.values()}
    assert {"model", "seed", "snapshot"} <= kinds
    bronze = project.node("bronze_customers")
    assert bronze.unique_id == "model.lacuna_example.bronze_customers"
    assert bronze.folder == "customer_analytics/bronze"
    assert bronze.original_file_path == "models/customer_analytics/bronze/bronze_customers.sql"
    # model-level +meta from dbt_project.yml, merged from meta and config.meta
    assert bronze.meta["classification"] == "PROPRIETARY"
    assert list(bronze.meta["tags"]) == ["PII", "CUSTOMER_DATA"]
    assert bronze.columns["ssn"].meta["floe"]["sensitivity"] == "critical"
    assert bronze.columns["customer_id"].constraints[0]["type"] == "not_null"
    assert bronze.depends_on == ("seed.lacuna_example.raw_customers",)
    assert "raw_customers" in (bronze.compiled_sql or "")
    # a seed column's meta given only under config.meta
    assert project.node("raw_orders").columns["amount"].meta["lacuna"]["classification"] \
        == "financial"
    assert project.node("customers_snapshot").resource_type == "snapshot"


def test_tests_are_linked_to_nodes_and_columns(dbt_built: Any) -> None:
    project = load_project(dbt_built.dir)
    gold = project.node("gold_customer_orders")
    names = sorted(t.test_name or "" for t in gold.column_tests("customer_id"))
    assert names == ["not_null", "unique"]
    assert project.node("gold_revenue").tests == ()
    rel = [t for t in project.tests.values() if t.test_name == "relationships"]
    assert len(rel) == 1
    assert rel[0].nodes == ("model.lacuna_example.silver_orders",)
    assert rel[0].column_name == "customer_id"


def test_topological_order_puts_parents_first(dbt_built: Any) -> None:
    project = load_project(dbt_built.dir)
    order = [n.unique_id for n in project.topological()]
    for node in project.nodes.values():
        for parent in node.depends_on:
            if parent in project.nodes:
                assert order.index(parent) < order.index(node.unique_id)


def _manifest(models: int) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for i in range(models):
        uid = f"model.big.m{i}"
        parent = [f"model.big.m{i - 1}"] if i else []
        nodes[uid] = {
            "resource_type": "model", "name": f"m{i}", "package_name": "big",
            "path": f"gold/m{i}.sql", "original_file_path": f"models/gold/m{i}.sql",
            "fqn": ["big", "gold", f"m{i}"], "tags": ["gold"],
            "config": {"materialized": "table", "meta": {"owner": "x"}},
            "meta": {"owner": "x"}, "depends_on": {"nodes": parent},
            "compiled_code": f"select id, email from m{i - 1}",
            "columns": {c: {"name": c, "meta": {"floe": {"classification": "pii"}},
                            "config": {"meta": {}}}
                        for c in ("id", "email", "name", "phone")},
        }
        # linked only through depends_on (no attached_node), as older dbt writes them
        nodes[f"test.big.nn{i}"] = {
            "resource_type": "test", "name": f"not_null_m{i}_id",
            "depends_on": {"nodes": [uid]},
            "test_metadata": {"name": "not_null", "kwargs": {"column_name": "id"}},
        }
    return {"metadata": {"project_name": "big", "adapter_type": "duckdb"}, "nodes": nodes,
            "sources": {}}


def test_depends_on_only_tests_link_across_2000_models(tmp_path: Path) -> None:
    # How fast 2,000 models load is measured in benchmarks/bench_dbt_compile.py, not here.
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(_manifest(2000)))
    project = load_project(tmp_path, verify=False)
    assert len(project.models) == 2000
    assert [t.test_name for t in project.node("m1999").column_tests("ID")] == ["not_null"]


def test_missing_manifest_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no dbt manifest at .*manifest.json: run `dbt "
                       r"parse`"):
        load_project(tmp_path)


def test_target_path_from_dbt_project_yml(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\ntarget-path: build_out\n")
    with pytest.raises(ManifestError, match="build_out"):
        load_project(tmp_path)


@pytest.mark.parametrize(("content", "match"), [
    ('{"metadata": {}, "nodes": {', r"manifest.json:1:\d+: the dbt manifest is not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"nodes": {}}', "not a dbt manifest"),
])
def test_corrupt_manifest_names_file_and_fix(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(content)
    with pytest.raises(ManifestError, match=match):
        load_project(tmp_path)


def test_find_dbt_prefers_lacuna_dbt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-dbt"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LACUNA_DBT", str(fake))
    assert find_dbt(tmp_path) == fake
    with pytest.raises(IntegrationError, match=r"`dbt parse` failed .*exit 3"):
        load_project(tmp_path, parse=True)
    monkeypatch.setenv("LACUNA_DBT", str(tmp_path / "missing"))
    with pytest.raises(IntegrationError, match="LACUNA_DBT"):
        load_project(tmp_path, parse=True)
