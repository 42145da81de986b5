"""Running a bundle's Rego unit tests (``test_*`` rules in ``*_test.rego`` files).

regorus has no test runner, so this is one: every ``test_*`` rule defined in a test file is
evaluated on an engine holding the policies, the test files and the bundle data; a test passes
when it evaluates to ``true``, fails when it is undefined or false, and errors when evaluation
raises. Test files never reach the engine that makes decisions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.policy.compile import compile_bundle, rule_names
from lacuna.policy.diagnostics import diagnose

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

    @property
    def rule(self) -> str:
        """The rule's full path, e.g. ``data.governance.export_test.test_public_allowed``."""
        return f"data.{self.package}.{self.name}"


def run_tests(bundle: Bundle, data: Mapping[str, Any]) -> tuple[RegoTestResult, ...]:
    """Run every ``test_*`` rule of the bundle's test files, sorted by package and name.

    Raises:
        PolicyError: the bundle with its test files does not compile.
    """
    engine = compile_bundle(bundle, data, tests=True)
    test_files = {m.path for m in bundle.modules if m.is_test}
    results = []
    for package, names in sorted(rule_names(engine, test_files).items()):
        for name in sorted(n for n in names if n.startswith("test_")):
            started = time.perf_counter()
            try:
                passed = engine.eval_rule(f"data.{package}.{name}") is True
                error = None
            except Exception as exc:  # an erroring test is a result, not a crash
                d = diagnose(exc)
                passed, error = False, f"{d.where}: {d.message}" if d.path else d.message
            results.append(RegoTestResult(
                package=package, name=name, passed=passed, error=error,
                duration_ms=(time.perf_counter() - started) * 1000.0))
    return tuple(results)
