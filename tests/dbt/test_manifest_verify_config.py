"""The manifest's node config, enabled state, lineage and relation names against the project.

Someone who owns ``target/manifest.json`` could otherwise change what ``dbt_project.yml``
``+meta``, a ``{{ config(meta=...) }}`` or ``enabled: false`` says, mark a classified model
disabled, or rewire ``depends_on`` and relation names (lacuna.dbt.verify, lacuna.dbt.expected).
Each case starts from a manifest real ``dbt parse`` wrote for the files (it must load), then
edits the JSON as an attacker would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt import ManifestError, load_project
from lacuna.dbt.expected import (
    TRACKED,
    UNKNOWN,
    Ref,
    Resolved,
    project_levels,
    scan_python,
    scan_sql,
)
from lacuna.dbt.manifest import DbtNode, run_dbt

CUSTOMERS = "model.lacuna_example.bronze_customers"
FOLDER_META = "dbt_project.yml (models: lacuna_example: customer_analytics)"


def _edit(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = project / "target" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _refusal(project: Path) -> str:
    with pytest.raises(ManifestError) as caught:
        load_project(project)
    return str(caught.value)


def _set_meta(uid: str, meta: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node = manifest["nodes"][uid]
        node["meta"] = node["config"]["meta"] = meta

    return change


def _write(project: Path, rel: str, text: str) -> None:
    path = project / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _prepend(project: Path, rel: str, text: str) -> None:
    path = project / rel
    path.write_text(text + path.read_text(encoding="utf-8"), encoding="utf-8")


def _replace(project: Path, rel: str, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# The edits below do not touch one another's files or nodes, so one real `dbt parse` of the
# example with all of them stands for each (dbt's manifest of the edited files must load); each
# test then edits a copy of that manifest as an attacker would.


def _sql_config_meta_and_tags(project: Path) -> None:
    # YAML says confidential, the SQL's config() says restricted and wins (dbt's precedence)
    _write(
        project,
        "models/finance/schema.yml",
        "version: 2\nmodels:\n  - name: gold_revenue\n"
        "    meta: {lacuna: {tier: confidential, tags: [FINANCE]}}\n",
    )
    _prepend(
        project,
        "models/finance/gold_revenue.sql",
        "{{ config(meta={'lacuna': {'tier': 'restricted'}}, tags=['SOX']) }}\n",
    )


def _disabled_three_ways(project: Path) -> None:
    # disabled three ways: config() in the SQL, the YAML entry, a dbt_project.yml folder
    _write(project, "models/off_sql.sql", "{{ config(enabled=false) }}\nselect 1 as a\n")
    _write(project, "models/off_yaml.sql", "select 1 as a\n")
    _write(project, "models/off_yaml.yml", DISABLED_YAML)
    _write(project, "models/archive/old_customers.sql", "select 1 as a\n")
    _replace(project, "dbt_project.yml", "    finance:\n",
             "    archive:\n      +enabled: false\n    finance:\n")


def _sources(project: Path) -> None:
    _write(project, "models/sources.yml", SOURCES_YAML)


def _python_model(project: Path) -> None:
    # dbt.config(...) and dbt.ref(...) of a Python model, read from the file as dbt does
    _write(project, "models/finance/py_customers.py", PY_MODEL)


def _package(project: Path) -> None:
    # a package's node: its own dbt_project.yml, then the root project's `models: <package>:`;
    # and a source of the same name as the root project's, which its model reads
    _write(
        project,
        "pkgs/shop/dbt_project.yml",
        "name: shop\nversion: '1.0'\nconfig-version: 2\n"
        "models:\n  shop:\n    +meta: {classification: CONFIDENTIAL}\n",
    )
    _write(project, "pkgs/shop/models/shop_orders.sql", "select 1 as order_id\n")
    _write(project, "pkgs/shop/models/sources.yml", SHOP_SOURCES_YAML)
    _write(project, "pkgs/shop/models/shop_people.sql",
           "select email from {{ source('crm', 'people') }}\n")
    packages = project / "packages.yml"
    packages.write_text(
        packages.read_text(encoding="utf-8") + "  - local: pkgs/shop\n", encoding="utf-8"
    )
    _replace(project, "dbt_project.yml", "models:\n",
             "models:\n  shop:\n    +meta: {lacuna: {tier: restricted}}\n")


@pytest.fixture(scope="module")
def edited(dbt_built: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built example with every edit above, and the manifest real dbt parsed from it."""
    root = tmp_path_factory.mktemp("edited") / "dbt_project"
    shutil.copytree(dbt_built.dir, root, symlinks=True)
    for edit in (_sql_config_meta_and_tags, _disabled_three_ways, _sources, _python_model,
                 _package):
        edit(root)
    run_dbt(["deps"], root)
    run_dbt(["parse"], root)
    return root


