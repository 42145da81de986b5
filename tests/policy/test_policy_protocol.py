"""The decision protocol: applicability, deny overrides, fail closed, explanations."""

from __future__ import annotations

import logging

import pytest

from lacuna.config import Config
from lacuna.model import (
    Action,
    Alternative,
    Classification,
    Decision,
    Operation,
    PolicyRef,
    Tier,
    User,
)
from lacuna.policy import PolicyEngine

HEAD = "import rego.v1\n\n"


def pkg(name: str, body: str) -> str:
    return f"package {name}\n\n{HEAD}{body}\n"


def op(action: Action = Action.EXPORT, tier: Tier = Tier.INTERNAL, **kw) -> Operation:
    return Operation(action=action, user=User(id="alice"),
                     classification=Classification(tier=tier), **kw)


def test_protocol_conflicting_rule_fails_closed_and_loudly(write_bundle, caplog) -> None:
    body = ('allow if level == "ok"\n\n'
            'level := "ok" if input.source.classification == "INTERNAL"\n\n'
            'level := "no" if input.action == "export"\n')
    root = write_bundle({"broken.rego": pkg("company.broken", body)})
    engine = PolicyEngine(root)
    assert engine.decide(op(Action.READ)).allowed  # only this input makes the values conflict
    operation = op(Action.EXPORT)
    with caplog.at_level(logging.ERROR, logger="lacuna.policy.decide"):
        decision = engine.decide(operation)
    assert decision.allowed is False
    assert decision.engine_error is not None
    assert decision.engine_error.startswith(f"{root / 'broken.rego'}:9:1: rule conflicts")
    assert decision.reasoning.startswith(
        "Denied because the policy engine failed while evaluating company.broken (fail closed): ")
    assert decision.policies == ()
    assert decision.bundle_revision == engine.revision
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert operation.id in caplog.records[0].getMessage()


def test_protocol_runtime_builtin_error_fails_closed(write_bundle) -> None:
    body = "allow if { 1 / input.source.count == 1 }\n"
    engine = PolicyEngine(write_bundle({"d.rego": pkg("company.div", body)}))
    decision = engine.evaluate({"action": "read", "source": {"count": 0}})
    assert not decision.allowed
    assert "divide by zero" in (decision.engine_error or "")


def test_protocol_bad_operation_fails_closed() -> None:
    engine = PolicyEngine.from_config(Config())
    operation = op(Action.READ, environment="moon")
    decision = engine.decide(operation)
    assert not decision.allowed
    assert "unknown environment 'moon'" in (decision.engine_error or "")
    assert decision.operation is operation


def test_protocol_deny_overrides_allow_across_packages(write_bundle) -> None:
    root = write_bundle({
        "corporate.rego": pkg("corp", 'metadata := {"id": "C-1", "title": "Corporate", '
                                      '"owner": "gov@example.com"}\n\n'
                                      'deny contains "no exports on Fridays" if input.friday\n'),
        "domain.rego": pkg("domain", 'metadata := {"id": "D-1", "title": "Domain"}\n\n'
                                     "allow := true\n"),
    })
    engine = PolicyEngine(root, docs_url="https://docs.example.com/p/")
    denied = engine.evaluate({"action": "export", "friday": True}, operation_id="op-1")
    assert denied == Decision(
        allowed=False, operation_id="op-1", reasoning="no exports on Fridays",
        policy_id="C-1", policy_title="Corporate", steward="gov@example.com",
        docs_url="https://docs.example.com/p/C-1",
        policies=(PolicyRef(package="corp", id="C-1", title="Corporate",
                            owner="gov@example.com", effect="deny"),
                  PolicyRef(package="domain", id="D-1", title="Domain", effect="allow")),
        bundle_revision=engine.revision, eval_ms=denied.eval_ms,
    )
    allowed = engine.evaluate({"action": "export", "friday": False})
    assert allowed.allowed
    assert allowed.reasoning == "Allowed by D-1 (Domain)."
    assert [(p.package, p.effect) for p in allowed.policies] == [("corp", "none"),
                                                                 ("domain", "allow")]


