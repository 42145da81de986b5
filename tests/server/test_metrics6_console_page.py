"""The console's metrics page says when the rollups disagree with the audit records of its
window (a record edited or deleted around Lacuna): the allowed path says nothing. A policy
id's U+202E shows as its escape in the charts (the templates' finalize escapes them too)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from tests.console.test_console_pages import app_and_tokens, sign_in  # noqa: F401

from lacuna.audit import AuditStore
from lacuna.audit.record import iso

ALERT = "disagree with the audit records of these days"


def test_metrics6_console_page_flags_rollups_that_disagree(app_and_tokens, tmp_path):  # noqa: F811
    app, tokens, _ = app_and_tokens
    now = datetime.now(UTC)
    with AuditStore(f"sqlite:///{tmp_path / 'state.db'}") as audit:
        audit._append_all([{
            "id": f"{i:032x}", "seq": 0, "who": {"user_id": "u", "role": "r", "session": "t"},
            "what": {"action": "export", "sources": ["/lake/a"], "destination": "/d",
                     "tier": "INTERNAL", "columns": {}},
            "when": iso(now - timedelta(hours=3) + timedelta(minutes=i)),
            "decision": {"allowed": i not in (1, 3),
                         "policy_id": "P-\u202eYNED" if i == 3 else "P", "policies": [],
                         "engine_error": None},
            "why": {"exception_id": None}} for i in range(4)])
    client = sign_in(app, tokens["sam"])
    page = client.get("/console/metrics")
    assert page.status_code == 200
    assert ALERT not in page.text
    # a policy id's bidirectional control is shown as its escape, not obeyed
    assert "\u202e" not in page.text
    assert "P-\\u202eYNED" in page.text
    with sqlite3.connect(tmp_path / "state.db") as conn:  # the denial made an allow by hand
        conn.execute(f"UPDATE lacuna_audit SET allowed = 1 WHERE id = '{1:032x}'")
    page = client.get("/console/metrics")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert f"The rollups (what <code>lacuna metrics</code> and <code>GET /api/v1/metrics</code> " \
           f"read) {ALERT}" in text
    assert "they count 4 decisions (2 denied), the records 4 (1 denied)" in text
