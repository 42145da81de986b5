"""Text for policy authors: test reports like ``opa test``, package listings.

The CLI (``lacuna policy test``, ``lacuna policy list``) prints these; they are plain functions
so notebooks and other front ends can show the same text.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lacuna.policy.engine import PolicyEngine
    from lacuna.policy.rego_tests import RegoTestReport


def relative(path: str, root: str) -> str:
    """``path`` relative to ``root`` when it is inside it, else unchanged."""
    try:
        rel = os.path.relpath(path, root) if root else path
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def line_ranges(lines: tuple[int, ...]) -> str:
    """``(3, 4, 5, 9)`` as ``"3-5, 9"``."""
    out: list[str] = []
    for n in lines:
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def format_test_report(report: RegoTestReport, root: str, *, verbose: bool = False) -> str:
    """Failures (every test with ``verbose``), totals, and coverage when the report has it."""
    out: list[str] = []
    current = None
    for r in report:
        if r.passed and not verbose:
            continue
        where = relative(r.path, root)
        if verbose and where != current:
            out.append(f"{where}:")
            current = where
        status = "PASS" if r.passed else "ERROR" if r.error else "FAIL"
        out.append(f"{r.rule}: {status} ({r.duration_ms:.1f}ms)")
        if not r.passed:
            out.append(f"  {where}:{r.line}: {r.failure}")
        out.extend(f"  print: {line}" for line in r.prints)
    errors = sum(1 for r in report if r.error)
    failed = len(report.failed) - errors
    out.append("-" * 80)
    out.append(f"PASS: {len(report) - len(report.failed)}/{len(report)}")
    if failed:
        out.append(f"FAIL: {failed}/{len(report)}")
    if errors:
        out.append(f"ERROR: {errors}/{len(report)}")
    if report.coverage:
        out.append(f"\nCoverage: {report.coverage_percent:.1f}%")
        for f in report.coverage:
            missing = f"  not covered: {line_ranges(f.not_covered)}" if f.not_covered else ""
            out.append(f"  {f.percent:5.1f}%  {relative(f.path, root)}{missing}")
    return "\n".join(out)


def package_rows(engine: PolicyEngine) -> list[dict[str, Any]]:
    """Every package with its metadata, as JSON-ready rows (``lacuna policy list --json``)."""
    versions = {m.path: m.rego_version for m in engine.modules}
    return [{
        "package": p.name, "votes": p.votes, "id": p.metadata.get("id"),
        "title": p.metadata.get("title"), "owner": p.ref().owner,
        "version": p.metadata.get("version"), "compliance": list(p.ref().compliance),
        "actions": sorted(p.actions) if p.actions is not None else None,
        "domain": p.domain, "inherits": list(p.inherits),
        "description": p.metadata.get("description"),
        "files": [f"{relative(f, engine.bundle.root)} ({versions.get(f)})" for f in p.files],
    } for p in engine.all_packages]


def package_list(engine: PolicyEngine) -> str:
    """The bundle, its revision, whether decisions are cached, and every package's metadata."""
    calls = engine.nondeterministic
    cache = ("off: " + ", ".join(f"{name} at {relative(path, engine.bundle.root)}:{line}"
                                 for path, line, name in calls)) if calls else "on"
    out = [f"bundle {engine.bundle.root}",
           f"revision {engine.revision}; decision cache {cache}"]
    for row in package_rows(engine):
        head = " ".join(str(x) for x in (row["id"], row["title"]) if x)
        out.append(f"\n{row['package']}{'  ' + head if head else ''}"
                   f"{'' if row['votes'] else '  (helper: does not vote)'}")
        for key in ("owner", "version", "compliance", "actions", "domain", "inherits",
                    "description", "files"):
            value = row[key]
            if value:
                shown = ", ".join(value) if isinstance(value, list) else str(value)
                out.append(f"  {key}: {shown}")
    return "\n".join(out)
