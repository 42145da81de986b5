"""A card number written as the hex of its digits' characters beside a word of cards, in what
the proxy sends, in process (no sockets); and the hex ids and hashes that still pass."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com"
CARD = "4111111111111111"
HEX = CARD.encode().hex()  # 34313131...


def _get(gate, path):
    return gate.check(OutboundRequest(method="GET", url=f"{EXTERNAL}{path}"))


@pytest.mark.parametrize("path", [f"/v1/cards/{HEX}", f"/api/cards/{HEX}/charge",
                                  f"/v1/payments/0x{HEX}"])
def test_a_card_as_the_hex_of_its_digits_beside_cards_is_found(gate, path):
    """``/v1/cards/3431...31`` was forwarded: the segment is one 32-digit run, no card's
    length, and what it decodes to (the number alone) was judged without the word beside."""
    refused = _get(gate, path)
    assert refused.status == 451
    assert HEX.lower() not in refused.body.decode().lower()  # the destination is masked
    uri = refused.decision.operation.destination.uri
    assert HEX not in uri
    assert "/***" in uri


@pytest.mark.parametrize("path", [
    f"/v1/orders/{HEX}",  # nothing says card: a lone number, as the digits alone pass
    f"/v1/cards/{hashlib.sha256(b'card-17').hexdigest()}",  # a hash beside cards
    f"/v1/cards/{hashlib.sha1(b'card-17').hexdigest()}",
    "/v1/cards/3431313131313131313131313131313131313131313131",  # 23 digits' hex: no card
])
def test_a_hex_id_beside_cards_or_the_hex_alone_passes(gate, path):
    assert _get(gate, path).forward


def test_the_classifier_reads_the_hex_beside_a_word_of_payment():
    """The rule is the classifier's (a column of notes), not the proxy's alone."""
    from lacuna.classify import classify_frame
    from lacuna.config import config_from_dict

    config = config_from_dict({}).classification
    found = classify_frame(pd.DataFrame({"note": [f"charge {HEX} today"]}), config=config)
    assert found.columns["note"].pii_type == "card_number"
    other = classify_frame(pd.DataFrame({"note": [f"ship {HEX} today"]}), config=config)
    assert other.columns["note"].pii_type != "card_number"
