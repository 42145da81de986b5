"""Values of a classified column joined with others, cast, or transposed keep its class when
they are rebuilt under another name: Series arithmetic and ``str.cat`` (pandas), ``+`` and
``pl.concat_str`` (polars), ``astype(str)``/``astype("category")``, ``cast(pl.Utf8)``, and a
transposed frame's row (pandas ``df.T``, polars ``transpose().row(i)``/``rows()``).

A religion coded ``f1``..``f5`` and salary numbers are classified by their column names only;
rebuilt under ``code`` they must not export to ~/Downloads. The same routes over public columns
export, with the bytes the plain call writes. Each route starts with nothing indexed.
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

from coded import at, staff_frames  # noqa: E402


@pytest.fixture
def staff(downloads: Path) -> tuple[pd.DataFrame, Any]:
    return staff_frames()


# (pandas frame, polars frame, text column, number column, target): writes a frame built
# from them under ``code``
ROUTES: dict[str, Callable[[pd.DataFrame, Any, str, str, Path], None]] = {
    "pandas s + ' ' + s": lambda df, pf, t, n, p: pd.DataFrame(
        {"code": df["region"] + " " + df[t]}).to_csv(p),
    "pandas str.cat": lambda df, pf, t, n, p: pd.DataFrame(
        {"code": df["region"].str.cat(df[t], sep=" ").tolist()}).to_csv(p),
    "pandas astype(str)": lambda df, pf, t, n, p: pd.DataFrame(
        {"code": df[n].astype(str).tolist()}).to_csv(p),
    "pandas astype(category)": lambda df, pf, t, n, p: pd.DataFrame(
        {"code": df[t].astype("category").values}).to_csv(p),
    "pandas df.T row": lambda df, pf, t, n, p: pd.DataFrame(
        {"code": df.T.iloc[at(df, n)].tolist()}).to_csv(p),
    "polars concat_str": lambda df, pf, t, n, p: pl.DataFrame({"code": pf.select(
        pl.concat_str([pl.col("region"), pl.col(t)], separator=" "))["region"].to_list()}
    ).write_csv(p),
    "polars s + s": lambda df, pf, t, n, p: pl.DataFrame(
        {"code": pf["region"] + pf[t]}).write_csv(p),
    "polars cast(pl.Utf8)": lambda df, pf, t, n, p: pl.DataFrame(
        {"code": pf[n].cast(pl.Utf8).to_list()}).write_csv(p),
    "polars transpose().row(i)": lambda df, pf, t, n, p: pl.DataFrame(
        {"code": pf.transpose().row(at(pf, n))}).write_csv(p),
    "polars transpose().rows()": lambda df, pf, t, n, p: pa_csv.write_csv(
        pa.table({"code": list(pf.transpose().rows()[at(pf, t)])}), str(p)),
    "polars transpose(include_header).row(i)": lambda df, pf, t, n, p: pd.DataFrame(
        {"code": pf.transpose(include_header=True).row(at(pf, n))[1:]}).to_csv(p),
}


def test_joined_cast_and_transposed_values_keep_the_class_of_their_parts(staff, downloads):
    from lacuna.integrations.pyarrow import _arrays

    leaked = []
    target = downloads / "code.csv"
    for route, write in ROUTES.items():
        _arrays.clear()
        try:
            write(*staff, "religion", "salary", target)
        except GovernanceViolation:
            assert not target.exists(), route
        else:
            leaked.append(route)
            target.unlink()
    assert leaked == []


def test_joined_cast_and_transposed_public_values_export_as_plain(staff, downloads):
    """Only public columns (and a frame of them alone, to transpose): allowed, and the bytes
    the plain call writes."""
    from lacuna.integrations.pyarrow import _arrays

    df, pf = staff
    public = (df[["region", "qty"]], pf.select("region", "qty"))
    broken = []
    for route, write in ROUTES.items():
        _arrays.clear()
        governed, plain = downloads / "code.csv", downloads / "plain.csv"
        try:
            write(*public, "region", "qty", governed)
        except GovernanceViolation:
            broken.append(f"{route}: denied")
            continue
        with _bypass.bypass():
            write(*public, "region", "qty", plain)
        if governed.read_bytes() != plain.read_bytes():
            broken.append(f"{route}: other bytes")
        governed.unlink()
        plain.unlink()
    assert broken == []
