"""Values a governed pandas or polars column hands out as Python or NumPy values keep its class
when they are built into Arrow again.

A religion coded ``f1``..``f5`` (no classifier recognises the values: only the column name
does), taken out as a list or a NumPy array and built into an Arrow table under a neutral
name, must not export to ~/Downloads; a public column taken out the same way must export, with
the bytes the plain call writes. Each route starts with nothing recorded in Arrow
(``_arrays.clear()``): what is found, is found from that route's own values.
"""

from __future__ import annotations

import copy
import json
import pickle
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

FAITHS = ["f1", "f2", "f3", "f4", "f5"]


@pytest.fixture
def staff(downloads: Path) -> tuple[pd.DataFrame, Any]:
    Path("staff.csv").write_text("emp,religion,region\n" + "".join(
        f"E{i:03},{FAITHS[(i * 7) % 5]},R{i % 4}\n" for i in range(40)))
    df, pf = pd.read_csv("staff.csv"), pl.read_csv("staff.csv")
    assert df.lacuna.columns["religion"].is_personal
    assert not df.lacuna.columns["region"].is_personal
    return df, pf


# a governed pandas frame and polars frame, a column name -> values out of them
TAKEN: dict[str, Callable[[pd.DataFrame, Any, str], Any]] = {
    "pandas tolist()": lambda df, pf, c: df[c].tolist(),
    "pandas to_list() pickled": lambda df, pf, c: pickle.loads(pickle.dumps(df[c].to_list())),
    "pandas to_numpy() in halves, concatenated, np.asarray": lambda df, pf, c: np.asarray(
        np.concatenate([df[c].to_numpy()[:20], df[c].to_numpy()[20:]])),
    "pandas list(s) through JSON": lambda df, pf, c: json.loads(json.dumps(list(df[c]))),
    "polars to_list() deep-copied": lambda df, pf, c: copy.deepcopy(pf[c].to_list()),
    "polars to_numpy()": lambda df, pf, c: pf[c].to_numpy(),
    "polars list(s)": lambda df, pf, c: list(pf[c]),
}


def _write(table: Any, target: Path) -> None:
    pa_csv.write_csv(table, str(target))


def _routes(staff: tuple[pd.DataFrame, Any], column: str, only: tuple[str, ...] = ()
            ) -> list[tuple[str, Callable[[], Any]]]:
    from lacuna.integrations.pyarrow import _arrays

    def fresh(take: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> Any:
            _arrays.clear()
            return pa.table({"code": take(*staff, column)})
        return run

    return [(t, fresh(take)) for t, take in TAKEN.items() if not only or t in only]


def test_values_taken_out_of_a_classified_column_keep_its_class_in_arrow(staff, downloads):
    leaked = []
    for route, build in _routes(staff, "religion"):
        target = downloads / "code.csv"
        try:
            _write(build(), target)
        except GovernanceViolation:
            assert not target.exists(), route
        else:
            leaked.append(route)
            target.unlink()
    assert leaked == []


def test_values_taken_out_of_a_public_column_export_as_the_plain_call_writes(staff, downloads):
    broken = []
    for route, build in _routes(staff, "region", ("pandas tolist()", "polars to_numpy()")):
        table = build()
        governed, plain = downloads / "code.csv", downloads / "plain.csv"
        try:
            _write(table, governed)
        except GovernanceViolation:
            broken.append(route)
            continue
        with _bypass.bypass():
            _write(table, plain)
        if governed.read_bytes() != plain.read_bytes() or \
                pa_csv.read_csv(governed)["code"].to_pylist() != staff[0]["region"].tolist():
            broken.append(route)
        governed.unlink()
        plain.unlink()
    assert broken == []


# values -> a pandas or polars frame holding them under "code", and its writer
INTO_FRAMES: dict[str, Callable[[Any, Path], None]] = {
    "pd.DataFrame({...}).to_csv": lambda v, p: pd.DataFrame({"code": v}).to_csv(p),
    "pd.Series(...).to_csv": lambda v, p: pd.Series(v, name="code").to_csv(p),
    "pl.Series(...).write_csv": lambda v, p: pl.Series("code", v).to_frame().write_csv(p),
    "pl.DataFrame({...}).write_csv": lambda v, p: pl.DataFrame({"code": v}).write_csv(p),
}


def test_values_taken_out_of_a_classified_column_keep_its_class_in_pandas_and_polars(
        staff, downloads):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    for (taken, take), (into, write) in zip(
            [(t, TAKEN[t]) for t in ("pandas tolist()", "polars to_numpy()",
                                     "pandas list(s) through JSON", "polars list(s)")],
            INTO_FRAMES.items(), strict=True):
        _arrays.clear()
        target = downloads / "code.csv"
        try:
            write(take(*staff, "religion"), target)
        except GovernanceViolation:
            assert not target.exists()
        else:
            leaked.append(f"{taken} -> {into}")
            target.unlink()
    # a pandas array of text is Arrow's: found by its buffers
    for taken in ("array", "values"):
        try:
            pd.DataFrame({"code": getattr(staff[0]["religion"], taken)}).to_csv(
                downloads / "code.csv")
        except GovernanceViolation:
            pass
        else:
            leaked.append(f"pandas .{taken} -> pd.DataFrame({{...}}).to_csv")
    assert leaked == []
    # a public column's values write as plain pandas and polars write them
    for into, write in INTO_FRAMES.items():
        values = staff[0]["region"].tolist()
        write(values, downloads / "code.csv")
        with _bypass.bypass():
            write(values, downloads / "plain.csv")
        assert (downloads / "code.csv").read_bytes() == (downloads / "plain.csv").read_bytes(), \
            into


def test_values_changed_after_they_were_taken_are_classified_from_what_they_hold(staff,
                                                                               downloads):
    """A content match is evidence of the same values, nothing more: the religion list sorted is
    other values in another order (not matched), and exports as the classifier reads it."""
    codes = sorted(staff[0]["religion"].tolist())
    _write(pa.table({"code": codes}), downloads / "code.csv")
    assert pa_csv.read_csv(downloads / "code.csv")["code"].to_pylist() == codes
