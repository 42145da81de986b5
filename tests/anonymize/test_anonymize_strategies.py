from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from lacuna.anonymize import Context, Strategy, anonymize, strategies
from lacuna.anonymize.base import output_class
from lacuna.anonymize.builtin import HashStrategy, MaskStrategy, RedactStrategy
from lacuna.errors import UnknownPluginError
from lacuna.lineage.state import get_state
from lacuna.model import ColumnClass, ColumnKind, Tier


def ctx(pii_type: str | None = None, key: bytes = b"k" * 32) -> Context:
    cls = ColumnClass(classification=ColumnKind.PII, pii_type=pii_type) if pii_type else None
    return Context(column="c", column_class=cls, key=lambda: key)


def hmac20(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:20]


def test_hash_is_keyed_hmac_truncated() -> None:
    out = HashStrategy().apply(pd.Series(["jane@example.com"]), ctx(key=b"secret"))
    assert out.tolist() == [hmac20(b"secret", "jane@example.com")]
    # Not a plain digest: a rainbow table of sha256(e-mail) finds nothing.
    assert out[0] != hashlib.sha256(b"jane@example.com").hexdigest()[:20]


def test_hash_is_stable_for_joins_and_nulls_stay_null() -> None:
    values = pd.Series(["a", None, "b", "a", np.nan], dtype=object)
    out = HashStrategy().apply(values, ctx())
    assert out[0] == out[3]
    assert out[0] != out[2]
    assert out[1] is None
    assert pd.isna(out[4])
    assert out.index.equals(values.index)


def test_hash_key_separation() -> None:
    values = pd.Series(["jane@example.com", "bob@corp.com"])
    one = HashStrategy().apply(values, ctx(key=b"key-one"))
    two = HashStrategy().apply(values, ctx(key=b"key-two"))
    assert not set(one) & set(two)


def test_hash_non_string_values_join_with_their_text() -> None:
    ints = HashStrategy().apply(pd.Series([42, 7]), ctx())
    texts = HashStrategy().apply(pd.Series(["42", "7"]), ctx())
    assert ints.tolist() == texts.tolist()
    assert ints.dtype == object


def test_an_integer_column_with_a_null_hashes_as_the_integers_do() -> None:
    """pandas keeps integers with a null as float64: 1001.0 hashed as "1001.0" did not join
    with the 1001 of the same ids in a column without nulls."""
    ids = HashStrategy().apply(pd.Series([1001, 7]), ctx())
    with_null = HashStrategy().apply(pd.Series([1001, None, 7]), ctx())
    assert with_null.dtype == object
    assert pd.isna(with_null[1])
    assert [with_null[0], with_null[2]] == ids.tolist()
    nullable = HashStrategy().apply(pd.Series([1001, None, 7], dtype="Int64"), ctx())
    assert [nullable[0], nullable[2]] == ids.tolist()
    fractions = HashStrategy().apply(pd.Series([1001.5, 1e300]), ctx())
    texts = HashStrategy().apply(pd.Series(["1001.5", "1e+300"]), ctx())
    assert fractions.tolist() == texts.tolist()  # not whole numbers (or too large): as written


def test_hash_all_null_column() -> None:
    out = HashStrategy().apply(pd.Series([None, None], dtype=object), ctx())
    assert out.tolist() == [None, None]


@pytest.mark.parametrize(
    ("value", "pii_type", "expected"),
    [
        ("jane@example.com", "email", "j***@e***.com"),
        ("bob@corp.co.uk", None, "b***@c***.uk"),  # e-mail shape is seen in any column
        ("+1 555-123-4567", "phone", "+* ***-***-**67"),
        ("0612345678", "phone", "********78"),
        ("12", "phone", "**"),  # too short to show any digit
        # more shown than hidden was called public: 4 of 5 digits of an account, of a partial SSN
        ("98765", "bank_account", "*****"),
        ("12345", "ssn", "*****"),
        ("112", "phone", "***"),
        ("1234", "phone", "**34"),  # as many hidden as shown: the last ones stay
        ("12345678", "ssn", "****5678"),
        ("123-45-6789", "ssn", "***-**-6789"),
        ("4111 1111 1111 1111", "credit_card", "**** **** **** 1111"),
        ("Jane Doe", "name", "J***"),
        ("n/a", "phone", "n***"),  # no digits: generic
        # a name beside the number was kept, the column re-classified public
        ("+1 555 123 4000 (Jane Smith)", "phone", "+* *** *** **00 (**** *****)"),
        ("SSN 123-45-6789", "ssn", "*** ***-**-6789"),
        ("X", None, "*"),
        ("not an@email", None, "n***"),
        # the length stayed: with the initial, it matched a masked name to a staff list
        ("Jonathan Livingstone-Smythe", "name", "J***"),
        ("123456", None, "1***"),  # a salary's magnitude
    ],
)
def test_mask_keeps_shape_hints(value: str, pii_type: str | None, expected: str) -> None:
    assert MaskStrategy().apply(pd.Series([value]), ctx(pii_type)).tolist() == [expected]


