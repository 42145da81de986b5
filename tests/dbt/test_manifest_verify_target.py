"""Relation names against the target, snapshots, project macros and versioned refs.

The manifest's schemas and databases come from ``profiles.yml``'s target; a snapshot names its
relation with ``target_schema`` or, defined in YAML (dbt 1.9+), like a model; a project's own
``generate_schema_name`` or a ``{% raw %}`` block is only dbt's to render; a versioned model's
``ref()`` resolves to one version (lacuna.dbt.target, lacuna.dbt.versions, lacuna.dbt.verify).
One small plain-text project is parsed by real dbt once for the module; each test copies it and
edits the manifest (or the files) as someone with write access to ``target/`` would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt import ManifestError, load_project
from lacuna.dbt.expected import TRACKED, UNKNOWN, Ref, ref_call, scan_sql
from lacuna.dbt.manifest import find_dbt, run_dbt
from lacuna.dbt.target import duckdb_database

FILES = {
    "dbt_project.yml": "name: p\nversion: '1.0'\nconfig-version: 2\nprofile: p\n",
    "profiles.yml": (
        "p:\n  target: dev\n  outputs:\n"
        "    dev: {type: duckdb, path: target/wh.duckdb, schema: analytics}\n"
        "    prod: {type: duckdb, path: target/prod.duckdb, schema: reporting}\n"
    ),
    "models/base.sql": "select 1 as a\n",
    "models/dim_v1.sql": "select 1 as a, 2 as b\n",
    "models/dim_v2.sql": "select 1 as a\n",
    # unpinned (the latest version, 1 here), pinned with v= and with version=
    "models/user.sql": (
        "select * from {{ ref('dim') }} join {{ ref('dim', v=1) }} on true\n"
        "join {{ ref('dim', version='2') }} on true\n"
    ),
    "models/only_v2.sql": "select * from {{ ref('dim', v=2) }}\n",
    "models/custom.sql": "{{ config(schema='marts') }}\nselect * from {{ ref('base') }}\n",
    "models/schema.yml": (
        "version: 2\nmodels:\n  - name: dim\n    latest_version: 1\n    versions:\n"
        "      - v: 1\n      - v: 2\n"
    ),
    "snapshots/legacy.sql": (
        "{% snapshot legacy %}\n{{ config(target_schema='snaps', target_database='wh', "
        "unique_key='a', strategy='check', check_cols='all') }}\n"
        "select * from {{ ref('base') }}\n{% endsnapshot %}\n"
    ),
    "snapshots/snaps.yml": (
        "snapshots:\n  - name: ysnap\n    relation: ref('base')\n    config:\n"
        "      schema: ysnaps\n      unique_key: a\n      strategy: check\n      check_cols: all\n"
    ),
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project above with the manifest real ``dbt parse`` wrote for it (once)."""
    if find_dbt() is None:
        pytest.skip("dbt is not installed (scripts/setup.sh puts it in .venv-dbt)")
    root = tmp_path_factory.mktemp("target") / "p"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    run_dbt(["parse"], root)
    return root


