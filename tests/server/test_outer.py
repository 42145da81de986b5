"""The outer lane (lacuna.server.outer), what uvicorn serves: a decision request is answered
by the guarded fast lane without entering FastAPI (and its 413, request id, metrics and
access log are the guard's, once); a fast-lane failure is a JSON 500 and a logged traceback,
never a traceback to the client; everything else, and what the fast lane hands back, is
FastAPI's answer as before (the OpenAPI document, a 401 audited as a refusal); the lifespan
still opens and closes the state. Also: uvicorn believes X-Forwarded-* only from the proxies
the settings name."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from lacuna.server import fastlane

PII = {"tier": "PROPRIETARY", "tags": ["PII", "GDPR"]}


def _decide(app_client: Any, **extra: Any) -> dict[str, Any]:
    root = app_client.state.governor.config.destinations.unmanaged[0]
    return {"operation": {"action": "export", "classification": PII,
                          "destination": f"{root}/outer.csv", **extra}, "record": False}


class Spy:
    """Wraps the FastAPI app behind the outer lane and counts what reaches it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def spy(app_client: Any, monkeypatch: pytest.MonkeyPatch) -> Spy:
    outer = app_client.client.app
    watcher = Spy(outer._app)
    monkeypatch.setattr(outer, "_app", watcher)
    return watcher


def _warm(app_client: Any, user: str = "ana") -> None:
    """One decide through FastAPI, so the fast lane knows the token from then on."""
    r = app_client.client.post("/api/v1/decide", json=_decide(app_client),
                               headers=app_client.headers(user))
    assert r.status_code == 200, r.text


def test_uvicorn_serves_the_outer_lane_in_front_of_the_fastapi_app(app_client) -> None:
    from fastapi import FastAPI

    from lacuna.server.outer import Outer

    assert isinstance(app_client.client.app, Outer)
    assert isinstance(app_client.client.app.app, FastAPI)
    assert app_client.client.app.app is app_client.app


