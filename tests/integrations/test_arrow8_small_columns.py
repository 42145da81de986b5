"""A small column classified again (the same name, dtype and values) is not sampled again.

``pd.concat`` of many small frames nobody classified classifies each (a ratio-based detector
must see each input's own values), and building a column's sample cost as much for four values
as for four thousand. The second time the same small column comes by, its sample and answer
are those of the first time: the same answer, found without sampling.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from lacuna.classify import heuristic
from lacuna.classify.rawkey import raw_key


def _customers() -> pd.DataFrame:
    with resources.as_file(resources.files("lacuna") / "data" / "customers.csv") as path:
        return pd.read_csv(path).head(6)


# small columns from the bundled sample data and the value tests (tests/classify)
SMALL = {
    **{c: s for c, s in _customers().items()},
    "card": pd.Series(["4111 1111 1111 1111", "5555555555554444", "378282246310005"]),
    "card_luhn_invalid": pd.Series(["4111 1111 1111 1112"] * 4),
    "ssn": pd.Series([f"536-90-{i:04d}" for i in range(1, 5)]),
    "phone_int": pd.Series([4155552671, 4155552672, 4155552673]),
    "phone_float": pd.Series([4155552671.0, np.nan, 4155552673.0]),
    "iban": ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"],
    "x": ["ana%40example.com", "bo%40example.org", None],
    "spelled": list("ana@example.com"),
    "flag": pd.Series([True, False, True]),
}


@pytest.fixture
def cold():
    heuristic._RAW_MEMO.clear()
    heuristic._VALUE_MEMO.clear()
    yield
    heuristic._RAW_MEMO.clear()
    heuristic._VALUE_MEMO.clear()


def test_a_small_column_classified_again_is_not_sampled_again(cold, monkeypatch):
    from lacuna.classify import scan

    names = list(SMALL)
    first = heuristic.classify_columns(names, SMALL)
    sampled: list[str] = []
    column_sample = scan.column_sample

    def counting(name, series):
        sampled.append(name)
        return column_sample(name, series)

    monkeypatch.setattr(heuristic, "column_sample", counting)
    again = heuristic.classify_columns(names, SMALL)
    assert sampled == []
    assert again == first


def test_a_small_column_answers_as_a_cold_classification(cold):
    """The answer found again is the answer a cold classification gives, column by column,
    and a column another one's values look like (by ``==``) is not given its answer."""
    names = list(SMALL)
    warm = heuristic.classify_columns(names, SMALL)
    for name in names:
        heuristic._RAW_MEMO.clear()
        heuristic._VALUE_MEMO.clear()
        assert heuristic.classify_columns([name], {name: SMALL[name]})[name] == warm[name], name


@pytest.mark.parametrize(("a", "b"), [
    (pd.Series([1, 2]), pd.Series([1.0, 2.0])),
    (pd.Series([1, 2]), pd.Series(["1", "2"])),
    (pd.Series([1, 0]), pd.Series([True, False])),
    ([1, 2], [1.0, 2.0]),
    (pd.Series([1, 2]), pd.Series([1, 2], dtype="Int64")),
    (pd.Series(["a", None]), pd.Series(["a", "None"])),
])
def test_values_equal_by_eq_but_of_other_types_have_other_keys(a, b):
    assert raw_key("c", a, 100) is not None
    assert raw_key("c", a, 100) != raw_key("c", b, 100)
    assert raw_key("c", a, 100) == raw_key("c", a.copy(), 100)
    assert raw_key("c", a, 100) != raw_key("d", a, 100)


def test_large_or_object_columns_have_no_key():
    assert raw_key("c", pd.Series(range(65)), 1000) is None
    assert raw_key("c", pd.Series(range(10)), 5) is None  # sampled: not the whole column
    assert raw_key("c", pd.Series([object(), object()]), 100) is None
    assert raw_key("c", pd.Series(["x" * 5000]), 100) is None
    assert raw_key("c", pd.Series(pd.to_datetime(["2024-01-01"])), 100) is None
