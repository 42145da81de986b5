import pandas as pd
import pytest

from lacuna.classify import (
    PhraseRecognizer,
    classify,
    classify_columns,
    classify_frame,
    name_recognizers,
    value_recognizers,
)
from lacuna.config import ClassificationConfig
from lacuna.errors import ClassificationError, PluginError, UnknownPluginError
from lacuna.model import Classification, ColumnKind, Layer, Tier


def test_customer_table_is_proprietary_pii():
    c = classify(["customer_id", "name", "email", "phone", "address", "region"])
    assert (c.tier, c.tags, c.floor) == (Tier.PROPRIETARY, ("PII", "GDPR"), Tier.PUBLIC)
    assert c.personal_columns == ("name", "email", "phone", "address")
    assert c.pii_types == ("name", "email", "phone", "address")
    assert c.columns["customer_id"].classification is ColumnKind.IDENTIFIER
    assert c.columns["region"].classification is ColumnKind.PUBLIC
    assert c.reasoning == ("PROPRIETARY because of column(s): name, email, phone, address",)
    assert c.layer is Layer.HEURISTIC


def test_sales_table_is_internal_financial():
    c = classify(["customer_id", "revenue", "region"])
    assert (c.tier, c.tags) == (Tier.INTERNAL, ("FINANCIAL",))


def test_card_numbers_make_a_table_proprietary_through_critical_sensitivity():
    c = classify(["order_id", "cc_num"])
    assert c.tier is Tier.PROPRIETARY


@pytest.mark.parametrize(
    "x",
    [
        pd.DataFrame({"contact": ["ada@example.org"] * 3}),
        pd.Series(["ada@example.org"] * 3, name="contact"),
        {"contact": ["ada@example.org"] * 3},
        {"contact": pd.Series(["ada@example.org"] * 3)},
    ],
)
def test_classify_accepts_frames_series_and_mappings(x):
    c = classify(x)
    assert c.columns["contact"].pii_type == "email"


def test_classify_accepts_any_iterable_of_names():
    assert list(classify(n for n in ["email", "zip"]).columns) == ["email", "zip"]


def test_unnamed_series_gets_a_column_name():
    assert list(classify(pd.Series([1, 2])).columns) == ["value"]


def test_sample_rows_zero_classifies_by_names_only():
    df = pd.DataFrame({"contact": ["ada@example.org"] * 3})
    assert classify(df, sample_rows=0).columns["contact"].classification is ColumnKind.PUBLIC
    assert classify({"contact": ["ada@example.org"]}, sample_rows=0).tier is Tier.PUBLIC


@pytest.mark.parametrize("rows", [-1, 1.5, "10"])
def test_bad_sample_rows_is_a_clear_error(rows):
    with pytest.raises(ClassificationError, match="sample_rows must be a whole number"):
        classify(pd.DataFrame({"a": [1]}), sample_rows=rows)


def test_config_sample_rows_is_the_default():
    df = pd.DataFrame({"contact": ["ada@example.org"] * 50})
    c = classify(df, config=ClassificationConfig(sample_rows=7))
    assert "of 7 sampled values" in c.columns["contact"].evidence[0].detail


def test_unsupported_input_type_is_a_clear_error():
    with pytest.raises(ClassificationError, match="cannot classify an object of type int"):
        classify(42)


def test_empty_frame_and_empty_list():
    assert classify(pd.DataFrame()) == Classification(columns={})
    c = classify(pd.DataFrame({"email": pd.Series([], dtype="str")}))
    assert c.columns["email"].pii_type == "email"
    assert "empty or null" in classify(pd.DataFrame({"x": []})).columns["x"].reasoning
    assert classify([]).tier is Tier.PUBLIC


def test_named_index_levels_count_as_columns():
    df = pd.DataFrame({"n": [1, 2]}, index=pd.Index(["a@x.org", "b@x.org"], name="email"))
    assert classify(df).columns["email"].pii_type == "email"


