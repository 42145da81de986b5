"""Small samples match the built-in patterns in Python's ``re``; large ones in RE2 (pyarrow).

The two engines must find the same values: every vetted pattern is run over a corpus of
realistic values (Faker, many locales) and their edges (non-ASCII digits, ``\\v``, a final
newline, case folding) in both, and whole classifications of small columns are compared with
the Python engine on and off.
"""

from __future__ import annotations

import random
import time

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from faker import Faker

from lacuna.classify import classify
from lacuna.classify import scan as scan_module
from lacuna.classify.builtin import VETTED, people_values
from lacuna.classify.scan import _python_pattern, column_sample, vet_patterns

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "ja_JP", "ko_KR", "zh_CN",
           "ru_RU", "tr_TR", "pt_BR", "hi_IN")
EDGES = [
    "", " ", "\v", "a\vb", "123\v456", "١٢٣٤٥٦٧٨٩٠١٢", "１２３-４５-６７８９", "123-45-6789\n",
    "ada@example.org\n", "\u212a", "\u017f", "SS", "ß", "a\u00a0b", "x\ny",
    "GB29 NWBK 6016 1331 9268 19", "DEUTDEFF", "DEUTDEFF500", "MORGA753116SM9IJ",
    "morga753116sm9ij",
    "deutdeff", "4111 1111 1111 1111", "4111-1111-1111-1111",
    "+1 (415) 555-0100 ext. 12", "0044 20 7946 0958", "10.0.0.1", "999.1.1.1", "::1",
    "fe80::1%eth0", "2001:db8::ff00:42:8329", "00:1B:44:11:3A:B7", "00-1b-44-11-3a-b7",
    "1HGCM82633A004352", "https://example.org/a?b=c", "http://x", "$2b$12$" + "a" * 53,
    "550e8400-e29b-41d4-a716-446655440000", "SW1A 1AA", "12345-6789", "E11.9", "A00",
    "12-3456789", "USD 1,234.50", "€12", "-12.5", "MRN-0012345", "ORD/123456",
    "221B Baker Street", "12 Main St", "Maria Garcia", "梁 鑫", "김민준", "O'Brien",
    "1990-05-17", "17.05.1990", "05/17/1990", "1990/05/17", "1990-05-17T10:00:00",
    "call +1 415 555 0100 now", "mail: a.b@c.co, d@e.org", "ssn 123-45-6789.", "🙂 ada@x.org",
    "a" * 64, "1" * 64, ("a," * 32)[:64], ("1 " * 32)[:64], "@" * 64, ("a." * 32)[:64],
]


def _corpus() -> list[str]:
    rng = random.Random(7)
    values = list(EDGES)
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(11)
        for _ in range(10):
            for method in ("email", "phone_number", "name", "address", "street_address",
                           "postcode", "ipv4", "ipv6", "mac_address", "uuid4", "url", "date",
                           "iban", "swift", "credit_card_number", "ssn", "license_plate",
                           "company", "job", "sentence"):
                try:
                    value = str(getattr(fake, method)())
                except AttributeError:
                    continue
                values.append(value)
                values.append(value.upper())
                cut = rng.randrange(len(value) + 1)  # boundaries: a piece, a character less
                values.append(value[:cut])
                values.append(value[:cut] + value[cut + 1:])
    return values


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """Built when a test asks for it, once per module (not at collection, on every worker)."""
    return _corpus()


@pytest.mark.parametrize("pattern", sorted(VETTED))
def test_each_vetted_pattern_matches_the_same_values_in_both_engines(
    pattern: str, corpus: list[str]
) -> None:
    compiled = _python_pattern(pattern)
    array = pa.array(corpus, type=pa.string())
    assert compiled is not None
    re2 = pc.match_substring_regex(array, f"^(?:{pattern})$").to_pylist()
    python = [compiled.fullmatch(v) is not None for v in corpus]
    differ = [v for v, a, b in zip(corpus, re2, python, strict=True) if a != b]
    assert not differ, f"{pattern!r} reads {differ[:5]!r} otherwise in Python"
    assert any(re2), f"the corpus never matches {pattern!r}: it tests nothing"
    if "(?P<value>" in pattern:
        extracted = pc.extract_regex(array, pattern).to_pylist()
        for value, got in zip(corpus, extracted, strict=True):
            m = compiled.search(value)
            assert (None if got is None else got["value"]) == (m and (m.group("value") or "")), \
                value


