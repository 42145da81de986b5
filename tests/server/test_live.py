"""Against a live server (uvicorn in a subprocess): opa-python-client unchanged gets the embedded
engine's decisions on the golden cases; a notebook-style pandas client governs through the
server, and stopping the server makes its next export a clear denial within the timeout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opa_client.opa import OpaClient

from lacuna.config import load_config
from lacuna.destinations import classify_destination
from lacuna.model import Action, Classification, Operation, Source, User
from lacuna.policy import PolicyEngine
from lacuna.policy.compile import PolicyPackage
from lacuna.policy.decide import build
from lacuna.policy.inputs import build_input

from .conftest import Live, start_server

FIXTURES = Path(__file__).resolve().parents[1] / "policy" / "fixtures"


def _golden_cases() -> list[Path]:
    out = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        if case.get("bundle", "default") == "default" and not case.get("extra_files") and not (
                case.get("config")):
            out.append(path)
    return out


def _operation(case: dict[str, Any]) -> tuple[Operation, dict[str, Any]]:
    op = case["operation"]
    c = Classification.from_dict(op.get("classification") or {})
    config = load_config(None)
    target = op.get("destination")
    operation = Operation(
        action=Action(op["action"]),
        user=User(**(op.get("user") or {"id": "analyst_alice", "role": "data_analyst"})),
        classification=c,
        sources=tuple(Source(name=n, classification=c) for n in op.get("sources") or ()),
        destination=classify_destination(target, config.destinations) if target else None,
        environment=op.get("environment", "development"), purpose=op.get("purpose"),
        method=op.get("method", ""), variable=op.get("variable"))
    exc = op.get("exception") or {}
    return operation, {"exception_approved": bool(exc.get("approved", False)),
                       "exception_approver_role": exc.get("approver_role")}


def _comparable(d: Any) -> dict[str, Any]:
    return {"allowed": d.allowed, "reasoning": d.reasoning, "policy_id": d.policy_id,
            "policy_title": d.policy_title, "steward": d.steward, "docs_url": d.docs_url,
            "why": list(d.why), "policies": [[p.package, p.effect] for p in d.policies],
            "alternatives": [(a.title, a.kind, a.params) for a in d.alternatives],
            "engine_error": d.engine_error}


def test_opa_python_client_gets_the_embedded_decisions(live: Live) -> None:
    cases = _golden_cases()
    assert len(cases) >= 10
    embedded = PolicyEngine.from_config(load_config(live.config))
    client = OpaClient(host="127.0.0.1", port=live.port, token=live.tokens["ana"], timeout=10)
    assert client.check_health()
    for path in cases:
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        operation, kwargs = _operation(case)
        doc = build_input(operation, **kwargs)
        answer = client.query_rule(input_data=doc, package_path="lacuna.decision",
                                   rule_name="result")
        assert answer.get("decision_id"), path.stem
        result = answer["result"]

        def lookup(name: str, meta: dict[str, Any] = result["metadata"]) -> PolicyPackage:
            return PolicyPackage(name=name, rules=frozenset(), metadata=dict(meta.get(name) or {}))

        remote = build(result, lookup, doc, operation_id=operation.id,
                       revision=result.get("revision"), docs_url=embedded_docs(live),
                       started=time.perf_counter())
        local = embedded.decide(operation, **kwargs)
        assert _comparable(remote) == _comparable(local), path.stem
        assert remote.allowed is case["expected"]["allowed"], path.stem
    client.close_connection()


def embedded_docs(live: Live) -> str:
    return load_config(live.config).docs_url


def test_opa_client_policy_endpoints(live: Live) -> None:
    admin = OpaClient(host="127.0.0.1", port=live.port, token=live.tokens["root"], timeout=10)
    assert admin.update_policy_from_string("package demo.flags\n\nenabled := true\n", "flags")
    assert admin.query_rule(input_data={}, package_path="demo.flags",
                            rule_name="enabled")["result"] is True
    assert "flags" in admin.get_policies_list()
    assert admin.delete_policy("flags")
    analyst = OpaClient(host="127.0.0.1", port=live.port, token=live.tokens["ana"], timeout=10)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the client wraps the 403 its own way
        analyst.update_policy_from_string("package x\n\ny := 1\n", "x")
    assert httpx.put(f"{live.url}/v1/policies/x", content="package x\n\ny := 1\n",
                     headers=live.headers("ana")).status_code == 403
    r = httpx.put(f"{live.url}/v1/policies/broken", content="package broken\n\nallow if {",
                  headers=live.headers("root"))
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_parameter"
    assert httpx.post(f"{live.url}/v1/data/lacuna/decision/result",
                      json={"input": {}}).status_code == 401


NOTEBOOK = """
import json, sys, time
import pandas as pd
import lacuna
from lacuna.errors import GovernanceViolation

