"""Values taken out of a one-row part of a governed polars frame or Series (``s.head(1).item()``,
``df.select(pl.col(c).first()).item()``, ``df.filter(...).item()``, ``s.gather([k])[0]``),
rebuilt into a column under another name, keep the class of the column they came from: what
the part was cut from is indexed. A public column taken out the same way exports as plain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacuna import _bypass

pl = pytest.importorskip("polars")
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
def staff(downloads: Path) -> Any:
    return staff_frames()[1]


def _keys(pf: Any) -> list[Any]:
    with _bypass.bypass():
        return list(pf["emp"].to_list())


PARTS: dict[str, Callable[[Any, str], list[Any]]] = {
    "s.slice(k).head(1).item()": lambda pf, c: [
        pf[c].slice(k).head(1).item() for k in range(len(pf))],
    "df.slice(k).select(first()).item()": lambda pf, c: [
        pf.slice(k).select(pl.col(c).first()).item() for k in range(len(pf))],
    "df.filter(key).select(c).item()": lambda pf, c: [
        pf.filter(pl.col("emp") == e).select(c).item() for e in _keys(pf)],
    "df.filter(key)[c][0]": lambda pf, c: [pf.filter(pl.col("emp") == e)[c][0] for e in _keys(pf)],
    "s.gather([k])[0]": lambda pf, c: [pf[c].gather([k])[0] for k in range(len(pf))],
    "s.filter(key).first()": lambda pf, c: [
        pf[c].filter(pf["emp"] == e).first() for e in _keys(pf)],
}
INTO = (into_polars, into_pandas, into_arrow)


@pytest.mark.parametrize("column", ["religion", "salary"])
def test_values_out_of_one_row_parts_keep_the_class(staff, downloads, column):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for n, (route, take) in enumerate(PARTS.items()):
        into = INTO[n % len(INTO)]
        _arrays.clear()
        values = take(staff, column)
        with _bypass.bypass():
            assert values == staff[column].to_list(), route
        if leaks(values, into, target):
            leaked.append(f"{route} -> {into.__name__}")
    assert leaked == []


def test_values_out_of_one_row_parts_of_a_public_column_export_as_plain(staff, downloads):
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
