"""The console's pages in-process (the real app, SQLite state, real sessions): fast checks of
authentication, roles, CSRF, filters and rendering that the browser tests do not repeat."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from fastapi.testclient import TestClient

from lacuna.server.console.session import COOKIE, SessionCodec


@pytest.fixture
def app_and_tokens(tmp_path, monkeypatch):
    from lacuna.identity import UserStore
    from lacuna.server.app import create_app
    from lacuna.server.settings import load_settings

    monkeypatch.setenv("LACUNA_SIGNING_KEY", "cd" * 32)
    db = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "lacuna.yaml"
    config.write_text(f"stewards:\n  default: [sam]\naudit:\n  url: {db!r}\n", encoding="utf-8")
    users = UserStore(db)
    tokens = {"alice": users.add("alice", roles=("analyst",)),
              "sam": users.add("sam", roles=("data_steward",)),
              "carol": users.add("carol", roles=("compliance_officer",))}
    app = create_app(load_settings(None, environ={}, db=db, config=str(config)))
    yield app, tokens, users
    users.close()


def sign_in(app, token: str) -> TestClient:
    client = TestClient(app)
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/console/login", data={"csrf_token": csrf, "token": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_every_console_route_checks_a_session_role_or_is_public():
    from lacuna.server.console import PUBLIC_PATHS
    from lacuna.server.console.review_routes import router as review_router
    from lacuna.server.console.routes import router

    routes = [*router.routes, *review_router.routes]  # every router install() includes
    assert len(routes) >= 14
    for route in routes:
        guarded = [d.call for d in route.dependant.dependencies
                   if getattr(d.call, "lacuna_console", False)]
        assert guarded or route.path in PUBLIC_PATHS, f"{route.path} has no role check"


def test_session_cookie_is_signed_and_expires():
    codec = SessionCodec(b"k" * 32)
    session = codec.new("sam", ("data_steward",), "token")
    cookie = codec.dump(session)
    assert codec.load(cookie) == session
    body, mac = cookie.rsplit(".", 1)
    forged = SessionCodec(b"x" * 32).dump(codec.new("sam", ("admin",), "token"))
    assert codec.load(forged) is None
    assert codec.load(body + "." + "0" * len(mac)) is None
    assert codec.load("garbage") is None
    assert codec.load(codec.dump(codec.new("sam", ("admin",), "token", lifetime_s=-1))) is None
    assert codec.csrf_ok(session, codec.csrf_token(session))
    other = codec.new("sam", ("data_steward",), "token")
    assert not codec.csrf_ok(other, codec.csrf_token(session))


def test_login_refuses_bad_tokens_and_forged_forms(app_and_tokens):
    app, tokens, _ = app_and_tokens
    client = TestClient(app)
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"csrf_token": csrf_of(form.text),
                                                 "token": "lac_not-a-token"})
    assert answer.status_code == 401
    assert "not accepted" in answer.text
    assert COOKIE not in client.cookies
    fresh = TestClient(app)  # no nonce cookie: a form posted from elsewhere
    answer = fresh.post("/console/login", data={"csrf_token": "x", "token": tokens["sam"]})
    assert answer.status_code == 403
    audit = app.state.lacuna.governor.audit.list(denied_only=True, limit=None)
    assert any("console sign-in" in r.reasoning for r in audit)
    assert all(tokens["sam"] not in r.body for r in audit)


def test_pages_need_a_session_and_the_role(app_and_tokens):
    app, tokens, _ = app_and_tokens
    anonymous = TestClient(app)
    answer = anonymous.get("/console/metrics", follow_redirects=False)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert 'name="next" value="/console/metrics"' in answer.text
    with_bearer = anonymous.get("/console/metrics",
                                headers={"Authorization": f"Bearer {tokens['carol']}"})
    assert with_bearer.status_code == 200
    assert anonymous.get("/console/metrics",
                         headers={"Authorization": "Bearer lac_nope"}).status_code == 401
    analyst = sign_in(app, tokens["alice"])
    assert analyst.get("/console/metrics").status_code == 403
    assert analyst.get("/console/lineage").status_code == 200
    officer = sign_in(app, tokens["carol"])
    page = officer.get("/console/exceptions")
    assert page.status_code == 200
    assert officer.post("/console/exceptions/EXC-2026-001/decide",
                        data={"csrf_token": csrf_of(page.text), "decision": "approve"}
                        ).status_code == 403
    assert officer.get("/console/audit").status_code == 200


def test_disabling_a_user_ends_their_session(app_and_tokens):
    app, tokens, users = app_and_tokens
    steward = sign_in(app, tokens["sam"])
    assert steward.get("/console/audit").status_code == 200
    users.disable("sam")
    assert steward.get("/console/audit", follow_redirects=False).status_code == 401


def test_audit_filters_are_validated(app_and_tokens):
    app, tokens, _ = app_and_tokens
    officer = sign_in(app, tokens["carol"])
    answer = officer.get("/console/audit", params={"since": "last tuesday"})
    assert answer.status_code == 400
    assert "since must be a date or time" in answer.text
    answer = officer.get("/console/audit", params={"decision": "maybe"})
    assert answer.status_code == 400
    assert "decision must be" in answer.text


def test_lineage_of_an_unknown_dataset_says_so(app_and_tokens):
    app, tokens, _ = app_and_tokens
    analyst = sign_in(app, tokens["alice"])
    answer = analyst.get("/console/lineage", params={"dataset": "/nowhere/at/all.csv"})
    assert answer.status_code == 404
    assert "No lineage is recorded for /nowhere/at/all.csv" in answer.text
    # Read as the API reads it: a relative path or ~ named the server's own folders, and a
    # URL Python cannot split was a 500
    for text in ("~", "data/x.csv", "postgresql://db:abc/crm", "s3://[::1/x.csv"):
        answer = analyst.get("/console/lineage", params={"dataset": text})
        assert answer.status_code == 400, (text, answer.text[:300])
        assert "Dataset not read" in answer.text
        assert "No lineage is recorded" not in answer.text
        assert os.path.expanduser("~") not in answer.text


def test_pages_escape_what_they_show(app_and_tokens):
    from lacuna.server.console import charts

    svg = charts.horizontal_bars("t", [("<script>alert(1)</script>", 3.0)])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    app, tokens, _ = app_and_tokens
    officer = sign_in(app, tokens["carol"])
    answer = officer.get("/console/audit", params={"user": '"><script>x</script>'})
    assert answer.status_code == 200
    assert "<script>x</script>" not in answer.text
    assert "script-src 'none'" in answer.headers["content-security-policy"]


def test_policies_page_runs_the_bundle_tests_once_per_revision(app_and_tokens):
    app, tokens, _ = app_and_tokens
    steward = sign_in(app, tokens["sam"])
    first = steward.get("/console/policies").text
    ran = re.search(r"last run ([\d-]+ [\d:]+) UTC", first).group(1)
    assert re.search(r"\d+ passed, 0 failed", first)
    time.sleep(1.1)
    assert ran in steward.get("/console/policies").text  # the kept result, not a new run
    page = steward.get("/console/policies").text
    steward.post("/console/policies/test", data={"csrf_token": csrf_of(page)})
    assert ran not in steward.get("/console/policies").text


def test_lineage_graph_lays_out_upstream_and_downstream(tmp_path, monkeypatch):
    from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Classification, ColumnClass, ColumnKind, Tier
    from lacuna.server.console import lineage_view

    store = LineageStore(f"sqlite:///{tmp_path / 'state.db'}")
    refs = [DatasetRef("file", f"/data/step{i}.csv") for i in range(4)]
    pii = Classification(tier=Tier.PROPRIETARY, tags=("PII",),
                         columns={"email": ColumnClass(classification=ColumnKind.PII,
                                                       pii_type="email")})
    for i in range(3):
        store.record(Run(id=f"run-{i}", operation="export", status=RunStatus.SUCCEEDED,
                         inputs=(DatasetVersion(dataset=refs[i], classification=pii),),
                         outputs=(DatasetVersion(dataset=refs[i + 1], classification=pii),)))
    view = lineage_view.build(store, refs[1])
    assert [(n.label, n.hops) for n in view.nodes] == [
        ("step0.csv", -1), ("step1.csv", 0), ("step2.csv", 1), ("step3.csv", 2)]
    assert view.root.columns == (("email", "pii:email"),)
    assert view.svg.count('class="edge"') == 3
    assert 'class="node tier-proprietary root"' in view.svg
    monkeypatch.setattr(lineage_view, "MAX_NODES", 3)
    capped = lineage_view.build(store, refs[1])
    assert capped.hidden == 1
    assert "step3.csv" not in capped.svg
    assert lineage_view.ref_of("file|/data/step1.csv") == refs[1]
    store.close()


def test_a_steward_approves_then_revokes_in_the_console(app_and_tokens, tmp_path):
    import lacuna
    from lacuna.config import config_from_dict

    app, tokens, _ = app_and_tokens
    db = app.state.lacuna.db
    lacuna.enable(config_from_dict({"user": {"id": "alice", "role": "data_analyst"},
                                    "stewards": {"default": ["sam"]}, "audit": {"url": db}}))
    request = lacuna.request_exception(
        operation={"action": "export", "source": "crm/customers.csv",
                   "destination": str(tmp_path / "out.csv")},
        purpose="Quarterly churn review with the retention team", approver="sam")
    steward = sign_in(app, tokens["sam"])
    page = steward.get("/console/exceptions").text
    assert f"Approve {request.id}" in page
    answer = steward.post(f"/console/exceptions/{request.id}/decide",
                          data={"csrf_token": csrf_of(page), "decision": "approve",
                                "conditions": "Encrypt the file\nDelete it after use"},
                          follow_redirects=False)
    assert answer.status_code == 303
    stored = app.state.lacuna.governor.exceptions.get(request.id)
    assert stored.status.value == "approved"
    assert stored.decided_by == "sam"
    assert stored.approval_conditions == ("Encrypt the file", "Delete it after use")
    assert "Delete it after use" in steward.get(f"/console/exceptions/{request.id}").text
    page = steward.get("/console/exceptions", params={"status": "approved"}).text
    assert f"Revoke {request.id}" in page
    steward.post(f"/console/exceptions/{request.id}/decide",
                 data={"csrf_token": csrf_of(page), "decision": "revoke",
                       "comment": "The meeting was cancelled"})
    assert app.state.lacuna.governor.exceptions.get(request.id).status.value == "revoked"
    history = steward.get(f"/console/exceptions/{request.id}").text
    for step in ("requested", "approved", "revoked"):
        assert f"<strong>{step}</strong>" in history
    events = [r.data["what"].get("event") for r in
              app.state.lacuna.governor.audit.list(limit=None) if r.action == "exception"]
    assert {"requested", "approved", "revoked"} <= set(events)


def test_sign_out_after_a_role_change_ends_the_session(app_and_tokens):
    """Roles changed under a live session apply at once, and it stays the same server-side
    session: signing out still ends it for every copy of the cookie (the refreshed session used
    to lose its id, so sign-out ended nothing and a copied cookie kept working)."""
    from sqlalchemy import select, update

    from lacuna.identity import user_payload, users_table

    app, tokens, users = app_and_tokens
    steward = sign_in(app, tokens["sam"])
    copied = steward.cookies.get(COOKIE)
    with users._engine.begin() as conn:  # a role change that keeps the token, signed (by
        # Lacuna's key: an unsigned edit ends the session, tests/server/test_identity_rows_signed)
        # for this database, and issued on its trail (else it is refused: docs/server.md)
        row = conn.execute(select(users_table).where(users_table.c.name == "sam")).one()
        roles = '["data_steward", "compliance_officer"]'
        payload = {**user_payload(row, users._rows.database_id()), "roles": roles}
        conn.execute(update(users_table).where(users_table.c.name == "sam")
                     .values(roles=roles, signature=users.keyring.sign(payload)))
    users._trail.record_issue("sam", "replaced", row.created_at, json.loads(roles), None)
    page = steward.get("/console/exceptions")
    assert page.status_code == 200
    assert "compliance_officer" in page.text
    assert steward.post("/console/logout", data={"csrf_token": csrf_of(page.text)},
                        follow_redirects=False).status_code == 303
    thief = TestClient(app)
    thief.cookies.set(COOKIE, copied, path="/console")
    assert thief.get("/console/audit", follow_redirects=False).status_code == 401


def test_signing_in_ends_the_session_the_browser_had(app_and_tokens):
    """A shared computer: the next person signs in over the last one's session. That session
    ends on the server, so a copy of its cookie stops working too (it used to stay live until
    it expired, eight hours later)."""
    app, tokens, _ = app_and_tokens
    browser = sign_in(app, tokens["sam"])
    sams = browser.cookies.get(COOKIE)
    form = browser.get("/console/login").text
    answer = browser.post("/console/login", data={"csrf_token": csrf_of(form),
                                                  "token": tokens["alice"]},
                          follow_redirects=False)
    assert answer.status_code == 303
    assert "analyst" in browser.get("/console/exceptions").text
    copy = TestClient(app)
    copy.cookies.set(COOKIE, sams, path="/console")
    assert copy.get("/console/audit", follow_redirects=False).status_code == 401


def test_a_decision_with_an_oversized_comment_is_refused_and_changes_nothing(
        app_and_tokens, tmp_path):
    import lacuna
    from lacuna.config import config_from_dict
    from lacuna.exceptions.authority import MAX_CONDITION_CHARS, MAX_CONDITIONS, TEXT_LIMITS

    app, tokens, _ = app_and_tokens
    lacuna.enable(config_from_dict({"user": {"id": "alice", "role": "data_analyst"},
                                    "stewards": {"default": ["sam"]},
                                    "audit": {"url": app.state.lacuna.db}}))
    request = lacuna.request_exception(
        operation={"action": "export", "source": "crm/customers.csv",
                   "destination": str(tmp_path / "out.csv")},
        purpose="Quarterly churn review with the retention team", approver="sam")
    steward = sign_in(app, tokens["sam"])
    for field, value in (("comment", "x" * (TEXT_LIMITS["comment"] + 1)),
                         ("conditions", "y" * (MAX_CONDITION_CHARS + 1)),
                         ("conditions", "\n".join(f"c{i}" for i in range(MAX_CONDITIONS + 1)))):
        page = steward.get("/console/exceptions").text
        answer = steward.post(f"/console/exceptions/{request.id}/decide",
                              data={"csrf_token": csrf_of(page), "decision": "approve",
                                    field: value}, follow_redirects=False)
        assert answer.status_code == 400, field
        assert "at most" in answer.text
        assert app.state.lacuna.governor.exceptions.get(request.id).status.value == "pending"
    page = steward.get("/console/exceptions").text
    fits = steward.post(f"/console/exceptions/{request.id}/decide",
                        data={"csrf_token": csrf_of(page), "decision": "approve",
                              "comment": "x" * TEXT_LIMITS["comment"]}, follow_redirects=False)
    assert fits.status_code == 303
    assert app.state.lacuna.governor.exceptions.get(request.id).status.value == "approved"


def test_replacing_a_token_ends_the_sessions_signed_in_with_it(app_and_tokens):
    """``lacuna users add NAME --replace`` (a leaked token rotated): the console sessions
    started with the old token end too, not only the token."""
    app, tokens, users = app_and_tokens
    analyst = sign_in(app, tokens["alice"])
    assert analyst.get("/console/exceptions").status_code == 200
    new = users.add("alice", roles=("analyst",), replace=True)
    assert analyst.get("/console/exceptions", follow_redirects=False).status_code == 401
    assert sign_in(app, new).get("/console/exceptions").status_code == 200


def test_pages_cannot_be_framed(app_and_tokens):
    """Clickjacking an approve button: no framing, also for browsers that read only
    X-Frame-Options."""
    app, tokens, _ = app_and_tokens
    steward = sign_in(app, tokens["sam"])
    for path in ("/console/exceptions", "/console/login", "/console/audit"):
        answer = steward.get(path)
        assert answer.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert TestClient(app).get("/console/login").headers["x-frame-options"] == "DENY"


def test_the_done_notice_repeats_only_an_exception_id(app_and_tokens):
    """The 'done' notice is built from the query string, which anyone's link can write: only
    an exception id is repeated in it, not a stranger's text on the console's own page."""
    app, tokens, _ = app_and_tokens
    steward = sign_in(app, tokens["sam"])
    spoof = "EXC-2026-001 and all pending requests were approved by the CISO; call 555-0100"
    page = steward.get("/console/exceptions", params={"done": "approve", "id": spoof}).text
    assert "555-0100" not in page
    page = steward.get("/console/exceptions", params={"done": "deny", "id": "EXC-2026-007"})
    assert "EXC-2026-007 denied." in page.text


def test_what_producers_write_is_shown_as_text(app_and_tokens, tmp_path):
    """A malicious producer's names (OpenLineage namespace, dataset, column and tag names, an
    exception's purpose and conditions) reach the stewards' pages escaped: no markup, no
    script URL in an href, on the exception queue and detail, the lineage page and graph."""
    import uuid
    from urllib.parse import quote

    app, tokens, _ = app_and_tokens
    api = TestClient(app)
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    x = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    created = api.post("/api/v1/exceptions", headers=alice, json={
        "action": "export", "destination": str(tmp_path / "out.csv"),
        "purpose": "Board review " + x, "business_justification": x, "conditions": [x]})
    assert created.status_code == 201, created.text
    run = str(uuid.uuid4())
    for kind in ("START", "COMPLETE"):
        answer = api.post("/api/v1/lineage", headers=alice, json={
            "eventType": kind, "eventTime": "2026-01-01T00:00:00Z", "producer": x,
            "run": {"runId": run}, "job": {"namespace": x, "name": x},
            "inputs": [{"namespace": "file", "name": "/data/in" + x, "facets": {
                "schema": {"fields": [{"name": "email" + x, "type": "string"}]}}}],
            "outputs": [{"namespace": "javascript:alert(1)//", "name": x, "facets": {
                "schema": {"fields": [{"name": x, "type": "string"}]},
                "tags": {"tags": [{"key": x, "value": x}]}}}]})
        assert answer.status_code == 201, answer.text
    steward = sign_in(app, tokens["sam"])
    pages = ["/console/exceptions", f"/console/exceptions/{created.json()['id']}",
             "/console/lineage", "/console/lineage?dataset=" + quote("file|/data/in" + x),
             "/console/lineage?dataset=" + quote("javascript:alert(1)//|" + x)]
    for path in pages:
        html = steward.get(path).text
        assert "alert(1)" in html, path  # shown ...
        assert "<script>" not in html, path  # ... as text
        assert "<img src=x" not in html, path
        assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", html, re.I), path


def test_forms_posted_from_another_site_are_refused(app_and_tokens):
    """Login CSRF through a sibling subdomain: it can plant the sign-in nonce cookie (cookie
    tossing; SameSite does not stop a same-site post), and the attacker gets a matching
    nonce and token by opening the sign-in page. Signing the victim in as the attacker then
    only needed the nonce; now a form the browser marks as posted from another site is
    refused, the sign-in form and the session's forms alike."""
    from lacuna.server.console.web import NONCE_COOKIE

    app, tokens, _ = app_and_tokens
    attacker = TestClient(app)
    form = attacker.get("/console/login")
    nonce, csrf = attacker.cookies.get(NONCE_COOKIE), csrf_of(form.text)
    victim = TestClient(app)
    victim.cookies.set(NONCE_COOKIE, nonce, path="/console")  # tossed from the sibling site
    answer = victim.post("/console/login", data={"csrf_token": csrf, "token": tokens["alice"]},
                         headers={"Sec-Fetch-Site": "same-site"}, follow_redirects=False)
    assert answer.status_code == 403
    assert COOKIE not in victim.cookies
    same_origin = victim.post("/console/login", data={"csrf_token": csrf, "token": tokens["sam"]},
                              headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert same_origin.status_code == 303  # the console's own form still signs in
    page = victim.get("/console/policies").text
    for site in ("cross-site", "same-site"):
        refused = victim.post("/console/policies/test", data={"csrf_token": csrf_of(page)},
                              headers={"Sec-Fetch-Site": site}, follow_redirects=False)
        assert refused.status_code == 403, site
    assert victim.post("/console/policies/test", data={"csrf_token": csrf_of(page)},
                       follow_redirects=False).status_code == 303


def test_an_analyst_sees_only_their_own_uses_in_their_exception_history(app_and_tokens,
                                                                        tmp_path):
    """Exception ids are sequential and any caller may cite one: another analyst's decision
    that cited alice's exception (its user, destination and audit number) is not shown on
    alice's history page; stewards and compliance officers, who read the audit trail, still
    see every use."""
    from lacuna.identity import UserStore

    app, tokens, _ = app_and_tokens
    bob = UserStore(app.state.lacuna.db).add("bob", roles=("analyst",))
    api = TestClient(app)
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    created = api.post("/api/v1/exceptions", headers=alice, json={
        "action": "export", "destination": str(tmp_path / "board.csv"),
        "purpose": "Board quarterly customer metrics review"})
    eid = created.json()["id"]
    assert api.post(f"/api/v1/exceptions/{eid}/approve", json={},
                    headers={"Authorization": f"Bearer {tokens['sam']}"}).status_code == 200
    private = str(tmp_path / "bobs-merger-target-list.csv")
    assert api.post("/api/v1/decide", headers={"Authorization": f"Bearer {bob}"}, json={
        "operation": {"action": "export", "destination": private, "exception_id": eid,
                      "classification": {"tier": "PROPRIETARY"}}}).status_code == 200
    mine = sign_in(app, tokens["alice"]).get(f"/console/exceptions/{eid}").text
    assert "approved" in mine
    assert "merger-target" not in mine
    assert "by bob" not in mine
    for overseer in ("sam", "carol"):
        assert "merger-target" in sign_in(app, tokens[overseer]).get(
            f"/console/exceptions/{eid}").text


def test_non_ascii_cookies_and_tokens_are_refused_not_crashed(app_and_tokens):
    """hmac.compare_digest raises on a non-ASCII str: an anonymous caller's cookie or form
    token with one was a 500 (a traceback per request); now the usual 401/403."""
    app, tokens, _ = app_and_tokens
    anonymous = TestClient(app, raise_server_exceptions=False)
    answer = anonymous.get("/console/exceptions", follow_redirects=False,
                           headers={"cookie": COOKIE.encode() + b"=abc.\xe9\xe9"})
    assert answer.status_code == 401
    anonymous.get("/console/login")
    assert anonymous.post("/console/login", data={"csrf_token": "\u00e9", "token": "x"}
                          ).status_code == 403
    steward = sign_in(app, tokens["sam"])
    steward.get("/console/policies")
    assert steward.post("/console/policies/test", data={"csrf_token": "\u00e9"},
                        follow_redirects=False).status_code == 403


def test_an_oidc_session_ends_when_its_token_does(tmp_path, monkeypatch):
    """A console session signed in with an OIDC token lasted 8 hours whatever the token's
    ``exp``, with the roles the token had: a user the identity provider disabled, or whose
    roles it took away, kept the console for the rest of the day. The session now ends when
    the token does."""
    import base64
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lacuna.server.app import create_app
    from lacuna.server.settings import load_settings

    monkeypatch.setenv("LACUNA_SIGNING_KEY", "cd" * 32)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "lacuna.yaml"
    config.write_text(f"audit:\n  url: {db!r}\n", encoding="utf-8")
    app = create_app(load_settings(None, environ={}, db=db, config=str(config), oidc={
        "issuer": "https://idp.example.com/", "audience": "lacuna",
        "jwks_file": str(tmp_path / "jwks.json")}))

    def token(exp_in: int) -> str:
        now = int(time.time())
        return jwt.encode({"iss": "https://idp.example.com/", "aud": "lacuna", "iat": now,
                           "exp": now + exp_in, "sub": "sam@example.com",
                           "roles": ["data_steward"]}, key, algorithm="RS256",
                          headers={"kid": "k1"})

    steward = sign_in(app, token(120))
    assert steward.get("/console/audit").status_code == 200
    data = steward.cookies.get(COOKIE).rsplit(".", 1)[0]
    claims = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    assert claims["e"] <= time.time() + 120  # the cookie's own expiry, not 8 hours
    # A token past its exp but inside the issuer's clock leeway (30 s) is still accepted:
    # its session is over at once.
    late = sign_in(app, token(-10))
    assert late.get("/console/audit", follow_redirects=False).status_code == 401
    # A local user given the same name since (sign-in refuses that): the session ends too,
    # or two people would be one identity until the token expires.
    users = app.state.lacuna.users
    users.add("Sam@example.com", roles=("analyst",))
    answer = steward.get("/console/audit", follow_redirects=False)
    assert answer.status_code == 401
    refused = app.state.lacuna.governor.audit.list(denied_only=True, limit=5)
    assert any("a local Lacuna user now has that name" in r.reasoning for r in refused)


def test_not_found_pages_repeat_neither_the_address_nor_the_store(app_and_tokens):
    """An id in the address is anyone's to write: a link to a made-up exception or decision
    showed its text as the console's message ("no exception 'Your session has expired. Call
    the helpdesk at …'") and, for a decision, where the audit trail is kept (its path) to any
    signed-in analyst. The 404 pages now say it in the console's own words."""
    from urllib.parse import quote

    app, tokens, _ = app_and_tokens
    analyst = sign_in(app, tokens["alice"])
    steward = sign_in(app, tokens["sam"])
    spoof = "Your session has expired. Call the helpdesk on 555-0100"
    where = app.state.lacuna.governor.audit.where
    page = steward.get("/console/review").text
    for client, method, path in ((analyst, "get", "/console/exceptions/"),
                                 (analyst, "get", "/console/feedback/"),
                                 (steward, "post", "/console/review/")):
        data = {"csrf_token": csrf_of(page), "verdict": "accept"} if method == "post" else None
        answer = client.request(method, path + quote(spoof), data=data)
        assert answer.status_code == 404, path
        assert "555-0100" not in answer.text, path
        assert where not in answer.text, path


def test_over_https_a_sibling_site_cannot_plant_a_session(app_and_tokens):
    """Cookie tossing: a sibling subdomain sets cookies for the parent domain, and the console
    read any cookie named lacuna_console. An attacker signed in with their own token, planted
    that cookie in a steward's browser and the steward used the console as the attacker (what
    the sign-in form's CSRF checks prevent). Over HTTPS the console's cookies are now
    ``__Host-`` cookies, which a browser accepts only from the console's own host; a plain
    lacuna_console cookie is not read there."""
    app, tokens, _ = app_and_tokens
    https = TestClient(app, base_url="https://console.example.com")
    form = https.get("/console/login")
    assert "__Host-lacuna_console_login=" in form.headers["set-cookie"]
    answer = https.post("/console/login", data={"csrf_token": csrf_of(form.text),
                                                 "token": tokens["sam"]},
                        follow_redirects=False)
    assert answer.status_code == 303
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"__Host-{COOKIE}="))
    assert {"Secure", "HttpOnly", "Path=/", "SameSite=strict"} <= {
        part.strip() for part in session.split(";")}
    assert "Domain" not in session
    assert any(c.startswith("__Host-lacuna_console_login=") and "Max-Age=0" in c
               for c in cookies)  # the nonce, dropped with the flags it was set with
    assert https.get("/console/audit").status_code == 200
    attackers = sign_in(app, tokens["alice"]).cookies.get(COOKIE)
    victim = TestClient(app, base_url="https://console.example.com")
    victim.cookies.set(COOKIE, attackers, domain="console.example.com", path="/console")
    assert victim.get("/console/exceptions", follow_redirects=False).status_code == 401


