"""Files written under an exception are due when its window ends, through the same plan/apply;
a legal hold keeps them."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import time_machine

import lacuna
from lacuna.governor import current
from lacuna.model import utcnow
from lacuna.retention import apply, build_plan, place_hold
from lacuna.retention.api import RetentionError

STEWARD = "jane.smith@example.com"


def _switch(sandbox_config, user_id: str) -> None:
    lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                 stewards={"default": [STEWARD]}))


def _export_under_exception(sandbox_config, frame, target):
    exc = lacuna.request_exception(
        operation={"action": "export", "source": "customers.csv", "destination": str(target)},
        purpose="Board presentation", business_justification="Board asked for examples.",
        approver=STEWARD, duration_hours=2)
    _switch(sandbox_config, STEWARD)
    lacuna.approve_exception(exc.id)
    _switch(sandbox_config, "analyst_alice")
    frame.to_csv(target, exception_id=exc.id, index=False)
    return exc


def test_exception_files_past_their_window_are_deleted_unless_held(governed, sandbox_config):
    _switch(sandbox_config, "analyst_alice")
    frame = pd.read_csv("customers.csv")
    first = governed / "Downloads" / "board.csv"
    second = governed / "Downloads" / "held" / "board.csv"
    second.parent.mkdir()
    exc = _export_under_exception(sandbox_config, frame, first)
    _export_under_exception(sandbox_config, frame, second)
    gov = current()
    place_hold(gov, str(second.parent), reason="subpoena")

    assert not [e for e in build_plan(gov).entries if e.item.kind == "exception-file"]
    later = utcnow() + timedelta(hours=3)
    plan = build_plan(gov, now=later)
    by = {e.item.path: e for e in plan.entries if e.item.kind == "exception-file"}
    assert by[str(first)].action == "delete"
    assert by[str(first)].policy_id == f"exception.{exc.id}"
    assert by[str(second)].action == "hold"

    with pytest.raises(RetentionError, match="later than now"):
        apply(gov, plan)  # a plan for the future would delete before its time
    assert first.exists()
    with time_machine.travel(later, tick=False):
        report = apply(gov, build_plan(gov))
    assert report.done["deleted"] == (str(first),)
    assert not first.exists()
    assert second.exists()
    assert [f.deleted_at is not None for f in gov.exceptions.files(exc.id)] == [True]
    assert "file-deleted" in [h.event for h in gov.exceptions.get(exc.id).history]
    events = [(r.data["what"]["event"], r.data["what"]["dataset"])
              for r in gov.audit.list(limit=None, action="retention")]
    assert ("deleted", str(first)) in events
    assert ("held", str(second)) in events
    assert gov.audit.verify().ok


def _held_export(governed, sandbox_config):
    """A file exported under an exception into a folder under a legal hold."""
    _switch(sandbox_config, "analyst_alice")
    frame = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "held" / "board.csv"
    target.parent.mkdir(parents=True)
    _export_under_exception(sandbox_config, frame, target)
    gov = current()
    return target, gov, place_hold(gov, str(target.parent), reason="subpoena")


def test_the_exceptions_sweep_honours_legal_holds(governed, sandbox_config):
    """``lacuna exceptions sweep`` (and the scheduler running it) deletes files of ended
    exceptions too: a file under a legal hold is not deleted, and is once the hold goes."""
    from lacuna.exceptions.sweep import sweep
    from lacuna.retention import release_hold

    target, gov, hold = _held_export(governed, sandbox_config)
    with time_machine.travel(utcnow() + timedelta(hours=3), tick=False):
        report = sweep(gov)
    assert target.exists()
    assert report.deleted == ()
    assert report.held[0].startswith(f"{target}: under legal hold {hold.id}")
    events = [r.data["what"].get("event") for r in gov.audit.list(limit=None)]
    assert "file-held" in events
    release_hold(gov, hold.id)
    with time_machine.travel(utcnow() + timedelta(hours=4), tick=False):
        report = sweep(gov)
    assert report.deleted == (str(target),)
    assert not target.exists()


def test_the_exceptions_sweep_obeys_a_hold_released_off_the_record(governed, sandbox_config):
    """The hold's row deleted by hand (no release on the audit trail): the sweep read only the
    table and deleted the held file. It obeys the trail's holds, as retention apply does."""
    import sqlite3

    from lacuna.exceptions.sweep import sweep

    target, gov, hold = _held_export(governed, sandbox_config)
    with sqlite3.connect(governed / "audit.db") as conn:
        conn.execute("DELETE FROM lacuna_retention_holds")
    with time_machine.travel(utcnow() + timedelta(hours=3), tick=False):
        report = sweep(gov)
    assert target.exists()
    assert report.deleted == ()
    assert report.held[0].startswith(f"{target}: under legal hold {hold.id}")