@pytest.fixture
def edited_copy(edited: Path, tmp_path: Path) -> Path:
    """A private copy of ``edited`` to change."""
    return Path(shutil.copytree(edited, tmp_path / "edited", symlinks=True))


# -- 1. node meta from dbt_project.yml and config() --------------------------------------------


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        pytest.param(
            {"tags": ["PII", "CUSTOMER_DATA"]},
            "meta.classification: the manifest says None, the file says 'PROPRIETARY'",
            id="folder-classification-dropped",
        ),
        pytest.param(
            {"classification": "PUBLIC", "tags": ["PII", "CUSTOMER_DATA"]},
            "meta.classification: the manifest says 'PUBLIC', the file says 'PROPRIETARY'",
            id="folder-classification-lowered",
        ),
        pytest.param(
            {"classification": "PROPRIETARY"},
            "meta.tags: the manifest says None, the file says ['PII', 'CUSTOMER_DATA']",
            id="folder-tags-dropped",
        ),
    ],
)
def test_verify_dbt_project_folder_meta(
    built_copy: Path, meta: dict[str, Any], expected: str
) -> None:
    # examples/dbt_project: customer_analytics: +meta: {classification: PROPRIETARY, tags: ...}
    _edit(built_copy, _set_meta(CUSTOMERS, meta))
    assert f"{CUSTOMERS} ({FOLDER_META}): {expected}" in _refusal(built_copy)


def test_verify_dbt_project_meta_added_to_a_model_outside_the_folder(built_copy: Path) -> None:
    _edit(
        built_copy, _set_meta("model.lacuna_example.gold_revenue", {"lacuna": {"tier": "public"}})
    )
    assert (
        "model.lacuna_example.gold_revenue (models/finance/gold_revenue.sql): "
        "meta.lacuna.tier: the manifest says 'public', the file says None"
    ) in _refusal(built_copy)


def test_verify_sql_config_meta_wins_and_is_checked(edited_copy: Path) -> None:
    parsed = load_project(edited_copy)  # dbt's own manifest of these files is believed
    assert parsed.node("gold_revenue").meta["lacuna"] == {"tier": "restricted"}
    _edit(
        edited_copy,
        _set_meta(
            "model.lacuna_example.gold_revenue",
            {"lacuna": {"tier": "confidential", "tags": ["FINANCE"]}},
        ),
    )
    message = _refusal(edited_copy)
    assert (
        "model.lacuna_example.gold_revenue (models/finance/gold_revenue.sql): "
        "meta.lacuna.tier: the manifest says 'confidential', the file says 'restricted'"
    ) in message
    assert "meta.lacuna.tags: the manifest says ['FINANCE'], the file says None" in message


def test_verify_sql_config_tags_are_checked(edited_copy: Path) -> None:
    assert "SOX" in load_project(edited_copy).node("gold_revenue").tags

    def change(manifest: dict[str, Any]) -> None:
        node = manifest["nodes"]["model.lacuna_example.gold_revenue"]
        node["tags"] = node["config"]["tags"] = []

    _edit(edited_copy, change)
    assert (
        "gold_revenue (models/finance/gold_revenue.sql): tags: the file gives SOX, the "
        "manifest does not"
    ) in _refusal(edited_copy)


LAKE_YAML = """version: 2
sources:
  - name: lake
    schema: "{{ 'RAW' | lower }}"
    database: "{{ target.database }}"
    tables:
      - name: clicks
        identifier: "{{ 'click' ~ 's' }}"
"""
CLICKS = "source.lacuna_example.lake.clicks"


