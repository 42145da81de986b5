"""The rollups count a record in the order it was appended and follow appends, not edits: a
decision appended after a later-dated one of its user is counted but not paired, and a record
edited or deleted around Lacuna stays counted as it was. Nothing said so. The console's
metrics page, which reads the window's records anyway, now compares the rollups' counts of its
whole hours with those records' (a cheap sum of a few hundred rollup rows) and flags a window
whose rollups disagree, or whose records were appended out of time order."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lacuna.audit import AuditStore
from lacuna.audit.record import iso
from lacuna.exceptions import ExceptionStore
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics
from lacuna.server.console import metrics_view

NOW = datetime(2026, 11, 14, 12, 40, tzinfo=UTC)


def _body(i: int, when: datetime, user: str = "u") -> dict[str, Any]:
    return {"id": f"{i:032x}", "seq": 0,
            "who": {"user_id": user, "role": "analyst", "session": "t"},
            "what": {"action": "export", "sources": ["/lake/a"], "destination": "/d",
                     "tier": "INTERNAL", "columns": {}},
            "when": iso(when),
            "decision": {"allowed": i % 2 == 0, "policy_id": "P", "policies": [],
                         "engine_error": None},
            "why": {"exception_id": None}}


def _page(path: Path) -> metrics_view.Metrics:
    url = f"sqlite:///{path}"
    with AuditStore(url) as audit:
        exceptions = ExceptionStore(url)
        try:
            return metrics_view.compute(audit, exceptions, now=NOW)
        finally:
            exceptions.close()


def _trail(path: Path, *, late: int | None = None) -> None:
    """Decisions of two users over the window's hours (u0's at even hours before now, all on
    /lake/a); with ``late``, record #late of u0 appended last, dated 5 minutes before u0's
    decision of 6 hours ago (another writer's slow clock, a replayed record): an odd #late
    is a denial, an even one allowed."""
    with AuditStore(f"sqlite:///{path}") as audit:
        audit._append_all([_body(i, NOW - timedelta(hours=30 - i), user=f"u{i % 2}")
                           for i in range(30)])
        if late is not None:
            audit._append_all([_body(late, NOW - timedelta(hours=6, minutes=5), user="u0")])


def _sql(path: Path, statement: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(statement)


def test_metrics6_console_rollups_agree_with_the_records(tmp_path: Path) -> None:
    _trail(tmp_path / "audit.db")
    m = _page(tmp_path / "audit.db")
    assert m.rollups is not None
    assert m.rollups.records == m.rollups.rollups == (30, 15)  # the hour now is in: not summed
    assert (m.rollups.unordered, m.rollups_disagree) == (0, False)


def test_metrics6_console_flags_an_edited_or_deleted_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _trail(path)
    _sql(path, "UPDATE lacuna_audit SET allowed = 1 WHERE seq = (SELECT MIN(seq) FROM "
               "lacuna_audit WHERE allowed = 0 AND body NOT LIKE '%\"kind\"%')")
    m = _page(path)
    assert m.rollups is not None
    assert (m.rollups.rollups, m.rollups.records, m.rollups_disagree) == (
        (30, 15), (30, 14), True)
    _sql(path, "DELETE FROM lacuna_audit WHERE seq = (SELECT MAX(seq) FROM lacuna_audit)")
    m = _page(path)  # the last decision (#29, odd: a denial) removed as well
    assert m.rollups is not None
    assert (m.rollups.rollups, m.rollups.records, m.rollups_disagree) == (
        (30, 15), (29, 13), True)


def test_metrics6_console_flags_a_denial_appended_after_what_it_pairs_with(
        tmp_path: Path) -> None:
    """The exact path pairs the late denial with u0's allowed export to the same place 5
    minutes after it (a workaround); the rollups, taking records in append order, cannot:
    flagged, and the two paths' numbers differ indeed."""
    _trail(tmp_path / "audit.db", late=41)
    m = _page(tmp_path / "audit.db")
    assert m.rollups is not None
    assert m.rollups.records == m.rollups.rollups == (31, 16)  # counted alike
    assert (m.rollups.unordered, m.rollups_disagree) == (1, True)  # but not paired alike
    gov = Governor(build_config(None, audit={"url": f"sqlite:///{tmp_path / 'audit.db'}"},
                                user={"id": "t", "role": "x"}))
    try:
        period = (NOW - timedelta(hours=11), NOW - timedelta(hours=1))
        fast = GovernanceMetrics(period, governor=gov)
        held = GovernanceMetrics(period, governor=gov, exact=True)
    finally:
        gov.close()
    assert fast.source == "rollups"
    # the allowed export to the same place 5 minutes after the denial: a workaround
    assert (fast.workaround_attempts, held.workaround_attempts) == (0, 1)


def test_metrics6_console_does_not_flag_a_late_record_that_pairs_with_nothing(
        tmp_path: Path) -> None:
    """An allowed decision appended late resolves nothing before it here (u0's earlier
    records are all allowed): no pair differs, nothing flagged."""
    _trail(tmp_path / "audit.db", late=40)
    m = _page(tmp_path / "audit.db")
    assert m.rollups is not None
    assert m.rollups.records == m.rollups.rollups == (31, 15)
    assert (m.rollups.unordered, m.rollups_disagree) == (0, False)
