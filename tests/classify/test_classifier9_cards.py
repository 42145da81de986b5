"""A card number written as bare digits, alone: among a column's words, or with a word about
cards or payment beside it, it is a card; a random 16-digit id or order number stays public
(the issuer and Luhn checks pass one in about 34 of them, so one alone says nothing)."""

import random

import pytest

from lacuna.classify import classify_columns
from lacuna.classify.checks import is_card_number
from lacuna.model import ColumnKind

PII, PUBLIC = ColumnKind.PII, ColumnKind.PUBLIC
WORDS = ["apple pie", "banana", "cherry tart", "delta", "echo", "foxtrot", "golf club",
         "hotel", "india", "juliet"]


def col(values, name="note"):
    return classify_columns([name], {name: values})[name]


def _ids(valid: bool, n: int, seed: int) -> list[str]:
    """``n`` random 16-digit ids that pass (``valid``) or fail the card checks."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        number = str(rng.randrange(10**15, 10**16))
        if is_card_number(number) is valid:
            out.append(number)
    return out


@pytest.mark.parametrize("card", ["4111111111111111", "5500005555555559", "378282246310005"])
def test_one_bare_card_among_words_is_a_card(card):
    """The 26th of 51 values: the share a bare-digit column needs left the column PUBLIC."""
    values = [*(WORDS * 5)[:25], card, *(WORDS * 5)[25:]]
    c = col(values)
    assert (c.classification, c.pii_type) == (PII, "card_number"), c.reasoning


@pytest.mark.parametrize(("values", "name"), [
    ([*WORDS, "paid by card 4111111111111111"], "note"),  # a card word in the value
    ([*WORDS, "please charge 1111111111111114 today"], "note"),  # ... and written backwards
    ([*WORDS, "Visa: 4012888888881881, exp 12/29"], "note"),
    (["4111111111111111", "refund", "7"], "payment_note"),  # a payment word in the name
])
def test_a_bare_card_with_a_word_about_cards_is_a_card(values, name):
    c = col(values, name)
    assert (c.classification, c.pii_type) == (PII, "card_number"), c.reasoning


@pytest.mark.parametrize("values", [
    _ids(True, 1, 1) + [str(100000 + i) for i in range(50)],  # an id column: other numbers
    [*WORDS, f"order {_ids(True, 1, 2)[0]} shipped"],  # no word about cards
    [*WORDS, *_ids(True, 1, 3), *_ids(False, 2, 3)],  # 1 of 3 bare numbers: chance
    [*WORDS[:3], *_ids(True, 1, 4)],  # too few words to say the column is words
    [*WORDS, "paid by card 4111111111111112"],  # the context, but no card's number
    _ids(False, 49, 5) + _ids(True, 1, 6),  # random ids, one of which passes the checks
])
def test_a_random_id_stays_public(values):
    assert col(values).classification is PUBLIC, col(values).reasoning


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_a_few_random_ids_one_of_which_passes_the_checks_stay_public(n):
    """1 of 1, 1 of 3, 2 of 5 were above the column's share (30%): a list of a few ids, or
    one id sent alone, was CRITICAL about one time in 20."""
    values = _ids(True, 1 if n < 5 else 2, n) + _ids(False, n - (1 if n < 5 else 2), 10 + n)
    assert col(values, "value").classification is PUBLIC


@pytest.mark.parametrize("values", [
    ["4111111111111111", "5500005555555559"],  # 2 of 2: beyond chance
    ["4111111111111111", "5500005555555559", "4012888888881881", "1234567890123456"],
    ["4111111111111111", "5500005555555559", "4012888888881881"] * 20,
])
def test_bare_card_numbers_beyond_chance_are_cards(values):
    c = col(values, "value")
    assert (c.classification, c.pii_type) == (PII, "card_number"), c.reasoning


def test_three_bare_cards_among_words_are_cards():
    """3 of 13 values are under the column's share (30%), and more than two bare numbers
    among words were not judged alone: three customers' cards in a note column were PUBLIC."""
    c = col([*WORDS, "4111111111111111", "5500005555555559", "4012888888881881"])
    assert (c.classification, c.pii_type) == (PII, "card_number"), c.reasoning


@pytest.mark.parametrize("name", ["payment_id", "billing_ref"])
def test_random_ids_under_a_payment_name_stay_public(name):
    """A name about payment is context for one number, not for a column of ids (a valid one
    in every 34)."""
    values = _ids(False, 48, 20) + _ids(True, 2, 21)
    assert col(values, name).classification is not PII, col(values, name).reasoning