def test_every_builtin_pattern_is_vetted_but_the_one_python_cannot_read() -> None:
    assert people_values.NAME_SHAPE not in VETTED  # \p{Han}: RE2 alone
    assert people_values.DATE_STRING in VETTED
    assert len(VETTED) >= 30


@pytest.mark.parametrize("pattern", [
    r"[\p{Han}]+", r"[[:alpha:]]+", r"a{,3}", r"(?i)abc", r"(a)\1", r"a(?=b)", r"\z", r"\Qa\E",
    r"[\S]", r"(?m)^a$", r"\x{41}", r"[[a]]",
])
def test_patterns_python_reads_otherwise_stay_in_re2(pattern: str) -> None:
    assert _python_pattern(pattern) is None


def test_translation_keeps_re2s_meaning_of_whitespace_digits_and_end_of_text() -> None:
    space = _python_pattern(r"a\sb")
    assert space is not None
    assert space.fullmatch("a b")
    assert not space.fullmatch("a\vb")
    digits = _python_pattern(r"[^\d\s]+")
    assert digits is not None
    assert digits.fullmatch("١٢٣")
    assert not digits.fullmatch("12")
    end = _python_pattern(r"x(?:,|$)")
    assert end is not None
    assert end.search("x")
    assert not end.search("x\n")


def test_patterns_from_configuration_are_never_run_in_python() -> None:
    sample = column_sample("c", pd.Series(["alpha", "beta"], dtype=object))
    assert sample.strings is not None  # small: the engine is there for vetted patterns
    assert sample._small(r"alpha|beta") is None  # not vetted: RE2
    assert vet_patterns(r"(?i)x") == frozenset()


COLUMNS = {
    "emails": [f"user{i}@example.org" for i in range(40)],
    "phones": [f"+1 415-555-{i:04d}" for i in range(40)],
    "names": ["Maria Garcia", "John Smith", "Anna Müller", "Wei Zhang", "梁 鑫"] * 8,
    "bics": ["DEUTDEFF", "BNPAFRPP", "COBADEFFXXX", "NWBKGB2L"] * 10,
    "ibans": ["GB29 NWBK 6016 1331 9268 19", "DE89370400440532013000"] * 20,
    "notes": ["reach me at a.b@example.org", "no contact", "call +44 20 7946 0958 please"] * 10,
    "dates": [f"19{50 + i}-0{1 + i % 9}-1{i % 10}" for i in range(40)],
    "labels": [f"customer_id_{i}" for i in range(40)],
    "mixed": ["DEUTDEFF", "region", "amount", "ada@example.org", "12 Main St"] * 6,
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_a_small_column_classifies_alike_in_both_engines(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {"c": COLUMNS[name]}
    fast = classify(data, cascade=False)
    monkeypatch.setattr(scan_module, "SMALL_VALUES", -1)  # every sample to RE2
    slow = classify(data, cascade=False)
    assert column_sample("c", pd.Series(COLUMNS[name], dtype=object)).strings is None
    assert fast.columns["c"] == slow.columns["c"]
    assert fast.tier == slow.tier
    assert fast.reasoning == slow.reasoning


def test_hostile_small_values_do_not_backtrack_for_long() -> None:
    """Python's re backtracks: a small sample's values are short (SMALL_CHARS), so the vetted
    patterns' worst cases (a search failing at every start) stay small."""
    width = scan_module.SMALL_CHARS
    hostile = [("0-." * 64)[: width - 1] + "@", ("a," * 64)[:width], ("1 " * 64)[:width],
               "@" * width, ("a." * 64)[: width - 1] + "!", ("a@b." * 32)[:width],
               ("Ab " * 43)[:width], ("1A" * 64)[: width - 1] + "\x00"] * 16
    assert column_sample("c", pd.Series(hostile, dtype=object)).strings is not None
    start = time.perf_counter()
    classify({"c": hostile}, cascade=False)
    assert time.perf_counter() - start < 5  # seconds: a guard against a hang, not a budget
