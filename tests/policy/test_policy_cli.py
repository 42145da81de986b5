"""``lacuna policy`` commands: check, test, eval, explain, list, bundle, log."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lacuna.cli.policy import app

runner = CliRunner()

GOOD = "package p\n\nimport rego.v1\n\nmetadata := {\"id\": \"P-9\"}\n\nallow if input.ok\n"
GOOD_TESTS = ("package p_test\n\nimport rego.v1\n\n"
              "test_ok if data.p.allow with input as {\"ok\": true}\n")


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("bundle", ["@default", "@seed"])
def test_cli_check_and_test_pass_on_shipped_bundles(bundle: str) -> None:
    checked = run("check", bundle)
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("ok: ")
    tested = run("test", bundle)
    assert tested.exit_code == 0, tested.output
    total = tested.output.strip().splitlines()[-1]
    passed, of = total.removeprefix("PASS: ").split("/")
    assert passed == of
    assert int(of) >= 15


def test_cli_check_points_at_the_exact_line_of_every_syntax_error(write_bundle) -> None:
    root = write_bundle({
        "ok.rego": GOOD,
        "a/bad.rego": "package bad\n\nimport rego.v1\n\nallow if {\n  input.x ==\n}\n",
        "b/worse.rego": "package worse\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n",
    })
    result = run("check", str(root))
    assert result.exit_code == 1
    out = result.output
    assert f"{root / 'a' / 'bad.rego'}:7:1: expecting expression\n    }}\n    ^" in out
    assert f"{root / 'b' / 'worse.rego'}:6:7: expecting" in out
    assert "2 error(s) in 3 file(s)." in out


def test_cli_check_reports_compile_errors_in_test_files(write_bundle) -> None:
    root = write_bundle({"p.rego": GOOD,
                         "p_test.rego": "package p_test\n\nimport rego.v1\n\ntest_x if y\n"})
    result = run("check", str(root))
    assert result.exit_code == 1
    assert f"{root / 'p_test.rego'}:5:" in result.output


def test_cli_test_fails_usefully_on_a_broken_test(write_bundle) -> None:
    tests = GOOD_TESTS + (
        "\ntest_wrong if {\n  print(\"allow is\", data.p.allow) with input as {\"ok\": false}\n"
        "  data.p.allow with input as {\"ok\": false}\n}\n"
        "\ntest_false := false\n")
    root = write_bundle({"p.rego": GOOD, "p_test.rego": tests})
    result = run("test", str(root))
    assert result.exit_code == 1
    out = result.output
    assert "data.p_test.test_wrong: FAIL" in out
    assert "p_test.rego:7: undefined: an expression in the test's body was false" in out
    assert "p_test.rego:8: allow is <undefined>" in out  # its print() output
    assert "data.p_test.test_false: FAIL" in out
    assert "evaluated to false, not true." in out
    assert "PASS: 1/3\nFAIL: 2/3" in out
    assert "test_ok" not in out  # passing tests are listed with -v only
    verbose = run("test", str(root), "-v")
    assert "p_test.rego:\ndata.p_test.test_false: FAIL" in verbose.output
    assert "data.p_test.test_ok: PASS" in verbose.output


def test_cli_test_on_a_bundle_that_does_not_compile(write_bundle) -> None:
    root = write_bundle({"p.rego": "package p\n\nimport rego.v1\n\nallow if {\n"})
    result = run("test", str(root))
    assert result.exit_code == 1
    assert f"{root / 'p.rego'}:6:1" in result.output


def test_cli_test_coverage(write_bundle) -> None:
    policy = GOOD + "\ndeny contains \"never tested\" if {\n  input.bad\n}\n"
    root = write_bundle({"p.rego": policy, "p_test.rego": GOOD_TESTS})
    result = run("test", str(root), "--coverage")
    assert result.exit_code == 0, result.output
    assert "Coverage: " in result.output
    line = next(x for x in result.output.splitlines() if "not covered" in x)
    assert line.split()[1] == "p.rego"  # relative to the bundle; test files are left out
    assert line.endswith(", 9-10")  # the deny rule no test reaches


def test_cli_test_without_tests_fails(write_bundle) -> None:
    result = run("test", str(write_bundle({"p.rego": GOOD})))
    assert result.exit_code == 1
    assert "no test_* rules" in result.output


def write_input(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


DOWNLOADS = {"action": "export", "environment": "production",
             "source": {"classification": "PROPRIETARY", "tags": ["PII", "GDPR"]},
             "destination": {"type": "file", "encrypted": False, "uri": "~/Downloads/c.csv"},
             "user": {"id": "alice", "role": "data_analyst"}}


def test_cli_eval_prints_the_decision_and_exits_1_when_denied(tmp_path: Path) -> None:
    result = run("eval", "--input", str(write_input(tmp_path, DOWNLOADS)), "--dir", "@seed")
    assert result.exit_code == 1
    decision = json.loads(result.output)
    assert decision["allowed"] is False
    assert decision["policy_id"] == "P-2024-001"
    assert decision["action"] == "export"
    assert decision["destination"] == "~/Downloads/c.csv"
    assert {"package": "governance.export", "id": "P-2024-001",
            "title": "PII Export Restrictions", "owner": "data-governance@example.com",
            "version": "1.2.0", "compliance": ["GDPR", "CCPA"],
            "effect": "deny"} in decision["policies"]
    allowed = run("eval", "--input", str(write_input(tmp_path, {"action": "read"})))
    assert allowed.exit_code == 0, allowed.output


def test_cli_eval_query(tmp_path: Path) -> None:
    path = write_input(tmp_path, DOWNLOADS)
    result = run("eval", "--input", str(path), "--dir", "@seed", "data.governance.export.deny")
    assert result.exit_code == 0
    value = json.loads(result.output)["result"][0]["expressions"][0]["value"]
    assert value == ["Cannot export PROPRIETARY data to unmanaged location"]
    undefined = run("eval", "--input", str(path), "--fail", "data.nothing.here")
    assert undefined.exit_code == 1
    bad = run("eval", "--input", str(path), "data.governance[")
    assert bad.exit_code == 2
    assert "error:" in bad.output


@pytest.mark.parametrize(("args", "message"), [
    (["eval", "--input", "missing.json"], "cannot read input"),
    (["list", "--dir", "no/such/folder"], "does not exist"),
    (["check", "no/such/folder"], "does not exist"),
])
def test_cli_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_bad_input_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text("{not json", encoding="utf-8")
    result = run("eval", "--input", str(path))
    assert result.exit_code == 2
    assert "not valid JSON/YAML" in result.output


def test_cli_input_nested_too_deeply_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"  # YAML takes the same path (PyYAML is slow to get there)
    path.write_text("[" * 1_500 + "]" * 1_500, encoding="utf-8")
    limit = sys.getrecursionlimit()
    for recursion_limit in (limit, 20_000):  # another library in the process may raise it
        sys.setrecursionlimit(recursion_limit)
        try:
            for command in ("eval", "explain"):
                result = run(command, "--input", str(path))
                assert result.exit_code == 2, result.output
                assert "nested too deeply" in result.output
        finally:
            sys.setrecursionlimit(limit)
    path.write_text('{"action": "read"}', encoding="utf-8")  # the allowed path still reads
    assert run("eval", "--input", str(path)).exit_code == 0


def test_cli_explain_says_a_non_boolean_applies_fails_the_decision(write_bundle,
                                                                   tmp_path: Path) -> None:
    root = write_bundle({
        "a.rego": 'package a\n\nimport rego.v1\n\napplies := "yes"\n'
                  'deny contains "no export" if input.action == "export"\n',
        "b.rego": 'package b\n\nimport rego.v1\n\napplies := input.action == "read"\n'
                  "allow := true\n",
    })
    result = run("explain", "--dir", str(root), "--input",
                 str(write_input(tmp_path, {"action": "export"})))
    assert result.exit_code == 1
    assert 'its applies rule is "yes", not a boolean: the decision fails (fail closed)' in (
        result.output)
    assert "its applies rule is false\n" in result.output  # a boolean false: does not apply
    assert "DENIED: the engine failed (fail closed): data.a.applies is " in result.output


def test_cli_explain_says_which_rules_fired_and_why(tmp_path: Path) -> None:
    doc = {**DOWNLOADS, "source": {"classification": "PROPRIETARY",
                                   "tags": ["MARKETING"]},
           "destination": {"type": "marketing_automation_platform", "encrypted": False},
           "user": {"id": "mia", "department": "marketing"}}
    result = run("explain", "--input", str(write_input(tmp_path, doc)), "--dir", "@seed")
    assert result.exit_code == 1
    out = result.output
    assert "governance.baseline  P-2024-000 (Baseline Data Use)\n  does not apply: " in out
    assert "governance.domains.marketing  MKT-001 (Marketing Automation Exports)" in out
    assert "fired allow_marketing_export = true" in out
    assert ("fired deny = [\"Cannot export PROPRIETARY data to unmanaged location\"]  "
            "(governance/export/data_export_lacuna.rego:20)") in out
    assert ("DENIED: governance.export voted deny. Deny overrides allow: no package "
            "(governance.domains.marketing voted allow) can lift it.") in out
    assert "approved_destination" not in out  # undefined: shown with -v only
    verbose = run("explain", "--input", str(write_input(tmp_path, doc)), "--dir", "@seed",
                  "-v")
    assert "approved_destination = undefined" in verbose.output


def test_cli_list_shows_metadata_from_rules_and_annotations(tmp_path: Path) -> None:
    result = run("list", "--dir", "@seed")
    assert result.exit_code == 0
    out = result.output
    assert "decision cache off: time.now_ns at governance/time_based/time_based.rego:17" in out
    assert "governance.domains.marketing  MKT-001 Marketing Automation Exports" in out
    assert "  inherits: governance.export" in out
    assert "governance  (helper: does not vote)" in out
    data = json.loads(run("list", "--dir", "@seed", "--json").output)
    export = next(p for p in data["packages"] if p["package"] == "governance.export")
    assert export["compliance"] == ["GDPR", "CCPA"]
    assert export["actions"] == ["export", "write"]


def test_cli_bundle_writes_an_opa_bundle(tmp_path: Path) -> None:
    out = tmp_path / "dist" / "bundle.tar.gz"
    result = run("bundle", "@seed", "-o", str(out))
    assert result.exit_code == 0, result.output
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("/.manifest"))  # type: ignore[arg-type]
    assert {"/.manifest", "/lacuna/decision.rego", "/lacuna/data.json",
            "/governance/export/data_export.rego"} <= names
    assert not any(n.endswith("_test.rego") for n in names)
    assert manifest["roots"] == ["governance", "lacuna"]
    assert manifest["rego_version"] == 1
    assert manifest["file_rego_versions"]["/governance/time_based/time_based.rego"] == 0
    assert manifest["revision"]
    assert manifest["metadata"]["lacuna"]["decision_path"] == "lacuna/decision/result"


def test_cli_log_shows_decision_records(tmp_path: Path) -> None:
    from lacuna.policy import PolicyEngine
    from lacuna.policy.log_sinks import SqlDecisionLog

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    (tmp_path / "lacuna.yaml").write_text(f"audit:\n  url: {url}\n", encoding="utf-8")
    sink = SqlDecisionLog(url)
    PolicyEngine(decision_log=sink).evaluate({"action": "read"}, operation_id="op-7")
    sink.close()
    result = run("log", "-c", str(tmp_path / "lacuna.yaml"))
    assert result.exit_code == 0, result.output
    assert "allowed" in result.output
    assert "P-2024-000" in result.output
    records = run("log", "-c", str(tmp_path / "lacuna.yaml"), "--json", "--operation", "op-7")
    assert json.loads(records.output)["result"]["operation_id"] == "op-7"


def test_cli_eval_against_an_opa_server(tmp_path: Path, standin) -> None:
    from lacuna.config import Config
    from lacuna.policy import PolicyEngine

    server = standin(PolicyEngine.from_config(Config()))
    url = server.url
    path = write_input(tmp_path, {"action": "read"})
    result = run("eval", "--input", str(path), "--server", url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["policy_id"] == "P-2024-000"
    server.stop()
    down = run("eval", "--input", str(path), "--server", url)
    assert down.exit_code == 1
    assert "unreachable" in json.loads(down.output)["engine_error"]


def test_cli_bundle_refuses_the_reserved_aggregator_package(write_bundle, tmp_path: Path) -> None:
    root = write_bundle({"p.rego": GOOD, "mine.rego": "package lacuna.decision\n\nx := 1\n"})
    result = run("bundle", str(root), "-o", str(tmp_path / "b.tar.gz"))
    assert result.exit_code == 1
    assert "package lacuna.decision are reserved" in result.output


SLOW_RULES = """package slow

