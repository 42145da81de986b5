"""What ``lacuna compile`` found: frozen report objects, and their JSON form.

A :class:`CompileReport` holds the five steps' results: the rules loaded, the project's size,
coverage per layer and per model, findings (each with a rule id, the model and column, the file
to edit and how to fix it), and, with ``--run-checks``, the warehouse checks' results.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

REPORT_SCHEMA_VERSION = "1"


class Level(enum.StrEnum):
    """A finding's weight: ``error`` blocks in strict mode, ``warning`` is reported, ``note``
    informs (what ``on_failure: notify`` and ``enforcement: off`` produce)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One violation: which rule, where, what is missing and how to fix it."""

    rule_id: str  # e.g. "lacuna.coverage.layer", "lacuna.tests.missing", "lacuna.gate.row_count"
    level: Level
    message: str
    fix: str
    model: str | None = None  # dbt unique_id
    model_name: str | None = None
    column: str | None = None
    path: str | None = None  # the file to edit, relative to the project (schema.yml or .sql)
    layer: str | None = None
    step: int = 3  # the report step that found it (3 coverage, 4 gates)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCoverage:
    """One model's coverage and requirements."""

    unique_id: str
    name: str
    layer: str | None
    path: str
    columns: tuple[str, ...]
    tested_columns: tuple[str, ...]
    minimum_coverage: float
    required_tests: tuple[str, ...]
    missing_tests: tuple[str, ...]
    escalation: str | None = None  # the escalation-table level that applied, if any
    primary_key: tuple[str, ...] = ()

    @property
    def coverage(self) -> float:
        """Percent of the model's columns with at least one test (0 when none are declared)."""
        if not self.columns:
            return 0.0
        return 100.0 * len(self.tested_columns) / len(self.columns)

    @property
    def untested_columns(self) -> tuple[str, ...]:
        tested = set(self.tested_columns)
        return tuple(c for c in self.columns if c not in tested)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerCoverage:
    layer: str
    models: int
    columns: int
    tested_columns: int
    minimum_coverage: float | None

    @property
    def coverage(self) -> float:
        return 100.0 * self.tested_columns / self.columns if self.columns else 0.0

    @property
    def ok(self) -> bool:
        return self.minimum_coverage is None or self.coverage + 1e-9 >= self.minimum_coverage


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One ``--run-checks`` check against the warehouse."""

    gate: str
    check: str  # row_count | null_percentage | freshness
    model: str
    passed: bool
    observed: str  # e.g. "rows=0", "customer_id null=0.0%", "age=30.5h"
    expected: str
    on_failure: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CompileReport:
    """The whole compile result; :attr:`failed` decides the exit code."""

    project: str
    project_dir: str
    enforcement: str
    block_on_failure: bool
    rules_loaded: int
    gates_loaded: int
    models: int
    tests: int
    layers: tuple[LayerCoverage, ...] = ()
    model_coverage: tuple[ModelCoverage, ...] = ()
    findings: tuple[Finding, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    checks_ran: bool = False
    seconds: float = 0.0
    schema_version: str = field(default=REPORT_SCHEMA_VERSION)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.WARNING)

    @property
    def failed(self) -> bool:
        """True when errors block: strict enforcement with ``block_on_failure``."""
        return bool(self.errors) and self.enforcement == "strict" and self.block_on_failure

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: everything, plus computed coverage figures and the outcome."""
        head = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("layers", "model_coverage", "findings", "checks")}
        return {
            **head,
            "status": "FAILED" if self.failed else "SUCCEEDED",
            "summary": {"errors": len(self.errors), "warnings": len(self.warnings),
                        "notes": len(self.findings) - len(self.errors) - len(self.warnings)},
            "layers": [{**_flat(layer), "coverage": round(layer.coverage, 2), "ok": layer.ok}
                       for layer in self.layers],
            "model_coverage": [{**_flat(m), "coverage": round(m.coverage, 2),
                                "untested_columns": list(m.untested_columns)}
                               for m in self.model_coverage],
            "findings": [_flat(f) for f in self.findings],
            "checks": [_flat(c) for c in self.checks],
        }


def _flat(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a JSON-ready dict (tuples become lists, enums their value); much
    faster than ``dataclasses.asdict``, which deep-copies every value."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        out[f.name] = value
    return out


__all__ = [
    "REPORT_SCHEMA_VERSION",
    "CheckResult",
    "CompileReport",
    "Finding",
    "LayerCoverage",
    "Level",
    "ModelCoverage",
]
