"""Every route is authenticated and role-checked: the route table is walked, so a new endpoint
without ``require_role`` (and not in the public allowlist) fails here. And with the state
database out of reach, every API route and console page answers 503 saying the server's
database is unavailable (never its URL or file, never 400 or the sign-in form), the cause is
in the server's log, and the same requests answer as before once it is back."""

from __future__ import annotations

import gc
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy import exc as sa
from sqlalchemy.engine import Engine

from lacuna.errors import AuditError, ConfigError, LineageError
from lacuna.identity import ROLES
from lacuna.server.app import state_unavailable
from lacuna.server.console import PUBLIC_PATHS as CONSOLE_PUBLIC  # sign-in form, stylesheet
from lacuna.server.outer import serving
from lacuna.server.security import PUBLIC_PATHS


def _roles(route: APIRoute) -> tuple[str, ...] | None:
    """The roles the route's dependencies demand, or None when none checks roles."""
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "lacuna_roles", None)
        if roles is not None:
            return tuple(roles)
        stack.extend(dep.dependencies)
    return None


def _api_routes(routes: Any, prefix: str = "") -> list[tuple[str, APIRoute]]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as branches)."""
    out: list[tuple[str, APIRoute]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            extra = getattr(route.include_context, "prefix", "") or ""
            out += _api_routes(route.original_router.routes, prefix + extra)
        elif hasattr(route, "routes"):  # a mounted sub-application
            out += _api_routes(route.routes, prefix + getattr(route, "path", ""))
    return out


def _routes(app: Any) -> list[tuple[str, str, tuple[str, ...] | None]]:
    out = []
    for path, route in _api_routes(app.routes):
        for method in sorted(route.methods):
            out.append((method, path, _roles(route)))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_checks_a_role_or_is_public(app_client):
    routes = _routes(app_client.app)
    assert len(routes) >= 25
    unguarded = [(m, p) for m, p, roles in routes
                 if roles is None and p not in PUBLIC_PATHS | CONSOLE_PUBLIC]
    assert unguarded == [], f"routes without require_role: {unguarded}"
    every_path = {p for _, p, _ in routes}
    for public in ("/health",):
        assert public in every_path
    # The allowlist holds only liveness and the API docs.
    assert {"/health", "/docs", "/docs/oauth2-redirect", "/redoc",
                            "/openapi.json"} >= PUBLIC_PATHS


def test_every_guarded_route_answers_401_without_and_403_with_the_wrong_role(app_client):
    client, state = app_client.client, app_client.state
    before = len(state.governor.audit.list(limit=None))
    checked_401 = checked_403 = 0
    for method, path, roles in _routes(app_client.app):
        if roles is None:
            continue
        url = _concrete(path)
        r = client.request(method, url, json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers.get("www-authenticate", "").startswith("Bearer")
        r = client.request(method, url, json={}, headers={"Authorization": "Bearer lac_nope"})
        assert r.status_code == 401, (method, path)
        checked_401 += 2
        outsider = next((u for u, rs in (("ana", ("analyst",)), ("carla",
                        ("compliance_officer",)), ("jane", ("data_steward",)))
                        if not set(rs) & set(roles)), None)
        if outsider is not None and set(roles) != set(ROLES):
            r = client.request(method, url, json={}, headers=app_client.headers(outsider))
            assert r.status_code == 403, (method, path, outsider, r.text)
            checked_403 += 1
    assert checked_401 >= 50
    assert checked_403 >= 8
    refusals = [r for r in state.governor.audit.list(limit=None)[: checked_401 + checked_403]
                if r.policy_id in ("lacuna.server.http_401", "lacuna.server.http_403")]
    assert len(state.governor.audit.list(limit=None)) - before == checked_401 + checked_403
    assert len(refusals) == checked_401 + checked_403
    assert {r.user_id for r in refusals if r.policy_id.endswith("403")} <= {"ana", "carla",
                                                                             "jane"}
    assert state.governor.audit.verify().ok


def test_health_is_public_and_docs_are_served(app_client):
    client = app_client.client
    assert client.get("/health").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/decide" in spec["paths"]
    assert "/v1/data/{path}" in spec["paths"]
    assert client.get("/metrics").status_code == 401


# -- the state database out of reach ----------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def database_down(app_client: Any, error: str = "unable to open database file"
                  ) -> Iterator[None]:
    """Every connection to the app's state database fails with ``error`` as SQLite's driver
    raises it (the pools emptied, so no connection opened before is reused), then works
    again."""
    db = str(app_client.state.db)
    # gc.get_objects() leaves out what gc.freeze() froze, and tests/conftest.py freezes what
    # the tests before left alive every 100 tests: the module's app may have been made before
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        engines = [e for e in gc.get_objects()  # type(), not isinstance: that reads __class__,
                   # which some objects answer with a warning (torch's deprecated reduce_op)
                   if issubclass(type(e), Engine) and e.url.render_as_string(False) == db]
    finally:
        if frozen:
            gc.freeze()
    assert engines

    def fail(*_: Any, **__: Any) -> None:
        raise sqlite3.OperationalError(error)

    users = app_client.state.users
    for engine in engines:
        event.listen(engine, "do_connect", fail)
        engine.dispose()
    app_client.state.governor.audit._drop_raw()
    # the users table was checked a moment ago: tokens used before stay accepted (as for up
    # to UserStore.CHECK_S), so requests reach their routes, whatever the machine's speed
    users._check_at = time.monotonic() + 3600
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "do_connect", fail)
        users._check_at = 0.0


def _signed_in(app_client: Any, user: str) -> TestClient:
    client = TestClient(serving(app_client.app))
    form = client.get("/console/login")
    answer = client.post("/console/login", data={
        "csrf_token": CSRF.search(form.text).group(1), "token": app_client.tokens[user]},
        follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def _secret_free(text: str, app_client: Any) -> None:
    root = str(app_client.state.db).removeprefix("sqlite:///")
    assert root not in text
    assert "sqlite" not in text.lower()
    assert "unable to open" not in text


API = ("/api/v1/audit", "/api/v1/exceptions", "/api/v1/audit/verify")
PAGES = ("/console/exceptions", "/console/audit")


def test_state_database_down_is_a_503_on_the_api_and_the_console(app_client, caplog) -> None:
    import secrets

    carla = _signed_in(app_client, "carla")
    headers = app_client.headers("carla")
    assert app_client.client.get("/api/v1/exceptions", headers=headers).status_code == 200
    unseen = app_client.state.users.add(f"new-{secrets.token_hex(3)}", roles=("analyst",))
    with database_down(app_client), caplog.at_level(logging.ERROR, logger="lacuna.server"):
        for path in API:  # stores' errors (AuditError) and a driver's error let through
            answer = app_client.client.get(path, headers=headers)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["code"] == "StateUnavailable"
            assert "the server's state database is unavailable" in answer.json()["message"]
            assert answer.headers["retry-after"]
            _secret_free(answer.text, app_client)
        for path in PAGES:  # the session cannot be checked: 503, not the sign-in form
            page = carla.get(path, follow_redirects=False)
            assert page.status_code == 503, (path, page.text[:200])
            assert "The server&#39;s database is unavailable" in page.text
            assert "Sign in ·" not in page.text
            _secret_free(page.text, app_client)
        # a token not seen before: not a 401 (it may be good), the database is down
        answer = app_client.client.get("/api/v1/audit",
                                       headers={"Authorization": f"Bearer {unseen}"})
        assert answer.status_code == 503, answer.text
        form = TestClient(serving(app_client.app)).get("/console/login")
        login = TestClient(serving(app_client.app), cookies=form.cookies).post(
            "/console/login", data={"csrf_token": CSRF.search(form.text).group(1),
                                    "token": unseen})
        assert login.status_code == 503, login.text[:200]
        # the server's log keeps the cause and the request
        logged = [r.getMessage() for r in caplog.records if "HTTP 503" in r.getMessage()]
        assert any("GET /api/v1/audit" in m and "unable to open database file" in m
                   for m in logged)
        assert any("GET /console/audit" in m for m in logged)

    for path in API:  # back: answered as before, in the same session
        assert app_client.client.get(path, headers=headers).status_code == 200, path
    for path in PAGES:
        assert carla.get(path).status_code == 200, path


def test_a_locked_state_database_is_a_503(app_client) -> None:
    assert app_client.client.get("/api/v1/exceptions",
                                 headers=app_client.headers("ana")).status_code == 200
    with database_down(app_client, "database is locked"):
        answer = app_client.client.get("/api/v1/exceptions", headers=app_client.headers("ana"))
    assert answer.status_code == 503, answer.text


def test_one_who_sees_only_their_own_is_told_the_database_is_down_not_not_theirs(
        app_client, monkeypatch) -> None:
    """A store error that comes of the database out of reach was "no exception of yours"
    (404, and for a file report an audited refusal) to an analyst; another store error
    still is."""
    store = app_client.state.governor.exceptions
    down = _wrapped(_driver(sa.OperationalError, "could not connect"),
                    AuditError("the trail could not be read"), hide=True)
    for error, status in ((down, 503), (AuditError("a row Lacuna did not write"), 404)):
        def get(_: str, error: Exception = error) -> Any:
            raise error

        monkeypatch.setattr(store, "get", get)
        for method, path, body in (
                ("GET", "/api/v1/exceptions/EXC-2026-001", None),
                ("GET", "/api/v1/exceptions/EXC-2026-001/files", None)):
            answer = app_client.client.request(method, path, json=body,
                                               headers=app_client.headers("ana"))
            assert answer.status_code == status, (path, answer.text)


def _wrapped(inner: BaseException, outer: Exception, *, hide: bool) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            if hide:
                raise outer from None
            raise outer from exc
    except Exception as caught:
        return caught


def _driver(kind: type[sa.DBAPIError], text: str) -> sa.DBAPIError:
    return kind("SELECT 1", {}, sqlite3.OperationalError(text))


@pytest.mark.parametrize(("error", "down"), [
    (_wrapped(_driver(sa.OperationalError, "could not connect"), AuditError("x"), hide=False),
     True),
    (_wrapped(_driver(sa.OperationalError, "locked"), LineageError("x"), hide=True), True),
    (_wrapped(sqlite3.DatabaseError("file is not a database"), AuditError("x"), hide=False),
     True),
    (sa.InterfaceError("SELECT 1", {}, Exception("connection closed")), True),
    (sa.TimeoutError("QueuePool limit reached"), True),
    (_driver(sa.DataError, "NUL character"), False),  # the caller's value, refused
    (_driver(sa.IntegrityError, "UNIQUE constraint failed"), False),
    (_wrapped(_driver(sa.IntegrityError, "UNIQUE"), ConfigError("x"), hide=False), False),
    (AuditError("the chain is broken at seq 4"), False),
    (ConfigError("bad filter"), False),
])
def test_state_unavailable_tells_the_database_out_of_reach_from_other_errors(
        error: Exception, down: bool) -> None:
    assert (state_unavailable(error) is not None) is down


# -- a console session is of the kind its credential was ---------------------------------------

def _claims(client: TestClient) -> dict[str, Any]:
    import base64
    import json

    from lacuna.server.console.session import COOKIE

    data = client.cookies.get(COOKIE).rsplit(".", 1)[0]
    return dict(json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))))


def test_a_legacy_api_token_signs_in_a_token_session_never_an_oidc_one(app_client,
                                                                        monkeypatch) -> None:
    """The sign-in took a token without the ``lac_`` prefix (one made before it) for an OIDC
    token: its session was never checked against the users table again, so a user removed
    from it stayed signed in. The kind is the authenticator's now."""
    import secrets

    from sqlalchemy import delete

    from lacuna.identity import users as users_module
    from lacuna.identity._rows import users_table

    name = f"old-timer-{secrets.token_hex(3)}"
    monkeypatch.setattr(users_module, "new_token", lambda: secrets.token_urlsafe(32))
    legacy = app_client.state.users.add(name, roles=("data_steward",))
    assert not legacy.startswith("lac_")
    app_client.tokens[name] = legacy
    try:
        old = _signed_in(app_client, name)
        modern = _signed_in(app_client, "joe")
    finally:
        del app_client.tokens[name]
    assert _claims(old)["v"] == _claims(modern)["v"] == "token"
    assert old.get("/console/audit").status_code == 200
    with app_client.state.users._engine.begin() as conn:  # the user removed
        conn.execute(delete(users_table).where(users_table.c.name == name))
    answer = old.get("/console/audit", follow_redirects=False)
    assert answer.status_code == 401, answer.text[:200]
    assert modern.get("/console/audit").status_code == 200