def test_verify_jinja_fails_closed_without_parse_and_passes_with_it(built_copy: Path) -> None:
    # Jinja in a column's YAML meta, in a config() argument, in dbt_project.yml's +meta and in
    # an enabled flag: only dbt renders them, so only --parse can vouch for the manifest
    _write(
        built_copy,
        "models/finance/schema.yml",
        "version: 2\nmodels:\n  - name: gold_revenue\n    columns:\n"
        "      - name: revenue\n"
        "        meta: {floe: {classification: \"{{ 'financial' }}\"}}\n",
    )
    _prepend(
        built_copy,
        "models/customer_analytics/silver/silver_orders.sql",
        "{{ config(meta={'lacuna': {'tier': var('orders_tier', 'confidential')}}) }}\n",
    )
    _prepend(
        built_copy,
        "models/customer_analytics/gold/gold_customer_orders.sql",
        "{{ config(enabled=target.name == 'dev') }}\n",
    )
    config = built_copy / "dbt_project.yml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "    finance:\n",
            "    finance:\n      +meta:\n        classification: \"{{ 'INTERNAL' }}\"\n",
        ),
        encoding="utf-8",
    )
    # a source's schema, database and identifier with Jinja (dbt renders them to these)
    _write(built_copy, "models/lake.yml", LAKE_YAML)
    project = load_project(built_copy, parse=True)  # dbt renders it: believed
    assert project.node("gold_revenue").meta["classification"] == "INTERNAL"
    clicks = project.nodes[CLICKS]
    assert (clicks.database, clicks.schema, clicks.alias) == ("warehouse", "raw", "clicks")
    message = _refusal(built_copy)
    assert message.splitlines()[0].endswith(
        f"cannot be checked against the project's files in {built_copy} without dbt (7 values):"
    )
    for key, line, said in (("identifier", 7, "clicks"), ("schema", 3, "raw"),
                            ("database", 3, "warehouse")):
        assert (
            f"{CLICKS} (models/lake.yml:{line}): {key}: set with Jinja only dbt renders, so "
            f"Lacuna cannot check the manifest's {said} (needs --parse)"
        ) in message
    assert (
        "gold_revenue (models/finance/schema.yml:5): column revenue: set with Jinja only "
        "dbt renders, so Lacuna cannot check the manifest's meta.floe {classification: "
        "financial} (needs --parse)"
    ) in message
    assert (
        "silver_orders (models/customer_analytics/silver/silver_orders.sql): "
        "meta: set with Jinja only dbt renders"
    ) in message
    assert (
        "gold_customer_orders (models/customer_analytics/gold/gold_customer_orders.sql): "
        "enabled: set with Jinja only dbt renders, so Lacuna cannot check the manifest's "
        "enabled (needs --parse)"
    ) in message
    assert (
        "gold_revenue (dbt_project.yml (models: lacuna_example: finance)): "
        "meta.classification: set with Jinja only dbt renders, so Lacuna cannot check the "
        "manifest's 'INTERNAL'"
    ) in message
    assert "pass --parse (`lacuna compile --parse`, load_project(parse=True))" in message
    assert "stale" not in message


def test_verify_macro_that_sets_meta_fails_closed(built_copy: Path) -> None:
    # a macro the model calls sets its meta through config(): only dbt knows what it sets, so
    # dropping it from the manifest must not pass as "the files set nothing"
    _write(
        built_copy,
        "macros/restricted.sql",
        "{% macro restricted() %}{{ config(meta={'lacuna': {'tier': 'restricted'}}) }}"
        "{% endmacro %}\n",
    )
    _prepend(built_copy, "models/finance/gold_revenue.sql", "{{ restricted() }}\n")
    project = load_project(built_copy, parse=True)
    assert project.node("gold_revenue").meta["lacuna"] == {"tier": "restricted"}
    _edit(built_copy, _set_meta("model.lacuna_example.gold_revenue", {}))
    message = _refusal(built_copy)
    assert (
        "model.lacuna_example.gold_revenue (models/finance/gold_revenue.sql): meta: set "
        "with Jinja only dbt renders"
    ) in message
    load_project(built_copy, parse=True)


def test_verify_jinja_in_a_key_classification_does_not_read_is_fine(built_copy: Path) -> None:
    config = built_copy / "dbt_project.yml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "    finance:\n", "    finance:\n      +meta:\n        owner: \"{{ 'finance' }}\"\n"
        ),
        encoding="utf-8",
    )
    _prepend(
        built_copy,
        "models/finance/gold_revenue.sql",
        "{{ config(materialized=var('m', 'table')) }}\n",
    )
    load_project(built_copy, parse=True)
    load_project(built_copy)


