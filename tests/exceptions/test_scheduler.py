"""lacuna.scheduler: schedules, start/stop, failing jobs, and Lacuna's own jobs (the exceptions
sweep and the registered datasets' stored refresh schedules) run for real."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import lacuna
from lacuna.errors import ConfigError
from lacuna.scheduler import SWEEP_JOB, Cron, Every, Scheduler, for_governor, parse_schedule

STEWARD = "steward@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"
T0 = datetime(2026, 1, 20, 14, 7, 30, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("0 3 * * *", T0, datetime(2026, 1, 21, 3, 0, tzinfo=UTC)),
        ("*/15 * * * *", T0, datetime(2026, 1, 20, 14, 15, tzinfo=UTC)),
        ("30 9 * * 1-5", datetime(2026, 1, 23, 10, 0, tzinfo=UTC),  # Fri → Mon
         datetime(2026, 1, 26, 9, 30, tzinfo=UTC)),
        ("0 0 1 * *", T0, datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),
        ("@hourly", T0, datetime(2026, 1, 20, 15, 0, tzinfo=UTC)),
        ("0 12 29 2 *", T0, datetime(2028, 2, 29, 12, 0, tzinfo=UTC)),
    ],
)
def test_cron_next_run(text, after, expected):
    assert Cron.parse(text).next_after(after) == expected


def test_schedule_strings():
    assert parse_schedule("every 15m") == Every(900)
    assert parse_schedule("every 2h") == Every(7200)
    for bad, message in [("0 3 * *", "5 fields"), ("61 * * * *", "minute"),
                         ("0 0 30 2 *", "never matches"), ("every soon", "every <n>"),
                         ("*/0 * * * *", "minute")]:
        with pytest.raises(ConfigError, match=message):
            parse_schedule(bad)


def test_run_due_with_a_clock_and_a_failing_job():
    now = [T0]
    sched = Scheduler(clock=lambda: now[0])
    ran: list[str] = []
    sched.every("tick", 60, lambda: ran.append("tick"))
    sched.cron("nightly", "0 3 * * *", lambda: ran.append("nightly"))

    def boom() -> None:
        raise RuntimeError("disk full")

    failing = sched.every("boom", 30, boom, immediately=True)
    assert sched.run_due() == ["boom"]  # only the immediate job
    assert (failing.failures, failing.last_error) == (1, "RuntimeError: disk full")
    now[0] = T0 + timedelta(seconds=61)
    assert sorted(sched.run_due()) == ["boom", "tick"]  # a failed job runs again
    now[0] = datetime(2026, 1, 21, 3, 0, 5, tzinfo=UTC)
    assert "nightly" in sched.run_due()
    assert ran == ["tick", "tick", "nightly"]


def test_start_stop_on_a_thread():
    sched = Scheduler()
    hits = threading.Semaphore(0)
    sched.every("fast", 0.05, hits.release, immediately=True)
    assert not sched.running
    with sched:
        assert sched.running
        for _ in range(3):
            assert hits.acquire(timeout=10)
        sched.start()  # idempotent
    assert not sched.running
    runs = sched.jobs()[0].runs
    time.sleep(0.2)
    assert sched.jobs()[0].runs == runs  # stopped means stopped
    assert sched.stop()  # idempotent


def test_lacunas_jobs_sweep_and_refresh_datasets(sandbox, sandbox_config):
    def as_user(user: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]},
                                     exceptions={"sweep_interval_seconds": 3600}))

    as_user("analyst_alice")
    entry = lacuna.datasets.register("nightly_customers", "customers.csv",
                                     approved_by=STEWARD, refresh="every 1s")
    lacuna.datasets.register("broken", "customers.csv", approved_by=STEWARD,
                             refresh="whenever", build=False)
    target = sandbox / "Downloads" / "board.csv"
    exc = lacuna.request_exception(data=pd.read_csv("customers.csv"), destination=str(target),
                                   purpose=PURPOSE, approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    pd.read_csv("customers.csv").to_csv(target, exception_id=exc.id, encrypt=True)
    assert target.exists()
    lacuna.revoke_exception(exc.id, comment="no longer needed")  # the requester withdraws it

    from lacuna.governor import current

    gov = current()
    sched = for_governor(gov)
    names = {j.name for j in sched.jobs()}
    assert names == {SWEEP_JOB, "refresh:nightly_customers"}  # "whenever" is logged, skipped
    assert next(j for j in sched.jobs() if j.name == SWEEP_JOB).schedule == Every(3600)
    with sched:  # the sweep runs at start, the refresh every second
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            target.exists()
            or next(j for j in sched.jobs() if j.name != SWEEP_JOB).runs < 1
        ):
            time.sleep(0.1)
    assert not target.exists()
    assert gov.exceptions.get(exc.id).history[-1].event == "file-deleted"
    refreshed = lacuna.datasets.show("nightly_customers")
    assert refreshed.built_at is not None
    assert refreshed.built_at > entry.built_at
    assert all(j.last_error is None for j in sched.jobs()), [j.last_error for j in sched.jobs()]
