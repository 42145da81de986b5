"""The governance: section (ADR-0012) in floe.yaml and lacuna.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacuna.config import load_config
from lacuna.dbt.governance import Action, governance_from, load_governance
from lacuna.errors import ConfigError
from lacuna.model import ColumnClass, ColumnKind, Sensitivity

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dbt_project"
EMAIL = ColumnClass(classification=ColumnKind.PII, pii_type="email",
                    sensitivity=Sensitivity.HIGH)
NAME = ColumnClass(classification=ColumnKind.PII, pii_type="name",
                   sensitivity=Sensitivity.MEDIUM)
SSN = ColumnClass(classification=ColumnKind.PII, pii_type="ssn",
                  sensitivity=Sensitivity.CRITICAL)


def test_the_adr_floe_yaml_loads_unchanged() -> None:
    gov, where = load_governance(EXAMPLE)
    assert where.endswith("floe.yaml")
    assert gov.classification.source == "dbt_meta"
    assert gov.environment == "development"
    high = gov.policies["high_sensitivity"]
    assert high.production is not None
    assert high.production.requires_role == ("data_owner", "compliance")
    assert gov.quality_gates is not None
    assert gov.quality_gates["enforcement"] == "strict"


def test_floe_yaml_is_lacuna_config_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE)
    config = load_config()
    assert config.classification.source == "dbt_meta"
    assert "policies" in config.governance


@pytest.mark.parametrize(("environment", "email", "name"), [
    ("development", Action.REDACT, Action.SYNTHESIZE),
    ("preview", Action.REDACT, Action.SYNTHESIZE),
    ("staging", Action.REDACT, Action.SYNTHESIZE),  # staging is non_production (ADR)
    ("production", Action.RESTRICT, Action.RESTRICT),
])
def test_strictest_rule_per_environment(environment: str, email: Action, name: Action) -> None:
    gov, _ = load_governance(EXAMPLE)
    assert gov.effect(EMAIL, environment).action is email
    assert gov.effect(NAME, environment).action is name


def test_production_roles_and_critical_approval() -> None:
    gov, _ = load_governance(EXAMPLE)
    email = gov.effect(EMAIL, "production")
    assert email.role_sets == (("data_owner", "compliance"),)
    assert email.restricted
    assert not email.approval
    assert gov.effect(SSN, "production").approval
    # critical needs approval in production even when no rule says so
    bare = governance_from({"policies": {"pii": {"production": {"action": "restrict"}}}})
    assert bare.effect(SSN, "production").approval
    assert not bare.effect(SSN, "development").approval


def test_both_spellings_of_keys() -> None:
    spelled = governance_from({"policies": {
        "high": {"non_production": {"action": "hash"}},
        "Confidential": {"non_production": {"action": "mask"}},
        "internal": {"production": {"action": "restrict", "requires_role": "finance"}},
    }})
    assert spelled.effect(EMAIL, "development").action is Action.HASH
    assert spelled.effect(NAME, "development").action is Action.MASK  # PROPRIETARY = confidential
    financial = ColumnClass(classification=ColumnKind.FINANCIAL, sensitivity=Sensitivity.MEDIUM)
    assert spelled.effect(financial, "production").role_sets == (("finance",),)


def test_environment_type_key_wins_over_category() -> None:
    gov = governance_from({"policies": {"pii": {
        "non_production": {"action": "synthesize"}, "staging": {"action": "redact"}}}})
    assert gov.effect(NAME, "development").action is Action.SYNTHESIZE
    assert gov.effect(NAME, "staging").action is Action.REDACT


@pytest.mark.parametrize(("raw", "expected"), [
    ({"policys": {}}, "governance.policys: unknown setting; did you mean 'policies'?"),
    ({"policies": {"pii": {"prodution": {}}}},
     "governance.policies.pii.prodution: unknown setting; did you mean 'production'?"),
    ({"policies": {"hgh_sensitivity": {}}},
     "governance.policies.hgh_sensitivity: unknown policy key; did you mean 'high_sensitivity'?"),
    ({"policies": {"pii": {"production": {"action": "synthesise"}}}},
     "unknown action 'synthesise'; did you mean 'synthesize'?"),
    ({"policies": {"pii": {"production": {"requires_roles": ["x"]}}}},
     "governance.policies.pii.production.requires_roles: unknown setting; did you mean "
     "'requires_role'?"),
    ({"classification": {"source": "dbt"}}, "governance.classification.source"),
])
def test_unknown_keys_name_the_path_and_nearest_key(raw: dict[str, object],
                                                    expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        governance_from(raw, where="floe.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("floe.yaml")


def test_lacuna_yaml_governance_is_validated(tmp_path: Path) -> None:
    (tmp_path / "lacuna.yaml").write_text(
        "governance:\n  policies:\n    pii:\n      non_produktion: {action: redact}\n")
    with pytest.raises(ConfigError, match="did you mean 'non_production'"):
        load_config(tmp_path / "lacuna.yaml")
    (tmp_path / "lacuna.yaml").write_text(
        "governance:\n  policies:\n    pii:\n      non_production: {action: redact}\n")
    gov, where = load_governance(tmp_path)
    assert where.endswith("lacuna.yaml")
    assert gov.effect(NAME, "preview").action is Action.REDACT


@pytest.mark.parametrize("value", ["prod", "Production", "{type: production}"])
def test_an_unknown_floe_yaml_environment_fails_closed(tmp_path: Path, value: str) -> None:
    # it used to be ignored, so the plan fell back to development, where production reads
    # are not restricted
    (tmp_path / "floe.yaml").write_text(f"name: p\nenvironment: {value}\ngovernance:\n"
                                        "  policies: {pii: {production: {action: restrict}}}\n")
    with pytest.raises(ConfigError, match=r"floe\.yaml:2: environment: unknown environment"
                                          r".*expected one of: development"):
        load_governance(tmp_path)


def test_an_unknown_governance_environment_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "floe.yaml").write_text("governance:\n  environment: Production\n")
    with pytest.raises(ConfigError, match=r"floe\.yaml:2: governance\.environment: unknown "
                                          "environment 'Production'"):
        load_governance(tmp_path)
    (tmp_path / "floe.yaml").write_text("environment: production\ngovernance: {}\n")
    assert load_governance(tmp_path)[0].environment == "production"


def test_floe_yaml_as_lacuna_config_names_the_policy_line(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "floe.yaml").write_text("name: p\ngovernance:\n  policies:\n    pii:\n"
                                        "      prodution: {action: restrict}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"floe\.yaml:5: governance\.policies\.pii\."
                                          "prodution: unknown setting"):
        load_config()


@pytest.mark.parametrize(("rule", "match"), [
    # `production:` left empty: it used to mean "no rule", so pii was allowed in production
    ("      production:\n      non_production: {action: redact}\n",
     r"governance\.policies\.pii: production: an empty rule; give it an action"),
    ("      production: {action: restrict, requires_role: ''}\n",
     r"governance\.policies\.pii\.production\.requires_role: an empty role name"),
])
def test_a_malformed_rule_fails_closed(tmp_path: Path, rule: str, match: str) -> None:
    (tmp_path / "floe.yaml").write_text("governance:\n  policies:\n    pii:\n" + rule)
    with pytest.raises(ConfigError, match=match):
        load_governance(tmp_path)


LOW = ColumnClass(classification=ColumnKind.PUBLIC, sensitivity=Sensitivity.LOW)


@pytest.mark.parametrize("section", [
    "governance: {}\n",
    "governance:\n",  # nothing under it: a section all the same
    "governance:\n  classification: {source: dbt_meta}\n",
    "governance:\n  policies: {}\n",
])
def test_an_empty_governance_section_means_the_adr_defaults(tmp_path: Path,
                                                            section: str) -> None:
    # it meant "no rules": high and medium columns were open in production and left raw in
    # development
    (tmp_path / "floe.yaml").write_text("name: p\n" + section)
    gov, where = load_governance(tmp_path)
    assert where.endswith("floe.yaml")
    high = gov.effect(EMAIL, "production")  # strict access
    assert (high.action, high.role_sets) == (Action.RESTRICT, (("data_owner", "compliance"),))
    assert gov.effect(EMAIL, "development").action is Action.REDACT
    medium = gov.effect(NAME, "production")  # role-based access: a clearance of its tier
    assert (medium.action, medium.clearance, medium.role_sets) == (Action.RESTRICT, True, ())
    assert gov.effect(NAME, "staging").restricted
    critical = gov.effect(SSN, "production")  # explicit approval
    assert critical.approval
    assert critical.role_sets == (("data_owner", "compliance"),)
    assert gov.effect(SSN, "preview").action is Action.REDACT
    low = gov.effect(LOW, "production")  # no restrictions
    assert (low.restricted, low.policies) == (False, ())


def test_named_policies_replace_the_adr_defaults_and_no_section_applies_nothing(
        tmp_path: Path) -> None:
    (tmp_path / "floe.yaml").write_text(
        "governance:\n  policies:\n    pii: {production: {action: restrict}}\n")
    gov, _ = load_governance(tmp_path)
    assert gov.effect(EMAIL, "production").role_sets == ()
    assert not gov.effect(EMAIL, "development").restricted
    (tmp_path / "floe.yaml").write_text("name: p\n")  # no section: nothing to apply
    gov, where = load_governance(tmp_path)
    assert (where, gov.policies) == ("defaults", {})


def test_naming_some_sensitivity_levels_keeps_the_defaults_of_the_others(
        tmp_path: Path) -> None:
    # naming only `low` replaced every default: high and critical columns were open again
    (tmp_path / "floe.yaml").write_text(
        "governance:\n  policies:\n    low: {production: {action: allow}}\n"
        "    High_Sensitivity: {production: {action: mask}}\n")
    gov, _ = load_governance(tmp_path)
    assert gov.effect(EMAIL, "production").action is Action.MASK  # named: the project's rule
    assert gov.effect(EMAIL, "development").restricted is False  # named level: no default
    critical = gov.effect(SSN, "production")  # not named: the ADR's default
    assert (critical.action, critical.approval) == (Action.RESTRICT, True)
    assert gov.effect(NAME, "staging").restricted
    assert not gov.effect(LOW, "production").restricted


def test_an_empty_lacuna_yaml_section_governs_sql_reads_with_the_adr_defaults(
        tmp_path: Path, gen: Any) -> None:
    from lacuna.dbt.reads import configured_plan
    from lacuna.dbt.runtime import authorize_read
    from lacuna.model import Tier, User

    project = tmp_path / "project"
    gen.write(project, gen.model("m", sql="select email from x", columns={
        "email": gen.floe("pii", pii_type="email", sensitivity="high")}))
    (tmp_path / "lacuna.yaml").write_text(
        "environment: production\ngovernance: {}\n"
        f"dbt: {{project_dir: {project}, verify_manifest: false}}\n")
    config = load_config(tmp_path / "lacuna.yaml")
    gp = configured_plan(config)
    assert gp is not None
    analyst = User(id="bob", role="analyst", clearance=Tier.PROPRIETARY)
    owner = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
    denied = authorize_read(gp, "m", analyst, config=config)
    assert not denied.allowed
    assert "requires role data_owner or compliance" in denied.reasoning
    assert authorize_read(gp, "m", owner, config=config).allowed


def _pinned(tmp_path: Path, gen: Any, config: str) -> tuple[Path, Any]:
    project = tmp_path / "project"
    gen.write(project, gen.model("m", sql="select email from x", columns={
        "email": gen.floe("pii", pii_type="email", sensitivity="high")}))
    (project / "floe.yaml").write_text(  # the project's own default: development
        "environment: development\ngovernance:\n  policies:\n    high_sensitivity:\n"
        "      production: {action: restrict, requires_role: data_owner}\n"
        "      non_production: {action: redact}\n")
    (tmp_path / "lacuna.yaml").write_text(config.format(project=project))
    return project, load_config(tmp_path / "lacuna.yaml")


@pytest.mark.parametrize(("config", "key"), [
    ("environment: production\n", "environment: production"),
    ("dbt: {{project_dir: {project}, environment: production}}\n",
     "dbt.environment: production"),
])
@pytest.mark.parametrize("claimed", ["development", "preview", "staging"])
def test_a_production_pin_refuses_another_environment(tmp_path: Path, gen: Any, config: str,
                                                      key: str, claimed: str) -> None:
    # -e development beat lacuna.yaml's production: an analyst read production data
    # unmasked (non-production reads are open) by claiming development
    from lacuna.dbt.runtime import authorize_read, load_plan
    from lacuna.model import User

    project, cfg = _pinned(tmp_path, gen, config)
    with pytest.raises(ConfigError) as info:
        load_plan(project, environment=claimed, config=cfg, verify=False)
    message = str(info.value)
    assert f"environment {claimed!r} refused" in message
    assert f"lacuna.yaml ({key}) pins this host to production" in message
    assert "Leave out -e/--environment" in message
    # the allowed path: production, named or not, and its rules
    for named in ("production", None):
        gp = load_plan(project, environment=named, config=cfg, verify=False)
        assert gp.environment == "production"
        assert not authorize_read(gp, "m", User(id="bob", role="analyst"), config=cfg).allowed
        assert authorize_read(gp, "m", User(id="ann", role="data_owner"), config=cfg).allowed


def test_without_a_production_pin_the_environment_is_named_freely(tmp_path: Path,
                                                                  gen: Any) -> None:
    from lacuna.dbt.runtime import load_plan

    project, cfg = _pinned(tmp_path, gen, "environment: staging\n")
    assert load_plan(project, environment="development", config=cfg,
                     verify=False).environment == "development"
    assert load_plan(project, environment="production", config=cfg,
                     verify=False).environment == "production"
    # a dbt.environment pin is for its own project only
    other, cfg = _pinned(tmp_path / "o", gen,
                         "dbt: {{project_dir: /elsewhere, environment: production}}\n")
    assert load_plan(other, environment="development", config=cfg,
                     verify=False).environment == "development"


def test_lacuna_dbt_refuses_the_claim_with_exit_2(tmp_path: Path, gen: Any) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    project, _ = _pinned(tmp_path, gen, "environment: production\n")
    out = CliRunner().invoke(app, ["dbt", "policies", "--project-dir", str(project), "-e",
                                   "development", "-c", str(tmp_path / "lacuna.yaml"),
                                   "--no-verify-manifest"], env={"COLUMNS": "300"})
    # main() prints a ConfigError as one line and exits 2
    assert isinstance(out.exception, ConfigError), out.output
    assert "environment 'development' refused" in str(out.exception)


def test_a_dbt_environment_for_the_project_is_the_most_specific_setting(
        tmp_path: Path, gen: Any) -> None:
    # as SQL reads decide (read_environment): dbt.environment for this project, else
    # environment
    from lacuna.dbt.reads import configured_plan
    from lacuna.dbt.runtime import load_plan

    project, cfg = _pinned(tmp_path, gen, "environment: production\n"
                           "dbt: {{project_dir: {project}, environment: development, "
                           "verify_manifest: false}}\n")
    plan = configured_plan(cfg)
    assert plan is not None
    assert plan.environment == "development"
    assert load_plan(project, environment="staging", config=cfg,
                     verify=False).environment == "staging"
