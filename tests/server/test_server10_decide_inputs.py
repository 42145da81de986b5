"""``POST /api/v1/decide`` reads a source's classification only from its ``classification``:
a tier and tags put beside it, or a misspelled key, were dropped and the data decided as
PUBLIC (allowed anywhere). Refused now with the key named; the right shape is decided as
before."""

from __future__ import annotations

from typing import Any

import pytest

PII = {"tier": "PROPRIETARY", "tags": ["PII"]}


def _decide(app_client, operation: dict[str, Any]) -> Any:
    return app_client.client.post("/api/v1/decide", json={"operation": {
        "action": "export", "destination": "/tmp/s10-out.csv", **operation}, "record": False},
        headers=app_client.headers("ana"))


@pytest.mark.parametrize(("operation", "says"), [
    ({"sources": [{"name": "crm.customers", **PII}]},
     "operation.sources[0] has 'tags', 'tier', which Lacuna does not read"),
    ({"classification": {"Tier": "PROPRIETARY"}},
     "operation.classification has 'Tier', which Lacuna does not read"),
    ({"sources": [{"name": "crm", "classification": {"tier": "PROPRIETARY", "tag": ["PII"]}}]},
     "operation.sources[0].classification has 'tag'"),
])
def test_server10_a_classification_key_lacuna_does_not_read_is_refused(app_client, operation,
                                                                        says) -> None:
    r = _decide(app_client, operation)
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]


def test_server10_a_sources_declared_classification_is_decided_on(app_client) -> None:
    r = _decide(app_client, {"classification": PII,
                             "sources": [{"name": "crm.customers", "classification": PII}]})
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert (decision["allowed"], decision["classification"], decision["tags"]) == (
        False, "PROPRIETARY", ["PII"])
