import numpy as np
import pandas as pd
import pytest

from lacuna.classify import classify_columns, classify_frame
from lacuna.classify.scan import MAX_VALUE_CHARS, column_sample, sample_positions
from lacuna.model import ColumnKind, Sensitivity

PII, FIN, ID, PUBLIC = (ColumnKind.PII, ColumnKind.FINANCIAL, ColumnKind.IDENTIFIER,
                        ColumnKind.PUBLIC)
N = 120


def col(values, name="col"):
    return classify_columns([name], {name: values})[name]


def emails(n=N):
    return [f"user{i}@example.com" for i in range(n)]


@pytest.mark.parametrize(
    ("values", "kind", "pii_type", "rule"),
    [
        (emails(), PII, "email", "value:email"),
        ([f"+1 415-555-{i:04d}" for i in range(1000, 1000 + N)], PII, "phone", "value:phone"),
        (["4111 1111 1111 1111", "5555555555554444", "378282246310005"] * 40, PII,
         "card_number", "value:card_number"),
        (["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"] * 60, FIN, "iban",
         "value:iban"),
        ([f"536-90-{i:04d}" for i in range(1, N + 1)], PII, "ssn", "value:ssn"),
        ([f"10.0.{i // 256}.{i % 256}" for i in range(N)], PII, "ip_address", "value:ipv4"),
        ([f"2001:db8::{i:x}" for i in range(N)], PII, "ip_address", "value:ipv6"),
        (["DEUTDEFF", "NWBKGB2L", "COBADEFFXXX"] * 40, FIN, "swift_bic", "value:swift_bic"),
    ],
)
def test_value_recognizers_classify_unnamed_columns(values, kind, pii_type, rule):
    c = col(values)
    assert (c.classification, c.pii_type) == (kind, pii_type)
    assert c.evidence[0].rule == rule
    assert c.evidence[0].detail.startswith("100% of 120 sampled values are")


@pytest.mark.parametrize(
    "values",
    [
        ["4111 1111 1111 1112"] * N,  # Luhn-invalid
        [f"666-12-{i:04d}" for i in range(1, N + 1)],  # area 666
        ["GB82 WEST 1234 5698 7654 33"] * N,  # IBAN check digits wrong
        [f"10:{i % 60:02d}:00" for i in range(N)],  # times, not IPv6
        [f"2024-01-{i % 28 + 1:02d}" for i in range(N)],  # dates, not phones
        ["hello world"] * N,
    ],
)
def test_invalid_values_are_not_evidence(values):
    c = col(values)
    assert (c.classification, c.evidence) == (PUBLIC, ())
    assert c.confidence == 0.6  # values were scanned and matched nothing


def test_match_ratio_is_reported_in_evidence():
    c = col(emails(30) + ["n/a"] * 70)
    assert c.pii_type == "email"
    assert c.evidence[0].detail == "30% of 100 sampled values are valid e-mail addresses"


def test_mixed_column_below_ratio_is_classified_by_a_persons_address_only():
    # a few role addresses (a shared inbox, a support address) are no one's; four people's
    # addresses are theirs however many "n/a" surround them (tests/classify/test_lone_values)
    roles = ["support@example.com", "info@example.com", "noreply@example.com", "sales@x.org"]
    assert col(roles + ["n/a"] * 96).classification is PUBLIC
    assert col(emails(4) + ["n/a"] * 96).pii_type == "email"


def test_addresses_hidden_among_filler_are_still_pii():
    """Sixty e-mail addresses among two hundred "n/a" (or rows of "x") are sixty people's
    addresses: a column padded below the ratio used to pass as PUBLIC."""
    for filler, n, k in (("n/a", 200, 60), ("x", 95, 5), ("see notes", 400, 6)):
        c = col(["n/a" if filler == "n/a" else filler] * n + emails(k))
        assert (c.classification, c.pii_type) == (PII, "email"), (filler, n, k)
        assert c.confidence < col(emails(k)).confidence  # less sure than a column of them


def test_id_of_ten_digit_numbers_is_an_identifier_not_a_phone():
    ids = list(np.random.default_rng(1).integers(2_000_000_000, 9_999_999_999, N))
    c = col(pd.Series(ids), name="id")
    assert (c.classification, c.pii_type) == (ID, None)
    assert [e.rule for e in c.evidence] == ["name:id", "value:phone"]
    assert "set aside" in c.reasoning


def test_bare_digits_alone_never_decide_but_lower_confidence():
    c = col(pd.Series([4155552671 + i for i in range(N)]), name="c7")
    assert c.classification is PUBLIC
    assert c.confidence == 0.5
    assert c.evidence[0].rule == "value:phone"


