"""Content fingerprints and the move rule, without interception."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

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


# -- value digests: what binds a declaration stored in a file to its values --------------------


def _awkward() -> pd.DataFrame:
    """Dtypes that formats change on a faithful round trip."""
    import datetime
    import decimal

    frame = pd.DataFrame({
        "text": ["a", None, "é", ""],
        "objects": pd.Series(["x", "y", None, "z"], dtype=object),
        "ints": [1, 2, 3, 2**60],
        "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
        "floats": [1.5, np.nan, -0.0, 1e300],
        "flags": [True, False, True, True],
        "stamps": pd.to_datetime(["2024-01-01 00:00:00", None, "2024-01-03 08:00:00.5",
                                  "1999-12-31 23:59:59"], format="ISO8601"),
        "zoned": pd.to_datetime(["2024-01-01"] * 4).tz_localize("Europe/Paris"),
        "days": [datetime.date(2024, 1, 1), None, datetime.date(2023, 5, 1),
                 datetime.date(1970, 1, 1)],
        "durations": pd.to_timedelta([1, 2, None, 4], unit="s"),
        "cat": pd.Categorical(["x", "y", "x", None]),
        "decimals": [decimal.Decimal("1.5"), decimal.Decimal("2.5"), None, decimal.Decimal("0")],
        "lists": [[1, 2], [], None, [3]],
        "nothing": [None] * 4,
    })
    frame.index = pd.Index([10, 20, 30, 40], name="id")
    return frame


def _round_trips() -> dict[str, Callable[[pd.DataFrame], pd.DataFrame]]:
    import io
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(f: pd.DataFrame) -> pd.DataFrame:
        buffer = io.BytesIO()
        f.to_parquet(buffer)
        return pd.read_parquet(io.BytesIO(buffer.getvalue()))

    def feather(f: pd.DataFrame) -> pd.DataFrame:
        buffer = io.BytesIO()
        f.reset_index().to_feather(buffer)
        return pd.read_feather(io.BytesIO(buffer.getvalue())).set_index("id")

    def arrow_parquet(f: pd.DataFrame) -> pd.DataFrame:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(f), buffer)
        return pq.read_table(io.BytesIO(buffer.getvalue())).to_pandas()

    def orc(f: pd.DataFrame) -> pd.DataFrame:  # ORC: no categorical, list, decimal or duration
        buffer = io.BytesIO()
        f.drop(columns=["cat", "lists", "decimals", "durations", "nothing"]).reset_index() \
            .to_orc(buffer)
        return pd.read_orc(io.BytesIO(buffer.getvalue())).set_index("id")

    return {"parquet": parquet, "feather": feather, "pyarrow": arrow_parquet, "orc": orc,
            "pickle": lambda f: pickle.loads(pickle.dumps(f))}


@pytest.mark.parametrize("fmt", ["parquet", "feather", "pyarrow", "orc", "pickle"])
def test_digests_survive_a_faithful_round_trip(fmt: str) -> None:
    frame = _awkward()
    back = _round_trips()[fmt](frame)
    read = content.digests(back)
    written = content.digests(frame)
    assert set(read) <= set(written)
    assert set(read) >= set(map(str, back.columns)) | {"id"}
    assert {k: v for k, v in read.items() if written[k] != v} == {}, back.dtypes


def test_digests_survive_polars() -> None:
    import io

    pl = pytest.importorskip("polars")
    frame = _awkward().drop(columns=["cat", "lists", "decimals", "nothing"]).reset_index()
    written = pl.from_pandas(frame)
    buffer = io.BytesIO()
    written.write_parquet(buffer)
    expected = content.digests(written.to_pandas())  # what Lacuna signs for a Polars write
    assert expected == content.digests(frame)
    assert content.digests(pd.read_parquet(io.BytesIO(buffer.getvalue()))) == expected
    assert content.digests(pl.read_parquet(io.BytesIO(buffer.getvalue())).to_pandas()) == expected


def test_digests_tell_values_apart() -> None:
    base = pd.DataFrame({"a": ["north", "south"], "n": [1, 2]})
    digest = content.digests(base)
    assert content.digests(base.rename(columns={"a": "b"}))["b"] == digest["a"]  # values, not name
    for other in (
        pd.DataFrame({"a": ["south", "north"], "n": [1, 2]}),  # order
        pd.DataFrame({"a": ["north", None], "n": [1, 2]}),  # a missing value
        pd.DataFrame({"a": ["north", "south"], "n": [1, 3]}),
        pd.DataFrame({"a": ["nort", "hsouth"], "n": [1, 2]}),  # same bytes, other boundaries
        pd.DataFrame({"a": ["north", "south", "x"], "n": [1, 2, 3]}),
    ):
        changed = content.digests(other)
        assert changed["a"] != digest["a"] or changed["n"] != digest["n"]
    assert content.digests(pd.DataFrame({"a": ["1", "2"]}))["a"] != \
        content.digests(pd.DataFrame({"a": [1, 2]}))["a"]


def test_digests_are_stable_across_processes() -> None:
    """sha256, not the salted hash(): another interpreter computes the same digests."""
    import subprocess
    import sys

    code = ("import pandas as pd; from lacuna.lineage.content import digests; "
            "print(digests(pd.DataFrame({'a': ['x', None, 'z'], 'n': [1.5, 2, None]})))")
    here = content.digests(pd.DataFrame({"a": ["x", None, "z"], "n": [1.5, 2, None]}))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "7",
                                              "PYTHONPATH": str(Path(content.__file__).parents[2])})
    assert out.stdout.strip() == str(here)