def test_audit_page_reports_the_identity_rows(app_and_tokens):
    """The audit page says what ``lacuna audit verify`` says of the user rows beside the
    chain: verified, then a role edited in the users table named with its remedy."""
    from sqlalchemy import update

    from lacuna.identity._rows import users_table

    app, tokens, users = app_and_tokens
    officer = sign_in(app, tokens["carol"])
    page = officer.get("/console/audit").text
    assert "Identity rows verified: 3 users" in page
    with users._engine.begin() as conn:  # an attacker with the database file: alice is admin
        conn.execute(update(users_table).where(users_table.c.name == "alice")
                     .values(roles='["admin"]'))
    page = officer.get("/console/audit").text
    assert "Identity rows NOT verified" in page
    assert "alice" in page.split("Identity rows NOT verified", 1)[1].split("</ul>", 1)[0]


def _file(store, n: int, *, by: str = "alice", status=None, valid_until=None) -> list[str]:
    """``n`` requests filed straight into the store (signed, as lacuna.request_exception files
    them, without a decision each): their ids, oldest first."""
    from datetime import UTC, datetime

    from lacuna.exceptions import ExceptionRequest, Status

    ids = []
    for i in range(n):
        request = ExceptionRequest(
            id="", requested_by=by, requester_role="analyst", action="export",
            destination=f"/tmp/out-{i}.csv", sources=("crm/customers.csv",),
            tier="PROPRIETARY", tags=("PII",), purpose=f"Churn review number {i}",
            business_justification="", approver="sam", duration_hours=24.0, conditions=(),
            created_at=datetime.now(UTC), status=status or Status.PENDING,
            valid_until=valid_until)
        ids.append(store.add(request).id)
    return ids


