"""Single values taken out of a governed pandas or polars frame one at a time (``df.iloc[i, j]``,
``df.at``, ``df.iat``, ``df.loc[i, c]``, ``s[i]``, ``s.iloc[i]``, ``s.at``; polars ``df[i, c]``,
``df.item(i, c)``, ``df.row(i)``, ``s[i]``, ``s.item(i)``), rebuilt into a column under another
name, keep the class of the column they came from; so do values Arrow is given
dictionary-encoded (a pandas ``Categorical``).

A religion coded ``f1``..``f5`` and salary numbers are classified by their column names only;
rebuilt under ``code`` they must not export to ~/Downloads. A public column taken out the same
way must export, with the bytes the plain call writes. Each route starts with nothing indexed
(``_arrays.clear()``): what is found, is found from that route's own values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
pa_csv = pytest.importorskip("pyarrow.csv")

from coded import (  # noqa: E402
    at,
    into_arrow,
    into_pandas,
    into_polars,
    staff_frames,
    unlike_plain,
)


@pytest.fixture
def staff(downloads: Path) -> tuple[pd.DataFrame, Any]:
    return staff_frames()


# (pandas frame, polars frame, column) -> the column's values, taken one at a time
SINGLE: dict[str, Callable[[pd.DataFrame, Any, str], list[Any]]] = {
    "pandas df.iloc[i, j]": lambda df, pf, c: [df.iloc[i, at(df, c)] for i in range(len(df))],
    "pandas df.at[i, c]": lambda df, pf, c: [df.at[i, c] for i in range(len(df))],
    "pandas df.iat[i, j]": lambda df, pf, c: [df.iat[i, at(df, c)] for i in range(len(df))],
    "pandas df.loc[i, c]": lambda df, pf, c: [df.loc[i, c] for i in range(len(df))],
    "pandas df[c][i]": lambda df, pf, c: [df[c][i] for i in range(len(df))],
    "pandas s.iloc[i]": lambda df, pf, c: [df[c].iloc[i] for i in range(len(df))],
    "pandas s.at[i]": lambda df, pf, c: [df[c].at[i] for i in range(len(df))],
    "pandas filtered s[i]": lambda df, pf, c: (
        lambda s: [s[i] for i in s.index])(df[df["qty"] > 2][c]),
    "pandas computed s.iat[i]": lambda df, pf, c: (
        lambda s: [s.iat[i] for i in range(len(s))])(df[c].sort_values()),
    "polars df[i, c]": lambda df, pf, c: [pf[i, c] for i in range(len(pf))],
    "polars df.item(i, c)": lambda df, pf, c: [pf.item(i, c) for i in range(len(pf))],
    "polars df.row(i)": lambda df, pf, c: [pf.row(i)[at(pf, c)] for i in range(len(pf))],
    "polars df[c][i]": lambda df, pf, c: [pf[c][i] for i in range(len(pf))],
    "polars s.item(i)": lambda df, pf, c: (lambda s: [s.item(i) for i in range(len(s))])(pf[c]),
    "polars sorted s[i]": lambda df, pf, c: (
        lambda s: [s[i] for i in range(len(s))])(pf.sort("qty")[c]),
    "polars computed s[i]": lambda df, pf, c: (
        lambda s: [s[i] for i in range(len(s))])(pf[c].reverse()),
}


INTO = (into_pandas, into_arrow, into_polars)


@pytest.mark.parametrize("column", ["religion", "salary"])
def test_single_values_rebuilt_into_a_column_keep_the_class_of_their_column(staff, downloads,
                                                                             column):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for n, (route, take) in enumerate(SINGLE.items()):
        into = INTO[n % len(INTO)]  # each route into one of them: each of them several times
        _arrays.clear()
        try:
            into(take(*staff, column), target)
        except GovernanceViolation:
            assert not target.exists(), route
        else:
            leaked.append(f"{route} -> {into.__name__}")
            target.unlink()
    assert leaked == []


def test_single_values_of_a_public_column_export_as_plain(staff, downloads):
    """Text (region) and numbers (qty) alternately, each route into pandas, Arrow or polars
    (each of them text and numbers): allowed, the plain call's bytes, the same values read
    back."""
    from lacuna.integrations.pyarrow import _arrays

    broken = []
    for n, (route, take) in enumerate(SINGLE.items()):
        column = ("region", "qty")[n % 2]
        _arrays.clear()
        values = take(*staff, column)
        assert len(values) >= 2
        into = INTO[(n // 2) % len(INTO)]  # text and numbers into each of them
        broken += [f"{route} -> {into.__name__}: {wrong}"
                   for wrong in unlike_plain(values, into, downloads)]
    assert broken == []


def test_a_column_is_indexed_once_for_all_its_single_values(staff, monkeypatch):
    """The first value taken out of a governed column indexes it; the next ones cost a look-up
    (``df["salary"][i]`` in a loop: a new Series each time over the same memory, or the same
    polars frame); what the index dropped is indexed again at the next value."""
    from lacuna.integrations.pyarrow import _arrays

    df, pf = staff
    calls: list[int] = []
    real = _arrays.taken
    monkeypatch.setattr(_arrays, "taken", lambda v, s: calls.append(1) or real(v, s))
    _arrays.clear()
    for i in range(40):
        assert df["salary"][i] == df.at[i, "salary"] == df["salary"].iloc[i]
    assert len(calls) == 2  # the Series' memory once, the frame's column once
    rows = [df.iloc[i]["salary"] for i in range(40)] + [df.loc[i]["religion"] for i in range(40)]
    assert len(rows) == 80
    # a row is not a column: the frame the rows are cut from is indexed, once for every row
    # (emp, religion, salary: its columns above public)
    assert len(calls) == 2 + 3
    values = [pf[i, "salary"] for i in range(40)] + [pf["salary"][i] for i in range(40)]
    assert len(calls) == 5 + 3  # emp, religion, salary: the frame's columns above public
    assert values[:40] == values[40:]
    _arrays.clear()  # the index dropped them: the next value indexes them again
    with pytest.raises(GovernanceViolation):
        into_pandas([df.iat[i, 2] for i in range(40)], Path("Downloads/pay.csv"))
    assert len(calls) == 9


def test_dictionary_encoded_values_are_matched_as_the_values_they_stand_for(staff, downloads):
    """A category column handed out as a ``Categorical`` (``s.values``) and given to Arrow is a
    dictionary array; Arrow's own ``dictionary_encode()`` of a taken list too: matched as the
    values they stand for. A public category column exports as plain Arrow writes it."""
    from lacuna.integrations.pyarrow import _arrays

    df = staff[0].astype({"religion": "category", "region": "category"})
    target = downloads / "code.csv"
    routes = {
        "pa.table(Categorical)": lambda c: pa.table({"code": df[c].values}),
        "pa.array(Series) of a category": lambda c: pa.table({"code": pa.array(df[c])}),
        "dictionary_encode() of tolist()": lambda c: pa.table(
            {"code": pa.array(df[c].astype(str).tolist()).dictionary_encode()}),
    }
    leaked = []
    for route, build in routes.items():
        _arrays.clear()
        try:
            pa_csv.write_csv(build("religion"), str(target))
        except GovernanceViolation:
            assert not target.exists()
        else:
            leaked.append(route)
            target.unlink()
        _arrays.clear()
        table = build("region")
        assert pa.types.is_dictionary(table["code"].type)
        pa_csv.write_csv(table, str(target))
        with _bypass.bypass():
            pa_csv.write_csv(table, str(downloads / "plain.csv"))
        assert target.read_bytes() == (downloads / "plain.csv").read_bytes()
        target.unlink()
    assert leaked == []
