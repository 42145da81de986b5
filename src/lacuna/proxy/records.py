"""A bare card number in a record beside a person's data: the record is its context.

The classifier reads one bare number of a card's length (``4111111111111111``) as no card
unless something around it says card (:class:`lacuna.classify.builtin.values.CardValues`):
a random 16-digit id passes the issuer and Luhn checks one time in 34, and an order number
sent alone was CRITICAL. A field of a structured body is not alone, though: in
``{"name": "Ana Lopez", "v": "4111111111111111"}`` the number sits in a person's record, and a
card number filed with a person's name, e-mail or phone number is cardholder data (PCI DSS),
whatever its key says. That record passed whenever the name was no known one.

The rule (:func:`cards_in_records`): a field whose bare numbers (values of 13 to 19 digits,
a string or a JSON number; its other values may be anything) pass the issuer and Luhn checks
(any one of them, however many others are beside it: each record is judged as it would be
alone, and five cards among 495 numbers that fail the checks, fewer than chance makes, hid
the list; not a GTIN's check digit), in the same object as a sibling field of a person's data
(classified PII or PHI, or named as such, ``name``, ``email``, ``phone``, and holding words
as a name is written), or of a card's own data (named as its expiry date or security code,
``exp``, ``exp_month``, ``cvv``, with a value of that shape: a card with its expiry date is
payment card data with no person beside it, PCI DSS), is a card number,
unless the classifier read the field as an identifier by its name (``order_id``, ``sku``,
``tracking_number``, ``ref``: those numbers are the record's own, and are read as any id's),
or as something no less strict than a card (a phone number). Any other class does not hide
the card: ids by their values (nine EINs beside one card: the card went out as an id), a
financial name (``{"name": ..., "balance": card}``) or a governed read's fingerprint of a
financial column that held the number (the field was FINANCIAL, INTERNAL, and the card went
to internal hosts, where cardholder data may not go); the card's class replaces it, and the
table keeps the tags it had. Siblings are the
fields of one object, or of an object that holds it (``customer.name`` beside ``customer.v``
or ``customer.payment.v``, not beside ``order.v``; a list's items share their parent's path,
a query's names and a form's are top-level). Names the proxy makes (``(keys)``, ``(path)``,
``.text``, ``.(decoded)``) are no record's fields, a key as sent is, whatever it looks like
(``v()``, ``text``: :attr:`lacuna.proxy.bodies.Payload.keyed`); the fields of a record
read under one (``payload.(decoded).v``, a JSON record sent base64-encoded) are. A number
may have marks around it that are no letter or digit (``" 4111111111111111."``), or other
numbers beside it in a value of no letters (a card with its expiry date and code,
``4111111111111111 12/27 123``), and is read as NFKC (full-width digits).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity

if TYPE_CHECKING:
    from lacuna.config import ClassificationConfig
    from lacuna.proxy.bodies import Payload

# a bare number, with at most marks around it that are no letter or digit (a space, a full
# stop, a "+", a zero-width space: "4111111111111111 " passed where "4111111111111111" did not)
_BARE = re.compile(r"[^\w]*([0-9]{13,19})[^\w]*")
_RUN = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")  # a card's length of digits, whole
_NFKC_MAX = 4096  # characters of a value read as NFKC
_NUMBERS_MAX = 256  # characters of a value of numbers read for runs (a row's few, not a file)
_MADE = ("(", ")")  # a name the proxy made starts with one of its tags in parentheses
_TAGS = frozenset({  # (lacuna.proxy.bodies and gate: KEYS, DECODED, JOINED, HEADER, ...)
    "keys", "decoded", "joined", "script", "file name", "outside parts", "part", "path", "host",
    "header", "headers", "header names", "in field names", "numbers in field names",
    "headers and path", "past max_fields"})
_WORDS = frozenset({"text", "lines"})  # a value read as free text: its tokens, its lines
_WORDED = re.compile(r"[^\W\d_]+(?:[ '.,-]+[^\W\d_]+)*\.?")  # letters in words, as a name


def cards_in_records(payload: Payload, found: Classification, config: ClassificationConfig,
                     sent: Mapping[str, tuple[str, ...]] | None = None) -> Classification:
    """``found`` (the classification of ``payload``'s fields) with each field that holds
    bare card numbers beside a person's field of the same object classified as card numbers
    (see the module's docstring), the table rolled up again; ``found`` itself when there is
    none (the common case: one look at each field's values). Siblings are looked for among
    ``sent`` (all the request's fields, also the headers' that were not classified: a JSON
    header's ``name`` beside its ``v``), by default ``payload``'s."""
    from lacuna.classify.checks import is_card_number
    from lacuna.classify.rollup import column_tier

    card_tier = config.tier_for(ColumnKind.PII, Sensitivity.CRITICAL)
    cards: dict[str, ColumnClass] = {}
    for name, values in payload.fields.items():
        if _made(name) and name not in payload.keyed:  # ({"text": card}: a key as sent)
            continue
        numbers = _field_numbers(values)
        if not numbers:
            continue  # (the common case)
        mine = found.columns.get(name)
        if mine is not None and (column_tier(mine, config) >= card_tier
                                 or (mine.classification is ColumnKind.IDENTIFIER
                                     and _id_by_name(name))):
            continue  # (a card already, a phone; an id by its name: the record's own)
        valid = sum(1 for v in numbers if is_card_number(v) and not _gtin(v))
        if not valid:
            continue
        # beside a card's expiry date or security code: payment card data on its own (PCI
        # DSS), whoever holds the card; beside a person's data, cardholder data. Each valid
        # number however many others surround it: a record is judged as it would be alone
        # (five cards padded with 495 numbers that fail the checks were fewer than chance
        # makes, and the list of records passed where each card record alone was refused)
        siblings = payload.fields if sent is None else sent
        if (beside := _card_data_beside(name, siblings)) is not None:
            why = f"beside {beside!r}, a card's expiry date or security code: payment card data"
        elif (person := _person_beside(name, siblings, found.columns)) is not None:
            why = f"in a record beside {person!r}, a person's data: cardholder data"
        else:
            continue
        cards[name] = ColumnClass(
            classification=ColumnKind.PII, pii_type="card_number",
            sensitivity=Sensitivity.CRITICAL, confidence=0.76, reasoning=(
                f"{valid} of {len(numbers)} bare numbers pass a card's issuer and Luhn checks, "
                f"{why}"))
    if not cards:
        return found
    from lacuna.classify.rollup import rollup

    columns = {**found.columns, **cards}
    result = rollup(columns, config, floor=found.floor, extra_tags=found.table_tags,
                    reasoning=[r for r in found.reasoning if " because of column(s): " not in r],
                    layer=found.layer)
    return replace(result, tags=tuple(dict.fromkeys([*result.tags, *found.tags])),
                   assumed=found.assumed)


_THIRTEEN = re.compile(r"[0-9]{13}")


def _field_numbers(values: tuple[str, ...]) -> list[str]:
    """The distinct numbers of a card's length ``values`` hold bare (:func:`_numbers`); one
    search of them joined first (a large body's fields: 290,000 values looked at one by one
    took a third of a second), as ASCII values hold one only in a run of 13 digits."""
    joined = "\n".join(values)
    if joined.isascii() and _THIRTEEN.search(joined) is None:
        return []
    return list(dict.fromkeys(n for v in values for n in _numbers(v)))


def _numbers(value: str) -> list[str]:
    """The numbers of a card's length ``value`` holds bare: itself with marks around it, or,
    in a value of no letters, each run of 13 to 19 digits (a card with its expiry date and
    code, ``4111111111111111 12/27 123``, ``4111111111111111|123``: forwarded); read as
    NFKC, as the classifier reads values (full-width digits, ``４１１１...``: forwarded)."""
    if len(value) <= _NFKC_MAX and not value.isascii():  # (a card's few digits, not a file)
        value = unicodedata.normalize("NFKC", value)
    if (m := _BARE.fullmatch(value)) is not None:
        return [m.group(1)]
    if len(value) > _NUMBERS_MAX or any(c.isalpha() for c in value):
        return []
    return _RUN.findall(value)


def _made(name: str) -> bool:
    """Whether ``name`` is one the proxy made (no field of a record as sent: an object's
    ``(keys)``, a value's tokens and lines); a record's fields under one it made (a JSON
    record sent base64-encoded, ``payload.(decoded).v``; a header's, ``(header) x-meta.v``)
    are fields of that record. Made by the proxy: a name in parentheses that it writes
    (:data:`_TAGS`), not any key with one (``{"name": ..., "v()": card}``, ``"v (x)"`` were
    no record's fields, and the card was forwarded)."""
    leaf = name.rpartition(".")[2]
    if leaf in _WORDS:
        return True
    return leaf.startswith(_MADE[0]) and leaf[1:leaf.find(_MADE[1])] in _TAGS


def _id_by_name(name: str) -> bool:
    """Whether ``name``'s last part reads as an identifier by itself (``order_id``, ``sku``):
    a field read as ids by its values (nine EINs beside one card) is no id by its name, and
    the card among them was forwarded."""
    from lacuna.classify.heuristic import _by_name, _engine

    own = name.rpartition(".")[2].lstrip("?")
    return _by_name(own, _engine().version).classification is ColumnKind.IDENTIFIER


def _person_beside(name: str, fields: Mapping[str, tuple[str, ...]],
                   columns: Mapping[str, ColumnClass]) -> str | None:
    """The first field of ``name``'s object, or of an object that holds it, that holds a
    person's data, as classified or by its name alone; None when there is none."""
    from lacuna.classify.heuristic import _by_name, _engine

    parent = _parent(name)
    for other in fields:
        if other == name or _made(other) or not _within(parent, _parent(other)):
            continue
        column = columns.get(other)
        if column is not None and column.is_personal:
            return other
        # named as a person's data, and holding words as a name is written (an unknown
        # name, "Zorblat Quux"; not an event's or a metric's name, "page_view", "bytes_in")
        own = other.rpartition(".")[2].lstrip("?")
        if (_by_name(own, _engine().version).classification in (ColumnKind.PII, ColumnKind.PHI)
                and any(_WORDED.fullmatch(v) for v in fields[other])):
            return other
    return None


# a card's other data, by its field's last part (separators and case aside; ``card_`` before
# it or not): its expiry date (``exp``, ``expiry_date``, ``exp_month``, ``valid_thru``) and
# its security code (``cvv``, ``cvc2``, ``csc``), each with a value of that shape
_EXPIRY_NAME = re.compile(r"(?:card)?(?:exp|expiry|expiration|validthru|validthrough|"
                          r"validuntil|goodthru)(?:date)?")
_MONTH_NAME = re.compile(r"(?:card)?(?:exp|expiry|expiration)(?:month|mon|mm)")
_YEAR_NAME = re.compile(r"(?:card)?(?:exp|expiry|expiration)(?:year|yr|yy|yyyy)")
# (not "cid", a customer's or a content id, nor "verification_code", a one-time code)
_CODE_NAME = re.compile(r"(?:card)?(?:cvv|cvv2|cvc|cvc2|csc|securitycode)")
_EXPIRY = re.compile(r"\s*(?:(?:0?[1-9]|1[0-2])\s*[/.-]\s*(?:[0-9]{2}|20[0-9]{2})"
                     r"|20[0-9]{2}\s*[/-]\s*(?:0?[1-9]|1[0-2])|(?:0[1-9]|1[0-2])[0-9]{2})\s*")
_MONTH = re.compile(r"\s*(?:0?[1-9]|1[0-2])\s*")
_YEAR = re.compile(r"\s*(?:[0-9]{2}|20[0-9]{2})\s*")
_CODE = re.compile(r"\s*[0-9]{3,4}\s*")
_CARD_DATA = ((_EXPIRY_NAME, _EXPIRY), (_MONTH_NAME, _MONTH), (_YEAR_NAME, _YEAR),
              (_CODE_NAME, _CODE))
_NAME_MARKS = re.compile(r"[\W_]+")


def _card_data_beside(name: str, fields: Mapping[str, tuple[str, ...]]) -> str | None:
    """The first field of ``name``'s object, or of an object that holds it, named as a
    card's expiry date or security code and holding a value of its shape (``12/27``,
    ``2027-12``, ``1227``; a month, a year; three or four digits); None when there is none.
    A card number with its expiry date is payment card data without a person's name (PCI
    DSS): ``{"v": "4111111111111111", "exp": "12/27"}`` was forwarded."""
    parent = _parent(name)
    for other in fields:
        if other == name or _made(other) or not _within(parent, _parent(other)):
            continue
        own = _NAME_MARKS.sub("", other.rpartition(".")[2].lstrip("?").casefold())
        for named, shaped in _CARD_DATA:
            if named.fullmatch(own) and any(shaped.fullmatch(v) for v in fields[other][:64]):
                return other
    return None


def _gtin(number: str) -> bool:
    """Whether ``number`` (13 or 14 digits) has a GTIN's check digit (EAN-13, GTIN-14): a
    product's barcode, which a 13-digit Visa number (long withdrawn) would match one time in
    ten; a German EAN-13 (``400...``) passes a Visa's issuer check, and Luhn one time in ten."""
    if len(number) not in (13, 14):
        return False
    body = [int(d) for d in number[:-1]]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == int(number[-1])


def _within(inner: str, outer: str) -> bool:
    """Whether the object at path ``inner`` is the one at ``outer`` or inside it (a number
    in ``{"name": ..., "payment": {"v": ...}}`` is in the person's record)."""
    return not outer or inner == outer or inner.startswith(outer + ".")


def _parent(name: str) -> str:
    return name.lstrip("?").rpartition(".")[0]
