"""Labels read as values (:func:`lacuna.classify.labels.label_class`): what a header holds."""

from __future__ import annotations

import re

import pytest

from lacuna.classify import classify
from lacuna.classify import labels as labels_module
from lacuna.classify.labels import label_class
from lacuna.config import ClassificationConfig
from lacuna.model import Tier

CONFIG = ClassificationConfig()
ORDINARY = ["customer_id", "name", "email", "phone", "address", "region", "signup_date"]


@pytest.mark.parametrize(("labels", "pii_type"), [
    (["ana@example.org", "bo@example.com", "cy@example.net"], "email"),
    (["email_ana@example.org", "email_bo@example.com"], "email"),  # get_dummies' prefix
    ([*ORDINARY, *(f"n{i}" for i in range(40)), "ana@example.org"], "email"),
    (["ward", "beds", "+1 415-555-0178"], "phone"),
    (["C0001", "C0002", "C0003", "ana@example.org"], "email"),  # the strictest reading wins
    (["Kira Kowalski", "Elena Petrov", "John Smith", "Maria Garcia"], "name"),
    (["Alice", "Bob", "Carol", "Dave", "Eve"], "name"),
    (["10.0.0.1", "192.168.1.20", "8.8.8.8"], "ip_address"),
])
def test_label_class_finds_values_made_labels(labels: list[str], pii_type: str) -> None:
    found = label_class(labels, CONFIG)
    assert found is not None
    assert found.pii_type == pii_type


@pytest.mark.parametrize("labels", [
    ORDINARY,
    ["order_id", "customer_id", "product_category", "revenue", "order_date"],
    ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "Ticket", "Fare", "Cabin"],
    ["January", "February", "March", "April", "May", "June", "July", "August"],
    ["France", "Jordan", "Chad", "Georgia", "Italy", "Peru", "Kenya", "Japan"],
    ["Alabama", "Georgia", "Virginia", "Washington", "Florida", "Texas"],
    ["F", "M"], ["female", "male"],  # a pivot by sex: groups, not people
    ["2021", "2022", "2023", "2024"], ["Q1", "Q2", "Q3", "Q4"],
    ["June"],  # one label that is also a given name
    ["Smith", "Garcia"],  # family names alone: not told from countries
])
def test_label_class_leaves_ordinary_headers_alone(labels: list[str]) -> None:
    assert label_class(labels, CONFIG) is None


def test_label_class_reads_at_most_sample_rows_labels_evenly_spaced() -> None:
    config = ClassificationConfig(sample_rows=10)
    wide = [f"col_{i}" for i in range(1000)]
    assert label_class(wide, config) is None
    emails = [f"user{i}@example.org" for i in range(1000)]
    found = label_class(emails, config)
    assert found is not None
    assert found.reasoning.startswith("10 label(s) read")
    one = [*wide[:555], "ana@example.org", *wide[555:]]  # not among the 10 evenly spaced
    found = label_class(one, config)
    assert found is not None
    assert found.reasoning.startswith("the 1 of 1001 label(s) with an '@'")


def test_label_class_remembers_a_header_per_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[list[str]] = []
    read = labels_module._read

    def counted(labels: list[str], config: ClassificationConfig) -> object:
        reads.append(labels)
        return read(labels, config)

    monkeypatch.setattr(labels_module, "_read", counted)
    header = ["remembered_a", "remembered_b"]
    assert label_class(header, CONFIG) is None
    assert label_class(header, CONFIG) is None
    assert len(reads) == 1
    assert label_class(header, ClassificationConfig()) is None  # another configuration
    assert len(reads) == 2


@pytest.mark.parametrize(("keys", "pii_type"), [
    (["ana@example.org", "bo@example.com", "region"], "email"),
    (["ward", "beds", "+1 415-555-0178", "+44 20 7946 0958"], "phone"),
    (["Kira Kowalski", "Elena Petrov", "John Smith", "Maria Garcia"], "name"),
])
@pytest.mark.parametrize("given", ["mapping", "list"])
def test_classify_reads_the_names_given_as_a_header(
    keys: list[str], pii_type: str, given: str
) -> None:
    """``classify({name: samples})`` (and ``/api/v1/classify``) and ``classify([names])`` took
    the names for names only: names that are values classified PUBLIC. They are read as a
    header, as a frame's column names are: ``(column labels)``, each value named by position."""
    x = {k: ["1", "2"] for k in keys} if given == "mapping" else keys
    c = classify(x, config=CONFIG)
    header = c.columns["(column labels)"]
    assert header.pii_type == pii_type
    assert header.reasoning.startswith("the column labels hold values of this kind, given as "
                                       "the column names")
    assert c.tier > Tier.PUBLIC
    values = [k for k in keys if k not in ("region", "ward", "beds")]
    positions = [f"(column {keys.index(k) + 1})" for k in values]
    assert [n for n in c.columns if re.fullmatch(r"\(column \d+\)", n)] == positions
    assert not [n for n in c.columns if n in values]  # no value names a column
    assert not any(v in header.reasoning for v in values)
    assert [k for k in keys if k not in values] == [n for n in c.columns if n in keys]


@pytest.mark.parametrize("given", ["mapping", "list"])
def test_classify_keeps_ordinary_names_given(given: str) -> None:
    x = {k: ["1", "2"] for k in ORDINARY} if given == "mapping" else ORDINARY
    c = classify(x, config=CONFIG)
    assert list(c.columns) == ORDINARY
    assert c.columns["email"].pii_type == "email"  # by its name, as before


KNOWN = ["customer_id", "email", "phone", "first_name", "zip_4", "amount_2", "created_at",
         "order_id", "ip_address", "card_number", "status", "region", "notes"]


def test_a_header_of_known_column_names_is_not_scanned_as_values(monkeypatch) -> None:
    scanned: list[list[str]] = []
    real = labels_module.classify_columns

    def counting(names, samples, *args, **kwargs):
        scanned.append([v for s in samples.values() for v in s])
        return real(names, samples, *args, **kwargs)

    monkeypatch.setattr(labels_module, "classify_columns", counting)
    assert label_class(KNOWN, CONFIG) is None
    assert scanned == []  # every label is a header word: no value scan at all
    label_class([*KNOWN, "kontakt", "Maria"], CONFIG)
    assert scanned
    assert set(scanned[0]) == {"kontakt", "Maria"}


@pytest.mark.parametrize("label", [
    "ana@example.org", "email@example.org", "+14155550178", "4155550178", "DEUTDEFF",
    "GB29NWBK60161331926819", "Maria", "Maria Garcia", "123-45-6789", "550e8400-e29b-41d4",
    "kontakt", "john_smith",
])
def test_values_are_never_header_words(label: str) -> None:
    assert not labels_module.header_word(label)


def test_names_among_many_known_column_names_are_not_diluted_by_them() -> None:
    """Three people's names beside twenty ordinary column names: read among the labels that
    are not column names, they are most of them."""
    header = [*KNOWN, *(f"{k}_2" for k in KNOWN[:7]), "Maria Garcia", "John Smith", "Anna Müller"]
    found = label_class(header, CONFIG)
    assert found is not None
    assert found.pii_type == "name"
    assert "column name(s) of a known kind left aside" in found.reasoning
    c = classify(header)
    assert c.tier > Tier.PUBLIC
    assert "Maria Garcia" not in str(c.to_dict())  # records name the labels by position
