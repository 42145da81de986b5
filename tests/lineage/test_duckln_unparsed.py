"""A statement the dialect's parser refuses is denied for that, said so: which dialect, the
parser's message, what to do. It was denied as "Cannot export PROPRIETARY data to a database
without classification support", true only of the class assumed for it (fail closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lacuna
import lacuna.sql
from lacuna.errors import GovernanceViolation

sa = pytest.importorskip("sqlalchemy")
duckdb = pytest.importorskip("duckdb")


def test_unparsable_sql_is_denied_as_unparsable_and_parsable_sql_still_runs(
        sandbox: Path, sandbox_config) -> None:
    lacuna.configure(sandbox_config())
    engine = lacuna.sql.govern(sa.create_engine(f"sqlite:///{sandbox / 'w.db'}"))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE tt (a INTEGER)")  # allowed: no data moves
            assert conn.exec_driver_sql("SELECT a FROM tt").all() == []
            with pytest.raises(GovernanceViolation) as err:
                conn.exec_driver_sql("SELEKT * FROM tt")
            with pytest.raises(GovernanceViolation) as values:  # the values stay out of it
                conn.exec_driver_sql("INSERT INTO tt VALUES ('kira@example.com'")
    finally:
        lacuna.sql.ungovern(engine)
        engine.dispose()
    decision = err.value.decision
    assert not decision.allowed
    assert decision.reasoning.startswith("Lacuna could not parse this statement as sqlite SQL (")
    assert "Line 1, Col: " in decision.reasoning
    assert "\x1b" not in decision.reasoning
    assert "classification support" not in decision.reasoning
    assert any("Check the statement for a typo" in w for w in decision.why)
    assert "kira@example.com" not in values.value.decision.reasoning
    assert values.value.decision.reasoning.startswith("Lacuna could not parse this statement")

    lacuna.enable(sandbox_config())  # native DuckDB: the same statement, the same denial
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE tt (a INTEGER)")
        with pytest.raises(GovernanceViolation) as native:
            con.execute("SELEKT * FROM tt")
        assert con.execute("SELECT count(*) FROM tt").fetchall() == [(0,)]
    finally:
        con.close()
    assert native.value.decision.reasoning.startswith(
        "Lacuna could not parse this statement as duckdb SQL (")
