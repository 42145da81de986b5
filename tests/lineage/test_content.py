"""Content fingerprints and the move rule, without interception."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage import content, rules
from lacuna.lineage.content import ROWS, fingerprints
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

EMAIL = ColumnClass(classification=ColumnKind.PII, pii_type="email")
PUBLIC = ColumnClass()


def _frames() -> dict[str, pd.DataFrame]:
    n = 1000
    rng = np.random.default_rng(1)
    base = pd.DataFrame(
        {
            "arrow": pd.array([f"a{i}@x.org" for i in range(n)], dtype="string[pyarrow]"),
            "cat": pd.Categorical(rng.choice(["x", "y", "z"], n)),
            "nullable": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
            "tz": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
            "mixed": [[i] if i % 3 == 0 else {"k": i} if i % 3 == 1 else None for i in range(n)],
            "float": rng.normal(size=n),
        }
    )
    multi = base.copy()
    multi.columns = pd.MultiIndex.from_tuples([("m", str(c)) for c in base.columns])
    dupes = pd.DataFrame([[1, "a"], [2, "b"]], columns=["x", "x"])
    return {"dtypes": base, "multiindex": multi, "duplicates": dupes, "empty": base.iloc[:0]}


@pytest.mark.parametrize("name", ["dtypes", "multiindex", "duplicates", "empty"])
def test_fingerprints_are_stable_and_cover_every_label(name):
    df = _frames()[name]
    first = fingerprints(df)
    assert set(first) == {str(c) for c in df.columns}
    assert fingerprints(df.copy()) == first  # same content, another object: same fingerprint


def test_wide_and_narrow_frames_hash_a_column_alike(monkeypatch):
    df = _frames()["dtypes"]
    narrow = fingerprints(df)
    monkeypatch.setattr(content, "WIDE", 0)  # the wide-frame path, on the same columns
    assert fingerprints(df) == narrow
    assert fingerprints(df, ["tz", "cat"]) == {"tz": narrow["tz"], "cat": narrow["cat"]}


def test_index_levels_are_fingerprinted_like_columns():
    df = _frames()["dtypes"]
    indexed = df.set_index("arrow")
    assert fingerprints(indexed)["arrow"] == fingerprints(df)["arrow"]


def test_a_moved_column_is_recognised_and_a_changed_one_is_not():
    df = _frames()["dtypes"]
    before = fingerprints(df)
    moved = df.rename(columns={"arrow": "other"})
    assert fingerprints(moved)["other"] == before["arrow"]
    for column in df.columns:  # a Series taken out hashes as it did inside the frame
        assert fingerprints(df[column].rename("x"))["x"] == before[column], column
        assert fingerprints(df, [column]) == {column: before[column]}
    edited = df.copy()
    edited.loc[edited.index[0], "arrow"] = "changed@x.org"  # row 0 is always sampled
    assert fingerprints(edited)["arrow"] != before["arrow"]
    assert fingerprints(df.iloc[::2])["arrow"] != before["arrow"]  # other rows: re-check


def test_fingerprints_cost_does_not_grow_with_rows():
    import time

    small = pd.DataFrame({"a": np.arange(ROWS * 10), "b": ["x"] * (ROWS * 10)})
    big = pd.DataFrame({"a": np.arange(2_000_000), "b": ["x"] * 2_000_000})
    fingerprints(small), fingerprints(big)  # warm up

    def best(df: pd.DataFrame) -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            fingerprints(df)
            times.append(time.perf_counter() - t)
        return min(times)

    assert best(big) < best(small) * 5 + 0.005  # slices are views: no copy of 2M rows


def test_reassign_moves_classes_and_recomputes_the_tier():
    config = ClassificationConfig()
    parent = Classification(
        tier=Tier.PROPRIETARY, tags=("PII", "GDPR"), columns={"email": EMAIL, "region": PUBLIC}
    )
    swapped = rules.reassign(
        parent, {"region": EMAIL, "email": PUBLIC}, config, reason="relabelled"
    )
    assert swapped.columns["region"] == EMAIL
    assert swapped.tier is Tier.PROPRIETARY
    overwritten = rules.reassign(parent, {"email": PUBLIC}, config, reason="assigned")
    assert overwritten.tier is Tier.PUBLIC  # no personal content left anywhere


def test_reassign_never_lowers_a_tier_no_column_explains():
    # An aggregate kept PROPRIETARY by k-anonymity: its columns are not personal.
    config = ClassificationConfig()
    blocked = Classification(tier=Tier.PROPRIETARY, tags=("PII",), columns={"n": PUBLIC})
    renamed = rules.reassign(blocked, {"m": PUBLIC}, config, removed=["n"], reason="relabelled")
    assert renamed.tier is Tier.PROPRIETARY
    assert "PII" in renamed.tags