def test_a_decision_is_answered_without_entering_fastapi(app_client, spy, caplog) -> None:
    _warm(app_client)
    spy.paths.clear()
    before = dict(app_client.state.metrics.http)
    with caplog.at_level(logging.INFO, logger="lacuna.server.access"):
        r = app_client.client.post("/api/v1/decide", json=_decide(app_client),
                                   headers={**app_client.headers("ana"),
                                            "x-request-id": "outer-1"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["allowed"] is False
    assert spy.paths == []  # FastAPI never saw it
    assert r.headers.get_list("x-request-id") == ["outer-1"]
    assert app_client.state.metrics.http["2xx"] == before.get("2xx", 0) + 1
    lines = [rec for rec in caplog.records if rec.name == "lacuna.server.access"]
    assert [(x.path, x.status, x.user, x.request_id) for x in lines] == [  # type: ignore[attr-defined]
        ("/api/v1/decide", 200, "ana", "outer-1")]


def test_a_failing_fast_lane_answers_500_json_and_logs_the_traceback(app_client, spy, caplog,
                                                                     monkeypatch) -> None:
    _warm(app_client)
    spy.paths.clear()

    async def broken(*_: Any, **__: Any) -> bytes:
        raise RuntimeError("secret internals: /var/lib/lacuna/state.db")

    monkeypatch.setattr(fastlane, "_decide", broken)
    before = dict(app_client.state.metrics.http)
    with caplog.at_level(logging.INFO):
        r = app_client.client.post("/api/v1/decide", json=_decide(app_client),
                                   headers={**app_client.headers("ana"),
                                            "x-request-id": "boom-1"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "InternalError"
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text
    assert r.headers["x-request-id"] == "boom-1"
    assert spy.paths == []
    assert app_client.state.metrics.http["5xx"] == before.get("5xx", 0) + 1
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "boom-1" in errors[0].getMessage()
    assert "/api/v1/decide" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "secret internals" in str(errors[0].exc_info[1])
    access = [rec for rec in caplog.records if rec.name == "lacuna.server.access"]
    assert [x.status for x in access] == [500]  # type: ignore[attr-defined]
    # The Data API's lane too, and the connection's next request is answered normally.
    monkeypatch.setattr("lacuna.server.routes_opa.answer_bytes", broken_sync)
    r = app_client.client.post("/v1/data/lacuna/allow", json={"input": {}},
                               headers=app_client.headers("ana"))
    assert r.status_code == 500
    assert r.json()["code"] == "InternalError"
    monkeypatch.undo()
    assert app_client.client.get("/health").status_code == 200


def broken_sync(*_: Any, **__: Any) -> tuple[int, bytes]:
    raise ValueError("the Data API broke")


def test_413_on_the_fast_lane_by_length_and_by_stream(app_client, spy) -> None:
    _warm(app_client)
    spy.paths.clear()
    limit = app_client.state.settings.max_body_bytes
    padding = "x" * (limit + 10)
    body = _decide(app_client, purpose=padding)
    r = app_client.client.post("/api/v1/decide", json=body, headers=app_client.headers("ana"))
    assert r.status_code == 413
    assert "max_body_bytes" in r.json()["message"]

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it is read
        yield b'{"input": {"pad": "'
        for _ in range(limit // 4096 + 2):
            yield b"y" * 4096
        yield b'"}}'

    r = app_client.client.post("/v1/data/lacuna/allow", content=chunks(),
                               headers={**app_client.headers("ana"),
                                        "content-type": "application/json"})
    assert r.status_code == 413
    assert "max_body_bytes" in r.json()["message"]
    assert spy.paths == []  # refused before FastAPI
    # a body within the limit still passes on the same route
    ok = app_client.client.post("/v1/data/lacuna/allow", json={"input": {}},
                                headers=app_client.headers("ana"))
    assert ok.status_code == 200, ok.text


def test_other_requests_are_fastapis_as_before(app_client, spy) -> None:
    r = app_client.client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == app_client.app.openapi()
    assert "/api/v1/decide" in r.json()["paths"]
    assert spy.paths == ["/openapi.json"]
    assert app_client.client.get("/health").status_code == 200
    assert len(r.headers.get_list("x-request-id")) == 1


def test_a_bad_token_on_decide_is_handed_to_fastapi_refused_and_audited_once(
        app_client, spy, caplog) -> None:
    audit = app_client.state.governor.audit
    before = len(audit.list(limit=None))
    metrics = app_client.state.metrics
    http, failures = dict(metrics.http), dict(metrics.auth_failures)
    with caplog.at_level(logging.INFO, logger="lacuna.server.access"):
        r = app_client.client.post("/api/v1/decide", json=_decide(app_client),
                                   headers={"Authorization": "Bearer not-a-token",
                                            "x-request-id": "bad-1"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert spy.paths == ["/api/v1/decide"]  # the fast lane handed it back
    assert r.headers.get_list("x-request-id") == ["bad-1"]  # guarded once, not twice
    records = audit.list(limit=None)
    assert len(records) == before + 1
    assert records[0].policy_id == "lacuna.server.http_401"
    assert records[0].user_id == "anonymous"
    assert metrics.http["4xx"] == http.get("4xx", 0) + 1
    assert metrics.auth_failures["401"] == failures.get("401", 0) + 1
    access = [rec for rec in caplog.records if rec.name == "lacuna.server.access"]
    assert [(x.status, x.request_id) for x in access] == [(401, "bad-1")]  # type: ignore[attr-defined]


def test_a_malformed_decide_body_from_a_known_caller_is_fastapis_422(app_client, spy) -> None:
    _warm(app_client)
    spy.paths.clear()
    r = app_client.client.post("/api/v1/decide", json={"operation": {"action": "fly"}},
                               headers=app_client.headers("ana"))
    assert r.status_code == 422
    assert spy.paths == ["/api/v1/decide"]


def test_the_lifespan_still_opens_and_closes_the_state(tmp_path, caplog, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from lacuna.config import load_config
    from lacuna.server.app import create_app
    from lacuna.server.outer import serving
    from lacuna.server.settings import load_settings
    from server.conftest import server_files

    db, config, _ = server_files(tmp_path)
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    cfg = load_config(config)
    app = create_app(load_settings(environ={}, db=db, config=config, scheduler=False),
                     config=cfg.model_copy(update={"audit": cfg.audit.model_copy(
                         update={"url": db})}))
    closed: list[bool] = []
    state = app.state.lacuna
    real_close = state.close
    monkeypatch.setattr(state, "close", lambda: (closed.append(True), real_close())[1])
    with caplog.at_level(logging.INFO, logger="lacuna.server"), TestClient(serving(app)) as client:
        assert any("lacuna server ready" in r.getMessage() for r in caplog.records)
        assert client.get("/health").status_code == 200
        assert closed == []
    assert closed == [True]
    assert any("lacuna server stopping" in r.getMessage() for r in caplog.records)


def test_forwarded_headers_are_believed_only_from_named_proxies() -> None:
    from lacuna.server.run import proxy_options
    from lacuna.server.settings import load_settings

    assert proxy_options(load_settings(environ={})) == {"proxy_headers": False}
    named = load_settings(environ={"LACUNA_SERVER_TRUSTED_PROXIES": "10.0.0.5,10.0.0.6"})
    assert proxy_options(named) == {"proxy_headers": True,
                                    "forwarded_allow_ips": "10.0.0.5,10.0.0.6"}
    spaced = load_settings(environ={}, trusted_proxies=" 10.0.0.5, 10.1.0.0/16 ")
    assert spaced.trusted_proxies == "10.0.0.5,10.1.0.0/16"
    assert load_settings(environ={}, trusted_proxies="*").trusted_proxies == "*"


@pytest.mark.parametrize("bad", ["10.0.0.300", "proxy.example.com", "10.0.0.5,*", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_not_an_address_stops_the_start(bad: str) -> None:
    from lacuna.errors import ConfigError
    from lacuna.server.settings import load_settings

    with pytest.raises(ConfigError, match="trusted_proxies") as caught:
        load_settings(environ={"LACUNA_SERVER_TRUSTED_PROXIES": bad})
    assert repr(bad.split(",")[-1]) in str(caught.value)


def test_a_local_caller_cannot_forge_the_address_a_refusal_is_audited_with(live, monkeypatch
                                                                          ) -> None:
    """Live uvicorn on loopback: before, X-Forwarded-For from 127.0.0.1 was believed, so any
    local caller chose the client address on its own refusal's audit record."""
    import httpx

    from lacuna.audit import AuditStore

    r = httpx.post(f"{live.url}/api/v1/decide", json={"operation": {"action": "read"}},
                   headers={"Authorization": "Bearer forged-token",
                            "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert r.status_code == 401
    monkeypatch.setenv("LACUNA_HOME", live.env["LACUNA_HOME"])
    store = AuditStore(live.db)
    try:
        refusal = next(rec for rec in store.list(limit=None)
                       if rec.policy_id == "lacuna.server.http_401")
    finally:
        store.close()
    assert refusal.data["how"]["code_location"] == "client 127.0.0.1"


def test_every_answer_carries_the_baseline_security_headers(app_client):
    """API answers (fast lane or FastAPI), refusals, redirects, 413s and the docs: not
    cached by intermediaries, not framed, not sniffed; an answer's own header wins."""
    client = app_client.client
    ana = app_client.headers("ana")
    answers = {
        "decide (fast lane)": client.post("/api/v1/decide", headers=ana,
                                          json={"operation": {"action": "read"}}),
        "audit search (FastAPI)": client.get("/api/v1/audit", headers=ana),
        "401": client.get("/api/v1/audit"),
        "health": client.get("/health"),
        "openapi": client.get("/openapi.json"),
        "console redirect": client.get("/console/", follow_redirects=False),
        "413": client.post("/api/v1/decide", headers=ana, content=b"x" * (64 * 1024 + 1)),
    }
    for what, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", what
        assert r.headers.get("x-frame-options") == "DENY", what
        assert r.headers.get("referrer-policy") == "no-referrer", what
        assert r.headers.get_list("cache-control") == ["no-store"], what
    assert answers["console redirect"].status_code in (302, 303, 307)
    assert answers["413"].status_code == 413
    # the console's stylesheet sets its own caching, which is kept (and not doubled)
    css = client.get("/console/static/console.css")
    assert css.status_code == 200
    assert css.headers.get_list("cache-control") == ["max-age=300"]
