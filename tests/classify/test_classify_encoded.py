"""Values encoded to slip past the patterns (lacuna.classify.encoded): read decoded."""

from __future__ import annotations

import base64
import hashlib
import random
from urllib.parse import quote

import pytest

from lacuna.classify import classify_columns
from lacuna.model import ColumnKind

EMAILS = ["ana@example.com", "bob.lee@test.org", "carl@foo.net", "dora@mail.de",
          "eve@corp.co.uk", "fred@x.io"]
CARDS = ["4111 1111 1111 1111", "5500 0055 5555 5559", "4012 8888 8888 1881",
         "6011 1111 1111 1117"]
PHONES = ["+44 20 7946 0958", "+1 415 555 0100", "+49 30 1234 5670", "+33 1 42 68 53 00"]


def col(values, name="col_7"):
    return classify_columns([name], {name: values}, cascade=False)[name]


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("values", "pii_type"),
    [
        ([b64(e) for e in EMAILS], "email"),
        ([base64.urlsafe_b64encode(e.encode()).decode().rstrip("=") for e in EMAILS], "email"),
        ([b64(b64(e)) for e in EMAILS], "email"),  # twice
        ([e.encode().hex() for e in EMAILS], "email"),
        ([e.encode().hex().upper() for e in EMAILS], "email"),
        ([c.encode().hex() for c in CARDS], "card_number"),  # digits alone: "4111 ..." as hex
        ([b64(c) for c in CARDS], "card_number"),
        ([b64(p) for p in PHONES], "phone"),
        (["".join(f"&#{ord(ch)};" for ch in e) for e in EMAILS], "email"),
        (["".join(f"&#x{ord(ch):x};" for ch in e) for e in EMAILS], "email"),
        (["".join(f"%{ord(ch):02X}" for ch in e) for e in EMAILS], "email"),
        ([quote(p, safe="") for p in PHONES], "phone"),  # %2B44%2020%207946%200958
        ([quote(quote(c, safe=""), safe="") for c in CARDS], "card_number"),  # %2520
        (["".join(f"\\u{ord(ch):04x}" for ch in e) for e in EMAILS], "email"),
        ([f"to: {quote(e, safe='')} (sent)" for e in EMAILS], "email"),
        # HTML tags and comments splitting the address, the ideographic full stop as a dot
        ([e.replace("@", "<span>@</span>") for e in EMAILS], "email"),
        ([e.replace("@", "<!-- x -->@<b></b>") for e in EMAILS], "email"),
        ([f"<p>write to {e.replace('@', '<i>@</i>')}</p>" for e in EMAILS], "email"),
        ([e.replace(".", "\u3002") for e in EMAILS], "email"),
        ([f"Ana <{e}>" for e in EMAILS], "email"),  # angle brackets: no tag
        # hex as a dump writes it: "0x" first, its bytes split by spaces or colons
        (["0x" + e.encode().hex() for e in EMAILS], "email"),
        ([" ".join(f"{b:02x}" for b in e.encode()) for e in EMAILS], "email"),
        ([":".join(f"{b:02X}" for b in c.encode()) for c in CARDS], "card_number"),
    ],
)
def test_encoded_values_are_read_decoded(values, pii_type):
    """Each was PUBLIC: base64, hex, character references, percent-encoding and escapes hid
    the value from every recognizer."""
    got = col(values)
    assert got.pii_type == pii_type, got.reasoning
    assert got.classification != ColumnKind.PUBLIC


_R = random.Random(7)


@pytest.mark.parametrize(
    "values",
    [
        [base64.urlsafe_b64encode(_R.randbytes(16)).decode().rstrip("=") for _ in range(64)],
        [base64.b64encode(_R.randbytes(12)).decode() for _ in range(64)],
        [_R.randbytes(12).hex() for _ in range(64)],
        [hashlib.sha256(str(i).encode()).hexdigest() for i in range(64)],
        ["0x" + _R.randbytes(8).hex() for _ in range(64)],  # addresses, hashes after "0x"
        [" ".join(f"{b:02x}" for b in _R.randbytes(16)) for _ in range(64)],
        ["Password", "Construction", "Abcdefgh", "HelloWorld", "TestCase", "Sunflower"] * 8,
        [str(_R.randrange(10**15, 10**16)) for _ in range(64)],
        [b64("The quick brown fox jumps"), b64("status: shipped"), b64("hello world")] * 8,
        [f"https://example.com/search?q=hello%20world&page={i}" for i in range(32)],
        ["Fish &amp; Chips", "caf&eacute; au lait", "5 &lt; 6", "\\u00e9t\\u00e9"] * 8,
        ["<p>Order <b>shipped</b></p>", "x<y and y>z", "<br/>done", "a <!-- note --> b",
         "これは。テストです。", "<a href='/help'>help</a>"] * 6,
    ],
)
def test_encoded_public_values_stay_public(values):
    got = col(values)
    assert got.classification == ColumnKind.PUBLIC, got.reasoning


def test_card_numbers_that_are_valid_hex_of_text_stay_card_numbers():
    """5555555555554444 is valid hex of "UUUUUUDD": a number is read as hex only when it
    encodes a number written out."""
    got = col(["5555555555554444", "4444333322221111", "5105105105105100"] * 20)
    assert (got.classification, got.pii_type) == (ColumnKind.PII, "card_number")


def test_mac_addresses_are_not_read_as_hex_bytes():
    """A MAC address is hex bytes split by colons: its column stays MAC addresses."""
    macs = [":".join(f"{b:02x}" for b in _R.randbytes(6)) for _ in range(64)]
    assert col(macs).pii_type == "device_id"
