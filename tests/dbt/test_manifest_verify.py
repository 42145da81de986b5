"""A manifest is believed only when it matches the project's files (lacuna.dbt.verify).

Every case starts from the example project built by real dbt (``built_copy``), edits its
manifest or its files as someone with write access to ``target/`` (or a stale checkout) would,
and loads it as ``lacuna compile`` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt import ManifestError, load_project

BRONZE = "models/customer_analytics/bronze/schema.yml"
RUN_PARSE = r"run `dbt parse` in .* \(or `lacuna compile --parse`\)"


def _edit_manifest(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = project / "target" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _node(manifest: dict[str, Any], uid: str) -> dict[str, Any]:
    node: dict[str, Any] = manifest["nodes"][uid]
    return node


def _set_column_meta(uid: str, column: str, meta: dict[str, Any]
                     ) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        col = _node(manifest, uid)["columns"][column]
        col["meta"] = meta
        col.setdefault("config", {})["meta"] = meta

    return change


def _refusal(project: Path) -> str:
    with pytest.raises(ManifestError) as caught:
        load_project(project)
    return str(caught.value)


# Edits of the example that do not touch one another's files or nodes: one real `dbt parse`
# of all of them stands for each (dbt's manifest of the edited files must load).


def _seed_meta_in_yaml(project: Path) -> None:
    seeds = project / "seeds" / "seeds.yml"
    text = seeds.read_text(encoding="utf-8")
    old = "  - name: raw_orders\n    description: Orders from the shop.\n"
    assert old in text
    seeds.write_text(text.replace(old, old + "    meta:\n      lacuna: {tier: confidential, "
                                  "tags: [SALES]}\n    config: {tags: [FINANCE]}\n"),
                     encoding="utf-8")


def _sources_and_versions(project: Path) -> None:
    (project / "models" / "extra.yml").write_text(EXTRA_YAML, encoding="utf-8")
    (project / "models" / "vm_v1.sql").write_text("select 1 as a\n", encoding="utf-8")
    (project / "models" / "vm_v2.sql").write_text(
        "select a, b from {{ source('ext', 'people') }}\n", encoding="utf-8")


def _config_dbt_resolves(project: Path) -> None:
    (project / "models" / "finance" / "schema.yml").write_text(
        "version: 2\n\nmodels:\n  - name: gold_revenue\n"
        "    meta: {lacuna: {tier: confidential}}\n"
        "    columns:\n      - name: revenue\n"
        "        meta:\n          floe: {classification: financial}\n",
        encoding="utf-8")
    sql = project / "models" / "finance" / "gold_revenue.sql"
    sql.write_text("{{ config(meta={'lacuna': {'tier': 'restricted'}}) }}\n"
                   + sql.read_text(encoding="utf-8"), encoding="utf-8")
    (project / "models" / "off.sql").write_text("{{ config(enabled=false) }}\nselect 1 as a\n",
                                                encoding="utf-8")  # a disabled model


TESTED_YAML = """version: 2
models:
  - name: tested
    description: "{{ doc('tested_doc') }}"
    data_tests:
      - unique:
          arguments: {column_name: "a || '-' || b"}
    columns:
      - name: a
        description: The a.
        data_tests:
          - not_null:
              name: a_is_there
          - accepted_values:
              arguments: {values: [1, 2]}
      - name: b
        tests: [not_null]
      - name: c
        data_tests:
          - name: c_named_apart
            test_name: not_null
  - name: tv
    latest_version: 2
    columns:
      - name: x
        data_tests: [not_null]
    versions:
      - v: 1
      - v: 2
        description: The second version.
        columns:
          - include: all
          - name: y
            description: Why.
            data_tests: [unique]
sources:
  - name: ext2
    schema: raw
    freshness: {warn_after: {count: 12, period: hour}}
    loaded_at_field: loaded_at
    tables:
      - name: things
        description: Things.
        columns:
          - name: id
            data_tests: [unique]
