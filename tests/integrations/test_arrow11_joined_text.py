"""Values joined in plain Python into new text (``" ".join`` of a row's values, f-strings of
two columns, ``str(v)``, ``"|".join(s)`` split back) keep the class of the columns whose values
the text holds, as whole tokens at the positions a column's digest reads; public values joined
the same way export as plain, and a text that does not hold a column's values row by row
(a constant text naming every code, the codes shifted by one row) is not taken for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna.errors import GovernanceViolation

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
def staff(downloads: Path) -> tuple[pd.DataFrame, Any]:
    return staff_frames()


# (pandas frame, polars frame, column, partner column) -> new text made of their values
JOINED: dict[str, Callable[[pd.DataFrame, Any, str, str], list[str]]] = {
    "' '.join(zip(c, partner))": lambda df, pf, c, o: [
        " ".join(map(str, p)) for p in zip(df[c], df[o], strict=True)],
    "f-string of two columns": lambda df, pf, c, o: [
        f"{a}-{b}" for a, b in zip(df[o], df[c], strict=True)],
    "str(v)": lambda df, pf, c, o: [str(v) for v in df[c]],
    "'|'.join(s) split back": lambda df, pf, c, o: "|".join(map(str, df[c])).split("|"),
    "polars zip f-string": lambda df, pf, c, o: [
        f"{a}/{b}" for a, b in zip(pf[c], pf[o], strict=True)],
    "row tuples joined": lambda df, pf, c, o: [
        f"{getattr(r, c)}:{getattr(r, o)}" for r in df.itertuples()],
}
INTO = (into_pandas, into_arrow, into_polars)


@pytest.mark.parametrize("column", ["religion", "salary"])
def test_values_joined_into_new_text_keep_the_class(staff, downloads, column):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for n, (route, join) in enumerate(JOINED.items()):
        into = INTO[n % len(INTO)]
        _arrays.clear()
        text = join(*staff, column, "region")
        if leaks(text, into, target):
            leaked.append(f"{route} -> {into.__name__}")
    assert leaked == []


def test_public_values_joined_export_as_plain(staff, downloads):
    from lacuna.integrations.pyarrow import _arrays

    broken = []
    for n, (route, join) in enumerate(JOINED.items()):
        into = INTO[n % len(INTO)]
        _arrays.clear()
        text = join(*staff, "qty", "region")
        broken += [f"{route} -> {into.__name__}: {wrong}"
                   for wrong in unlike_plain(text, into, downloads, read_back=False)]
    assert broken == []


def test_text_that_does_not_hold_the_values_row_by_row_is_not_taken_for_them(staff, downloads):
    """Each religion code indexed (``tolist()``); a constant text naming every code and the
    codes shifted by one row are other values: classified from their names and values."""
    from lacuna.integrations.pyarrow import _arrays

    df = staff[0]
    _arrays.clear()
    codes = df["religion"].tolist()
    pay = df["salary"].tolist()
    for text in (["f1 f2 f3 f4 f5"] * len(codes),
                 [f"x {v}" for v in codes[1:] + codes[:1]],
                 [f"{v}0" for v in pay]):  # 300000 is not the token 30000
        into_pandas(text, downloads / "code.csv")
        (downloads / "code.csv").unlink()
    with pytest.raises(GovernanceViolation):  # the same codes, in their rows: the column
        into_pandas([f"x {v}" for v in codes], downloads / "code.csv")