# -- 2. disabled nodes -------------------------------------------------------------------------


def _disable(uid: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node = manifest["nodes"].pop(uid)
        node["config"]["enabled"] = False
        manifest["disabled"][uid] = [node]

    return change


def test_verify_classified_model_marked_disabled_is_refused(built_copy: Path) -> None:
    # disabled, its columns are never classified and its policies never checked
    _edit(built_copy, _disable(CUSTOMERS))
    message = _refusal(built_copy)
    assert (
        f"{CUSTOMERS} (models/customer_analytics/bronze/bronze_customers.sql): the manifest "
        "lists this model as disabled, but the project enables it: its classification and "
        "policy checks would be skipped"
    ) in message


def test_verify_seed_marked_disabled_is_refused(built_copy: Path) -> None:
    _edit(built_copy, _disable("seed.lacuna_example.raw_customers"))
    assert (
        "seed.lacuna_example.raw_customers (seeds/raw_customers.csv): the manifest lists "
        "this seed as disabled"
    ) in _refusal(built_copy)


DISABLED_YAML = """version: 2
models:
  - name: off_yaml
    config: {enabled: false}
    columns:
      - name: a
        meta: {floe: {classification: pii}}
"""


def test_verify_disabled_models_as_dbt_writes_them_and_enabling_one(edited_copy: Path) -> None:
    parsed = load_project(edited_copy)
    assert {n.name for n in parsed.disabled_nodes} == {"off_sql", "off_yaml", "old_customers"}

    def enable(uid: str) -> Callable[[dict[str, Any]], None]:
        def change(manifest: dict[str, Any]) -> None:
            node = manifest["disabled"].pop(uid)[0]
            node["config"]["enabled"] = True
            manifest["nodes"][uid] = node

        return change

    _edit(edited_copy, enable("model.lacuna_example.off_yaml"))
    _edit(edited_copy, enable("model.lacuna_example.old_customers"))
    message = _refusal(edited_copy)
    assert (
        "model.lacuna_example.off_yaml (models/off_yaml.yml:3): the project disables this "
        "model (enabled: false), the manifest has it enabled"
    ) in message
    assert (
        "model.lacuna_example.old_customers (dbt_project.yml (models: lacuna_example: "
        "archive)): the project disables this model"
    ) in message


# -- 3. depends_on and relation names ----------------------------------------------------------


SILVER = "model.lacuna_example.silver_customers"
SILVER_SQL = "models/customer_analytics/silver/silver_customers.sql"


@pytest.mark.parametrize(
    ("parents", "expected"),
    [
        pytest.param(
            [],
            f"depends_on: the manifest lacks {CUSTOMERS}, which the file's "
            "ref()/source() read (classification is inherited through depends_on)",
            id="parent-dropped",
        ),
        # the example's models have post-hooks, whose ref()s dbt adds: an extra parent is
        # allowed there (it only makes the model inherit more), a lost one is not
        pytest.param(
            ["seed.lacuna_example.raw_orders"],
            f"depends_on: the manifest lacks {CUSTOMERS}, which",
            id="parent-swapped",
        ),
    ],
)
def test_verify_depends_on_is_the_files_refs(
    built_copy: Path, parents: list[str], expected: str
) -> None:
    # classification is inherited through depends_on: a laundered parent list would drop PII
    def change(manifest: dict[str, Any]) -> None:
        manifest["nodes"][SILVER]["depends_on"]["nodes"] = parents

    _edit(built_copy, change)
    assert f"{SILVER} ({SILVER_SQL}): {expected}" in _refusal(built_copy)


def test_verify_ref_to_a_node_the_manifest_lacks(built_copy: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["nodes"]["seed.lacuna_example.raw_orders"]["name"] = "renamed"

    _edit(built_copy, change)
    assert (
        "model.lacuna_example.bronze_orders (models/customer_analytics/bronze/"
        "bronze_orders.sql): the file reads ref('raw_orders'), which is no enabled node of "
        "the manifest"
    ) in _refusal(built_copy)


def _relation(uid: str, **fields: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest["nodes"][uid].update(fields)

    return change


REVENUE = "model.lacuna_example.gold_revenue"
REVENUE_SQL = "models/finance/gold_revenue.sql"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"relation_name": '"warehouse"."main"."elsewhere"'},
            f"{REVENUE} ({REVENUE_SQL}): relation_name: the manifest says "
            '"warehouse"."main"."elsewhere", which is not its database, schema and '
            "alias/identifier (warehouse.main.gold_revenue)",
            id="relation-name",
        ),
        pytest.param(
            {"alias": "elsewhere", "relation_name": '"warehouse"."main"."elsewhere"'},
            f"{REVENUE} ({REVENUE_SQL}): alias: the manifest says 'elsewhere', the project "
            "says 'gold_revenue'",
            id="alias",
        ),
        pytest.param(
            {"schema": "scratch", "relation_name": '"warehouse"."scratch"."gold_revenue"'},
            f"{REVENUE} ({REVENUE_SQL}): schema: the manifest says 'scratch', the project "
            "says 'main' (the target's schema, profiles.yml (lacuna_example: outputs: dev))",
            id="schema",
        ),
        pytest.param(
            {
                "alias": "gold_customer_orders",
                "relation_name": '"warehouse"."main"."gold_customer_orders"',
            },
            "model.lacuna_example.gold_customer_orders (models/customer_analytics/gold/"
            'gold_customer_orders.sql): relation_name: "warehouse"."main".'
            '"gold_customer_orders" is also model.lacuna_example.gold_revenue\'s',
            id="shared-relation",
        ),
    ],
)
def test_verify_relation_names(built_copy: Path, fields: dict[str, str], expected: str) -> None:
    # a read of the real table must find the node that holds its classification (gold_revenue
    # has no children whose compiled SQL would show the change)
    _edit(built_copy, _relation(REVENUE, **fields))
    assert expected in _refusal(built_copy)


