"""Metric periods: ``last_7_days``, ``last_30_days``, ``2026-Q4``, ``2026-11``, explicit dates.

A period is a half-open UTC window ``[start, end)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from lacuna.errors import ConfigError

_LAST = re.compile(r"^last_(\d+)_days?$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_HOW = ("use last_7_days, last_30_days, last_N_days, a quarter (2026-Q4), a month (2026-11) "
        "or explicit dates (2026-10-01..2026-12-31, or a (start, end) pair)")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC window ``[start, end)`` and the name it was asked by."""

    start: datetime
    end: datetime
    label: str

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def read_bounds(self) -> tuple[datetime | None, datetime | None]:
        """``since=``/``until=`` for :meth:`lacuna.audit.AuditStore.list`, a day wider than the
        period on each side, and the caller tests ``instant in period`` exactly. The store
        compares instants since its ``timestamp`` column holds UTC (state revision 0016); the
        slack still keeps every record of the period for a read-only store on a trail no
        writer has upgraded yet, whose column sorts ``02:30-05:00`` (07:30 UTC) as 02:30.
        Without ``until`` a past period read every later record of the trail."""
        return _moved(self.start, -_SLACK), _moved(self.end, _SLACK)

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}


_SLACK = timedelta(days=1)  # more than any UTC offset


def _moved(instant: datetime, by: timedelta) -> datetime | None:
    """``instant`` moved by ``by``; None (no bound) past the calendar's ends."""
    try:
        return instant + by
    except OverflowError:
        return None


def _utc(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _day(text: str) -> datetime:
    try:
        return _utc(datetime.fromisoformat(text.strip()))
    except ValueError as exc:
        msg = f"metrics period: {text!r} is not a date; {_HOW}."
        raise ConfigError(msg) from exc


def parse_period(
    period: str | Period | tuple[datetime | date, datetime | date],
    *,
    now: datetime | None = None,
) -> Period:
    """The window a period names. Explicit end dates are inclusive of that whole day.

    Raises:
        ConfigError: the period is not one of the accepted forms.
    """
    if isinstance(period, Period):
        return period
    try:
        return _parse(period, now)
    except ConfigError:
        raise
    except (OverflowError, ValueError) as exc:  # last_99999999_days, 9999-Q4: no such dates
        msg = f"metrics period: {period!r} reaches past the dates a calendar holds; {_HOW}."
        raise ConfigError(msg) from exc


def _parse(period: str | tuple[datetime | date, datetime | date], now: datetime | None
           ) -> Period:
    now = _utc(now or datetime.now(UTC))
    if isinstance(period, tuple):
        start, end = _utc(period[0]), _utc(period[1])
        if not isinstance(period[1], datetime):
            end += timedelta(days=1)
        return _checked(Period(start, end, f"{start.date()}..{(end - timedelta(days=1)).date()}"))
    text = str(period).strip()
    if m := _LAST.match(text):
        return _checked(Period(now - timedelta(days=int(m.group(1))), now, text))
    if m := _QUARTER.match(text):
        year, q = int(m.group(1)), int(m.group(2))
        start = datetime(year, 3 * q - 2, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC) if q == 4 else datetime(
            year, 3 * q + 1, 1, tzinfo=UTC)
        return Period(start, end, text)
    if m := _MONTH.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            msg = f"metrics period: {text!r} has no month {month}; {_HOW}."
            raise ConfigError(msg)
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        return Period(start, end, text)
    if ".." in text:
        first, _, last = text.partition("..")
        start, end = _day(first), _day(last)
        if _is_date(last):  # a date (2026-10-31, 20261031): the whole day counts
            end += timedelta(days=1)
        return _checked(Period(start, end, text))
    msg = f"metrics period: {text!r} is not understood; {_HOW}."
    raise ConfigError(msg)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _checked(p: Period) -> Period:
    if p.end <= p.start:
        msg = f"metrics period {p.label}: the end is not after the start; {_HOW}."
        raise ConfigError(msg)
    return p
