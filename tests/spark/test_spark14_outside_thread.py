"""An outside write to a target while a governed write to it is in flight on another thread.

The query listener told a governed write's events by their query's number: every query
numbered while the governed write to ``t`` ran, and writing to ``t``, was taken as its own.
A write outside Lacuna made on another thread meanwhile (``df._jdf.write()``) was numbered in
that window too, so it was neither recorded UNGOVERNED nor re-labelled: the table kept the
governed write's PUBLIC label over the e-mails appended. Now an event is the governed write's
only when what it wrote is the governed write's query (lacuna.spark.expected)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from lacuna.governor import current


def _label_tier(spark: Any, table: str) -> str:
    from lacuna.spark.labels import read_table_label

    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    text = read_table_label(props)
    assert text is not None
    return str(json.loads(text)["classification"]["tier"])


def _settle(spark: Any) -> None:
    from lacuna.spark.listener import flush

    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
    assert flush(spark, 60)


def _seen() -> set[str]:
    return {r.id for r in current().audit.list(limit=None)}


def _new(since: set[str]) -> list[str]:
    return [r.body for r in current().audit.list(limit=None) if r.id not in since]


def _ungoverned(name: str, since: set[str]) -> list[str]:
    return [b for b in _new(since) if "UNGOVERNED" in b and name in b]


def _meanwhile(monkeypatch: pytest.MonkeyPatch, outside: Any) -> list[BaseException]:
    """Run ``outside`` on another thread once the next governed write registered its window
    (its queries numbered from then), and wait for it: it runs while the governed write is in
    flight."""
    from lacuna.spark import expected

    original = expected.expect
    failures: list[BaseException] = []
    done = []

    def expect(spark: Any, keys: tuple[str, ...], *plan: Any) -> Any:
        window = original(spark, keys, *plan)
        if not done:
            done.append(True)

            def run() -> None:
                try:
                    outside()
                except BaseException as exc:
                    failures.append(exc)

            other = threading.Thread(target=run)
            other.start()
            other.join(120)
        return window

    monkeypatch.setattr(expected, "expect", expect)
    return failures


def test_an_outside_append_to_a_table_meanwhile_is_flagged_and_relabelled(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    table = "s14_meanwhile"
    words = spark.createDataFrame([("hello",)], ["contact"])
    emails = spark.createDataFrame([("a@example.com",)], ["contact"])
    try:
        words.write.saveAsTable(table)
        _settle(spark)
        since = _seen()
        with monkeypatch.context() as m:
            failures = _meanwhile(
                m, lambda: emails._jdf.write().mode("append").saveAsTable(table))
            words.write.mode("append").saveAsTable(table)  # governed, PUBLIC
        assert failures == []
        _settle(spark)
        assert len(_ungoverned(table, since)) >= 1  # was: none
        assert _label_tier(spark, table) == "PROPRIETARY"  # was: PUBLIC
        assert sorted(r[0] for r in spark.table(table).collect()) == [
            "a@example.com", "hello", "hello"]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")


def test_an_outside_write_to_a_folder_meanwhile_is_flagged_and_relabelled(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacuna.lineage.sidecar import read_sidecar
    from lacuna.model import Tier

    spark = gspark
    out = governed / "governed" / "workspace" / "s14_meanwhile.parquet"
    words = spark.createDataFrame([("hello",)], ["contact"])
    emails = spark.createDataFrame([("a@example.com",)], ["contact"])
    words.write.parquet(str(out))
    _settle(spark)
    since = _seen()
    with monkeypatch.context() as m:
        failures = _meanwhile(m, lambda: emails._jdf.write().mode("append").parquet(str(out)))
        words.write.mode("append").parquet(str(out))  # governed, PUBLIC
    assert failures == []
    _settle(spark)
    assert len(_ungoverned(str(out), since)) >= 1  # was: none
    declared = read_sidecar(out)
    assert declared is not None
    assert declared.classification.tier is Tier.PROPRIETARY  # was: PUBLIC
    assert sorted(r[0] for r in spark.read.parquet(str(out)).collect()) == [
        "a@example.com", "hello", "hello"]


@pytest.mark.parametrize("how", ["saveAsTable", "insertInto", "writeTo", "sql_insert",
                                 "sql_values", "sql_params", "sql_ctas", "parquet",
                                 "sql_directory"])
def test_governed_writes_are_not_flagged(gspark, governed: Path, how: str) -> None:
    """The allowed path: each governed writer's own queries are recognised (no UNGOVERNED
    record), and what it wrote reads back."""
    spark = gspark
    table = f"s14_own_{how}"
    out = governed / "governed" / "workspace" / f"s14_own_{how}"
    words = spark.createDataFrame([("hello",), ("world",)], ["contact"])
    words.createOrReplaceTempView("s14_words")
    since = _seen()
    try:
        if how in ("insertInto", "sql_insert", "sql_values", "sql_params"):
            words.limit(0).write.saveAsTable(table)
        if how == "saveAsTable":
            words.write.saveAsTable(table)
        elif how == "insertInto":
            words.write.insertInto(table)
        elif how == "writeTo":
            words.writeTo(table).create()
        elif how == "sql_insert":
            spark.sql(f"INSERT INTO {table} SELECT * FROM s14_words")
        elif how == "sql_values":
            spark.sql(f"INSERT INTO {table} VALUES ('hello'), ('world')")
        elif how == "sql_params":
            spark.sql(f"INSERT INTO {table} SELECT :a UNION ALL SELECT :b",
                      args={"a": "hello", "b": "world"})
        elif how == "sql_ctas":
            spark.sql(f"CREATE TABLE {table} USING parquet AS SELECT * FROM s14_words")
        elif how == "parquet":
            words.write.parquet(str(out))
        else:
            spark.sql(f"INSERT OVERWRITE DIRECTORY '{out}' USING parquet "
                      "SELECT * FROM s14_words")
        _settle(spark)
        assert _ungoverned(table if "directory" not in how and how != "parquet" else str(out),
                           since) == []
        assert [b for b in _new(since) if "UNGOVERNED" in b] == []
        assert [b for b in _new(since) if "spark." in b]  # the governed write's record
        back = (spark.read.parquet(str(out)) if how in ("parquet", "sql_directory")
                else spark.table(table))
        assert sorted(r[0] for r in back.collect()) == ["hello", "world"]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")
