"""The gate decides a request the same way whatever else the state holds: a governed read's
fingerprints raise a field, never relabel it so that a card beside a person's name passes. In
process (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from lacuna.model import Classification, ColumnClass, ColumnKind
from lacuna.proxy.gate import Gate, OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"
CARD = "4111111111111111"


@pytest.fixture(scope="module")
def fresh_gate(tmp_path_factory) -> Iterator[Gate]:
    """A gate of its own: its state (fingerprints) is this module's alone."""
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor

    state = tmp_path_factory.mktemp("proxy4") / "state.db"
    gov = Governor(config_from_dict({"audit": {"url": f"sqlite:///{state}"}}))
    yield Gate(gov)
    gov.close()


def _post(gate: Gate, data: object):
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=json.dumps(data).encode(),
                                      headers={"content-type": "application/json"}))


def _read(gate: Gate, kind: ColumnKind, **more: object) -> None:
    """A governed read of a column ``ref`` holding the card number among other numbers."""
    from lacuna.proxy.fingerprints import record_read, store_for

    config = gate.gov.config
    frame = pd.DataFrame({"ref": [CARD, "4222222222222", "9999999999999999"]})
    record_read(config, "refs.csv", frame, Classification(columns={"ref": ColumnClass(
        classification=kind, confidence=0.9, **more)}))  # type: ignore[arg-type]
    store_for(config).flush()


def test_a_read_of_ids_holding_a_card_does_not_let_a_card_record_pass(fresh_gate):
    """``{"name": "Zorblat Quux", "v": [card]}`` was refused, until a governed read of an id
    column held the same number: its fingerprint relabelled ``v`` IDENTIFIER (a PUBLIC
    tier, as PUBLIC's), the card rule skips a field the classifier read as an id, and the
    record was forwarded; which runs saw it depended on what the shared state held."""
    record = {"name": "Zorblat Quux", "v": [CARD]}
    assert _post(fresh_gate, record).status == 451
    _read(fresh_gate, ColumnKind.IDENTIFIER)
    fresh_gate._cache.clear()  # (classify again, with the fingerprints)
    refused = _post(fresh_gate, record)
    assert refused.status == 451
    columns = refused.decision.operation.classification.columns
    assert columns["v"].pii_type == "card_number"
    # the allowed path: the same number alone, no person beside it, passes as before
    assert _post(fresh_gate, {"v": [CARD]}).forward


def test_a_read_of_sensitive_values_still_raises_the_field(fresh_gate):
    """A match still raises a field the classifier read as public (a fingerprint of a PII
    column: refused where the number alone passes)."""
    assert _post(fresh_gate, {"v": [CARD]}).forward
    _read(fresh_gate, ColumnKind.PII, pii_type="card_number")
    refused = _post(fresh_gate, {"v": [CARD]})
    assert refused.status == 451
    assert "refs.csv" in " ".join(refused.decision.operation.classification.reasoning)
