"""``retention.schedule``: ``lacuna serve``'s scheduler applies retention as ``lacuna retention
apply`` does (lacuna.retention.scheduled, the ``retention:apply`` job of lacuna.scheduler); real
files written through Lacuna in the past, the real audit trail, the scheduler driven by a clock."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from lacuna.audit import AuditStore
from lacuna.config import load_config
from lacuna.errors import ConfigError
from lacuna.governor import Governor
from lacuna.lineage.sidecar import sidecar_path
from lacuna.retention.api import lock_path
from lacuna.retention.scheduled import apply_on_schedule
from lacuna.scheduler import RETENTION_JOB, SWEEP_JOB, Cron, Every, Scheduler, for_governor

from .conftest import write_at, years_ago


def _with_retention(project: Path, **retention: Any) -> Governor:
    path = project / "lacuna.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["retention"] = retention
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return Governor(load_config(path))


def _events(project: Path) -> dict[str, list[str]]:
    """Each path's retention events on the trail, oldest first; and the trail verifies."""
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        rows = list(reversed(store.list(limit=None, action="retention")))
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r.data["what"]["dataset"], []).append(r.data["what"]["event"])
    return out


def _job(sched: Scheduler, name: str) -> Any:
    return next(j for j in sched.jobs() if j.name == name)


def test_the_retention_job_is_there_only_when_scheduled(project: Path) -> None:
    unscheduled = for_governor(_with_retention(project, tiers={"INTERNAL": {"max": "3y"}}))
    assert {j.name for j in unscheduled.jobs()} == {SWEEP_JOB}
    nightly = for_governor(_with_retention(project, schedule="0 3 * * *"))
    assert {j.name for j in nightly.jobs()} == {SWEEP_JOB, RETENTION_JOB}
    job = _job(nightly, RETENTION_JOB)
    assert job.schedule == Cron.parse("0 3 * * *")
    assert (job.next_run.hour, job.next_run.minute, job.runs) == (3, 0, 0)
    every = for_governor(_with_retention(project, schedule="every 6h"))
    assert _job(every, RETENTION_JOB).schedule == Every(6 * 3600)


def test_the_scheduled_run_deletes_what_is_due_keeps_the_rest_and_audits_both(
        project: Path) -> None:
    due = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")  # INTERNAL, max 3y
    young = write_at(project, years_ago(1), "sales.csv", "new_sales.csv")
    kept_bytes = young.read_bytes()
    gov = _with_retention(project, schedule="0 3 * * *")
    now = [datetime.now(UTC)]
    sched = for_governor(gov, Scheduler(clock=lambda: now[0]))
    job = _job(sched, RETENTION_JOB)
    assert RETENTION_JOB not in sched.run_due()  # not due before 03:00
    assert due.exists()
    now[0] = job.next_run + timedelta(seconds=1)
    assert RETENTION_JOB in sched.run_due()
    assert (job.runs, job.failures, job.last_error) == (1, 0, None)
    assert not due.exists()
    assert young.read_bytes() == kept_bytes
    assert sidecar_path(young).exists()
    assert not sidecar_path(due).exists()
    events = _events(project)
    assert events[str(due)] == ["deleted"]
    assert events[str(young)] == ["kept"]
    with AuditStore(gov.config.audit_url) as store:
        assert store.verify().ok
        deleted = next(r for r in store.list(limit=None, action="retention")
                       if r.data["what"]["dataset"] == str(due))
    assert deleted.allowed
    assert deleted.policy_id == "retention.tiers.INTERNAL"
    assert job.next_run > now[0]  # the next night


