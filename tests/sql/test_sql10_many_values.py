"""Over 200 values a column may hold: an anonymous ``?`` in the output may bind any of the
statement's values (``SELECT ? AS b WHERE ? IS NOT NULL AND …``, 300 of them), and only the
first 200 were classified, so an e-mail bound last went into the table as PUBLIC. Values are
counted once each, and past 200 distinct ones those a strong recognizer validates are kept
first."""

from __future__ import annotations

import pytest

from lacuna.errors import GovernanceViolation
from lacuna.lineage.sql_values import MAX_VALUES, _bounded

EMAIL = "kira.k@example.com"
N = 300


def test_an_e_mail_past_the_first_200_values_is_seen(make_db, governed_engine):
    """One ``?`` in the output, 299 in the condition: which value it binds is not read off
    the tree, so the column may hold any of the 300 (fail closed)."""
    engine = governed_engine(make_db("sqlite", tables=()))
    sql = "CREATE TABLE u AS SELECT ? AS b WHERE " + " AND ".join(["? IS NOT NULL"] * (N - 1))
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        conn.exec_driver_sql(sql, (*["north"] * (N - 1), EMAIL))
    with engine.begin() as conn:  # the allowed path: as many public values
        conn.exec_driver_sql(sql, ("north",) * N)
        assert conn.exec_driver_sql("SELECT b FROM u").fetchall() == [("north",)]


@pytest.mark.parametrize("last", [EMAIL, f"to: {EMAIL}"])
def test_past_200_distinct_values_the_recognized_ones_are_kept(last):
    values = [f"north{i}" for i in range(N)] + [last]
    kept = _bounded({(0, "c0"): values, (1, "c1"): ["a", "a", "b"]})
    assert last in kept[(0, "c0")]
    assert len(kept[(0, "c0")]) == MAX_VALUES
    assert kept[(1, "c1")] == ["a", "b"]
