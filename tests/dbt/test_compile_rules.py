"""``lacuna compile``'s rules on small hand-made manifests, and its speed on 2,000 models."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt import compile as dbt_compile
from lacuna.dbt.compile import compile_project, load_project_gates, primary_key
from lacuna.dbt.gates import load_gates
from lacuna.dbt.manifest import load_project

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_dbt_compile.py"


def _model(name: str, columns: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"unique_id": f"model.p.{name}", "resource_type": "model", "name": name,
            "package_name": "p", "path": f"{name}.sql", "original_file_path": f"models/{name}.sql",
            "description": extra.pop("description", ""), "tags": [], "meta": {},
            "config": {"materialized": "table", "meta": extra.pop("meta", {})},
            "columns": {c: {"name": c, **v} for c, v in columns.items()},
            "depends_on": {"nodes": extra.pop("parents", [])}, "schema": "main", "alias": name,
            "constraints": extra.pop("constraints", []), **extra}


def _test(uid: str, kind: str | None, *, attached: str | None = None,
          column: str | None = None, depends: tuple[str, ...] = (),
          kwargs: dict[str, Any] | None = None, path: str = "models/schema.yml"
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"unique_id": uid, "resource_type": "test", "name": uid.split(".")[2],
                           "package_name": "p", "original_file_path": path,
                           "depends_on": {"nodes": list(depends)}}
    if kind:
        out["test_metadata"] = {"name": kind, "kwargs": kwargs or {}}
    if attached:
        out["attached_node"] = attached
    if column:
        out["column_name"] = column
    return out


def _project(tmp_path: Path, nodes: list[dict[str, Any]], sources: dict[str, Any] | None = None,
             files: dict[str, str] | None = None) -> Any:
    (tmp_path / "target").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    manifest = {"metadata": {"project_name": "p", "adapter_type": "duckdb"},
                "nodes": {n["unique_id"]: n for n in nodes}, "sources": sources or {}}
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(manifest))
    for rel, text in (files or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return load_project(tmp_path, verify=False)


def test_compile_counts_tests_linked_by_attached_node_or_only_depends_on(tmp_path):
    orders = _model("orders", {"id": {}, "customer_id": {}, "amount": {}, "status": {}})
    customers = _model("customers", {"id": {}, "name": {}})
    project = _project(tmp_path, [
        orders,
        customers,
        _test("test.p.not_null_orders_id.1", "not_null", attached="model.p.orders", column="id",
              depends=("model.p.orders",)),
        # no attached_node: linked only by depends_on, the column from the test's arguments
        _test("test.p.rel.2", "relationships", depends=("model.p.orders", "model.p.customers"),
              kwargs={"column_name": "customer_id", "to": "ref('customers')", "field": "id"}),
        # a singular test: the columns its SQL names
        _test("test.p.assert_positive.3", None, depends=("model.p.orders",),
              path="tests/assert_positive.sql"),
    ], files={"tests/assert_positive.sql": "select * from {{ ref('orders') }} where amount < 0"})
    node = project.node("orders")
    got = dbt_compile.tested_columns(project, node)
    assert got == {"id": {"not_null"}, "customer_id": {"relationships"},
                   "amount": {"singular"}}
    # the same relationships test tests customers.id, the column it points to
    assert dbt_compile.tested_columns(project, project.node("customers")) == {
        "id": {"relationships"}}
    report = compile_project(project, load_gates({"minimum_test_coverage": 80}, None))
    cov = next(m for m in report.model_coverage if m.name == "orders")
    assert cov.untested_columns == ("status",)
    assert cov.coverage == pytest.approx(75.0)


@pytest.mark.parametrize(("model", "tests", "expected"), [
    (_model("a", {"k": {}}, constraints=[{"type": "primary_key", "columns": ["k"]}]), [], ("k",)),
    (_model("a", {"k": {"constraints": [{"type": "primary_key"}]}}), [], ("k",)),
    (_model("a", {"k": {}}, meta={"lacuna": {"primary_key": "k"}}), [], ("k",)),
    (_model("a", {"k": {"meta": {"floe": {"primary_key": True}}}}), [], ("k",)),
    (_model("a", {"k": {}, "j": {}}), [_test("test.p.u.1", "unique", attached="model.p.a",
                                             column="j")], ("j",)),
    (_model("a", {"k": {}, "j": {}}), [_test("test.p.u.1", "unique_combination_of_columns",
                                             attached="model.p.a",
                                             kwargs={"combination_of_columns": ["k", "j"]})],
     ("k", "j")),
    (_model("a", {"k": {}}), [], ()),
])
def test_compile_primary_key_sources(tmp_path, model, tests, expected):
    project = _project(tmp_path, [model, *tests])
    assert primary_key(project.node("a")) == expected


def test_compile_pk_tests_satisfied_by_tests_or_constraints(tmp_path):
    gates = load_gates({"required_tests": ["not_null", "unique"]}, None)
    project = _project(tmp_path, [
        _model("by_tests", {"id": {}}),
        _test("test.p.nn.1", "not_null", attached="model.p.by_tests", column="id"),
        _test("test.p.u.2", "unique", attached="model.p.by_tests", column="id"),
        _model("by_constraint", {"id": {}},
               constraints=[{"type": "primary_key", "columns": ["id"]}]),
        _model("only_unique", {"id": {}}),
        _test("test.p.u.3", "unique", attached="model.p.only_unique", column="id"),
        _model("no_key", {"id": {}}),
    ])
    report = compile_project(project, gates)
    missing = {m.name: m.missing_tests for m in report.model_coverage}
    assert missing == {"by_tests": (), "by_constraint": (), "only_unique": ("not_null_pk",),
                       "no_key": ("not_null_pk", "unique_pk")}
    no_key = [f for f in report.findings if f.model_name == "no_key"]
    assert {f.rule_id for f in no_key} == {"lacuna.tests.primary_key"}
    assert "declare the primary key" in no_key[0].fix


def test_compile_freshness_from_sources_tests_or_gates(tmp_path):
    source = {"source.p.raw.events": {
        "unique_id": "source.p.raw.events", "resource_type": "source", "name": "events",
        "package_name": "p", "columns": {},
        "freshness": {"warn_after": {"count": 6, "period": "hour"}}}}
    project = _project(tmp_path, [
        _model("stg_events", {"id": {}}, parents=["source.p.raw.events"]),
        _model("int_events", {"id": {}}, parents=["model.p.stg_events"]),  # transitively
        _model("stg_other", {"id": {}}),
        _model("stg_recent", {"id": {}}),
        _test("test.p.recency.1", "dbt_utils.recency", attached="model.p.stg_recent"),
        _model("gold_kpis", {"id": {}}),
    ], sources=source)
    gates = load_gates({"required_tests": ["freshness"]},
                       {"gates": [{"name": "g", "scope": {"layer": "gold"},
                                   "checks": [{"type": "freshness", "max_age_hours": 1}]}]})
    report = compile_project(project, gates)
    missing = {m.name for m in report.model_coverage if "freshness" in m.missing_tests}
    assert missing == {"stg_other"}


def test_compile_escalation_raises_minimum_and_requires_evidence(tmp_path):
    pii = {"meta": {"floe": {"classification": "pii", "pii_type": "email",
                             "sensitivity": "high"}}, "description": "e-mail"}
    project = _project(tmp_path, [
        _model("stg_people", {"id": {"description": "key"}, "email": pii},
               description="people"),
        _test("test.p.nn.1", "not_null", attached="model.p.stg_people", column="id"),
        _test("test.p.u.2", "unique", attached="model.p.stg_people", column="id"),
    ])
    gates = load_gates({"layers": {"bronze": {"minimum_coverage": 50}}}, None)
    cov = compile_project(project, gates).model_coverage[0]
    assert (cov.escalation, cov.minimum_coverage) == ("pii", 100.0)
    assert cov.missing_tests == ("freshness", "audit_log", "masking_verified")
    off = load_gates({"layers": {"bronze": {"minimum_coverage": 50}},
                      "classification_escalation": False}, None)
    plain = compile_project(project, off).model_coverage[0]
    assert (plain.escalation, plain.minimum_coverage, plain.missing_tests) == (None, 50.0, ())


def _people_and_child(tmp_path: Path, child_email: dict[str, Any]) -> Any:
    """stg_people declares email PII; dim_people selects it as ``contact``."""
    pii = {"meta": {"floe": {"classification": "pii", "pii_type": "email",
                             "sensitivity": "high"}}}
    return _project(tmp_path, [
        _model("stg_people", {"id": {}, "email": pii}),
        _model("dim_people", {"id": {}, "contact": child_email},
               parents=["model.p.stg_people"], database="db",
               compiled_code='select id, email as contact from "db"."main"."stg_people"'),
    ])


def test_compile_escalates_a_model_whose_column_inherits_pii(tmp_path):
    project = _people_and_child(tmp_path, {})
    gates = load_gates({"minimum_test_coverage": 0}, None)
    report = compile_project(project, gates)
    cov = {c.name: c for c in report.model_coverage}["dim_people"]
    assert (cov.escalation, cov.minimum_coverage) == ("pii", 100.0)
    assert "masking_verified" in cov.missing_tests
    masking = [f for f in report.findings if f.rule_id == "lacuna.evidence.masking_verified"
               and f.model_name == "dim_people"]
    assert [f.column for f in masking] == ["contact"]
    assert not [f for f in report.findings if f.rule_id.startswith("lacuna.classification")]


def test_compile_reports_a_declaration_that_would_lower_an_inherited_class(tmp_path):
    public = {"meta": {"floe": {"classification": "public"}}}
    project = _people_and_child(tmp_path, public)
    gates = load_gates({"minimum_test_coverage": 0, "enforcement": "strict"}, None)
    report = compile_project(project, gates)
    [over] = [f for f in report.findings if f.rule_id == "lacuna.classification.overruled"]
    assert (over.model_name, over.column, over.level.value) == ("dim_people", "contact",
                                                                "error")
    assert "declared public" in over.message
    assert "inherits pii/email" in over.message
    assert over.fix
    assert over.path
    cov = {c.name: c for c in report.model_coverage}["dim_people"]
    assert cov.escalation == "pii"  # governed by what it holds, not by what it declares
    assert report.failed
    warn = compile_project(project, load_gates({"minimum_test_coverage": 0}, None))
    assert {f.level.value for f in warn.findings
            if f.rule_id == "lacuna.classification.overruled"} == {"warning"}


def test_compile_blocks_a_lower_declaration_on_a_python_model(tmp_path):
    # Lacuna cannot trace Python: the declaration used to stand unchecked
    public = {"meta": {"floe": {"classification": "public"}}}
    pii = {"meta": {"floe": {"classification": "pii", "pii_type": "email"}}}
    project = _project(tmp_path, [
        _model("stg_people", {"id": {}, "email": pii}),
        _model("py_people", {"contact": public}, parents=["model.p.stg_people"],
               language="python", original_file_path="models/py_people.py",
               compiled_code="def model(dbt, session):\n    return dbt.ref('stg_people')\n"),
    ])
    report = compile_project(project, load_gates({"minimum_test_coverage": 0,
                                                  "enforcement": "strict"}, None))
    [over] = [f for f in report.findings if f.rule_id == "lacuna.classification.overruled"]
    assert (over.model_name, over.column, over.level.value) == ("py_people", "contact",
                                                                "error")
    assert "may hold pii/email" in over.message
    assert "cannot trace" in over.fix
    assert report.failed


@pytest.mark.parametrize(("bad", "said"), [
    ({"meta": {"floe": {"classification": "secretish"}}}, "secretish"),
    # a class left out is no `public` (it was: the column read as public, low)
    ({"meta": {"floe": {"pii_type": "email", "sensitivity": "high"}}}, "no classification"),
])
def test_compile_says_when_the_project_cannot_be_classified(tmp_path, bad, said):
    project = _project(tmp_path, [_model("m", {"id": {}, "x": bad})])
    report = compile_project(project, load_gates({"minimum_test_coverage": 0}, None))
    [failed] = [f for f in report.findings if f.rule_id == "lacuna.classification.failed"]
    assert said in failed.message
    assert "declared meta only" in failed.message


def test_compile_2000_models(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_dbt_compile", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = bench.write_project(tmp_path / "big", 2000)
    # one compile: the timings compile_once returns (after a warm-up) are the benchmark's
    _, _, report = bench.compile_once(folder)
    assert report.models == 2000
    assert len(report.model_coverage) == 2000
    gates, _ = load_project_gates(folder)
    assert report.rules_loaded == gates.rules_loaded
    # The 5 s budget is measured by benchmarks/bench_dbt_compile.py (docs/benchmarks.md).


def test_compile_warns_about_columns_lacuna_cannot_name(tmp_path):
    pii = {"meta": {"floe": {"classification": "pii", "pii_type": "email",
                             "sensitivity": "high"}}}
    project = _project(tmp_path, [
        _model("stg_people", {"id": {}, "email": pii}),
        _model("dim_people", {"id": {}}, parents=["model.p.stg_people"], database="db",
               compiled_code='select id, upper(email) from "db"."main"."stg_people"'),
    ])
    report = compile_project(project, load_gates({"minimum_test_coverage": 0}, None))
    [found] = [f for f in report.findings if f.rule_id == "lacuna.classification.unnamed"]
    assert (found.model_name, found.level.value) == ("dim_people", "warning")
    assert "governed as pii (high)" in found.message
    assert "alias every output expression" in found.fix


def test_compile_blocks_a_model_reading_a_source_without_columns(tmp_path):
    # `select *` from a source whose YAML lists no columns built a model with no columns:
    # public, no runtime effect, and compile said nothing
    def source(columns):
        return {"source.p.crm.customers": {
            "unique_id": "source.p.crm.customers", "resource_type": "source",
            "name": "customers", "source_name": "crm", "package_name": "p", "database": "db",
            "schema": "crm", "identifier": "customers", "columns": columns}}

    def compiled(sources, sql='select * from "db"."crm"."customers"'):
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        root.mkdir()
        project = _project(root, [
            _model("stg_customers", {}, parents=["source.p.crm.customers"], database="db",
                   compiled_code=sql)], sources=sources)
        report = compile_project(project, load_gates({"minimum_test_coverage": 0,
                                                      "enforcement": "strict"}, None))
        return [f for f in report.findings if f.rule_id == "lacuna.classification.unknown"]

    [found] = compiled(source({}))
    assert found.level.value == "error"
    assert found.model_name == "stg_customers"
    assert "reads customers, whose columns Lacuna does not know" in found.message
    assert "list the columns of customers" in found.fix
    assert compiled(source({}), 'select email, ssn as ref from "db"."crm"."customers"')
    email = {"name": "email", "meta": {"floe": {"classification": "pii"}}}
    assert not compiled(source({"email": email}))  # listed: traced
    assert not compiled(source({}), None)  # no compiled SQL yet (dbt parse): nothing to trace
    # a relation no node of the project builds is as unknown (it was public): a hard-coded
    # table joined to a declared source, a file read
    for sql in ('select c.email, h.ssn from "db"."crm"."customers" c join raw.hr_people h '
                "using (email)", "select * from read_parquet('/hr/people.parquet')"):
        [outside] = compiled(source({"email": email}), sql)
        assert "(outside the project)" in outside.message
        assert "as a dbt source" in outside.fix
