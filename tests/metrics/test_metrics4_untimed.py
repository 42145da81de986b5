"""A record whose ``timestamp`` column is not a time (a trail written before the column was
normalised, or an edited row) was read as year 1 and silently left out of exact metrics,
insights and the console's audit search; it is now an ``AuditError`` naming the record and
``lacuna audit verify``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from audit_rows import denial_body
from lacuna.audit import AuditStore
from lacuna.errors import AuditError
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics
from lacuna.metrics.insights import insights
from lacuna.server.console.audit_view import AuditFilters, search

PERIOD = (datetime(2026, 11, 3, 7, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC))
WHENS = ("2026-11-03T08:00:00.000000+00:00", "2026-11-03T09:00:00.000000+00:00",
         "2026-11-03T10:00:00.000000+00:00")


def _trail(tmp_path: Path, column: str | None) -> str:
    """Three denials in PERIOD; with ``column``, the second's timestamp column set to it."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore(url) as store:
        store._append_all([denial_body(i, w) for i, w in enumerate(WHENS)])
    if column is not None:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE lacuna_audit SET timestamp = :t WHERE seq = 2"),
                         {"t": column})
        engine.dispose()
    return url


def _governor(url: str) -> Governor:
    return Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))


def test_metrics4_every_timed_record_counts(tmp_path: Path) -> None:
    gov = _governor(_trail(tmp_path, None))
    try:
        exact = GovernanceMetrics(PERIOD, governor=gov, exact=True)
        found = insights(PERIOD, governor=gov)
        rows, more = search(gov.audit, AuditFilters(since=PERIOD[0], until=PERIOD[1]))
    finally:
        gov.close()
    assert exact.counts["violation_rate"] == {"denied": 3, "decisions": 3}
    assert found is not None
    assert (len(rows), more) == (3, False)


# "last tuesday" sorts after every time (outside any read window: the database left it out);
# the second has a time's shape and sorts inside the window (read, and taken for year 1)
@pytest.mark.parametrize("column", ["last tuesday", "2026-11-03T09:9x:00.000000+00:00"])
def test_metrics4_a_column_that_is_no_time_is_named_never_dropped(tmp_path: Path,
                                                                   column: str) -> None:
    gov = _governor(_trail(tmp_path, column))
    said = rf"audit record #2 \(id '{1:032x}'\).*not an ISO-8601 time.*lacuna audit verify"
    try:
        with pytest.raises(AuditError, match=said):
            GovernanceMetrics(PERIOD, governor=gov, exact=True)
        with pytest.raises(AuditError, match=said):
            insights(PERIOD, governor=gov)
        with pytest.raises(AuditError, match=said):
            search(gov.audit, AuditFilters(since=PERIOD[0], until=PERIOD[1]))
        with pytest.raises(AuditError, match=said):
            search(gov.audit, AuditFilters())  # no window: read, never shown as year 1
        assert gov.audit.get(1) is not None  # the other records still read one by one
    finally:
        gov.close()
