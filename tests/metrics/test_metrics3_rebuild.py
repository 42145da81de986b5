"""``lacuna metrics rebuild`` follows the audit trail as it is, and says when the rollups had
diverged from it. The rollups are kept in each append's transaction, so records removed around
Lacuna stayed counted: ``lacuna metrics`` said 100 decisions where the trail held 97, and a
rebuild quietly set that right. It now says so (exit 1) after rebuilding; the CLI's numbers are
those of the records as they stand."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lacuna.audit import AuditStore
from lacuna.audit.record import iso
from lacuna.cli import app

START = datetime(2026, 11, 3, 6, tzinfo=UTC)


def _body(i: int) -> dict[str, Any]:
    return {"id": f"{i:032x}", "seq": 0,
            "who": {"user_id": "u", "role": "analyst", "session": "t"},
            "what": {"action": "export", "sources": ["/lake/a"], "destination": "/d",
                     "tier": None, "columns": {}},
            "when": iso(START + timedelta(minutes=7 * i)),
            "decision": {"allowed": i % 3 != 0, "policy_id": "P", "policies": [],
                         "engine_error": None},
            "why": {"exception_id": None}}


def _raw_counts(db: Path) -> dict[str, int]:
    """The decisions of November and the denied ones, counted from the stored rows."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT allowed, body FROM lacuna_audit").fetchall()
    nov = [allowed for allowed, body in rows
           if json.loads(body)["when"].startswith("2026-11")]
    return {"denied": sum(1 for a in nov if not a), "decisions": len(nov)}


def _violations(runner: CliRunner, config: Path) -> dict[str, int]:
    out = runner.invoke(app, ["metrics", "--json", "--period", "2026-11",
                              "--config", str(config)])
    assert out.exit_code == 0, out.output
    counts: dict[str, int] = json.loads(out.output)["metrics"]["violation_rate"]["counts"]
    return counts


def test_rebuild_says_the_rollups_diverged_from_the_trail(sandbox: Path) -> None:
    db = sandbox / "audit.db"
    config = sandbox / "lacuna.yaml"
    config.write_text(f"user:\n  id: t\n  role: x\naudit:\n  url: sqlite:///{db}\n")
    with AuditStore(f"sqlite:///{db}") as store:
        store._append_all([_body(i) for i in range(60)])
    runner = CliRunner()
    assert _violations(runner, config) == _raw_counts(db) == {"denied": 20, "decisions": 60}
    untouched = runner.invoke(app, ["metrics", "rebuild", "--config", str(config)])
    assert untouched.exit_code == 0, untouched.output
    assert "diverged" not in untouched.output

    with closing(sqlite3.connect(db)) as conn, conn:  # around Lacuna: two denials, one allowed
        conn.execute("DELETE FROM lacuna_audit WHERE seq IN (1, 2, 4)")
    assert _raw_counts(db) == {"denied": 18, "decisions": 57}
    assert _violations(runner, config) == {"denied": 20, "decisions": 60}  # the rollups' word

    out = runner.invoke(app, ["metrics", "rebuild", "--config", str(config)])
    assert out.exit_code == 1, out.output
    assert "rolled up 57 decisions" in out.output
    assert "the rollups had diverged from the audit trail: they counted 60 decisions (20 " \
        "denied" in " ".join(out.output.split())
    assert "lacuna audit verify" in out.output
    assert _violations(runner, config) == _raw_counts(db)  # follows the trail as it is
    again = runner.invoke(app, ["metrics", "rebuild", "--config", str(config)])
    assert again.exit_code == 0, again.output
