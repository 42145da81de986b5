"""A small in-process scheduler for Lacuna's periodic work: the exceptions sweep, the stored
refresh schedules of registered datasets and, when ``retention.schedule`` is set, retention.
The server starts one (``start()``) and stops it on shutdown (``stop()``);
``lacuna.scheduler.for_governor(gov)`` builds the standard job set.

    sched = Scheduler()
    sched.every("sweep", 300, lambda: lacuna.sweep_exceptions())
    sched.cron("refresh:sales", "0 3 * * *", lambda: lacuna.datasets.refresh("sales"))
    sched.start()
    ...
    sched.stop()

Jobs run one at a time on one daemon thread, in due order. A job that raises is logged with
its traceback and counted (``JobStatus.failures``); it runs again at its next time. Schedules:

- ``every(name, seconds, fn)``: every ``seconds`` (the first run after one interval, or at once
  with ``immediately=True``);
- ``cron(name, "m h dom mon dow", fn)``: five-field cron in UTC (``*``, ``*/n``, ``a-b``,
  ``a,b``, ``a-b/n``; day of week 0-6, Sunday 0 or 7); ``@hourly``, ``@daily``, ``@weekly``
  and ``every 15m`` / ``every 2h`` are accepted too (:func:`parse_schedule`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lacuna.errors import ConfigError

if TYPE_CHECKING:
    from lacuna.governor import Governor

log = logging.getLogger("lacuna.scheduler")
MAX_LOOKAHEAD = timedelta(days=366 * 5)  # a cron that never matches (Feb 30) is refused


def _now() -> datetime:
    return datetime.now(UTC)


# -- schedules ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Every:
    """A fixed interval."""

    seconds: float

    def next_after(self, when: datetime) -> datetime:
        return when + timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return f"every {self.seconds:g}s"


_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))
_ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *"}


@dataclass(frozen=True, slots=True)
class Cron:
    """A five-field cron expression, in UTC."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        spec = _ALIASES.get(text.strip().lower(), text)
        parts = spec.split()
        if len(parts) != len(_FIELDS):
            msg = (f"schedule {text!r}: a cron expression has 5 fields (minute hour day month "
                   "weekday), e.g. '0 3 * * *' for 03:00 UTC daily.")
            raise ConfigError(msg)
        sets = [_field(p, name, lo, hi, text)
                for p, (name, lo, hi) in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(0 if d == 7 else d for d in sets[4])
        cron = cls(text=text, minutes=sets[0], hours=sets[1], days=sets[2], months=sets[3],
                   weekdays=weekdays, any_day=parts[2] == "*", any_weekday=parts[4] == "*")
        cron.next_after(_now())  # raises for an expression that never matches
        return cron

    def matches(self, t: datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours:
            return False
        return t.month in self.months and self._day(t)

    def _day(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow  # cron's rule when both are restricted

    def next_after(self, when: datetime) -> datetime:
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + MAX_LOOKAHEAD
        while t <= limit:
            if t.month not in self.months or not self._day(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute in self.minutes:
                return t
            t += timedelta(minutes=1)
        msg = f"schedule {self.text!r} never matches a date (e.g. 30 February)."
        raise ConfigError(msg)

    def __str__(self) -> str:
        return f"cron {self.text}"


def _field(part: str, name: str, lo: int, hi: int, text: str) -> frozenset[int]:
    out: set[int] = set()
    try:
        for item in part.split(","):
            rng, _, step_text = item.partition("/")
            step = int(step_text) if step_text else 1
            if rng == "*":
                start, end = lo, hi
            elif "-" in rng:
                a, b = rng.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(rng)
                end = hi if step_text else start
            if step < 1 or not lo <= start <= end <= hi:
                raise ValueError(item)
            out.update(range(start, end + 1, step))
    except ValueError:
        msg = (f"schedule {text!r}: {part!r} is not a valid {name} ({lo}-{hi}, '*', '*/n', "
               "'a-b' or 'a,b').")
        raise ConfigError(msg) from None
    return frozenset(out)


Schedule = Every | Cron
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(text: str) -> Schedule:
    """``every 15m`` / ``every 2h`` / ``every 30s`` / ``every 1d``, or a cron expression."""
    words = text.strip().lower().split()
    if len(words) == 2 and words[0] == "every":
        amount, unit = words[1][:-1], words[1][-1:]
        if unit in _UNITS and amount.replace(".", "", 1).isdigit() and float(amount) > 0:
            return Every(float(amount) * _UNITS[unit])
        msg = f"schedule {text!r}: write 'every <n><s|m|h|d>', e.g. 'every 15m'."
        raise ConfigError(msg)
    return Cron.parse(text)


# -- the scheduler -----------------------------------------------------------------------------


@dataclass(slots=True)
class JobStatus:
    """One job: its schedule, next run and what happened so far."""

    name: str
    schedule: Schedule
    run: Callable[[], object] = field(repr=False)
    next_run: datetime
    runs: int = 0
    failures: int = 0
    last_run: datetime | None = None
    last_error: str | None = None


class Scheduler:
    """Periodic jobs on one daemon thread; thread-safe; ``start`` / ``stop`` are idempotent."""

    def __init__(self, *, clock: Callable[[], datetime] = _now) -> None:
        self._clock = clock
        self._jobs: dict[str, JobStatus] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- jobs --

    def add(self, name: str, schedule: Schedule | str, run: Callable[[], object], *,
            immediately: bool = False) -> JobStatus:
        """Add (or replace) job ``name``; ``schedule`` is an :class:`Every`, a :class:`Cron` or
        a string for :func:`parse_schedule`."""
        sched = parse_schedule(schedule) if isinstance(schedule, str) else schedule
        now = self._clock()
        job = JobStatus(name=name, schedule=sched, run=run,
                        next_run=now if immediately else sched.next_after(now))
        with self._lock:
            self._jobs[name] = job
        self._wake.set()
        return job

    def every(self, name: str, seconds: float, run: Callable[[], object], *,
              immediately: bool = False) -> JobStatus:
        if not seconds > 0:
            msg = f"job {name}: the interval must be positive, got {seconds}."
            raise ConfigError(msg)
        return self.add(name, Every(float(seconds)), run, immediately=immediately)

    def cron(self, name: str, expression: str, run: Callable[[], object]) -> JobStatus:
        return self.add(name, Cron.parse(expression), run)

    def remove(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name, None)

    def jobs(self) -> list[JobStatus]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: (j.next_run, j.name))

    # -- running --

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Scheduler:
        if self.running:
            return self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="lacuna-scheduler", daemon=True)
        self._thread.start()
        log.info("scheduler started with %d job(s)", len(self._jobs))
        return self

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the running job (if any) ends; ``False`` when it is still running after
        ``timeout`` seconds."""
        thread = self._thread
        if thread is None:
            return True
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        stopped = not thread.is_alive()
        if stopped:
            self._thread = None
            log.info("scheduler stopped")
        else:
            log.error("scheduler: a job is still running after %.0f s", timeout)
        return stopped

    def run_due(self) -> list[str]:
        """Run every job that is due now (in due order); the names that ran."""
        ran: list[str] = []
        now = self._clock()
        for job in self.jobs():
            if self._stopping.is_set() and self.running:
                break
            if job.next_run <= now:
                self._run(job)
                ran.append(job.name)
        return ran

    def _run(self, job: JobStatus) -> None:
        started = self._clock()
        try:
            job.run()
        except Exception as exc:  # logged and counted; the job runs again next time
            job.failures += 1
            job.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("scheduled job %s failed", job.name)
        else:
            job.last_error = None
        job.runs += 1
        job.last_run = started
        job.next_run = job.schedule.next_after(max(started, job.next_run))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.run_due()
            jobs = self.jobs()
            wait = 60.0
            if jobs:
                wait = max(0.0, min(wait, (jobs[0].next_run - self._clock()).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()

    def __enter__(self) -> Scheduler:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# -- Lacuna's jobs -----------------------------------------------------------------------------

SWEEP_JOB = "exceptions:sweep"
RETENTION_JOB = "retention:apply"


def for_governor(gov: Governor, scheduler: Scheduler | None = None) -> Scheduler:
    """A scheduler with Lacuna's jobs: the exceptions sweep (every
    ``exceptions.sweep_interval_seconds``), each registered dataset whose ``refresh`` is a
    schedule (``refresh:<name>``) and, when ``retention.schedule`` is set, retention
    (``retention:apply``, :func:`schedule_retention`). A dataset with a schedule that cannot be
    parsed is logged and skipped (``lacuna datasets show`` lists it)."""
    from lacuna.exceptions.sweep import sweep
    from lacuna.governor import scoped

    sched = scheduler or Scheduler()

    def in_gov(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with scoped(gov):
                return fn()

        return run

    sched.every(SWEEP_JOB, gov.config.exceptions.sweep_interval_seconds,
                in_gov(lambda: sweep(gov)), immediately=True)
    schedule_datasets(sched, gov, wrap=in_gov)
    schedule_retention(sched, gov, wrap=in_gov)
    return sched


def schedule_retention(sched: Scheduler, gov: Governor, *,
                       wrap: Callable[[Callable[[], object]], Callable[[], object]] | None = None
                       ) -> JobStatus | None:
    """Add the ``retention:apply`` job on ``retention.schedule`` (None when it is not set):
    ``lacuna retention apply`` in the server (:func:`lacuna.retention.scheduled.apply_on_schedule`).

    Raises:
        ConfigError: the ``retention:`` section is invalid (a bad schedule names the key).
    """
    from lacuna.retention.api import settings_of

    schedule = settings_of(gov.config).schedule
    if schedule is None:
        return None

    def run() -> object:
        from lacuna.retention.scheduled import apply_on_schedule

        return apply_on_schedule(gov)

    return sched.add(RETENTION_JOB, schedule, wrap(run) if wrap else run)


def schedule_datasets(sched: Scheduler, gov: Governor, *,
                      wrap: Callable[[Callable[[], object]], Callable[[], object]] | None = None
                      ) -> list[str]:
    """Add a ``refresh:<name>`` job for each registered dataset with a refresh schedule."""
    from lacuna.datasets import list_datasets
    from lacuna.datasets.registry import MANUAL, ON_READ
    from lacuna.governor import scoped

    with scoped(gov):  # the declared ones (lacuna.yaml) included
        entries = list_datasets()
    added: list[str] = []
    for entry in entries:
        if entry.refresh in (ON_READ, MANUAL):
            continue
        try:
            schedule = parse_schedule(entry.refresh)
        except ConfigError as exc:
            log.error("dataset %s: refresh %r is not a schedule the scheduler understands; it "
                      "will not be refreshed automatically (%s)", entry.name, entry.refresh, exc)
            continue
        name = entry.name

        def refresh(name: str = name) -> object:
            from lacuna.datasets import refresh as refresh_dataset

            return refresh_dataset(name)

        job = f"refresh:{name}"
        sched.add(job, schedule, wrap(refresh) if wrap else refresh)
        added.append(job)
    return added


__all__ = [
    "Cron",
    "Every",
    "JobStatus",
    "Scheduler",
    "for_governor",
    "parse_schedule",
    "schedule_datasets",
    "schedule_retention",
]
