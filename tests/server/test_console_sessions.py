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


def test_a_flood_of_sign_outs_is_read_once_per_session_not_on_every_request(
        users: UserStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every console request checks the trail for the end of its session (a row put back
    from before a sign-out is refused). Any user can sign in and out in a loop, each sign-out
    a trail event: a request reads only the ends recorded since its session was last checked,
    so the flood is parsed once per session, not on every request of every session. A
    sign-out after the flood, and the old row put back, is still refused."""
    import json
    from types import SimpleNamespace

    from sqlalchemy import insert, select

    import lacuna.identity as identity
    import lacuna.identity.sessions as sessions

    later = time.time() + 3600
    live = users.start_session("jane", later)
    flood = 120
    for _ in range(flood):
        users.end_session(users.start_session("jane", later))
    parsed = [0]

    def loads(text: str | bytes, **kwargs: object) -> object:
        parsed[0] += 1
        return json.loads(text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sessions, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    assert users.session_state(live, "jane") == "live"  # the first look reads them
    assert parsed[0] <= flood + 5
    parsed[0] = 0
    for _ in range(5):
        assert users.session_state(live, "jane") == "live"
    assert parsed[0] <= 5  # nothing new since: the flood is not parsed again

    # the refusal still holds: the row from before the sign-out, put back, stays out
    with users._engine.connect() as conn:
        kept = dict(conn.execute(select(identity.sessions_table).where(
            identity.sessions_table.c.id_sha256 == identity.token_digest(live))).mappings().one())
    assert users.end_session(live)
    with users._engine.begin() as conn:
        conn.execute(identity.sessions_table.delete().where(
            identity.sessions_table.c.id_sha256 == kept["id_sha256"]))
        conn.execute(insert(identity.sessions_table).values(**kept))
    assert users.session_state(live, "jane") == "unverified"
    other = users.start_session("jane", later)  # the allowed path: a new session works
    assert users.session_state(other, "jane") == "live"
