"""The console's metrics page reads at most ``MAX_RECORDS`` records of its window: it said
nothing when the window held more, and showed counts lower than the trail's as if whole. It now
says so (``partial``), and a record dated after now no longer counts in its totals (it fell in
no day of its chart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit.record import iso
from lacuna.exceptions import ExceptionStore
from lacuna.server.console import metrics_view

NOW = datetime(2026, 11, 14, 12, tzinfo=UTC)


def _body(i: int, when: datetime) -> dict[str, Any]:
    return {"id": f"{i:032x}", "seq": 0,
            "who": {"user_id": "u", "role": "analyst", "session": "t"},
            "what": {"action": "export", "sources": ["/lake/a"], "destination": "/d",
                     "tier": "INTERNAL", "columns": {}},
            "when": iso(when),
            "decision": {"allowed": i % 2 == 0, "policy_id": "P", "policies": [],
                         "engine_error": None},
            "why": {"exception_id": None}}


def test_console_metrics_say_when_they_counted_part_of_the_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore(url) as audit:
        audit._append_all([_body(i, NOW - timedelta(hours=i + 1)) for i in range(6)]
                          + [_body(6, NOW + timedelta(days=3))])  # a clock ahead of ours
        exceptions = ExceptionStore(url)
        try:
            whole = metrics_view.compute(audit, exceptions, now=NOW)
            assert (whole.decisions, whole.denied, whole.partial) == (6, 3, False)
            assert sum(whole.violations_per_day) == whole.denied
            monkeypatch.setattr(metrics_view, "MAX_RECORDS", 4)
            part = metrics_view.compute(audit, exceptions, now=NOW)
        finally:
            exceptions.close()
    assert (part.decisions, part.read, part.partial) == (4, 4, True)
