"""One name, one person: names that differ only by case, spacing, invisible characters or
Unicode compatibility forms (``JANE``, ``jane ``, ``ｊａｎｅ``) are one identity everywhere
(authority, visibility, coverage, requester checks), and two *accounts* that would be one
identity are refused where they meet (``lacuna users add``, an OIDC token beside a local user
or a configured steward)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lacuna.config import StewardsConfig
from lacuna.errors import ConfigError
from lacuna.exceptions import ExceptionNotAuthorized, ExceptionRequest
from lacuna.exceptions.authority import authorize, same_identity
from lacuna.identity import UserStore

# Spellings of "jane" a reader takes for jane: case, spaces (an ideographic one too),
# fullwidth letters (NFKC), a zero-width space, a soft hyphen.
JANE_VARIANTS = ("JANE", "Jane", "jane ", " jane", "jane\u3000", "ｊａｎｅ", "ＪＡＮＥ",
                 "ja\u200bne", "ja\u00adne")
PURPOSE = "Board of Directors quarterly customer metrics presentation"


def test_one_canonical_form() -> None:
    from lacuna.identity import canonical_name

    for variant in JANE_VARIANTS:
        assert canonical_name(variant) == "jane", variant
        assert same_identity(variant, "jane"), variant
    assert canonical_name("Jane  Doe") == canonical_name("jane doe") == "jane doe"
    assert canonical_name("Straße") == canonical_name("STRASSE")
    for other in ("jane2", "j.ane", "joan", "jane@example.com"):
        assert not same_identity(other, "jane"), other
    assert not same_identity("", "")
    assert not same_identity(" ", "\u200b")


def test_a_local_user_named_as_another_in_other_case_is_refused(tmp_path: Path) -> None:
    users = UserStore(f"sqlite:///{tmp_path / 's.db'}")
    try:
        jane = users.add("jane", roles=["data_steward"])
        for name, replace in (("JANE", False), ("Jane", True)):
            with pytest.raises(ConfigError, match=r"user name '(JANE|Jane)' is the same person "
                               r"as the existing user 'jane'.*Use 'jane'"):
                users.add(name, roles=["analyst"], replace=replace)
        assert [(p.name, p.roles) for p, _ in users.list()] == [("jane", ("data_steward",))]
        assert users.authenticate(jane).name == "jane"  # untouched
        assert users.has_user("JANE")
        again = users.add("jane", roles=["analyst"], replace=True)  # the same name: fine
        assert users.authenticate(again).roles == ("analyst",)
        assert users.add("janet", roles=["analyst"])  # another name: fine
    finally:
        users.close()


def test_a_user_is_added_while_the_server_commits(tmp_path: Path, monkeypatch) -> None:
    """``lacuna users add`` reads the namesakes, then writes the row: begun DEFERRED, a commit
    of the running server in between (its group commit, its decision log) failed it at once
    with "database is locked". It takes the write lock first now
    (``lacuna.audit.schema.writing``): the server's write waits its turn, both land."""
    from lacuna.identity import users as users_module
    from sqlite_meanwhile import CommitMeanwhile

    db = tmp_path / "s.db"
    users = UserStore(f"sqlite:///{db}")
    meanwhile = CommitMeanwhile(db)
    namesakes = users_module._namesakes

    def read_then_commit(conn: Any, name: str) -> list[str]:
        found = namesakes(conn, name)  # the read; the server commits before the write
        meanwhile()
        return found

    monkeypatch.setattr(users_module, "_namesakes", read_then_commit)
    try:
        token = users.add("jane", roles=["data_steward"])
        assert meanwhile.landed()
        assert users.authenticate(token).name == "jane"
    finally:
        users.close()


def _request(requested_by: str) -> ExceptionRequest:
    return ExceptionRequest(
        id="EXC-2026-900", requested_by=requested_by, requester_role="data_steward",
        action="export", destination="/tmp/out.csv", sources=(), tier="PROPRIETARY", tags=(),
        purpose=PURPOSE, business_justification="", approver="", duration_hours=1.0,
        conditions=(), created_at=datetime.now(UTC))


@pytest.mark.parametrize("variant", JANE_VARIANTS)
def test_self_approval_is_refused_under_every_spelling(variant: str) -> None:
    """jane (a steward) files; any spelling of her approves: refused. And the other way: a
    request filed as a spelling of jane (a claimed local user.id) is not hers to approve."""
    stewards = StewardsConfig(default=("jane", "joe"))
    for requester, approver in ((variant, "jane"), ("jane", variant)):
        with pytest.raises(ExceptionNotAuthorized, match="cannot approve it"):
            authorize(_request(requester), approver, stewards, approve=True)
        assert authorize(_request(requester), approver, stewards, approve=False) == "requester"
    assert authorize(_request(variant), "joe", stewards, approve=True) == "data_steward"


def _file(c: Any, headers: dict[str, str], name: str) -> dict[str, Any]:
    r = c.client.post("/api/v1/exceptions", headers=headers, json={
        "destination": str(c.root / "Downloads" / name), "purpose": PURPOSE})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _refusals(c: Any, code: int) -> int:
    return sum(1 for r in c.state.governor.audit.list(limit=None)
               if r.policy_id == f"lacuna.server.http_{code}")


