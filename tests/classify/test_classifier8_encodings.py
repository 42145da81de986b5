"""Values written in encodings the value scan did not read: character codes, octal escapes,
base85 and base32, card digits split by ``x``, ``+`` or ``:``; and ordinary data that must stay
what it is (versions, times, ids, sizes, hashes)."""

from __future__ import annotations

import base64

import pyarrow as pa
import pytest

from lacuna.classify.encoded import coded_text, decoded
from lacuna.classify.heuristic import classify_columns

EMAILS = ("kira.ng@example.org", "ana.silva@example.com", "bo.chen@example.net",
          "cy.diaz@mail.example.co.uk")
CARDS = ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117")


def _column(values):
    return classify_columns(["c"], {"c": list(values) * 3}, cascade=False)["c"]


def _grouped(card, separator):
    return separator.join(card[i:i + 4] for i in range(0, len(card), 4))


@pytest.mark.parametrize(("values", "kind"), [
    ([",".join(str(b) for b in e.encode()) for e in EMAILS], "email"),
    ([str(list(e.encode())) for e in EMAILS], "email"),  # [107, 105, ...]
    ([" ".join(hex(b) for b in e.encode()) for e in EMAILS], "email"),  # 0x6b 0x69 ...
    (["".join(f"\\{b:03o}" for b in e.encode()) for e in EMAILS], "email"),  # \153\151 ...
    ([base64.a85encode(e.encode()).decode() for e in EMAILS], "email"),
    ([f"<~{base64.a85encode(e.encode()).decode()}~>" for e in EMAILS], "email"),
    ([base64.b85encode(e.encode()).decode() for e in EMAILS], "email"),
    ([base64.b32encode(e.encode()).decode() for e in EMAILS], "email"),
    ([base64.b32encode(e.encode()).decode() for e in ("ana@example.org", "bo.li@example.net",
                                                      "kira@example.com", "cy@example.io")],
     "email"),  # padded with 1, 3, 4 and 6 "="
    (["String.fromCharCode(" + ",".join(str(b) for b in e.encode()) + ")" for e in EMAILS],
     "email"),
    ([" ".join(f"{b:08b}" for b in e.encode()) for e in EMAILS], "email"),  # bits
    (["".join(f"{b:08b}" for b in e.encode()) for e in EMAILS], "email"),
    ([e.encode("utf-16-le").hex() for e in EMAILS], "email"),  # UTF-16 without a mark
    ([base64.b64encode(e.encode("utf-16-be")).decode() for e in EMAILS], "email"),
    (["".join(f"%u{b:04x}" for b in e.encode()) for e in EMAILS], "email"),  # escape()
    (["".join(f"={b:02X}" for b in e.encode()) for e in EMAILS], "email"),  # quoted-printable
    ([_grouped(c, "x") for c in CARDS], "card_number"),
    ([_grouped(c, "+") for c in CARDS], "card_number"),
    ([_grouped(c, ":") for c in CARDS], "card_number"),
])
def test_encoded_values_are_read_decoded(values, kind):
    """Each column was PUBLIC: no recognizer matched the values as written."""
    column = _column(values)
    assert (column.classification.value, column.pii_type) == ("pii", kind)


@pytest.mark.parametrize("value", [
    "ana=40example.com",  # quoted-printable's "@" alone
    "ana\\100example.com",  # one octal escape: the "@"
    "\\u{61}na@example.com",  # ES6's code point escape
])
def test_single_escapes_are_read(value):
    assert decoded(pa.array([value])).to_pylist() == [value.replace("\\100", "@")
                                                      .replace("\\u{61}", "a")
                                                      .replace("=40", "@")]


def test_an_octal_looking_folder_keeps_what_it_names():
    """A single escape that writes a letter or a digit is left as written: read as ``S``, a
    Windows path's SSN folder was lost."""
    path = "C:\\clients\\123-45-6789\\scan.pdf"
    assert decoded(pa.array([path])).to_pylist() == [path]


@pytest.mark.parametrize("value", [
    "10,20,30,40",  # codes below a printable character
    "255,128,0",  # a colour
    "1.2.3.4",
    "2024-01-15T10:00:00Z",
    "Password1!",
    "hello-world",
    "x9$kL!2qPz##",
    "d41d8cd98f00b204e9800998ecf8427e",
    "01010101 11111111 00000000 10101010",  # bits that are no text
])
def test_ordinary_values_are_not_character_codes_or_base85(value):
    assert coded_text(value) is None


@pytest.mark.parametrize("values", [
    ["1.2.3", "10.4.22", "2.31.0", "3.11.4"],
    ["2024-01-15T10:00:00Z", "2023-12-31 23:59:59", "2024:01:15 10:30:00", "10:30:00"],
    ["ORD-2024-000123", "ORD-2024-000124", "INV-77812", "PO-99812"],
    ["d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "5d41402abc4b2a76b9719d911017c592", "e3b0c44298fc1c149afbf4c8996fb924"],
    ["1920x1080", "1280x720x24", "4111x1111", "3840x2160"],
    ["16:9", "4:3", "21:9", "1:1"],
    ["78,85,92,67", "90,91,88,70", "55,60,65,70", "80,82,84,86"],
    ["DEUTDEFF", "JOHNSON", "PENDING", "SHIPPED"],  # base32's alphabet
    ["width=40px", "a=1&b=2", "x=3D", "limit=40&offset=0"],  # no quoted-printable run
    ["SGVsbG8gd29ybGQ=", "dGVzdA==", "Zm9vYmFy", "YmFyYmF6"],  # base64 of words
])
def test_ordinary_columns_stay_public(values):
    column = _column(values)
    assert (column.classification.value, column.pii_type) == ("public", None)
