"""The name-only path made cheaper (``bench_classify``'s 500 new names) gives the same answers:
objects built by their slots, the lower-case tokenizer, the descriptor and whole-name checks,
the rollup's tier look-ups."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from lacuna.classify import slots
from lacuna.classify.base import NameMatch, _name_match
from lacuna.classify.heuristic import _by_name, _engine, classify_columns
from lacuna.classify.names import NameResult, _result
from lacuna.classify.rollup import rollup
from lacuna.classify.tokens import _ASCII_TOKEN, split_words
from lacuna.config import ClassificationConfig
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity, Tier


def test_objects_built_by_their_slots_equal_the_constructors():
    e = slots.evidence("name", "name:email", "name 'e' reads as an e-mail address", 0.9)
    assert e == Evidence(source="name", rule="name:email",
                         detail="name 'e' reads as an e-mail address", score=0.9)
    c = slots.heuristic_class(ColumnKind.PII, "email", Sensitivity.MEDIUM, 0.9, "R.", (e,))
    made = ColumnClass(classification=ColumnKind.PII, pii_type="email",
                       sensitivity=Sensitivity.MEDIUM, confidence=0.9, reasoning="R.",
                       layer=Layer.HEURISTIC, evidence=(e,))
    assert (c, hash(c), repr(c)) == (made, hash(made), repr(made))
    rec = _engine().names.recognizers[0]
    m = _name_match(rec, 0, 1, "email", 0.9)
    assert m == NameMatch(rec, 0, 1, "email", 0.9)
    assert _result(m, ("email",), None) == NameResult(m, ("email",), None)
    for obj, field in ((e, "score"), (c, "confidence"), (m, "score")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, 0.0)


def test_setters_refuse_a_class_they_cannot_fill_whole():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Two:
        a: int
        b: int = 0

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    assert slots.setters(Two, ("a", "b")) is not None
    assert slots.setters(Two, ("a",)) is None  # a field it would leave unset
    assert slots.setters(Two, ("b", "a")) is None
    assert slots.setters(Checked, ("a",)) is None  # its check would be skipped
    assert slots.setters(NoSlots, ("a",)) is None


def test_the_lower_case_tokenizer_finds_the_general_rule_s_tokens():
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-. /#@"
    names = ["email_x3_0", "ip_address_v6", "a1b22c333", "__", "x", "9", "date-of.birth",
             *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
               for _ in range(3000))]
    lower = [n for n in names if n.islower()]
    assert len(lower) > 2000
    for name in lower:
        general = tuple(" ".join(_ASCII_TOKEN.findall(name)).lower().split())
        assert split_words(name) == general, name
    # with a capital, the general rule (case boundaries) still applies
    assert split_words("IPAddress_v6") == ("ip", "address", "v", "6")
    assert split_words("custEml") == ("cust", "eml")


@pytest.mark.parametrize(
    ("name", "kind", "pii_type"),
    [
        ("email", ColumnKind.PII, "email"),
        ("email_x3_0", ColumnKind.PII, "email"),
        ("has_email", ColumnKind.PUBLIC, None),  # a leading descriptor
        ("email_verified", ColumnKind.PUBLIC, None),  # a trailing one
        ("median_age", ColumnKind.PUBLIC, None),  # a qualifier
        ("median_income", ColumnKind.FINANCIAL, None),  # no qualifier for money
        ("name", ColumnKind.PII, "name"),  # a whole-name phrase
        ("name_2", ColumnKind.PII, "name"),  # digits aside, still the whole name
        ("first_name", ColumnKind.PII, "name"),
        ("race", ColumnKind.PII, "ethnicity"),  # a whole-name special category
    ],
)
def test_name_only_answers_by_the_rules(name, kind, pii_type):
    column = classify_columns([name], cascade=False)[name]
    assert (column.classification, column.pii_type) == (kind, pii_type)
    assert column.layer is Layer.HEURISTIC
    assert column == _by_name(name, _engine().version)  # and it is the cached answer


def test_a_name_the_whole_phrase_check_skips_is_not_a_whole_name():
    # "file_name": the PersonName recognizer's whole phrase "name" is not the whole name
    column = classify_columns(["file_name"], cascade=False)["file_name"]
    assert column.pii_type != "name"


def test_rollup_looks_up_the_tier_of_each_distinct_class_once(monkeypatch):
    config = ClassificationConfig()
    asked: list[tuple[ColumnKind, Sensitivity]] = []
    tier_for = ClassificationConfig.tier_for

    def counted(self, kind, sensitivity):
        asked.append((kind, sensitivity))
        return tier_for(self, kind, sensitivity)

    monkeypatch.setattr(ClassificationConfig, "tier_for", counted)
    names = [f"{w}_{i}" for i in range(100) for w in ("email", "region", "amount", "ssn")]
    columns = classify_columns(names, cascade=False, config=config)
    table = rollup(columns, config)
    distinct = {(c.classification, c.sensitivity) for c in columns.values()}
    assert sorted(asked, key=repr) == sorted(distinct, key=repr)
    assert table.tier is Tier.PROPRIETARY
    assert re.search(r"PROPRIETARY because of column\(s\): email_0, ssn_0", table.reasoning[0])
