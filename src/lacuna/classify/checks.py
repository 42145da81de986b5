"""Validators: does one candidate string hold a genuine value of its kind?

Value recognizers prefilter a whole sample with a vectorized regex and call a validator only on
the candidates, so these run on at most a few hundred strings per column. Each takes a string
and returns a bool; none raises.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import phonenumbers
from stdnum import bic as _bic
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum import numdb as _numdb
from stdnum.us import ssn as _ssn

from lacuna.classify.base import validator

# Tried in order for numbers written without a country code. NANP (US) covers Canada as well.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU", "BR")

# Letters and digits of any script too (RFC 6531 addresses, IDN domains: jörg@müller.de)
_EMAIL = re.compile(
    r"(?P<local>[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*)"
    r"@(?P<domain>(?:[^\W_](?:[^\W_]|-){0,62}(?<!-)\.)+[^\W\d_]{2,63})"
)
_NON_DIGITS = re.compile(r"[^0-9]")
_PHONE_SEPARATORS = re.compile(r"[_*~\t]")  # libphonenumber reads none of these as a gap
_SSN_SEPARATORS = re.compile(r"[\s./_-]+")
_IBAN_SEPARATORS = re.compile(r"[\s./_-]+")
_IBAN_STRUCTURE = re.compile(r"([1-9][0-9]*)!")
# A number written with dots alone and no "+", "00" or trunk "0": a phone number only in the
# North American layout (555.123.4567, 1.555.123.4567); other dotted digit runs are versions,
# addresses and dates (1.2.3.4567, 161.99.252.2710, 3.1.21.537.1833)
_DOTTED = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_DOTTED_PHONE = re.compile(r"(?:1\.)?[0-9]{3}\.[0-9]{3}\.[0-9]{4}")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d{1,6}$", re.IGNORECASE)


@validator("email")
def is_email(text: str) -> bool:
    """An RFC 5321-shaped address: dot-atom local part (<= 64), dotted host names, alpha TLD.

    Example:
        >>> is_email("ada@example.org"), is_email("ada@@example"), is_email("a..b@example.org")
        (True, False, False)
    """
    m = _EMAIL.fullmatch(text)
    return m is not None and len(m["local"]) <= 64 and len(text) <= 254


@validator("luhn_card")
def is_card_number(text: str) -> bool:
    """A payment card number: 13-19 digits, a known issuer prefix for its length, Luhn-valid.

    Example:
        >>> is_card_number("4111 1111 1111 1111"), is_card_number("4111 1111 1111 1112")
        (True, False)
    """
    digits = _NON_DIGITS.sub("", text)
    n = len(digits)
    if not 13 <= n <= 19 or not _card_prefix_ok(digits, n):
        return False
    return _luhn.is_valid(digits)


def _card_prefix_ok(d: str, n: int) -> bool:
    # Issuer identification ranges (ISO/IEC 7812) by brand, with the lengths each brand issues.
    # An IMEI (15 digits, often starting 35) or a random id fails here before Luhn is asked.
    two, four = int(d[:2]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if d.startswith("6011") or two == 65 or 644 <= int(d[:3]) <= 649 or two == 62:
        return 16 <= n <= 19  # Discover, UnionPay
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= int(d[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19  # Diners Club
    return False


@validator("iban")
def is_iban(text: str) -> bool:
    """An IBAN with valid ISO 7064 mod-97 check digits and its country's length and format.

    Example:
        >>> is_iban("GB82 WEST 1234 5698 7654 32"), is_iban("GB82 WEST 1234 5698 7654 33")
        (True, False)
    """
    if _iban.is_valid(text):
        return True
    # groups split by slashes or underscores (GB82/WEST/1234/...), or the IBAN glued to
    # what follows it in text ("DE89370400440532013000XY"): its country's length, read alone
    compact = _IBAN_SEPARATORS.sub("", text).upper()
    length = _iban_length(compact[:2])
    return length is not None and len(compact) >= length and bool(
        _iban.is_valid(compact[:length]))


@functools.cache
def _iban_length(country: str) -> int | None:
    """The length of ``country``'s IBANs (from python-stdnum's registry), or ``None``."""
    if not (len(country) == 2 and country.isalpha() and country.isascii()):
        return None
    info = _numdb.get("iban").info(country)
    structure = info[0][1].get("bban") if info and info[0][1] else None
    if not structure:
        return None
    return 4 + sum(int(n) for n in _IBAN_STRUCTURE.findall(structure))


@validator("us_ssn")
def is_us_ssn(text: str) -> bool:
    """A US Social Security Number as the SSA issues them, its groups split by dashes,
    spaces, dots, slashes or underscores.

    Area not 000, 666 or 9xx; group not 00; serial not 0000; not a publicly misused number
    (078-05-1120 and the like).

    Example:
        >>> is_us_ssn("536-90-4399"), is_us_ssn("666-12-3456"), is_us_ssn("123-00-4567")
        (True, False, False)
    """
    return bool(_ssn.is_valid(_SSN_SEPARATORS.sub("-", text.strip())))


@validator("bic")
def is_bic(text: str) -> bool:
    """A SWIFT/BIC code: 4-letter bank, ISO country, 2-character location, optional branch."""
    return bool(_bic.is_valid(text))


@validator("ipv4")
def is_ipv4(text: str) -> bool:
    """A dotted-quad IPv4 address (each octet 0-255, no leading zeros)."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@validator("ipv6")
