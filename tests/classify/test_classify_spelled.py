"""Values written to slip past the patterns (a separator between every character, digits as
words, a comma for a dot, separators the patterns did not take): read as they spell. And
dotted digit runs that are no phone numbers."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from lacuna.classify import classify_columns
from lacuna.classify.checks import is_iban, is_phone
from lacuna.classify.identity import is_national_id
from lacuna.classify.spelled import read_spelled
from lacuna.model import ColumnKind

EMAILS = ["ana@example.com", "bob.lee@test.org", "carl@foo.net", "dora@mail.de",
          "eve@corp.co.uk", "fred@x.io"]
CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "6011111111111117"]
SSNS = ["536904399", "123456788", "234567891", "345678912"]
PHONES = ["+442079460958", "+14155550100", "+493012345670", "+33142685300"]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
IBANS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606"]


def col(values, name="col_7"):
    return classify_columns([name], {name: values}, cascade=False)[name]


FR = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
DE = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]
ES = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
IT = ["zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove"]
PT = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove"]


def spelled(digits, words=WORDS):
    return " ".join("plus" if d == "+" else words[int(d)] for d in digits)


def grouped(iban, sep):
    return sep.join(iban[i : i + 4] for i in range(0, len(iban), 4))


@pytest.mark.parametrize(
    ("values", "pii_type"),
    [
        ([" ".join(e) for e in EMAILS], "email"),  # a n a @ e x a m p l e . c o m
        (["\n".join(e) for e in EMAILS], "email"),  # one character per line
        (["\r\n".join(e) for e in EMAILS], "email"),
        ([f"write to {' '.join(e)} today" for e in EMAILS], "email"),  # inside text
        ([" - ".join(c) for c in CARDS], "card_number"),  # wider than the card pattern
        (["-".join("4000056655665556783")] * 4, "card_number"),  # 19 digits
        ([" ".join(s) for s in SSNS], "ssn"),  # 5 3 6 9 0 4 3 9 9
        (["_".join(s) for s in SSNS], "ssn"),
        (["  ".join(e) for e in EMAILS], "email"),  # two spaces between the characters
        (["\n\n".join(e) for e in EMAILS], "email"),  # a blank line between them
        ([spelled(c) for c in CARDS], "card_number"),  # four one one one ...
        ([spelled(c).replace("one one", "double one").replace("five five", "double five")
          for c in CARDS], "card_number"),  # four double one ...
        ([" ".join(d if i % 2 else WORDS[int(d)] for i, d in enumerate(c)) for c in CARDS],
         "card_number"),  # four 1 one 1 ...
        ([spelled(s) for s in SSNS], "ssn"),
        ([spelled(p) for p in PHONES], "phone"),  # plus four four two zero ...
        ([spelled(p).replace(" ", ", ").upper() for p in PHONES], "phone"),
        (["ana@example,com", "carl@foo,net", "dora@mail,de", "fred@x,io", "eve@corp,co,uk"],
         "email"),  # ana@example,com
        ([e.replace("@example.com", "@mail,example,com") for e in EMAILS[:1]] * 6, "email"),
        # something else typed for the domain's dot
        ([e.replace(".", ", ") for e in EMAILS], "email"),  # ana@example, com
        ([e.replace(".", " , ") for e in EMAILS], "email"),
        ([e.replace(".", ";") for e in EMAILS], "email"),  # ana@example;com
        ([e.replace(".", " ; ") for e in EMAILS], "email"),
        ([e.replace(".", "-dot-") for e in EMAILS], "email"),  # ana@example-dot-com
        ([e.replace(".", "_DOT_") for e in EMAILS], "email"),
        ([e.replace(".", " 'dot' ") for e in EMAILS], "email"),
        ([e.replace(".", "\u00b7") for e in EMAILS],
         "email"),  # a middle dot
        ([e.replace(".", ". ") for e in EMAILS], "email"),  # ana@example. com
        (["ana@exampledotcom", "bob@testdotorg", "carl@foodotnet", "fred@xdotio"], "email"),
        ([f"write to {e.replace('.', ' ; ')} today" for e in EMAILS], "email"),
        (["ana at example, com", "bob at test; org", "carl at foo-dot-net"] * 2, "email"),
        # one separator written two ways, inside text
        ([f"card {c[:4]}-{c[4:8]} {c[8:12]}.{c[12:]} thanks" for c in CARDS], "card_number"),
        ([f"ssn {s[:3]}-{s[3:5]} {s[5:]} on file" for s in SSNS], "ssn"),
        ([f"ssn {s[:3]} {s[3:5]}-{s[5:]} on file" for s in SSNS], "ssn"),
        # single digits whose separators change along the value
        (["  ".join(" ".join(c[i : i + 4]) for i in range(0, 16, 4)) for c in CARDS],
         "card_number"),  # 4 1 1 1  1 1 1 1 ...
        (["-".join(" ".join(p) for p in (s[:3], s[3:5], s[5:])) for s in SSNS], "ssn"),
        # digit words in French, German, Spanish, Italian, Portuguese
        ([spelled(c, FR) for c in CARDS], "card_number"),  # quatre un un un ...
        ([spelled(s, DE) for s in SSNS], "ssn"),  # fünf drei sechs ...
        ([spelled(c, ES).upper() for c in CARDS], "card_number"),
        ([spelled(p, IT) for p in PHONES], "phone"),
        ([spelled(s, PT).replace(" ", ", ") for s in SSNS], "ssn"),
        (["AB.12.34.56.C", "JG.10.37.52.A", "NE.12.34.56.D", "CE-12-34-56-B"], "national_id"),
        ([grouped(i, "/") for i in IBANS], "iban"),
        ([grouped(i, "_") for i in IBANS], "iban"),
        ([f"iban{i}" for i in IBANS], "iban"),  # glued to the words around it
        ([f"pay{i}thanks" for i in IBANS], "iban"),
        ([f"IBAN:{i}XY" for i in IBANS], "iban"),  # more capitals after it
        (["555.123.4567", "415.555.0100", "212.555.0123", "1.646.555.0199"], "phone"),
    ],
)
def test_values_written_to_dodge_the_patterns_are_found(values, pii_type):
    """Each was PUBLIC: no pattern took a value split at every character, its digits as words,
    a comma for the domain's dot, an NI number's dots, an IBAN's slashes or underscores, or an
    IBAN glued to a word."""
    got = col(values)
    assert got.pii_type == pii_type, got.reasoning
    assert got.classification != ColumnKind.PUBLIC


_R = random.Random(5)


@pytest.mark.parametrize(
    "values",
    [
        # dotted digit runs: versions, address-like values, dotted dates (were phone numbers)
        [f"{_R.randint(1, 9)}.{_R.randint(0, 20)}.{_R.randint(0, 9)}.{_R.randint(1000, 9999)}"
         for _ in range(30)],
        [f"{_R.randint(10, 250)}.{_R.randint(0, 255)}.{_R.randint(0, 255)}."
         f"{_R.randint(1000, 9999)}" for _ in range(60)],
        [f"{_R.randint(1, 9)}.{_R.randint(1, 9)}.{_R.randint(10, 99)}.{_R.randint(100, 999)}."
         f"{_R.randint(1000, 9999)}" for _ in range(30)],
        [f"{_R.randint(1950, 2024)}.{_R.randint(1, 12):02d}.{_R.randint(1, 28):02d}"
         for _ in range(30)],
        # prose with digit words, counting, single letters and lists that are no values
        ["one two three four five six seven eight nine ten", "I have two cats and one dog",
         "seven days a week, five days off", "nine nine nine"] * 6,
        ["1 2 3 4 5 6 7 8 9 10", "a b c d e f g h", "- - - - - - - -", "* * * * * * *",
         "I O U", "U.S.A."] * 5,
        ["A-B-C-D-E-F-G-H", "x_x_x_x_x_x_x", "1-2-3-4-5-6-7"] * 8,
        ["2024-01-15", "12.03.2024", "v1.2.3", "10.0.0.1/24", "a/b/c/d/e/f/g"] * 6,
        ["1 2 3  4 5 6  7 8 9", "9 8 7 - 6 5 4 - 3 2 1", "0 0 0 0  0 0 0 0  0", "1.0 - 2.5 3"] * 6,
        # commas in lists of addresses and in prose stay commas
        ["see him@home,then", "a@b,c", "price 5@3,50", "meet@noon,it was"] * 6,
        # codes that look like an IBAN glued to a word, and long capitals runs
        ["SKUAB12CDEF3456GH", "refXY12ABCD1234EFGH5678", "ORDER-DE00-0000-0000"] * 8,
        ["AB.12.34", "1.2.3", "NE.12.34.56"] * 8,
        # prose with commas, semicolons and "dot" after an "@", that spells no address
        ["me@home, co workers came", "gracias@maria, de verdad", "x@noon. Net income rose",
         "back@work; it was late", "polka dot dress@shop, then", "see@home-dot-matrix"] * 4,
        ["reply@once; completed", "team@acme,orgchart", "a@b, commit", "5@3;50"] * 6,
        # digit words in prose of other languages, counting, one digit over and over
        ["un deux trois quatre cinq six sept huit neuf", "uno de los dos tres amigos",
         "eins zwei drei vier fünf sechs sieben", "tres tristes tigres comen trigo",
         "null, null, null, null, null, null, null, null, null",
         "um um um um um um um um um", "due o tre volte, sei sette otto"] * 4,
        # versions, dates, product codes and times with mixed separators
        ["v1.2-3 4", "2024-01 15.3", "SKU 4111-1111 1111.1112", "call 536-90 43999",
         "12-34 5678", "Room 101-12 3456-7"] * 5,
    ],
)
def test_look_alikes_stay_public(values):
    """Dotted digit runs were phone numbers (a region's valid number, dots read as gaps); the
    rest hold runs of single characters, digit words and commas that spell nothing."""
    got = col(values)
    assert got.classification == ColumnKind.PUBLIC, (got.pii_type, got.reasoning)


def test_a_list_of_addresses_keeps_its_commas():
    from lacuna.classify.builtin.values import _domain_dotted

    values = pa.array(["a@x.org,b@y.org", "a@x.org,de@y.org", "ana@example,com"])
    read, changed = _domain_dotted(values)
    assert changed
    assert read.to_pylist() == ["a@x.org,b@y.org", "a@x.org,de@y.org", "ana@example.com"]
    values = pa.array(["ana@example, com", "ana@example-dot-co-dot-uk", "ana@exampledotcom",
                       "a@x.org, de@y.org", "me@home, co workers", "x@noon. Net income"])
    assert _domain_dotted(values)[0].to_pylist() == [
        "ana@example.com", "ana@example.co.uk", "ana@example.com", "a@x.org, de@y.org",
        "me@home, co workers", "x@noon. Net income"]


def test_read_spelled_leaves_values_without_runs_unchanged():
    values = pa.array(["a n a @ e x a m p l e . c o m", "a b c", "plain", None,
                       "one two three four five six seven", "five three six nine zero four "
                       "three nine nine"])
    assert read_spelled(values).to_pylist() == [
        "ana@example.com", "a b c", "plain", None, "one two three four five six seven",
        "536-90-4399"]
    assert read_spelled(pa.array(["I had 2 3 4 5 6 7 8 apples", "1 2 3 4 5 6 7 8 9 10"])
                        ).to_pylist() == ["I had 2345678 apples", "123456789 10"]
    same = pa.array(["nothing here", "1.2.3.4"])
    assert read_spelled(same) is same  # (no run: the array itself, no copy)


def test_digit_words_of_other_languages_are_read_but_not_one_digit_over_and_over():
    """``null`` (German zero) and ``um`` (Portuguese one) fill exports and transcripts: nine of
    them read as ``111-11-1111``, a valid SSN. One digit over and over is no number."""
    repeated = ["um um um um um um um um um", "null, null, null, null, null, null, null, null, "
                "null, null, null, null, null, null, null, null", "nine nine nine nine nine "
                "nine nine nine nine"]
    assert read_spelled(pa.array(repeated)).to_pylist() == repeated
    assert col(repeated * 3).classification == ColumnKind.PUBLIC
    assert read_spelled(pa.array(["cinq trois six neuf zéro quatre trois neuf neuf",
                                  "FÜNF DREI SECHS NEUN NULL VIER DREI NEUN NEUN"])
                        ).to_pylist() == ["536-90-4399", "536-90-4399"]
    # a sample past SMALL_CHARS is hinted at in RE2, a small one in Python: the same reading
    from lacuna.classify.spelled import SMALL_CHARS

    card = spelled(CARDS[0], FR)
    big = read_spelled(pa.array(["lorem ipsum " * 200] * (SMALL_CHARS // 2000) + [card]))
    assert big.to_pylist()[-1] == read_spelled(pa.array([card])).to_pylist()[0] == (
        "4111 1111 1111 1111")


@pytest.mark.parametrize(("text", "valid"), [
    ("555.123.4567", True), ("1.555.123.4567", True), ("01.42.68.53.00", True),
    ("+44.20.7946.0958", True), ("1.2.3.4567", False), ("1.2.20.469.3770", False),
    ("232.14.186.8616", False), ("250.10.100.1000", False),  # (valid numbers of some region)
])
def test_dotted_phone_numbers_need_a_phone_layout(text, valid):
    assert is_phone(text) is valid


@pytest.mark.parametrize(("text", "valid"), [
    ("GB82/WEST/1234/5698/7654/32", True), ("GB82_WEST_1234_5698_7654_32", True),
    ("DE89370400440532013000XY", True), ("DE89370400440532013001XY", False),
    ("DE8937040044053201300", False),  # one digit short
])
def test_iban_separators_and_trailing_characters(text, valid):
    assert is_iban(text) is valid


@pytest.mark.parametrize(("text", "valid"), [
    ("AB.12.34.56.C", True), ("AB-12-34-56-C", True), ("AB 12 34 56 C", True),
    ("AB123456C", True), ("AB.12.34.56.E", False), ("GB.12.34.56.C", False),
])
def test_ni_numbers_with_dots(text, valid):
    assert is_national_id(text) is valid


@pytest.mark.parametrize(("values", "pii_type"), [
    (list("ana@example.com"), "email"),  # one character per cell
    (list("DE89370400440532013000"), "iban"),
])
def test_a_value_spelled_down_a_column_is_found(values, pii_type):
    got = col(values)
    assert got.pii_type == pii_type, got.reasoning
    assert "one character each" in got.reasoning


@pytest.mark.parametrize("values", [
    list("MFFMFMMFMF"),  # a gender code (stays a gender, never a value spelled down)
    list("YNNYYNYN"), list("ABCABCDAB"),  # flags, grades
    list("4111111111111111"), list("536904399"),  # single digits: ratings, counts
    list("a1b2c3d4e5"),
    [*list("ana@example.com"), "xy"],  # not every value one character
])
def test_single_characters_that_spell_no_value_are_not_read_down(values):
    got = col(values)
    assert "one character each" not in got.reasoning
    assert got.pii_type in (None, "gender"), got.reasoning


def test_the_digit_words_pattern_matches_each_word_and_no_part_of_one():
    """``_WORD`` is the digit words factored by their starts (Python's ``re`` tries an
    alternation's branches one by one: six languages' words cost five times English ones)."""
    import re

    from lacuna.classify import spelled as s

    whole = re.compile(rf"(?i)\A{s._WORD}\Z")
    assert all(whole.match(w) and whole.match(w.upper()) for w in s._DIGIT_OF)
    assert not any(whole.match(w) for w in ("u", "do", "sep", "quat", "fünfe", "nu", "ones"))
