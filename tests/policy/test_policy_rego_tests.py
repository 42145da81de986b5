"""Running Rego unit tests: the default bundle's pass; failures and errors are reported."""

from __future__ import annotations

from lacuna.config import Config
from lacuna.policy import PolicyEngine


def test_rego_tests_of_the_default_bundle_pass() -> None:
    results = PolicyEngine.from_config(Config()).run_tests()
    assert len(results) >= 15
    failed = [(r.rule, r.error) for r in results if not r.passed]
    assert failed == []


def test_rego_tests_report_failures_and_errors(write_bundle) -> None:
    policy = "package p\n\nimport rego.v1\n\nallow if input.ok\n"
    tests = ("package p_test\n\nimport rego.v1\n\n"
             "test_passes if data.p.allow with input as {\"ok\": true}\n\n"
             "test_fails if data.p.allow with input as {\"ok\": false}\n\n"
             "test_errors if 1 / input.zero == 1 with input as {\"zero\": 0}\n\n"
             "helper := 1\n")
    results = PolicyEngine(write_bundle({"p.rego": policy, "p_test.rego": tests})).run_tests()
    summary = [(r.rule, r.passed, r.error is not None) for r in results]
    assert summary == [
        ("data.p_test.test_errors", False, True),
        ("data.p_test.test_fails", False, False),
        ("data.p_test.test_passes", True, False),
    ]
    assert "divide by zero" in (results[0].error or "")
