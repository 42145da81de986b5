"""GDPR's special categories (Art. 9) and criminal convictions (Art. 10) by column name: each
was PUBLIC, so a table of religions, ethnic origins or criminal records left for anywhere."""

import pytest

from lacuna.classify import classify, classify_columns
from lacuna.model import ColumnKind, Tier


def col(name, values=("yes", "no") * 15):
    return classify_columns([name], {name: list(values)}, cascade=False)[name]


@pytest.mark.parametrize(
    ("name", "values", "pii_type"),
    [
        ("religion", ["Catholic", "Muslim", "Jewish", "None"] * 10, "religion"),
        ("religious", [1, 2, 3, 4] * 10, "religion"),  # statsmodels fair: religiousness
        ("Ethnicity", ["White", "Black", "Asian", "Hispanic"] * 10, "ethnicity"),
        ("ethnic_origin", ["a", "b", "c"], "ethnicity"),
        ("race", ["a", "b"], "ethnicity"),
        ("sexual_orientation", ["heterosexual", "gay", "bisexual"] * 10, "sexual_orientation"),
        ("political_party", ["Labour", "Conservative", "Green"] * 10, "political_opinion"),
        ("union_member", ["yes", "no"] * 15, "trade_union"),  # the flag is the fact itself
        ("is_union_member", [0, 1] * 15, "trade_union"),
        ("has_criminal_record", ["yes", "no"] * 15, "criminal_record"),
        ("criminal_convictions", ["none", "theft"] * 15, "criminal_record"),
        ("fingerprint_template", ["AAECAwQ="] * 30, "biometric"),
        ("ReligiousAffiliation", ["a", "b"], "religion"),
        ("konfession", ["rk", "ev"] * 15, "religion"),
        ("casier_judiciaire", ["néant"] * 30, "criminal_record"),
    ],
)
def test_special_categories_are_personal(name, values, pii_type):
    c = col(name, values)
    assert (c.classification, c.pii_type) == (ColumnKind.PII, pii_type), c.reasoning
    assert classify([name]).tier is not Tier.PUBLIC


@pytest.mark.parametrize(
    "name",
    [
        "race_time",
        "race_name",
        "horse_race",
        "race_condition",
        "file_fingerprint",
        "genetic_algorithm",
        "party_size",
        "denomination",
        "religion_count",
        "ethnicity_pct",
        "union_all",
        "event_race_date",
    ],
)
def test_names_that_only_sound_alike_stay_public(name):
    assert col(name, ["a", "b", "c"] * 10).classification is ColumnKind.PUBLIC


@pytest.mark.parametrize("name", ["pregnancy_status", "has_allergy", "hiv_status"])
def test_whether_a_person_has_a_condition_is_health_data(name):
    assert col(name).classification is ColumnKind.PHI


@pytest.mark.parametrize("name", ["has_email", "email_status", "phone_count"])
def test_whether_a_contact_exists_stays_a_descriptor(name):
    assert col(name).classification is ColumnKind.PUBLIC


@pytest.mark.parametrize("name", ["nhs_number", "nhs_no", "medicare_number"])
def test_health_service_numbers_are_national_ids(name):
    assert classify_columns([name], cascade=False)[name].pii_type == "national_id"
    assert col(name, ["943 476 5919"] * 30).classification is ColumnKind.PII
