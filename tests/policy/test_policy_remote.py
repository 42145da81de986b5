"""Remote OPA: the same decisions through the Data API, fail-closed on every failure.

The server is tests/policy/opa_standin.py, a documented stand-in for OPA's Data API that
evaluates with regorus (no OPA binary exists on this machine's package registries). It loads the
OPA bundle that ``write_opa_bundle`` (``lacuna policy bundle``) produces.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import replace
from pathlib import Path

import policy_golden_cases as golden
import policy_seed_cases as seed_cases
import pytest

from lacuna.config import Config
from lacuna.errors import ConfigError, PolicyError
from lacuna.model import Decision
from lacuna.policy import MemoryDecisionLog, PolicyEngine
from lacuna.policy.aggregate import RULE, aggregator_source
from lacuna.policy.compile import compile_bundle
from lacuna.policy.decide import collect
from lacuna.policy.remote import RemoteEngine


@pytest.fixture(autouse=True)
def _close_remotes(monkeypatch):
    """Close every RemoteEngine a test makes (their kept-alive sockets)."""
    made: list[RemoteEngine] = []
    original = RemoteEngine.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(RemoteEngine, "__init__", init)
    yield
    for remote in made:
        remote.close()


def same(decision: Decision) -> Decision:
    """A decision without what legitimately differs between two evaluations (timing)."""
    return replace(decision, eval_ms=0.0, operation=None)


@pytest.fixture(scope="module")
def seed_engine() -> PolicyEngine:
    return seed_cases.seed_engine()


@pytest.mark.parametrize("path", seed_cases.SEED_CASES, ids=[p.stem for p in seed_cases.SEED_CASES])
def test_remote_seed_decisions_equal_embedded(seed_engine, standin, path: Path) -> None:
    server = standin(seed_engine)
    remote = RemoteEngine(server.url, docs_url=Config().docs_url)
    doc, _ = seed_cases.load(path)
    embedded = seed_engine.evaluate(doc, operation_id="op-1")
    assert same(remote.evaluate(doc, operation_id="op-1")) == same(embedded)
    assert remote.revision == seed_engine.revision


@pytest.mark.parametrize("path", golden.CASES, ids=[p.stem for p in golden.CASES])
def test_remote_golden_decisions_equal_embedded(write_bundle, standin, path: Path) -> None:
    engine, operation, kwargs, _ = golden.load_case(path, write_bundle)
    remote = RemoteEngine(standin(engine).url, docs_url=engine.docs_url)
    assert same(remote.decide(operation, **kwargs)) == same(engine.decide(operation, **kwargs))


PROTOCOL_EDGES = {
    "deny_true": "deny := true\n",
    "deny_string": 'deny := "no"\n',
    "deny_empty_string": 'deny := ""\n',
    "deny_object": 'deny := {"k": "v"}\n',
    "deny_number": "deny := 3\n",
    "deny_false": "deny := false\nallow := true\n",
    "deny_undefined": "deny := true if input.never\nallow := true\n",
    "empty_set_and_allow": 'deny contains "x" if input.never\nallow := true\n',
    "applies_false": "applies := false\nallow := true\n",
}


@pytest.mark.parametrize("body", PROTOCOL_EDGES.values(), ids=PROTOCOL_EDGES.keys())
def test_aggregator_rego_matches_the_python_protocol(write_bundle, body: str) -> None:
    root = write_bundle({
        "a.rego": f"package a\n\nimport rego.v1\n\n{body}",
        "b.rego": 'package b\n\nimport rego.v1\n\nmetadata := {"actions": ["export"]}\n\n'
                  'reasons contains "b has reasons" if true\nwhy := ["w"]\n',
    })
    engine = PolicyEngine(root)
    rego = compile_bundle(engine.bundle, engine.data)
    rego.add_policy("lacuna/decision.rego", aggregator_source(engine.packages, engine.revision))
    for action in ("export", "read"):
        doc = {"action": action}
        rego.set_input_json(json.dumps(doc))
        from_rego = json.loads(rego.eval_rule_as_json(RULE))
        from_python = collect(rego, engine.packages, action)
        assert from_rego == {**from_python, "revision": engine.revision}


NOT_BOOLEAN = {  # a package whose intent is unknown: a denial naming it, on every path
    "applies_string_lifts_no_deny": (
        'applies := "yes"\ndeny contains "no export" if input.action == "export"\n', "applies"),
    "applies_null": ('applies := null\ndeny contains "no" if true\n', "applies"),
    "applies_number_with_actions": (
        'metadata := {"actions": ["export"]}\napplies := 1\ndeny contains "no" if true\n',
        "applies"),
    "allow_string": ('allow := "true"\n', "allow"),
    "allow_object": ('allow := {"ok": true}\n', "allow"),
}


@pytest.mark.parametrize(("body", "rule"), NOT_BOOLEAN.values(), ids=NOT_BOOLEAN.keys())
def test_a_non_boolean_applies_or_allow_denies_loudly_everywhere(write_bundle, standin,
                                                                  body: str, rule: str) -> None:
    root = write_bundle({
        "a.rego": f"package a\n\nimport rego.v1\n\n{body}",
        "b.rego": "package b\n\nimport rego.v1\n\nallow := true\n",  # would allow alone
    })
    doc = {"action": "export", "source": {"classification": "PROPRIETARY"}}
    embedded = PolicyEngine(root, cache_size=16)
    isolated = PolicyEngine(root, isolation="process", cache_size=0)
    remote = RemoteEngine(standin(embedded).url, retries=0)
    for engine in (embedded, embedded, isolated, remote):  # the second: not from a cache
        decision = engine.evaluate(doc)
        assert decision.allowed is False
        assert decision.engine_error is not None
        assert f"data.a.{rule} is " in decision.engine_error
        assert "not a boolean" in decision.engine_error
    assert embedded.cache is not None
    assert len(embedded.cache) == 0
    # the aggregator (the worker's and a remote OPA's protocol) says it too
    rego = compile_bundle(embedded.bundle, embedded.data)
    rego.add_policy("lacuna/decision.rego", embedded.aggregator())
    rego.set_input_json(json.dumps(doc))
    errors = json.loads(rego.eval_rule_as_json(RULE))["errors"]
    assert len(errors) == 1
    assert f"data.a.{rule} is " in errors[0]
    with pytest.raises(PolicyError, match=f"data.a.{rule} is "):
        collect(rego, embedded.packages, "export")


def test_boolean_applies_and_allow_still_decide(write_bundle) -> None:
    root = write_bundle({
        "a.rego": 'package a\n\nimport rego.v1\n\napplies := input.action == "export"\n'
                  'deny contains "no export" if input.source.classification == "PROPRIETARY"\n',
        "b.rego": 'package b\n\nimport rego.v1\n\nallow := input.action != "delete"\n',
    })
    for isolation in ("none", "process"):
        engine = PolicyEngine(root, isolation=isolation)
        proprietary = {"classification": "PROPRIETARY"}
        assert engine.evaluate({"action": "read", "source": proprietary}).allowed
        denied = engine.evaluate({"action": "export", "source": proprietary})
        assert not denied.allowed
        assert denied.engine_error is None
        assert denied.reasoning == "no export"
        refused = engine.evaluate({"action": "delete"})  # allow := false: no vote
        assert not refused.allowed
        assert refused.engine_error is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_remote_unreachable_server_denies_and_says_so(caplog) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    remote = RemoteEngine(url, retries=2, backoff_ms=1)
    with caplog.at_level(logging.ERROR, logger="lacuna.policy.remote"):
        decision = remote.evaluate({"action": "read"}, operation_id="op-9")
    assert decision.allowed is False
    assert decision.engine_error is not None
    assert decision.engine_error.startswith(f"OPA server {url} unreachable after 3 attempts: ")
    assert decision.reasoning.startswith("Denied because the policy server could not decide "
                                         "(fail closed): OPA server")
    assert "op-9" in caplog.text


def test_remote_retries_server_errors_then_succeeds(standin) -> None:
    engine = PolicyEngine.from_config(Config())
    server = standin(engine)
    server.fail_next(2, status=503)
    decision = RemoteEngine(server.url, retries=2, backoff_ms=1).evaluate({"action": "read"})
    assert decision.allowed, decision.engine_error
    assert [p for m, p in server.requests if m == "POST"] == [
        "/v1/data/lacuna/decision/result"] * 3


def test_remote_gives_up_after_the_retries(standin) -> None:
    server = standin(PolicyEngine.from_config(Config()))
    server.fail_next(5, status=500)
    decision = RemoteEngine(server.url, retries=1, backoff_ms=1).evaluate({"action": "read"})
    assert not decision.allowed
    assert decision.engine_error == (f"OPA server {server.url} returned HTTP 500 after 2 "
                                     "attempts: injected failure")


def test_remote_client_errors_are_not_retried(standin) -> None:
    server = standin(PolicyEngine.from_config(Config()))
    server.fail_next(1, status=400)
    decision = RemoteEngine(server.url, retries=3, backoff_ms=1).evaluate({"action": "read"})
    assert decision.engine_error == (f"OPA server {server.url} returned HTTP 400 for POST "
                                     "/v1/data/lacuna/decision/result: injected failure")
    assert len([m for m, _ in server.requests if m == "POST"]) == 1


def test_remote_timeout_denies(standin) -> None:
    server = standin(PolicyEngine.from_config(Config()))
    server.delay_s = 0.5
    decision = RemoteEngine(server.url, timeout_ms=100, retries=0).evaluate({"action": "read"})
    expected = f"OPA server {server.url}: timed out (after 1 attempt)"
    assert decision.engine_error == expected


def test_remote_server_without_the_lacuna_bundle_denies(standin) -> None:
    server = standin()  # empty: no aggregator
    decision = RemoteEngine(server.url).evaluate({"action": "read"})
    assert not decision.allowed
    assert "returned no result for /v1/data/lacuna/decision/result" in (decision.engine_error or "")
    assert "lacuna policy bundle" in (decision.engine_error or "")


def test_remote_wrong_path_is_not_a_decision(standin) -> None:
    server = standin(PolicyEngine.from_config(Config()))
    decision = RemoteEngine(server.url, path="governance/export/metadata").evaluate({})
    assert "is not a Lacuna decision" in (decision.engine_error or "")


def test_remote_policies_pushed_with_put_like_opa_python_client(standin) -> None:
    import urllib.request

    engine = PolicyEngine.from_config(Config())
    server = standin()
    server.data.update({k: v for k, v in engine.data.items()})
    modules = {m.relpath: m.source for m in engine.bundle.policy_modules}
    modules["lacuna/decision.rego"] = engine.aggregator()
    for policy_id, source in modules.items():
        request = urllib.request.Request(f"{server.url}/v1/policies/{policy_id}",
                                         data=source.encode(), method="PUT")
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
    remote = RemoteEngine(server.url, docs_url=engine.docs_url)
    assert remote.health()
    doc = {"action": "read", "source": {"classification": "PUBLIC"}}
    assert same(remote.evaluate(doc)) == same(engine.evaluate(doc))


def test_remote_from_settings_and_bad_urls() -> None:
    remote = RemoteEngine.from_settings({"url": "http://opa:8181/", "timeout_ms": 500,
                                         "retries": 0, "path": "/lacuna/decision/result/"})
    assert (remote.url, remote.path, remote.timeout_s, remote.retries) == (
        "http://opa:8181", "lacuna/decision/result", 0.5, 0)
    with pytest.raises(ConfigError, match="needs url"):
        RemoteEngine.from_settings({})
    with pytest.raises(ConfigError, match="not an http"):
        RemoteEngine("opa:8181")


def test_remote_decisions_are_logged_with_the_servers_decision_id(standin) -> None:
    sink = MemoryDecisionLog()
    server = standin(PolicyEngine.from_config(Config()))
    RemoteEngine(server.url, decision_log=sink).evaluate({"action": "read"}, operation_id="o")
    assert sink.flush()
    [record] = sink.records
    assert record["path"] == "lacuna/decision/result"
    assert len(record["decision_id"]) == 36  # the stand-in's uuid
    assert record["result"]["allowed"] is True
