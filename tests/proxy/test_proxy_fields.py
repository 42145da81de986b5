"""Requests of many fields, and fields whose names or keys are data, in process (no sockets)."""

from __future__ import annotations

import json

import pytest

from lacuna.config import config_from_dict
from lacuna.governor import Governor
from lacuna.proxy.gate import OVERFLOW, Gate, OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"
MAX_FIELDS = 8


@pytest.fixture
def gate(tmp_path):
    config = config_from_dict({
        "destinations": {"internal_hosts": ["localhost"]},
        "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
        "proxy": {"max_fields": MAX_FIELDS},
    })
    gov = Governor(config)
    yield Gate(gov)
    gov.close()


def _post(gate, body, content_type="application/json", url=EXTERNAL, **kw):
    return gate.check(OutboundRequest(method="POST", url=url, body=body,
                                      headers={"content-type": content_type}, **kw))


def _json(fields):
    return json.dumps(fields).encode()


def test_fields_past_max_fields_are_scanned_pooled_and_the_request_refused_outside(gate):
    """Past ``proxy.max_fields`` the rest of the fields are not each a column (1,500 of them
    held the decision thread for seconds): their values and names are scanned like a long
    body's rest, and the request is unread in part: refused to an external host, with why."""
    harmless = {f"setting_{i}": f"value {i}" for i in range(3 * MAX_FIELDS)}
    refused = _post(gate, _json(harmless))
    assert refused.status == 451
    reasoning = " ".join(refused.decision.operation.classification.reasoning)
    assert f"{2 * MAX_FIELDS + 1} fields past the first {MAX_FIELDS} (proxy.max_fields" in (
        reasoning)  # (and "(keys)": the object's keys are a field too)
    assert "proxy.max_fields" in refused.body.decode()
    # at the limit each field is a column of its own, and a harmless body passes
    assert _post(gate, _json({f"setting_{i}": f"value {i}" for i in range(MAX_FIELDS - 1)})
                 ).forward


def test_data_past_max_fields_is_still_found(gate):
    """An e-mail in the last of many fields, or as its name, is found in the pooled scan; a
    field named like data (``ssn``) is classified as a column of its own whatever its place."""
    fields = {f"setting_{i}": f"value {i}" for i in range(3 * MAX_FIELDS)}
    for extra in ({"note_x": "ana.lopez@example.com"}, {"ana.lopez@example.com": "1"}):
        found = _post(gate, _json({**fields, **extra})).decision.operation.classification
        pooled = {c.pii_type for n, c in found.columns.items() if n.startswith(OVERFLOW)}
        assert "email" in pooled, extra
        assert "PII" in found.tags, extra
    named = _post(gate, _json({**fields, "ssn": "123456789"})).decision.operation.classification
    assert named.columns["ssn"].pii_type == "ssn"  # (bare digits: the name decides)


def test_many_fields_are_classified_as_at_most_max_fields_columns(tmp_path, monkeypatch):
    """1,500 distinct form fields: the classifier is given at most the default
    ``proxy.max_fields`` columns, and a few more for the pooled rest (each field a column took
    6-12 s, the decision thread held)."""
    from lacuna.model import Classification

    config = config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"}})
    gov = Governor(config)
    widths = []

    def classify_read(_source, frame):
        widths.append(len(frame.columns))
        return Classification(), None

    monkeypatch.setattr(gov, "classify_read", classify_read)
    try:
        form = "&".join(f"field{i}x=v{i}" for i in range(1500)).encode()
        verdict = _post(Gate(gov), form, "application/x-www-form-urlencoded")
        assert verdict.status == 451
        limit = config.proxy.max_fields
        assert limit < widths[0] <= limit + 16  # (+ a field per strong value recognizer)
        assert f"fields past the first {limit}" in verdict.body.decode()
    finally:
        gov.close()
