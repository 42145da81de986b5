"""Every route is authenticated and role-checked: the route table is walked, so a new endpoint
without ``require_role`` (and not in the public allowlist) fails here."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute

from lacuna.identity import ROLES
from lacuna.server.console import PUBLIC_PATHS as CONSOLE_PUBLIC  # sign-in form, stylesheet
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