SOURCES_YAML = """version: 2
sources:
  - name: crm
    schema: raw
    tables:
      - name: people
        columns:
          - name: email
            meta: {floe: {classification: pii}}
      - name: events
        schema: elsewhere
"""
SHOP_SOURCES_YAML = """version: 2
sources:
  - name: crm
    schema: shop_raw
    tables:
      - name: people
"""
EVENTS = "source.lacuna_example.crm.events"


def test_verify_sources_dropped_forged_or_renamed(edited_copy: Path) -> None:
    load_project(edited_copy)
    manifest = json.loads((edited_copy / "target" / "manifest.json").read_text("utf-8"))
    people = manifest["sources"]["source.lacuna_example.crm.people"]

    def change(manifest: dict[str, Any]) -> None:
        manifest["sources"].pop("source.lacuna_example.crm.people")
        manifest["sources"]["source.lacuna_example.crm.forged"] = dict(
            people,
            name="forged",
            unique_id="source.lacuna_example.crm.forged",
            identifier="forged",
            relation_name='"warehouse"."raw"."forged"',
            columns={},
        )

    _edit(edited_copy, change)
    message = _refusal(edited_copy)
    assert (
        "source.lacuna_example.crm.people (models/sources.yml:6): the manifest has no node "
        "of this source table (enabled or disabled)"
    ) in message
    assert (
        "source.lacuna_example.crm.forged (models/sources.yml): no YAML file of the project "
        "declares this source table"
    ) in message


def test_verify_source_table_schema_dbt_ignores(edited_copy: Path) -> None:
    # dbt names a source table's relation after its source's schema: a `schema:` on the table
    # is not read (dbt-core's SourcePatcher; UnparsedSourceTableDefinition has none)
    events = load_project(edited_copy).nodes[EVENTS]
    assert (events.schema, events.relation_name) == ("raw", '"warehouse"."raw"."events"')

    def change(manifest: dict[str, Any]) -> None:
        manifest["sources"][EVENTS].update(
            schema="elsewhere", relation_name='"warehouse"."elsewhere"."events"')

    _edit(edited_copy, change)
    assert (
        f"{EVENTS} (models/sources.yml:3): schema: the manifest says 'elsewhere', the file "
        "says 'raw'"
    ) in _refusal(edited_copy)


SHOP_PEOPLE = "model.shop.shop_people"


