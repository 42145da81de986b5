"""Values split into sibling fields, or written as character codes or base85, in what the proxy
sends, in process (no sockets); and the look-alikes of ordinary requests that still pass."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest

from lacuna.proxy.bodies import read_body, split_values
from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"
ADDRESS = b"kira.ng@example.org"



def _post(gate, body, content_type="application/json", url=EXTERNAL):
    return gate.check(OutboundRequest(method="POST", url=url, body=body,
                                      headers={"content-type": content_type}))


@pytest.mark.parametrize(("fields", "kind"), [
    ({"card1": "4111", "card2": "1111", "card3": "1111", "card4": "1111"}, "card"),
    ({"plan": "gold", "cc_1": "3782", "cc_2": "822463", "cc_3": "10005", "exp": "12/29"},
     "card"),
    ({"a": "5555", "b": "5555", "c": "5555", "d": "4444"}, "card"),  # all the values sent
    ({"card": ["4111", "1111", "1111", "1111"]}, "card"),
    ({"card4": "1111", "exp": "12/29", "card1": "4111", "card3": "1111", "card2": "1111"},
     "card"),  # in the numbers' order, whatever is between
    ({"card1": 4111, "card2": 1111, "card3": 1111, "card4": 1111}, "card"),  # numbers
    ({"user": "kira.ng", "domain": "example.org"}, "e-mail"),
    ({"domain": "example.org", "plan": "gold", "mailbox": "kira.ng"}, "e-mail"),
    ({"box": "kira.ng", "mail_server": "example.org"}, "e-mail"),
])
def test_a_value_split_into_sibling_fields_is_found(gate, fields, kind):
    """Each piece alone was no value a recognizer finds: the request was forwarded."""
    refused = _post(gate, json.dumps(fields).encode())
    assert refused.status == 451
    assert kind in refused.body.decode().lower()


def test_a_value_split_into_form_fields_parameters_or_headers_is_found(gate):
    split = {"user": "kira.ng", "domain": "example.org"}
    assert _post(gate, urlencode(split).encode(), "application/x-www-form-urlencoded"
                 ).status == 451
    assert gate.check(OutboundRequest(method="GET", url=f"{EXTERNAL}?{urlencode(split)}")
                      ).status == 451
    repeated = "?c=4111&c=1111&c=1111&c=1111"  # one name sent again
    assert gate.check(OutboundRequest(method="GET", url=EXTERNAL + repeated)).status == 451
    headers = {f"x-part-{n}": group for n, group in enumerate(("4111", "1111", "1111", "1111"))}
    assert gate.check(OutboundRequest(method="GET", url=EXTERNAL, headers=headers)).status == 451
    headers["x-part-3"] = "1112"  # (no card: the same request passes)
    assert gate.check(OutboundRequest(method="GET", url=EXTERNAL, headers=headers)).forward
    assert gate.check(OutboundRequest(method="GET", url=EXTERNAL + repeated[:-1] + "2")).forward
    # a card's groups as path segments; dates and versions in a path pass
    assert gate.check(OutboundRequest(method="GET", url=f"{EXTERNAL}/v1/4111/1111/1111/1111")
                      ).status == 451
    for path in ("/v1/4111/1111/1111/1112", "/archive/2024/1105/0930/1200", "/v2/1234/5678"):
        assert gate.check(OutboundRequest(method="GET", url=EXTERNAL + path)).forward, path


@pytest.mark.parametrize("fields", [
    {"y1": "2019", "y2": "2020", "y3": "2021", "y4": "2022"},  # no issuer's number
    {"shelf": "4111", "bin": "1111", "row": "1111", "room": "1111", "x": "y"},  # not numbered
    {"q1": 4111, "q2": 1111, "q3": 1111, "q4": 1111},  # numbers not named card
    {"a": "4111", "b": "1111", "c": "1111", "d": "1111", "e": "1111"},  # no card's grouping
    {"a": "4111", "b": "1111", "c": "1111", "d": "1111", "e": "open"},  # not all of them
    {"card1": "411", "card2": "11111", "card3": "1111", "card4": "1111"},  # no card grouping
    {"user": "postgres", "host": "db.internal.corp"},  # a host is a domain beside a mailbox
    {"title": "Welcome", "url": "example.org"},
    {"user": "kira.ng", "domain": "localhost"},  # no domain name
])
def test_siblings_that_are_no_split_value_pass(gate, fields):
    assert _post(gate, json.dumps(fields).encode()).forward


def test_split_values_joins_only_validated_shapes():
    assert split_values([("n1", "4111"), ("n2", "1111"), ("n3", "1111"), ("n4", "1111")]) == [
        "4111 1111 1111 1111"]  # (in its groups: a card's own writing)
    assert split_values([("n1", "4111"), ("n2", "1111"), ("n3", "1111"), ("n4", "1112")]) == []
    assert split_values([("login", "kira.ng"), ("domain", "example.org")]) == [
        "kira.ng@example.org"]


@pytest.mark.parametrize("note", [
    ",".join(str(b) for b in ADDRESS),
    str(list(ADDRESS)),
    ",".join(hex(b) for b in ADDRESS),
    "".join(f"\\{b:03o}" for b in ADDRESS),  # octal escapes
    base64.a85encode(ADDRESS).decode(),
    f"<~{base64.a85encode(ADDRESS).decode()}~>",
    base64.b85encode(ADDRESS).decode(),
    "String.fromCharCode(" + ",".join(str(b) for b in ADDRESS) + ")",
    " ".join(f"{b:08b}" for b in ADDRESS),  # bits
    "".join(f"{b:08b}" for b in ADDRESS),
    ADDRESS.decode().encode("utf-16-le").hex(),  # UTF-16 without a mark, as hex
    "".join(f"%u{b:04x}" for b in ADDRESS),  # JavaScript's escape()
    "".join(f"={b:02X}" for b in ADDRESS),  # quoted-printable
    "4111x1111x1111x1111",
    "4111+1111+1111+1111",
    "4111:1111:1111:1111",
])
def test_a_value_in_character_codes_or_base85_is_refused(gate, note):
    """One value alone: the column-wide decoding of the classifier needs two."""
    refused = _post(gate, json.dumps({"note": note}).encode())
    assert refused.status == 451


def test_a_json_list_of_character_codes_is_read_as_text():
    payload = read_body(json.dumps({"note": list(ADDRESS)}).encode(), "application/json")
    assert ADDRESS.decode() in payload.fields["note.(decoded).text"]


@pytest.mark.parametrize("note", [
    "78,85,92,67,90,91",  # scores: no address in what they write
    "1920x1080",
    "2024-01-15T10:00:00Z",
    "550e8400-e29b-41d4-a716-446655440000",
    "4.2.1+build.77",
    "width=40px; margin=0",
    "0101010111111111",
])
def test_ordinary_values_pass(gate, note):
    assert _post(gate, json.dumps({"note": note, "list": [1, 2, 3, 4, 5, 6]}).encode()).forward
