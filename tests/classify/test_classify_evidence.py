import datetime as dt

import pandas as pd
import pytest

from lacuna.classify import classify, classify_columns, classify_text
from lacuna.errors import ClassificationError
from lacuna.model import ColumnClass, ColumnKind, Layer, Tier

PII, PHI, FIN, ID, PUBLIC = (ColumnKind.PII, ColumnKind.PHI, ColumnKind.FINANCIAL,
                             ColumnKind.IDENTIFIER, ColumnKind.PUBLIC)
N = 60


def col(values, name="col_7"):
    return classify_columns([name], {name: values}, cascade=False)[name]


@pytest.mark.parametrize(
    ("values", "kind", "pii_type", "rule"),
    [
        (["Maria Garcia", "John Smith", "Dr. Anna Müller", "Pierre Dubois"] * 15, PII, "name",
         "value:person_name"),
        (["4759 William Haven Apt. 194", "Ullmannweg 9-4", "12 rue de la Paix",
          "Calle Mayor 5"] * 15, PII, "address", "value:street_address"),
        (["SW1A 1AA", "EC1A 1BB", "M1 1AE", "B33 8TH"] * 15, PII, "postal_code",
         "value:postal_code"),
        (["M", "F", "Female", "Male"] * 15, PII, "gender", "value:gender"),
        (["1961-04-12", "12/05/1987", "03.07.1955", "1990-11-30", "1948-02-02"] * 12, PII,
         "dob", "value:dob"),
        (["12345678Z", "X1234567L", "VRCCCL47R16G698J", "175091730037964"] * 15, PII,
         "national_id", "value:national_id"),
        (["1M8GDM9AXKP042788", "WBA3A5C51CF256651"] * 30, PII, "vin", "value:vin"),
        (["E11.9", "I10", "J45.909", "M54.5"] * 15, PHI, "diagnosis", "value:icd10"),
        (["MRN-00123456", "MRN-99887766"] * 30, PHI, "medical_record_number", "value:mrn"),
        (["00:1A:2B:3C:4D:5E", "a4:5e:60:e8:11:22"] * 30, PII, "device_id", "value:mac_address"),
        (["DE136695976", "5493001KJTIIGC8Y1R12"] * 30, ID, None, "value:business_id"),
        (["$1,234.56", "12,50 €", "EUR 99.00"] * 20, FIN, None, "value:amount"),
        (["INV-000123", "INV-004567", "INV-889900"] * 20, ID, None, "value:record_code"),
        (["https://example.org/a", "http://shop.example.com/x?y=1"] * 30, PUBLIC, None,
         "value:url"),
    ],
)
def test_new_value_recognizers_classify_unnamed_columns(values, kind, pii_type, rule):
    c = col(values)
    assert (c.classification, c.pii_type) == (kind, pii_type)
    assert rule in {e.rule for e in c.evidence}
    assert "sampled values" in c.reasoning


@pytest.mark.parametrize(
    "values",
    [
        ["North Kevin", "Lake Jessica", "Port Mary"] * 20,  # place names built from first names
        ["Garcia Holdings Inc", "Smith GmbH", "Brown and Sons"] * 20,  # companies
        ["S", "M", "L", "XL"] * 15,  # sizes, not genders
        [f"2023-0{i % 9 + 1}-1{i % 9}" for i in range(N)],  # recent dates, not births
        ["B12", "C07", "A33"] * 20,  # seat codes look like ICD-10 but stay weak
        ["12 items", "Room 101", "3 left"] * 20,
    ],
)
def test_lookalikes_are_not_personal(values):
    assert not col(values).is_personal


def test_datetime_columns_are_checked_for_birth_dates():
    births = pd.Series(pd.to_datetime(["1950-01-02", "1972-03-04", "1988-05-06", "1999-07-08",
                                       "1965-09-10"] * 12))
    assert col(births).pii_type == "dob"
    events = pd.Series(pd.date_range("2023-01-01", periods=N))
    assert col(events).classification is PUBLIC
    objects = [dt.date(1960 + i % 40, 1 + i % 12, 1) for i in range(N)]
    assert col(objects).pii_type == "dob"


def test_near_miss_is_explained_with_the_match_ratio():
    values = ["+1 415-555-0100"] + ["n/a", "unknown", "ask front desk"] * 20
    c = col(values, name="phone")
    assert c.classification is PII  # a clear name keeps its class, with less confidence
    assert c.confidence < 0.8
    assert "Near miss: looked like a phone number, but only 2% of 61 sampled values" in (
        c.reasoning)


def test_an_ambiguous_name_needs_its_values():
    assert col(["Books", "Toys", "Garden"] * 20, name="genre").classification is PUBLIC
    assert col(["Male", "Female"] * 30, name="genre").pii_type == "gender"


@pytest.mark.parametrize(
    ("name", "pii_type"),
    [("telefono", "phone"), ("correo_electronico", "email"), ("geburtsdatum", "dob"),
     ("fecha_nacimiento", "dob"), ("nachname", "name"), ("code_postal", "postal_code"),
     ("numero_tarjeta", "card_number"), ("DoB", "dob"), ("num_telefono", "phone"),
     ("veh_vin", "vin"), ("passport_no", "passport")],
)
def test_names_in_other_languages_and_abbreviations(name, pii_type):
    assert classify([name], cascade=False).columns[name].pii_type == pii_type


@pytest.mark.parametrize("name", ["nombre_producto", "idioma", "created_at", "order_status",
                                  "company_name", "quantity"])
def test_confidently_public_names(name):
    c = classify([name], cascade=False).columns[name]
    assert (c.classification, c.confidence) == (PUBLIC, 0.8)


def test_free_text_is_one_pseudo_column():
    c = classify("Please call Maria Garcia at +1 415-555-0100 or write to maria@example.org")
    assert list(c.columns) == ["text"]
    assert c.columns["text"].classification is PII
    assert c.tier is Tier.PROPRIETARY
    assert classify_text("The weather is nice today.").tier is Tier.PUBLIC


def test_a_string_that_looks_like_a_path_is_still_a_path():
    with pytest.raises(ClassificationError, match="does not exist"):
        classify("missing.csv")


def test_declared_beats_inferred_and_disagreements_are_suggestions():
    c = classify({"contact": ["ada@example.org"] * 5, "region": ["north"] * 5},
                 declared={"contact": "public", "region": {"classification": "public"}})
    assert c.columns["contact"].classification is PUBLIC
    assert c.columns["contact"].layer is Layer.DECLARED
    assert "inference suggests pii/email" in c.columns["contact"].reasoning
    assert c.reasoning[0] == "declared by the caller"
    assert c.reasoning[1].startswith("suggestion: column 'contact' is declared public but "
                                     "looks like pii/email")
    assert c.tier is Tier.PUBLIC
    agree = classify(["email"], declared={"email": ColumnClass(classification=PII)})
    assert not any(r.startswith("suggestion") for r in agree.reasoning)


def test_bad_declaration_is_a_clear_error():
    with pytest.raises(ClassificationError, match="declared class of column 'x'"):
        classify(["x"], declared={"x": "secret-ish"})
    with pytest.raises(ClassificationError, match="is a int"):
        classify(["x"], declared={"x": 3})
