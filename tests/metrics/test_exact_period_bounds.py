"""``GovernanceMetrics(exact=True)`` reads the records of its period from the store, which
compares the stored ``when`` text: a record written with a UTC offset (``02:30-05:00`` is
07:30 UTC) sorts by its local time. The read is a day wider than the period on each side and
the period test is exact, so such a record inside the period counts and one outside does not
(a denial at 07:30 UTC spelled ``02:30-05:00`` was left out of a period starting at 07:00)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from audit_rows import denial_body
from lacuna.audit import AuditStore
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics

PERIOD = (datetime(2026, 11, 3, 7, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC))


def test_exact_metrics_count_a_record_by_its_instant_not_its_spelling(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    inside = ("2026-11-03T02:30:00.000000-05:00",  # 07:30 UTC: sorts before the start
              "2026-11-03T16:30:00.000000+05:00",  # 11:30 UTC: sorts after the end
              "2026-11-03T09:00:00.000000+00:00")
    outside = ("2026-11-03T07:30:00.000000+01:00",  # 06:30 UTC: sorts inside
               "2026-11-03T11:30:00.000000-01:00",  # 12:30 UTC: sorts inside
               "2026-11-02T09:00:00.000000+00:00", "2026-11-04T09:00:00.000000+00:00")
    with AuditStore(url) as store:
        store._append_all([denial_body(i, w)
                           for i, w in enumerate(sorted((*inside, *outside)))])
    gov = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    try:
        exact = GovernanceMetrics(PERIOD, governor=gov, exact=True)
    finally:
        gov.close()
    assert exact.source == "records"
    assert sorted(d.when for d in exact.decisions) == sorted(
        datetime.fromisoformat(w) for w in inside)
    assert exact.counts["violation_rate"] == {"denied": 3, "decisions": 3}
