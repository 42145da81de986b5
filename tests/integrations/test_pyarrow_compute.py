"""Arrow joins and group-bys follow the shared combine and aggregation rules, like pandas'.

Real pyarrow (``Table.join``, ``Dataset.join``, ``Table.group_by().aggregate``, reaching the
hooked ``pyarrow.acero`` functions), compared with the same operation in pandas in the same run.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.acero as pac
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.integrations import pyarrow as governed_arrow
from lacuna.integrations.pyarrow._compute import join_map
from lacuna.model import Classification


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for table in ("customers", "sales"):
        shutil.copy(resources.files("lacuna") / "data" / f"{table}.csv", tmp_path / f"{table}.csv")
    return tmp_path


def cfg(folder: Path) -> lacuna.Config:
    return config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                             "audit": {"url": f"sqlite:///{folder / 'audit.db'}"}})


def summary(c: Classification) -> tuple[str, tuple[str, ...], dict[str, str]]:
    return (c.tier.value, tuple(sorted(c.tags)),
            {n: col.classification.value for n, col in c.columns.items()})


def test_join_combines_both_sides_like_pandas(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        sales = pa_csv.read_csv(folder / "sales.csv")
        joined = customers.join(sales, "customer_id", join_type="inner")
        state = governed_arrow.table_state(joined)
        frames = {t: pd.read_csv(folder / f"{t}.csv") for t in ("customers", "sales")}
        merged = frames["customers"].merge(frames["sales"], on="customer_id")
        expected = summary(merged.lacuna_classification)
        kept = joined.select(["email", "revenue"])  # a table Arrow derives: the token survives
        kept_state = governed_arrow.table_state(kept)
    assert summary(state.classification) == expected
    assert {Path(r).name for r in state.lineage.roots()} == {"customers.csv", "sales.csv"}
    assert state.lineage.operation == "pyarrow.join.inner"
    assert kept_state.lineage.operation == "pyarrow.join.inner"  # followed, not re-classified
    assert {o.column for o in kept_state.origins["email"]} == {"email"}


def test_group_by_follows_k_anonymity_like_pandas(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        frame = pd.read_csv(folder / "customers.csv")
        cases = {
            "k-anonymous count": (
                customers.group_by("region").aggregate([("customer_id", "count")]),
                frame.groupby("region", as_index=False).agg(n=("customer_id", "count"))),
            "personal key": (
                customers.group_by("email").aggregate([("region", "count_distinct")]),
                frame.groupby("email", as_index=False).agg(n=("region", "nunique"))),
            "groups below k": (
                customers.group_by("signup_date").aggregate([([], "count_all")]),
                frame.groupby("signup_date", as_index=False).size()),
            "personal output": (
                customers.group_by("region", use_threads=False).aggregate([("email", "first")]),
                frame.groupby("region", as_index=False).agg(e=("email", "first"))),
        }
        got = {name: governed_arrow.classification(t) for name, (t, _) in cases.items()}
        ref = {name: f.lacuna_classification for name, (_, f) in cases.items()}
    for name in cases:
        assert (got[name].tier, sorted(got[name].tags)) == (ref[name].tier,
                                                           sorted(ref[name].tags)), name
    assert got["k-anonymous count"].tier < got["personal key"].tier
    assert any("fewer than k" in r for r in got["groups below k"].reasoning)


def test_dataset_join_keeps_the_state(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_ds.dataset(folder / "customers.csv", format="csv")
        sales = pa_csv.read_csv(folder / "sales.csv")
        joined = customers.join(sales, "customer_id", join_type="inner")
        found = governed_arrow.tracked(joined)
        table = joined.to_table()
        c = governed_arrow.classification(table)
    assert found is not None
    assert found.lineage.operation == "pyarrow.join.inner"
    assert c.columns["email"].classification.value == "pii"
    assert c.columns["revenue"].classification.value == "financial"


def test_join_map_follows_arrow_suffixes() -> None:
    got = join_map(["k", "a", "x", "b", "x_r"], [["k", "a", "x"], ["k", "b", "x"]],
                   [None, "_r"], [("k", "k")])
    assert got == {"k": ((0, "k"), (1, "k")), "a": ((0, "a"),), "x": ((0, "x"),),
                   "b": ((1, "b"),), "x_r": ((1, "x"),)}
    # keys named differently: the coalesced key comes from both key columns
    got = join_map(["id", "a", "b"], [["id", "a"], ["cid", "b"]], [None, None], [("id", "cid")])
    assert got["id"] == ((0, "id"), (1, "cid"))


def test_hooks_are_removed_on_disable() -> None:
    before = (pac._perform_join, pac._group_by)
    with lacuna.governed():
        assert pac._perform_join is not before[0]
        table = pa.table({"k": [1, 1], "v": [2, 3]})
        assert table.group_by("k").aggregate([("v", "sum")]).num_rows == 1
    assert (pac._perform_join, pac._group_by) == before