def is_ipv6(text: str) -> bool:
    """An IPv6 address in any RFC 4291 / 5952 text form, with an optional zone (``%eth0``).

    Example:
        >>> is_ipv6("2001:db8::1"), is_ipv6("10:30:00")
        (True, False)
    """
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


@validator("phone")
def is_phone(text: str) -> bool:
    """A valid phone number per libphonenumber.

    ``+``/``00``-prefixed numbers are checked against their own country; others against
    ``PHONE_REGIONS`` in turn and must have at least 10 digits, so dates (8 digits), short
    codes and zip+4 codes are not phones. IPv4 addresses are never phones. Groups split by
    slashes, underscores, asterisks or tildes count only after a ``+``, ``00`` or a trunk
    ``0`` (``+44/20/7946/0958``, ``030/1234567``): unprefixed, such digits are stamps and
    paths (``20210419_012738``, ``844/85/2319``). Digits split by dots alone, with no
    ``+``, ``00`` or trunk ``0``, are a phone number only in the North American layout
    (``555.123.4567``): ``1.2.3.4567`` is a version, ``161.99.252.2710`` an address.

    Example:
        >>> is_phone("030/12345678"), is_phone("+44_20_7946_0958"), is_phone("2021_0419_0127")
        (True, True, False)
    """
    if (_PHONE_SEPARATORS.search(text) or "/" in text) and not text.lstrip("( ").startswith(
            ("+", "0")):
        return False  # 20210419_012738, 844/85/2319: a stamp, a path, a fraction
    if _DOTTED.fullmatch(text) and text[0] != "0" and not _DOTTED_PHONE.fullmatch(text):
        return False  # 1.2.3.4567, 161.99.252.2710: a version, an address (555.123.4567 is)
    # "x41586", "ext. 12"; "+44(0)20 ..."
    text = _EXTENSION.sub("", _PHONE_SEPARATORS.sub(" ", text)).replace("(0)", "")
    digits = _NON_DIGITS.sub("", text)
    if not 7 <= len(digits) <= 15 or is_ipv4(text):
        return False
    if text.startswith("00"):
        text = "+" + text[2:]
    regions: tuple[str | None, ...] = (None,) if text.startswith("+") else PHONE_REGIONS
    if regions != (None,) and len(digits) < 10:
        return False
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False
