"""The metrics from the rollups equal the metrics from the records when records spell ``when``
with a UTC offset (or none), for every filter.

The rollups cut a period into whole UTC hours (summed) and its edges (read from the records by
the indexed ``timestamp`` column). That column held ``when`` as spelled, so an edge read by
text missed a record at 07:40 UTC spelled ``02:40-05:00`` and took one at 06:30 UTC spelled
``07:30+01:00``: the rollups said 0 denials of 2 decisions where the records said 1 of 3. A
``when`` without an offset (UTC) failed the append itself (naive and aware times compared).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics

# (spelling, role, policy, allowed): each is 07:00-12:00 UTC on 3 November unless said
WHENS = (
    ("2026-11-03T02:40:00.000000-05:00", "analyst", "P-EXPORT", False),  # 07:40
    ("2026-11-03T07:30:00.000000+01:00", "analyst", "P-EXPORT", True),   # 06:30: outside
    ("2026-11-03T16:30:00.000000+05:00", "finance", "P-PII", False),     # 11:30
    ("2026-11-03T11:50:00.000000-01:00", "finance", "P-EXPORT", False),  # 12:50: outside
    ("2026-11-03T09:00:00", "analyst", "P-PII", True),                   # no offset: UTC
    ("2026-11-03T10:00:00Z", "finance", "P-EXPORT", True),
    ("2026-11-03T06:45:00-01:00", "analyst", "P-PII", False),            # 07:45
    ("2026-11-03T12:40:00+01:00", "finance", "P-PII", True),             # 11:40
)
PERIODS = (
    (datetime(2026, 11, 3, 7, 35, tzinfo=UTC), datetime(2026, 11, 3, 11, 45, tzinfo=UTC)),
    (datetime(2026, 11, 3, 7, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC)),
    "2026-11",
)
FILTERS = ({}, {"user_group": "analyst"}, {"policy": "P-PII"},
           {"user_group": "finance", "policy": "P-EXPORT"})


def _body(i: int, when: str, role: str, policy: str, allowed: bool) -> dict[str, Any]:
    return {"id": f"{i:032x}", "seq": 0,
            "who": {"user_id": f"u-{role}", "role": role, "session": "t"},
            "what": {"action": "export", "sources": [f"/lake/{i}"], "destination": "/d",
                     "tier": None, "columns": {}},
            "when": when,
            "decision": {"allowed": allowed, "policy_id": policy,
                         "policies": [{"package": "corp.pii", "id": policy}],
                         "engine_error": None},
            "why": {"exception_id": None}}


@pytest.fixture(scope="module")
def governor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("offsets") / "audit.db"
    url = f"sqlite:///{path}"
    with AuditStore(url) as store:
        store._append_all([_body(i, *w) for i, w in enumerate(WHENS)])
    gov = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    yield gov
    gov.close()


@pytest.mark.parametrize("period", PERIODS, ids=["cut-hours", "whole-hours", "month"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(f.values()) or "none")
def test_rollups_equal_records_with_utc_offsets(governor: Any, period: Any,
                                                filters: dict[str, str]) -> None:
    fast = GovernanceMetrics(period, governor=governor, **filters)
    exact = GovernanceMetrics(period, governor=governor, exact=True, **filters)
    assert (fast.source, exact.source) == ("rollups", "records")
    assert fast.to_dict() == exact.to_dict()


def test_records_count_by_their_instant(governor: Any) -> None:
    """The count itself, from the list above (not from either path): 07:35-11:45 UTC holds
    07:40 (denied), 07:45 (denied), 09:00, 10:00, 11:30 (denied) and 11:40."""
    m = GovernanceMetrics(PERIODS[0], governor=governor)
    assert m.counts["violation_rate"] == {"denied": 3, "decisions": 6}
    month = GovernanceMetrics("2026-11", governor=governor)
    assert month.counts["violation_rate"] == {"denied": 4, "decisions": 8}


def test_a_period_from_year_one_counts_every_record(governor: Any) -> None:
    """The widest period the periods accept: the rollups' look an hour before its start
    failed with an OverflowError."""
    from datetime import date

    widest = (date(1, 1, 1), date(9999, 12, 30))
    fast = GovernanceMetrics(widest, governor=governor)
    assert fast.source == "rollups"
    assert fast.counts["violation_rate"] == {"denied": 4, "decisions": 8}
    assert fast.to_dict() == GovernanceMetrics(widest, governor=governor, exact=True).to_dict()


def test_rebuild_refuses_a_stored_when_that_is_not_a_time(tmp_path: Path) -> None:
    """A decision whose ``when`` is no time (appended before the store refused one, or
    edited): the rebuild names it instead of failing with a bare ``ValueError`` (or counting
    it nowhere)."""
    from sqlalchemy import create_engine, text

    from lacuna.errors import AuditError
    from lacuna.metrics import rollup

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore(url) as store:
        store._append_all([_body(i, *w) for i, w in enumerate(WHENS[:2])])
        assert rollup.rebuild(store) == 2  # the allowed path: every record a time
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE lacuna_audit SET body = replace(body, "
                          "'2026-11-03T02:40:00.000000-05:00', 'last tuesday') WHERE seq = 1"))
    engine.dispose()
    with AuditStore(url) as store, pytest.raises(AuditError, match=r"'last tuesday' is not an "
                                                 r"ISO-8601 time.*lacuna audit verify"):
        rollup.rebuild(store)