def test_verify_package_source_resolved_root_project_first(edited_copy: Path) -> None:
    # source('crm', 'people') in a package's model: dbt looks in the root project first, then
    # in the model's own package (Manifest.resolve_source, _packages_to_search)
    root_people, own_people = "source.lacuna_example.crm.people", "source.shop.crm.people"
    project = load_project(edited_copy)
    assert project.node("shop_people").depends_on == (root_people,)
    assert own_people in project.nodes

    def parent(uid: str) -> Callable[[dict[str, Any]], None]:
        def change(manifest: dict[str, Any]) -> None:
            manifest["nodes"][SHOP_PEOPLE]["depends_on"]["nodes"] = [uid]

        return change

    _edit(edited_copy, parent(own_people))  # rerouted to the package's less classified table
    assert (
        f"{SHOP_PEOPLE} (dbt_packages/shop/models/shop_people.sql): depends_on: the manifest "
        f"lacks {root_people}, which the file's ref()/source() read"
    ) in _refusal(edited_copy)
    # dbt's behaviour flag turns the order round: the package's own source first
    _replace(edited_copy, "dbt_project.yml", "\nmodels:\n",
             "\nflags:\n  require_ref_searches_node_package_before_root: true\nmodels:\n")
    assert load_project(edited_copy).node("shop_people").depends_on == (own_people,)
    _edit(edited_copy, parent(root_people))
    assert f"depends_on: the manifest lacks {own_people}" in _refusal(edited_copy)


PY_MODEL = """def model(dbt, session):
    dbt.config(materialized="table", meta={"lacuna": {"tier": "restricted"}}, tags=["PII"])
    return dbt.ref("bronze_customers")
"""


def test_verify_python_model_config_and_refs(edited_copy: Path) -> None:
    project = load_project(edited_copy)
    assert project.node("py_customers").meta["lacuna"] == {"tier": "restricted"}

    def change(manifest: dict[str, Any]) -> None:
        node = manifest["nodes"]["model.lacuna_example.py_customers"]
        node["meta"] = node["config"]["meta"] = {}
        node["depends_on"]["nodes"] = []

    _edit(edited_copy, change)
    message = _refusal(edited_copy)
    where = "model.lacuna_example.py_customers (models/finance/py_customers.py)"
    assert (
        f"{where}: meta.lacuna.tier: the manifest says None, the file says 'restricted'"
    ) in message
    assert f"{where}: depends_on: the manifest lacks {CUSTOMERS}" in message


def test_verify_package_node_config_root_project_last(edited_copy: Path) -> None:
    project = load_project(edited_copy)
    assert project.node("shop_orders").meta == {
        "classification": "CONFIDENTIAL",
        "lacuna": {"tier": "restricted"},
    }
    _edit(edited_copy, _set_meta("model.shop.shop_orders", {"classification": "CONFIDENTIAL"}))
    assert (
        "model.shop.shop_orders (dbt_project.yml (models: shop)): meta.lacuna.tier: the "
        "manifest says None, the file says 'restricted'"
    ) in _refusal(edited_copy)
    _edit(edited_copy, _set_meta("model.shop.shop_orders", {"lacuna": {"tier": "restricted"}}))
    assert (
        "model.shop.shop_orders (dbt_packages/shop/dbt_project.yml (models: shop)): "
        "meta.classification: the manifest says None, the file says 'CONFIDENTIAL'"
    ) in _refusal(edited_copy)


def _bare(name: str, kind: str = "model", **extra: Any) -> DbtNode:
    return DbtNode(
        unique_id=f"{kind}.p.{name}",
        name=name,
        resource_type=kind,
        package_name="p",
        path="",
        original_file_path=f"models/{name}.sql",
        folder="",
        **extra,
    )


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        (
            False,
            [
                "model.p.m: depends_on: the manifest adds model.p.x, which the file does not "
                "read (classification is inherited through depends_on)"
            ],
        ),
        (True, []),  # a hook's ref() would be in depends_on too
    ],
)
def test_verify_depends_on_extra_parent(hooks: bool, expected: list[str]) -> None:
    from lacuna.dbt.verify import _check_depends

    a, x = _bare("a"), _bare("x")
    node = _bare("m", depends_on=("model.p.a", "model.p.x"))
    found = _check_depends(
        node, scan_sql("select * from {{ ref('a') }}"), {"a": [a], "x": [x]}, "", hooks=hooks
    )
    assert [f"{m.node}: {m.detail}" for m in found] == expected


