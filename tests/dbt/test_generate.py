"""``lacuna generate cube|polaris`` on the built example project.

Outputs are validated against JSON Schemas transcribed from Cube's data-model validator and
Polaris' management API (tests/dbt/schemas/, sources named inside), compared with golden files
(tests/dbt/golden/; regenerate with LACUNA_UPDATE_GOLDEN=1), and the legacy ``cube.js`` is run
by Node with real queries. Neither Cube nor Polaris runs here (see docs/dbt.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt.checks import warehouse_types
from lacuna.dbt.consumption import ConsumptionConfig, load_consumption, plan_access
from lacuna.dbt.cube import generate_cube, supports_masking
from lacuna.dbt.governance import governance_from
from lacuna.dbt.manifest import load_project
from lacuna.dbt.polaris import polaris_requests
from lacuna.errors import ConfigError

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
CUBE_SCHEMA = json.loads((HERE / "schemas" / "cube-data-model.schema.json").read_text())
POLARIS_SCHEMA = json.loads((HERE / "schemas" / "polaris-requests.schema.json").read_text())
UPDATE = os.environ.get("LACUNA_UPDATE_GOLDEN") == "1"

MASKING_CONFIG = """\
governance:
  policies:
    financial:
      production: {action: mask, requires_role: [finance]}
    pii:
      production: {action: hash, requires_role: [data_owner]}
    critical_sensitivity:
      production: {action: restrict, requires_role: [data_owner]}
  consumption:
    roles: {analyst: Analysts, finance: Finance, data_owner: Data owners}
    row_filters:
      - {models: [gold_customer_orders], member: city, user_attribute: city,
         exempt_roles: [data_owner]}
"""


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with LACUNA_UPDATE_GOLDEN=1 once"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the change is intended, rerun with "
        "LACUNA_UPDATE_GOLDEN=1 and review the diff")


@pytest.fixture(scope="module")
def example(dbt_built: Any) -> Any:
    project = load_project(dbt_built.dir)
    from lacuna.dbt.classify import classify_project

    return project, classify_project(project)


@pytest.fixture(scope="module")
def plan(dbt_built: Any, example: Any) -> Any:
    project, classes = example
    consumption, governance, _ = load_consumption(dbt_built.dir)
    return plan_access(project, consumption, governance, classification=classes,
                       column_types=warehouse_types(dbt_built.warehouse))


@pytest.fixture(scope="module")
def masking_plan(dbt_built: Any, example: Any) -> Any:
    project, classes = example
    raw = yaml.safe_load(MASKING_CONFIG)["governance"]
    consumption = ConsumptionConfig.model_validate(raw["consumption"])
    return plan_access(project, consumption, governance_from(raw), classification=classes,
                       column_types=warehouse_types(dbt_built.warehouse))


def test_generate_cube_example_validates_and_matches_golden(plan, tmp_path):
    files = generate_cube(plan, tmp_path)
    assert {p.name for p in files} == {f"{m.name}.yml" for m in plan.models}
    for path in files:
        text = path.read_text(encoding="utf-8")
        jsonschema.validate(yaml.safe_load(text), CUBE_SCHEMA)
        _golden(f"cube/{path.name}", text)


def test_generate_cube_policies_follow_classification_and_roles(plan, tmp_path):
    generate_cube(plan, tmp_path)
    cube = yaml.safe_load((tmp_path / "model/cubes/silver_customers.yml").read_text())["cubes"][0]
    policies = {p["group"]: p for p in cube["access_policy"]}
    assert set(policies) == set(plan.roles)
    model = next(m for m in plan.models if m.name == "silver_customers")
    for role, policy in policies.items():
        hidden = set(policy["member_level"].get("excludes", []))
        expected = {c.name for c in model.columns if c.visibility[role] != "full"}
        assert hidden == expected
        filtered = "row_level" in policy
        assert filtered == (role not in model.row_filters[0].exempt_roles)
        if filtered:  # fail closed: the policy applies only when the attribute is there
            assert policy["conditions"] == [{"if": "{ userAttributes.city }"}]
            assert policy["row_level"]["filters"] == [
                {"member": "city", "operator": "equals", "values": ["{ userAttributes.city }"]}]
    # critical sensitivity needs approval per request: withheld from every role
    ssn = next(c for c in model.columns if c.name == "ssn")
    assert set(ssn.visibility.values()) == {"withheld"}
    # the high-sensitivity e-mail (inherited through the SQL's lineage) needs data_owner or
    # compliance; the analyst does not see it
    email = next(c for c in model.columns if c.name == "email_address")
    assert email.classification == "pii"
    assert email.visibility["analyst"] == "withheld"
    assert email.visibility["data_owner"] == "full"


def test_generate_cube_masking_for_versions_that_support_it(masking_plan, tmp_path):
    generate_cube(masking_plan, tmp_path, cube_version="1.6.56")
    doc = yaml.safe_load((tmp_path / "model/cubes/gold_customer_orders.yml").read_text())
    jsonschema.validate(doc, CUBE_SCHEMA)
    cube = doc["cubes"][0]
    dims = {d["name"]: d for d in cube["dimensions"]}
    assert dims["lifetime_value"]["mask"] == -1  # a number under `mask`
    assert dims["email_address"]["mask"] == {"sql": "MD5(CAST({CUBE}.email_address AS VARCHAR))"}
    policies = {p["group"]: p for p in cube["access_policy"]}
    assert policies["analyst"]["member_masking"] == {
        "includes": ["full_name", "email_address", "lifetime_value"]}
    assert "lifetime_value" not in policies["finance"].get("member_masking", {}).get(
        "includes", [])
    assert policies["data_owner"]["member_masking"] == {"includes": ["lifetime_value"]}
    _golden("cube-masking/gold_customer_orders.yml",
            (tmp_path / "model/cubes/gold_customer_orders.yml").read_text())


def test_generate_cube_schema_accepts_documented_examples_and_rejects_typos():
    documented = yaml.safe_load("""
