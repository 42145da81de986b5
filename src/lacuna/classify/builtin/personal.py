"""Name recognizers for personal data (Floe class ``pii``), one per ``pii_type``.

Sensitivity follows one rule: numbers that alone enable identity or payment fraud (SSN,
national id, passport, card number, card security code) are ``critical``; direct contact and
identity data (e-mail, phone, name, address, date of birth, driver's license) is ``high``;
quasi-identifiers (postal code, gender, IP address, device id, username) are ``medium``; age is
``low``.
"""

from __future__ import annotations

from lacuna.classify.base import PhraseRecognizer, name_recognizer
from lacuna.model import ColumnKind, Sensitivity

PII, LOW, MEDIUM = ColumnKind.PII, Sensitivity.LOW, Sensitivity.MEDIUM
HIGH, CRITICAL = Sensitivity.HIGH, Sensitivity.CRITICAL


@name_recognizer
class Email(PhraseRecognizer):
    """E-mail addresses: ``email``, ``e_mail``, ``EmailAddress``, ``cust_eml``."""

    name, kind, pii_type, sensitivity, score = "email", PII, "email", HIGH, 0.95
    label = "an e-mail address"
    phrases = ("email", "e mail", "email address", "email addr", "eml", "mail address")
    ambiguous = ("mail",)


@name_recognizer
class Phone(PhraseRecognizer):
    """Phone and fax numbers: ``phone``, ``mobile``, ``tel``, ``fax``, ``msisdn``."""

    name, kind, pii_type, sensitivity = "phone", PII, "phone", HIGH
    label = "a phone number"
    phrases = ("phone", "phone number", "phone no", "phone num", "phone nr", "telephone",
               "tel", "tel no", "mobile", "mobile number", "mobile phone", "mobile no",
               "cell phone", "cell number", "cell no", "fax", "fax number", "msisdn",
               "contact number", "contact phone")
    ambiguous = ("cell", "mob")


@name_recognizer
class Ssn(PhraseRecognizer):
    """US Social Security numbers."""

    name, kind, pii_type, sensitivity, score = "ssn", PII, "ssn", CRITICAL, 0.95
    label = "a US Social Security number"
    phrases = ("ssn", "social security number", "social security no", "social security",
               "soc sec no", "soc sec number")


@name_recognizer
class NationalId(PhraseRecognizer):
    """National and tax identity numbers other than the US SSN."""

    name, kind, pii_type, sensitivity = "national_id", PII, "national_id", CRITICAL
    label = "a national identity or tax number"
    phrases = ("national id", "national identifier", "national identification number",
               "national insurance number", "ni number", "nino", "tax id", "taxpayer id",
               "tax identification number", "identity number", "id card number",
               "personal id number", "personnummer", "aadhaar", "aadhar", "nric", "bsn",
               "cpf", "pesel", "citizen id")
    ambiguous = ("tin", "nin", "sin")


@name_recognizer
class Passport(PhraseRecognizer):
    """Passport numbers."""

    name, kind, pii_type, sensitivity = "passport", PII, "passport", CRITICAL
    label = "a passport number"
    phrases = ("passport", "passport number", "passport no", "passport num", "passport id")


@name_recognizer
class DriversLicense(PhraseRecognizer):
    """Driver's license numbers."""

    name, kind, pii_type, sensitivity = "drivers_license", PII, "drivers_license", HIGH
    label = "a driver's license number"
    phrases = ("drivers license", "driver license", "driver licence", "drivers licence",
               "driving license", "driving licence", "dl number", "dl no", "dl num")


@name_recognizer
class CardNumber(PhraseRecognizer):
    """Payment card numbers (PCI DSS cardholder data): ``card_number``, ``cc_num``, ``pan``."""

    name, kind, pii_type, sensitivity, score = "card_number", PII, "card_number", CRITICAL, 0.95
    label = "a payment card number"
    phrases = ("card number", "card num", "card no", "card nr", "credit card",
               "credit card number", "debit card", "debit card number", "cc number", "cc num",
               "cc no", "ccn", "primary account number", "card pan")
    ambiguous = ("cc", "pan")


