"""Running a bundle's Rego unit tests (``test_*`` rules in ``*_test.rego``), like ``opa test``.

regorus has no test runner, so this is one: every ``test_*`` rule defined in a test file is
evaluated on an engine holding the policies, the test files and the bundle data; a test passes
when it evaluates to ``true``, fails when it is undefined or false, and errors when evaluation
raises. Test files never reach the engine that makes decisions.

Each result knows where its rule is (file and line), what its ``print()`` calls wrote, and why it
failed. With ``coverage=True`` the report also holds per-line coverage of the policy files
(regorus's coverage: the lines of statements that were evaluated, and those that were not).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.policy.analysis import parse, rule_sites
from lacuna.policy.compile import UNDEFINED, compile_bundle
from lacuna.policy.diagnostics import diagnose
from lacuna.policy.recursion import check_recursion
from lacuna.policy.unsendable import releasing_engines

if TYPE_CHECKING:
    from lacuna.policy.bundle import Bundle


@dataclass(frozen=True, slots=True, kw_only=True)
class RegoTestResult:
    """The outcome of one ``test_*`` rule."""

    package: str
    name: str
    passed: bool
    error: str | None = None  # the engine error, when the test errored
    duration_ms: float = 0.0
    path: str = ""  # the test file
    line: int = 0  # the rule's first line
    value: str | None = None  # what a failed test evaluated to: "undefined" or its JSON
    prints: tuple[str, ...] = ()  # what its print() calls wrote

    @property
    def rule(self) -> str:
        """The rule's full path, e.g. ``data.governance.export_test.test_public_allowed``."""
        return f"data.{self.package}.{self.name}"

    @property
    def location(self) -> str:
        """``file:line`` of the test rule."""
        return f"{self.path}:{self.line}" if self.path else self.rule

    @property
    def failure(self) -> str | None:
        """Why it did not pass, in a sentence (``None`` when it passed)."""
        if self.passed:
            return None
        if self.error is not None:
            return f"error: {self.error}"
        if self.value in (None, "undefined"):
            return ("undefined: an expression in the test's body was false or undefined. Add "
                    "print(...) calls to the test to see values; they are shown here.")
        return f"evaluated to {self.value}, not true."


@dataclass(frozen=True, slots=True)
class FileCoverage:
    """Per-line coverage of one policy file."""

    path: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        """Covered lines as a percentage of the lines with statements (100 with none)."""
        total = len(self.covered) + len(self.not_covered)
        return 100.0 if total == 0 else 100.0 * len(self.covered) / total


class RegoTestReport(tuple[RegoTestResult, ...]):
    """The results, in package and name order, plus coverage when it was asked for."""

    coverage: tuple[FileCoverage, ...]

    def __new__(cls, results: Iterable[RegoTestResult],
                coverage: Iterable[FileCoverage] = ()) -> RegoTestReport:
        self = super().__new__(cls, tuple(results))
        self.coverage = tuple(coverage)
        return self

    @property
    def failed(self) -> tuple[RegoTestResult, ...]:
        """The tests that failed or errored."""
        return tuple(r for r in self if not r.passed)

    @property
    def coverage_percent(self) -> float:
        """Covered lines over all policy files, as a percentage."""
        covered = sum(len(f.covered) for f in self.coverage)
        total = covered + sum(len(f.not_covered) for f in self.coverage)
        return 100.0 if total == 0 else 100.0 * covered / total


@releasing_engines
def run_tests(bundle: Bundle, data: Mapping[str, Any], *,
              coverage: bool = False) -> RegoTestReport:
    """Run every ``test_*`` rule of the bundle's test files, sorted by package and name.

    Raises:
        PolicyError: the bundle with its test files does not compile.
    """
    engine = compile_bundle(bundle, data, tests=True)
    engine.set_gather_prints(True)
    if coverage:
        engine.set_enable_coverage(True)
    test_files = {m.path for m in bundle.modules if m.is_test}
    ast = parse(engine)
    check_recursion(ast)  # a test file's function calling itself would crash this process
    sites = sorted((s for s in rule_sites(ast, test_files) if s.name.startswith("test_")),
                   key=lambda s: (s.package, s.name, s.line))
    results = []
    seen: set[tuple[str, str]] = set()
    for site in sites:
        if (site.package, site.name) in seen:
            continue  # a test defined by several bodies runs once
        seen.add((site.package, site.name))
        results.append(_run(engine, site.package, site.name, site.path, site.line))
    files: list[FileCoverage] = []
    if coverage:
        report = json.loads(engine.get_coverage_report_as_json())
        for f in report.get("files") or ():
            if f.get("path") in test_files:
                continue
            files.append(FileCoverage(path=str(f.get("path")),
                                      covered=tuple(sorted(f.get("covered") or ())),
                                      not_covered=tuple(sorted(f.get("not_covered") or ()))))
    return RegoTestReport(results, sorted(files, key=lambda f: f.path))


def _run(engine: Any, package: str, name: str, path: str, line: int) -> RegoTestResult:
    started = time.perf_counter()
    value = None
    error = None
    try:
        text = engine.eval_rule_as_json(f"data.{package}.{name}")
        passed = text == "true"
        if not passed:
            value = "undefined" if text == UNDEFINED else text
    except Exception as exc:  # an erroring test is a result, not a crash
        d = diagnose(exc)
        passed, error = False, f"{d.where}: {d.message}" if d.path else d.message
    prints = tuple(str(p) for p in engine.take_prints())
    return RegoTestResult(package=package, name=name, passed=passed, error=error,
                          duration_ms=(time.perf_counter() - started) * 1000.0, path=path,
                          line=line, value=value, prints=prints)
