"""Ordinary data the proxy refused, in process (no sockets): random 16-digit ids sent alone or
a few at a time (issuer and Luhn pass one in about 34, forwards or backwards), and lists of
private IP addresses (a host inside a network, as an internal host name); and the cards and
public addresses beside them that are still refused."""

from __future__ import annotations

import json
import random

import pytest

from lacuna.classify.checks import is_card_number
from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"


def _post(gate, data):
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=json.dumps(data).encode(),
                                      headers={"content-type": "application/json"}))


def _ids(n: int, seed: int) -> list[str]:
    """``n`` random 16-digit ids that pass the card checks as sent or backwards."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        number = str(rng.randrange(10**15, 10**16))
        if is_card_number(number) or is_card_number(number[::-1]):
            out.append(number)
    return out


def test_random_ids_that_pass_the_card_checks_are_sent(gate):
    """Each was refused as a card number (one in about 17 random ids is one of these)."""
    ids = _ids(6, 9)
    refused = [i for i in ids[:4] if not _post(gate, {"id": i}).forward]
    refused += [i for i in ids[4:] if not _post(gate, {"order": int(i)}).forward]
    assert refused == []
    few = [*_ids(2, 11), "1000000000000001", "1000000000000002", "1000000000000003"]
    assert _post(gate, {"ids": few}).forward  # 2 of 5: a chance result


@pytest.mark.parametrize("sent", [
    {"ids": ["4111111111111111", "5500005555555559"]},  # 2 of 2: beyond chance
    {"note": "please charge 4111111111111111 today"},  # a word about payment beside it
    {"card_number": "4111111111111111"},  # a name that says card
    {"v": "4111 1111 1111 1111"},  # in a card's own groups
])
def test_cards_beside_them_are_still_refused(gate, sent):
    refused = _post(gate, sent)
    assert refused.status == 451
    assert "card" in refused.body.decode().lower()


@pytest.mark.parametrize("sent", [
    ["10.0.0.1", "192.168.1.20", "172.16.0.5"],
    {"hosts": ["10.0.0.1", "192.168.1.20"], "port": 5432},
    {"ip": "10.0.0.5"},
    {"upstream": "10.0.0.1:8080", "dns": ["fd00::53", "127.0.0.53"]},
    {"note": "the replica at 192.168.1.20 is back"},
])
def test_private_ip_addresses_are_sent(gate, sent):
    """Refused as PII: an address inside a network names no one outside it."""
    assert _post(gate, sent).forward


@pytest.mark.parametrize("sent", [
    ["10.0.0.1", "192.168.1.20", "81.2.69.160"],  # one public address among them
    {"ip": "81.2.69.160"},
    ["10.0.0.1", "::ffff:81.2.69.160"],  # a public one written as IPv6
    ["2a00:1450:4001:81b::200e", "fd00::1"],
    {"hosts": ["10.0.0.1", "110.0.0.1"]},  # not read as 10.0.0.1 alone
    {"ip": "10.0.0.1", "email": "kira.ng@example.org"},  # the address's column aside
    # what else a field of private addresses holds is classified without them
    {"log": ["10.0.0.5 Kira Kowalski", "10.0.0.6 John Smith", "10.0.0.7 Maria Garcia"]},
])
def test_public_ip_addresses_are_still_refused(gate, sent):
    assert _post(gate, sent).status == 451
