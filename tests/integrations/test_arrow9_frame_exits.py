"""Values a governed pandas or polars frame hands out whole (``df.to_numpy()``, ``df.values``,
``to_records()``, ``iterrows()``, ``itertuples()``, ``to_dict()``; polars ``rows()``,
``iter_rows()``, ``to_dicts()``, ``to_dict()``, ``to_numpy()``), and the arrays a Series hands
out as they are (``s.values``, ``s.array``, ``np.asarray(s)``), keep the class of the column
they came from when they are built into a frame or an Arrow table under another name.

A religion coded ``f1``..``f5`` and salary numbers pandas read itself (NumPy memory: no Arrow
buffer Lacuna recorded) are classified by their column names only; rebuilt under ``code`` they
must not export to ~/Downloads. A public column taken out the same way must export, with the
bytes the plain call writes. Each route starts with nothing recorded in Arrow
(``_arrays.clear()``): what is found, is found from that route's own values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
pa_csv = pytest.importorskip("pyarrow.csv")

from coded import at, into_arrow, into_pandas, staff_frames  # noqa: E402


@pytest.fixture
def staff(downloads: Path) -> tuple[pd.DataFrame, Any]:
    return staff_frames()


# (pandas frame, polars frame, column) -> the column's values, out of a whole-frame exit
TAKEN: dict[str, Callable[[pd.DataFrame, Any, str], Any]] = {
    "pandas s.values": lambda df, pf, c: df[c].values,
    "pandas s.array": lambda df, pf, c: df[c].array,
    "pandas np.asarray(s)": lambda df, pf, c: np.asarray(df[c]),
    "pandas df.to_numpy()": lambda df, pf, c: df.to_numpy()[:, at(df, c)],
    "pandas df.values": lambda df, pf, c: df.values[:, at(df, c)],
    "pandas df[[c, 'qty']].values": lambda df, pf, c: df[[c, "qty"]].values[:, 0],
    "pandas to_records()": lambda df, pf, c: df.to_records()[c],
    "pandas to_records() rows": lambda df, pf, c: [r[at(df, c) + 1] for r in df.to_records()],
    "pandas iterrows()": lambda df, pf, c: [r[c] for _, r in df.iterrows()],
    "pandas itertuples()": lambda df, pf, c: [r[at(df, c) + 1] for r in df.itertuples()],
    "pandas to_dict('records')": lambda df, pf, c: [r[c] for r in df.to_dict("records")],
    "polars rows()": lambda df, pf, c: [r[at(pf, c)] for r in pf.rows()],
    "polars rows(named=True)": lambda df, pf, c: [r[c] for r in pf.rows(named=True)],
    "polars iter_rows()": lambda df, pf, c: [r[at(pf, c)] for r in pf.iter_rows()],
    "polars to_dicts()": lambda df, pf, c: [r[c] for r in pf.to_dicts()],
    "polars to_dict()": lambda df, pf, c: pf.to_dict()[c],
    "polars to_dict(as_series=False)": lambda df, pf, c: pf.to_dict(as_series=False)[c],
    "polars to_numpy()": lambda df, pf, c: pf.to_numpy()[:, at(pf, c)],
    "polars to_numpy(structured=True)": lambda df, pf, c: pf.to_numpy(structured=True)[c],
    "polars rows_by_key()": lambda df, pf, c: [
        v[0][at(pf, c) - 1] for v in pf.rows_by_key("emp").values()],
}


@pytest.mark.parametrize("column", ["religion", "salary"])
def test_values_a_whole_frame_hands_out_keep_the_class_of_their_column(staff, downloads,
                                                                        column):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for route, take in TAKEN.items():
        for into in (into_pandas, into_arrow):
            _arrays.clear()
            try:
                into(take(*staff, column), target)
            except GovernanceViolation:
                assert not target.exists(), route
            else:
                leaked.append(f"{route} -> {into.__name__}")
                target.unlink()
    assert leaked == []


def test_values_of_a_public_column_a_whole_frame_hands_out_export_as_plain(staff, downloads):
    """Text (region) and numbers (qty) alternately, each route into pandas and into Arrow."""
    from lacuna.integrations.pyarrow import _arrays

    broken = []
    for n, (route, take) in enumerate(TAKEN.items()):
        column = ("region", "qty")[n % 2]
        expected = [str(v) for v in staff[0][column].tolist()]
        _arrays.clear()
        values = take(*staff, column)
        for into in (into_pandas, into_arrow):
            governed, plain = downloads / "code.csv", downloads / "plain.csv"
            try:
                into(values, governed)
            except GovernanceViolation:
                broken.append(f"{route} -> {into.__name__}: denied")
                continue
            with _bypass.bypass():
                into(values, plain)
            if governed.read_bytes() != plain.read_bytes():
                broken.append(f"{route} -> {into.__name__}: other bytes")
            if [str(v) for v in pa_csv.read_csv(governed)["code"].to_pylist()] != expected:
                broken.append(f"{route} -> {into.__name__}: other values")
            governed.unlink()
            plain.unlink()
    assert broken == []


def test_a_category_column_handed_out_as_a_categorical_keeps_its_class_in_pandas(staff,
                                                                                 downloads):
    """``s.values`` of a category column is a ``Categorical`` (no Arrow buffer, no NumPy
    memory of the frame's): matched as its NumPy form. A public one writes as plain pandas."""
    from lacuna.integrations.pyarrow import _arrays

    df = staff[0].astype({"religion": "category", "region": "category"})
    target = downloads / "code.csv"
    leaked = []
    for taken in ("values", "array"):
        _arrays.clear()
        try:
            into_pandas(getattr(df["religion"], taken), target)
        except GovernanceViolation:
            assert not target.exists()
        else:
            leaked.append(taken)
            target.unlink()
        values = getattr(df["region"], taken)
        into_pandas(values, target)
        with _bypass.bypass():
            into_pandas(values, downloads / "plain.csv")
        assert target.read_bytes() == (downloads / "plain.csv").read_bytes()
        target.unlink()
    assert leaked == []


def test_values_handed_out_again_are_indexed_once_and_still_found(
        staff: tuple[pd.DataFrame, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``s.values[i]`` in a loop indexed the whole column at every access (0.7 ms each for
    200,000 numbers, where ``s.values`` costs 1 us): the same memory is indexed once while it
    lives and stays indexed, whichever Series object hands it out; a renamed Series (another
    name, another class) is indexed for itself; what the index dropped is indexed again."""
    from lacuna.integrations.pyarrow import _arrays

    df, _ = staff
    calls: list[int] = []
    real = _arrays.taken
    monkeypatch.setattr(_arrays, "taken", lambda v, s: calls.append(1) or real(v, s))
    _arrays.clear()
    for i in range(50):
        assert df["salary"].values[i % 40] == df["salary"].values[i % 40]
    assert len(calls) == 1
    df["salary"].rename("pay").values  # noqa: B018 - the property's hook is the point
    assert len(calls) == 2
    _arrays.clear()  # the index dropped it: the next access indexes it again
    with pytest.raises(GovernanceViolation):
        pd.DataFrame({"code": df["salary"].values}).to_csv("Downloads/pay.csv")
    assert len(calls) == 3
