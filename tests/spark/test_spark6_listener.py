"""The query listener told a governed write's own events by time: a target was remembered for
10 s after its governed write finished, and an outside write to it in those seconds
(``df._jdf.write().mode("append").saveAsTable(t)``) was taken as the governed write's own
event, neither flagged UNGOVERNED nor re-labelled, so the table kept the governed write's lower
label over the e-mails appended. Events are now matched by their query's number
(lacuna.spark.expected): a governed write's queries are numbered while it runs, a later
write's after it returned."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lacuna.governor import current


def _label_tier(spark, table: str) -> str:  # type: ignore[no-untyped-def]
    from lacuna.spark.labels import read_table_label

    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    text = read_table_label(props)
    assert text is not None
    return str(json.loads(text)["classification"]["tier"])


def _settle(spark) -> None:  # type: ignore[no-untyped-def]
    from lacuna.spark.listener import flush

    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
    assert flush(spark, 30)


def _flagged(spark, table: str) -> list[str]:  # type: ignore[no-untyped-def]
    _settle(spark)
    return [r.body for r in current().audit.list(limit=None)
            if "UNGOVERNED" in r.body and f"default.{table} " in r.body.replace(":", " ")]


def test_governed_writes_in_a_row_and_on_another_thread_are_not_flagged(
        gspark, governed: Path) -> None:
    """Two governed writes to one table in a row, then at once an outside append of e-mails to
    it (was: taken as the governed writes' own, and the table kept their PUBLIC label), while
    governed writes run on another thread: only the outside write is flagged."""
    spark = gspark
    words = spark.createDataFrame([("hello",)], ["contact"])
    emails = spark.createDataFrame([("a@example.com",)], ["contact"])
    failures: list[BaseException] = []

    def governed_writes() -> None:
        try:
            words.write.mode("overwrite").saveAsTable("s6_thread")
            words.write.mode("append").saveAsTable("s6_thread")
        except BaseException as exc:
            failures.append(exc)

    try:
        words.write.saveAsTable("s6_in_a_row")
        spark.sql("INSERT INTO s6_in_a_row VALUES ('again')")  # governed, at once
        other = threading.Thread(target=governed_writes)
        other.start()
        emails._jdf.write().mode("append").saveAsTable("s6_in_a_row")  # outside, meanwhile
        other.join(60)
        assert not other.is_alive()
        assert failures == []
        _settle(spark)
        assert _flagged(spark, "s6_thread") == []
        assert len(_flagged(spark, "s6_in_a_row")) >= 1  # was: none
        assert _label_tier(spark, "s6_thread") == "PUBLIC"
        assert _label_tier(spark, "s6_in_a_row") == "PROPRIETARY"  # was: PUBLIC
    finally:
        spark.sql("DROP TABLE IF EXISTS s6_in_a_row")
        spark.sql("DROP TABLE IF EXISTS s6_thread")


def test_a_query_is_the_governed_writes_only_between_its_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Spark: a window claims the queries numbered while its write ran, for its keys;
    a number that cannot be read claims only while the write runs."""
    from lacuna.spark import expected

    monkeypatch.setattr(expected, "_RUNNING", [])
    monkeypatch.setattr(expected, "_DONE", [])
    numbers = iter([10, 20])
    monkeypatch.setattr(expected, "next_id", lambda spark: next(numbers))

    def claims(*asked: tuple[str | None, int | None]) -> list[bool]:
        return [expected.claim(key, execution) for key, execution in asked]

    window = expected.expect(object(), ("t",))  # type: ignore[arg-type]
    # while it runs: its queries (and one it creates next), for its key; not an earlier query
    assert claims(("t", 15), (None, 15), ("t", 999), ("t", 9), ("u", 15)) == [
        True, True, True, False, False]
    expected.finished(object(), window)  # type: ignore[arg-type]
    # after it returned: its queries, handled late; not a later query, nor one not numbered
    assert claims(("t", 15), ("t", 21), (None, 21), ("t", None)) == [True, False, False, False]
    blind = expected.expect(None, ("t",))  # its numbers cannot be read
    assert claims(("t", None), ("t", 5)) == [True, True]
    expected.finished(None, blind)
    assert claims(("t", None), ("t", 25)) == [False, False]
    monkeypatch.setattr(expected, "KEEP_S", -1.0)  # forgotten: a late event is flagged
    numbers = iter([30, 40])
    gone = expected.expect(object(), ("w",))  # type: ignore[arg-type]
    expected.finished(object(), gone)  # type: ignore[arg-type]
    assert claims(("w", 35)) == [False]