"""


def _tests_and_docs(project: Path) -> None:
    """Tests and descriptions in every way dbt takes them (lacuna.dbt.verify_tests)."""
    models = project / "models"
    (models / "tested.yml").write_text(TESTED_YAML, encoding="utf-8")
    (models / "tested_docs.md").write_text("{% docs tested_doc %}\nTested.\n{% enddocs %}\n",
                                           encoding="utf-8")
    (models / "tested.sql").write_text("select 1 as a, 2 as b, 3 as c\n", encoding="utf-8")
    (models / "tv_v1.sql").write_text("select 1 as x\n", encoding="utf-8")
    (models / "tv_v2.sql").write_text("select 1 as x, 2 as y\n", encoding="utf-8")
    (project / "tests").mkdir(exist_ok=True)
    (project / "tests" / "assert_tested.sql").write_text(
        "select * from {{ ref('tested') }} where a > b\n", encoding="utf-8")


@pytest.fixture(scope="module")
def edited(dbt_built: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built example with the edits above, and the manifest real dbt parsed from it."""
    from lacuna.dbt import run_dbt

    root = tmp_path_factory.mktemp("edited") / "dbt_project"
    shutil.copytree(dbt_built.dir, root, symlinks=True)
    for edit in (_seed_meta_in_yaml, _sources_and_versions, _config_dbt_resolves,
                 _tests_and_docs):
        edit(root)
    run_dbt(["parse"], root)
    return root


@pytest.fixture
def edited_copy(edited: Path, tmp_path: Path) -> Path:
    """A private copy of ``edited`` to change."""
    return Path(shutil.copytree(edited, tmp_path / "edited", symlinks=True))


def test_verify_untouched_built_project_loads(dbt_built: Any) -> None:
    project = load_project(dbt_built.dir)
    email = project.node("bronze_customers").columns["email"]
    assert email.meta["floe"]["classification"] == "pii"


def test_verify_declassified_column_is_refused_with_file_line_and_fix(built_copy: Path) -> None:
    _edit_manifest(built_copy, _set_column_meta("model.lacuna_example.bronze_customers", "email",
                                                {"lacuna": {"classification": "public"}}))
    message = _refusal(built_copy)
    manifest = built_copy / "target" / "manifest.json"
    assert message.startswith(f"{manifest}: the dbt manifest does not match the project's "
                              f"files in {built_copy} (1 difference):")
    assert (f"model.lacuna_example.bronze_customers ({BRONZE}:12): column email: the manifest "
            "says meta.lacuna {classification: public}, the file says meta.floe "
            "{classification: pii, pii_type: email, sensitivity: high}") in message
    assert "stale" in message


@pytest.mark.parametrize(("change", "expected"), [
    pytest.param(_set_column_meta("model.lacuna_example.bronze_customers", "ssn", {}),
                 rf"bronze_customers \({BRONZE}:18\): column ssn: the manifest says nothing "
                 r"\(no classification\), the file says meta.floe \{classification: pii",
                 id="meta-removed"),
    pytest.param(lambda m: _node(m, "model.lacuna_example.bronze_customers")["columns"]
                 .pop("email"),
                 rf"\({BRONZE}:12\): column email: the manifest says nothing",
                 id="column-removed"),
    pytest.param(_set_column_meta("seed.lacuna_example.raw_orders", "amount",
                                  {"lacuna": {"classification": "financial",
                                              "sensitivity": "low"}}),
                 r"raw_orders \(seeds/seeds.yml:\d+\): column amount: .*sensitivity: low.*"
                 r"sensitivity: medium",
                 id="seed-config-meta-lowered"),
    pytest.param(_set_column_meta("model.lacuna_example.bronze_customers", "customer_id",
                                  {"lacuna": {"classification": "pii"}}),
                 r"column customer_id: the manifest says meta.lacuna \{classification: pii\}, "
                 r"the file says nothing",
                 id="column-the-yaml-does-not-classify"),
    pytest.param(lambda m: _node(m, "model.lacuna_example.gold_revenue")["columns"].update(
                     secret={"name": "secret", "meta": {}, "tags": ["public"]}),
                 r"column secret: the manifest says tags \{classification: public\}, but the "
                 "file does not list the column",
                 id="column-the-yaml-does-not-list"),
    pytest.param(lambda m: _node(m, "model.lacuna_example.silver_customers").update(
                     patch_path=None),
                 None, id="patch-path-removed-changes-nothing"),
])
def test_verify_manifest_edits_of_classification(
        built_copy: Path, change: Callable[[dict[str, Any]], None], expected: str | None
) -> None:
    _edit_manifest(built_copy, change)
    if expected is None:  # where the YAML is is not taken from the manifest
        load_project(built_copy)
        return
    message = _refusal(built_copy)
    assert any(re.search(expected, line) for line in message.splitlines()), \
        message


