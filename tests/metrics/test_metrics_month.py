"""A month of real governed pandas activity by several users; every metric checked against
values computed here independently (from the scenario and from the raw SQLite rows)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import time_machine

import lacuna
from lacuna.governor import current
from lacuna.metrics import Flag, GovernanceMetrics, answer_survey, report_feedback

MONTH = datetime(2026, 11, 1, tzinfo=UTC)
USERS = {"alice": "data_analyst", "bob": "data_analyst", "carol": "data_scientist"}
SCORES = {"alice": 4, "bob": 2, "carol": 5}


@dataclass
class Scenario:
    """What the test did, so expectations do not come from the code under test."""

    denials: list[tuple[str, datetime, str]] = field(default_factory=list)  # user, when, op id
    resolution_minutes: list[float] = field(default_factory=list)
    workarounds: int = 0
    false_positive_ops: list[str] = field(default_factory=list)
    exception_requests: int = 0


def _at(when: datetime) -> time_machine.travel:
    return time_machine.travel(when, tick=False)


def _switch(sandbox_config, user: str) -> None:
    lacuna.enable(sandbox_config(user={"id": user, "role": USERS[user]},
                                 stewards={"default": ["steward@example.com"]}))


def _deny(s: Scenario, user: str, when: datetime, frame: pd.DataFrame, target) -> str:
    with _at(when), pytest.raises(lacuna.GovernanceViolation) as denied:
        frame.to_csv(target)
    op = denied.value.decision.operation_id
    s.denials.append((user, when, op))
    return op


def _activity(sandbox, sandbox_config) -> Scenario:
    s = Scenario()
    down, work = sandbox / "Downloads", sandbox / "governed" / "workspace"
    for u, user in enumerate(USERS):
        _switch(sandbox_config, user)
        for day in range(u, 28, 3):  # every third day, staggered per user
            t0 = MONTH + timedelta(days=day, hours=9)
            with _at(t0):
                customers = pd.read_csv("customers.csv")
            with _at(t0 + timedelta(minutes=5)):
                customers.to_csv(work / f"{user}-{day}.csv")  # compliant work
            if day % 2 == 0:  # denied, then the compliant path k minutes later: a resolution
                denied_at = t0 + timedelta(hours=2)
                op = _deny(s, user, denied_at, customers, down / f"{user}-{day}.csv")
                k = 2 + (day % 7)
                with _at(denied_at + timedelta(minutes=k)):
                    customers.to_csv(work / f"{user}-{day}-fixed.csv")
                s.resolution_minutes.append(float(k))
                if day % 4 == 0:
                    s.false_positive_ops.append(op)
            elif day % 5 == 0:  # denied, then a retry with a slightly changed destination
                denied_at = t0 + timedelta(hours=3)
                _deny(s, user, denied_at, customers, down / f"{user}-{day}.csv")
                _deny(s, user, denied_at + timedelta(minutes=1), customers,
                      down / f"{user}-{day}-v2.csv")
                s.workarounds += 1
        if user == "bob":  # one exception request after a denial
            when = MONTH + timedelta(days=20, hours=16)
            _deny(s, user, when, customers, down / "board.csv")
            with _at(when + timedelta(minutes=3)):
                lacuna.request_exception(
                    data=customers, destination=str(down / "board.csv"),
                    purpose="Board presentation", business_justification="Board asked.",
                    approver="steward@example.com", duration_hours=2)
            s.exception_requests += 1
        with _at(MONTH + timedelta(days=27, hours=18)):
            for op in [o for who, _, o in s.denials if who == user and o in
                       s.false_positive_ops]:
                report_feedback(op, false_positive=True, comment="customer ids only")
            answer_survey(SCORES[user])
    # one "this was right" on a denial that nobody called a false positive
    right = next(o for _, _, o in s.denials if o not in s.false_positive_ops)
    with _at(MONTH + timedelta(days=28)):
        report_feedback(right, false_positive=False, comment="fair")
    return s


def _raw_decisions(db) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT allowed, json_extract(body, '$.operation_id') FROM lacuna_audit "
            "WHERE json_extract(body, '$.kind') IS NULL AND timestamp >= ? AND timestamp < ?",
            (MONTH.isoformat(), datetime(2026, 12, 1, tzinfo=UTC).isoformat())).fetchall()



def test_a_month_of_activity(sandbox, sandbox_config):
    s = _activity(sandbox, sandbox_config)
    m = GovernanceMetrics("2026-11", now=datetime(2026, 12, 1, tzinfo=UTC))

    rows = _raw_decisions(sandbox / "audit.db")
    denied = [r for r in rows if not r[0]]
    assert len(denied) == len(s.denials)  # every caught violation is on the trail
    assert m.violation_rate == round(100 * len(s.denials) / len(rows), 2)
    assert m.false_positive_rate == round(100 * len(s.false_positive_ops) / len(s.denials), 2)
    assert m.avg_resolution_time_minutes == round(
        sum(s.resolution_minutes) / len(s.resolution_minutes), 2)
    assert m.exception_rate == round(100 * s.exception_requests / len(rows), 2)
    assert m.user_satisfaction == round(sum(SCORES.values()) / len(SCORES), 2)
    assert m.workaround_attempts == s.workarounds
    assert m.data_coverage_percent == 100.0  # every dataset went through the Rego policies
    assert m.audit_completeness == 100.0
    assert m.counts["audit_completeness"]["intercepted"] == len({r[1] for r in rows})

    flags = m.flags
    assert flags["violation_rate"] is Flag.MISSED  # far above 2%
    assert flags["user_satisfaction"] is Flag.MISSED  # 3.67 is not > 4.0
    assert flags["avg_resolution_time_minutes"] is Flag.OK
    assert flags["workaround_attempts"] is Flag.TREND

    # The rollups kept at each append give exactly what reading every record gives.
    assert m.source == "rollups"
    exact = GovernanceMetrics("2026-11", now=datetime(2026, 12, 1, tzinfo=UTC), exact=True)
    assert exact.source == "records"
    assert exact.to_dict() == m.to_dict()
    for role in USERS.values():
        by_role = GovernanceMetrics("2026-11", user_group=role)
        assert by_role.source == "rollups"
        assert by_role.to_dict() == GovernanceMetrics("2026-11", user_group=role,
                                                      exact=True).to_dict()
    # Rebuilding the rollups from the records (lacuna metrics rebuild) gives the same tables.
    from lacuna.metrics import rollup

    def tables():
        with sqlite3.connect(sandbox / "audit.db") as conn:
            return [sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in
                    ("lacuna_metrics_hourly", "lacuna_metrics_assets", "lacuna_metrics_rollup")]

    kept = tables()
    assert kept[0]
    assert rollup.rebuild(current().audit) == len(rows)
    assert tables() == kept
    # A period that starts and ends inside hours: the partial hours are read from records.
    odd = (datetime(2026, 11, 4, 9, 7, tzinfo=UTC), datetime(2026, 11, 19, 11, 2, tzinfo=UTC))
    assert GovernanceMetrics(odd).to_dict() == GovernanceMetrics(odd, exact=True).to_dict()

    printed = str(m).splitlines()
    assert printed[0] == f"Policy violation rate: {m.violation_rate}%"
    assert printed[2] == f"Average resolution time: {m.avg_resolution_time_minutes} min"
    assert printed[4] == f"User satisfaction: {m.user_satisfaction}/5"
    assert len(printed) == 9
    json.dumps(m.to_dict())

    # filters: carol's group only; a tier nobody touched; the policy that denied
    carol = GovernanceMetrics("2026-11", user_group="data_scientist")
    carol_denials = [d for d in s.denials if d[0] == "carol"]
    assert carol.counts["violation_rate"]["denied"] == len(carol_denials)
    assert GovernanceMetrics("2026-11", tier="PUBLIC").counts["violation_rate"]["decisions"] == 0
    p = GovernanceMetrics("2026-11", policy="P-2024-001")
    assert p.counts["violation_rate"]["denied"] == len(s.denials)

    # another period sees none of it, and says so rather than "None/5"
    empty = GovernanceMetrics("2026-10")
    assert empty.counts["violation_rate"]["decisions"] == 0
    assert empty.user_satisfaction is None
    assert "User satisfaction: n/a (no survey answers in the period)" in str(empty).splitlines()
    assert "None" not in str(empty)
    assert GovernanceMetrics("2026-Q4").counts["violation_rate"] == m.counts["violation_rate"]
    assert current() is not None

