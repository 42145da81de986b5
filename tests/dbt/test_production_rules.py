"""Production reads under every kind of rule (generated manifests, no dbt).

A masking rule in production (mask, hash, synthesize, redact) used to count for nothing at
read time: Lacuna's reads return stored values, and `restricted` was set by `restrict` rules
only, so `pii: {production: {action: mask}}` let anyone read the e-mails unmasked, and adding a
stricter `mask` rule beside a `restrict` one dropped the clearance check that rule had made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt.classify import classify_project
from lacuna.dbt.governance import governance_from
from lacuna.dbt.manifest import load_project
from lacuna.dbt.runtime import authorize_read, plan, restricts
from lacuna.errors import ConfigError
from lacuna.model import Tier, User

ANALYST = User(id="bob", role="analyst")
DPO = User(id="dora", role="dpo")
CLEARED = User(id="carl", role="analyst", clearance=Tier.PROPRIETARY)


@pytest.fixture
def project(tmp_path: Path, gen: Any) -> Any:
    gen.write(
        tmp_path,
        gen.model(
            "cust",
            sql="select email, city from raw",
            columns={
                "email": gen.floe("pii", sensitivity="high", pii_type="email"),
                "city": gen.floe("public"),
            },
        ),
    )
    return classify_project(load_project(tmp_path, verify=False))


def _decide(
    project: Any, policies: dict[str, Any], user: User, environment: str = "production"
) -> Any:
    gp = plan(project, governance_from({"policies": policies}), environment)
    return gp, authorize_read(gp, "cust", user)


@pytest.mark.parametrize("action", ["mask", "hash", "synthesize", "redact"])
def test_a_masking_rule_admits_no_unmasked_production_read(project: Any, action: str) -> None:
    gp, denied = _decide(project, {"pii": {"production": {"action": action}}}, CLEARED)
    assert not denied.allowed
    assert f"column email (pii) is {action} in production" in denied.reasoning
    assert "requires_role" in denied.reasoning  # how to open it
    assert restricts(gp, "cust")  # SQL and the server check the model too
    # a role named under the rule admits its holders, as the Cube plan shows them the column
    gp, allowed = _decide(
        project, {"pii": {"production": {"action": action, "requires_role": ["dpo"]}}}, DPO
    )
    assert allowed.allowed, allowed.reasoning
    assert not authorize_read(gp, "cust", CLEARED).allowed
    # non-production reads stay open (the tables are rewritten there instead)
    assert _decide(project, {"pii": {"non_production": {"action": action}}}, ANALYST, "staging")[
        1
    ].allowed


def test_a_stricter_rule_never_opens_what_restrict_closed(project: Any) -> None:
    restrict = {"pii": {"production": {"action": "restrict"}}}
    assert not _decide(project, restrict, ANALYST)[1].allowed
    both = {**restrict, "high": {"production": {"action": "mask", "requires_role": ["dpo"]}}}
    denied = _decide(project, both, ANALYST)[1]
    assert not denied.allowed
    assert "requires role dpo" in denied.reasoning
    # each rule must let the reader through: the role of one, the clearance of the other
    clearance = _decide(project, both, DPO)[1]
    assert not clearance.allowed
    assert "requires clearance PROPRIETARY" in clearance.reasoning
    dpo = User(id="dora", role="dpo", clearance=Tier.PROPRIETARY)
    assert _decide(project, both, dpo)[1].allowed


def test_allow_is_still_open(project: Any) -> None:
    gp, allowed = _decide(project, {"pii": {"production": {"action": "allow"}}}, ANALYST)
    assert allowed.allowed
    assert not restricts(gp, "cust")


def test_roles_under_allow_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"requires_role .* with action allow"):
        governance_from(
            {"policies": {"pii": {"production": {"action": "allow", "requires_role": ["dpo"]}}}}
        )


def test_policy_keys_differing_in_case_are_refused() -> None:
    # the later key silently replaced the earlier: `PII: allow` undid `pii: restrict`
    with pytest.raises(ConfigError, match="'pii' and 'PII' are the same key"):
        governance_from(
            {
                "policies": {
                    "pii": {"production": {"action": "restrict", "requires_role": ["dpo"]}},
                    "PII": {"production": {"action": "allow"}},
                }
            }
        )
    assert (
        governance_from({"policies": {"PII": {"production": {"action": "mask"}}}})
        .policies["pii"]
        .production
        is not None
    )


@pytest.mark.parametrize(
    ("project_env", "lacuna_env", "section_env", "expected"),
    [
        # the project's floe.yaml (the example says development) used to win over lacuna.yaml's
        # production: SQL and server reads of every model were open
        ("development", "production", None, "production"),
        ("production", "development", None, "production"),
        ("staging", "development", None, "staging"),
        (None, "production", None, "production"),
        ("development", "production", "development", "development"),  # dbt.environment decides
    ],
)
def test_reads_are_decided_in_the_stricter_environment(
    tmp_path: Path,
    gen: Any,
    project_env: str | None,
    lacuna_env: str,
    section_env: str | None,
    expected: str,
) -> None:
    from lacuna.config import load_config
    from lacuna.dbt.reads import configured_plan

    project = tmp_path / "proj"
    gen.write(
        project,
        gen.model(
            "cust",
            sql="select email from raw",
            columns={"email": gen.floe("pii", pii_type="email")},
        ),
    )
    floe = "" if project_env is None else f"environment: {project_env}\n"
    (project / "floe.yaml").write_text(
        floe + "governance:\n  policies:\n    pii:\n      production: {action: restrict, "
        "requires_role: [dpo]}\n",
        encoding="utf-8",
    )
    section = "" if section_env is None else f"  environment: {section_env}\n"
    config_file = tmp_path / "lacuna.yaml"
    config_file.write_text(
        f"environment: {lacuna_env}\ndbt:\n  project_dir: proj\n"
        f"  verify_manifest: false\n{section}",
        encoding="utf-8",
    )
    gp = configured_plan(load_config(config_file))
    assert gp is not None
    assert gp.environment == expected
    decision = authorize_read(gp, "cust", ANALYST)
    assert decision.allowed is (expected != "production")
    if expected == "production":
        assert "requires role dpo" in decision.reasoning
        assert authorize_read(gp, "cust", DPO).allowed


@pytest.mark.parametrize(
    "rule",
    [
        {"non_production": {"action": "restrict", "requires_role": ["dpo"]}},
        {"staging": {"action": "restrict"}},
        {"non_production": {"action": "synthesize", "requires_approval": True}},
    ],
)
def test_a_restrict_rule_outside_production_is_not_a_no_op(
    project: Any, rule: dict[str, Any]
) -> None:
    # restrict rewrites no table, and non-production reads were open: the rule did nothing
    # (and requires_approval outside production was ignored)
    gp, denied = _decide(project, {"pii": rule}, ANALYST, "staging")
    assert not denied.allowed
    assert "may not read cust in staging" in denied.reasoning
    assert restricts(gp, "cust")
    if rule.get("non_production", {}).get("requires_role"):
        assert authorize_read(gp, "cust", DPO).allowed
    elif "staging" in rule:
        assert authorize_read(gp, "cust", CLEARED).allowed
        # development has no rule here: open
        assert _decide(project, {"pii": rule}, ANALYST, "development")[1].allowed
    else:
        assert "need approval (requires_approval)" in denied.reasoning
    # masking rules rewrite non-production tables: their reads stay open
    assert _decide(project, {"pii": {"non_production": {"action": "redact"}}}, ANALYST, "staging")[
        1
    ].allowed