def _shown(html: str) -> list[str]:
    return re.findall(r'<li class="card" id="(EXC-[0-9-]+)">', html)


def test_the_exceptions_page_is_bounded_and_pages_newest_first(app_and_tokens):
    """The page rendered every request in the store; it shows the newest ``limit`` (100 by
    default, at most 1,000), says older ones are left out, and links to the next page."""
    default = 100  # lacuna.server.paging.default
    app, tokens, _ = app_and_tokens
    store = app.state.lacuna.governor.exceptions
    ids = _file(store, default + 5)
    steward = sign_in(app, tokens["sam"])
    first = steward.get("/console/exceptions")
    assert first.status_code == 200
    assert _shown(first.text) == ids[::-1][:default]
    assert (f"Showing {default} pending requests, newest first; older ones "
            "are not shown: narrow the filter, or see the next page") in first.text
    oldest_shown = ids[5]
    link = (f'href="/console/exceptions?status=pending&amp;limit={default}'
            f'&amp;before={oldest_shown}"')
    assert link in first.text
    rest = steward.get("/console/exceptions", params={"before": oldest_shown})
    assert _shown(rest.text) == ids[4::-1]
    assert "Older requests" not in rest.text
    assert f"filed before {oldest_shown}" in rest.text
    # smaller pages walk the whole queue once, in order
    seen, before = [], ""
    while True:
        page = steward.get("/console/exceptions",
                           params={"status": "all", "limit": 40, "before": before}).text
        seen += _shown(page)
        found = re.search(r'before=(EXC-[0-9-]+)" ?>Older', page)
        if found is None:
            break
        before = found.group(1)
    assert seen == ids[::-1]
    big = steward.get("/console/exceptions", params={"limit": "100000"})
    assert len(_shown(big.text)) == len(ids)  # at most 1,000: all of these
    assert "Older requests" not in big.text


