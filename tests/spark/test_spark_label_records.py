"""Spark writes read the header: a column name that is a value is named by its position.

``df.toDF(*addresses).write.csv("~/Downloads/x")`` and a ``pivot`` on an address column left as
PUBLIC, the addresses in the files' header, while pandas' writers read the header. Spark's
write path (:func:`lacuna.spark.writes.govern_write`) and its reads now read the column names
as polars', pyarrow's and DuckDB's do (:func:`lacuna.spark.plan.named`): ``(column labels)``
holds their class and a name that is a value is ``(column N)`` in every record.

Each test reads the stores back (tests/leaks.py). Real Spark (the session-scoped fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lacuna
from lacuna.governor import current
from lacuna.lineage.sidecar import sidecar_path
from leaks import EMAILS, POSITIONS, by_position, decision_log, leaks


def _wide(spark: object) -> object:
    return spark.createDataFrame([(0, 1, 2, 3)], ["a", "b", "c", "d"]).toDF(*EMAILS)  # type: ignore[attr-defined]


def test_a_denied_export_names_the_columns_by_position(gspark, governed: Path) -> None:
    down = governed / "Downloads"
    pivoted = (
        gspark.createDataFrame(
            [("east", e, i) for i, e in enumerate(EMAILS)], ["ward", "contact", "beds"]
        )
        .groupBy("ward")
        .pivot("contact")
        .sum("beds")
    )
    for frame, target, positions in (
        (_wide(gspark), down / "wide", POSITIONS),
        (pivoted, down / "pivoted", ["(column 2)", "(column 3)", "(column 4)", "(column 5)"]),
    ):
        with pytest.raises(lacuna.GovernanceViolation) as denied:
            frame.write.csv(str(target), header=True)
        assert not target.exists()
        columns = denied.value.decision.operation.classification.columns
        assert columns["(column labels)"].pii_type == "email"
        assert by_position(columns) == positions
        assert not any(e in str(denied.value) for e in EMAILS)
    logged = decision_log(governed)
    assert any("(column 1)" in r for r in logged)
    assert any("(column 5)" in r for r in logged)
    assert leaks(governed, EMAILS) == []


def test_an_allowed_write_names_them_by_position_and_reads_back(gspark, governed: Path) -> None:
    out = governed / "governed" / "workspace" / "wide.parquet"
    _wide(gspark).write.parquet(str(out))
    sidecar = json.loads(sidecar_path(out).read_text())
    assert "(column labels)" in json.dumps(sidecar)
    runs = current().lineage_store.runs(limit=None)
    assert any(v.columns == tuple(POSITIONS) for r in runs for v in r.outputs)
    edges = {e.target_column for r in runs for e in r.column_edges}
    assert not any(e in EMAILS for e in edges)
    back = gspark.read.parquet(str(out))  # the round trip: the files keep their header
    assert back.columns == EMAILS
    assert tuple(back.collect()[0]) == (0, 1, 2, 3)
    again = governed / "governed" / "workspace" / "again.parquet"
    back.write.parquet(str(again))  # its source's columns and edges: by position too
    assert any("(column 1)" in r for r in decision_log(governed))
    data = [p for p in (*out.rglob("*"), *again.rglob("*")) if p.is_file()]
    assert leaks(governed, EMAILS, *data) == []


def test_classification_reports_the_header_as_the_write_decides_it(
    gspark, governed: Path
) -> None:
    """``lacuna.spark.classification(df)`` read the column names as names only: PUBLIC for a
    frame whose export was denied for ``(column labels)``. It reports what the write decides
    on, keyed by the frame's own names."""
    wide = _wide(gspark)
    reported = lacuna.spark.classification(wide)
    assert reported.columns["(column labels)"].pii_type == "email"
    assert set(reported.columns) == {*EMAILS, "(column labels)"}
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        wide.write.csv(str(governed / "Downloads" / "wide"), header=True)
    decided = denied.value.decision.operation.classification
    assert (reported.tier, reported.tags) == (decided.tier, decided.tags)
    assert decided.columns["(column labels)"] == reported.columns["(column labels)"]
    # the allowed path: ordinary names, no header class, written and read back
    plain = gspark.createDataFrame([("east", 4)], ["ward", "beds"])
    assert set(lacuna.spark.classification(plain).columns) == {"ward", "beds"}
    out = governed / "Downloads" / "plain"
    plain.write.csv(str(out), header=True)
    back = gspark.read.csv(str(out), header=True)
    assert back.columns == ["ward", "beds"]
    assert tuple(back.collect()[0]) == ("east", "4")
