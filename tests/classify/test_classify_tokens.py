import pytest

from lacuna.classify.tokens import contains, tokenize


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("EmailAddress", ("email", "address")),
        ("custEml", ("cust", "eml")),
        ("cust_eml", ("cust", "eml")),
        ("e-mail", ("e", "mail")),
        ("IPAddress", ("ip", "address")),
        ("icd10", ("icd", "10")),
        ("date of birth", ("date", "of", "birth")),
        ("CCNumber", ("cc", "number")),
        ("SSN", ("ssn",)),
        ("zip4", ("zip", "4")),
        ("__", ()),
        ("straße_nr", ("straße", "nr")),
    ],
)
def test_tokenize_splits_on_case_punctuation_and_digits(name, tokens):
    assert tokenize(name) == tokens


@pytest.mark.parametrize(
    ("tokens", "seq", "found"),
    [
        (("project", "falcon", "q3"), ("project", "falcon"), True),
        (("projectfalcon",), ("project", "falcon"), True),
        (("projectfalconry",), ("project", "falcon"), False),
        (("falconry",), ("falcon",), False),
        (("a",), (), False),
    ],
)
def test_contains_matches_token_runs_or_joined_tokens(tokens, seq, found):
    assert contains(tokens, seq) is found