def test_the_exceptions_page_refuses_a_bad_page_and_shows_the_first(app_and_tokens):
    app, tokens, _ = app_and_tokens
    ids = _file(app.state.lacuna.governor.exceptions, 2)
    steward = sign_in(app, tokens["sam"])
    for params, says in (({"limit": "many"}, "limit must be a whole number from 1 to 1,000"),
                         ({"limit": "0"}, "limit must be at least 1, not 0"),
                         ({"before": "x' or 1=1"}, "before must be an exception id")):
        answer = steward.get("/console/exceptions", params=params)
        assert answer.status_code == 400, params
        assert f"Page not applied: {says}" in answer.text
        assert _shown(answer.text) == ids[::-1]


def test_the_exceptions_page_filters_each_state_across_pages(app_and_tokens):
    """An analyst pages through their own requests only; "expired" holds approvals past their
    window (stored as approved) and expired ones, "approved" the others."""
    from datetime import UTC, datetime, timedelta

    from lacuna.exceptions import Status

    app, tokens, _ = app_and_tokens
    store = app.state.lacuna.governor.exceptions
    past = datetime.now(UTC) - timedelta(hours=1)
    future = datetime.now(UTC) + timedelta(hours=5)
    mine = _file(store, 3)
    theirs = _file(store, 2, by="bob")
    lapsed = _file(store, 3, status=Status.APPROVED, valid_until=past)
    live = _file(store, 2, status=Status.APPROVED, valid_until=future)
    ended = _file(store, 1, status=Status.EXPIRED, valid_until=past)
    analyst = sign_in(app, tokens["alice"])
    first = analyst.get("/console/exceptions", params={"limit": 2}).text
    assert _shown(first) == mine[:0:-1]
    assert _shown(analyst.get("/console/exceptions",
                              params={"limit": 2, "before": mine[1]}).text) == mine[:1]
    assert not set(theirs) & set(_shown(analyst.get("/console/exceptions",
                                                    params={"status": "all"}).text))
    steward = sign_in(app, tokens["sam"])
    expired = steward.get("/console/exceptions", params={"status": "expired", "limit": 3}).text
    assert _shown(expired) == [ended[0], lapsed[2], lapsed[1]]
    more = re.search(r'before=(EXC-[0-9-]+)" ?>Older', expired).group(1)
    assert _shown(steward.get("/console/exceptions", params={
        "status": "expired", "limit": 3, "before": more}).text) == [lapsed[0]]
    approved = steward.get("/console/exceptions", params={"status": "approved"}).text
    assert _shown(approved) == live[::-1]


