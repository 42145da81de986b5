"""Validators for identity, vehicle, medical and business numbers.

Check digits where the number has them (python-stdnum: Spanish DNI/NIE, Italian codice fiscale,
French NIR, Dutch BSN, Brazilian CPF, Polish PESEL, Swedish personnummer, Finnish HETU, Danish
CPR, Indian Aadhaar, Canadian SIN, Mexican CURP, Belgian NN; EU VAT numbers, LEI, US EIN; the
VIN's position-9 check digit for North American VINs), and formats where it has none (UK
National Insurance number, passports, driver's licences, ICD-10 codes, medical record numbers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import import_module

from lacuna.classify.base import validator

NATIONAL_ID_MODULES = ("es.dni", "es.nie", "it.codicefiscale", "fr.nir", "nl.bsn", "br.cpf",
                       "pl.pesel", "se.personnummer", "fi.hetu", "dk.cpr", "in_.aadhaar",
                       "ca.sin", "mx.curp", "be.nn", "us.itin")

# groups split by spaces, dots, dashes or slashes (AB 12 34 56 C, AB.12.34.56.C)
_NINO = re.compile(r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                   r"[ ./-]?\d{2}[ ./-]?\d{2}[ ./-]?\d{2}[ ./-]?[A-D]$")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_VIN_VALUES = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
                                                   2, 3, 4, 5, 6, 7, 8, 9], strict=True))
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_ICD10 = re.compile(r"^[A-TV-Z]\d[0-9AB](?:\.[0-9A-TV-Z]{1,4})?$")
_MRN = re.compile(r"^(?:MRN|MR|PAT|PT|HN)[-_ #:]?\d{5,10}$", re.IGNORECASE)
_PASSPORT = re.compile(r"^(?:[A-Z]{1,2}\d{6,8}|\d{9}|[A-Z]\d{8}|[CFGHJKLMNPRTVWXYZ0-9]{9})$")
_UK_LICENCE = re.compile(r"^[A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2}$")
_US_LICENCE = re.compile(r"^(?:[A-Z]\d{7}|[A-Z]\d{12}|[A-Z]\d{3}-\d{3}-\d{2}-\d{3}-\d"
                         r"|[A-Z]{1,2}\d{5,8}|\d{7,9}|[A-Z]\d{2}-\d{2}-\d{4})$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")
_HASHED_SECRET = re.compile(r"^(?:\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(?:id|i|d)\$\S+"
                            r"|pbkdf2_sha256\$\S+|\$6\$\S+)$")


# Which national numbers have how many characters once separators are removed: each candidate
# is checked only against the formats of its length.
_BY_LENGTH: dict[int, tuple[str, ...]] = {
    9: ("es.dni", "es.nie", "nl.bsn", "ca.sin", "us.itin"),
    8: ("nl.bsn",), 10: ("se.personnummer", "dk.cpr"), 12: ("se.personnummer", "in_.aadhaar"),
    11: ("br.cpf", "pl.pesel", "fi.hetu", "be.nn"), 15: ("fr.nir",),
    16: ("it.codicefiscale",), 18: ("mx.curp",),
}
_SEPARATORS = re.compile(r"[\s./+-]")


@cache
def _checkers(modules: tuple[str, ...]) -> tuple[Callable[[str], bool], ...]:
    return tuple(import_module(f"stdnum.{m}").is_valid for m in modules)


@validator("national_id")
def is_national_id(text: str) -> bool:
    """A national identity or tax number with valid check digits, or a UK NI number.

    Example:
        >>> is_national_id("12345678Z"), is_national_id("12345678A"), is_national_id("AB123456C")
        (True, False, True)
    """
    if _NINO.match(text.upper()):
        return True
    modules = _BY_LENGTH.get(len(_SEPARATORS.sub("", text)))
    return bool(modules) and any(check(text) for check in _checkers(modules))


@validator("vin")
def is_vin(text: str) -> bool:
    """A 17-character VIN (no I, O, Q); North American VINs (1-5) must pass the check digit.
    A VIN is written in one case, and no region's manufacturer code starts with 0: a
    mixed-case or 0-led 17-character id (a Meteor id, a base62 key) is not one.

    Example:
        >>> is_vin("1M8GDM9AXKP042788"), is_vin("1M8GDM9A1KP042788")
        (True, False)
        >>> is_vin("WVWZZZ1JZXW000001"), is_vin("wvwzzz1jzxw000001"), is_vin("WvWZZZ1JZXW000001")
        (True, True, False)
    """
    vin = text.upper()
    if not _VIN.match(vin) or vin.isdigit() or vin.isalpha():
        return False
    if text not in (vin, text.lower()) or vin[0] == "0":
        return False
    if vin[0] not in "12345":
        return True
    total = sum((int(c) if c.isdigit() else _VIN_VALUES[c]) * w
                for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return vin[8] == check


@validator("icd10")
def is_icd10(text: str) -> bool:
    """An ICD-10 diagnosis code shape (``E11.9``, ``J45.909``, ``I10``; no ``U`` chapter).
    Three characters in lower case (``k10``, ``a12``) are sizes, keys and seats, not codes;
    with a sub-code (``e11.9``) they are codes.

    Example:
        >>> is_icd10("K10"), is_icd10("k10"), is_icd10("e11.9")
        (True, False, True)
    """
    if len(text) == 3 and text[0].islower():
        return False
    return bool(_ICD10.match(text.upper()))


@validator("mrn")
def is_mrn(text: str) -> bool:
    """A medical record number written with its prefix (``MRN-00123456``)."""
    return bool(_MRN.match(text))


@validator("passport")
def is_passport(text: str) -> bool:
    """A passport number shape (no check digit outside the machine-readable zone)."""
    return bool(_PASSPORT.match(text.upper())) and not text.isalpha()


@validator("drivers_license")
def is_drivers_license(text: str) -> bool:
    """A UK DVLA licence number, or a US state driver's licence format."""
    t = text.upper()
    return bool(_UK_LICENCE.match(t) or _US_LICENCE.match(t))


