"""Versioned models (each version its own name, the plain name the latest) and models that read
a source whose YAML lists no columns (unknown: fail closed at run time too), on a real build of
the example with both added (``dbt_extras``) and on small generated manifests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt.classify import classify_project
from lacuna.dbt.compile import compile_project
from lacuna.dbt.consumption import load_consumption, plan_access
from lacuna.dbt.cube import generate_cube
from lacuna.dbt.evidence import names_node
from lacuna.dbt.gates import load_gates
from lacuna.dbt.manifest import load_project
from lacuna.dbt.reads import model_read
from lacuna.dbt.record import record_run
from lacuna.dbt.runtime import authorize_read, govern_vars, load_plan, read_model
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.lineage.records import DatasetRef
from lacuna.model import (
    Action,
    Classification,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Tier,
    User,
)

from .test_reads import ANALYST, _configure, _dbt_reads, _duckdb

P = "lacuna_example"
V1, V2 = f"model.{P}.dim_contacts.v1", f"model.{P}.dim_contacts.v2"
CRM = f"model.{P}.crm_customers"
BOB = User(id="bob", role="analyst", clearance=Tier.PUBLIC)
ANN = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _plan(project: Path, environment: str = "production") -> Any:
    return load_plan(project, environment=environment, config=current().config)


# -- versioned models --------------------------------------------------------------------------


def test_each_version_has_its_own_name_and_the_plain_name_is_the_latest(dbt_extras: Any) -> None:
    project = load_project(dbt_extras.dir)
    v1, v2 = project.nodes[V1], project.nodes[V2]
    assert (v1.dataset_name, v2.dataset_name) == ("dim_contacts.v1", "dim_contacts.v2")
    assert (v1.is_latest, v2.is_latest) == (False, True)
    assert project.node("dim_contacts") is v2  # ref('dim_contacts') reads v2
    assert project.node("dim_contacts.v1") is v1
    assert project.node("dim_contacts.v2") is v2
    pc = classify_project(project)
    assert list(pc.of("dim_contacts.v1").classification.columns) == ["customer_id", "city"]
    assert list(pc.of("dim_contacts").classification.columns) == ["customer_id", "email"]


def test_the_latest_version_is_latest_version_else_the_greatest(tmp_path: Path, gen: Any) -> None:
    def project(latest: str | None, versions: tuple[str, ...]) -> Any:
        nodes = []
        for v in versions:
            uid, node = gen.model(f"dim.v{v}")
            node.update(name="dim", version=v, latest_version=latest)
            nodes.append((uid, node))
        root = tmp_path / f"{latest}-{'-'.join(versions)}"
        gen.write(root, *nodes)
        return load_project(root, verify=False)

    assert project("1", ("1", "2")).node("dim").version == "1"  # v2 is a prerelease
    assert project(None, ("9", "10")).node("dim").version == "10"  # as numbers
    assert project(None, ("9", "10")).node("dim.v9").version == "9"


def test_reads_of_one_version_meet_that_versions_rules(dbt_extras: Any, tmp_path: Path) -> None:
    gov = _configure(tmp_path, dbt_extras.dir, ANALYST)
    gp = _plan(dbt_extras.dir)
    assert authorize_read(gp, "dim_contacts.v1", BOB, config=gov.config).allowed
    latest = authorize_read(gp, "dim_contacts", BOB, config=gov.config)
    assert not latest.allowed
    assert "may not read dim_contacts.v2" in latest.reasoning
    assert "column email" in latest.reasoning
    assert authorize_read(gp, "dim_contacts", ANN, config=gov.config).allowed

    # the server's decide: dbt://<project>/<model>.v<version>, and the plain name the latest
    def decide(name: str) -> Any:
        op = Operation(
            action=Action.READ,
            user=BOB,
            environment="production",
            classification=Classification(),
            destination=Destination(
                uri=f"dbt://{P}/{name}", type=DestinationType.DATABASE, scope=Scope.INTERNAL
            ),
        )
        return model_read(gov, op)

    op, denial = decide("dim_contacts.v1")
    assert denial is None
    assert list(op.classification.columns) == ["customer_id", "city"]
    for name in ("dim_contacts", "dim_contacts.v2"):
        op, denial = decide(name)
        assert denial is not None
        assert "email" in op.classification.columns
    _, unknown = decide("dim_contacts.v3")
    assert unknown is not None
    assert "dim_contacts.v3" in unknown.reasoning

    # SQL: each version's relation is decided as that version, and read back
    engine = _duckdb(dbt_extras.dir)
    with engine.connect() as con:
        rows = con.execute(sa.text("select customer_id, city from main.dim_contacts_v1")).fetchall()
        with pytest.raises(GovernanceViolation, match=r"dim_contacts\.v2"):
            con.execute(sa.text("select * from main.dim_contacts_v2")).fetchall()
    assert rows
    assert all(isinstance(r[1], str) for r in rows)
    assert [r.data["what"]["destination"] for r in _dbt_reads(gov)] == [
        f"dbt://{P}/dim_contacts.v2"
    ]


def test_record_and_lineage_name_each_version(dbt_extras: Any, tmp_path: Path) -> None:
    project = tmp_path / "built"
    shutil.copytree(dbt_extras.dir, project, symlinks=True)
    report = record_run(project)
    runs = {n.unique_id: n for n in report.nodes}
    store = current().lineage_store
    outputs = {}
    for uid in (V1, V2):
        [out] = store.get_run(runs[uid].run_id).outputs
        outputs[uid] = out
        assert runs[uid].decision is not None
        assert runs[uid].decision.operation.destination.uri == f"dbt://{P}/{out.dataset.name}"
    assert outputs[V1].dataset == DatasetRef(f"dbt://{P}", "dim_contacts.v1")
    assert outputs[V2].dataset == DatasetRef(f"dbt://{P}", "dim_contacts.v2")
    assert [c for c in outputs[V1].columns] == ["customer_id", "city"]
    assert outputs[V2].classification.tier is Tier.PROPRIETARY
    assert outputs[V1].classification.tier is Tier.PUBLIC
    assert store.runs(DatasetRef(f"dbt://{P}", "dim_contacts")) == []
    shown = runner.invoke(app, ["lineage", "show", f"dbt://{P}/dim_contacts.v1"])
    assert shown.exit_code == 0, shown.output
    assert f"dbt://{P}/raw_customers" in shown.output
    assert "dim_contacts.v2" not in shown.output


def test_compile_names_each_version(dbt_extras: Any) -> None:
    project = load_project(dbt_extras.dir)
    report = compile_project(project, load_gates({"minimum_test_coverage": 100}, None))
    names = {c.name for c in report.model_coverage}
    assert {"dim_contacts.v1", "dim_contacts.v2"} <= names
    found = {f.model_name for f in report.findings}
    assert {"dim_contacts.v1", "dim_contacts.v2"} <= found


def test_each_version_is_a_cube_of_its_own(dbt_extras: Any, tmp_path: Path) -> None:
    project = load_project(dbt_extras.dir)
    consumption, governance, _ = load_consumption(dbt_extras.dir)
    plan = plan_access(project, consumption, governance)
    files = {p.name: yaml.safe_load(p.read_text()) for p in generate_cube(plan, tmp_path)}
    cubes = {n: files[f"{n}.yml"]["cubes"][0] for n in ("dim_contacts_v1", "dim_contacts_v2")}
    columns = {n: [d["name"] for d in c["dimensions"]] for n, c in cubes.items()}
    assert columns == {
        "dim_contacts_v1": ["customer_id", "city"],
        "dim_contacts_v2": ["customer_id", "email"],
    }
    assert cubes["dim_contacts_v2"]["meta"]["lacuna"]["generated_from"] == V2


# -- a source whose YAML lists no columns: unknown, fail closed --------------------------------


def test_a_model_of_unknown_columns_is_governed_as_unknown(dbt_extras: Any, tmp_path: Path) -> None:
    gov = _configure(tmp_path, dbt_extras.dir, ANALYST)
    gp = _plan(dbt_extras.dir)
    nc = gp.classification.of("crm_customers")
    assert nc.unknown_reads == ("customers",)
    assert nc.classification.tier is Tier.PROPRIETARY
    assert "*" not in nc.classification.columns
    assert nc.unnamed is not None
    assert (nc.unnamed.classification.value, nc.unnamed.sensitivity.value) == ("pii", "high")
    denied = authorize_read(gp, "crm_customers", BOB, config=gov.config)
    assert not denied.allowed
    assert "crm_customers reads customers, whose YAML lists no columns" in denied.reasoning
    assert "list those columns with their meta.floe classification" in denied.reasoning
    # the allowed path: a data owner reads it, values and all
    assert authorize_read(gp, "crm_customers", ANN, config=gov.config).allowed
    frame = read_model(dbt_extras.dir, "crm_customers", user=ANN, governance_plan=gp)
    assert {"event", "node_id"} <= set(frame.columns)
    assert len(frame) > 0
    with pytest.raises(GovernanceViolation, match="whose YAML lists no columns"):
        read_model(dbt_extras.dir, "crm_customers", user=BOB, governance_plan=gp)
    # SQL too
    with _duckdb(dbt_extras.dir).connect() as con, pytest.raises(GovernanceViolation):
        con.execute(sa.text("select event from main.crm_customers")).fetchall()
    # non-production: every built column is rewritten (the hook expands "*"); planned with
    # a configuration that does not pin production (this one does: -e is refused)
    from lacuna.config import Config

    dev = govern_vars(load_plan(dbt_extras.dir, environment="development", config=Config()))
    assert dev["lacuna_governance"]["actions"][CRM]["*"][0] == "redact"


def test_record_of_a_model_of_unknown_columns_says_so(dbt_extras: Any, tmp_path: Path) -> None:
    project = tmp_path / "built"
    shutil.copytree(dbt_extras.dir, project, symlinks=True)
    report = record_run(project)
    [crm] = [n for n in report.nodes if n.unique_id == CRM]
    assert crm.decision is not None
    assert crm.decision.operation.classification.tier is Tier.PROPRIETARY
    [out] = current().lineage_store.get_run(crm.run_id).outputs
    assert out.classification.tier is Tier.PROPRIETARY
    assert any(
        "crm_customers reads customers, whose YAML lists no columns" in n for n in report.notes
    )
    done = runner.invoke(app, ["dbt", "record", "--project-dir", str(project)])
    assert "whose YAML lists no columns" in done.output


def test_declared_source_columns_lift_the_unknown(tmp_path: Path, gen: Any) -> None:
    def classified(columns: dict[str, Any]) -> Any:
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        uid, model = gen.model(
            "stg", parents=("source.p.crm.customers",), sql='select * from "db"."crm"."customers"'
        )
        model["depends_on"]["nodes"] = ["source.p.crm.customers"]
        path = gen.write(root, (uid, model))
        data = json.loads(path.read_text())
        data["sources"] = {
            "source.p.crm.customers": {
                "unique_id": "source.p.crm.customers",
                "resource_type": "source",
                "name": "customers",
                "source_name": "crm",
                "package_name": "p",
                "database": "db",
                "schema": "crm",
                "identifier": "customers",
                "columns": {c: {"name": c, **spec} for c, spec in columns.items()},
            }
        }
        path.write_text(json.dumps(data))
        return classify_project(load_project(root, verify=False)).of("stg")

    unknown = classified({})
    assert unknown.classification.tier is Tier.PROPRIETARY
    assert unknown.unnamed is not None
    declared = classified({"city": gen.floe("public"), "email": gen.floe("pii")})
    assert declared.unknown_reads == ()
    assert declared.unnamed is None
    assert declared.classification.columns["city"].classification.value == "public"
    assert declared.classification.columns["email"].classification.value == "pii"


def test_evidence_names_a_version_not_another(dbt_extras: Any) -> None:
    project = load_project(dbt_extras.dir)
    v1, v2 = project.nodes[V1], project.nodes[V2]
    assert names_node(f"read dbt://{P}/dim_contacts.v1.", v1, P)
    assert not names_node(f"read dbt://{P}/dim_contacts.v2", v1, P)
    assert not names_node(f"read dbt://{P}/dim_contacts", v1, P)  # the latest is v2
    assert names_node(f"read dbt://{P}/dim_contacts", v2, P)
    assert names_node(f"read dbt://{P}/dim_contacts.v2", v2, P)
