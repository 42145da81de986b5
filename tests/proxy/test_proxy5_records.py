"""The card-in-a-record rule sees a card number whatever other class the field was given: a
governed read's fingerprint of a financial column, or a financial name, no longer hides it.
To an internal host (FINANCIAL data may go there, cardholder data may not). In process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from lacuna.model import Classification, ColumnClass, ColumnKind, Tier
from lacuna.proxy.gate import Gate, OutboundRequest

INTERNAL = "http://localhost/v1/customers"
CARD = "4111111111111111"
NOT_A_CARD = "4111111111111112"  # (fails Luhn)


@pytest.fixture(scope="module")
def fresh_gate(tmp_path_factory) -> Iterator[Gate]:
    """A gate of its own (its fingerprints are this module's), ``localhost`` internal."""
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor

    state = tmp_path_factory.mktemp("proxy5") / "state.db"
    gov = Governor(config_from_dict({"audit": {"url": f"sqlite:///{state}"},
                                     "destinations": {"internal_hosts": ["localhost"]}}))
    yield Gate(gov)
    gov.close()


def _post(gate: Gate, data: object):
    return gate.check(OutboundRequest(
        method="POST", url=INTERNAL, body=json.dumps(data).encode(),
        headers={"content-type": "application/json"}, addresses=("127.0.0.1",)))


def _kinds(verdict) -> dict[str, tuple[str, str | None]]:
    columns = verdict.decision.operation.classification.columns
    return {k: (c.classification.value, c.pii_type) for k, c in columns.items()}


@pytest.mark.parametrize("key", ["balance", "amount"])
def test_proxy5_a_card_under_a_financial_name_beside_a_person_is_a_card(fresh_gate, key):
    """``{"name": "Zorblat Quux", "balance": card}`` was FINANCIAL (the key's class), which
    the card rule skipped: INTERNAL, forwarded to an internal host."""
    refused = _post(fresh_gate, {"name": "Zorblat Quux", key: CARD})
    assert refused.status == 451
    assert _kinds(refused)[key] == ("pii", "card_number")
    assert "FINANCIAL" in refused.decision.operation.classification.tags  # (kept)
    # the allowed path: no card (Luhn fails), or no person beside it: financial data, inside
    assert _post(fresh_gate, {"name": "Zorblat Quux", key: NOT_A_CARD}).forward
    assert _post(fresh_gate, {key: CARD}).forward


def test_proxy5_an_id_by_its_name_stays_the_records_own(fresh_gate):
    """The rule's exception stands: a number under an id's name is the record's own."""
    assert _post(fresh_gate, {"name": "Zorblat Quux", "order_id": CARD}).forward


def test_proxy5_a_financial_fingerprint_does_not_hide_a_card_in_a_record(fresh_gate):
    """A governed read of a financial column holding the number raised ``v`` to FINANCIAL
    (INTERNAL, above the classifier's PUBLIC): the card rule then skipped a field no longer
    public, and ``{"name": "Zorblat Quux", "v": [card]}`` went to an internal host."""
    from lacuna.proxy.fingerprints import record_read, store_for

    record = {"name": "Zorblat Quux", "v": [CARD]}
    assert _post(fresh_gate, record).status == 451
    config = fresh_gate.gov.config
    frame = pd.DataFrame({"acct": [CARD, "4222222222222", "9999999999999999"]})
    record_read(config, "accounts.csv", frame, Classification(columns={"acct": ColumnClass(
        classification=ColumnKind.FINANCIAL, confidence=0.9)}))
    store_for(config).flush()
    fresh_gate._cache.clear()  # (classified again, with the fingerprints)
    refused = _post(fresh_gate, record)
    assert refused.status == 451
    assert _kinds(refused)["v"] == ("pii", "card_number")
    # the allowed path: the number alone is the read's financial data, which may go inside
    alone = _post(fresh_gate, {"v": [CARD]})
    assert alone.forward
    assert alone.decision.operation.classification.tier is Tier.INTERNAL
    assert _kinds(alone)["v"] == ("financial", None)


EXTERNAL = "https://api.external-service.com/v1/customers"
EINS = [f"12-345678{i}" for i in range(9)]  # US employer numbers: ids by their values


def test_proxy5_ids_by_their_values_do_not_hide_a_card_in_a_record(fresh_gate):
    """Nine EINs beside one card made the field ``identifier`` by its values, which the rule
    took for an id by its name (the record's own numbers): the card went to an external
    host with the person's name."""
    def post(data: object):
        return fresh_gate.check(OutboundRequest(
            method="POST", url=EXTERNAL, body=json.dumps(data).encode(),
            headers={"content-type": "application/json"}))

    refused = post({"name": "Zorblat Quux", "v": [CARD, *EINS]})
    assert refused.status == 451
    assert _kinds(refused)["v"] == ("pii", "card_number")
    # the allowed path: the same ids with no card, or under an id's name, pass
    assert post({"name": "Zorblat Quux", "v": [NOT_A_CARD, *EINS]}).forward
    assert post({"name": "Zorblat Quux", "employer_id": [CARD, *EINS]}).forward


def _wide(digits: str) -> str:
    return "".join(chr(ord(d) - ord("0") + ord("０")) for d in digits)


@pytest.mark.parametrize("shape", ["{} 12/27 123", "{}|123", "{}/12/27", "wide"])
def test_proxy5_a_card_with_its_expiry_and_code_or_in_full_width_digits_is_a_card(
        fresh_gate, shape):
    """Only a number with marks around it was bare: a card with its expiry date and code
    (no letter in the value), or written in full-width digits (the classifier reads values as
    NFKC), beside a person's name was forwarded."""
    def post(data: object):
        return fresh_gate.check(OutboundRequest(
            method="POST", url=EXTERNAL, body=json.dumps(data).encode(),
            headers={"content-type": "application/json"}))

    def written(number: str) -> str:
        return _wide(number) if shape == "wide" else shape.format(number)

    refused = post({"name": "Zorblat Quux", "v": written(CARD)})
    assert refused.status == 451
    assert _kinds(refused)["v"] == ("pii", "card_number")
    # the allowed path: no card (Luhn fails), times of day, a span of epoch milliseconds
    for other in (written(NOT_A_CARD), "1733580000000-1733580099999", "2026-12-07 17:45:00"):
        assert post({"name": "Zorblat Quux", "v": other}).forward, other


@pytest.mark.parametrize("record", [
    {"name": "Zorblat Quux", "v()": CARD}, {"name": "Zorblat Quux", "v (x)": CARD},
    {"name": "Zorblat Quux", "text": CARD}, {"name": "Zorblat Quux", "lines": [CARD]},
    {"name": "Zorblat Quux", "x": {"text": CARD}},
])
def test_proxy5_a_key_shaped_like_a_name_the_proxy_makes_is_a_records_field(fresh_gate,
                                                                           record):
    """Names the proxy makes (``(keys)``, a value's ``text`` and ``lines``) are no record's
    fields; any key with a parenthesis, or a key ``text`` or ``lines``, was taken for one,
    and the card under it beside a person's name forwarded."""
    verdict = fresh_gate.check(OutboundRequest(
        method="POST", url=EXTERNAL, body=json.dumps(record).encode(),
        headers={"content-type": "application/json"}))
    assert verdict.status == 451


def test_proxy5_the_tokens_of_a_persons_note_are_still_no_records_field(fresh_gate):
    """The allowed path: a note's tokens (``notes.text``, made by the proxy) hold the bare
    number, but the note is text, not a card's field."""
    note = {"name": "Zorblat Quux", "notes": f"shipped today\nparcel {CARD}"}
    verdict = fresh_gate.check(OutboundRequest(
        method="POST", url=EXTERNAL, body=json.dumps(note).encode(),
        headers={"content-type": "application/json"}))
    assert verdict.forward


def test_proxy5_a_fingerprint_of_the_same_tier_keeps_the_persons_data_type(fresh_gate):
    """An SSN read also in a PHI column (a tie: both PROPRIETARY) was relabelled a diagnosis:
    ``ssn`` left the decision's ``pii_types``, which policies read. The field keeps its
    type, and the decision the match's tags and source."""
    from lacuna.model import Sensitivity
    from lacuna.proxy.fingerprints import record_read, store_for

    def post(data: object):
        return fresh_gate.check(OutboundRequest(
            method="POST", url=EXTERNAL, body=json.dumps(data).encode(),
            headers={"content-type": "application/json"}))

    ssns = {"v": ["123-45-6789", "234-56-7890"]}
    assert post(ssns).decision.operation.classification.pii_types == ("ssn",)
    config = fresh_gate.gov.config
    frame = pd.DataFrame({"diag": ["123-45-6789", "234-56-7890", "XR-0001-K"]})
    record_read(config, "visits.csv", frame, Classification(columns={"diag": ColumnClass(
        classification=ColumnKind.PHI, pii_type="diagnosis", sensitivity=Sensitivity.HIGH,
        confidence=0.9)}))
    store_for(config).flush()
    fresh_gate._cache.clear()
    found = post(ssns).decision.operation.classification
    assert found.pii_types == ("ssn",)
    assert {"PII", "PHI"} <= set(found.tags)
    assert "visits.csv" in " ".join(found.reasoning)
    # the allowed path of the relabelling: a field read as nothing personal takes the class
    raised = post({"v": ["XR-0001-K"]}).decision.operation.classification
    assert _kinds_of(raised)["v"] == ("phi", "diagnosis")


def _kinds_of(found: Classification) -> dict[str, tuple[str, str | None]]:
    return {k: (c.classification.value, c.pii_type) for k, c in found.columns.items()}
