"""Near misses: a name that promises a kind of value the sampled values do not hold.

When a column's name reads as a type that has a validator (``phone``, ``email``, ``ip``, ...),
its string values were sampled, and the validator found too few of them, the name's score is
multiplied by ``MISS_FACTOR`` and the explanation says so: "near miss: looked like a phone
number, but only 12% of 200 sampled values are valid phone numbers". An ambiguous name
(score 0.65) then falls below acceptance and the column is public; a clear one keeps its class
with less confidence, so the later layers take a look.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lacuna.classify.layers import CONFIRMED_BY
from lacuna.model import Evidence

if TYPE_CHECKING:
    from lacuna.classify.base import ValueMatch
    from lacuna.classify.names import NameResult
    from lacuna.classify.scan import ColumnSample

MISS_FACTOR = 0.7


def near_miss(
    name: NameResult, values: Sequence[ValueMatch], below: Sequence[ValueMatch],
    sample: ColumnSample | None,
) -> Evidence | None:
    """The near-miss evidence for a name the values do not bear out, or ``None``."""
    rec = name.match.recognizer
    rules = CONFIRMED_BY.get(rec.pii_type or "")
    if name.descriptor or rules is None or sample is None or not len(sample):
        return None
    if sample.from_integers:
        return None
    if any(v.recognizer.name in rules for v in values if not v.below):
        return None
    n = len(sample)
    partial = [v for v in below if v.recognizer.name in rules]
    if partial:
        best = max(partial, key=lambda v: v.ratio)
        found = f"only {best.ratio:.0%} of {n} sampled values are {best.recognizer.label}"
    else:
        found = f"none of {n} sampled values is {rec.label}"
    return Evidence(source="value", rule=f"near-miss:{rec.name}",
                    detail=f"near miss: looked like {rec.label}, but {found}", score=0.0)


# --- Value veto: values that clearly are not of the type the name promised --------------------
#
# A near miss lowers the name's weight; a veto removes it. The rules only fire on shapes that no
# genuine column of the type has, so a real column of the type is never vetoed by them:
#
# 1. flags: every value is one of a yes/no pair (0/1, yes/no, y/n, true/false, t/f) or the
#    column is boolean. A flag says whether something holds (``email`` = "did they give one"),
#    not the thing itself. Gender may be coded 0/1, so it is exempt.
# 2. categories: at least ``MIN_VALUES`` values but at most ``MAX_CATEGORIES`` distinct ones,
#    for types where every person has their own value and a validator says what a valid one
#    is (e-mail, phone, card, ...; not names and addresses, see ``FUZZY``, nor usernames),
#    when the values are words (``_CATEGORY``).
# 3. numbers: decimal numbers, or whole numbers too short for the type (``cell`` = 1..4 is not
#    a phone number, ``Cc7`` = 0/1 not a card number); names, e-mails, usernames, IP addresses
#    are never bare numbers.
# 4. ranges: an age above ``MAX_AGE`` or below 0; a numeric gender code outside 0-3 and 9.
# 5. things: values of a ``name`` column that are mostly not people's names: digits,
#    underscores, slashes, company words or words of places and organisations that are not
#    also surnames (``Citigroup Inc``, ``buick skylark 320``, ``classic_dlx``,
#    ``Livingston Municipal``); an ``address`` column whose values are single words or codes.

MIN_VALUES = 20
# Any valid value of the type blocks a veto (a few real phone numbers among "tbd" are still
# phone numbers: fail closed). Known names are fuzzier evidence ("William P Hobby" airport):
# for them it takes more than CONFIRMED_SHARE of the values.
CONFIRMED_SHARE = 0.5
# Names and addresses are recognized from word lists and patterns that miss many real ones, so
# a few distinct values are never enough to veto them: three customers' names repeated over an
# orders table stay names. They are vetoed only by their own rules (things, codes).
FUZZY = frozenset({"name", "address"})
MAX_CATEGORIES = 5
# Categories are words (yes/no/maybe, north_east, home/work): a value with a digit or other
# punctuation (12345678, 536 22 1234, ada.l) may be one person's own, repeated over rows.
_CATEGORY = re.compile(r"[^\W\d_]+(?:[ _/-][^\W\d_]+)*")
# Per-person values that are words themselves: a few distinct usernames are a few users.
WORD_VALUES = frozenset({"username"})
MAX_AGE = 125
THING_SHARE = 0.3
FLAG_PAIRS = (frozenset({"0", "1"}), frozenset({"yes", "no"}), frozenset({"y", "n"}),
              frozenset({"true", "false"}), frozenset({"t", "f"}))
# a 0/1 gender code is still a gender (and a yes/no under a name whose "whether" is personal,
# union_member, is the fact itself: NameRecognizer.whether_is_personal, never vetoed)
FLAG_EXEMPT = frozenset({"gender"})
PER_PERSON = frozenset({"email", "phone", "name", "address", "ssn", "national_id", "passport",
                        "drivers_license", "card_number", "username", "ip_address", "device_id",
                        "vin", "iban", "bank_account"})
NEVER_NUMBERS = frozenset({"email", "name", "username", "ip_address", "device_id", "vin",
                           "iban", "swift_bic"})
MIN_DIGITS = {"card_number": 12, "phone": 7, "ssn": 7, "national_id": 6, "passport": 6,
              "drivers_license": 5, "bank_account": 6, "postal_code": 3, "card_cvv": 3}
GENDER_CODES = frozenset({"0", "1", "2", "3", "9"})
MIN_SPACED = 0.1  # street addresses have a space ("12 Main St"); codes and regions do not
_THING = re.compile(r"[\d_/]")
# Words of places, organisations and products that are not also common surnames.
THING_WORDS = frozenset(re.findall(r"\w+", (
    "airport airpark heliport seaplane municipal regional international intl county memorial "
    "station township village university college hospital clinic corporation bank airlines "
    "motors industries technologies systems petroleum pharmaceuticals insurance financial "
    "energy electric telecom foods national federal highlands islands peninsula volcano river"
)))


def veto(
    name: NameResult, sample: ColumnSample | None, values: Sequence[ValueMatch] = (),
) -> Evidence | None:
    """Evidence that the values cannot be what the name says, or ``None`` (see rules above).

    Never when a value recognizer of the name's type found valid values (for names: more than
    half): a few customers' e-mail addresses repeated over many rows are still e-mail addresses.
    """
    rec = name.match.recognizer
    if (name.descriptor or sample is None or rec.kind.value not in ("pii", "financial")
            or rec.whether_is_personal):
        return None
    pii_type = rec.pii_type or rec.kind.value
    rules = CONFIRMED_BY.get(pii_type, frozenset())
    least = CONFIRMED_SHARE if pii_type in FUZZY else 0.0
    if any(v.recognizer.name in rules and v.ratio > least for v in values):
        return None
    why = _why_not(pii_type, sample)
    if why is None:
        return None
    return Evidence(source="value", rule=f"near-miss:{rec.name}:veto",
                    detail=f"near miss: looked like {rec.label}, but {why}", score=0.0)


def _why_not(pii_type: str, sample: ColumnSample) -> str | None:
    if sample.skipped == "booleans":
        return None if pii_type in FLAG_EXEMPT else "the values are true/false flags"
    if sample.skipped == "decimal numbers":
        if pii_type in PER_PERSON or pii_type in MIN_DIGITS or pii_type == "gender":
            return "the values are decimal numbers"
        return None
    n = len(sample)
    if not n:
        return None
    values = sample.values.to_pylist()
    distinct = {str(v).lower() for v in values}
    if pii_type not in FLAG_EXEMPT and any(distinct <= pair for pair in FLAG_PAIRS):
        shown = "/".join(sorted(distinct))
        return f"every sampled value is a {shown} flag: the column says whether, not what"
    if pii_type == "financial":
        return None
    if (pii_type in PER_PERSON and pii_type not in FUZZY | WORD_VALUES and n >= MIN_VALUES
            and len(distinct) <= MAX_CATEGORIES
            and all(_CATEGORY.fullmatch(v) for v in distinct)):
        return (f"{n} sampled values hold only {len(distinct)} distinct categories "
                f"({', '.join(sorted(distinct)[:MAX_CATEGORIES])})")
    numeric = sample.from_integers
    if numeric and pii_type in NEVER_NUMBERS:
        return "every sampled value is a number"
    if numeric and pii_type in MIN_DIGITS:
        longest = max(len(v.lstrip("-")) for v in values)
        if longest < MIN_DIGITS[pii_type]:
            return f"the sampled values are numbers of at most {longest} digits"
    if numeric and pii_type == "age":
        numbers = [int(v) for v in values]
        if max(numbers) > MAX_AGE or min(numbers) < 0:
            return f"the values run from {min(numbers)} to {max(numbers)}, outside any age"
    if numeric and pii_type == "gender" and not distinct <= GENDER_CODES:
        return f"{len(distinct)} distinct numbers are not gender codes"
    if pii_type == "address" and not numeric and n >= MIN_VALUES:
        spaced = sum(1 for v in values if " " in v)
        if spaced < MIN_SPACED * n:
            return (f"only {spaced} of {n} sampled values have more than one word: codes or "
                    "places, not street addresses")
    if pii_type == "name" and not numeric:
        things = sum(1 for v in values if _THING.search(v) or _company(v))
        if things >= THING_SHARE * n:
            return (f"{things} of {n} sampled values hold digits, underscores or company "
                    "words: names of things, not people")
    return None


def _company(value: str) -> bool:
    from lacuna.classify.people import COMPANY

    words = value.lower().replace(",", " ").replace(".", " ").split()
    if any(w in THING_WORDS for w in words):
        return True
    return len(words) > 1 and any(w in COMPANY and len(w) > 1 for w in words)