def test_the_review_queue_shows_the_newest_reports_and_says_when_more_match(app_and_tokens):
    """The review page rendered every report; it shows the newest ``limit`` (100 by default)
    and a notice with a link to show more."""
    from lacuna.metrics.feedback import report_feedback
    from lacuna.model import Action, Classification, Decision, Operation, Tier, User

    app, tokens, _ = app_and_tokens
    gov = app.state.lacuna.governor
    pairs = []
    for i in range(5):
        op = Operation(action=Action.EXPORT, user=User(id="alice", role="data_analyst"),
                       classification=Classification(tier=Tier.PROPRIETARY), method="test",
                       purpose=f"report {i}")
        pairs.append((Decision(allowed=False, operation_id=op.id, reasoning="denied",
                               policy_id="P-2024-001", operation=op), op, "nb"))
    for record in gov.audit.record_many(pairs):
        report_feedback(record.id, false_positive=True, comment="wrong", governor=gov,
                        reporter=("alice", "analyst"))
    officer = sign_in(app, tokens["carol"])
    every = officer.get("/console/review").text
    assert every.count('<li class="card" id="report-') == 5
    assert "older ones are not shown" not in every
    two = officer.get("/console/review", params={"limit": 2}).text
    assert two.count('<li class="card" id="report-') == 2
    assert "Showing the newest 2 open reports; older ones are not shown" in two
    assert 'href="/console/review?status=open&amp;policy=&amp;limit=4"' in two
    bad = officer.get("/console/review", params={"limit": "x"})
    assert bad.status_code == 400
    assert "Page not applied: limit must be a whole number" in bad.text