@name_recognizer
class CardSecurityCode(PhraseRecognizer):
    """Card verification codes, which PCI DSS forbids storing at all."""

    name, kind, pii_type, sensitivity = "card_cvv", PII, "card_cvv", CRITICAL
    label = "a card security code"
    phrases = ("cvv", "cvc", "cvv 2", "cvc 2", "card verification", "card security code")


@name_recognizer
class DateOfBirth(PhraseRecognizer):
    """Dates (and years) of birth."""

    name, kind, pii_type, sensitivity = "dob", PII, "dob", HIGH
    label = "a date of birth"
    phrases = ("dob", "date of birth", "birth date", "birth dt", "birthday", "birth day",
               "birth year", "year of birth", "yob", "born on", "bday")


@name_recognizer
class Age(PhraseRecognizer):
    """Ages: a quasi-identifier, low sensitivity on its own."""

    name, kind, pii_type, sensitivity, score = "age", PII, "age", LOW, 0.8
    label = "a person's age"
    phrases = ("age", "age years", "age in years")


@name_recognizer
class Gender(PhraseRecognizer):
    """Gender and sex."""

    name, kind, pii_type, sensitivity = "gender", PII, "gender", MEDIUM
    label = "a gender"
    phrases = ("gender", "sex", "gender identity")


@name_recognizer
class PersonName(PhraseRecognizer):
    """People's names. A bare ``name`` counts only when it is the whole column name."""

    name, kind, pii_type, sensitivity = "name", PII, "name", HIGH
    label = "a person's name"
    phrases = ("first name", "last name", "full name", "given name", "family name",
               "middle name", "maiden name", "surname", "forename", "fname", "lname",
               "first nm", "last nm", "name first", "name last", "customer name", "client name",
               "patient name", "employee name", "contact name", "person name", "member name",
               "holder name", "cardholder name", "card holder name", "account holder",
               "account holder name", "recipient name", "sender name", "beneficiary name",
               "applicant name", "student name", "guardian name", "spouse name", "legal name")
    ambiguous = ("initials", "display name")
    whole = ("name",)


@name_recognizer
class Username(PhraseRecognizer):
    """Login names: an online identifier under GDPR."""

    name, kind, pii_type, sensitivity = "username", PII, "username", MEDIUM
    label = "a username"
    phrases = ("username", "user name", "login", "login name", "user login", "screen name",
               "nickname")


@name_recognizer
class Address(PhraseRecognizer):
    """Street addresses. ``web``/``mac``/``memory`` before ``address`` are not places."""

    name, kind, pii_type, sensitivity, score = "address", PII, "address", HIGH, 0.85
    label = "a street address"
    phrases = ("address", "addr", "street", "street address", "street name", "street line",
               "address line", "addr line", "house number", "house no", "home address",
               "mailing address", "billing address", "shipping address", "postal address",
               "residential address", "residence")
    ambiguous = ("apt", "apartment")
    not_after = ("web", "mac", "memory", "url", "server", "host", "network", "wallet",
                 "bitcoin", "contract", "ethernet", "hardware", "mem")


@name_recognizer
class PostalCode(PhraseRecognizer):
    """Postal codes: a quasi-identifier."""

    name, kind, pii_type, sensitivity = "postal_code", PII, "postal_code", MEDIUM
    label = "a postal code"
    phrases = ("zip", "zip code", "postcode", "post code", "postal code", "postal", "plz",
               "zip plus 4")
    ambiguous = ("pin code",)  # India's postal code; a bare "pin" is a credential


@name_recognizer
class IpAddress(PhraseRecognizer):
    """IP addresses: personal data under GDPR (online identifiers)."""

    name, kind, pii_type, sensitivity = "ip_address", PII, "ip_address", MEDIUM
    label = "an IP address"
    phrases = ("ip", "ip address", "ip addr", "ipv4", "ipv6", "ip4", "ip6", "remote addr",
               "remote address", "client ip", "source ip", "src ip")


@name_recognizer
class DeviceId(PhraseRecognizer):
    """Device and advertising identifiers: online identifiers under GDPR."""

    name, kind, pii_type, sensitivity = "device_id", PII, "device_id", MEDIUM
    label = "a device identifier"
    phrases = ("device id", "mac address", "mac addr", "imei", "idfa", "advertising id",
               "gaid", "android id", "udid", "cookie id")
