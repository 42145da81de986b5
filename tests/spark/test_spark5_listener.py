"""The query listener failing on a write that ran outside Lacuna (an exception inside it: the
plan cannot be classified, the policy engine fails): it logged an error and nothing else, so
the write was neither flagged in the audit trail nor re-labelled, and a table it lowered kept
its stale label. Now the failure is recorded UNGOVERNED (a fail-closed denial, after the fact),
and the table is labelled at least as high as what the write read when that is known, and
unverified (PROPRIETARY) when nothing is."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lacuna.governor import current
from lacuna.model import Tier

OLD = datetime.now(UTC) - timedelta(days=round(365.25 * 4))


def _label_tier(spark, table: str) -> str:  # type: ignore[no-untyped-def]
    from lacuna.spark.labels import read_table_label

    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    text = read_table_label(props)
    assert text is not None
    return str(json.loads(text)["classification"]["tier"])


def _flagged(spark, table: str, wait: float = 30) -> list[str]:  # type: ignore[no-untyped-def]
    """The UNGOVERNED records of ``table`` once the listener handled what ran (waiting up to
    ``wait`` seconds for one)."""
    from lacuna.spark.listener import flush

    deadline = time.monotonic() + wait
    while True:
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
        assert flush(spark, 30)
        found = [r.body for r in current().audit.list(limit=None)
                 if "UNGOVERNED" in r.body and table in r.body]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _settled(spark, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The governed writes so far handled by the listener, and no longer remembered: an event
    for their targets is matched to theirs by its query (lacuna.spark.expected)."""
    from lacuna.spark import expected
    from lacuna.spark.listener import flush

    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
    assert flush(spark, 30)
    monkeypatch.setattr(expected, "_DONE", [])


def _aged(spark, table: str) -> None:  # type: ignore[no-untyped-def]
    """``table`` as a governed write four years ago left it: its label signed with that clock."""
    from lacuna.spark import writes
    from lacuna.spark.plan import analyze

    df = spark.table(table)
    analysis = analyze(df, current())
    writes._label(spark, current(), writes.table_target(spark, table, append=False),
                  analysis.classification, analysis, "analyst_alice", "run-old", first_seen=OLD)
    assert writes._table_clock(spark, f"spark_catalog.default.{table}") == OLD


def _clock(spark, table: str) -> datetime | None:  # type: ignore[no-untyped-def]
    from lacuna.spark import writes

    return writes._table_clock(spark, f"spark_catalog.default.{table}")


def _emails(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([("a@example.com",), ("b@example.org",)], ["contact"])


def test_an_outside_write_the_listener_cannot_classify_is_recorded_and_marked_unverified(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    words = spark.createDataFrame([("hello",), ("world",)], ["contact"])
    words.write.saveAsTable("s5_unverified")
    try:
        assert _label_tier(spark, "s5_unverified") == "PUBLIC"
        _aged(spark, "s5_unverified")
        with monkeypatch.context() as m:
            _settled(spark, m)
            def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError("the plan cannot be classified")

            m.setattr("lacuna.spark.plan.analyze", broken)
            _emails(spark)._jdf.write().mode("append").saveAsTable("s5_unverified")  # not wrapped
            records = _flagged(spark, "s5_unverified")  # was: a log line only
        assert records  # one per command Spark ran for it (CTAS, then its insert)
        assert all("could not decide it" in r and "the plan cannot be classified" in r
                   for r in records)
        assert _label_tier(spark, "s5_unverified") == "PROPRIETARY"  # was: PUBLIC, stale
        assert _clock(spark, "s5_unverified") == OLD  # its data is as old as it was
        # a governed write replaces it: labelled by what it holds again
        words.write.mode("overwrite").saveAsTable("s5_unverified")
        assert _label_tier(spark, "s5_unverified") == "PUBLIC"
    finally:
        spark.sql("DROP TABLE IF EXISTS s5_unverified")


def test_an_outside_write_whose_decision_fails_is_labelled_by_what_it_read(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lacuna.spark

    spark = gspark
    spark.createDataFrame([("hello",)], ["contact"]).write.saveAsTable("s5_known")
    try:
        _aged(spark, "s5_known")
        with monkeypatch.context() as m:
            _settled(spark, m)

            def engine_down(*args: object, **kwargs: object) -> None:
                raise RuntimeError("the policy engine did not answer")

            m.setattr(type(current()), "record_decided", engine_down)
            _emails(spark)._jdf.write().mode("append").saveAsTable("s5_known")
            records = _flagged(spark, "s5_known")
        assert records
        assert all("the policy engine did not answer" in r
                   and "at least as high as what it read" in r for r in records)
        assert _label_tier(spark, "s5_known") == "PROPRIETARY"  # the e-mails it read
        assert _clock(spark, "s5_known") == OLD  # was: restarted by the re-label
        c = lacuna.spark.classification(spark.table("s5_known"))
        assert c.tier is Tier.PROPRIETARY
        assert c.columns["contact"].pii_type == "email"
    finally:
        spark.sql("DROP TABLE IF EXISTS s5_known")



class _Command:
    """A write command as py4j shows it: its class name only."""

    def getClass(self) -> _Command:  # the JVM method's name
        return self

    def getSimpleName(self) -> str:  # the JVM method's name
        return "InsertIntoDataSourceCommand"


def test_an_outside_write_whose_target_cannot_be_named_is_recorded(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write whose target Lacuna cannot name (``INSERT INTO`` a view over a data source of
    its own) was a log warning; outside Lacuna it is recorded UNGOVERNED now. While a governed
    write is in flight it may be that one's (whose own decision is the record): not flagged."""
    from lacuna.spark import expected, listener

    spark = gspark
    monkeypatch.setattr(expected, "_DONE", [])
    monkeypatch.setattr(listener, "write_target", lambda spark, plan: (None, None))
    window = expected.expect(None, ("governed-elsewhere",))
    try:
        listener.handle(spark, _Command(), failed=False)
    finally:
        expected.finished(None, window)
    monkeypatch.setattr(expected, "_DONE", [])
    assert _flagged(spark, "a place Lacuna cannot name", wait=0) == []
    listener.handle(spark, _Command(), failed=True)  # it failed: nothing ran
    assert _flagged(spark, "a place Lacuna cannot name", wait=0) == []
    listener.handle(spark, _Command(), failed=False)
    (record,) = _flagged(spark, "a place Lacuna cannot name", wait=0)
    assert "InsertIntoDataSourceCommand" in record
