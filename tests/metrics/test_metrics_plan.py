"""The metrics read rollups and indexes, never the whole audit table: every statement that
``GovernanceMetrics`` sends to SQLite is captured and its ``EXPLAIN QUERY PLAN`` checked (no
``SCAN`` of ``lacuna_audit``, the table that grows to millions of records, and none of the hourly
or pair rollups either: they are read by their hour key), with and without filters."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from lacuna.audit import AuditStore
from lacuna.audit.record import iso
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics

START = datetime(2026, 11, 2, tzinfo=UTC)
NOW = START + timedelta(days=3, hours=5, minutes=17)
ROLES = ("data_analyst", "data_scientist")


def _decision(i: int, when: datetime, *, allowed: bool, dest: str | None) -> dict[str, Any]:
    user = f"user{i % 4}"
    return {"who": {"user_id": user, "role": ROLES[i % 2], "session": "t"},
            "what": {"action": "read" if allowed else "export", "sources": [f"/lake/d{i % 5}"],
                     "destination": dest, "tier": "INTERNAL", "columns": {}},
            "when": iso(when),
            "decision": {"allowed": allowed, "policy_id": "P-1" if not allowed else None,
                         "policies": [{"package": "lacuna.export", "id": "P-1"}],
                         "engine_error": None},
            "why": {"exception_id": None}}


def _trail(path: Path) -> str:
    """Three days of decisions through the real append path (so the rollups are kept)."""
    url = f"sqlite:///{path}"
    with AuditStore(url) as store:
        for i in range(150):
            when = START + timedelta(minutes=29 * i)
            denied = i % 7 == 0
            store.record_event(_decision(i, when, allowed=not denied,
                                         dest=f"/home/u/Downloads/{i}.csv" if denied else None))
        store.record_event({"kind": "survey", "who": {"user_id": "user1", "role": ROLES[1]},
                            "what": {"action": "survey"}, "when": iso(NOW - timedelta(hours=2)),
                            "decision": {"allowed": True, "policy_id": None},
                            "survey": {"score": 4}})
    return url


PERIODS: list[tuple[Any, dict[str, str]]] = [
    ("last_30_days", {}),
    ("2026-Q4", {}),
    ((START + timedelta(hours=7, minutes=13), START + timedelta(days=2, hours=3, minutes=41)),
     {}),
    ("2026-Q4", {"user_group": "data_analyst"}),
    ("2026-Q4", {"policy": "P-1"}),
    ((START + timedelta(hours=7, minutes=13), START + timedelta(days=2, hours=3, minutes=41)),
     {"domain": "export", "tier": "internal", "user_group": "data_scientist"}),
]


@pytest.mark.parametrize(("period", "filters"), PERIODS)
def test_metric_queries_use_rollups_and_indexes(tmp_path: Path, period: Any,
                                                filters: dict[str, str]) -> None:
    url = _trail(tmp_path / "audit.db")
    gov = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(gov.audit.engine, "before_cursor_execute", capture)
    try:
        m = GovernanceMetrics(period, governor=gov, now=NOW, **filters)
    finally:
        event.remove(gov.audit.engine, "before_cursor_execute", capture)
        gov.close()
    assert m.source == "rollups"
    assert m.counts["violation_rate"]["decisions"] > 0

    plans: dict[str, list[str]] = {}
    db = sqlite3.connect(tmp_path / "audit.db")
    try:
        for statement, parameters in sent:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            plans[statement] = [str(r[-1]) for r in rows]
        control = db.execute("EXPLAIN QUERY PLAN SELECT seq FROM lacuna_audit WHERE body LIKE ?",
                             ("%x%",)).fetchall()
        assert [str(r[-1]) for r in control] == ["SCAN lacuna_audit"]  # what a scan looks like
    finally:
        db.close()
    reads = [s for s in plans if "lacuna_audit " in s or "lacuna_audit\n" in s
             or s.rstrip().endswith("lacuna_audit")]
    assert reads, "the metrics read no audit records at all: the capture is broken"
    assert any("lacuna_metrics_hourly" in s for s in plans)
    assert any("lacuna_metrics_pairs" in s for s in plans)
    for statement, steps in plans.items():
        full = [s for s in steps
                if s.startswith(("SCAN lacuna_audit", "SCAN lacuna_metrics_hourly",
                                 "SCAN lacuna_metrics_pairs"))]
        assert not full, f"full scan {full} in:\n{statement}\nplan: {steps}"
