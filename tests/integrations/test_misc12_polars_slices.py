"""A governed polars frame handed out in slices (``pf.iter_slices(n)``, a loop over
``pf.slice(i, n)``) whose values are put back together under a neutral name: each slice's
``to_list()`` indexed what it was cut from, but its rows (``rows()``, ``to_dicts()``,
``iter_rows()``, ``to_dict(as_series=False)``) indexed only the slice, other values than the
whole column, and ``religion`` exported to ~/Downloads as PUBLIC. A public column taken out
the same way exports as the plain call writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna import _bypass

pl = pytest.importorskip("polars")
pytest.importorskip("pyarrow.csv")

from coded import (  # noqa: E402
    at,
    into_arrow,
    into_pandas,
    into_polars,
    leaks,
    staff_frames,
    unlike_plain,
)


@pytest.fixture
def staff(downloads: Path) -> Any:
    return staff_frames()[1]


SLICES: dict[str, Callable[[Any, str], list[Any]]] = {
    "iter_slices(10)[c].to_list()": lambda pf, c: [
        v for s in pf.iter_slices(10) for v in s[c].to_list()],
    "iter_slices(10).rows()": lambda pf, c: [
        r[at(pf, c)] for s in pf.iter_slices(10) for r in s.rows()],
    "iter_slices(7).to_dicts()": lambda pf, c: [
        d[c] for s in pf.iter_slices(7) for d in s.to_dicts()],
    "iter_slices(9).iter_rows(named=True)": lambda pf, c: [
        r[c] for s in pf.iter_slices(9) for r in s.iter_rows(named=True)],
    "iter_slices(6).to_dict(as_series=False)": lambda pf, c: [
        v for s in pf.iter_slices(6) for v in s.to_dict(as_series=False)[c]],
    "slice(i, 10).rows()": lambda pf, c: [
        r[at(pf, c)] for i in range(0, len(pf), 10) for r in pf.slice(i, 10).rows()],
    "iter_rows()": lambda pf, c: [r[at(pf, c)] for r in pf.iter_rows()],
}
INTO = (into_polars, into_pandas, into_arrow)


@pytest.mark.parametrize("column", ["religion", "salary"])
def test_misc12_values_out_of_slices_put_together_keep_the_class(staff, downloads, column):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for n, (route, take) in enumerate(SLICES.items()):
        into = INTO[n % len(INTO)]
        _arrays.clear()
        values = take(staff, column)
        with _bypass.bypass():
            assert values == staff[column].to_list(), route
        if leaks(values, into, target):
            leaked.append(f"{route} -> {into.__name__}")
    assert leaked == []


def test_misc12_values_out_of_slices_of_a_public_column_export_as_plain(staff, downloads):
    from lacuna.integrations.pyarrow import _arrays

    broken = []
    for n, (route, take) in enumerate(SLICES.items()):
        column = ("region", "qty")[n % 2]
        into = INTO[(n // 2) % len(INTO)]
        _arrays.clear()
        values = take(staff, column)
        broken += [f"{route} -> {into.__name__}: {wrong}"
                   for wrong in unlike_plain(values, into, downloads)]
    assert broken == []
