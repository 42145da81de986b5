"""Card numbers in a URL's path, in a record beside a person's data, under a name that says
card, and beside a word of payment, in what the proxy sends, in process (no sockets); and the
ordinary requests that look like them and still pass."""

from __future__ import annotations

import json

import pytest

from lacuna.proxy.bodies import segment_values
from lacuna.proxy.gate import OutboundRequest
from lacuna.proxy.records import _gtin

EXTERNAL = "https://api.external-service.com/v1"
CARD = "4111111111111111"


def _post(gate, data, content_type="application/json"):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=body,
                                      headers={"content-type": content_type}))


def _get(gate, url):
    return gate.check(OutboundRequest(method="GET", url=url))


def _card_found(verdict) -> bool:
    columns = verdict.decision.operation.classification.columns.values()
    return any(c.pii_type == "card_number" for c in columns)


def test_a_card_written_backwards_in_a_path_beside_cards_is_found(gate):
    """``/cards/1111111111111114`` passed: the path's segments were kept as a column only
    when one validated as sent, and the number read backwards was judged alone (no card)."""
    refused = _get(gate, f"{EXTERNAL}/cards/{CARD[::-1]}")
    assert refused.status == 451
    assert CARD[::-1] not in refused.body.decode()  # the destination shown is masked
    assert "/cards/***" in refused.decision.operation.destination.uri
    assert _get(gate, f"{EXTERNAL}/cards/{CARD}").status == 451  # (as before)


@pytest.mark.parametrize("path", [
    f"/orders/{CARD[::-1]}",  # an id that reads as a card backwards, nothing saying card
    f"/orders/{CARD}",  # a lone bare number (last session's rule)
    "/cards/1111111111111112",  # no card either way
])
def test_a_lone_number_in_a_path_without_context_passes(gate, path):
    assert _get(gate, f"{EXTERNAL}{path}").forward


def test_a_path_segment_read_backwards_is_a_value_the_destination_masks():
    assert CARD in segment_values(CARD[::-1])


@pytest.mark.parametrize("sent", [
    {"name": "Zorblat Quux", "v": CARD},  # a name no list knows, beside the number
    {"name": "Zorblat Quux", "v": int(CARD)},  # the number as a JSON number
    {"customer": {"full_name": "Zorblat Quux", "n": CARD}, "plan": "gold"},
    [{"name": "Zorblat Quux", "v": CARD}, {"name": "Qix Vrump", "v": "5555555555554444"}],
])
def test_a_bare_card_in_a_record_beside_a_persons_field_is_a_card(gate, sent):
    """Each was forwarded as PUBLIC: one bare number was no card, and the name was none the
    classifier knew."""
    refused = _post(gate, sent)
    assert refused.status == 451
    assert _card_found(refused)


def test_a_bare_card_beside_a_known_person_is_a_card_too(gate):
    """Refused before for the name alone; the card is now among its reasons (a policy that
    allows names to a CRM but never cardholder data tells them apart)."""
    refused = _post(gate, {"email": "zq@example.org", "v": CARD})
    assert refused.status == 451
    assert _card_found(refused)


@pytest.mark.parametrize("sent", [
    {"name": "page_view", "session": CARD},  # an event's name, not a person's
    {"name": "Zorblat Quux", "order_id": CARD},  # an id by its name: the record's own
    {"title": "Desk Lamp", "v": CARD},  # no person's field beside it
    {"name": "Desk Lamp", "barcode": "4006381333931"},  # an EAN-13 (a 13-digit Visa's shape)
    {"name": "Zorblat Quux", "v": "4111111111111112"},  # Luhn fails
    {"name": "Zorblat Quux", "ts": "1730799000444"},  # epoch milliseconds
])
def test_ordinary_records_beside_a_number_pass(gate, sent):
    assert _post(gate, sent).forward, sent


def test_a_number_in_another_object_than_the_persons_is_no_card(gate):
    """(Refused all the same: ``customer.name`` is a person's name by its name.)"""
    verdict = _post(gate, {"customer": {"name": "Zorblat Quux"}, "order": {"v": CARD}})
    assert not _card_found(verdict)
    assert _card_found(_post(gate, {"customer": {"name": "Zorblat Quux", "v": CARD}}))


@pytest.mark.parametrize("sent", [{"card": CARD}, {"card": int(CARD)}, {"cc": int(CARD)}])
def test_a_bare_card_under_a_name_that_says_card_is_found(gate, sent):
    """``{"card": "4111111111111111"}`` passed: its digits read as an integer column, whose
    context (its name) was never looked at."""
    refused = _post(gate, sent)
    assert refused.status == 451
    assert _card_found(refused)


def test_a_number_under_a_name_that_says_card_that_fails_luhn_passes(gate):
    assert _post(gate, {"card": "4111111111111112"}).forward


@pytest.mark.parametrize("text", [
    f"paid with {CARD}. thanks",
    f"paid with {CARD}.thanks",
    "paid with 4111 1111 1111 1111. thanks",
    f"please pay {CARD} today",
])
def test_a_card_beside_a_word_of_payment_is_found(gate, text):
    """``paid with 4111111111111111. thanks`` passed: "paid" was no word about payment."""
    assert _post(gate, text.encode(), "text/plain").status == 451
    assert _post(gate, {"note": text}).status == 451


@pytest.mark.parametrize("text", [
    "paid invoice 2024-000123 on 2024-11-05",
    f"order {CARD} shipped",  # a lone number without a word of payment (as before)
    "paid 1730799000444 ms after start",
])
def test_payment_words_beside_other_numbers_pass(gate, text):
    assert _post(gate, text.encode(), "text/plain").forward


def test_gtin_check_digits():
    assert _gtin("4006381333931")  # a real EAN-13
    assert not _gtin("4111111111111")  # a Visa test number's 13 digits
    assert not _gtin(CARD)
