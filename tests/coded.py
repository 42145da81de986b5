"""A staff file whose sensitive columns are classified by their names only, and the ways the
values-out tests (tests/integrations/test_arrow9_frame_exits.py, test_arrow10_*.py) rebuild a
column's values under a neutral name.

``religion`` is coded ``f1``..``f5`` and ``salary`` holds plain numbers: no value recognizer
reads either, so only their names class them; ``region`` and ``qty`` are public. Rebuilt under
``code``, values of the first two must not export to ~/Downloads; the others must, with the
bytes the plain call writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import ColumnKind

FAITHS = ["f1", "f2", "f3", "f4", "f5"]


def staff_frames(path: Path = Path("staff.csv")) -> tuple[pd.DataFrame, pl.DataFrame]:
    """``path`` written (40 rows), read governed by pandas and by polars; the columns' classes
    checked to be what the tests rest on."""
    path.write_text("emp,religion,salary,region,qty\n" + "".join(
        f"E{i:03},{FAITHS[(i * 7) % 5]},{30000 + (i * 7919) % 50000},R{i % 4},{i % 9}\n"
        for i in range(40)))
    df, pf = pd.read_csv(path), pl.read_csv(path)
    kinds = {c: df.lacuna.columns[c].classification for c in ("religion", "salary", "region")}
    assert kinds["religion"] is not ColumnKind.PUBLIC
    assert kinds["salary"] is not ColumnKind.PUBLIC
    assert kinds["region"] is ColumnKind.PUBLIC
    return df, pf


def at(frame: Any, column: str) -> int:
    """The position of ``column`` in a pandas or polars frame."""
    return list(frame.columns).index(column)


def into_pandas(values: Any, target: Path) -> None:
    pd.DataFrame({"code": values}).to_csv(target)


def into_arrow(values: Any, target: Path) -> None:
    pa_csv.write_csv(pa.table({"code": values}), str(target))


def into_polars(values: Any, target: Path) -> None:
    pl.DataFrame({"code": values}).write_csv(target)


def leaks(values: Any, into: Any, target: Path) -> bool:
    """Whether ``values`` written by ``into`` to ``target`` got out (the file is removed
    again); a denial must have written nothing."""
    try:
        into(values, target)
    except GovernanceViolation:
        assert not target.exists()
        return False
    target.unlink()
    return True


def unlike_plain(values: Any, into: Any, downloads: Path, *, read_back: bool = True
                 ) -> list[str]:
    """How ``values`` written by ``into`` to ``downloads`` differ from the plain call:
    ``denied``, ``other bytes``, ``other values`` read back (``[]``: written as plain)."""
    governed, plain = downloads / "code.csv", downloads / "plain.csv"
    try:
        into(values, governed)
    except GovernanceViolation:
        return ["denied"]
    with _bypass.bypass():
        into(values, plain)
    wrong = []
    if governed.read_bytes() != plain.read_bytes():
        wrong.append("other bytes")
    if read_back and [str(v) for v in pa_csv.read_csv(governed)["code"].to_pylist()] != [
            str(v) for v in values]:
        wrong.append("other values")
    governed.unlink()
    plain.unlink()
    return wrong
