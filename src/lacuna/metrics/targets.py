"""The seed's targets for each governance metric, and the flag against them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Flag(enum.StrEnum):
    OK = "ok"
    MISSED = "missed"
    NO_DATA = "no-data"  # the denominator was empty (nothing to judge)
    TREND = "trend"  # judged by its trend, not a threshold (workaround_attempts)


@dataclass(frozen=True, slots=True)
class Target:
    """``value`` compared with ``op`` (``<`` or ``>``); the seed's wording in ``text``."""

    op: str
    value: float
    text: str
    unit: str

    def judge(self, measured: float | None) -> Flag:
        if measured is None:
            return Flag.NO_DATA
        if self.op == "trend":
            return Flag.TREND
        if self.op == "<":
            return Flag.OK if measured < self.value else Flag.MISSED
        if self.op == ">=":
            return Flag.OK if measured >= self.value else Flag.MISSED
        return Flag.OK if measured > self.value else Flag.MISSED


TARGETS: dict[str, Target] = {
    "violation_rate": Target("<", 2.0, "<2% (users mostly comply voluntarily)", "%"),
    "false_positive_rate": Target("<", 5.0, "<5% (policies aren't too restrictive)", "%"),
    "avg_resolution_time_minutes": Target(
        "<", 10.0, "<10min (users find compliant paths quickly)", "min"),
    "exception_rate": Target("<", 1.0, "<1% (policies are practical)", "%"),
    "user_satisfaction": Target(">", 4.0, ">4.0/5", "/5"),
    "workaround_attempts": Target("trend", 0.0, "Trending downward", ""),
    "data_coverage_percent": Target(">", 80.0, ">80%", "%"),
    "lineage_completeness_percent": Target(">", 90.0, ">90% for critical data", "%"),
    "audit_completeness": Target(">=", 100.0, "100% for regulated data", "%"),
}