@pytest.mark.parametrize("via", ["bearer", "oidc ", "TOKEN", ""])
def test_a_session_cookie_of_no_known_kind_signs_in_nobody(via: str) -> None:
    from lacuna.server.console.session import SessionCodec

    codec = SessionCodec(b"k" * 32)
    assert codec.load(codec.dump(codec.new("sam", ("admin",), "token"))) is not None
    assert codec.load(codec.dump(codec.new("sam", ("admin",), "oidc"))) is not None
    assert codec.load(codec.dump(codec.new("sam", ("admin",), via))) is None


def test_the_503_is_logged_whatever_the_driver_says(app_client, caplog) -> None:
    """An error with empty text (a driver's bare exception) is logged, not a second error
    inside the handler (a 500)."""
    from starlette.requests import Request

    from lacuna.server.app import unavailable

    request = Request({"type": "http", "app": app_client.app, "headers": [], "method": "GET",
                       "path": "/api/v1/audit", "query_string": b""})
    for error in (sa.OperationalError("SELECT 1", {}, sqlite3.OperationalError("")),
                  sqlite3.OperationalError("")):
        with caplog.at_level(logging.ERROR, logger="lacuna.server"):
            assert unavailable(request, error).status_code == 503
    assert sum("HTTP 503 for GET /api/v1/audit" in r.getMessage() for r in caplog.records) == 2
