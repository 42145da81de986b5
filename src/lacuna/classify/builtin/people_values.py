"""Value recognizers for data about people: names, addresses, postal codes, gender, birth dates.

Names and addresses have no checksum; their validators (:mod:`lacuna.classify.people`) are
heuristics, so these recognizers demand more of a column than the checksum-backed ones: most
values must have the right shape, and a real share must pass the dictionary or street test.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from lacuna.classify import people
from lacuna.classify.base import ValueMatch, ValueRecognizer, value_recognizer
from lacuna.classify.scan import FIELD_NAMES, ColumnSample, PatternRecognizer
from lacuna.model import ColumnKind, Sensitivity

PII = ColumnKind.PII
# Words without digits or @; the first of two letters at least, or one Han or Hangul syllable
# (a Chinese or Korean family name: "梁 鑫").
NAME_SHAPE = r"(?:[^\d\s@/:;]{2,}|[\p{Han}\p{Hangul}])(?:[ ,]+[^\d\s@/:;]+){0,6}"
# A value with one of these is never NAME_SHAPE (RE2's \d is ASCII): a small sample without
# another value is answered without RE2, which NAME_SHAPE's \p{Han} needs.
_NOT_NAME = re.compile(r"[0-9@/:;]")
DATE_STRING = (r"\d{4}-\d{1,2}-\d{1,2}(?:[T ].*)?|\d{1,2}[./-]\d{1,2}[./-]\d{4}"
                r"|\d{4}/\d{1,2}/\d{1,2}")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y")
MAX_CHECKS = 200


@value_recognizer
class PersonNameValues(ValueRecognizer):
    """People's names: name-shaped values, a real share of them with a known name in them.

    Strong values (``people.name_strength``: a known name among several words, or a shipped
    given name alone) decide as before: half of them, or 15 % among 80 % name-shaped values.
    Weak ones — one known word that is not a shipped given name, as in a column of family
    names (``Schmidt``, ``Yılmaz``, ``Иванов``) — count only in bulk: strong and weak together
    at least ``WEAK_SHARE`` of the values, with 80 % name-shaped, among ``WEAK_BULK``
    name-shaped values at least: a word or three is no bulk (``beta``, ``delta`` and ``link``
    are family names in some locale; a JSON object's one key ``beta`` was people's names).
    """

    name, kind, pii_type, sensitivity = "person_name", PII, "name", Sensitivity.HIGH
    label = "people's names (known given or family names)"
    strength: ClassVar[float] = 0.85
    WEAK_SHARE: ClassVar[float] = 0.6
    WEAK_BULK: ClassVar[int] = 5

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        n = len(sample)
        if not n or sample.from_integers:
            return None
        if sample.strings is not None and all(_NOT_NAME.search(v) for v in sample.strings):
            return None
        count, picked = sample.candidates(NAME_SHAPE, MAX_CHECKS)
        if not picked:
            return None
        levels = {c: people.name_strength(c) for c in set(picked)}  # each distinct value once
        shaped = sum(1 for c in picked if levels[c] > people.NOT_A_NAME)
        valid = sum(1 for c in picked if levels[c] == people.STRONG)
        known = sum(1 for c in picked if levels[c] >= people.WEAK)
        scale = count / len(picked) / n
        shape_ratio, ratio, known_ratio = shaped * scale, valid * scale, known * scale
        # The names of fields: one given name among them is a field (``{"max": 10, "min":
        # 1}``, ``?grace=3``); an object keyed by people has several, or many family names.
        lone = sample.name.endswith(FIELD_NAMES) and sum(
            1 for level in levels.values() if level == people.STRONG) < 2
        if not lone and (ratio >= 0.5 or (shape_ratio >= 0.8 and ratio >= 0.15)):
            score = self.strength * (0.6 + 0.4 * max(ratio, shape_ratio * 0.9))
            return ValueMatch(self, "column", ratio, n, len(picked), round(score, 4))
        if (shape_ratio >= 0.8 and known_ratio >= self.WEAK_SHARE
                and len(picked) >= self.WEAK_BULK):
            score = self.strength * (0.6 + 0.2 * known_ratio)
            return ValueMatch(self, "column", known_ratio, n, len(picked), round(score, 4))
        if not lone and shape_ratio >= 0.8 and ratio >= 0.05:
            return ValueMatch(self, "column", ratio, n, len(picked), 0.4, weak=True)
        return None


@value_recognizer
class AddressValues(PatternRecognizer):
    """Street addresses, house number first or last, in a dozen languages."""

    name, kind, pii_type, sensitivity = "street_address", PII, "address", Sensitivity.HIGH
    label = "street addresses"
    prefilter = r"(?s).*[^\d\s].*"
    search = (r"(?P<value>\d{1,5}[A-Za-z]? [A-Z][a-z]+(?: [A-Z][a-z]+)* "
              r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Court|Ct|Boulevard|Blvd|Way)\b)")
    validator = "street_address"
    strength = 0.85
    min_ratio = 0.5


@value_recognizer
class PostalCodeValues(PatternRecognizer):
    """Postal codes with letters or a separator (UK, CA, NL, ZIP+4, ...); bare digits are weak."""

    name, kind, pii_type, sensitivity = "postal_code", PII, "postal_code", Sensitivity.MEDIUM
    label = "postal codes"
    numeric = True
    prefilter = r"[A-Za-z0-9]{2,4}[ -]?[A-Za-z0-9]{2,4}"
    bare = r"\d{4,5}"
    validator = "postal_code_any"
    strength = 0.8
    min_ratio = 0.8


@value_recognizer
class GenderValues(ValueRecognizer):
    """Gender words from a closed vocabulary, with both a male and a female form present."""

    name, kind, pii_type, sensitivity = "gender", PII, "gender", Sensitivity.MEDIUM
    label = "gender values"

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        n = len(sample)
        if not n or sample.from_integers:
            return None
        values = sample.values.slice(0, MAX_CHECKS).to_pylist()
        hits, both = people.gender_values(values)
        ratio = hits / len(values)
        if ratio >= 0.9 and both:
            return ValueMatch(self, "column", ratio, n, len(values), round(0.8 * ratio, 4))
        return None


@value_recognizer
class BirthDateValues(ValueRecognizer):
    """Dates of birth: past dates spread over decades, most putting the person at 16-100."""

    name, kind, pii_type, sensitivity = "dob", PII, "dob", Sensitivity.HIGH
    label = "dates that look like dates of birth (past, spread over decades, ages 16-100)"

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        dates = sample.dates if sample.dates is not None else _parse_dates(sample)
        if dates is None or len(dates) < 5:
            return None
        years = pc.year(dates).to_numpy(zero_copy_only=False)
        today = date.today()
        ages = today.year - years
        n = len(years)
        past = float((ages >= 0).mean())
        adults = float(((ages >= 16) & (ages <= 100)).mean())
        spread = float(_quantile(years, 0.9) - _quantile(years, 0.1))
        if past >= 0.99 and adults >= 0.8 and spread >= 15:
            return ValueMatch(self, "column", adults, n, n, round(0.75 * adults, 4))
        return None


def _parse_dates(sample: ColumnSample) -> pa.Array | None:
    if not len(sample) or sample.from_integers:
        return None
    found = sample.matching(DATE_STRING)
    if len(found) < 0.8 * len(sample):
        return None
    strings = pc.utf8_slice_codeunits(found, 0, 10)
    # Each value in the first format that reads it: exports mix ISO, US and European dates.
    parsed = pc.coalesce(*(pc.strptime(strings, format=fmt, unit="s", error_is_null=True)
                           for fmt in _DATE_FORMATS))
    parsed = pc.drop_null(parsed)
    if len(parsed) < 0.8 * len(found):
        return None
    return pc.cast(parsed, pa.date32())


def _quantile(values: Any, q: float) -> float:
    import numpy as np

    return float(np.quantile(values, q))