def test_metrics_count_requests_by_status_in_the_database(app_and_tokens):
    """The metrics page's pending and approved counts (now counted by the database, not by
    reading every request) and its requests of the window."""
    from datetime import UTC, datetime, timedelta

    from lacuna.exceptions import Status
    from lacuna.server.console.metrics_view import compute

    app, _, _ = app_and_tokens
    gov = app.state.lacuna.governor
    _file(gov.exceptions, 3)
    _file(gov.exceptions, 2, status=Status.APPROVED,
          valid_until=datetime.now(UTC) + timedelta(hours=2))
    _file(gov.exceptions, 1, status=Status.DENIED)
    m = compute(gov.audit, gov.exceptions, now=datetime.now(UTC))
    assert (m.pending, m.approved, m.requests) == (3, 2, 6)


def test_conditions_typed_with_a_deny_are_kept_in_its_comment(app_and_tokens, tmp_path):
    """The decide form has one conditions field for both buttons: a steward who typed them and
    denied lost them (only approve used them), while the API's deny keeps them in the
    comment. Approved, they are the grant's and the comment stays the comment."""
    import lacuna
    from lacuna.config import config_from_dict

    app, tokens, _ = app_and_tokens
    lacuna.enable(config_from_dict({"user": {"id": "alice", "role": "data_analyst"},
                                    "stewards": {"default": ["sam"]},
                                    "audit": {"url": app.state.lacuna.db}}))
    ids = [lacuna.request_exception(
        operation={"action": "export", "source": "crm/customers.csv",
                   "destination": str(tmp_path / f"out{n}.csv")},
        purpose="Quarterly churn review with the retention team", approver="sam").id
        for n in range(2)]
    steward = sign_in(app, tokens["sam"])
    page = steward.get("/console/exceptions").text
    store = app.state.lacuna.governor.exceptions
    for exception_id, verdict in zip(ids, ("deny", "approve"), strict=True):
        answer = steward.post(f"/console/exceptions/{exception_id}/decide",
                              data={"csrf_token": csrf_of(page), "decision": verdict,
                                    "comment": "Not in this form.",
                                    "conditions": "Aggregate it first\nAsk again with a DPIA"},
                              follow_redirects=False)
        assert answer.status_code == 303, answer.text
    denied, approved = (store.get(i) for i in ids)
    assert denied.status.value == "denied"
    assert denied.comment == ("Not in this form. Conditions: Aggregate it first; "
                                       "Ask again with a DPIA")
    assert approved.status.value == "approved"
    assert approved.comment == "Not in this form."
    assert approved.approval_conditions == ("Aggregate it first", "Ask again with a DPIA")
    assert "Ask again with a DPIA" in steward.get(f"/console/exceptions/{ids[0]}").text