cubes:
  - name: orders
    sql_table: public.orders
    access_policy:
      - group: manager
        member_level: {includes: "*"}
        row_level:
          filters:
            - member: country
              operator: equals
              values: ["{ userAttributes.country }"]
      - groups: [analysts, managers]
        member_level: {includes: "*"}
      - group: "*"
        row_level: {allow_all: true}
""")
    jsonschema.validate(documented, CUBE_SCHEMA)
    documented["cubes"][0]["access_policy"][0]["member_levels"] = {"includes": "*"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(documented, CUBE_SCHEMA)


@pytest.mark.parametrize(("version", "modern"), [
    (None, True), ("1.6.56", True), ("v1.7.0", True), ("1.6.0", False), ("0.36.2", False)])
def test_generate_cube_version_threshold(version, modern):
    assert supports_masking(version) is modern


def _node_rewrite(cube_js: Path, query: dict[str, Any], context: dict[str, Any]) -> Any:
    script = (f"const m = require({json.dumps(str(cube_js))});"
              "try { console.log(JSON.stringify({ok: m.queryRewrite("
              f"{json.dumps(query)}, {{securityContext: {json.dumps(context)}}})}})); }}"
              "catch (e) { console.log(JSON.stringify({error: e.message})); }")
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_generate_cube_legacy_query_rewrite_runs_and_fails_closed(masking_plan, tmp_path):
    files = generate_cube(masking_plan, tmp_path, cube_version="1.3.0")
    cube_js = tmp_path / "cube.js"
    assert cube_js in files
    doc = yaml.safe_load((tmp_path / "model/cubes/gold_customer_orders.yml").read_text())
    jsonschema.validate(doc, CUBE_SCHEMA)
    assert "access_policy" not in doc["cubes"][0]
    assert "email_address__masked" in {d["name"] for d in doc["cubes"][0]["dimensions"]}

    query = {"dimensions": ["gold_customer_orders.city", "gold_customer_orders.email_address"],
             "measures": ["gold_customer_orders.count"]}
    # no city attribute: denied, where a filter on an undefined value would let every row out
    denied = _node_rewrite(cube_js, query, {"groups": ["analyst"]})
    assert "user attribute 'city' is missing" in denied["error"]
    # with the attribute: the e-mail is swapped for its masked twin and rows are filtered
    ok = _node_rewrite(cube_js, query, {"groups": ["analyst"], "city": "Lyon"})["ok"]
    assert ok["dimensions"] == ["gold_customer_orders.city",
                                "gold_customer_orders.email_address__masked"]
    assert ok["filters"] == [{"member": "gold_customer_orders.city", "operator": "equals",
                              "values": ["Lyon"]}]
    # the exempt data owner sees everything unfiltered
    owner = _node_rewrite(cube_js, query, {"groups": ["data_owner"]})["ok"]
    assert owner["dimensions"] == query["dimensions"]
    assert owner["filters"] == []
    # no configured role at all: denied
    assert "no configured role" in _node_rewrite(cube_js, query, {"groups": ["x"]})["error"]
    # filtering on a masked member would leak it: denied
    leak = dict(query, filters=[{"member": "gold_customer_orders.email_address",
                                 "operator": "equals", "values": ["a@b.c"]}])
    assert "restricted" in _node_rewrite(cube_js, leak, {"groups": ["analyst"],
                                                          "city": "Lyon"})["error"]


def test_generate_polaris_requests_validate_and_match_golden(plan):
    requests, summary = polaris_requests(plan)
    jsonschema.validate(requests, POLARIS_SCHEMA)
    _golden("polaris/requests.json", json.dumps(requests, indent=2) + "\n")
    _golden("polaris/summary.json", json.dumps(summary, indent=2) + "\n")
    grants: dict[str, set[tuple[str, str]]] = {}
    for r in requests:
        if r["path"].endswith("/grants"):
            role = r["path"].split("/")[-2]
            g = r["body"]["grant"]
            grants.setdefault(role, set()).add((g.get("tableName", "*"), g["privilege"]))
    for model in plan.models:
        for role in plan.roles:
            readable = all(c.visibility[role] == "full" for c in model.columns)
            assert ((model.table, "TABLE_READ_DATA") in grants.get(role, set())) == readable
    # a catalog role exists before its grants, and is assigned after them
    paths = [r["path"] for r in requests]
    first_grant = next(i for i, p in enumerate(paths) if p.endswith("/grants"))
    assert paths.index("/api/management/v1/catalogs/lacuna_example/catalog-roles") < first_grant


def test_generate_cli_writes_both(dbt_built, tmp_path):
    runner = CliRunner()
    cube = runner.invoke(app, ["generate", "cube", "--project-dir", str(dbt_built.dir),
                               "--out", str(tmp_path / "cube")])
    assert cube.exit_code == 0, cube.output
    assert "access policies with masking" in cube.output
    polaris = runner.invoke(app, ["generate", "polaris", "--project-dir", str(dbt_built.dir),
                                  "--out", str(tmp_path / "polaris")])
    assert polaris.exit_code == 0, polaris.output
    assert json.loads((tmp_path / "polaris/requests.json").read_text())
    assert (tmp_path / "polaris/apply.sh").read_text().startswith("#!/bin/sh")


def test_generate_fails_closed_on_bad_input(example):
    project, classes = example
    # no roles anywhere (an empty section is the ADR's defaults, which name data_owner and
    # compliance: a rule without requires_role names none)
    unnamed = governance_from({"policies": {"pii": {"production": {"action": "restrict"}}}})
    with pytest.raises(ConfigError, match="no roles to generate access for"):
        plan_access(project, ConsumptionConfig(), unnamed, classification=classes)
    bad = ConsumptionConfig.model_validate(
        {"roles": {"a": ""}, "row_filters": [{"models": ["gold_revenue"], "member": "region",
                                               "user_attribute": "region"}]})
    with pytest.raises(ConfigError, match="member 'region' is not a column of model"):
        plan_access(project, bad, governance_from({}), classification=classes)


def test_generate_consumption_unknown_key_names_nearest(tmp_path):
    (tmp_path / "floe.yaml").write_text(
        "governance:\n  consumption:\n    roles: {a: x}\n    row_filter: []\n")
    with pytest.raises(ConfigError, match=r"governance\.consumption\.row_filter: unknown setting; "
                                          r"did you mean 'row_filters'"):
        load_consumption(tmp_path)
