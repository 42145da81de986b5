"""A hostile or broken Lacuna server answering the remote client (lacuna.remote.client): every
answer that is not this operation's decision is a loud denial, never an exception escaping the
governor's fail-closed path and never an allow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lacuna.config import LacunaServerConfig
from lacuna.model import Action, Classification, Operation, User
from lacuna.remote.client import ServerClient, ServerEngine


class _Answer:
    body = b"{}"
    status = 200


@pytest.fixture
def engine() -> Iterator[tuple[ServerEngine, type[_Answer]]]:
    answer = type("Answer", (_Answer,), {})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(answer.status)
            if answer.status in (301, 302, 307, 308):
                self.send_header("Location", "http://elsewhere.example/")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = LacunaServerConfig(
        url=f"http://127.0.0.1:{server.server_address[1]}",
        token="lac_example",
        breaker_failures=1000,
        retries=0,
    )
    remote = ServerEngine(ServerClient(settings), "s-1")
    yield remote, answer
    remote.close()
    server.shutdown()
    server.server_close()


def _op() -> Operation:
    return Operation(
        action=Action.EXPORT, user=User(id="ana", role="analyst"), classification=Classification()
    )


def _decision(**fields: Any) -> bytes:
    return json.dumps({"decision": {"allowed": True, **fields}}).encode()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"decision": [true]}', "not an object with a decision object"),
        (b'{"decision": "allowed"}', "not an object with a decision object"),
        (b'[{"decision": {"allowed": true}}]', "not an object with a decision object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (_decision(alternatives=[{"title": "t", "params": [1]}]), "'params' must be an object"),
        (_decision(alternatives=["use the governed folder"]), "'alternatives' must be a list of"),
        (_decision(policies={"package": "p"}), "'policies' must be a list"),
        (_decision(policy_id={"id": "P-1"}), "'policy_id' must be text or null"),
        (_decision(engine_error=["x"]), "'engine_error' must be text or null"),
        (_decision(why="a reason"), "'why' must be a list"),
        (_decision(operation_id="someone-elses-operation"), "is for operation"),
        (_decision(held=["PUBLIC"]), "'held' must be an object"),
        (_decision(held={"sources": []}), "'held' must be an object with a classification"),
        (_decision(held={"classification": {"tier": "SECRETISH"}}), "'held' is not a"),
        (_decision(held={"classification": {}, "sources": [{"nom": "x"}]}), "'held' is not a"),
        (_decision(held={"classification": {}, "sources": "a.csv"}), "'sources' must be a list"),
    ],
)
def test_an_answer_that_is_not_this_decision_is_a_loud_denial(
    engine, body: bytes, named: str
) -> None:
    remote, answer = engine
    answer.body = body
    decision = remote.decide(_op())  # never raises
    assert decision.allowed is False
    assert "governance server could not decide" in decision.reasoning
    assert named in (decision.engine_error or "")


def test_a_well_formed_answer_for_this_operation_is_taken_whole(engine) -> None:
    remote, answer = engine
    op = _op()
    answer.body = json.dumps(
        {
            "decision": {
                "allowed": True,
                "operation_id": op.id,
                "reasoning": "public data",
                "why": ["ok"],
                "policy_id": "P-1",
                "policy_title": None,
                "steward": "jane",
                "docs_url": None,
                "alternatives": [
                    {"title": "t", "code": "x()", "note": None, "kind": "k", "params": {"a": 1}}
                ],
                "policies": [
                    {
                        "package": "lacuna.p",
                        "id": "P-1",
                        "title": "T",
                        "owner": "jane",
                        "version": "2",
                        "compliance": ["GDPR"],
                        "effect": "allow",
                    }
                ],
                "engine_error": None,
                "bundle_revision": "r1",
                "eval_ms": 0.5,
            },
            "audit": {"id": "a-1", "seq": 7, "hash": "h"},
        }
    ).encode()
    decision = remote.decide(op)
    assert decision.allowed is True
    assert decision.engine_error is None
    assert decision.policy_id == "P-1"
    assert decision.steward == "jane"
    assert decision.alternatives[0].params == (("a", "1"),)
    assert decision.policies[0].compliance == ("GDPR",)
    assert remote.recorded(op.id) == {"id": "a-1", "seq": 7, "hash": "h"}
    answer.body = _decision()  # no operation_id: the one asked about
    assert remote.decide(_op()).allowed is True


@pytest.mark.parametrize("status", [302, 307, 304])
def test_a_redirect_is_no_answer_to_any_call(engine, status: int) -> None:
    """The client follows no redirect (its token stays with the server it names), and a
    redirect was taken as an empty success: an outcome sent to it was not recorded, without a
    word. Every call now fails saying so; a decision is a denial."""
    from lacuna.errors import LacunaError
    from lacuna.model import Decision
    from lacuna.remote.client import ServerAudit, ServerExceptions, ServerUnavailable

    remote, answer = engine
    answer.status, answer.body = status, b""
    decision = remote.decide(_op())
    assert decision.allowed is False
    assert f"HTTP {status}" in (decision.engine_error or "")
    op = _op()
    allowed = Decision(allowed=True, operation_id=op.id, operation=op, reasoning="ok")
    with pytest.raises(ServerUnavailable, match=f"HTTP {status}.*never redirects"):
        ServerAudit(remote).record_outcome(allowed, op, session="s-1", of="a-1")
    with pytest.raises(LacunaError, match="never redirects"):
        ServerExceptions(remote.client).list()
    answer.status, answer.body = 201, b'{"id": "a-2", "seq": 8, "hash": "h"}'
    ServerAudit(remote).record_outcome(allowed, op, session="s-1", of="a-1")  # 2xx: taken


@pytest.mark.parametrize("body", [b"[]", b'{"exceptions": {"id": "EXC-2026-001"}}', b"{}"])
def test_a_list_of_exceptions_that_is_not_one_is_an_error_saying_so(engine, body: bytes) -> None:
    from lacuna.errors import LacunaError
    from lacuna.remote.client import ServerExceptions

    remote, answer = engine
    answer.body = body
    with pytest.raises(LacunaError, match="not a list of exceptions"):
        ServerExceptions(remote.client).list()
    answer.body = b'{"exceptions": [], "truncated": false}'
    assert ServerExceptions(remote.client).list() == []
