"""Retention settings: ``retention:`` in ``lacuna.yaml``, validated at the edge.

Defaults follow the seed's tier table (PROPRIETARY "7+ years", INTERNAL "1-3 years", PUBLIC
"1 year minimum"); the audit trail keeps regulated data's retention (7 years)::

    retention:
      tiers:
        PROPRIETARY: {min: 7y}            # no maximum: kept until a policy says otherwise
        INTERNAL: {min: 1y, max: 3y}      # due for deletion after 3 years
        PUBLIC: {min: 1y}
      datasets:                           # per dataset: a path or glob, first match wins
        "reports/q4/*.csv": {min: 2y, max: 5y, on_expiry: archive}
      archive_dir: /governed/archive      # where on_expiry: archive moves files
      audit: {min: 7y}                    # the audit trail is never pruned below this
      unclassified_tier: PROPRIETARY      # a file with no (trusted) classification
      schedule: "0 3 * * *"               # lacuna serve applies it then (default: never)

A duration is ``<n>y``, ``<n>m`` (months), ``<n>w``, ``<n>d`` or a number of days; years and
months are calendar arithmetic, so "7y" from 2019-02-28 ends on 2026-02-28.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from lacuna.model import Tier
from lacuna.sections import Origin, Section, parsed, validate_section

_DURATION = re.compile(r"^\s*(\d+)\s*([ymwd]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar duration: years, months and days."""

    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, value: Any) -> Duration:
        """``7y``, ``18m``, ``2w``, ``90d`` or a number of days.

        Raises:
            ValueError: anything else (pydantic turns it into a config error naming the key).

        Example:
            >>> Duration.parse("7y"), Duration.parse(30)
            (Duration(years=7, months=0, days=0), Duration(years=0, months=0, days=30))
        """
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            msg = f"expected a duration like 7y, 18m, 2w, 90d or a number of days, got {value!r}"
            raise ValueError(msg)
        m = _DURATION.match(str(value))
        if m is None:
            msg = f"expected a duration like 7y, 18m, 2w, 90d or a number of days, got {value!r}"
            raise ValueError(msg)
        n, unit = int(m.group(1)), (m.group(2) or "d").lower()
        return {"y": cls(years=n), "m": cls(months=n), "w": cls(days=7 * n)}.get(unit,
                                                                                  cls(days=n))

    def after(self, start: datetime) -> datetime:
        """``start`` plus this duration (a day of month past the end is the month's last)."""
        month = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month // 12, month % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(days=self.days)

    def __str__(self) -> str:
        parts = [f"{v}{u}" for v, u in ((self.years, "y"), (self.months, "m"), (self.days, "d"))
                 if v]
        return "".join(parts) or "0d"


class _Model(Section):
    model_config = ConfigDict(arbitrary_types_allowed=True)  # Duration


class Window(_Model):
    """A retention window: kept at least ``min``, due once past ``max`` (None: never due)."""

    min: Duration | None = None
    max: Duration | None = None
    on_expiry: Literal["delete", "archive"] = "delete"

    @field_validator("min", "max", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Duration | None:
        return None if v is None else Duration.parse(v)


def _default_tiers() -> dict[Tier, Window]:
    return {
        Tier.PROPRIETARY: Window(min=Duration(years=7)),
        Tier.INTERNAL: Window(min=Duration(years=1), max=Duration(years=3)),
        Tier.PUBLIC: Window(min=Duration(years=1)),
    }


class AuditRetention(_Model):
    """The audit trail's retention (regulated data's): it is reported, never pruned."""

    min: Duration = Duration(years=7)

    @field_validator("min", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Duration:
        return Duration.parse(v)


class RetentionSettings(_Model):
    """The validated ``retention:`` section."""

    tiers: dict[Tier, Window] = Field(default_factory=_default_tiers)
    datasets: dict[str, Window] = Field(default_factory=dict)
    archive_dir: str | None = None
    audit: AuditRetention = Field(default_factory=AuditRetention)
    unclassified_tier: Tier = Tier.PROPRIETARY
    exceptions: bool = True  # files of ended exceptions are due (their window is the rule)
    # when ``lacuna serve`` applies retention (lacuna.scheduler): cron, @daily, "every 6h";
    # None: never (run ``lacuna retention apply`` from cron or CI)
    schedule: str | None = None

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers(cls, v: Any) -> Any:
        # A partial table overrides the tiers it names and keeps the seed's defaults for the rest.
        if not isinstance(v, Mapping):
            return v
        merged: dict[Tier, Any] = dict(_default_tiers())
        for key, window in v.items():
            merged[parsed(Tier.parse, key)] = window
        return merged

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        from lacuna.errors import ConfigError
        from lacuna.scheduler import parse_schedule

        if v is not None:
            try:
                parse_schedule(v)
            except ConfigError as exc:  # pydantic names the key and the file's line
                msg = f"{exc} Or remove the key to apply retention only from the CLI."
                raise ValueError(msg) from None
        return v

    @field_validator("unclassified_tier", mode="before")
    @classmethod
    def _tier(cls, v: Any) -> Tier:
        return parsed(Tier.parse, v)


def retention_from(raw: Any, *, where: str = "<config>",
                   origin: Origin | None = None) -> RetentionSettings:
    """Validate a ``retention:`` mapping (``None``: the seed's defaults).

    Raises:
        ConfigError: an unknown key (naming its path and the nearest valid key) or a bad value,
            with the file and the line when known.

    Example:
        >>> str(retention_from({"tiers": {"internal": {"max": "2y"}}}).tiers[Tier.INTERNAL].max)
        '2y'
    """
    if isinstance(raw, RetentionSettings):
        return raw
    return validate_section(RetentionSettings, raw, prefix=("retention",),
                            origin=origin or Origin(where), title="retention settings",
                            docs="docs/retention.md")


__all__ = ["AuditRetention", "Duration", "RetentionSettings", "Window", "retention_from"]
