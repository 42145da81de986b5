"""Built columns Lacuna cannot name stay governed (fail closed).

Three models the example's classification used to lose: an UNPIVOT (SQL that cannot be traced
and names no column, so the node had no columns and no effects), ``upper(email)`` without an
alias (traced as ``_col_1``; DuckDB builds ``upper(email)``), and a ``select *`` child of it.
Before, an analyst could read the unpivoted e-mails in production, Polaris granted them the
table, and ``lacuna dbt apply`` / the ``govern()`` post-hook left every e-mail in place. One
``dbt build`` for the module, one ``dbt run`` for the hook.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lacuna.dbt import run_dbt
from lacuna.dbt.classify import classify_project
from lacuna.dbt.consumption import load_consumption, plan_access
from lacuna.dbt.manifest import load_project
from lacuna.dbt.polaris import polaris_requests
from lacuna.dbt.runtime import apply_environment, authorize_read, govern_vars, load_plan
from lacuna.model import Tier, User

from .conftest import warehouse_rows

duckdb = pytest.importorskip("duckdb")

PROBES = {
    "p_unpivot": (
        "unpivot (select customer_id, email, phone from {{ ref('raw_customers') }}) "
        "on email, phone into name k value v\n"
    ),
    "p_expr": "select customer_id, upper(email) from {{ ref('raw_customers') }}\n",
    "p_child": "select * from {{ ref('p_expr') }}\n",
}
# where each probe holds the e-mails (DuckDB's names)
EMAILS = {"p_unpivot": "v", "p_expr": '"upper(email)"', "p_child": '"upper(email)"'}
ANALYST = User(id="bob", role="analyst")
OWNER = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)


@pytest.fixture(scope="module")
def probed(dbt_with_deps: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("dbt-unnamed") / "dbt_project"
    shutil.copytree(dbt_with_deps, project, symlinks=True)
    for name, sql in PROBES.items():
        path = project / "models" / "probe" / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    run_dbt(["build"], project)
    return project


@pytest.fixture
def probed_copy(probed: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(probed, tmp_path / "built", symlinks=True))


def _emails(db: Path, model: str) -> set[str]:
    rows = warehouse_rows(db, f"select {EMAILS[model]} from main.{model}")
    return {str(r[0]).lower() for r in rows if r[0] is not None and "@" in str(r[0])}


def test_the_classification_says_which_columns_it_cannot_name(probed: Path) -> None:
    pc = classify_project(load_project(probed))
    for name in PROBES:
        unnamed = pc.of(name).unnamed
        assert unnamed is not None, name
        assert unnamed.classification.value == "pii"
    assert pc.of("p_expr").unnamed.pii_type == "email"  # type: ignore[union-attr]
    assert any("alias each expression" in n for n in pc.of("p_expr").notes)
    # every output named: nothing unnamed
    assert pc.of("gold_customer_orders").unnamed is None
    assert pc.of("silver_customers").unnamed is None


def test_suggest_writes_no_placeholder_column(probed: Path, tmp_path: Path) -> None:
    # a `_col_1` block in the YAML would name a column the warehouse does not have
    from lacuna.dbt.suggest import suggestions

    found = suggestions(classify_project(load_project(probed)))
    assert not [s for s in found if s.column.startswith("_col_")]


def test_production_reads_of_unnamed_columns_are_checked(probed: Path) -> None:
    gp = load_plan(probed, environment="production")
    for name in PROBES:
        denied = authorize_read(gp, name, ANALYST)
        assert not denied.allowed, name
        assert "requires role" in denied.reasoning or "approval" in denied.reasoning
    assert "Lacuna cannot name" in authorize_read(gp, "p_expr", ANALYST).reasoning
    assert authorize_read(gp, "p_expr", OWNER).allowed  # the allowed path still works
    assert authorize_read(gp, "gold_revenue", ANALYST).allowed


def test_development_apply_leaves_no_email_in_unnamed_columns(probed_copy: Path) -> None:
    db = probed_copy / "target" / "warehouse.duckdb"
    assert all(_emails(db, m) for m in PROBES)  # built with the e-mails
    report = apply_environment(probed_copy, environment="development", seed=7)
    assert report.tables['"main"."p_expr"'] == {"upper(email)": "redact"}
    assert report.tables['"main"."p_unpivot"']["v"] == "redact"
    for name in PROBES:
        assert _emails(db, name) == set(), name
    # a named, traced model is as before: customer ids kept, so joins line up
    assert warehouse_rows(db, "select count(customer_id) from main.p_expr")[0][0] == 40


def test_development_apply_through_sqlalchemy_too(probed_copy: Path) -> None:
    pytest.importorskip("duckdb_engine")
    db = probed_copy / "target" / "warehouse.duckdb"
    apply_environment(probed_copy, environment="development", seed=7, warehouse=f"duckdb:///{db}")
    for name in PROBES:
        assert _emails(db, name) == set(), name


def test_polaris_grants_no_table_with_unnamed_restricted_columns(probed: Path) -> None:
    consumption, governance, _ = load_consumption(probed)
    plan = plan_access(load_project(probed), consumption, governance)
    _, summary = polaris_requests(plan)
    analyst = summary["roles"]["analyst"]
    for name in PROBES:
        assert f"main.{name}" not in analyst["tables"]
        assert "columns Lacuna cannot name (withheld)" in analyst["withheld"][name]
    assert "main.gold_revenue" in analyst["tables"]  # the allowed path is unchanged
    expr = next(m for m in plan.models if m.name == "p_expr")
    assert [c.name for c in expr.columns] == ["customer_id"]  # no Cube member on `_col_1`


def test_govern_post_hook_treats_the_built_columns_it_is_not_named(probed_copy: Path) -> None:
    variables = govern_vars(load_plan(probed_copy, environment="development"), seed="hook")
    actions = variables["lacuna_governance"]["actions"]
    spec = actions["model.lacuna_example.p_expr"]
    assert "_col_1" not in spec  # not a built column: the update would fail on it
    assert spec["*"][:2] == ["redact", "email"]
    run_dbt(["run", "--select", "probe", "--vars", json.dumps(variables)], probed_copy)
    db = probed_copy / "target" / "warehouse.duckdb"
    for name in PROBES:
        assert _emails(db, name) == set(), name
    # the column the classification names keeps its values
    assert warehouse_rows(db, "select count(customer_id) from main.p_expr")[0][0] == 40
