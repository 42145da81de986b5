"""An operation that declares no classification but names classified sources is decided as
the strictest of them: it was PUBLIC, so a hand-written client that named PII sources and left
the data's class out exported them anywhere (``POST /api/v1/decide``). A client that means
public data says so, and an operation naming no sources is decided as before."""

from __future__ import annotations

from typing import Any

import pytest

from lacuna.remote.wire import parse_operation

PII = {"tier": "PROPRIETARY", "tags": ["PII"]}
SOURCES = [{"name": "crm.customers", "classification": PII},
           {"name": "ref.regions", "classification": {"tier": "PUBLIC"}}]


def _decide(app_client, operation: dict[str, Any]) -> Any:
    r = app_client.client.post("/api/v1/decide", json={"operation": {
        "action": "export", "destination": "/home/ana/Downloads/out.csv", **operation},
        "record": False}, headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    return r.json()["decision"]


@pytest.mark.parametrize("declared", [{}, {"classification": {}}])
def test_undeclared_data_of_pii_sources_is_decided_as_pii(app_client, declared) -> None:
    decision = _decide(app_client, {"sources": SOURCES, **declared})
    assert (decision["allowed"], decision["classification"], decision["tags"]) == (
        False, "PROPRIETARY", ["PII"])


def test_declared_public_data_and_no_sources_are_decided_as_before(app_client) -> None:
    declared = _decide(app_client, {"sources": SOURCES, "classification": {"tier": "PUBLIC"}})
    assert (declared["allowed"], declared["classification"]) == (True, "PUBLIC")
    bare = _decide(app_client, {})
    assert (bare["allowed"], bare["classification"]) == (True, "PUBLIC")
    public_sources = _decide(app_client, {"sources": SOURCES[1:]})
    assert (public_sources["allowed"], public_sources["classification"]) == (True, "PUBLIC")


def test_the_strictest_source_says_why() -> None:
    op = parse_operation({"action": "export", "sources": SOURCES})
    c = op.fields["classification"]
    assert (c.tier.value, c.tags) == ("PROPRIETARY", ("PII",))
    assert "declared no classification" in c.reasoning[0]
    assert "crm.customers PROPRIETARY" in c.reasoning[0]
