import pytest

from lacuna.classify import validators
from lacuna.classify.checks import (
    is_bic,
    is_card_number,
    is_email,
    is_iban,
    is_ipv4,
    is_ipv6,
    is_phone,
    is_us_ssn,
)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("5555555555554444", True),  # Mastercard
        ("378282246310005", True),  # Amex
        ("6011111111111117", True),  # Discover
        ("4111111111111112", False),  # Luhn fails
        ("1234567812345670", False),  # Luhn-valid, no issuer starts with 1
        ("356938035643809", False),  # Luhn-valid IMEI: JCB numbers are 16-19 digits
        ("41111111111", False),  # too short
    ],
)
def test_card_numbers_need_issuer_prefix_length_and_luhn(text, valid):
    assert is_card_number(text) is valid


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82WEST12345698765432", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("GB82 WEST 1234 5698 7654 33", False),  # check digits fail
        ("XX82 WEST 1234 5698 7654 32", False),  # no such country
    ],
)
def test_iban_check_digits(text, valid):
    assert is_iban(text) is valid


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("536-90-4399", True),
        ("536904399", True),
        ("000-12-3456", False),  # area 000
        ("666-12-3456", False),  # area 666
        ("912-12-3456", False),  # area 9xx
        ("123-00-4567", False),  # group 00
        ("123-45-0000", False),  # serial 0000
        ("078-05-1120", False),  # the Woolworth wallet number
        ("12-345-6789", False),
    ],
)
def test_ssn_follows_ssa_rules(text, valid):
    assert is_us_ssn(text) is valid


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("ada@example.org", True),
        ("first.last+tag@mail.example.co.uk", True),
        ("a..b@example.org", False),
        ("ada@example", False),
        ("ada@@example.org", False),
        ("@example.org", False),
        ("ada@-example.org", False),
        ("x" * 65 + "@example.org", False),
    ],
)
def test_email_shape(text, valid):
    assert is_email(text) is valid


@pytest.mark.parametrize(
    ("text", "v4", "v6"),
    [
        ("192.168.1.20", True, False),
        ("256.1.1.1", False, False),
        ("2001:db8::1", False, True),
        ("fe80::1ff:fe23:4567:890a", False, True),
        ("::1", False, True),
        ("10:30:00", False, False),  # a time
        ("00:1a:2b:3c:4d:5e", False, False),  # a MAC address
    ],
)
def test_ip_addresses(text, v4, v6):
    assert (is_ipv4(text), is_ipv6(text)) == (v4, v6)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("+1 415-555-2671", True),
        ("(415) 555-2671", True),
        ("+44 20 7946 0958", True),
        ("0044 20 7946 0958", True),
        ("020 7946 0958", True),  # national GB format
        ("2024-01-15", False),  # a date
        ("123-45-6789", False),  # SSN-shaped: 9 digits
        ("192.168.100.200", False),  # an IPv4 address
        ("+1 000-000-0000", False),
    ],
)
def test_phone_numbers_via_libphonenumber(text, valid):
    assert is_phone(text) is valid


def test_bic_codes():
    assert is_bic("DEUTDEFF")
    assert is_bic("DEUTDEFF500")
    assert not is_bic("DEUTXXFF")


def test_validators_registry_knows_every_builtin():
    assert set(validators.names()) >= {
        "bic", "email", "iban", "ipv4", "ipv6", "luhn_card", "phone", "us_ssn"}


def test_unknown_validator_suggests_the_closest_name():
    from lacuna.errors import UnknownPluginError

    with pytest.raises(UnknownPluginError, match="Did you mean 'iban'"):
        validators.get("ibna")