# -- the scanner (no dbt) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "refs", "config"),
    [
        (
            "select * from {{ ref('a') }} join {{ source('s', 't') }} {# c #}",
            (Ref("a"), Ref("t", "s")),
            {},
        ),
        (
            "{{ config(meta={'lacuna': {'tier': 'restricted'}}, enabled=false) }}select 1",
            (),
            {"meta": {"lacuna": {"tier": "restricted"}}, "enabled": False},
        ),
        (
            "{{ config(tags='A') }}{{ config(tags=['B'], meta={'x': 1}) }}"
            "{{ config(meta={'y': 2}) }}",
            (),
            {"tags": ["A", "B"], "meta": {"x": 1, "y": 2}},
        ),
        ("{{ config({'alias': 'x'}) }}{{- ref('a') -}}", (Ref("a"),), {"alias": "x"}),
        ("{{ config(meta=var('m')) }}select 1", (), {"meta": UNKNOWN}),
        ("{% set m = {'a': 1} %}{{ config(meta=m) }}{{ ref('a') }}", None, {"meta": UNKNOWN}),
        (
            "{{ config(**opts) }}select 1",
            None,
            dict.fromkeys(TRACKED, UNKNOWN),
        ),
        ("{% if x %}{{ ref('a') }}{% endif %}", None, {}),
        (
            "{% snapshot s %}{{ config(target_schema='x') }}select * from {{ ref('a') }}"
            "{% endsnapshot %}",
            (Ref("a"),),
            {"target_schema": "x"},
        ),
        ("select '{{' || 'x'", None, {}),
        (
            "{% if target.name == 'prod' %}{{ config(enabled=false) }}{% endif %}select 1",
            None,
            {"enabled": UNKNOWN},
        ),
        ("{% if 'PII' in model.tags or config.get('meta') %}select 1{% endif %}", None, {}),
        (
            "{{ config(dataset='raw', post_hook='grant select on {{ this }} to r') }}select 1",
            (),
            {"schema": "raw", "hooks": True},
        ),
    ],
)
def test_scan_sql(sql: str, refs: tuple[Ref, ...] | None, config: dict[str, Any]) -> None:
    scan = scan_sql(sql)
    assert (scan.refs, dict(scan.config)) == (refs, config)


def test_scan_python_model() -> None:
    scan = scan_python(
        "def model(dbt, session):\n"
        "    dbt.config(materialized='table', meta={'lacuna': {'tier': 'public'}})\n"
        "    return dbt.ref('a').join(dbt.source('s', 't'))\n"
    )
    assert (set(scan.refs or ()), dict(scan.config)) == (
        {Ref("a"), Ref("t", "s")},
        {"meta": {"lacuna": {"tier": "public"}}},
    )


def test_project_levels_are_dbts_fqn_search() -> None:
    # `+key` or a plain key whose value is not a mapping; `meta: {...}` without + is a folder
    config = {
        "models": {
            "+meta": {"a": 1},
            "p": {"enabled": False, "meta": {"x": 1}, "f": {"+tags": ["T"]}, "g": {"+tags": "U"}},
        }
    }
    assert list(project_levels(config, "models", ["p", "f", "m"])) == [
        ({"meta": {"a": 1}}, "dbt_project.yml (models)"),
        ({"enabled": False}, "dbt_project.yml (models: p)"),
        ({"tags": ["T"]}, "dbt_project.yml (models: p: f)"),
    ]


def test_resolved_merges_as_dbt_does() -> None:
    # later wins; meta shallowly (meta.lacuna replaced whole), tags appended, Jinja unknown
    resolved = Resolved()
    resolved.apply(
        {
            "meta": {
                "classification": "PROPRIETARY",
                "lacuna": {"tier": "confidential", "tags": ["A"]},
            },
            "tags": ["X"],
            "enabled": True,
        },
        "dbt_project.yml",
    )
    resolved.apply(
        {
            "meta": {"lacuna": {"tier": "restricted", "owner": "{{ var('o') }}"}},
            "tags": "Y",
            "dataset": "raw",
        },
        "schema.yml:3",
    )
    resolved.apply({"enabled": False, "post_hook": "select 1"}, "m.sql")
    assert resolved.values == {
        "meta": {
            "classification": "PROPRIETARY",
            "lacuna": {"tier": "restricted", "owner": UNKNOWN},
        },
        "tags": ["X", "Y"],
        "enabled": False,
        "schema": "raw",
    }
    assert [
        resolved.at(k) for k in ("meta.lacuna.tier", "meta.classification", "meta.tags", "enabled")
    ] == ["schema.yml:3", "dbt_project.yml", "", "m.sql"]
    assert resolved.hooks
