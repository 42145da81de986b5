"""Signing out of the console ends the session on the server: a copy of the session cookie
taken before stops working, through the real HTTP stack (a live uvicorn server, httpx), while
another session of the same user stays signed in. The sessions table behaves the same on
SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from fixtures_postgres import new_postgres_database
from lacuna.identity import UserStore
from lacuna.server.console.session import COOKIE

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _sign_in(url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/console/login")
    assert form.status_code == 200, form.text
    match = CSRF.search(form.text)
    assert match is not None
    answer = client.post("/console/login", data={"csrf_token": match.group(1), "token": token})
    assert answer.status_code == 303, answer.text
    assert client.cookies.get(COOKIE, path="/console")
    return client


def _with_cookie(url: str, cookie: str) -> httpx.Client:
    """Another client (another machine) holding only a copy of the session cookie."""
    client = httpx.Client(base_url=url, timeout=30)
    client.cookies.set(COOKIE, cookie, path="/console")
    return client


def test_logout_revokes_every_copy_of_the_session_cookie(live) -> None:
    first = _sign_in(live.url, live.tokens["jane"])
    second = _sign_in(live.url, live.tokens["jane"])  # the same user in another browser
    copied = first.cookies.get(COOKIE, path="/console")
    assert copied is not None
    thief = _with_cookie(live.url, copied)
    page = thief.get("/console/exceptions")
    assert page.status_code == 200  # the copy works while the session lives
    csrf = CSRF.search(page.text)
    assert csrf is not None

    page = first.get("/console/exceptions")
    out = first.post("/console/logout", data={"csrf_token": CSRF.search(page.text).group(1)})
    assert out.status_code == 303
    assert out.headers["location"].endswith("/console/login")

    for path in ("/console/exceptions", "/console/audit", "/console/"):
        answer = thief.get(path)
        assert answer.status_code in (303, 401), (path, answer.status_code)
        assert "Sign in" in answer.text or answer.headers.get("location", "").endswith(
            "/console/login")
    forged = thief.post("/console/logout", data={"csrf_token": csrf.group(1)})
    assert forged.status_code == 401  # a form posted with the copy is refused too
    # The refusal was audited, and the user's other session is untouched.
    assert second.get("/console/exceptions").status_code == 200
    # Signing in again makes a new session; the old cookie stays dead.
    again = _sign_in(live.url, live.tokens["jane"])
    assert again.get("/console/exceptions").status_code == 200
    assert thief.get("/console/exceptions").status_code == 401
    for c in (first, second, thief, again):
        c.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def users(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = new_postgres_database(request.getfixturevalue("postgres_url"))
    store = UserStore(url)
    store.add("jane", roles=("data_steward",))
    yield store
    store.close()


def test_sessions_start_end_and_expire(users: UserStore) -> None:
    later = time.time() + 3600
    one, two = users.start_session("jane", later), users.start_session("jane", later)
    assert one != two
    assert users.session_active(one, "jane")
    assert not users.session_active(one, "joe")  # a session is its user's
    assert not users.session_active("", "jane")
    assert not users.session_active("made-up", "jane")
    assert users.end_session(one)
    assert not users.end_session(one)  # already ended
    assert not users.session_active(one, "jane")
    assert users.session_active(two, "jane")
    gone = users.start_session("jane", time.time() - 1)  # already expired
    assert not users.session_active(gone, "jane")
    users.start_session("jane", later)  # starting one drops ended and expired rows
    assert not users.session_active(one, "jane")
    users.disable("jane")  # a disabled user's sessions end with their token
    assert not users.session_active(two, "jane")
