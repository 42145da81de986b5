"""Card numbers in a URL's path, in a record beside a person's data, under a name that says
card, and beside a word of payment, in what the proxy sends, in process (no sockets); and the
ordinary requests that look like them and still pass."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from lacuna.proxy.bodies import read_body, segment_values
from lacuna.proxy.gate import OutboundRequest
from lacuna.proxy.records import _gtin

EXTERNAL = "https://api.external-service.com/v1"
CARD = "4111111111111111"
RECORD = {"name": "Zorblat Quux", "v": CARD}


def _post(gate, data, content_type="application/json", headers=()):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=body,
                                      headers={"content-type": content_type, **dict(headers)}))


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


@pytest.mark.parametrize("path", [f"/v1/payments/{CARD}", f"/v1/charges/{CARD[::-1]}"])
def test_a_card_in_a_path_beside_a_plural_word_of_payment_is_found(gate, path):
    """Both were forwarded: "payment" and "charge" were words of payment, their plurals not."""
    assert _get(gate, f"{EXTERNAL}{path}").status == 451


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
    {"name": "Zorblat Quux", "v": f" {CARD}."},  # marks around it
    {"name": "Zorblat Quux", "v": f"\u200b{CARD}"},
    {"name": "Zorblat Quux", "payment": {"v": CARD}},  # in an object the record holds
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


@pytest.mark.parametrize("sent", [
    {"payload": base64.b64encode(json.dumps(RECORD).encode()).decode()},  # base64 of a record
    [RECORD, {"name": "Qix Vrump", "v": "n/a"}],  # other values beside the number
])
def test_a_record_read_inside_a_value_or_among_others_is_one(gate, sent):
    """Both were forwarded: fields under a name the proxy made (``payload.(decoded).v``) were
    no record's, and a field with any value but a bare number was passed over."""
    assert _card_found(_post(gate, sent))


def test_a_record_in_a_header_is_one(gate):
    """``X-Meta: {"name": ..., "v": ...}``: the header's ``name`` was not classified (only
    fields a recognizer validates are), and the card beside it was judged alone."""
    refused = gate.check(OutboundRequest(method="GET", url=EXTERNAL,
                                         headers={"x-meta": json.dumps(RECORD)}))
    assert refused.status == 451
    assert gate.check(OutboundRequest(method="GET", url=EXTERNAL, headers={
        "x-meta": json.dumps({"event": "page_view", "v": CARD})})).forward


@pytest.mark.parametrize("body", [
    b"\x1f\x8b\x08\x00garbage",  # a gzip header, then no whole deflate stream
    gzip.compress(json.dumps(RECORD).encode(), mtime=0)[:-6],  # cut inside its trailer
    gzip.compress(json.dumps(RECORD).encode(), mtime=0)[:40],  # cut inside its data
], ids=["garbage", "cut trailer", "cut data"])
def test_a_gzip_body_that_stops_before_its_end_is_unreadable(gate, body):
    """Each was forwarded: the decoder stopped where the bytes did, without an error, and
    the body was read as what it had decoded (nothing, or a record's start): a receiver may
    read it otherwise (and the proxy forwarded it whole)."""
    payload = read_body(body, "application/json", encoding="gzip")
    assert payload.format == "unreadable"
    assert _post(gate, body, headers={"content-encoding": "gzip"}).status == 451


def test_a_whole_gzip_body_and_a_cut_start_are_read():
    whole = gzip.compress(b'{"plan": "gold", "n": 3}')
    assert read_body(whole, "application/json", encoding="gzip").fields["plan"] == ("gold",)
    start = gzip.compress(b"plan,n\n" + b"gold,3\n" * 5000)[:200]  # a spooled body's start
    cut = read_body(start, "text/csv", encoding="gzip", truncated=True)
    assert (cut.format, cut.unreadable) == ("csv", ())


@pytest.mark.parametrize("sent", [
    "?card1=41111111&card2=11111111",  # halves: no card's printed groups
    "?pan_1=411111&pan_2=1111111111",
    "?cc1=4111111&cc2=111111&cc3=111",
])
def test_a_card_cut_anywhere_under_numbered_names_that_say_card_is_found(gate, sent):
    """Each was forwarded: only a card's printed groups (4-4-4-4, ...) were joined."""
    assert _get(gate, f"{EXTERNAL}{sent}").status == 451
    assert _post(gate, dict(p.split("=") for p in sent[1:].split("&"))).status == 451


def test_a_card_cut_anywhere_under_one_name_that_says_card_sent_again_is_found(gate):
    assert _get(gate, f"{EXTERNAL}?card=41111111&card=11111111").status == 451
    assert _get(gate, f"{EXTERNAL}?card=41111111&card=11111112").forward


@pytest.mark.parametrize("sent", [
    "?card1=41111111&card2=11111112",  # Luhn fails
    "?part1=41111111&part2=11111111",  # the names do not say card
    "?card1=4111&card2=1111",  # too short for a card
])
def test_numbered_pieces_that_are_no_card_pass(gate, sent):
    assert _get(gate, f"{EXTERNAL}{sent}").forward