@pytest.fixture
def project(parsed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the parsed project, dbt's environment variables unset."""
    for name in ("DBT_TARGET", "DBT_PROFILE", "DBT_PROFILES_DIR", "LACUNA_TEST_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    return Path(shutil.copytree(parsed, tmp_path / "p"))


def _edit(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / "target" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _refusal(root: Path, **kwargs: Any) -> str:
    with pytest.raises(ManifestError) as caught:
        load_project(root, **kwargs)
    return str(caught.value)


def _move(key: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    """Every node in ``old`` (schema or database) moved to ``new`` together."""

    def change(manifest: dict[str, Any]) -> None:
        for node in manifest["nodes"].values():
            if node.get(key) == old:
                node[key] = new
                node["relation_name"] = node["relation_name"].replace(f'"{old}"', f'"{new}"')

    return change


def _write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


# -- 1. the target's schema and database -------------------------------------------------------


def test_genuine_manifest_loads_with_target_snapshots_and_versions(project: Path) -> None:
    loaded = load_project(project)
    schemas = {n.name: n.schema for n in loaded.nodes.values() if n.resource_type != "source"}
    assert schemas == {"base": "analytics", "user": "analytics", "only_v2": "analytics",
                       "custom": "analytics_marts", "dim": "analytics", "legacy": "snaps",
                       "ysnap": "analytics_ysnaps"}
    assert {n.database for n in loaded.nodes.values()} == {"wh"}
    assert set(loaded.node("user").depends_on) == {"model.p.dim.v1", "model.p.dim.v2"}
    assert loaded.node("ysnap").depends_on == ("model.p.base",)


@pytest.mark.parametrize(("key", "old", "new", "expected"), [
    ("schema", "analytics", "public", "schema: the manifest says 'public', the project says "
     "'analytics' (the target's schema, profiles.yml (p: outputs: dev))"),
    ("schema", "analytics_marts", "public_marts", "schema: the manifest says 'public_marts', "
     "the project says 'analytics_marts' (<the target's schema 'analytics'>_<its schema config "
     "'marts'>)"),
    ("database", "wh", "other", "database: the manifest says 'other', the project says 'wh' "
     "(the target's database, profiles.yml (p: outputs: dev))"),
])
def test_nodes_moved_together_off_the_target(project: Path, key: str, old: str, new: str,
                                             expected: str) -> None:
    # every default-schema node moved at once: they still agree with each other, not with
    # profiles.yml
    _edit(project, _move(key, old, new))
    message = _refusal(project)
    assert expected in message
    assert "stale" in message


def test_target_from_dbt_target_or_the_argument(project: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_TARGET", "prod")  # dbt run with prod names other relations
    message = _refusal(project)
    assert ("model.p.base (models/base.sql): schema: the manifest says 'analytics', the "
            "project says 'reporting' (the target's schema, profiles.yml (p: outputs: prod))"
            ) in message
    assert "database: the manifest says 'wh', the project says 'prod'" in message
    assert load_project(project, target="dev").node("base").schema == "analytics"


def test_lacuna_compile_target_option(project: Path) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    runner = CliRunner()
    prod = runner.invoke(app, ["compile", "--project-dir", str(project), "--target", "prod"])
    assert isinstance(prod.exception, ManifestError), prod.output  # exit 2 from `lacuna`
    assert "the project says 'reporting'" in str(prod.exception)
    dev = runner.invoke(app, ["compile", "--project-dir", str(project), "--target", "dev"])
    assert dev.exit_code in (0, 1), dev.output  # believed: the report runs to the end
    assert "[5/5]" in dev.output


@pytest.mark.parametrize("command", [["dbt", "classify", "--json"], ["dbt", "policies"],
                                     ["dbt", "vars"]])
def test_lacuna_dbt_target_option(project: Path, monkeypatch: pytest.MonkeyPatch,
                                  command: list[str]) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    monkeypatch.setenv("LACUNA_DBT_HASH_KEY", "k" * 32)
    monkeypatch.chdir(project)  # no lacuna.yaml above the project
    runner = CliRunner()
    # prod is not the profile's default output: --target chooses it, and the manifest dbt
    # parsed for dev does not name its relations
    prod = runner.invoke(app, [*command, "--project-dir", str(project), "--target", "prod"])
    assert isinstance(prod.exception, ManifestError), prod.output
    assert ("schema: the manifest says 'analytics', the project says 'reporting' (the "
            "target's schema, profiles.yml (p: outputs: prod))") in str(prod.exception)
    # the profile's default made prod: -t dev is the output dbt parsed this manifest for
    profiles = project / "profiles.yml"
    profiles.write_text(profiles.read_text(encoding="utf-8").replace("target: dev",
                                                                     "target: prod"),
                        encoding="utf-8")
    assert isinstance(runner.invoke(app, [*command, "--project-dir", str(project)]).exception,
                      ManifestError)
    dev = runner.invoke(app, [*command, "--project-dir", str(project), "-t", "dev"])
    assert dev.exit_code == 0, dev.output
    if "--json" in command:
        assert set(json.loads(dev.output)) >= {"model.p.base", "model.p.custom"}


def test_evidence_warehouse_is_the_target_dbt_runs(project: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the DuckDB file `lacuna compile` checks encryption and runs quality checks on is the
    # one of the output dbt runs with: $DBT_TARGET and $DBT_PROFILE as dbt reads them
    import duckdb

    from lacuna.dbt.evidence import Evidence, duckdb_path

    profiles = project / "profiles.yml"
    profiles.write_text(profiles.read_text(encoding="utf-8") + (
        "q:\n  target: main\n  outputs:\n"
        "    main: {type: duckdb, path: \"{{ env_var('LACUNA_TEST_DB', 'q') }}.duckdb\"}\n"
        "    mem: {type: duckdb, path: ':memory:'}\n"
        "    pg: {type: postgres, host: h, user: u, dbname: d, schema: s}\n"),
        encoding="utf-8")
    for name in ("prod", "q"):
        folder = project / "target" if name == "prod" else project
        con = duckdb.connect(str(folder / f"{name}.duckdb"))
        con.execute(f"create table t as select '{name}' as who")
        con.close()
    loaded = load_project(project)
    assert duckdb_path(loaded) == project / "target" / "wh.duckdb"
    monkeypatch.setenv("DBT_TARGET", "prod")
    prod = duckdb_path(loaded)
    assert prod == project / "target" / "prod.duckdb"
    assert duckdb_path(loaded, "dev") == project / "target" / "wh.duckdb"  # --target wins
    verdict = Evidence(warehouse=prod, adapter="duckdb").encryption(loaded.node("base"))
    assert "prod.duckdb is not encrypted" in verdict.reason
    monkeypatch.setenv("DBT_PROFILE", "q")
    monkeypatch.delenv("DBT_TARGET")
    found = duckdb_path(loaded)
    assert found == project / "q.duckdb"
    assert found is not None
    assert duckdb.connect(str(found), read_only=True).execute("select who from t").fetchall() \
        == [("q",)]
    monkeypatch.setenv("LACUNA_TEST_DB", "other")
    assert duckdb_path(loaded) == project / "other.duckdb"
    assert duckdb_path(loaded, "mem") is None
    assert duckdb_path(loaded, "pg") is None


def test_profile_env_var_resolved_other_jinja_fails_closed(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = project / "profiles.yml"
    text = profiles.read_text(encoding="utf-8")
    profiles.write_text(text.replace(
        "schema: analytics}", "schema: \"{{ env_var('LACUNA_TEST_SCHEMA', 'analytics') }}\"}"),
        encoding="utf-8")
    assert load_project(project).node("base").schema == "analytics"  # the default, as dbt
    monkeypatch.setenv("LACUNA_TEST_SCHEMA", "elsewhere")
    assert "the project says 'elsewhere'" in _refusal(project)
    profiles.write_text(text.replace("schema: analytics}",
                                     "schema: \"{{ env_var('LACUNA_TEST_SCHEMA') }}\"}"),
                        encoding="utf-8")
    monkeypatch.delenv("LACUNA_TEST_SCHEMA")
    message = _refusal(project)
    assert ("project (profiles.yml (p: outputs: dev)): the target's schema and database, "
            "which every node's relation name starts from, are unknown: profiles.yml (p: "
            "outputs: dev): schema is \"{{ env_var('LACUNA_TEST_SCHEMA') }}\", and the "
            "environment variable LACUNA_TEST_SCHEMA is not set") in message
    profiles.write_text(text.replace("schema: analytics}",
                                     "schema: \"{{ 'ANALYTICS' | lower }}\"}"), encoding="utf-8")
    message = _refusal(project)
    assert "schema is \"{{ 'ANALYTICS' | lower }}\", Jinja only dbt renders" in message
    assert message.splitlines()[0].endswith("without dbt (1 value):")
    assert "pass --parse" in message


def test_no_profiles_fails_closed_and_dbt_profiles_dir_finds_it(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "profiles"
    elsewhere.mkdir()
    shutil.move(project / "profiles.yml", elsewhere / "profiles.yml")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    message = _refusal(project)
    assert "the target's schema and database, which every node's relation name starts from, " \
           f"are unknown: there is no profiles.yml in {project} or " in message
    monkeypatch.setenv("DBT_PROFILES_DIR", str(elsewhere))
    assert load_project(project).node("custom").schema == "analytics_marts"


# -- 2. snapshots ------------------------------------------------------------------------------


@pytest.mark.parametrize(("uid", "schema", "expected"), [
    ("snapshot.p.legacy", "analytics", "snapshot.p.legacy (snapshots/legacy.sql): schema: the "
     "manifest says 'analytics', the project says 'snaps' (its target_schema config)"),
    ("snapshot.p.ysnap", "public", "snapshot.p.ysnap (snapshots/snaps.yml:2): schema: the "
     "manifest says 'public', the project says 'analytics_ysnaps' (<the target's schema "
     "'analytics'>_<its schema config 'ysnaps'>)"),
])
def test_snapshot_schema_moved(project: Path, uid: str, schema: str, expected: str) -> None:
    def change(manifest: dict[str, Any]) -> None:
        node = manifest["nodes"][uid]
        node["relation_name"] = node["relation_name"].replace(f'"{node["schema"]}"',
                                                              f'"{schema}"')
        node["schema"] = schema

    _edit(project, change)
    assert expected in _refusal(project)


def test_yaml_snapshot_parent_dropped(project: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["nodes"]["snapshot.p.ysnap"]["depends_on"]["nodes"] = []

    _edit(project, change)
    assert ("snapshot.p.ysnap (snapshots/snaps.yml): depends_on: the manifest lacks "
            "model.p.base, which the file's ref()/source() read") in _refusal(project)


# -- 3. what only dbt renders: the project's generate_schema_name, {% raw %} -------------------


def test_own_name_macro_and_raw_block_need_parse(project: Path) -> None:
    _write(project, "macros/naming.sql",
           "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
           "  {{ custom_schema_name or 'flat' }}\n{%- endmacro %}\n")
    # a raw block: its text is not Jinja (a config() in it sets nothing)
    _write(project, "models/custom.sql",
           "{% raw %}{{ config(schema='ignored') }}{% endraw %}\n"
           "{{ config(schema='marts') }}\nselect * from {{ ref('base') }}\n")
    loaded = load_project(project, parse=True)  # dbt renders both: believed, as it wrote it
    assert loaded.node("custom").schema == "marts"
    assert loaded.node("base").schema == "flat"
    assert loaded.node("legacy").schema == "snaps"  # target_schema: not the macro's
    message = _refusal(project)  # the same manifest, without dbt to vouch for it
    assert message.splitlines()[0].endswith("cannot be checked against the project's files in "
                                            f"{project} without dbt (2 values):")
    assert ("project (macros/naming.sql): generate_schema_name is the project's own macro, so "
            "the schema of ") in message
    assert "pass --parse so dbt parses the project" in message
    assert ("model.p.custom (models/custom.sql): the file has a {% raw %} block, which Lacuna "
            "does not lex as Jinja does") in message


def test_schema_config_with_jinja_fails_closed(project: Path) -> None:
    # what dbt would write for this file too (var() defaults to 'marts'): only dbt knows that
    sql = "{{ config(schema=var('s', 'marts')) }}\nselect * from {{ ref('base') }}\n"
    _write(project, "models/custom.sql", sql)

    def change(manifest: dict[str, Any]) -> None:
        manifest["nodes"]["model.p.custom"]["checksum"]["checksum"] = \
            hashlib.sha256(sql.strip().encode()).hexdigest()

    _edit(project, change)
    assert ("model.p.custom (models/custom.sql): schema: set with Jinja only dbt renders, so "
            "Lacuna cannot check the manifest's 'analytics_marts' (needs --parse)"
            ) in _refusal(project)


# -- 4. versioned models -----------------------------------------------------------------------


@pytest.mark.parametrize(("uid", "parents", "expected"), [
    # ref('dim') is the latest version (latest_version: 1), ref('dim', v=1) too
    ("model.p.user", ["model.p.dim.v2"], ["model.p.user (models/user.sql): depends_on: the "
                                          "manifest lacks model.p.dim.v1, which the file's "
                                          "ref()/source() read"]),
    ("model.p.only_v2", ["model.p.dim.v1"], ["model.p.only_v2 (models/only_v2.sql): depends_on: "
                                             "the manifest lacks model.p.dim.v2, which the "
                                             "file's ref()/source() read",
                                             "adds model.p.dim.v1, which the file does not "
                                             "read"]),
])
def test_versioned_ref_depends_on(project: Path, uid: str, parents: list[str],
                                  expected: list[str]) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["nodes"][uid]["depends_on"]["nodes"] = parents

    _edit(project, change)
    message = _refusal(project)
    assert all(part in message for part in expected), message


def test_version_pointed_at_another_versions_file_or_dropped(project: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        v1, v2 = manifest["nodes"]["model.p.dim.v1"], manifest["nodes"]["model.p.dim.v2"]
        v2["original_file_path"], v2["checksum"] = v1["original_file_path"], v1["checksum"]

    _edit(project, change)
    assert ("model.p.dim.v2 (models/schema.yml:7): the manifest reads version 2 from "
            "models/dim_v1.sql, dbt reads it from dim_v2") in _refusal(project)

    def unversion(manifest: dict[str, Any]) -> None:
        manifest["nodes"].pop("model.p.dim.v2")
        for node in manifest["nodes"].values():
            node["depends_on"]["nodes"] = [p for p in node["depends_on"]["nodes"]
                                           if p != "model.p.dim.v2"]

    _edit(project, unversion)
    message = _refusal(project)
    assert ("model.p.dim.v2 (models/schema.yml:7): the YAML declares version 2, read from "
            "dim_v2, but the manifest has no node of it") in message
    assert "the file reads ref('dim', v=2), which is no enabled node" in message


# -- the pieces, without dbt -------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "expected"), [
    ("ref('m')", Ref("m")),
    ("ref('m', v=2)", Ref("m", version="2")),
    ("ref('m', version='1.5')", Ref("m", version="1.5")),
    ("ref('pkg', 'm', v=3)", Ref("m", package="pkg", version="3")),
    ("source('s', 't')", Ref("t", "s")),
    ("ref('m', v=var('v'))", None),
    ("ref(name)", None),
    ("ref('m', other=1)", None),
])
def test_ref_call(expression: str, expected: Ref | None) -> None:
    assert ref_call(expression) == expected


def test_scan_sql_raw_block_is_opaque() -> None:
    scan = scan_sql("{%- raw -%}{# {%- endraw %}{{ config(meta={'a': 1}) }}{% raw %} #}"
                    "{% endraw %}select 1")
    assert (scan.parts, scan.refs, scan.opaque) == (None, None, "a {% raw %} block")
    assert dict(scan.config) == dict.fromkeys(TRACKED, UNKNOWN)
    assert scan_sql("select * from {{ ref('m', v=2) }}").refs == (Ref("m", version="2"),)


@pytest.mark.parametrize(("path", "expected"), [
    (None, "memory"), (":memory:", "memory"), ("target/warehouse.duckdb", "warehouse"),
    ("/data/my.db.duckdb", "my"), ("md:analytics", "analytics"), ("md:", "my_db"),
])
def test_duckdb_database_from_path(path: str | None, expected: str) -> None:
    assert duckdb_database(path) == expected
