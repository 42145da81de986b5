import pytest

from lacuna.classify import classify_columns
from lacuna.model import ColumnKind, Sensitivity

PII, PHI, FIN = ColumnKind.PII, ColumnKind.PHI, ColumnKind.FINANCIAL
ID, PUBLIC = ColumnKind.IDENTIFIER, ColumnKind.PUBLIC


def one(name):
    return classify_columns([name])[name]


@pytest.mark.parametrize(
    ("name", "kind", "pii_type"),
    [
        ("email", PII, "email"),
        ("e_mail", PII, "email"),
        ("EmailAddress", PII, "email"),
        ("cust_eml", PII, "email"),
        ("customer_emails", PII, "email"),
        ("ssn", PII, "ssn"),
        ("social_security_number", PII, "ssn"),
        ("phone", PII, "phone"),
        ("mobile", PII, "phone"),
        ("cell", PII, "phone"),
        ("tel", PII, "phone"),
        ("fax", PII, "phone"),
        ("phone_no", PII, "phone"),
        ("dob", PII, "dob"),
        ("birth_date", PII, "dob"),
        ("date_of_birth", PII, "dob"),
        ("DateOfBirth", PII, "dob"),
        ("first_name", PII, "name"),
        ("last_name", PII, "name"),
        ("full_name", PII, "name"),
        ("firstname", PII, "name"),
        ("name", PII, "name"),
        ("street", PII, "address"),
        ("address", PII, "address"),
        ("billing_address", PII, "address"),
        ("addresses", PII, "address"),
        ("zip", PII, "postal_code"),
        ("zip_code", PII, "postal_code"),
        ("postcode", PII, "postal_code"),
        ("postal_code", PII, "postal_code"),
        ("ip_addr", PII, "ip_address"),
        ("ip_address", PII, "ip_address"),
        ("IPAddress", PII, "ip_address"),
        ("client_ip", PII, "ip_address"),
        ("card_number", PII, "card_number"),
        ("cc_num", PII, "card_number"),
        ("pan", PII, "card_number"),
        ("cvv", PII, "card_cvv"),
        ("passport", PII, "passport"),
        ("passport_no", PII, "passport"),
        ("drivers_license", PII, "drivers_license"),
        ("national_id", PII, "national_id"),
        ("gender", PII, "gender"),
        ("sex", PII, "gender"),
        ("age", PII, "age"),
        ("username", PII, "username"),
        ("mac_address", PII, "device_id"),
        ("email_id", PII, "email"),
        ("iban", FIN, "iban"),
        ("account_number", FIN, "bank_account"),
        ("swift_code", FIN, "swift_bic"),
        ("bic", FIN, "swift_bic"),
        ("salary", FIN, None),
        ("revenue", FIN, None),
        ("income", FIN, None),
        ("price", FIN, None),
        ("amount", FIN, None),
        ("diagnosis", PHI, "diagnosis"),
        ("icd10", PHI, "diagnosis"),
        ("icd_10_code", PHI, "diagnosis"),
        ("mrn", PHI, "medical_record_number"),
        ("medical_record_number", PHI, "medical_record_number"),
        ("patient_id", PHI, "medical_record_number"),
        ("prescription", PHI, "prescription"),
        ("customer_id", ID, None),
        ("order_id", ID, None),
        ("product_id", ID, None),
        ("id", ID, None),
        ("password", ID, "credential"),
        ("api_key", ID, "credential"),
        ("product_name", PUBLIC, None),
        ("category", PUBLIC, None),
        ("city", PUBLIC, None),
        ("region", PUBLIC, None),
        ("country", PUBLIC, None),
    ],
)
def test_name_recognizers_on_real_world_spellings(name, kind, pii_type):
    col = one(name)
    assert (col.classification, col.pii_type) == (kind, pii_type)
    assert col.evidence[0].source == "name"
    assert col.layer.value == "heuristic"
    assert 0 < col.confidence <= 1


@pytest.mark.parametrize(
    "name",
    [
        "description",  # not "ip"
        "shipping",  # not "ip"
        "recipient",  # not "ip"
        "zipper",  # not "zip"
        "ipo_date",  # not "ip"
        "company_name",  # a bare "name" only counts as the whole column name
        "file_name",
        "web_address",  # not a street address
        "notes",
        "tipping_point",
    ],
)
def test_name_patterns_never_match_substrings(name):
    col = one(name)
    assert col.classification is PUBLIC
    public_rules = {"name:descriptive", "name:organization", "name:event_time"}
    assert {e.rule for e in col.evidence} <= public_rules


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("address_type", "type"),
        ("email_verified", "verified"),
        ("phone_count", "count"),
        ("email_domain", "domain"),
        ("has_email", "has"),
        ("num_phones", "num"),
        ("is_ssn_valid", "valid"),
    ],
)
def test_descriptor_names_describe_a_value_without_holding_it(name, token):
    col = one(name)
    assert col.classification is PUBLIC
    assert col.evidence[0].rule.endswith(":descriptor")
    assert repr(token) in col.reasoning


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ip_address", PII),  # longest match: not "address"
        ("email_address", PII),
        ("address_city", PUBLIC),  # head noun last: the city of an address
        ("ip_country", PUBLIC),
        ("phone_country_code", PUBLIC),
        ("region_id", ID),  # head noun last: an identifier
        ("email_id", PII),  # a generic "id" loses to a sensitive match
    ],
)
def test_name_conflicts_resolve_by_length_then_head_noun(name, kind):
    assert one(name).classification is kind


@pytest.mark.parametrize(
    ("name", "sensitivity"),
    [
        ("ssn", Sensitivity.CRITICAL),
        ("card_number", Sensitivity.CRITICAL),
        ("email", Sensitivity.HIGH),
        ("phone", Sensitivity.HIGH),
        ("zip", Sensitivity.MEDIUM),
        ("age", Sensitivity.LOW),
        ("region", Sensitivity.LOW),
    ],
)
def test_sensitivity_per_pii_type(name, sensitivity):
    assert one(name).sensitivity is sensitivity


def test_ambiguous_names_are_less_confident():
    assert one("cell").confidence < one("mobile").confidence
    assert one("name").confidence < one("full_name").confidence


def test_unknown_name_is_public_with_low_confidence_and_no_evidence():
    col = one("foo_bar")
    assert col.classification is PUBLIC
    assert col.evidence == ()
    assert col.confidence == 0.5
    assert "no values were sampled" in col.reasoning


def test_non_string_names_are_converted():
    assert list(classify_columns([0, ("a", "b")])) == ["0", "('a', 'b')"]