import rego.v1

allow if {
\tinput.action == "read"
\tcount([x | some i in numbers.range(1, 5000); some j in numbers.range(1, 1000); x := i * j]) > 0
}

deny contains "never" if {
\tcount([x | some i in numbers.range(1, input.n); some j in numbers.range(1, 1000); x := i]) < 0
}

reasons := ["fast"]
"""


def test_cli_check_warns_about_slow_rules_on_sample_inputs(write_bundle, tmp_path) -> None:
    root = write_bundle({"slow.rego": SLOW_RULES})
    (tmp_path / "lacuna.yaml").write_text("policy:\n  eval_budget_ms: 300\n")
    sample = tmp_path / "sample.json"
    # deny takes ~50 ms (100 x 1000 iterations), reasons well under 1 ms: a 25 ms threshold
    # tells them apart even when a loaded machine stalls the process for a few milliseconds
    sample.write_text(json.dumps({"action": "read", "n": 100}))
    result = run("check", str(root), "--config", str(tmp_path / "lacuna.yaml"),
                 "--input", str(sample), "--slow-ms", "25")
    assert result.exit_code == 0, result.output  # warnings, not errors
    out = result.output
    assert ("warning: data.slow.allow was still running after 300 ms (policy.eval_budget_ms) "
            f"on the sample '{sample}'") in out
    # slow either way: a host loaded enough to stall it past the 300 ms budget says so instead
    assert ("warning: data.slow.deny took" in out
            or "warning: data.slow.deny was still running after 300 ms" in out), out
    assert "data.slow.reasons" not in out
    assert "timed 3 rule evaluations on 1 sample input(s): 2 slow" in out
    quiet = run("check", str(root), "--no-timing")
    assert quiet.exit_code == 0
    assert "warning" not in quiet.output
