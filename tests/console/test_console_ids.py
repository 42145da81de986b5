"""Exception ids in the console and the API: one error-to-status rule for both
(``lacuna.server.app.status_of``), and ids that are not secrets: guessing one shows or allows
nothing that the caller's role does not."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from tests.console.test_console_pages import app_and_tokens, csrf_of, sign_in

__all__ = ["app_and_tokens"]  # the fixture, imported for the tests here


def _file(api: TestClient, token: str, where: str) -> str:
    created = api.post("/api/v1/exceptions", headers={"Authorization": f"Bearer {token}"},
                       json={"action": "export", "destination": where,
                             "purpose": "Board quarterly customer metrics review"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _flash(html: str) -> str:
    found = re.search(r'class="flash[^"]*"[^>]*>(.*?)</', html, re.S)
    return found.group(1).strip() if found else ""


def test_console_and_api_answer_the_same_status_for_the_same_error(app_and_tokens, tmp_path):
    """The console mapped errors by hand: deciding a request already decided (a plain
    LacunaError) was 403 in the console and 400 in the API. Both now use status_of."""
    from lacuna.errors import ConfigError
    from lacuna.identity import UserStore
    from lacuna.server.app import status_of

    app, tokens, _ = app_and_tokens
    sue = UserStore(app.state.lacuna.db).add("sue", roles=("data_steward",))  # not a steward
    api = TestClient(app)                                                    # in lacuna.yaml
    sam = {"Authorization": f"Bearer {tokens['sam']}"}
    decided = _file(api, tokens["alice"], str(tmp_path / "a.csv"))
    assert api.post(f"/api/v1/exceptions/{decided}/approve", json={},
                    headers=sam).status_code == 200
    own = _file(api, tokens["sam"], str(tmp_path / "b.csv"))
    pending = _file(api, tokens["alice"], str(tmp_path / "c.csv"))
    long_condition = {"conditions": ["x" * 501]}
    cases = [  # (what, id, API caller, API body, console caller, console form, status)
        ("self-approval", own, "sam", {}, "sam", {}, 403),
        ("unknown id", "EXC-2026-999", "sam", {}, "sam", {}, 404),
        ("already decided", decided, "sam", {}, "sam", {}, 400),
        ("a condition too long", pending, "sam", long_condition, "sam",
         {"conditions": "x" * 501}, 400),
        ("a steward outside the request's scope", pending, sue, {}, sue, {}, 403),
    ]
    for what, eid, api_user, body, console_user, form, status in cases:
        api_token = tokens.get(api_user, api_user)
        answer = api.post(f"/api/v1/exceptions/{eid}/approve", json=body,
                          headers={"Authorization": f"Bearer {api_token}"})
        console = sign_in(app, tokens.get(console_user, console_user))
        page = console.get("/console/exceptions").text
        shown = console.post(f"/console/exceptions/{eid}/decide", follow_redirects=False,
                             data={"csrf_token": csrf_of(page), "decision": "approve", **form})
        assert (answer.status_code, shown.status_code) == (status, status), what
        assert _flash(shown.text).startswith("Not done: "), what
    # a verdict the console does not know is a bad input, as the API's ConfigError is
    console = sign_in(app, tokens["sam"])
    page = console.get("/console/exceptions").text
    bad = console.post(f"/console/exceptions/{pending}/decide",
                       data={"csrf_token": csrf_of(page), "decision": "approve-all"})
    assert bad.status_code == status_of(ConfigError("x")) == 400
    # nothing above changed a request; the allowed path still decides
    store = app.state.lacuna.governor.exceptions
    assert [store.get(e).status.value for e in (own, pending, decided)] == [
        "pending", "pending", "approved"]
    page = console.get("/console/exceptions").text
    done = console.post(f"/console/exceptions/{pending}/decide", follow_redirects=False,
                        data={"csrf_token": csrf_of(page), "decision": "deny"})
    assert done.status_code == 303
    assert store.get(pending).status.value == "denied"


def test_another_analysts_exception_page_answers_as_no_exception_does(app_and_tokens,
                                                                      tmp_path):
    """Ids are sequential: the console answered another's request 403 and a free id 404, so an
    analyst could count the ids in use. Both are now the same 404 (as the API's GET), and the
    attempt on another's is on the audit trail; one's own request and an overseer's view are
    unchanged."""
    from lacuna.identity import UserStore

    app, tokens, _ = app_and_tokens
    bob = UserStore(app.state.lacuna.db).add("bob", roles=("analyst",))
    api = TestClient(app)
    theirs = _file(api, bob, str(tmp_path / "bob.csv"))
    mine = _file(api, tokens["alice"], str(tmp_path / "alice.csv"))
    free = "EXC-2026-998"
    alice = sign_in(app, tokens["alice"])
    other, none = alice.get(f"/console/exceptions/{theirs}"), alice.get(
        f"/console/exceptions/{free}")
    assert (other.status_code, none.status_code) == (404, 404)
    text = [re.sub(r'name="csrf_token" value="[^"]+"', "", r.text) for r in (other, none)]
    assert text[0] == text[1]
    assert "bob.csv" not in other.text
    refused = [r for r in app.state.lacuna.governor.audit.list(denied_only=True, limit=None)
               if "alice may see only their own requests" in r.reasoning]
    assert len(refused) == 1, "the attempt on another's request (only) is audited"
    assert refused[0].data["how"]["method"] == f"HTTP GET /console/exceptions/{theirs}"
    # the API answers alike
    for eid in (theirs, free):
        assert api.get(f"/api/v1/exceptions/{eid}", headers={
            "Authorization": f"Bearer {tokens['alice']}"}).status_code == 404
    # allowed: one's own, and every request for a steward or a compliance officer
    own = alice.get(f"/console/exceptions/{mine}")
    assert own.status_code == 200
    assert "alice.csv" in own.text
    for overseer in ("sam", "carol"):
        page = sign_in(app, tokens[overseer]).get(f"/console/exceptions/{theirs}")
        assert page.status_code == 200
        assert "bob.csv" in page.text


def test_citing_anothers_exception_id_allows_nothing(app_and_tokens, tmp_path):
    """A grant covers its requester, action and destination: bob, citing alice's approved
    exception for alice's own destination, is still denied; alice is allowed."""
    from lacuna.identity import UserStore

    app, tokens, _ = app_and_tokens
    bob = UserStore(app.state.lacuna.db).add("bob", roles=("analyst",))
    api = TestClient(app)
    target = str(tmp_path / "board.csv")
    eid = _file(api, tokens["alice"], target)
    assert api.post(f"/api/v1/exceptions/{eid}/approve", json={},
                    headers={"Authorization": f"Bearer {tokens['sam']}"}).status_code == 200

    def decide(token: str) -> bool:
        answer = api.post("/api/v1/decide", headers={"Authorization": f"Bearer {token}"}, json={
            "operation": {"action": "export", "destination": target, "exception_id": eid,
                          "classification": {"tier": "PROPRIETARY"}}})
        assert answer.status_code == 200, answer.text
        return answer.json()["decision"]

    theirs = decide(bob)
    assert theirs["allowed"] is False
    assert f"exception {eid} was granted to alice, not bob" in theirs["why"]
    assert decide(tokens["alice"])["allowed"] is True
