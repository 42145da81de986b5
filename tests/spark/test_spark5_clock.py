"""A table whose label cannot be read when it is written again: its retention clock is
unknown. Any error reading it (the catalog or py4j failing, a malformed label) was taken as
"no clock", so the write signed its data as first seen now: data past its retention, written
again while its label could not be read, was kept for another full period. Now the write is
refused in enforce mode, saying why; a table not there yet, or without a label, starts anew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lacuna.errors import GovernanceViolation, IntegrationError
from lacuna.governor import current
from lacuna.spark import writes
from lacuna.spark.plan import analyze

OLD = datetime.now(UTC) - timedelta(days=round(365.25 * 4))
TABLE = "spark_catalog.default.s5_clock"


def test_a_table_whose_label_cannot_be_read_is_not_written_with_a_new_clock(
        gspark, governed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark = gspark
    df = spark.createDataFrame([("books", 3)], ["category", "n"])
    assert writes._table_clock(spark, TABLE) is None  # not there yet: nothing to keep
    df.write.saveAsTable("s5_clock")
    try:  # as a write four years ago left it: its label signed with that clock
        analysis = analyze(df, current())
        writes._label(spark, current(), writes.table_target(spark, "s5_clock", append=False),
                      analysis.classification, analysis, "analyst_alice", "run-old",
                      first_seen=OLD)
        assert writes._table_clock(spark, TABLE) == OLD

        def unreadable(*args: object) -> None:
            raise RuntimeError("py4j: the metastore did not answer")

        with monkeypatch.context() as m:
            m.setattr(writes, "_table_plan", unreadable)
            with pytest.raises(GovernanceViolation, match="retention clock of the table"):
                df.write.mode("overwrite").saveAsTable("s5_clock")  # was: signed as new
        assert writes._table_clock(spark, TABLE) == OLD  # nothing ran: the label is as it was
        df.write.mode("overwrite").saveAsTable("s5_clock")  # readable: written, clock kept
        assert writes._table_clock(spark, TABLE) == OLD

        # a label cut short (a metastore that truncates values): unknown, not "none"
        spark.sql(f"ALTER TABLE {TABLE} SET TBLPROPERTIES ('lacuna.classification.parts'='x')")
        with pytest.raises(IntegrationError, match="retention clock of the table"):
            writes._table_clock(spark, TABLE)
        # no label at all: nothing to keep (the write starts anew)
        spark.sql(f"ALTER TABLE {TABLE} UNSET TBLPROPERTIES ('lacuna.classification.parts')")
        assert writes._table_clock(spark, TABLE) is None
    finally:
        spark.sql("DROP TABLE IF EXISTS s5_clock")
