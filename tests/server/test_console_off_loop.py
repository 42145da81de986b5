"""The console's form posts do their database work off the event loop.

A steward's approve/deny in the console ran the exception verb (database writes, an audit
append, under the verbs' lock that an API request on a worker thread may hold) on the server's
event loop, as did a sign-in's token lookup and session start (anyone may post the sign-in
form), feedback and reviews, and a run of every policy test: while one ran, no other request
of that worker was answered. Each is now on a worker thread, where no event loop runs."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, seen: list[bool]) -> None:
    real = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(_on_loop())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


def test_sign_in_and_a_stewards_decision_run_off_the_event_loop(app_client, monkeypatch) -> None:
    import lacuna.exceptions as verbs

    state = app_client.state
    client = app_client.client
    seen: dict[str, list[bool]] = {"authenticate": [], "start_session": [], "deny": []}
    _spy(monkeypatch, state.authenticator, "authenticate", seen["authenticate"])
    _spy(monkeypatch, state.users, "start_session", seen["start_session"])
    _spy(monkeypatch, verbs, "deny_exception", seen["deny"])
    root = state.governor.config.destinations.unmanaged[0]
    r = client.post(
        "/api/v1/exceptions",
        headers=app_client.headers("ana"),
        json={
            "destination": f"{root}/board.csv",
            "action": "write",
            "purpose": "Quarterly board presentation of customer metrics",
        },
    )
    assert r.status_code == 201, r.text
    exception_id = r.json()["id"]
    client.cookies.clear()
    form = client.get("/console/login")
    r = client.post(
        "/console/login",
        follow_redirects=False,
        data={"token": "lac_not-a-token", "csrf_token": _csrf(form.text), "next": "/console/"},
    )
    assert r.status_code == 401  # refused (and audited), off the loop too
    form = client.get("/console/login")
    r = client.post(
        "/console/login",
        follow_redirects=False,
        data={
            "token": app_client.tokens["jane"],
            "csrf_token": _csrf(form.text),
            "next": "/console/exceptions",
        },
    )
    assert r.status_code == 303, r.text
    page = client.get("/console/exceptions")
    assert page.status_code == 200
    r = client.post(
        f"/console/exceptions/{exception_id}/decide",
        follow_redirects=False,
        data={
            "decision": "deny",
            "comment": "not for a board deck",
            "csrf_token": _csrf(page.text),
        },
    )
    assert r.status_code == 303, r.text
    # read back: the decision is stored, by the signed-in steward
    assert state.governor.exceptions.get(exception_id).status.value == "denied"
    assert state.governor.exceptions.get(exception_id).decided_by == "jane"
    assert all(seen.values()), seen
    assert not any(on for calls in seen.values() for on in calls), seen
    client.cookies.clear()