def test_bare_digits_support_a_matching_name():
    c = col(pd.Series([4155552671 + i for i in range(N)]), name="mobile")
    assert c.pii_type == "phone"
    assert c.confidence > col([], name="mobile").confidence


@pytest.mark.parametrize("values", [
    [f"u{i:08d}" for i in range(N)],  # user ids (a token's sub), not licences
    [f"A{i:07d}" for i in range(1_000_000, 1_000_000 + N)],  # California's shape: weak
    [f"T{i:03d}-{i:03d}-{i % 100:02d}-{i:03d}-{i % 10}" for i in range(100, 100 + N)],
])
def test_us_licence_shapes_never_decide_alone(values):
    assert col(values, name="sub").classification is not PII
    licence = col(values, name="dl_number")
    assert (licence.classification, licence.pii_type) == (PII, "drivers_license")


def test_a_uk_licence_number_decides_alone():
    c = col(["MORGA753116SM9IJ", "SMITH801223AB1CD", "JONES710101XY2ZZ"] * 40)
    assert (c.classification, c.pii_type) == (PII, "drivers_license")
    assert c.evidence[0].rule == "value:drivers_license"


def test_contact_holding_emails_is_pii_email():
    c = col(emails(), name="contact")
    assert (c.classification, c.pii_type, c.sensitivity) == (PII, "email", Sensitivity.HIGH)


def test_name_and_values_agreeing_raise_confidence():
    assert col(emails(), name="cust_eml").confidence > col(emails()).confidence
    assert col(emails(), name="cust_eml").confidence > classify_columns(["cust_eml"])[
        "cust_eml"].confidence


def test_strong_values_outweigh_a_weaker_class_name():
    c = col([f"+1 (415) 555-{i:04d}" for i in range(1000, 1000 + N)], name="customer_id")
    assert (c.classification, c.pii_type) == (PII, "phone")
    assert "outweighs" in c.reasoning
    assert c.confidence < 0.6  # a disagreement: the next layer should look


def test_free_text_with_emails_and_phones_is_pii():
    notes = ["please call +1 415-555-2671 or write to ada@example.org"] * 3 + [
        "no contact details here"] * 97
    c = col(notes, name="notes")
    assert (c.classification, c.pii_type) == (PII, "email")
    assert {e.rule for e in c.evidence} == {"value:email", "value:phone", "name:descriptive"}
    assert "(free text)" in c.reasoning


@pytest.mark.parametrize("joined", [
    lambda a: ",".join(a), lambda a: ";".join(a), lambda a: "|".join(a),
    lambda a: "\n".join(a), lambda a: "\t".join(a), lambda a: f"email={a[0]}",
    lambda a: f"<{a[0]}>", lambda a: f"mailto:{a[0]}",
], ids=["comma", "semicolon", "pipe", "newline", "tab", "key=value", "angle", "mailto"])
def test_addresses_joined_without_spaces_are_free_text(joined):
    addresses = emails(40)
    c = col([joined(addresses[i:i + 10]) for i in range(0, 40, 10)], name="x")
    assert (c.classification, c.pii_type) == (PII, "email"), c.reasoning
    assert col(["AMER,EMEA;APAC|LATAM"] * 4, name="x").classification is PUBLIC  # no address


def test_one_persons_email_in_large_free_text_is_enough_a_role_address_is_not():
    # one address is someone's (tests/classify/test_lone_values.py); a shared inbox no one's
    notes = ["write to ada@example.org"] + ["nothing to see here"] * 99
    assert col(notes, name="notes").pii_type == "email"
    notes = ["write to support@example.org"] + ["nothing to see here"] * 99
    assert col(notes, name="notes").classification is PUBLIC


