"""Values taken out of a part of a governed pandas object (a row, a Series of one value) and
rebuilt into a column under another name keep the class of the column they came from.

A row (``df.iloc[i]["salary"]``, ``df.loc[i, :]``, ``row.salary``, ``row.to_dict()``) or a
Series of one value (``s.iloc[k:k+1].item()``, ``s[s == x].item()``, ``s.head(1).item()``,
``s.sample(1).iloc[0]``, ``df.loc[mask, c].iloc[0]``) holds too few values to be matched: the
object it was cut from is indexed when the first value leaves a part of it. A coded religion
and salary numbers (classified by their names only) rebuilt under ``code`` must not export to
~/Downloads; a public column taken out the same way must, with the plain call's bytes. Each
route starts with nothing indexed (``_arrays.clear()``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

pa_csv = pytest.importorskip("pyarrow.csv")

from coded import (  # noqa: E402
    into_arrow,
    into_pandas,
    into_polars,
    leaks,
    staff_frames,
    unlike_plain,
)


@pytest.fixture
def staff(downloads: Path) -> pd.DataFrame:
    return staff_frames()[0]


def _keys(df: pd.DataFrame) -> list[Any]:
    return list(df["emp"])


# (frame, column) -> the column's values, each taken out of a part of the frame
PARTS: dict[str, Callable[[pd.DataFrame, str], list[Any]]] = {
    "df.iloc[i][c]": lambda df, c: [df.iloc[i][c] for i in range(len(df))],
    "df.loc[i, :][c]": lambda df, c: [df.loc[i, :][c] for i in range(len(df))],
    "row.<c>": lambda df, c: [getattr(df.iloc[i], c) for i in range(len(df))],
    "df.iloc[i].to_dict()": lambda df, c: [df.iloc[i].to_dict()[c] for i in range(len(df))],
    "df.loc[i].tolist()": lambda df, c: [
        df.loc[i].tolist()[list(df.columns).index(c)] for i in range(len(df))],
    "s.iloc[k:k+1].item()": lambda df, c: [df[c].iloc[k:k + 1].item() for k in range(len(df))],
    "s[s == x].item()": lambda df, c: [df[c][df["emp"] == e].item() for e in _keys(df)],
    "s.iloc[k:].head(1).item()": lambda df, c: [
        df[c].iloc[k:].head(1).item() for k in range(len(df))],
    "s.iloc[[k]].sample(1).iloc[0]": lambda df, c: [
        df[c].iloc[[k]].sample(1).iloc[0] for k in range(len(df))],
    "df.loc[mask, c].iloc[0]": lambda df, c: [
        df.loc[df["emp"] == e, c].iloc[0] for e in _keys(df)],
    "df[mask].iloc[0][c]": lambda df, c: [df[df["emp"] == e].iloc[0][c] for e in _keys(df)],
    "df.loc[mask].at[i, c]": lambda df, c: [
        df.loc[df["emp"] == e].at[i, c] for i, e in enumerate(_keys(df))],
}
INTO = (into_pandas, into_arrow, into_polars)


@pytest.mark.parametrize("column", ["religion", "salary"])
def test_values_out_of_rows_and_one_value_parts_keep_the_class(staff, downloads, column):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for n, (route, take) in enumerate(PARTS.items()):
        into = INTO[n % len(INTO)]
        _arrays.clear()
        values = take(staff, column)
        with _bypass.bypass():  # (not indexed: found by the parts alone)
            assert values == staff[column].tolist(), route
        if leaks(values, into, target):
            leaked.append(f"{route} -> {into.__name__}")
    assert leaked == []


def test_values_out_of_parts_of_a_public_column_export_as_plain(staff, downloads):
    """Text (region) and numbers (qty) alternately, each route into pandas, Arrow or polars:
    allowed, the plain call's bytes, the same values read back."""
    from lacuna.integrations.pyarrow import _arrays

    broken = []
    for n, (route, take) in enumerate(PARTS.items()):
        column = ("region", "qty")[n % 2]
        into = INTO[(n // 2) % len(INTO)]
        _arrays.clear()
        values = take(staff, column)
        broken += [f"{route} -> {into.__name__}: {wrong}"
                   for wrong in unlike_plain(values, into, downloads)]
    assert broken == []


def test_a_loop_over_parts_indexes_what_they_were_cut_from_once(staff, monkeypatch):
    """A ``.loc`` per key indexes the column once for the whole loop; the boolean masks pandas
    reads for it (``np.asarray(mask)`` inside ``.loc``) are not indexed, a mask the user takes
    out (``tolist()``) is."""
    from lacuna.integrations.pyarrow import _arrays

    calls: list[int] = []
    real = _arrays.taken
    with _bypass.bypass():
        keys, salaries = staff["emp"].tolist(), staff["salary"].tolist()
    monkeypatch.setattr(_arrays, "taken", lambda v, s: calls.append(len(v)) or real(v, s))
    _arrays.clear()
    assert [staff.loc[staff["emp"] == e, "salary"].iloc[0] for e in keys] == salaries
    assert calls == [40]  # the salary column, once
    (staff["religion"] == "f1").tolist()
    assert calls == [40, 40]


def test_a_part_rebuilt_from_a_few_rows_is_not_taken_for_the_column(staff, downloads):
    """Only the values of every row, in the column's order, hold the column: a part of them
    is classified from its name and values (a public result stays writable)."""
    from lacuna.integrations.pyarrow import _arrays

    _arrays.clear()
    some = [staff.iloc[i]["salary"] for i in range(10)]
    into_pandas(some, downloads / "some.csv")  # ten salaries under 'code': not the column
    assert (downloads / "some.csv").exists()


def test_parts_put_together_and_rows_of_numbers_keep_the_class(staff, downloads):
    """Each part's values (``df.iloc[i:i+10][c].tolist()``, polars
    ``pf.slice(i, 10)[c].to_list()``) put together again hold the column; a row of a frame of
    ints and floats holds the salary as floats, matched in that dtype. The same of a public
    column export."""
    from lacuna.integrations.pyarrow import _arrays

    pf = staff_frames(Path("again.csv"))[1]
    numbers = staff[["salary", "qty"]].astype({"qty": float})
    routes = {
        "pandas parts": lambda c: [v for i in range(0, 40, 10)
                                   for v in staff.iloc[i:i + 10][c].tolist()],
        "polars parts": lambda c: [v for i in range(0, 40, 10)
                                   for v in pf.slice(i, 10)[c].to_list()],
        "rows of numbers": lambda c: [numbers.iloc[i][c] for i in range(40)],
    }
    target = downloads / "code.csv"
    for route, take in routes.items():
        _arrays.clear()
        with pytest.raises(GovernanceViolation):
            into_pandas(take("salary"), target)
        assert not target.exists(), route
        _arrays.clear()
        into_pandas(take("qty"), target)  # public: written
        target.unlink()


def test_values_taken_again_under_new_states_keep_a_bounded_entry(staff, downloads):
    """The same values taken out again and again under states of their own (a computed Series
    per loop) are one index entry with at most ``MAX_SOURCES`` sources, each of a class it
    gives them (one source per state made every later match derive from each of them); the
    values still hold the religion."""
    from lacuna.integrations.pyarrow import _arrays

    _arrays.clear()
    for _ in range(40):
        codes = (staff["religion"] + "").tolist()
    assert 1 <= max(len(sources) for _, sources in _arrays._CONTENT.values()) \
        <= _arrays.MAX_SOURCES
    with pytest.raises(GovernanceViolation):
        into_pandas(codes, downloads / "code.csv")