def test_a_scheduled_run_on_a_trail_that_does_not_verify_fails_as_apply_exits_1(
        project: Path) -> None:
    """As ``apply`` then: what is due by its own sidecar is deleted, what would be kept is to
    review (recorded, kept); the job fails with the counts, so the scheduler logs and counts
    it: nothing is kept or deleted silently."""
    due = write_at(project, years_ago(4), "sales.csv", "due.csv")
    kept = write_at(project, years_ago(1), "sales.csv", "kept.csv")
    with sqlite3.connect(project / "audit.db") as conn:
        gone = conn.execute("DELETE FROM lacuna_audit WHERE action = 'export' AND body LIKE ?",
                            (f'%"destination":"{kept}"%',)).rowcount
    assert gone >= 1
    gov = _with_retention(project, schedule="every 1h")
    now = [datetime.now(UTC)]
    sched = for_governor(gov, Scheduler(clock=lambda: now[0]))
    job = _job(sched, RETENTION_JOB)
    now[0] = job.next_run
    assert RETENTION_JOB in sched.run_due()
    assert (job.runs, job.failures) == (1, 1)
    assert job.last_error is not None
    assert job.last_error.startswith("RetentionError: scheduled retention applied at ")
    assert "0 failed, 0 error(s), 1 to review (kept)" in job.last_error
    assert not due.exists()
    assert kept.exists()
    events = _events(project)
    assert events[str(due)] == ["deleted"]
    assert events[str(kept)] == ["review"]


def test_a_run_is_skipped_while_another_process_applies(project: Path) -> None:
    due = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    gov = _with_retention(project, schedule="@daily")
    lock = lock_path()
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # its own file description: as another worker's
        assert apply_on_schedule(gov) is None
        assert due.exists()
        assert str(due) not in _events(project)
    finally:
        os.close(fd)
    report = apply_on_schedule(gov)
    assert report is not None
    assert report.done["deleted"] == (str(due),)
    assert not due.exists()


def test_a_run_goes_on_when_no_lock_file_can_be_made(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``apply`` does then: a lock file that cannot be made does not skip every scheduled
    run as if another process were applying."""
    due = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    gov = _with_retention(project, schedule="@daily")
    blocker = project / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setattr("lacuna.retention.api.lock_path",
                        lambda: blocker / "retention-apply.lock")
    report = apply_on_schedule(gov)
    assert report is not None
    assert report.done["deleted"] == (str(due),)
    assert not due.exists()


def test_apply_waits_for_another_process_apply_then_plans_afresh(project: Path) -> None:
    """``lacuna retention apply`` from cron beside a server's scheduled run: the second apply
    waits for the first's turn (a real process holds the lock), then plans what is left."""
    import subprocess
    import sys
    import threading

    from lacuna.retention import apply

    due = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    gov = _with_retention(project)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
         "os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); "
         "sys.stdin.read()", str(lock_path())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        reports: list[Any] = []
        worker = threading.Thread(target=lambda: reports.append(apply(gov)))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), "apply ran while another process held the turn"
        assert due.exists()
        assert holder.stdin is not None
        holder.stdin.close()  # the other apply is done: its turn is released
        worker.join(30)
    finally:
        holder.kill()
        holder.wait()
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
    assert not worker.is_alive()
    assert reports[0].done["deleted"] == (str(due),)
    assert _events(project)[str(due)] == ["deleted"]


@pytest.mark.parametrize(("schedule", "said"), [
    ("0 25 * * *", "'25' is not a valid hour"),
    ("nightly", "a cron expression has 5 fields"),
    ("every 6x", "write 'every <n><s|m|h|d>'"),
])
def test_a_bad_schedule_is_a_config_error_naming_the_key_and_line(
        project: Path, schedule: str, said: str) -> None:
    path = project / "lacuna.yaml"
    path.write_text(path.read_text(encoding="utf-8")
                    + f"retention:\n  schedule: {schedule!r}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    line = len(path.read_text(encoding="utf-8").splitlines())
    assert f"{path}:{line}: retention.schedule: schedule {schedule!r}" in message
    assert said in message
    assert "Or remove the key to apply retention only from the CLI." in message


def test_lacuna_serve_runs_the_retention_job(project: Path) -> None:
    """The server's lifespan starts the scheduler with the job: a due file is deleted while it
    serves, and the deletion is on the trail."""
    import time

    from fastapi.testclient import TestClient

    from lacuna.server.app import create_app
    from lacuna.server.outer import serving
    from lacuna.server.settings import load_settings

    due = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    config = _with_retention(project, schedule="every 1s").config
    app = create_app(load_settings(environ={}, db=config.audit_url,
                                   config=str(project / "lacuna.yaml"), scheduler=True),
                     config=config)
    with TestClient(serving(app)) as client:
        assert client.get("/health").status_code == 200
        deadline = time.monotonic() + 20
        while due.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not due.exists()
    assert _events(project)[str(due)] == ["deleted"]