@pytest.mark.parametrize("name", [*JANE_VARIANTS, "Ana", "ANA ", "ａｎａ"])
def test_a_bearer_token_naming_a_local_user_in_another_spelling_is_refused(
        idp_client: Any, name: str) -> None:
    """An analyst at the identity provider named ``JANE`` would deny as the steward jane; one
    named ``Ana`` would withdraw ana's grant. 401, audited, nothing decided."""
    c = idp_client
    filed = _file(c, c.headers("ana"), "one-person.csv")
    approved = _file(c, c.headers("ana"), "one-person-approved.csv")
    assert c.client.post(f"/api/v1/exceptions/{approved['id']}/approve", json={},
                         headers=c.headers("jane")).status_code == 200
    before = _refusals(c, 401)
    bearer = c.jwt(name, "analyst", "data_steward")
    for eid in (filed["id"], approved["id"]):
        r = c.client.post(f"/api/v1/exceptions/{eid}/deny", json={"comment": "no"},
                          headers=bearer)
        assert r.status_code == 401, r.text
        assert "also a local Lacuna user" in r.json()["detail"]
    assert c.client.post(f"/api/v1/exceptions/{filed['id']}/approve", json={},
                         headers=bearer).status_code == 401
    assert _refusals(c, 401) == before + 3
    statuses = {eid: c.state.governor.exceptions.get(eid).status.value
                for eid in (filed["id"], approved["id"])}
    assert statuses == {filed["id"]: "pending", approved["id"]: "approved"}


def test_a_bearer_token_naming_a_configured_steward_spelt_otherwise_is_refused(
        idp_client: Any) -> None:
    """kim is a steward in lacuna.yaml with no local user: she signs in through the identity
    provider as ``kim``. ``KIM`` or ``ｋｉｍ`` there would approve as kim: refused (401,
    audited); ``kim`` herself decides."""
    c = idp_client
    filed = _file(c, c.headers("ana"), "kim.csv")
    before = _refusals(c, 401)
    for name in ("KIM", "Kim ", "ｋｉｍ"):
        r = c.client.post(f"/api/v1/exceptions/{filed['id']}/approve", json={},
                          headers=c.jwt(name, "data_steward"))
        assert r.status_code == 401, r.text
        assert "the configured steward 'kim' spelt otherwise" in r.json()["detail"]
    assert _refusals(c, 401) == before + 3
    assert c.state.governor.exceptions.get(filed["id"]).status.value == "pending"
    r = c.client.post(f"/api/v1/exceptions/{filed['id']}/approve", json={},
                      headers=c.jwt("kim", "data_steward"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decided_by"]) == ("approved", "kim")
    # a name no steward or local user has is anyone's to use
    assert c.client.get("/api/v1/exceptions", headers=c.jwt("Quinn", "analyst")
                        ).status_code == 200


def test_one_person_whatever_the_spelling_sees_and_is_covered_by_their_request(
        idp_client: Any) -> None:
    """lee (no local user) files as ``Lee``; the same person's token says ``LEE`` or ``lee ``
    another day: their request is theirs to see, list and withdraw, and their grant covers
    them, as the exception workflow's same_identity always said."""
    c = idp_client
    lee = c.jwt("Lee", "analyst")
    filed = _file(c, lee, "lee.csv")
    assert filed["requested_by"] == "Lee"
    upper = c.jwt("LEE", "analyst")
    r = c.client.get(f"/api/v1/exceptions/{filed['id']}", headers=upper)
    assert r.status_code == 200, r.text
    listed = c.client.get("/api/v1/exceptions", headers=c.jwt("ｌｅｅ", "analyst")).json()
    assert [e["id"] for e in listed["exceptions"]] == [filed["id"]]
    assert c.client.post(f"/api/v1/exceptions/{filed['id']}/approve", json={},
                         headers=c.headers("jane")).status_code == 200
    op = {"action": "export", "classification": {"tier": "PROPRIETARY", "tags": ["PII"]},
          "destination": str(c.root / "Downloads" / "lee.csv"), "exception_id": filed["id"]}
    decided = c.client.post("/api/v1/decide", json={"operation": op},
                            headers=c.jwt("lee ", "analyst")).json()["decision"]
    assert decided["allowed"] is True, decided
    # another person is still another person: not covered, and not theirs to see
    other = c.client.post("/api/v1/decide", json={"operation": op},
                          headers=c.jwt("Leo", "analyst")).json()["decision"]
    assert other["allowed"] is False
    assert c.client.get(f"/api/v1/exceptions/{filed['id']}",
                        headers=c.jwt("Leo", "analyst")).status_code == 404
    r = c.client.post(f"/api/v1/exceptions/{filed['id']}/deny", json={"comment": "done"},
                      headers=upper)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    assert r.json()["history"][-1]["by"] == "LEE"
    assert c.state.governor.exceptions.get(filed["id"]).status.value == "revoked"


def test_an_api_token_made_before_the_prefix_signs_in_with_oidc_configured(
        idp_client, monkeypatch) -> None:
    """With an OIDC issuer configured, an API token without the ``lac_`` prefix (made before
    it) is its user's, as without OIDC: on the API, as a console bearer and at the console's
    sign-in (a token session). Before, it was taken for a JWT and refused (401); a string
    no users row holds is still the issuer's to judge (401 here)."""
    import re

    from fastapi.testclient import TestClient

    from lacuna.identity import users as users_module
    from lacuna.server.outer import serving

    monkeypatch.setattr(users_module, "new_token", lambda: "legacy-abcdefabcdef0123456789")
    legacy = idp_client.state.users.add("old-timer", roles=("data_steward",))
    monkeypatch.undo()
    bearer = {"Authorization": f"Bearer {legacy}"}
    assert idp_client.client.get("/api/v1/exceptions", headers=bearer).status_code == 200
    assert idp_client.client.get("/console/audit", headers=bearer).status_code == 200
    browser = TestClient(serving(idp_client.app))
    form = browser.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = browser.post("/console/login", data={"csrf_token": csrf.group(1),
                                                  "token": legacy}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    assert browser.get("/console/audit").status_code == 200
    assert idp_client.client.get("/api/v1/exceptions", headers={
        "Authorization": "Bearer legacy-not-issued"}).status_code == 401
