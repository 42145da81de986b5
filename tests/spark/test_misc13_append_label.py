"""An append to a catalog table whose classification Lacuna cannot read: the table's label
said what the appended rows held alone (logged as a warning), so a table of e-mails that
public rows were appended to while the lineage store could not answer was labelled PUBLIC.
Now the table is read before the append runs (refused in enforce mode when it is there and
cannot be read), and an append caught after the fact (the listener) is labelled PROPRIETARY
when the table cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

import lacuna.spark
from lacuna.errors import GovernanceViolation, LineageError
from lacuna.governor import current
from lacuna.lineage.store import LineageStore
from lacuna.model import Tier


def _store_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(self: LineageStore, *args: object, **kwargs: object) -> None:
        raise LineageError("the lineage store cannot be read")

    monkeypatch.setattr(type(current().lineage_store), "latest_written", refuses)


def _emails(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([("a@example.com",), ("b@example.org",)], ["contact"])


def _words(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([("hello",), ("world",)], ["contact"])


def _label_tier(spark, table: str) -> str:  # type: ignore[no-untyped-def]
    import json

    from lacuna.spark.labels import read_table_label

    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    text = read_table_label(props)
    assert text is not None
    return str(json.loads(text)["classification"]["tier"])


def test_an_append_while_the_store_is_down_keeps_the_labelled_tables_class(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    _emails(spark).write.saveAsTable("m13_labelled")
    try:
        with monkeypatch.context() as m:
            _store_down(m)
            _words(spark).write.mode("append").saveAsTable("m13_labelled")
        assert spark.table("m13_labelled").count() == 4
        assert _label_tier(spark, "m13_labelled") == "PROPRIETARY"  # was PUBLIC
        c = lacuna.spark.classification(spark.table("m13_labelled"))
        assert c.tier is Tier.PROPRIETARY
        assert c.columns["contact"].pii_type == "email"
    finally:
        spark.sql("DROP TABLE IF EXISTS m13_labelled")


def test_an_append_to_a_table_that_cannot_be_read_is_refused(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    _emails(spark).write.saveAsTable("m13_unlabelled")
    try:  # no label: the store is asked what the table holds
        spark.sql("ALTER TABLE m13_unlabelled UNSET TBLPROPERTIES IF EXISTS "
                  "('lacuna.classification.parts', 'lacuna.classification.0')")
        with monkeypatch.context() as m:
            _store_down(m)
            with pytest.raises(GovernanceViolation, match="before appending to it"):
                _words(spark).write.mode("append").saveAsTable("m13_unlabelled")
            with pytest.raises(GovernanceViolation, match="lineage store cannot be read"):
                _words(spark).write.insertInto("m13_unlabelled")
        assert spark.table("m13_unlabelled").count() == 2  # nothing was appended
        # the store answers: the same append runs, and the table keeps what it held
        _words(spark).write.mode("append").saveAsTable("m13_unlabelled")
        assert spark.table("m13_unlabelled").count() == 4
        assert _label_tier(spark, "m13_unlabelled") == "PROPRIETARY"
    finally:
        spark.sql("DROP TABLE IF EXISTS m13_unlabelled")


def test_an_append_that_creates_the_table_is_labelled_by_its_rows(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    try:  # no table yet: nothing to read, the store is not asked
        with monkeypatch.context() as m:
            _store_down(m)
            _words(spark).write.mode("append").saveAsTable("m13_new")
        assert _label_tier(spark, "m13_new") == "PUBLIC"
        assert lacuna.spark.classification(spark.table("m13_new")).tier is Tier.PUBLIC
    finally:
        spark.sql("DROP TABLE IF EXISTS m13_new")


def test_an_outside_append_to_a_table_that_cannot_be_read_is_labelled_proprietary(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacuna.spark import writes
    from lacuna.spark.plan import analyze

    spark = gspark
    _words(spark).write.saveAsTable("m13_outside")
    try:
        df = _words(spark)
        target = writes.table_target(spark, "m13_outside", append=True)
        analysis = analyze(df, current())
        with monkeypatch.context() as m:
            def unreadable(*args: object, **kwargs: object) -> None:
                raise LineageError("the lineage store cannot be read")

            m.setattr("lacuna.spark.sources.classify_leaf", unreadable)
            writes._label(spark, current(), target, analysis.classification, analysis,
                          "analyst_alice", "run-1")
        assert _label_tier(spark, "m13_outside") == "PROPRIETARY"  # was PUBLIC
    finally:
        spark.sql("DROP TABLE IF EXISTS m13_outside")
