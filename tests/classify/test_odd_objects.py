"""lacuna.classify survives object columns of odd values: Decimal('Infinity'), Decimal('sNaN'),
mixed time zones, lone surrogates, objects whose str() raises, containers, huge numbers."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import uuid
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lacuna
from lacuna.model import Classification


class Hostile:
    """An object whose str() and repr() raise, and which refuses comparison."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __eq__(self, other: object) -> bool:
        raise TypeError("no eq")

    __hash__ = object.__hash__


D = decimal.Decimal
ODD = {
    "decimals": [D("Infinity"), D("-Infinity"), D("sNaN"), D("NaN"), D("-0"), D("1E+999999"),
                 D("12345678901")],
    "time_zones": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                   dt.datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Kolkata")),
                   dt.datetime(2024, 1, 1), None, dt.date(2024, 2, 29)],
    "date_then_junk": [dt.date(2024, 1, 1), "not a date", 5, D("sNaN")],
    "mixed": [b"\xff\xfe", 1 + 2j, fractions.Fraction(1, 3), uuid.UUID(int=7), float("nan")],
    "containers": [{"a": 1}, [1, 2], (3,), {1, 2}, frozenset()],
    "hostile": [Hostile(), Hostile(), 1, "x"],
    "huge_ints": [2**100, -(2**80), 3, 10**4000],
    "surrogates": ["\ud800abc", "a\x00b", "é", "x" * 100_000],
    "pandas_scalars": [pd.NaT, pd.Timestamp("2024-01-01", tz="UTC"), pd.Timedelta(days=1),
                       pd.Period("2024-01"), pd.NA],
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_object_columns_classify(name):
    frame = pd.DataFrame({name: pd.Series(ODD[name], dtype=object)})
    result = lacuna.classify(frame)
    assert isinstance(result, Classification)
    assert name in result.columns


def test_odd_values_do_not_hide_real_ones():
    emails = [f"user{i}@example.com" for i in range(30)]
    frame = pd.DataFrame({
        "email": pd.Series([*emails, "\ud800bad", D("sNaN"), Hostile()], dtype=object),
    })
    result = lacuna.classify(frame)
    assert "PII" in result.tags


odd_values = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([D("sNaN"), D("-sNaN"), D("Infinity"), D("1E+999999")]),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(), st.times(), st.timedeltas(),
    st.text(max_size=20), st.binary(max_size=10), st.integers(), st.floats(),
    st.complex_numbers(), st.none(), st.booleans(), st.uuids(), st.fractions(),
    st.builds(Hostile),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()),
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(odd_values, min_size=1, max_size=12), st.sampled_from(["email", "note", "x"]))
def test_fuzz_object_columns(values, name):
    frame = pd.DataFrame({name: pd.Series(values, dtype=object)})
    assert isinstance(lacuna.classify(frame), Classification)