def test_multiindex_columns_are_keyed_by_their_tuple():
    """As lineage tracking and every record key them (header.column_key), never joined."""
    df = pd.DataFrame([["ada@example.org", 1]],
                      columns=pd.MultiIndex.from_tuples([("c", "email"), ("c", "n")]),
                      index=pd.Index(["x"], name="k"))
    c = classify(df)
    assert list(c.columns) == ["k", "('c', 'email')", "('c', 'n')"]
    assert c.columns["('c', 'email')"].pii_type == "email"


def test_classify_frame_passes_the_path_on():
    c = classify_frame(pd.DataFrame({"n": [1]}), path="/lake/patients/visits.csv")
    assert (c.tier, c.tags) == (Tier.PROPRIETARY, ("PHI",))


def test_classify_columns_keeps_order_and_uses_defaults():
    cols = classify_columns(["region", "email", "id"])
    assert list(cols) == ["region", "email", "id"]


def test_registries_list_the_builtins():
    assert {"email", "phone", "address", "id", "geography"} <= set(name_recognizers.names())
    assert {"email", "phone", "card_number", "iban", "ssn", "ipv4", "ipv6"} <= set(
        value_recognizers.names())
    with pytest.raises(UnknownPluginError, match="Did you mean 'phone'"):
        name_recognizers.get("phon")


def test_duplicate_registration_is_refused():
    with pytest.raises(PluginError, match="already registered"):
        name_recognizers.register("email")(PhraseRecognizer)


def test_a_phrase_recognizer_is_declarative():
    class Loyalty(PhraseRecognizer):
        name, kind, label = "loyalty", ColumnKind.IDENTIFIER, "a loyalty card number"
        phrases = ("loyalty card", "loyalty number")

    match = Loyalty().match(("loyalty", "card", "id"))
    assert (match.start, match.end, match.phrase) == (0, 2, "loyalty card")
    assert Loyalty().match(("loyaltycard",)).phrase == "loyalty card"
    assert Loyalty().match(("royalty",)) is None


def test_a_phrase_match_is_the_longest_then_the_rightmost():
    class Contact(PhraseRecognizer):
        name, kind, label = "contact", ColumnKind.PII, "a contact"
        phrases = ("contact", "contact email", "email")
        not_after = ("web",)
        whole = ("reach",)

    def found(*tokens):
        m = Contact().match(tokens)
        return None if m is None else (m.start, m.end, m.phrase, round(m.score, 4))

    assert found("contact", "email", "email") == (0, 2, "contact email", 0.9)  # longest
    assert found("email", "x", "contact") == (2, 3, "contact", 0.9)  # then rightmost
    assert found("web", "contact", "email") == (2, 3, "email", 0.9)  # "web" cancels the run
    assert found("web", "contact") is None
    assert found("contactemail", "2") == (0, 1, "contact email", 0.9)  # written together
    assert found("reach", "2") == (0, 2, "reach", 0.7)  # a whole name, digits aside
    assert found("reach", "me") is None


def test_the_engine_follows_the_registries_size():
    from lacuna.classify.heuristic import _engine

    engine = _engine()
    assert engine.version == (len(name_recognizers.names()), len(value_recognizers.names()))
    assert _engine() is engine  # built once per state of the registries


def test_a_name_read_without_remembering_answers_alike():
    from lacuna.classify.heuristic import _engine

    names = _engine().names
    first = names.analyze("billing_email_addr_probe", remember=False)
    assert first is not None
    assert first.match.recognizer.name == "email"
    assert "billing_email_addr_probe" not in names._cache  # the column class cache keeps it
    assert names.analyze("billing_email_addr_probe") == first
    assert "billing_email_addr_probe" in names._cache


def test_recognizers_registered_later_are_used():
    from lacuna.classify import name_recognizer

    assert classify_columns(["loyalty_tier"])["loyalty_tier"].evidence == ()

    @name_recognizer
    class LoyaltyTier(PhraseRecognizer):
        name, kind, label = "test_loyalty_tier", ColumnKind.PUBLIC, "a loyalty tier"
        phrases = ("loyalty tier",)

    col = classify_columns(["loyalty_tier"])["loyalty_tier"]
    assert col.evidence[0].rule == "name:test_loyalty_tier"
