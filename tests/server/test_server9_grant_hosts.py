"""An exception grant is tied to the host it was requested from, when the server vouches for
that host (the requester is bound to it by ``client_hosts``): a grant requested from ana's
laptop was usable by ana from any other machine she is bound to, or in-process. An unbound
requester's grant (the host is only the client's word) records no host and covers any."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from lacuna.server.hosts import HostBindings

PII = {"tier": "PROPRIETARY", "tags": ["PII"]}


@pytest.fixture
def bound(app_client) -> Iterator[Any]:
    """ana bound to two hosts (laptop and desktop) for this test; everyone else unbound."""
    state = app_client.state
    before = state._hosts
    state._hosts = HostBindings({"ana": ["ana-laptop", "ana-desktop"]})
    yield app_client
    state._hosts = before


def _dest(app_client) -> str:
    root = app_client.state.governor.config.destinations.unmanaged[0]
    return f"{root}/s9-{secrets.token_hex(3)}.csv"


def _grant(app_client, user: str, dest: str, host: str | None) -> dict[str, Any]:
    h = app_client.headers(user) | ({"X-Lacuna-Host": host} if host else {})
    r = app_client.client.post("/api/v1/exceptions", json={
        "destination": dest, "purpose": "Board Q4 presentation for the CFO",
        "approver": "joe", "duration_hours": 2}, headers=h)
    assert r.status_code == 201, r.text
    exc = r.json()
    r = app_client.client.post(f"/api/v1/exceptions/{exc['id']}/approve", json={},
                               headers=app_client.headers("joe"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _decide(app_client, user: str, dest: str, exception_id: str, host: str | None
            ) -> dict[str, Any]:
    h = app_client.headers(user) | ({"X-Lacuna-Host": host} if host else {})
    r = app_client.client.post("/api/v1/decide", json={"operation": {
        "action": "export", "classification": PII, "method": "pandas.DataFrame.to_csv",
        "destination": dest, "exception_id": exception_id}}, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json()["decision"])


def test_server9_a_grant_is_used_from_the_host_it_was_requested_from(bound) -> None:
    """Requested from ana-laptop (verified): allowed from ana-laptop, denied from
    ana-desktop (another host she is bound to) with a message naming both hosts; the grant
    says its host, and its signature still verifies (approval kept it)."""
    dest = _dest(bound)
    grant = _grant(bound, "ana", dest, "ana-laptop")
    assert grant["host"] == "ana-laptop"
    assert grant["status"] == "approved"
    stored = bound.state.governor.exceptions.get(grant["id"])
    assert stored.host == "ana-laptop"
    assert bound.state.governor.exceptions.verified(stored)
    assert _decide(bound, "ana", dest, grant["id"], "ana-laptop")["allowed"] is True
    elsewhere = _decide(bound, "ana", dest, grant["id"], "ana-desktop")
    assert elsewhere["allowed"] is False
    assert any("requested from host ana-laptop" in w and "not from ana-desktop" in w
               for w in elsewhere["why"]), elsewhere["why"]


def test_server9_a_host_bound_grant_needs_a_host_the_server_vouches_for(bound) -> None:
    """Once ana is unbound (her binding removed), the host she names is only her word: the
    grant requested from her verified laptop is not honoured, even naming that laptop; nor
    in-process, where an operation names no client host."""
    from lacuna.model import Action, Classification, Operation, User

    dest = _dest(bound)
    grant = _grant(bound, "ana", dest, "ana-laptop")
    bound.state._hosts = HostBindings({})
    word = _decide(bound, "ana", dest, grant["id"], "ana-laptop")
    assert word["allowed"] is False
    assert any("does not vouch for" in w for w in word["why"]), word["why"]
    stored = bound.state.governor.exceptions.get(grant["id"])
    op = Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                   classification=Classification.from_dict(PII),
                   destination=bound.state.governor.destination(dest),
                   exception_id=grant["id"])
    from lacuna.model import utcnow

    covered, why = stored.covers(op, utcnow())
    assert (covered, "names no client host" in why) == (False, True)
    assert stored.covers(replace(op, client_host="ANA-LAPTOP", host_verified=True),
                         utcnow())[0] is True  # host names compare without case


def test_server9_an_unbound_requesters_grant_covers_any_host(app_client) -> None:
    """jane is unbound: the host she names is her word, so her grant records none and
    covers her operations from any host, or none (as before)."""
    dest = _dest(app_client)
    grant = _grant(app_client, "jane", dest, "jane-laptop")
    assert "host" not in grant
    for host in ("jane-laptop", "jane-desktop", None):
        assert _decide(app_client, "jane", dest, grant["id"], host)["allowed"] is True


def test_server9_a_host_bound_grants_file_is_decrypted_on_its_host(bound) -> None:
    """A file written under ana's grant from ana-laptop: she decrypts it there; asked from
    ana-desktop (another host she is bound to) she is refused, saying which host, and the
    refusal is audited; a steward still may from anywhere."""
    dest = _dest(bound)
    grant = _grant(bound, "ana", dest, "ana-laptop")

    def may(user: str, host: str) -> dict[str, Any]:
        r = bound.client.post(f"/api/v1/exceptions/{grant['id']}/decrypt", json={
            "path": dest, "written_by": "ana", "host": host},
            headers=bound.headers(user) | {"X-Lacuna-Host": host})
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert may("ana", "ana-laptop") == {"allowed": True}
    refused = may("ana", "ana-desktop")
    assert refused["allowed"] is False
    assert "requested from host ana-laptop" in refused["refused"]
    assert may("jane", "jane-laptop") == {"allowed": True}
    trail = bound.client.get("/api/v1/audit", params={"limit": 20},
                             headers=bound.headers("carla")).json()["records"]
    decrypts = [r["exception"].get("refused") is None for r in trail
                if r["what"].get("event") == "decrypt"
                and (r["what"].get("exception_id") == grant["id"]
                     or (r.get("why") or {}).get("exception_id") == grant["id"])]
    assert decrypts == [True, False, True]  # newest first
