"""SARIF 2.1.0 output of ``lacuna compile``, for code-scanning UIs (GitHub, GitLab, VS Code).

One run, tool ``lacuna-compile``; one rule per finding kind, one result per finding, located at
the file to edit (the model's schema YAML, else its SQL) and, when it can be found, the line of
the model's or column's ``name:`` entry. Levels map directly (error, warning, note).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from lacuna.dbt.report import CompileReport, Finding

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/lacuna-governance/lacuna/blob/main/docs/dbt.md"

RULES: dict[str, tuple[str, str]] = {
    "lacuna.coverage.layer": ("LayerCoverage", "A layer's test coverage is below its minimum."),
    "lacuna.coverage.model": ("ModelCoverage", "A model's test coverage is below its minimum."),
    "lacuna.tests.missing": ("MissingRequiredTest", "A model lacks a required test."),
    "lacuna.tests.primary_key": ("UnresolvedPrimaryKey",
                                 "A primary-key test is required but no primary key is declared."),
    "lacuna.evidence.audit_log": ("AuditLogMissing",
                                  "No audit records exist for a model whose class needs them."),
    "lacuna.evidence.masking_verified": ("MaskingNotVerified",
                                         "No masking transform is on a PII column's lineage."),
    "lacuna.evidence.encryption_verified": ("EncryptionNotVerified",
                                            "The model's target is not verifiably encrypted."),
    "lacuna.gate.row_count": ("GateRowCount", "A quality gate's row_count check failed."),
    "lacuna.gate.null_percentage": ("GateNullPercentage",
                                    "A quality gate's null_percentage check failed."),
    "lacuna.gate.freshness": ("GateFreshness", "A quality gate's freshness check failed."),
    "lacuna.gate.unresolved": ("GateUnresolved", "A quality gate's check could not be run."),
    "lacuna.gate.scope": ("GateCoversNoModel", "A quality gate's scope covers no model."),
    "lacuna.classification.unknown": ("UnknownParentColumns",
                                      "A model reads a source whose columns are not listed."),
}


def to_sarif(report: CompileReport, *, tool_version: str = "") -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (a dict ready for ``json.dump``)."""
    root = Path(report.project_dir)
    used = sorted({f.rule_id for f in report.findings})
    index = {rule: i for i, rule in enumerate(used)}
    rules = []
    for rule in used:
        name, text = RULES.get(rule, (rule.rsplit(".", 1)[-1], rule))
        rules.append({
            "id": rule,
            "name": name,
            "shortDescription": {"text": text},
            "helpUri": INFORMATION_URI,
            "defaultConfiguration": {"level": "error"},
        })
    driver: dict[str, Any] = {"name": "lacuna-compile", "informationUri": INFORMATION_URI,
                              "rules": rules}
    if tool_version:
        driver["version"] = tool_version
    results = [_result(f, index[f.rule_id], root) for f in report.findings]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": driver},
            "originalUriBaseIds": {"PROJECT_ROOT": {"uri": root.resolve().as_uri() + "/"}},
            "results": results,
            "properties": {"enforcement": report.enforcement,
                           "status": "FAILED" if report.failed else "SUCCEEDED"},
        }],
    }


def write_sarif(report: CompileReport, path: str | Path, *, tool_version: str = "") -> None:
    """Write :func:`to_sarif` to ``path`` as JSON."""
    Path(path).write_text(json.dumps(to_sarif(report, tool_version=tool_version), indent=2),
                          encoding="utf-8")


def _result(f: Finding, rule_index: int, root: Path) -> dict[str, Any]:
    text = f"{f.message} Fix: {f.fix}" if f.fix else f.message
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": str(f.level),
        "message": {"text": text},
        "partialFingerprints": {"lacunaFinding/v1": _fingerprint(f)},
    }
    # Code-scanning UIs need a location on every result: a finding about a whole layer (or a
    # gate) points at the project file.
    physical: dict[str, Any] = {"artifactLocation": {"uri": f.path or "dbt_project.yml",
                                                     "uriBaseId": "PROJECT_ROOT"}}
    line = _line_of(str(root / f.path), f.model_name or "", f.column or "") if f.path else None
    if line:
        physical["region"] = {"startLine": line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if f.model_name:
        qualified = f"{f.model_name}.{f.column}" if f.column else f.model_name
        location["logicalLocations"] = [{
            "name": f.column or f.model_name, "fullyQualifiedName": qualified,
            "kind": "member" if f.column else "object"}]
    result["locations"] = [location]
    return result


def _fingerprint(f: Finding) -> str:
    key = "|".join((f.rule_id, f.model or "", f.column or "", f.message.split(":")[0]))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@cache
def _lines(path: str) -> tuple[str, ...]:
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _line_of(path: str, model: str, column: str) -> int | None:
    """The 1-based line of ``- name: <model>`` in a YAML file (then of the column after it)."""
    if not model or not path.endswith((".yml", ".yaml")):
        return None
    lines = _lines(path)
    pattern = re.compile(r"^\s*-?\s*name:\s*['\"]?%s['\"]?\s*(#.*)?$")
    start = None
    for i, line in enumerate(lines):
        if re.match(pattern.pattern % re.escape(model), line):
            start = i
            break
    if start is None:
        return None
    if column:
        for i in range(start + 1, len(lines)):
            if re.match(pattern.pattern % re.escape(column), lines[i]):
                return i + 1
            if re.match(r"^\s*-\s*name:", lines[i]) and _indent(lines[i]) <= _indent(lines[start]):
                break
    return start + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


__all__ = ["RULES", "SARIF_VERSION", "to_sarif", "write_sarif"]