@validator("uk_drivers_license")
def is_uk_drivers_license(text: str) -> bool:
    return bool(_UK_LICENCE.match(text.upper()))


@validator("mac_address")
def is_mac_address(text: str) -> bool:
    return bool(_MAC.match(text)) and len(set(text.replace(":", "").replace("-", ""))) > 1


@validator("uuid")
def is_uuid(text: str) -> bool:
    return bool(_UUID.match(text))


@validator("hashed_secret")
def is_hashed_secret(text: str) -> bool:
    """A password hash in a self-describing format (bcrypt, argon2, PBKDF2, SHA-512 crypt)."""
    return bool(_HASHED_SECRET.match(text))


@validator("business_id")
def is_business_id(text: str) -> bool:
    """An EU VAT number (with its country prefix) or an LEI, with valid check digits.

    Example:
        >>> is_business_id("DE136695976"), is_business_id("5493001KJTIIGC8Y1R12")
        (True, True)
    """
    t = text.replace(" ", "").upper()
    if len(t) == 20 and t.isalnum():
        return any(check(t) for check in _checkers(("lei",)))
    return t[:2].isalpha() and any(check(t) for check in _checkers(("eu.vat",)))


@validator("us_ein")
def is_us_ein(text: str) -> bool:
    """A US Employer Identification Number written ``12-3456789`` with a valid prefix."""
    return "-" in text and any(check(text) for check in _checkers(("us.ein",)))


_MONEY = re.compile(r"^[-+]?(?:[$€£¥₹] ?|(?:USD|EUR|GBP|CHF|JPY) )-?\d{1,3}(?:[,.' ]?\d{3})*"
                    r"(?:[.,]\d{1,2})?$|^-?\d{1,3}(?:[,.' ]?\d{3})*(?:[.,]\d{1,2})? ?"
                    r"(?:[$€£¥₹]|USD|EUR|GBP|CHF|JPY)$")


@validator("money")
def is_money(text: str) -> bool:
    """An amount with a currency symbol or ISO code before or after it.

    Example:
        >>> is_money("$1,234.56"), is_money("12,50 €"), is_money("1234")
        (True, True, False)
    """
    return bool(_MONEY.match(text))


@validator("record_code")
def is_record_code(text: str) -> bool:
    """Letters then digits, as invoice, order and part numbers are written."""
    return bool(_RECORD_CODE.match(text))


@validator("url")
def is_url(text: str) -> bool:
    """An http(s) URL with a dotted host name."""
    return bool(_URL.match(text))


_RECORD_CODE = re.compile(r"^[A-Z]{1,5}[-_/]?\d{3,12}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?:[:/?#]\S*)?$")
