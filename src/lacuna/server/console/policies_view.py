"""The policy browser's data: the bundle's packages with their metadata and owners, and its Rego
unit tests with their last result.

Tests run on request (a steward's button) and at the first view of a bundle revision; the last
report is kept per revision, so the page says when it ran and against which revision.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lacuna.errors import PolicyError

if TYPE_CHECKING:
    from lacuna.policy import PolicyEngine


@dataclass(frozen=True, slots=True, kw_only=True)
class TestRow:
    rule: str
    passed: bool
    location: str
    failure: str
    duration_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TestRun:
    revision: str
    at: datetime
    rows: tuple[TestRow, ...]
    error: str = ""  # the bundle's tests did not compile

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r.passed)

    @property
    def failed(self) -> int:
        return len(self.rows) - self.passed


class TestResults:
    """The last test run per bundle revision (thread-safe; one per server process)."""

    def __init__(self) -> None:
        self._runs: dict[str, TestRun] = {}
        self._lock = threading.Lock()

    def last(self, revision: str) -> TestRun | None:
        with self._lock:
            return self._runs.get(revision)

    def run(self, engine: PolicyEngine, now: datetime) -> TestRun:
        """Run the bundle's tests now and keep the result."""
        revision = engine.revision
        try:
            report = engine.run_tests()
            root = engine.bundle.root
            rows = tuple(TestRow(rule=r.rule, passed=r.passed, location=_short(r.location, root),
                                 failure=r.failure or "", duration_ms=r.duration_ms)
                         for r in report)
            result = TestRun(revision=revision, at=now, rows=rows)
        except PolicyError as exc:
            result = TestRun(revision=revision, at=now, rows=(), error=str(exc))
        with self._lock:
            self._runs[revision] = result
        return result


def _short(location: str, root: str = "") -> str:
    """Where a test or a file is, as every signed-in person may read it: under the package
    folder (``.../policies/``), else relative to the bundle's folder, else its file name. The
    page is everyone's: a bundle kept elsewhere showed the server's folders
    (``/srv/…/rego/governance/x_test.rego:11``) to any analyst."""
    from lacuna.policy.render import relative

    marker = "/policies/"
    if marker in location:
        return location.split(marker, 1)[1]
    shown = relative(location, root) if root else location
    return shown.rsplit("/", 1)[-1] if shown.startswith("/") else shown


def packages(engine: PolicyEngine) -> list[dict[str, Any]]:
    """Every package with its metadata (id, title, owner, version, compliance, domain, files)."""
    from lacuna.policy.render import package_rows

    rows = package_rows(engine)
    for row in rows:
        row["files"] = [_short(f, engine.bundle.root) for f in row["files"]]
    return sorted(rows, key=lambda r: r["package"])
