"""A legal hold released or removed by hand in ``lacuna_retention_holds`` (a plain table in a
file its user can write) is still obeyed: placing and releasing are records on the signed,
hash-chained audit trail, and retention obeys every hold the trail placed and never released.
"""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest

from .conftest import run, write_at, years_ago


@pytest.mark.parametrize("edit", [
    "UPDATE lacuna_retention_holds SET released_by = 'nobody', "
    "released_at = '2026-01-01 00:00:00.000000'",
    "DELETE FROM lacuna_retention_holds",
])
def test_a_hold_released_by_hand_still_holds(project, edit, caplog):
    held = write_at(project, years_ago(4), "sales.csv", "held.csv")
    assert run(project, "retention", "hold", str(held), "--reason", "litigation").returncode == 0
    with sqlite3.connect(project / "audit.db") as conn:
        conn.execute(edit)
    with caplog.at_level(logging.WARNING, logger="lacuna.retention"):
        plan = run(project, "retention", "plan", "--json")
        entries = {e["path"]: e for e in json.loads(plan.stdout)["entries"]}
        assert entries[str(held)]["action"] == "hold"
        done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout).get("deleted") is None
    assert held.exists()
    assert "not in the holds table (released or removed by hand)" in caplog.text
    # released on the record, it is released
    assert run(project, "retention", "release", str(held)).returncode == 0
    done = run(project, "retention", "apply", "--json")
    assert json.loads(done.stdout)["deleted"] == [str(held)]


def test_a_hold_released_on_the_record_is_released(project):
    held = write_at(project, years_ago(4), "sales.csv", "held.csv")
    assert run(project, "retention", "hold", str(held), "--reason", "audit").returncode == 0
    assert run(project, "retention", "release", str(held)).returncode == 0
    with sqlite3.connect(project / "audit.db") as conn:  # and its row removed afterwards
        conn.execute("DELETE FROM lacuna_retention_holds")
    done = run(project, "retention", "apply", "--json")
    assert json.loads(done.stdout)["deleted"] == [str(held)]


def test_a_forged_release_on_the_trail_does_not_release(project):
    """A release record written by hand into the trail (no valid signature) is not believed."""
    held = write_at(project, years_ago(4), "sales.csv", "held.csv")
    assert run(project, "retention", "hold", str(held), "--reason", "audit").returncode == 0
    with sqlite3.connect(project / "audit.db") as conn:
        (body,) = conn.execute(
            "SELECT body FROM lacuna_audit WHERE body LIKE '%hold-placed%'").fetchone()
        top = conn.execute("SELECT max(seq) FROM lacuna_audit").fetchone()[0]
        conn.execute(
            "INSERT INTO lacuna_audit (seq, id, timestamp, user_id, action, allowed, body, "
            "prev_hash, hash, signature) SELECT ?, 'forged', timestamp, user_id, action, "
            "allowed, ?, hash, 'x', NULL FROM lacuna_audit WHERE seq = ?",
            (top + 1, body.replace("hold-placed", "hold-released"), top))
        conn.execute("DELETE FROM lacuna_retention_holds")
    plan = run(project, "retention", "plan", "--json")
    entries = {e["path"]: e for e in json.loads(plan.stdout)["entries"]}
    assert entries[str(held)]["action"] == "hold"
    run(project, "retention", "apply", "--json")  # (the trail's head no longer matches)
    assert held.exists()
