"""Values written backwards or in ROT47, and values spread over a list's items, in what the proxy
sends, in process (no sockets); and the ordinary requests that look like them and still pass."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from lacuna.classify.encoded import rot47, turned
from lacuna.governor import Governor
from lacuna.proxy.bodies import read_body
from lacuna.proxy.gate import Gate, OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"
ADDRESS = "kira.ng@example.org"
CARD = "4111111111111111"



def _post(gate, data, content_type="application/json"):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=body,
                                      headers={"content-type": content_type}))


def _get(gate, url):
    return gate.check(OutboundRequest(method="GET", url=url))


CARD2 = "5555555555554444"


@pytest.mark.parametrize(("sent", "kind"), [
    # (two cards: one bare number alone is no card, a random id passes the checks one time
    # in 34; see tests/classify/test_classifier9_cards.py)
    ({"v": [CARD[::-1], CARD2[::-1]]}, "card"),  # 1111111111111114
    ({"v": "4111 1111 1111 1111"[::-1]}, "card"),
    ({"v": "ana@example.com"[::-1]}, "e-mail"),  # moc.elpmaxe@ana: no address as written
    ({"v": rot47(ADDRESS)}, "e-mail"),  # <:C2]?8o6I2>A=6]@C8
    ({"v": [rot47(CARD), rot47(CARD2)]}, "card"),  # c```````````````
    ({"v": [base64.b64encode(c[::-1].encode()).decode() for c in (CARD, CARD2)]},
     "card"),  # base64 of backwards
    ({"v": base64.b64encode(b"ana@example.com").decode()[::-1]}, "e-mail"),  # base64 backwards
    ({"v": [rot47(c).encode().hex() for c in (CARD, CARD2)]}, "card"),  # hex of ROT47
    ({"v": rot47(base64.b64encode(ADDRESS.encode()).decode())}, "e-mail"),  # ROT47 of base64
    (f"note: please charge {CARD[::-1]} today".encode(), "card"),  # in free text
])
def test_a_value_written_backwards_or_in_rot47_is_found(gate, sent, kind):
    """Each was forwarded: no recognizer finds a value written backwards or in ROT47 (an
    address written backwards was found only when it happened to keep an address's shape)."""
    refused = _post(gate, sent, "text/plain" if isinstance(sent, bytes) else "application/json")
    assert refused.status == 451
    assert kind in refused.body.decode().lower()


def test_a_value_turned_in_the_query_or_the_path_is_found(gate):
    assert _get(gate, f"{EXTERNAL}?q={quote(rot47(ADDRESS))}").status == 451
    assert _get(gate, f"{EXTERNAL}/cards/{CARD[::-1]}/{CARD2[::-1]}").status == 451
    assert _get(gate, f"{EXTERNAL}/cards/1111111111111112").forward  # (no card either way)


@pytest.mark.parametrize("sent", [
    {"ts": 1730799000444},  # epoch milliseconds: backwards, a Luhn-valid 13-digit Visa
    {"ts": "1730799000444", "at": "2024-11-05T09:30:00Z", "epoch": 1730799044},
    {"id": "1234567890123456784"},  # a snowflake id: backwards, a Luhn-valid 19-digit Visa
    {"score": 63.12345678901234, "at": 1730799000.123456},  # floats as Python writes them
    {"ids": ["00000000-0000-0000-0000-000000000001", "4cb9a84a-caae-46a6-a1d5-83f4614c202b"]},
    {"versions": ["1.2.3", "10.4.12", "2024.11.0"], "build": "v1.2.3-rc.1+20241105"},
    {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
    {"order": "ORD-2024-000123", "ticket": "ABC-1234", "zone": "eu-west-1"},
    {"words": ["alpha", "beta", "gamma", "delta"], "scores": [2024, 1105, 930, 1200]},
    {"filter": "foo[0]bar", "tag": "ok]o"},  # ROT47's "o" and "]" (its "@" and ".")
])
def test_ordinary_values_that_read_as_something_turned_still_pass(gate, sent):
    assert _post(gate, sent).forward, sent


def test_turned_readings_are_values_shapes_only():
    assert turned(CARD[::-1]) == (CARD,)
    assert turned("moc.elpmaxe@ana") == ("ana@example.com",)
    assert turned(rot47(ADDRESS)) == (ADDRESS,)
    assert turned("8590 6497 02 44+") == ("+44 20 7946 0958",)  # a phone number backwards
    for ordinary in ("1730799000444", "v1.2.3", "63.12345678901234", "the quick brown fox",
                     "2024-11-05T09:30:00Z", "00000000-0000-0000-0000-000000000001", "x" * 5000):
        assert turned(ordinary) == (), ordinary


@pytest.mark.parametrize(("sent", "kind"), [
    (["kira.ng", "example.org"], "e-mail"),  # a known given name before a dot
    (["kira", "example.org"], "e-mail"),
    ({"to": ["ana", "example.com"]}, "e-mail"),
    ([{"g": "4111"}, {"g": "1111"}, {"g": "1111"}, {"g": "1111"}], "card"),
    ([{"a": "4111"}, {"b": "1111"}, {"c": "1111"}, {"d": "1111"}], "card"),
    ([{"g": "3782", "n": 1}, {"g": "822463", "n": 2}, {"g": "10005", "n": 3}], "card"),
])
def test_a_value_spread_over_a_lists_items_is_found(gate, sent, kind):
    """Each piece alone was no value a recognizer finds, and only siblings in one object (or
    a list of strings cut at the "@") were joined: the request was forwarded."""
    refused = _post(gate, sent)
    assert refused.status == 451
    assert kind in refused.body.decode().lower()


@pytest.mark.parametrize("sent", [
    ["example.com", "example.org"],  # two host names
    ["api.example.com", "cdn.example.com"],
    ["main.py", "setup.py"],
    ["www", "example.com"],
    ["https", "example.com"],
    ["en", "wikipedia.org"],
    ["yes", "no"],
    ["key", "value"],
    [{"g": "4111"}, {"g": "1111"}, {"g": "1111"}, {"g": "1112"}],  # Luhn fails
    [{"t": "0930"}, {"t": "1200"}, {"t": "1430"}, {"t": "1700"}],
    [{"y": "2019"}, {"y": "2020"}, {"y": "2021"}, {"y": "2022"}],
    [{"id": "4003", "n": "a"}, {"id": "4004", "n": "b"}, {"id": "4005", "n": "c"},
     {"id": "4006", "n": "d"}],  # ids counting up (4003400440054006 passes issuer and Luhn)
    [{"id": 1, "code": "4111"}, {"id": 2, "code": "1111"}],  # two objects: no card's groups
])
def test_ordinary_lists_that_look_spread_still_pass(gate, sent):
    assert _post(gate, sent).forward, sent


def test_what_a_list_spreads_is_read_under_its_joined_field():
    fields = read_body(json.dumps({"parts": ["kira.ng", "example.org"]}).encode(),
                       "application/json").fields
    assert fields["parts.(joined)"] == (ADDRESS,)
    cards = read_body(json.dumps([{"g": "4111"}, {"g": "1111"}, {"g": "1111"},
                                  {"g": "1111"}]).encode(), "application/json").fields
    assert cards["(joined)"] == ("4111 1111 1111 1111",)


def test_a_turned_value_past_the_inspected_start_is_found(tmp_path, proxy_yaml):
    """The rest of a long body is scanned as text: values decoded were read there, values
    written backwards or in ROT47 were not (the start's were), and it was forwarded."""
    from lacuna.config import load_config

    gov = Governor(load_config(proxy_yaml(tmp_path, "{max_inspect_bytes: 4096, "
                                                    "fingerprints: false}")))
    gate = Gate(gov)
    clean = "region,n\n" + "".join(f"EU,{i}\n" for i in range(1000))
    sent = [(f"{clean}EU,{hidden}\n", False) for hidden in (
        f"{CARD[::-1]}\nEU,{CARD2[::-1]}", rot47(ADDRESS), "moc.elpmaxe@ana")]
    try:
        for text, allowed in (*sent, (clean, True)):
            body = text.encode()
            spooled = tmp_path / "body"
            spooled.write_bytes(body)
            v = gate.check(OutboundRequest(
                method="POST", url=EXTERNAL, headers={"content-type": "text/csv"},
                body=body[:4096], truncated=True, spooled=str(spooled), size=len(body)))
            assert v.forward is allowed, text[-40:]
    finally:
        gov.close()
