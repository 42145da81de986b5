"""Value recognizers for identity, vehicle, medical, business and money values.

Check-digit formats (national ids, VINs, VAT numbers, LEIs) decide on their own; formats without
one (passports, US driver's licences, bare-digit national ids) are weak: they support a name
that says the same thing and never decide alone.
"""

from __future__ import annotations

from lacuna.classify.base import value_recognizer
from lacuna.classify.scan import PatternRecognizer
from lacuna.model import ColumnKind, Sensitivity

PII, PHI, FIN, ID = ColumnKind.PII, ColumnKind.PHI, ColumnKind.FINANCIAL, ColumnKind.IDENTIFIER


@value_recognizer
class NationalIdValues(PatternRecognizer):
    """National identity and tax numbers with check digits (ES, IT, FR, NL, BR, PL, SE, ...)."""

    name, kind, pii_type, sensitivity = "national_id", PII, "national_id", Sensitivity.CRITICAL
    label = "valid national identity numbers"
    numeric = True
    prefilter = r"[A-Za-z0-9][A-Za-z0-9 ./-]{7,20}[A-Za-z0-9]"
    bare = r"[0-9]{9,12}"
    validator = "national_id"
    min_ratio = 0.5


@value_recognizer
class PassportValues(PatternRecognizer):
    """Passport number shapes: weak, a passport name decides."""

    name, kind, pii_type, sensitivity = "passport", PII, "passport", Sensitivity.CRITICAL
    label = "passport-shaped numbers"
    prefilter = r"[A-Za-z0-9]{8,9}"
    validator = "passport"
    weak_only = True
    min_ratio = 0.8


@value_recognizer
class DriversLicenseValues(PatternRecognizer):
    """UK DVLA licence numbers: 16 characters built from the holder's name and birth date, a
    shape specific enough to decide alone."""

    name, kind, pii_type = "drivers_license", PII, "drivers_license"
    sensitivity = Sensitivity.HIGH
    label = "driver's licence numbers"
    prefilter = r"[A-Za-z9]{5}[0-9]{6}[A-Za-z9]{2}[0-9][A-Za-z]{2}"
    validator = "uk_drivers_license"
    min_ratio = 0.8


@value_recognizer
class UsDriversLicenseValues(PatternRecognizer):
    """US state licence formats (a letter or two and digits, or digits alone): weak. The same
    shapes are user, order and ticket ids (a token's ``sub`` of ``u00000012``), so they
    support a licence name and never decide alone."""

    name, kind, pii_type = "us_drivers_license", PII, "drivers_license"
    sensitivity = Sensitivity.HIGH
    label = "US driver's licence-shaped numbers"
    prefilter = r"[A-Za-z0-9][A-Za-z0-9-]{6,17}"
    validator = "drivers_license"
    weak_only = True
    min_ratio = 0.8


@value_recognizer
class VinValues(PatternRecognizer):
    """Vehicle identification numbers (check digit for North American VINs)."""

    name, kind, pii_type, sensitivity = "vin", PII, "vin", Sensitivity.MEDIUM
    label = "valid vehicle identification numbers"
    prefilter = r"[A-HJ-NPR-Za-hj-npr-z0-9]{17}"
    validator = "vin"
    min_ratio = 0.6


@value_recognizer
class DiagnosisCodeValues(PatternRecognizer):
    """ICD-10 diagnosis codes; most values must be codes, as short codes have other uses."""

    name, kind, pii_type, sensitivity = "icd10", PHI, "diagnosis", Sensitivity.HIGH
    label = "ICD-10 diagnosis codes"
    prefilter = r"[A-Za-z][0-9][0-9A-Ba-b](?:\.[0-9A-Za-z]{1,4})?"
    bare = r"[A-Z][0-9]{2}"
    validator = "icd10"
    strength = 0.85
    min_ratio = 0.8


@value_recognizer
class MedicalRecordValues(PatternRecognizer):
    """Medical record numbers written with their prefix (``MRN-00123456``)."""

    name, kind, pii_type = "mrn", PHI, "medical_record_number"
    sensitivity = Sensitivity.HIGH
    label = "medical record numbers"
    prefilter = r"[A-Za-z]{2,3}[-_ #:]?[0-9]{5,10}"
    validator = "mrn"
    min_ratio = 0.6


@value_recognizer
class MacAddressValues(PatternRecognizer):
    """MAC addresses: device identifiers."""

    name, kind, pii_type, sensitivity = "mac_address", PII, "device_id", Sensitivity.MEDIUM
    label = "MAC addresses"
    prefilter = r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}"
    validator = "mac_address"
    strength = 0.85


@value_recognizer
class BusinessIdValues(PatternRecognizer):
    """EU VAT numbers and LEIs with valid check digits: companies, not people."""

    name, kind, sensitivity = "business_id", ID, Sensitivity.LOW
    label = "valid company identifiers (EU VAT numbers, LEIs)"
    prefilter = r"[A-Za-z]{2}[A-Za-z0-9 ]{6,18}|[0-9A-Za-z]{20}"
    validator = "business_id"
    strength = 0.85
    min_ratio = 0.6


@value_recognizer
class EinValues(PatternRecognizer):
    """US Employer Identification Numbers (``12-3456789``)."""

    name, kind, sensitivity = "us_ein", ID, Sensitivity.LOW
    label = "US employer identification numbers"
    prefilter = r"[0-9]{2}-[0-9]{7}"
    validator = "us_ein"
    strength = 0.7
    min_ratio = 0.8


@value_recognizer
class UuidValues(PatternRecognizer):
    """UUIDs: surrogate keys."""

    name, kind, sensitivity = "uuid", ID, Sensitivity.LOW
    label = "UUIDs"
    gate = "-"
    prefilter = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    validator = "uuid"
    strength = 0.7
    min_ratio = 0.8


@value_recognizer
class HashedSecretValues(PatternRecognizer):
    """Password hashes in self-describing formats (bcrypt, argon2, PBKDF2)."""

    name, kind, pii_type, sensitivity = "hashed_secret", ID, "credential", Sensitivity.CRITICAL
    label = "password hashes"
    gate = "$"
    prefilter = r"\S{20,200}"
    validator = "hashed_secret"


@value_recognizer
class AmountValues(PatternRecognizer):
    """Money written with a currency symbol or code (``$1,234.56``, ``12,50 €``)."""

    name, kind, sensitivity = "amount", FIN, Sensitivity.MEDIUM
    label = "monetary amounts with a currency"
    prefilter = (r"[-+]?(?:[$€£¥₹]|USD|EUR|GBP|CHF|JPY)? ?-?[0-9][0-9.,' ]{0,15}"
                 r"(?: ?(?:[$€£¥₹]|USD|EUR|GBP|CHF|JPY))?")
    validator = "money"
    strength = 0.8
    min_ratio = 0.8


@value_recognizer
class CodeValues(PatternRecognizer):
    """Record codes (``INV-000123``, ``AB-1234``): letters then digits, one shape throughout."""

    name, kind, sensitivity = "record_code", ID, Sensitivity.LOW
    label = "record codes (letters and digits)"
    prefilter = r"[A-Z]{1,5}[-_/]?[0-9]{3,12}"
    validator = "record_code"
    strength = 0.65
    min_ratio = 0.9


@value_recognizer
class UrlValues(PatternRecognizer):
    """Web addresses: about pages and resources, public on their own."""

    name, kind, sensitivity = "url", ColumnKind.PUBLIC, Sensitivity.LOW
    label = "URLs"
    gate = "://"
    prefilter = r"https?://[^\s]{3,}"
    validator = "url"
    strength = 0.85
    min_ratio = 0.8
