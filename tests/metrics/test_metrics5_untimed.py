"""``check_times`` found a ``timestamp`` column that is not a time with ``LIKE`` of iso()'s
shape, whose ``_`` matches a letter as well as a digit: ``2026-0X-01T...`` (and month 13,
30 February, year 0) passed unparsed, sorted outside the period's window and was left out of
exact metrics in silence. The database now tests digits and the date they name (SQLite) or
digits in range (PostgreSQL); such a column is an ``AuditError`` naming the record, while
every real time (a leap day, the 31st, the last microsecond of a day) still reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from audit_rows import denial_body
from fixtures_postgres import new_postgres_database
from lacuna.audit import AuditStore
from lacuna.errors import AuditError
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics

PERIOD = (datetime(2026, 11, 3, 7, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC))
WHENS = ("2026-11-03T08:00:00.000000+00:00", "2026-11-03T09:00:00.000000+00:00",
         "2026-11-03T10:00:00.000000+00:00")

# each a time's shape, none a time Python reads: each sorts outside PERIOD's read window
NOT_TIMES = ("2026-0X-01T00:00:00.000000+00:00", "2026-13-01T00:00:00.000000+00:00",
             "2026-02-30T00:00:00.000000+00:00", "2025-02-29T00:00:00.000000+00:00",
             "2026-04-31T00:00:00.000000+00:00", "2026-01-01T24:00:00.000000+00:00",
             "2026-01-01T23:60:00.000000+00:00", "0000-01-01T00:00:00.000000+00:00",
             "2026-01-01T00:00:00.00000x+00:00", "2026-01-01T00:00:00.000000+00:0x",
             "２026-01-01T00:00:00.000000+00:00",
             # ISO-8601 times Python reads, whose text sorts far from the instant (after
             # every 2026-12-...): outside every read window of their own period
             "20261103T090000", "2026-W45-2T09:00:00", "2026-11-03T09:00:00+23:00x")
# real times the database's test must not stop (days 29 to 31, a leap day, the year's ends)
TIMES = ("2024-02-29T12:00:00.000000+00:00", "2026-01-31T23:59:59.999999+00:00",
         "2026-12-31T00:00:00.000000+00:00", "2026-04-30T01:02:03.000004+00:00",
         "0999-06-15T00:00:00.000000+00:00")
# columns older writers left (before migration 0016), each sorting within a day of its instant
# (the reads' slack): read, not refused
SPELLINGS = ("2026-11-03T09:00:00+00:00", "2026-11-03T09:00:00-05:00", "2026-11-03 09:00:00Z",
             "2026-11-03T09:00:00")


def _governor(url: str) -> Governor:
    return Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))


def _set_column(url: str, column: str) -> None:
    engine = create_engine(url)
    _set(engine, column)
    engine.dispose()


def _set(engine: Engine, column: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE lacuna_audit SET timestamp = :t WHERE seq = 2"),
                     {"t": column})


def test_metrics5_a_time_shaped_column_that_is_no_time_fails_exact_metrics(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore(url, checkpoint=None) as store:
        store._append_all([denial_body(i, w) for i, w in enumerate(WHENS)])
    gov = _governor(url)
    try:  # the allowed path first: the three denials counted
        assert GovernanceMetrics(PERIOD, governor=gov, exact=True).counts[
            "violation_rate"] == {"denied": 3, "decisions": 3}
        _set_column(url, NOT_TIMES[0])  # sorts outside the window: was 2 of 2, in silence
        with pytest.raises(AuditError, match=r"audit record #2 .*lacuna audit verify"):
            GovernanceMetrics(PERIOD, governor=gov, exact=True)
    finally:
        gov.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_metrics5_check_times_names_each_column_that_is_no_time(
        dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Each database's test (SQLite: GLOB and strftime; PostgreSQL: a regular expression):
    real times (days 29 to 31, a leap day, a day's last microsecond) pass, each column that
    is no time is named."""
    url = (f"sqlite:///{tmp_path / 'audit.db'}" if dialect == "sqlite"
           else new_postgres_database(request.getfixturevalue("postgres_url")))
    engine = create_engine(url)  # one for every edit (a PostgreSQL connection is not free)
    with AuditStore(url, checkpoint=None) as store:
        store._append_all([denial_body(i, w) for i, w in enumerate(TIMES)])
        store.check_times()
        assert len(store.list(limit=None)) == len(TIMES)
        for column in SPELLINGS:
            _set(engine, column)
            store.check_times()
        try:
            for column in NOT_TIMES:
                _set(engine, column)
                with pytest.raises(AuditError, match=r"audit record #2 \(id '0+1'\)"):
                    store.check_times()
        finally:
            engine.dispose()