def test_audit_times_beyond_the_calendar_in_utc_are_answered_not_500(app_and_tokens):
    """0001-01-01T00:00+01:00 is before the first instant a datetime holds in UTC: converting
    it failed the page with a 500 (OverflowError)."""
    app, tokens, _ = app_and_tokens
    officer = sign_in(app, tokens["carol"])
    officer.get("/console/audit", params={"user": "nobody"})  # a 403-free read: a record
    everything = officer.get("/console/audit", params={"since": "0001-01-01T00:00+01:00",
                                                       "until": "9999-12-31T23:59-01:00"})
    assert everything.status_code == 200, everything.text[:300]
    assert everything.text.count("<tr") == officer.get("/console/audit").text.count("<tr")
    nothing = officer.get("/console/audit", params={"since": "9999-12-31T23:59-01:00"})
    assert nothing.status_code == 200


def test_feedback_is_recorded_on_the_decision_the_page_shows(app_and_tokens):
    """Clients choose operation ids, and the page's address names one: an id holding ``?``
    (``%3F`` in the link) showed that decision, but its form posted to the address's text
    cut at the ``?``, another decision, which took the feedback. The form names the record
    shown."""
    import html
    from urllib.parse import quote

    from lacuna.model import Action, Classification, Decision, Operation, Tier, User

    app, tokens, _ = app_and_tokens
    gov = app.state.lacuna.governor
    recorded = {}
    for user, op_id in (("alice", "shared"), ("bob", "shared?x=1")):
        op = Operation(id=op_id, action=Action.EXPORT, user=User(id=user, role="analyst"),
                       classification=Classification(tier=Tier.PROPRIETARY), method="test")
        recorded[user] = gov.audit.record(Decision(allowed=False, operation_id=op.id,
                                                   reasoning="denied", policy_id="P-1",
                                                   operation=op), op, session="nb")
    steward = sign_in(app, tokens["sam"])
    page = steward.get(f"/console/feedback/{quote('shared?x=1', safe='')}")
    assert page.status_code == 200
    assert "shared?x=1" in html.unescape(page.text)  # bob's decision is the one shown
    action = html.unescape(re.search(r'<form class="card" method="post" action="([^"]+)"',
                                     page.text).group(1))
    sent = steward.post(action, data={"csrf_token": csrf_of(page.text),
                                      "verdict": "false_positive", "comment": "fine"},
                        follow_redirects=False)
    assert sent.status_code == 303, sent.text[:300]
    (feedback,) = gov.audit.list(limit=None, action="feedback")
    assert feedback.data["feedback"]["decision_record_id"] == recorded["bob"].id
    # An analyst opening another's decision gets the 404 of an id nobody recorded (the page
    # said 403, which told which ids exist), on the page and the form alike; audited.
    analyst = sign_in(app, tokens["alice"])
    assert analyst.get(f"/console/feedback/{recorded['alice'].id}").status_code == 200
    page = analyst.get(f"/console/feedback/{recorded['alice'].id}")
    for address in (recorded["bob"].id, quote("shared?x=1", safe=""), "no-such-decision"):
        shown = analyst.get(f"/console/feedback/{address}")
        assert (shown.status_code, "No such decision") == (404, shown.text.split(
            "<h1>")[1].split("</h1>")[0]), address
        sent = analyst.post(f"/console/feedback/{address}", data={
            "csrf_token": csrf_of(page.text), "verdict": "correct"}, follow_redirects=False)
        assert sent.status_code == 404, address
    assert len(gov.audit.list(limit=None, action="feedback")) == 1  # the steward's alone
    refused = [r.reasoning for r in gov.audit.list(limit=None, denied_only=True, user="alice")]
    assert sum("feedback only on their own decisions" in r for r in refused) == 4