lacuna.enable()
df = pd.read_csv("customers.csv")
out = {}
def attempt(name, path, **kw):
    started = time.monotonic()
    try:
        df.to_csv(path, index=False, **kw)
        out[name] = {"allowed": True}
    except GovernanceViolation as exc:
        d = exc.decision
        out[name] = {"allowed": False, "reasoning": d.reasoning, "error": d.engine_error,
                     "message": str(exc)}
    out[name]["seconds"] = time.monotonic() - started
attempt("downloads", "Downloads/customers.csv")
attempt("governed", "governed/customers.csv")
exc = lacuna.request_exception(data=df, destination="Downloads/board.csv",
                               purpose="Board Q4 presentation for the CFO", approver="jane",
                               duration_hours=1)
out["exception"] = exc.id
print(json.dumps(out), flush=True)
sys.stdin.readline()   # the test stops the server now
out = {}
attempt("after_stop", "governed/again.csv")
print(json.dumps(out), flush=True)
"""


def test_a_notebook_client_is_governed_through_the_server(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    import shutil
    from importlib import resources

    server = start_server(tmp_path_factory.mktemp("notebook-server"))
    work = server.root
    shutil.copy(Path(str(resources.files("lacuna") / "data" / "customers.csv")),
                work / "customers.csv")
    client_yaml = work / "client" / "lacuna.yaml"
    client_yaml.parent.mkdir()
    client_yaml.write_text(yaml.safe_dump({
        "user": {"id": "somebody-else", "role": "admin"},  # ignored: the token decides
        # a deadline a loaded CI machine keeps (the exception request waited > 1.5 s once)
        "server": {"url": server.url, "deadline_ms": 4000, "timeout_ms": 3000},
        "lineage": {"openlineage": {"enabled": False}},
    }), encoding="utf-8")
    env = {**server.env, "LACUNA_CONFIG": str(client_yaml), "LACUNA_TOKEN": server.tokens["ana"],
           "LACUNA_HOME": str(work / "client-home")}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(NOTEBOOK)], cwd=work,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        first = json.loads(proc.stdout.readline() or proc.stderr.read() or "{}")
        assert first["downloads"]["allowed"] is False, first
        assert "Cannot export PROPRIETARY" in first["downloads"]["reasoning"]
        assert first["governed"]["allowed"] is True, first
        assert first["exception"].startswith("EXC-")
        # The server has it all, as ana (the token), not as the client's configured user.
        h = server.headers("carla")
        records = httpx.get(f"{server.url}/api/v1/audit", params={"limit": 50}, headers=h
                            ).json()["records"]
        decisions = [r for r in records if r["what"].get("action") == "export"]
        assert {r["who"]["user_id"] for r in decisions} == {"ana"}
        assert any(r["decision"]["allowed"] for r in decisions)
        assert any(not r["decision"]["allowed"] for r in decisions)
        assert any(r.get("kind") == "outcome" or "outcome" in json.dumps(r) for r in records)
        exc = httpx.get(f"{server.url}/api/v1/exceptions/{first['exception']}",
                        headers=server.headers("jane")).json()
        assert exc["requested_by"] == "ana"
        assert exc["status"] == "pending"
        runs = httpx.get(f"{server.url}/api/v1/lineage/runs", headers=h).json()["runs"]
        assert any(r["user"] == "ana" and any("governed/customers.csv" in o
                                              for o in r["outputs"]) for r in runs), runs
        assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
        assert "Application shutdown complete" in server.log.read_text()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        second = json.loads(proc.stdout.readline() or proc.stderr.read() or "{}")
        after = second["after_stop"]
        assert after["allowed"] is False
        assert "governance server could not decide" in after["reasoning"]
        assert server.url in after["error"]
        assert "unreachable" in after["error"]
        assert after["seconds"] < 4.0 + 1.0  # the configured deadline, plus slack
        assert not (work / "governed" / "again.csv").exists()
    finally:
        proc.kill()
        proc.communicate()
        server.stop()
