"""Full-scan classification of a pandas frame, and the vectorised scan it shares with Spark."""

from __future__ import annotations

import sys
from dataclasses import replace
from importlib import resources

import pandas as pd
import pytest

from lacuna.classify import classify_frame
from lacuna.classify.fullscan import full_scan, merge_evidence, scan_batch
from lacuna.classify.heuristic import _engine
from lacuna.classify.scan import column_sample
from lacuna.errors import ClassificationError
from lacuna.model import Tier


def test_full_scan_counts_every_row_across_batches():
    rows = [f"item {i}" for i in range(25_000)] + [f"p{i}@example.org" for i in range(15_000)]
    df = pd.DataFrame({"notes": rows, "n": range(len(rows))})
    full = full_scan(df, batch_rows=10_000)
    col = full.columns["notes"]
    assert col.pii_type == "email"
    assert "full scan of 40000 values" in col.reasoning
    assert full.tier is Tier.PROPRIETARY


def test_full_scan_agrees_with_the_sampled_classification_on_the_sample_data():
    pdf = pd.read_csv(str(resources.files("lacuna") / "data" / "customers.csv"))
    full = full_scan(pdf, batch_rows=7)  # many small batches: merging must not change answers
    expected = classify_frame(pdf, cascade=False)
    assert full.tier == expected.tier
    assert {n: c.pii_type for n, c in full.columns.items()} == {
        n: c.pii_type for n, c in expected.columns.items()}


def test_merged_evidence_sums_the_batches():
    df = pd.DataFrame({"email": [f"u{i}@example.org" for i in range(900)] + ["x"] * 100})
    merged = merge_evidence(pd.concat([scan_batch(df.iloc[lo: lo + 250])
                                       for lo in range(0, 1000, 250)]))
    total = merged[merged["recognizer"] == ""].iloc[0]
    email = merged[merged["recognizer"] == "email"].iloc[0]
    assert (int(total["n"]), int(total["batches"])) == (1000, 4)
    assert email["hits"] == pytest.approx(900)


@pytest.mark.parametrize("values", [
    ["AMER", "EMEA", "APAC", "LATAM"] * 300,  # few distinct values: patterns over 4 of them
    ["123-45-6789", "078-05-1120", "219-09-9999", "nope"] * 200,
    [f"Ann Smith {i % 7}" for i in range(700)] + ["Peter Jones"] * 500,
    ["4111 1111 1111 1111", "5500 0000 0000 0004", "1234"] * 300,
])
def test_the_shortcuts_change_no_answer(values):
    # distinct values once and length bounds are shortcuts: every recognizer must answer the
    # same as over every value with no bounds
    fast = column_sample("c", pd.Series(values, dtype=object))
    assert fast.distinct is not None
    slow = replace(fast, distinct=None, codes=None, lengths=(0, sys.maxsize))
    for recognizer in _engine().values:
        a, b = recognizer.scan(fast), recognizer.scan(slow)
        assert (a is None) == (b is None), recognizer.name
        if a is not None and b is not None:
            assert (a.mode, a.ratio, a.checked, a.score, a.weak, a.below) == (
                b.mode, b.ratio, b.checked, b.score, b.weak, b.below), recognizer.name


def test_object_strings_and_mixed_objects_scan_alike():
    strings = pd.Series([f"u{i}@example.org" for i in range(300)], dtype=object)
    mixed = pd.Series([*strings.tolist()[:-1], 7], dtype=object)  # one int: the per-value path
    a, b = column_sample("c", strings), column_sample("c", mixed)
    assert a.values.to_pylist()[:299] == b.values.to_pylist()[:299]


def test_a_batch_must_hold_rows():
    with pytest.raises(ClassificationError, match="batch_rows"):
        full_scan(pd.DataFrame({"a": [1]}), batch_rows=0)