def test_the_policies_page_shows_no_server_folder(tmp_path):
    """The policies page is everyone's: a bundle kept outside a ``policies`` folder showed
    each test's absolute path (``/srv/…/rego/governance/x_test.rego:11``) to any analyst.
    Locations and files are shown under the bundle's folder; its tests still run and read
    back with their places."""
    from datetime import UTC, datetime

    from lacuna.policy import PolicyEngine
    from lacuna.server.console.policies_view import TestResults, packages

    root = tmp_path / "srv-secret" / "rego"
    (root / "gov").mkdir(parents=True)
    (root / "gov" / "p.rego").write_text(
        "package gov.p\n\nimport rego.v1\n\ndefault allow := false\n", encoding="utf-8")
    (root / "gov" / "p_test.rego").write_text(
        "package gov.p_test\n\nimport rego.v1\n\ntest_denies if {\n"
        "\tnot data.gov.p.allow\n}\n", encoding="utf-8")
    engine = PolicyEngine(root)
    run = TestResults().run(engine, datetime.now(UTC))
    assert [(r.rule, r.passed) for r in run.rows] == [("data.gov.p_test.test_denies", True)]
    shown = [r.location for r in run.rows] + [f for p in packages(engine) for f in p["files"]]
    assert shown, "nothing to look at"
    assert all("srv-secret" not in s and not s.startswith("/") for s in shown), shown
    assert run.rows[0].location.startswith("gov/p_test.rego:")
