"""GDPR's special categories (Art. 9) and criminal convictions (Art. 10) by column name: each
was PUBLIC, so a table of religions, ethnic origins or criminal records left for anywhere."""

import pandas as pd
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


# --- by values alone, under names that say nothing -----------------------------------------

RELIGIONS = [
    "Catholic",
    "Muslim",
    "Protestant",
    "Jewish",
    "Hindu",
    "None",
    "Buddhist",
    "Atheist",
    "Prefer not to say",
    "catholic",
]
SPECIAL_VALUES = [
    (RELIGIONS * 3, ColumnKind.PII, "religion"),
    (
        ["Democrat", "Republican", "Independent", "Democrat", "Libertarian", "n/a"] * 4,
        ColumnKind.PII,
        "political_opinion",
    ),
    (
        ["Labour", "Conservative", "Liberal Democrat", "SNP", "Green", "Labour"] * 4,
        ColumnKind.PII,
        "political_opinion",
    ),
    (
        ["Heterosexual", "Gay", "Lesbian", "Bisexual", "heterosexual", "Prefer not to say"] * 4,
        ColumnKind.PII,
        "sexual_orientation",
    ),
    (
        ["White", "Black or African American", "Asian", "Hispanic or Latino", "White"] * 4,
        ColumnKind.PII,
        "ethnicity",
    ),
    (
        ["White British", "Black Caribbean", "Asian British", "Mixed", "Other"] * 4,
        ColumnKind.PII,
        "ethnicity",
    ),
    (["Unison", "Unite", "GMB", "Unison", "none", "RCN"] * 4, ColumnKind.PII, "trade_union"),
    (
        ["Diabetes", "Asthma", "Hypertension", "Depression", "HIV", "none"] * 4,
        ColumnKind.PHI,
        "diagnosis",
    ),
    (
        ["Katholisch", "Evangelisch", "konfessionslos", "Muslimisch", "keine Angabe"] * 4,
        ColumnKind.PII,
        "religion",
    ),
    # answers with qualifiers, as a survey export writes them (heplots/TIPI)
    (
        ["Christian (Catholic)", "Christian (Protestant)", "Agnostic", "Muslim - Sunni"] * 5,
        ColumnKind.PII,
        "religion",
    ),
    (["White/Hispanic", "Black/Non-Hispanic", "Asian", "White"] * 5, ColumnKind.PII, "ethnicity"),
    # a Cyrillic С and Р: read as the Latin letters they look like
    (
        ["\u0421atholic", "Muslim", "\u0420rotestant", "Jewish", "Hindu"] * 4,
        ColumnKind.PII,
        "religion",
    ),
]


@pytest.mark.parametrize(("values", "kind", "pii_type"), SPECIAL_VALUES)
@pytest.mark.parametrize("name", ["c7", "attr", "field_12"])
def test_special_categories_are_recognized_from_values(name, values, kind, pii_type):
    c = col(name, values)
    assert (c.classification, c.pii_type) == (kind, pii_type), c.reasoning
    assert any(e.rule.startswith("value:") for e in c.evidence)


def test_a_large_frame_and_a_file_of_religions_are_personal(tmp_path):
    """Sampled from 5,000 rows, and read back from a CSV written with a neutral header."""
    frame = pd.DataFrame({"id": range(5000), "c7": (RELIGIONS * 500)})
    got = classify(frame)
    assert got.columns["c7"].pii_type == "religion"
    assert got.tier is not Tier.PUBLIC
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    back = classify(path)
    assert back.columns["c7"].pii_type == "religion"
    assert back.columns["id"].classification is not ColumnKind.PII


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(["Catholic", "Muslim", "Jewish", "None", "Hindu"] * 200),  # periodic
        pd.Series(pd.Categorical(["Catholic", "Muslim", "Jewish", "None", "Hindu"] * 200)),
        pd.Series(["Muslim"] * 500 + ["Catholic"] * 500, dtype="string"),  # sorted
    ],
)
def test_every_sampled_value_is_counted(series):
    """An evenly spaced subset of a periodic column sees one answer (was PUBLIC); a
    categorical column or Arrow strings hold the same answers."""
    c = classify_columns(["c7"], {"c7": series}, cascade=False)["c7"]
    assert c.pii_type == "religion", c.reasoning
    assert classify(pd.DataFrame({"c7": series})).columns["c7"].pii_type == "religion"


@pytest.mark.parametrize(
    "values",
    [
        # free text mentioning a religion now and then: whole values only count
        ["went to a catholic school", "ordered paper", "muslim friendly menu"]
        + ["ordered more paper"] * 30,
        ["red", "green", "white", "black", "blue"] * 6,  # colours
        ["White", "Black"] * 15,  # chess pieces: ambiguous words only
        ["Aries", "Taurus", "Gemini", "Cancer", "Leo", "Virgo", "Libra"] * 4,  # star signs
        ["Chinese", "Indian", "Italian", "Mexican", "Thai", "French"] * 5,  # cuisines
        ["freestyle", "backstroke", "breaststroke", "butterfly", "stroke"] * 6,
        ["Labour", "Green", "Independent", "Conservative"] * 8,  # ordinary words only
        ["Catholic"] * 30,  # one answer: not enough to tell a category
        ["none"] * 30 + ["Catholic", "Muslim"],  # two hits: too few
        ["member", "non-member"] * 15,  # a membership flag says nothing of a union
        ["Orthodox", "Reform", "Conservative"] * 10,  # ambiguous only
        ["Cancer", "Depression", "Anxiety"] * 10,  # ambiguous only
        ["red/white", "black (matte)", "green, blue"] * 10,  # qualifiers of ambiguous words
        ["The Catholic Church (Rome)", "Catholic, and proud", "Muslim, since 2001"] * 10,
    ],
)
def test_public_values_that_sound_alike_stay_public(values):
    c = col("c7", values)
    assert c.classification is ColumnKind.PUBLIC, c.reasoning


def test_given_names_with_christian_among_them_are_names_not_religions():
    assert col("c7", ["Christian", "Anna", "Peter", "Maria", "Jonas"] * 6).pii_type == "name"


def test_special_values_do_not_override_a_name_that_says_more():
    """A column named religion keeps its name's type; one named status holding religions is
    still a religion column (the values say what it is)."""
    assert col("religion", RELIGIONS * 3).pii_type == "religion"
    assert col("status", RELIGIONS * 3).pii_type == "religion"
