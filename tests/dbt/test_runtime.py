"""Runtime effect of the example's floe.yaml on its built DuckDB tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt.runtime import (
    apply_environment,
    authorize_read,
    authorize_relation,
    load_plan,
    read_model,
)
from lacuna.errors import ConfigError, GovernanceViolation
from lacuna.model import Tier, User

from .conftest import warehouse_rows as _rows

duckdb = pytest.importorskip("duckdb")
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_development_synthesizes_and_redacts_keeping_joins(built_copy: Path,
                                                           dbt_built: Any) -> None:
    db = built_copy / "target" / "warehouse.duckdb"
    before = _rows(db, "select customer_id, first_name, email from main.bronze_customers "
                       "order by customer_id")
    joined_before = _rows(db, "select count(*) from main.silver_orders o join "
                              "main.silver_customers c using (customer_id)")
    from lacuna.dbt.manifest import load_project
    from lacuna.dbt.record import record_run
    from lacuna.dbt.runtime import applied

    report = apply_environment(built_copy, environment="development", seed=7)
    # what apply treated vouches for the build: recorded as allowed now (test_record.py:
    # the denial without it); for another environment or dbt run it vouches for nothing
    recorded = record_run(built_copy, environment="development")
    assert recorded.nodes
    assert not recorded.denied
    project = load_project(built_copy)
    assert applied(project, recorded.invocation_id, "development")[
        "model.lacuna_example.bronze_customers"] >= {"email", "first_name"}
    assert applied(project, recorded.invocation_id, "staging") == {}
    assert applied(project, "another-dbt-run", "development") == {}
    # an apply to another file (a copy of the warehouse) vouches for nothing in this one
    assert applied(project, recorded.invocation_id, "development", db)
    assert applied(project, recorded.invocation_id, "development",
                   built_copy / "copy.duckdb") == {}
    assert report.tables['"main"."bronze_customers"']["first_name"] == "synthesize"
    assert report.tables['"main"."bronze_customers"']["email"] == "redact"  # high_sensitivity
    after = _rows(db, "select customer_id, first_name, email from main.bronze_customers "
                      "order by customer_id")
    assert [r[0] for r in after] == [r[0] for r in before]  # keys untouched
    assert all(a[1] != b[1] for a, b in zip(after, before, strict=True))  # every name replaced
    assert {r[2] for r in after} == {None}
    # the same original gives the same synthetic value in every model: joins still line up
    pairs = _rows(db, "select r.first_name, b.first_name from main.raw_customers r join "
                      "main.bronze_customers b using (customer_id)")
    assert all(r == b for r, b in pairs)
    assert len(pairs) == len(before)
    originals = {r[1] for r in before}
    assert not originals & {r[0] for r in pairs}
    assert _rows(db, "select count(*) from main.silver_orders o join main.silver_customers c "
                     "using (customer_id)") == joined_before
    # types survive: date_of_birth is still a DATE column
    types = dict(_rows(db, "select column_name, data_type from information_schema.columns "
                           "where table_name = 'bronze_customers'"))
    assert types["date_of_birth"] == "DATE"
    # the built project of the session is untouched
    original = dbt_built.warehouse
    assert _rows(original, "select count(*) from main.bronze_customers where email is null"
                 ) == [(0,)]


def test_same_seed_same_values_other_seed_other_values(built_copy: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(built_copy, other, symlinks=True)
    third = tmp_path / "third"
    shutil.copytree(built_copy, third, symlinks=True)
    apply_environment(built_copy, environment="preview", seed="s1")
    apply_environment(other, environment="preview", seed="s1")
    apply_environment(third, environment="preview", seed="s2")
    sql = "select first_name from main.bronze_customers order by customer_id"
    a = _rows(built_copy / "target" / "warehouse.duckdb", sql)
    assert a == _rows(other / "target" / "warehouse.duckdb", sql)
    assert a != _rows(third / "target" / "warehouse.duckdb", sql)


def test_production_is_not_rewritten(built_copy: Path) -> None:
    with pytest.raises(ConfigError, match="production"):
        apply_environment(built_copy, environment="production")


def test_production_read_denied_with_the_role_named(dbt_built: Any) -> None:
    analyst = User(id="bob", role="analyst")
    with pytest.raises(GovernanceViolation) as info:
        read_model(dbt_built.dir, "gold_customer_orders", user=analyst,
                   environment="production")
    reason = info.value.decision.reasoning
    assert "requires role data_owner or compliance" in reason
    assert "email_address" in reason
    owner = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
    frame = read_model(dbt_built.dir, "gold_customer_orders", user=owner,
                       environment="production")
    assert len(frame) == _rows(dbt_built.warehouse,
                               "select count(*) from main.gold_customer_orders")[0][0]
    # a model without restricted columns is readable by anyone
    assert len(read_model(dbt_built.dir, "gold_revenue", user=analyst,
                          environment="production")) > 0


@pytest.mark.parametrize("model", ["gold_customer_orders", "gold_revenue"])
def test_a_read_the_audit_trail_does_not_take_is_denied(dbt_built: Any, model: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """read_model recorded its decision as an observer: an allowed production read whose
    record the trail refused returned the rows all the same, in enforce mode (where nothing
    runs unrecorded, as SQL reads of the same model). Now it is denied, saying why; with
    the trail back the same read returns the rows and its record reads back."""
    from lacuna.errors import AuditError
    from lacuna.governor import current

    owner = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
    gov = current()
    gp = load_plan(dbt_built.dir, environment="production", config=gov.config)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AuditError("disk full")

    with monkeypatch.context() as m:
        m.setattr(gov.audit, "record", refuse)
        with pytest.raises(GovernanceViolation) as info:
            read_model(dbt_built.dir, model, user=owner, governance_plan=gp)
    assert "audit trail could not record" in info.value.decision.reasoning
    assert "disk full" in " ".join(info.value.decision.why)
    frame = read_model(dbt_built.dir, model, user=owner, governance_plan=gp)
    assert len(frame) > 0
    [rec] = [r for r in gov.audit.list(limit=50, user="ann")
             if r.data["what"]["destination"] == f"dbt://lacuna_example/{model}"]
    assert rec.allowed
    assert rec.data["how"]["method"] == "lacuna.dbt.read_model"


def test_a_production_lacuna_yaml_is_not_opened_by_the_projects_floe_yaml(
        built_copy: Path, tmp_path: Path) -> None:
    """The host's lacuna.yaml says production and the project's floe.yaml (the example's)
    development: without -e, read_model read in development (an analyst got the e-mails)
    and apply_environment rewrote the production tables (the e-mails redacted for good).
    The default is production when either file says so, as SQL reads already decided."""
    (tmp_path / "lacuna.yaml").write_text("environment: production\n", encoding="utf-8")
    db = built_copy / "target" / "warehouse.duckdb"
    emails = _rows(db, "select email from main.bronze_customers order by customer_id")
    analyst = User(id="bob", role="analyst")
    with pytest.raises(GovernanceViolation, match=r"in production: .*requires role data_owner"):
        read_model(built_copy, "gold_customer_orders", user=analyst)
    with pytest.raises(ConfigError, match="'production' is production"):
        apply_environment(built_copy, seed=7)
    assert _rows(db, "select email from main.bronze_customers order by customer_id") == emails
    assert load_plan(built_copy).environment == "production"
    # the allowed path: a reader with the role reads it
    owner = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
    assert len(read_model(built_copy, "gold_customer_orders", user=owner)) > 0
    # production is pinned: -e may name it, not another environment (it named any, so
    # `-e development` read production's tables unmasked: test_governance.py)
    assert load_plan(built_copy, environment="production").environment == "production"
    with pytest.raises(ConfigError, match=r"environment 'staging' refused: .*lacuna\.yaml "
                                          r"\(environment: production\) pins this host"):
        load_plan(built_copy, environment="staging")


def test_critical_columns_need_an_approval(dbt_built: Any) -> None:
    gp = load_plan(dbt_built.dir, environment="production")
    owner = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
    decision = authorize_read(gp, "bronze_customers", owner)
    assert not decision.allowed
    assert "ssn" in decision.reasoning
    assert "dbt://lacuna_example/bronze_customers" in decision.reasoning
    bogus = authorize_read(gp, "bronze_customers", owner, exception_id="EXC-2099-999")
    assert not bogus.allowed
    assert "EXC-2099-999" in bogus.reasoning


def test_relation_names_resolve_for_sql_engines(dbt_built: Any) -> None:
    gp = load_plan(dbt_built.dir, environment="production")
    analyst = User(id="bob", role="analyst")
    denied = authorize_relation(gp, '"main"."gold_customer_orders"', analyst)
    assert denied is not None
    assert not denied.allowed
    assert authorize_relation(gp, "main.not_a_model", analyst) is None


def test_non_production_reads_are_not_restricted(dbt_built: Any) -> None:
    gp = load_plan(dbt_built.dir, environment="staging")
    assert authorize_read(gp, "bronze_customers", User(id="bob", role="analyst")).allowed


def test_cli_read_and_apply(built_copy: Path) -> None:
    denied = runner.invoke(app, ["dbt", "read", "gold_customer_orders", "--project-dir",
                                 str(built_copy), "-e", "production", "--role", "analyst"])
    assert denied.exit_code == 1
    assert "data_owner" in denied.output
    applied = runner.invoke(app, ["dbt", "apply", "--project-dir", str(built_copy), "-e",
                                  "development", "--seed", "3"])
    assert applied.exit_code == 0, applied.output
    assert "first_name=synthesize" in applied.output
    shown = runner.invoke(app, ["dbt", "policies", "--project-dir", str(built_copy), "-e",
                                "production"])
    assert shown.exit_code == 0
    assert "critical_sensitivity" in shown.output


def test_govern_post_hook_applies_the_policies_in_the_warehouse(built_copy: Path) -> None:
    from lacuna.dbt import run_dbt
    from lacuna.dbt.runtime import govern_vars

    gp = load_plan(built_copy, environment="development")
    variables = govern_vars(gp, seed="hook")
    actions = variables["lacuna_governance"]["actions"]
    assert actions["seed.lacuna_example.raw_customers"]["first_name"] == ["synthesize", "name"]
    # treated at the seed already: not pseudonymised twice downstream
    assert "first_name" not in actions.get("model.lacuna_example.bronze_customers", {})
    db = built_copy / "target" / "warehouse.duckdb"
    originals = {r[0] for r in _rows(db, "select first_name from main.raw_customers")}
    import json

    run_dbt(["build", "--select", "raw_customers", "bronze_customers", "silver_customers",
             "--vars", json.dumps(variables)], built_copy,
            env={"LACUNA_DBT_HASH_KEY": "test-only-secret-key-0123456789"})
    rows = _rows(db, "select r.first_name, b.first_name, r.email, b.email, s.full_name, "
                     "r.last_name from main.raw_customers r join main.bronze_customers b "
                     "using (customer_id) join main.silver_customers s using (customer_id)")
    assert len(rows) == 40
    for raw_first, bronze_first, raw_email, bronze_email, full_name, raw_last in rows:
        assert raw_first not in originals
        assert raw_first.startswith("Person ")
        assert bronze_first == raw_first  # joins on the pseudonym line up
        assert raw_email is None
        assert bronze_email is None
        assert full_name == f"{raw_first} {raw_last}"
    governed = _rows(db, "select count(*) from lacuna_audit.lacuna_events "
                         "where event = 'node_governed'")
    assert governed[0][0] >= 1
    # the hook's rows vouch for the build it treated: recorded as allowed (without them,
    # denied: test_record.py)
    from lacuna.dbt.record import record_run

    recorded = record_run(built_copy, environment="development")
    assert {n.unique_id for n in recorded.nodes} == {
        "seed.lacuna_example.raw_customers", "model.lacuna_example.bronze_customers",
        "model.lacuna_example.silver_customers"}
    assert not recorded.denied
    # production: nothing to rewrite
    prod = govern_vars(load_plan(built_copy, environment="production"))
    assert prod["lacuna_governance"]["actions"] == {}


def test_an_approved_exception_lets_a_critical_read_through(dbt_built: Any,
                                                            tmp_path: Path) -> None:
    import lacuna
    from lacuna.config import config_from_dict
    from lacuna.governor import configure

    steward = "jane.smith@example.com"
    base = {"audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
            "stewards": {"default": [steward]}}
    ann = {"id": "ann", "role": "data_owner", "clearance": "PROPRIETARY"}
    configure(config_from_dict({**base, "user": ann}))
    request = lacuna.request_exception(
        destination="dbt://lacuna_example/bronze_customers", action="read",
        purpose="Quarterly fraud review of customer records", approver=steward)
    configure(config_from_dict({**base, "user": {"id": steward, "role": "data_steward"}}))
    lacuna.approve_exception(request.id)
    config = configure(config_from_dict({**base, "user": ann})).config
    gp = load_plan(dbt_built.dir, environment="production", config=config)
    owner = config.user.to_user()
    assert authorize_read(gp, "bronze_customers", owner, exception_id=request.id,
                          config=config).allowed
    # the grant covers ann reading that model only
    other = User(id="otto", role="data_owner", clearance=Tier.PROPRIETARY)
    assert not authorize_read(gp, "bronze_customers", other, exception_id=request.id,
                              config=config).allowed
    denied = authorize_read(gp, "silver_customers", owner, exception_id=request.id,
                            config=config)
    assert not denied.allowed
    assert request.id in denied.reasoning
    assert "dbt://lacuna_example/bronze_customers" in denied.reasoning