def test_verify_classification_of_a_node_without_yaml_is_refused(built_copy: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        snap = _node(manifest, "snapshot.lacuna_example.customers_snapshot")
        snap["columns"] = {"email": {"name": "email", "meta": {"classification": "public"}}}

    _edit_manifest(built_copy, change)
    assert ("column email: the manifest says meta {classification: public}, but no YAML file "
            "of the project classifies this snapshot's columns") in _refusal(built_copy)


def test_verify_sql_changed_since_parse_says_run_dbt_parse(built_copy: Path) -> None:
    sql = built_copy / "models" / "finance" / "gold_revenue.sql"
    sql.write_text(sql.read_text(encoding="utf-8") + "\n-- a change, not parsed yet\n",
                   encoding="utf-8")
    message = _refusal(built_copy)
    assert ("model.lacuna_example.gold_revenue (models/finance/gold_revenue.sql): the file "
            "changed since dbt parsed the project (its SHA-256 is not the manifest's "
            "checksum)") in message
    assert "The manifest is stale" in message
    assert re.search(RUN_PARSE, message)


def test_verify_checksum_is_dbts_stripped_sha256(built_copy: Path) -> None:
    # dbt hashes the file's text with surrounding whitespace stripped: blank lines at the end
    # or start change nothing, as `dbt parse` would agree
    sql = built_copy / "models" / "finance" / "gold_revenue.sql"
    sql.write_text("\n\n" + sql.read_text(encoding="utf-8") + "\n\n  \n", encoding="utf-8")
    load_project(built_copy)


def _points_at(manifest: dict[str, Any], path: str) -> None:
    node = _node(manifest, "model.lacuna_example.silver_customers")
    gold = _node(manifest, "model.lacuna_example.gold_revenue")
    node["original_file_path"], node["checksum"] = path, gold["checksum"]


@pytest.mark.parametrize(("path", "expected"), [
    ("models/finance/gold_revenue.sql",
     "silver_customers (models/finance/gold_revenue.sql): the manifest names this file for "
     "silver_customers, but dbt names a model after its file"),
    ("../elsewhere/silver_customers.sql", "the manifest names a file outside the project"),
])
def test_verify_node_pointed_at_another_file(built_copy: Path, path: str, expected: str
                                              ) -> None:
    _edit_manifest(built_copy, lambda m: _points_at(m, path))
    assert expected in _refusal(built_copy)


def test_verify_node_removed_from_the_manifest(built_copy: Path) -> None:
    # its children would read a relation Lacuna knows nothing about
    _edit_manifest(built_copy, lambda m: m["nodes"].pop(
        "model.lacuna_example.bronze_customers"))
    assert ("project (models/customer_analytics/bronze/bronze_customers.sql): no node of the "
            "manifest comes from this file (added since dbt parsed the project, or its node was "
            "removed from the manifest)") in _refusal(built_copy)


def test_verify_new_model_file_not_parsed_yet(built_copy: Path) -> None:
    (built_copy / "models" / "finance" / "new_model.sql").write_text("select 1 as a\n",
                                                                    encoding="utf-8")
    assert "project (models/finance/new_model.sql): no node of the manifest comes from this " \
        "file" in _refusal(built_copy)


def test_verify_deleted_sql_file_is_stale(built_copy: Path) -> None:
    (built_copy / "models" / "finance" / "gold_revenue.sql").unlink()
    assert ("gold_revenue (models/finance/gold_revenue.sql): the file is missing (moved or "
            "deleted since dbt parsed the project)") in _refusal(built_copy)


@pytest.mark.parametrize(("checksum", "expected"), [
    (None, "the manifest has no checksum of this file"),
    ({"name": "none", "checksum": ""}, "the manifest has no checksum of this file"),
    ({"name": "path", "checksum": "seeds/raw_orders.csv"},
     "the manifest records the file by its path (a seed over 1 MiB)"),
])
def test_verify_seed_checksum_forms(built_copy: Path, checksum: Any, expected: str) -> None:
    _edit_manifest(built_copy, lambda m: _node(m, "seed.lacuna_example.raw_orders").update(
        checksum=checksum))
    assert expected in _refusal(built_copy)


def test_verify_big_seed_checked_by_path(built_copy: Path) -> None:
    seed = built_copy / "seeds" / "raw_orders.csv"
    text = seed.read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    seed.write_text(header + "\n" + (first + "\n") * (1024 * 1024 // len(first) + 1),
                    encoding="utf-8")
    assert "raw_orders (seeds/raw_orders.csv): the file changed" in _refusal(built_copy)
    # over dbt's 1 MiB limit dbt records the path instead of a hash, and so does the check
    _edit_manifest(built_copy, lambda m: _node(m, "seed.lacuna_example.raw_orders").update(
        checksum={"name": "path", "checksum": "seeds/raw_orders.csv"}))
    load_project(built_copy)


def test_verify_yaml_edit_needs_parse_and_parse_passes(built_copy: Path) -> None:
    schema = built_copy / BRONZE
    schema.write_text(schema.read_text(encoding="utf-8").replace(
        "pii_type: email\n            sensitivity: high",
        "pii_type: email\n            sensitivity: critical"), encoding="utf-8")
    message = _refusal(built_copy)
    assert ("column email: the manifest says meta.floe {classification: pii, pii_type: email, "
            "sensitivity: high}, the file says meta.floe {classification: pii, pii_type: email, "
            "sensitivity: critical}") in message
    project = load_project(built_copy, parse=True)
    assert project.node("bronze_customers").columns["email"].meta["floe"]["sensitivity"] \
        == "critical"
    load_project(built_copy)  # dbt wrote it from the files: believed from now on


def test_verify_node_meta_set_in_yaml(edited_copy: Path) -> None:
    raw_orders = load_project(edited_copy).node("raw_orders")  # as dbt parsed it: believed
    assert raw_orders.meta["lacuna"]["tier"] == "confidential"
    assert "FINANCE" in raw_orders.tags

    def change(manifest: dict[str, Any]) -> None:
        node = _node(manifest, "seed.lacuna_example.raw_orders")
        for holder in (node, node["config"]):
            holder["meta"] = {"lacuna": {"tier": "public", "tags": ["SALES"]}}
            holder["tags"] = []

    _edit_manifest(edited_copy, change)
    message = _refusal(edited_copy)
    assert ("seed.lacuna_example.raw_orders (seeds/seeds.yml:33): meta.lacuna.tier: the "
            "manifest says 'public', the file says 'confidential'") in message
    assert "raw_orders (seeds/seeds.yml:33): tags: the file gives FINANCE, the manifest does " \
        "not" in message


def test_verify_manifest_of_another_project(built_copy: Path) -> None:
    _edit_manifest(built_copy, lambda m: m["metadata"].update(project_name="other"))
    assert ("project (dbt_project.yml): the manifest is of project 'other', dbt_project.yml "
            "names 'lacuna_example'") in _refusal(built_copy)


def test_verify_missing_project_files_fail_closed_unless_opted_out(built_copy: Path,
                                                                     tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    (alone / "target").mkdir(parents=True)
    shutil.copy(built_copy / "target" / "manifest.json", alone / "target" / "manifest.json")
    message = _refusal(alone)
    assert f"{alone / 'dbt_project.yml'} is missing" in message
    assert "--no-verify-manifest" in message
    project = load_project(alone, verify=False)
    assert project.node("bronze_customers").columns["email"].meta["floe"]["pii_type"] == "email"
    from typer.testing import CliRunner

    from lacuna.cli import app

    runner = CliRunner()
    refused = runner.invoke(app, ["dbt", "classify", "--project-dir", str(alone), "--json"])
    assert isinstance(refused.exception, ManifestError)
    believed = runner.invoke(app, ["dbt", "classify", "--project-dir", str(alone), "--json",
                                   "--no-verify-manifest"])
    assert believed.exit_code == 0, believed.output
    assert "model.lacuna_example.bronze_customers" in json.loads(believed.output)


def test_verify_missing_package_is_named(built_copy: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        node = dict(_node(manifest, "model.lacuna_example.gold_revenue"), package_name="pkg")
        manifest["nodes"]["model.pkg.gold_revenue"] = node

    _edit_manifest(built_copy, change)
    message = _refusal(built_copy)
    assert "nodes of the package(s) pkg, which are not installed in" in message
    assert "run `dbt deps`" in message


def _lacuna(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-c", "from lacuna.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, check=False, timeout=300)


def test_verify_lacuna_compile_refuses_an_edited_manifest(built_copy: Path) -> None:
    _edit_manifest(built_copy, _set_column_meta("model.lacuna_example.bronze_customers", "email",
                                                {"lacuna": {"classification": "public"}}))
    done = _lacuna("compile", "--project-dir", str(built_copy))
    assert done.returncode == 2, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "the dbt manifest does not match the project's files" in err
    assert f"({BRONZE}:12): column email" in err
    assert "lacuna compile --parse" in err
    # believed: the example's strict gates then run (and fail on its test coverage: exit 1)
    opted_out = _lacuna("compile", "--project-dir", str(built_copy), "--no-verify-manifest")
    assert opted_out.returncode in (0, 1), opted_out.stdout + opted_out.stderr
    assert "[5/5]" in opted_out.stdout
    parsed = _lacuna("compile", "--project-dir", str(built_copy), "--parse")
    assert parsed.returncode in (0, 1), parsed.stdout + parsed.stderr
    assert "[5/5]" in parsed.stdout


def test_verify_compiled_sql_is_its_file_compiled(built_copy: Path) -> None:
    # column lineage is traced through the compiled SQL: hashing a column there would lower
    # what every column downstream inherits
    def change(manifest: dict[str, Any]) -> None:
        node = _node(manifest, "model.lacuna_example.silver_customers")
        node["compiled_code"] = node["compiled_code"].replace(
            "lower(email) as email_address", "md5(lower(email)) as email_address")

    _edit_manifest(built_copy, change)
    assert ("model.lacuna_example.silver_customers (models/customer_analytics/silver/"
            "silver_customers.sql): the compiled SQL in the manifest is not this file compiled "
            "(its ref() and source() resolved); run `dbt compile` or `dbt build` again"
            ) in _refusal(built_copy)


@pytest.mark.parametrize(("sql", "expected"), [
    ("select a from {{ ref('m') }} {# note #}{{ config(materialized='view') }}",
     'select a from "db"."main"."m"'),
    ("select a from {{ source('raw', 't') }}", 'select a from "db"."raw"."t"'),
    # Jinja's whitespace control strips the whitespace next to the tag
    ("select a from\n  {{- ref('m') -}}\n  where 1", 'select a from"db"."main"."m"where 1'),
    ("select a from {{ ref('eph') }}", None),  # inlined as a CTE by dbt
    ("{% if target.name == 'prod' %}select 1{% endif %}", None),  # only dbt renders it
    ("select {{ my_macro('a') }} from {{ ref('m') }}", None),
    ("select a from {{ ref('unknown') }}", None),
])
def test_verify_compiled_only_for_plain_refs(sql: str, expected: str | None) -> None:
    from lacuna.dbt.manifest import DbtNode
    from lacuna.dbt.verify import _compiled

    def node(name: str, kind: str, relation: str, **extra: Any) -> DbtNode:
        return DbtNode(unique_id=f"{kind}.p.{name}", name=name, resource_type=kind,
                       package_name="p", path="", original_file_path="", folder="",
                       relation_name=relation, **extra)

    nodes = [node("m", "model", '"db"."main"."m"'),
             node("t", "source", '"db"."raw"."t"', source_name="raw"),
             node("eph", "model", "", materialized="ephemeral")]
    by_name = {n.name: [n] for n in nodes}
    assert _compiled(sql, by_name, "p") == expected


EXTRA_YAML = """version: 2
sources:
  - name: ext
    schema: raw
    meta: {classification: CONFIDENTIAL}
    tags: [SOURCETAG]
    tables:
      - name: people
        meta: {lacuna: {tags: [TBL]}}
        columns:
          - name: email
            meta: {lacuna: {classification: pii, pii_type: email}}
          - name: note
            tags: [pii]
models:
  - name: vm
    latest_version: 2
    config: {tags: [GDPR]}
    columns:
      - name: a
        meta: {floe: {classification: pii}}
      - name: b
        meta: {floe: {classification: financial}}
    versions:
      - v: 1
        columns:
          - include: all
            exclude: [b]
      - v: 2
"""


def _source_and_versions(manifest: dict[str, Any]) -> None:
    source = manifest["sources"]["source.lacuna_example.ext.people"]
    for holder in (source, source["config"]):
        holder["meta"] = {"lacuna": {"tags": ["TBL"]}}  # the source's classification dropped
        holder["tags"] = []
    note = source["columns"]["note"]
    note["tags"] = note["config"]["tags"] = []
    a = _node(manifest, "model.lacuna_example.vm.v1")["columns"]["a"]
    a["meta"] = a["config"]["meta"] = {}


def test_verify_sources_and_versioned_models(edited_copy: Path) -> None:
    load_project(edited_copy)  # as dbt wrote it: a source's meta, a version's columns
    _edit_manifest(edited_copy, _source_and_versions)
    message = _refusal(edited_copy)
    assert ("source.lacuna_example.ext.people (models/extra.yml:8): meta.classification: the "
            "manifest says None, the file says 'CONFIDENTIAL'") in message
    assert "people (models/extra.yml:8): tags: the file gives SOURCETAG" in message
    assert ("people (models/extra.yml:13): column note: the manifest says nothing (no "
            "classification), the file says tags {classification: pii}") in message
    assert ("model.lacuna_example.vm.v1 (models/extra.yml:20): column a: the manifest says "
            "nothing") in message


def test_verify_no_false_alarm_for_config_dbt_resolves(edited_copy: Path) -> None:
    # a config(meta=...) in the SQL that wins over the YAML's node meta, a disabled model, and
    # dbt_project.yml's +meta: all as dbt parse writes them (Jinja in a column's meta fails
    # closed instead: test_manifest_verify_config.py)
    parsed = load_project(edited_copy)
    assert ("lacuna_example", "models/off.sql") in parsed.disabled
    node = parsed.node("gold_revenue")
    assert node.meta["lacuna"] == {"tier": "restricted"}  # the SQL's config() wins
    assert node.columns["revenue"].meta["floe"] == {"classification": "financial"}


def test_verify_manifest_key_of_the_dbt_section(built_copy: Path, tmp_path: Path) -> None:
    # server reads: lacuna.yaml's dbt.verify_manifest is the opt-out (default: check)
    from lacuna.config import config_from_dict
    from lacuna.dbt.reads import configured_plan

    alone = tmp_path / "alone"
    (alone / "target").mkdir(parents=True)
    shutil.copy(built_copy / "target" / "manifest.json", alone / "target" / "manifest.json")
    checked = config_from_dict({"dbt": {"project_dir": str(alone),
                                        "environment": "production"}})
    with pytest.raises(ManifestError, match=r"dbt_project\.yml is missing"):
        configured_plan(checked)
    believed = config_from_dict({"dbt": {"project_dir": str(alone), "environment": "production",
                                         "verify_manifest": False}})
    plan = configured_plan(believed)
    assert plan is not None
    assert "model.lacuna_example.bronze_customers" in plan.classification.nodes


# -- tests and descriptions: what the quality gates count (lacuna.dbt.verify_tests) ---------


def test_verify_tests_and_descriptions_as_dbt_parses_them(edited_copy: Path) -> None:
    project = load_project(edited_copy)  # every way of writing them, as dbt parsed them
    tested = project.node("tested")
    assert tested.description.strip() == "Tested."  # the doc() block, rendered by dbt
    kinds = sorted((t.test_name or "singular", t.column_name or "") for t in project.tests.values()
                   if tested.unique_id in t.nodes)
    assert kinds == [("accepted_values", "a"), ("not_null", "a"), ("not_null", "b"),
                     ("not_null", "c"), ("singular", ""), ("unique", "a || '-' || b")]
    assert any(t.column_name == "y"
               for t in project.node("model.lacuna_example.tv.v2").tests)
    assert project.node("source.lacuna_example.ext2.things").freshness
    from lacuna.dbt.compile import compile_project, load_project_gates

    gates, _ = load_project_gates(edited_copy)
    report = compile_project(project, gates)  # the gates read what was believed
    coverage = {c.name: c for c in report.model_coverage}
    assert set(coverage["tested"].tested_columns) == {"a", "b", "c"}


def _forged_test(kind: str, uid: str, column: str | None
                 ) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        template = next(n for n in manifest["nodes"].values()
                        if n["resource_type"] == "test" and n.get("test_metadata"))
        test = json.loads(json.dumps(template))
        tid = f"test.lacuna_example.{kind}_forged.0"
        test.update(unique_id=tid, name=f"{kind}_forged", attached_node=uid, column_name=column,
                    depends_on={"nodes": [uid], "macros": []},
                    test_metadata={"name": kind, "namespace": None,
                                   "kwargs": {"column_name": column}})
        manifest["nodes"][tid] = test

    return change


def _forged_elsewhere(manifest: dict[str, Any]) -> None:
    # a test named as if of a package the project has no node of: no package's files were
    # compared with it (review25)
    _forged_test("not_null", "model.lacuna_example.gold_revenue", "revenue")(manifest)
    test = manifest["nodes"].pop("test.lacuna_example.not_null_forged.0")
    test.update(unique_id="test.ghost.not_null_forged.0", package_name="ghost")
    manifest["nodes"][test["unique_id"]] = test


def _forged_singular(manifest: dict[str, Any]) -> None:
    # a singular test whose "file" is the model's own: the gates read the columns it names
    uid = "model.lacuna_example.gold_revenue"
    template = next(n for n in manifest["nodes"].values() if n["resource_type"] == "test")
    test = json.loads(json.dumps(template))
    test.update(unique_id="test.lacuna_example.assert_forged.0", name="assert_forged",
                attached_node=None, column_name=None, test_metadata=None,
                original_file_path="models/finance/gold_revenue.sql",
                depends_on={"nodes": [uid], "macros": []})
    manifest["nodes"][test["unique_id"]] = test


def _described(manifest: dict[str, Any]) -> None:
    node = _node(manifest, "model.lacuna_example.gold_revenue")
    node["description"] = "Revenue per month."
    node["columns"]["revenue"]["description"] = "Revenue."


@pytest.mark.parametrize(("change", "expected"), [
    pytest.param(_forged_test("not_null", "model.lacuna_example.gold_revenue", "revenue"),
                 r"not_null_forged.0 \(models/finance/schema.yml:4\): the manifest has a "
                 r"not_null test on column revenue of gold_revenue, but the file lists no such "
                 r"test there", id="generic-test-on-a-column"),
    pytest.param(_forged_test("unique", "model.lacuna_example.gold_customer_orders",
                              "full_name"),
                 r"unique test on column full_name of gold_customer_orders",
                 id="test-on-a-column-the-yaml-does-not-test"),
    pytest.param(_forged_test("unique", "model.lacuna_example.bronze_orders", "order_id"),
                 r"unique test on column order_id of bronze_orders",
                 id="another-test-than-the-yaml-lists"),  # the YAML has not_null only
    pytest.param(_forged_test("not_null", "snapshot.lacuna_example.customers_snapshot",
                              "customer_id"),
                 r"not_null test on customers_snapshot, but no YAML file of the project has "
                 r"an entry for it|not_null test .* no YAML", id="test-on-a-node-without-yaml"),
    pytest.param(_forged_elsewhere,
                 r"the manifest has nodes of the package\(s\) ghost, which are not "
                 r"installed", id="test-of-no-package"),
    pytest.param(_forged_singular,
                 r"assert_forged.0 \(models/finance/gold_revenue.sql\): the manifest has a "
                 r"singular test that is no .sql file under the project's test-paths",
                 id="singular-test-pointing-at-a-model"),
    pytest.param(lambda m: m["sources"]["source.lacuna_example.ext.people"].update(
                     freshness={"warn_after": {"count": 1, "period": "hour"}}),
                 r"source.lacuna_example.ext.people \(models/extra.yml:\d+\): the manifest "
                 r"configures a freshness check on this source, but neither its YAML nor "
                 r"dbt_project.yml has a `freshness:`", id="source-freshness"),
    pytest.param(_described,
                 r"gold_revenue \(models/finance/schema.yml:4\): the manifest has a "
                 r"description of gold_revenue, but its YAML entry has none",
                 id="model-description"),
])
def test_verify_tests_and_descriptions_the_files_do_not_have(
        edited_copy: Path, change: Callable[[dict[str, Any]], None], expected: str) -> None:
    # each would turn a failing quality gate green (coverage, not_null_pk/unique_pk,
    # freshness, documentation) by editing target/manifest.json alone
    _edit_manifest(edited_copy, change)
    message = _refusal(edited_copy)
    assert any(re.search(expected, line) for line in message.splitlines()), message


def test_verify_forged_tests_cannot_pass_the_strict_gate(built_copy: Path) -> None:
    from lacuna.dbt.compile import compile_project, load_project_gates

    def forge(manifest: dict[str, Any]) -> None:
        _described(manifest)
        for column in ("revenue_month", "revenue", "orders", "margin_pct"):
            for kind in ("not_null", "unique"):
                _forged_test(kind, "model.lacuna_example.gold_revenue", column)(manifest)
                manifest["nodes"][f"test.lacuna_example.{kind}_{column}.0"] = \
                    manifest["nodes"].pop(f"test.lacuna_example.{kind}_forged.0")

    _edit_manifest(built_copy, forge)
    gates, _ = load_project_gates(built_copy)
    # believed (--no-verify-manifest), the forgery would satisfy gold_revenue's gates
    believed = compile_project(load_project(built_copy, verify=False), gates)
    rules = {f.rule_id for f in believed.findings if f.model_name == "gold_revenue"}
    assert not rules & {"lacuna.coverage.model", "lacuna.tests.primary_key"}, rules
    assert not [f for f in believed.findings if f.model_name == "gold_revenue"
                and "documentation" in f.message], believed.findings
    message = _refusal(built_copy)  # what lacuna compile loads: refused
    assert "not_null test on column revenue_month of gold_revenue" in message
    assert "(10 differences)" in message  # 8 tests, 2 descriptions