def test_mask_non_strings_and_nulls() -> None:
    out = MaskStrategy().apply(pd.Series([12345, None, 7], dtype=object), ctx())
    assert out.tolist() == ["1***", None, "*"]


def test_redact_replaces_every_value_and_keeps_nulls() -> None:
    out = RedactStrategy().apply(pd.Series([1.5, np.nan, 3.0]), ctx())
    assert out[0] == out[2] == "[REDACTED]"
    assert pd.isna(out[1])


@pytest.mark.parametrize("strategy", ["hash", "mask", "redact"])
def test_strategies_keep_string_dtype(strategy: str) -> None:
    df = pd.DataFrame({"email": pd.Series(["a@b.com", None], dtype="string")})
    out = anonymize(df, ["email"], strategy, key="0123456789abcdef")
    assert out["email"].dtype == df["email"].dtype
    assert out["email"].isna().tolist() == [False, True]


def test_unknown_strategy_suggests_the_closest() -> None:
    df = pd.DataFrame({"email": ["a@b.com"]})
    with pytest.raises(
        UnknownPluginError,
        match=r"no anonymization strategy 'hsah'\. "
        r"Did you mean 'hash'\? Registered: (\w+, )*hash, mask, (\w+, )*redact",
    ):
        anonymize(df, ["email"], "hsah")


def test_custom_strategy_registers_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    class Upper(Strategy):
        name = "upper"

        def apply(self, values: pd.Series, context: Context) -> pd.Series:
            return values.str.upper()

    monkeypatch.setitem(strategies._items, "upper", Upper)
    out = anonymize(pd.DataFrame({"x": ["ab"]}), ["x"], "upper")
    assert out["x"].tolist() == ["AB"]


def test_a_strategy_that_does_not_say_what_its_output_is_never_declassifies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Strategy.classify defaulted to public: upper() registered as a strategy made every e-mail
    address public, and the frame exportable."""
    class Upper(Strategy):
        name = "upper"

        def apply(self, values: pd.Series, context: Context) -> pd.Series:
            return values.str.upper()

    class Blank(Upper):
        name = "blank"

        def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
            return output_class(self.name, before, notes, kind="public", what="blanked")

    monkeypatch.setitem(strategies._items, "upper", Upper)
    monkeypatch.setitem(strategies._items, "blank", Blank)
    df = pd.DataFrame({"email": ["jane@example.com", "bob@corp.co.uk"] * 5})
    out = anonymize(df, ["email"], "upper")
    state = get_state(out)
    assert state is not None
    email = state.classification.columns["email"]
    assert (email.classification, email.pii_type) == (ColumnKind.PII, "email")
    assert "does not override Strategy.classify" in email.reasoning
    assert "PII" in state.classification.tags
    assert state.classification.tier is not Tier.PUBLIC
    # a strategy that says its output is public is believed, as before
    blank = get_state(anonymize(df, ["email"], "blank"))
    assert blank is not None
    assert not blank.classification.personal_columns


def _people(ssns: Sequence[str]) -> pd.DataFrame:
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, Sensitivity

    cls = Classification(tier=Tier.PROPRIETARY, tags=("PII",), columns={"ssn": ColumnClass(
        classification=ColumnKind.PII, pii_type="ssn", sensitivity=Sensitivity.HIGH)})
    return attach(pd.DataFrame({"ssn": list(ssns)}), cls,
                  LineageNode(name="people.csv", operation="read_csv"))


def test_mask_that_keeps_the_last_digits_is_anonymous_only_when_k_holds() -> None:
    """The last 4 of each customer's SSN (***-**-6789) came out PUBLIC: with a ZIP code or a
    birth year beside it, that narrows a person down. Kept digits are a quasi-identifier now,
    counted by the k-anonymity check like a generalised value."""
    unique = [f"{100 + i:03d}-45-{1000 + i:04d}" for i in range(50)]
    out = anonymize(_people(unique), strategy="mask")
    assert out["ssn"][0] == "***-**-1000"
    state = get_state(out)
    assert state.classification.tier == Tier.PROPRIETARY
    assert state.classification.columns["ssn"].classification == ColumnKind.PII
    assert "not anonymous: k=1" in state.classification.reasoning[0]
    # groups of 5 sharing their last 4 digits: anonymous, a quasi-identifier marked as such
    shared = [f"{100 + i:03d}-45-{1000 + i % 10:04d}" for i in range(50)]
    col = get_state(anonymize(_people(shared), strategy="mask")).classification.columns["ssn"]
    assert (col.classification, col.pii_type) == (ColumnKind.IDENTIFIER, "quasi_identifier")
    assert col.quasi_identifier == "ssn"
    # no digit kept (a name, a value too short to show any): public as before
    assert MaskStrategy().classify(ColumnClass(classification=ColumnKind.PII, pii_type="name"),
                                   ()).classification == ColumnKind.PUBLIC
