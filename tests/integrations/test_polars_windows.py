"""polars' window aggregations (``group_by_dynamic``, ``rolling``; eager and lazy) follow the
aggregation rule as ``group_by(...).agg`` does: the result keeps its source's class and
lineage (they were not hooked: a personal column aggregated over windows left as PUBLIC, with
no reasoning), and a public frame aggregated over windows still exports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from lacuna.errors import GovernanceViolation
from lacuna.model import Tier

pl = pytest.importorskip("polars")

from lacuna.integrations import polars as governed_polars  # noqa: E402


@pytest.fixture
def visits(governed: Path) -> pl.DataFrame:
    src = governed / "governed" / "workspace" / "visits.csv"
    pd.DataFrame({"t": list(range(12)),
                  "email": [f"user{i % 6}@example.com" for i in range(12)],
                  "region": ["north", "south"] * 6,
                  "units": list(range(12))}).to_csv(src, index=False)
    df = pl.read_csv(src)
    assert governed_polars.classification(df).tier is Tier.PROPRIETARY
    return df


def _reversed_first() -> pl.Expr:
    return pl.col("email").str.reverse().first().alias("x")


Route = Callable[[pl.DataFrame], pl.DataFrame]
ROUTES: dict[str, Route] = {
    "group_by_dynamic": lambda df: df.group_by_dynamic("t", every="4i").agg(_reversed_first()),
    "group_by_dynamic-keys": lambda df: df.group_by_dynamic(
        "t", every="4i", group_by="region").agg(_reversed_first()),
    "rolling": lambda df: df.rolling("t", period="3i").agg(_reversed_first()),
    "rolling-keys": lambda df: df.rolling("t", period="3i", group_by=["region"]).agg(
        _reversed_first()),
    "lazy-group_by_dynamic": lambda df: df.lazy().group_by_dynamic("t", every="4i").agg(
        _reversed_first()).collect(),
    "lazy-rolling": lambda df: df.lazy().rolling("t", period="3i").agg(
        _reversed_first()).collect(),
    "rolling-lit-series": lambda df: pl.DataFrame({"t": list(range(12))}).rolling(
        "t", period="3i").agg(pl.lit(df["email"].str.reverse()).first().alias("x")),
}


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_a_window_aggregation_keeps_the_class_of_what_it_aggregates(visits, governed, route):
    out = ROUTES[route](visits)
    seen = governed_polars.classification(out)
    assert seen.tier is Tier.PROPRIETARY, seen.reasoning
    assert seen.columns["x"].classification.value == "pii", seen.reasoning
    origins = governed_polars._ops.state(out).origins.get("x", ())
    assert {(Path(o.dataset.name).name, o.column) for o in origins} == {("visits.csv", "email")}
    target = governed / "Downloads" / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        out.write_csv(target)
    assert not target.exists()


def test_a_public_frame_aggregated_over_windows_still_exports(governed):
    df = pl.DataFrame({"t": list(range(12)), "units": list(range(12))})
    out = df.rolling("t", period="3i").agg(pl.col("units").sum().alias("total"))
    assert governed_polars.classification(out).tier is Tier.PUBLIC
    target = governed / "Downloads" / "totals.csv"
    out.write_csv(target)
    back = pl.read_csv(target)
    assert back["total"].to_list() == [0, 1, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]


def test_counting_over_windows_of_personal_data_is_an_aggregation(visits, governed):
    """``pl.len()`` per window of a personal frame: what the aggregation rule says of a count,
    over groups taken no larger than the windows (one per index value: k of 1)."""
    out = visits.group_by_dynamic("t", every="4i").agg(pl.len().alias("n"))
    step = governed_polars.classification(out)
    assert any("aggregat" in r.lower() for r in step.reasoning), step.reasoning
