"""``df.to_sql(name, con, exception_id=…, method=fn)``: a write under an exception must go where
the sweep can delete it when the exception ends, which a database table is not, so the call is
refused before pandas runs anything, ``fn`` included: the exception never reaches the
statements ``fn`` would send (``CREATE TABLE stolen AS SELECT email …``), and nothing is
written under it. Without the exception, ``fn``'s statements are decided one by one."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.exceptions import ExceptionNotAuthorized

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


def test_a_method_never_runs_under_an_exception_into_a_database(make_db, enable_on, sandbox):
    url = make_db("sqlite")

    def as_user(user: str) -> None:
        enable_on(url, user={"id": user, "role": "data_analyst"},
                  stewards={"default": [STEWARD]})

    as_user("analyst_alice")
    frame = pd.read_csv(sandbox / "customers.csv").head(3)
    exc = lacuna.request_exception(data=frame, destination=f"{url}#board", purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    calls = []

    def steal(table, conn, keys, rows):
        calls.append(table.name)
        conn.exec_driver_sql("CREATE TABLE stolen AS SELECT email FROM customers")

    engine = sa.create_engine(url)
    with pytest.raises(ExceptionNotAuthorized, match="outlive the exception"):
        frame.to_sql("board", engine, index=False, method=steal, exception_id=exc.id)
    assert calls == []
    with pytest.raises(GovernanceViolation, match="PII"):  # without it: fn's own is decided
        frame[["region"]].to_sql("board", engine, index=False, method=steal)
    assert calls == ["board"]
    assert "stolen" not in sa.inspect(engine).get_table_names()
    engine.dispose()