@pytest.mark.parametrize(
    ("series", "skipped"),
    [
        (pd.Series(np.linspace(0.5, 99.5, N)), "decimal numbers"),
        (pd.Series(pd.date_range("2020-01-01", periods=N)), "dates and times"),
        (pd.Series([True, False] * (N // 2)), "booleans"),
    ],
)
def test_non_string_dtypes_are_not_scanned(series, skipped):
    c = col(series)
    assert c.classification is PUBLIC
    assert skipped in c.reasoning


def test_integer_card_numbers_are_found():
    c = col(pd.Series([4111111111111111, 5555555555554444] * 60, dtype="int64"))
    assert c.pii_type == "card_number"


def test_integers_with_missing_values_loaded_as_floats_are_scanned_as_integers():
    c = col(pd.Series([4111111111111111.0, np.nan] * 60))
    assert c.pii_type == "card_number"


def test_categorical_and_nullable_string_columns():
    assert col(pd.Series(emails(), dtype="category")).pii_type == "email"
    assert col(pd.Series(emails(), dtype="string")).pii_type == "email"
    assert col(pd.Series(emails(), dtype=object)).pii_type == "email"


def test_all_null_and_empty_columns():
    assert "empty or null" in col([None] * N).reasoning
    assert "empty or null" in col(["", "  "] * N).reasoning
    assert col([]).classification is PUBLIC


def test_huge_strings_are_cut_before_any_pattern_runs():
    head = "ada@example.org " + "x" * 3_000_000
    tail = "x" * 3_000_000 + " ada@example.org"
    sample = column_sample("blob", pd.Series([head, tail] * 10))
    assert max(len(v) for v in sample.values.to_pylist()) <= MAX_VALUE_CHARS
    c = col(pd.Series([head] * 10), name="blob")
    assert c.pii_type == "email"  # found within the bound ...
    assert col(pd.Series([tail] * 10), name="blob").classification is PUBLIC  # ... not past it


def test_sampling_is_deterministic_bounded_and_covers_the_range():
    positions = sample_positions(1_000_000, 1000)
    assert len(positions) <= 1000
    assert positions[0] == 0
    assert positions[-1] == 999_999
    assert (positions == sample_positions(1_000_000, 1000)).all()
    assert sample_positions(10, 1000) is None


def test_long_sequences_are_sampled_not_scanned_whole():
    values = ["n/a"] * 2000 + emails(2000)  # sorted: e-mails only in the second half
    c = classify_columns(["col"], {"col": values},)["col"]
    assert c.pii_type == "email"
    assert "of 1000 sampled values" in c.evidence[0].detail


def test_frame_with_a_million_rows_samples_at_most_sample_rows():
    df = pd.DataFrame({"contact": np.array(emails(1000) * 1000, dtype=object)})
    c = classify_frame(df, sample_rows=500)
    assert "of 500 sampled values" in c.columns["contact"].evidence[0].detail


def test_values_never_appear_in_reasoning_or_evidence():
    secret = "zq-secret-77@example.org"
    df = pd.DataFrame({"contact": [secret] * 5, "ssn": ["536-90-4399"] * 5,
                       "notes": [f"mail {secret} now"] * 5})
    c = classify_frame(df)
    text = repr(c) + str(c.to_dict())
    assert secret not in text
    assert "536-90-4399" not in text


def test_one_set_of_strong_recognizers_for_names_and_the_proxy():
    """Data found in column names (records, the answer cache) and in what the proxy sends is
    found by the same recognizers: those that decide alone, never a weak format."""
    from lacuna.classify.heuristic import _engine, data_in_names, strong_recognizers
    from lacuna.classify.scan import PatternRecognizer
    from lacuna.proxy.gate import _shaped, _validated

    strong = strong_recognizers()
    engine = _engine().values
    assert [r for _, r in strong] == [
        r for r in engine if isinstance(r, PatternRecognizer) and not r.weak_only]
    assert all(engine[n] is r for n, r in strong)
    assert {"email", "phone", "card_number", "iban"} <= {r.name for _, r in strong}
    values = ["ana@example.com", "4111 1111 1111 1111", "12 apples"]
    assert [n for n, *_ in _shaped(values)] == [n for n, _ in strong]
    assert _validated(values) == [True, True, False]
    names = ["ana@example.com", "id", "card 4111 1111 1111 1111", "12 apples"]
    assert data_in_names(names) == {"ana@example.com", "4111 1111 1111 1111"}


@pytest.mark.parametrize(
    "name",
    ["ana[at]example[dot]com", "anaATexampleDOTcom", "ana_at_example_dot_com",
     "ana@example[.]com", "+44 2O 7946 O958", "\u0430na@example.com", "ｕｓｅｒ＠example.com",
     "host 192.168.O.1", "ana dot lopez at example dot com", "anaATexample.com",
     "ana#at#example.com", "ana(a)example.com", "ana%40example.com", "ana&#64;example.com",
     "ana at exampleDOTcom", "+44 20 79S6 O9SB", "card 4S2S BB1Z 34S6 7B9O",
     "ana @ example . com", "ana%2540example.com", "ana(at-sign)example.com",
     "ana [at sign] example [dot] com", "ana&amp;#64;example.com"],
)
def test_a_name_that_holds_data_as_values_are_read_is_data(name):
    """Each was not data in a name (so stored in the answer cache's rows, shown in the proxy's
    records, a SQL literal holding it not classified), though the same value is in a column."""
    from lacuna.classify.heuristic import data_in_names

    assert name in data_in_names(["id", name, "created_at"])
    assert data_in_names(["id", "created_at", "polka dot", "ISO 9001", "", "CATalog",
                          "sendATcommand.py", "part (a)", "B2B", "Q1Sales", "S3Bucket",
                          "galaxy_S23_1234567", "meet me @ 5 . then", "v1 . 2",
                          "at sign"]) == set()