def test_protocol_every_deny_message_is_reported(write_bundle) -> None:
    root = write_bundle({
        "a.rego": pkg("a", 'deny contains "first reason" if true\n\n'
                           'deny contains {"msg": "second reason", "code": 7} if true\n'),
        "b.rego": pkg("b", "deny := true\n"),
    })
    decision = PolicyEngine(root).evaluate({"action": "export"})
    assert decision.reasoning == "first reason; second reason; Denied by b."


def test_protocol_applies_rule_and_actions_metadata_select_packages(write_bundle) -> None:
    root = write_bundle({
        "eu.rego": pkg("eu", 'applies if input.user.region == "eu"\n\n'
                             'deny contains "EU data stays in the EU" if true\n'),
        "exports.rego": pkg("exports", 'metadata := {"actions": ["export"]}\n\nallow := true\n'),
    })
    engine = PolicyEngine(root)
    assert engine.evaluate({"action": "export", "user": {"region": "us"}}).allowed
    eu = engine.evaluate({"action": "export", "user": {"region": "eu"}})
    assert (eu.allowed, eu.reasoning) == (False, "EU data stays in the EU")
    read = engine.evaluate({"action": "read", "user": {"region": "us"}})
    assert not read.allowed
    assert read.reasoning.startswith("No policy governs the 'read' action: none of the 2 policy")


def test_protocol_denial_without_reasons_says_what_was_not_granted(write_bundle) -> None:
    root = write_bundle({"p.rego": pkg("p", 'allow if input.source.classification == "PUBLIC"')})
    decision = PolicyEngine(root).evaluate({
        "action": "export", "source": {"classification": "INTERNAL"},
        "destination": {"type": "http"},
    })
    assert decision.reasoning == (
        "No policy allows export of INTERNAL data to a http destination: p did not grant it.")


def test_protocol_explanation_shapes_are_normalised(write_bundle) -> None:
    body = ('metadata := {"id": "X-1", "steward": "steward@example.com", '
            '"owner": "team@example.com", "docs_url": "https://wiki/x1"}\n\n'
            'deny contains "no" if true\n\n'
            'why contains "b second" if true\n\nwhy contains "a first" if true\n\n'
            'alternatives contains "Ask the team" if true\n\n'
            'alternatives contains {"title": "Use the API", "code": "api.send(df)"} if true\n')
    decision = PolicyEngine(write_bundle({"x.rego": pkg("x", body)})).evaluate({"action": "read"})
    assert decision.why == ("a first", "b second")
    assert decision.alternatives == (Alternative(title="Ask the team"),
                                     Alternative(title="Use the API", code="api.send(df)"))
    assert (decision.steward, decision.docs_url) == ("steward@example.com", "https://wiki/x1")


def test_protocol_explanations_are_read_only_on_denial(write_bundle) -> None:
    body = 'allow := true\n\nwhy := ["should not appear"]\n\nalternatives := ["nor this"]\n'
    decision = PolicyEngine(write_bundle({"x.rego": pkg("x", body)})).evaluate({"action": "read"})
    assert decision.allowed
    assert (decision.why, decision.alternatives) == ((), ())


def test_protocol_bundle_without_policy_packages_denies_everything(write_bundle) -> None:
    helper = pkg("lib.helpers", "is_public if input.source.classification == \"PUBLIC\"\n")
    engine = PolicyEngine(write_bundle({"lib.rego": helper}))
    assert engine.packages == ()
    decision = engine.decide(op(Action.READ, Tier.PUBLIC))
    assert not decision.allowed
    assert "none of the 0 policy packages" in decision.reasoning


def test_protocol_decision_carries_operation_and_timing() -> None:
    engine = PolicyEngine.from_config(Config())
    operation = op(Action.READ)
    decision = engine.decide(operation)
    assert decision.operation is operation
    assert decision.operation_id == operation.id
    assert 0 < decision.eval_ms < 1000


@pytest.mark.parametrize("approver_role", ["data_steward", "team_lead"])
def test_protocol_exception_grant_is_passed_to_policies(approver_role: str) -> None:
    from lacuna.destinations import classify_destination

    config = Config()
    operation = op(Action.EXPORT, Tier.PROPRIETARY,
                   destination=classify_destination("/tmp/out.csv", config.destinations))
    engine = PolicyEngine.from_config(config)
    decision = engine.decide(operation, exception_approved=True,
                             exception_approver_role=approver_role)
    assert decision.allowed is (approver_role == "data_steward")
