"""OPA ``# METADATA`` annotations: YAML in comment blocks, read without the engine.

regorus does not expose annotations, so Lacuna reads them from the source, as OPA does::

    # METADATA
    # title: PII Export Restrictions
    # description: Where data of each tier may go.
    # custom:
    #   id: P-2024-001
    #   owner: data-governance@example.com
    #   compliance: [GDPR, CCPA]
    package governance.export

A block is a ``# METADATA`` line followed by comment lines holding YAML (one leading ``#`` and one
space are removed). It annotates the statement right after it: a block before ``package`` has
scope ``package`` (or ``subpackages`` when it says so: then it also applies to every package
below); a block before a rule has scope ``rule``. Keys are OPA's: ``scope``, ``title``,
``description``, ``related_resources``, ``authors``, ``organizations``, ``schemas``,
``entrypoint``, ``custom``; anything else is an error (put your own fields under ``custom``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from lacuna.errors import PolicyError

KEYS = frozenset({"scope", "title", "description", "related_resources", "authors",
                  "organizations", "schemas", "entrypoint", "custom"})
SCOPES = frozenset({"package", "subpackages", "rule", "document"})
_START = re.compile(r"^\s*#\s*METADATA\s*$")
_RULE_NAME = re.compile(r"^\s*(?:default\s+)?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Annotation:
    """One ``# METADATA`` block."""

    path: str
    line: int  # of the ``# METADATA`` line
    scope: str  # package | subpackages | rule | document
    rule: str | None = None  # the annotated rule, for scope rule/document
    fields: Mapping[str, Any] = field(default_factory=dict)


def parse_annotations(source: str, path: str) -> tuple[Annotation, ...]:
    """Every ``# METADATA`` block of one file.

    Raises:
        PolicyError: a block is not valid YAML, not a mapping, uses an unknown key or scope;
            the message names the file and line.
    """
    lines = source.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if not _START.match(lines[i]):
            i += 1
            continue
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].lstrip().startswith("#"):
            text = lines[i].lstrip()[1:]
            body.append(text[1:] if text.startswith(" ") else text)
            i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        target = lines[i] if i < len(lines) else ""
        out.append(_annotation(path, start + 1, "\n".join(body), target))
    return tuple(out)


def _annotation(path: str, line: int, text: str, target: str) -> Annotation:
    try:
        fields = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = line + 1 + (mark.line if mark else 0)
        msg = (f"{path}:{at}: the # METADATA block starting at line {line} is not valid YAML "
               f"({getattr(exc, 'problem', exc)}). Fix the YAML (each line starts with '# ').")
        raise PolicyError(msg, path=path, line=at) from None
    if not isinstance(fields, Mapping):
        msg = (f"{path}:{line}: a # METADATA block must hold YAML key: value pairs (title, "
               "description, custom, ...).")
        raise PolicyError(msg, path=path, line=line)
    unknown = sorted(str(k) for k in fields if k not in KEYS)
    if unknown:
        msg = (f"{path}:{line}: unknown # METADATA key {unknown[0]!r}. Expected one of: "
               f"{', '.join(sorted(KEYS))}; put your own fields under 'custom:'.")
        raise PolicyError(msg, path=path, line=line)
    is_package = target.lstrip().startswith("package ")
    scope = str(fields.get("scope") or ("package" if is_package else "rule"))
    if scope not in SCOPES:
        msg = (f"{path}:{line}: unknown # METADATA scope {scope!r}. Expected one of: "
               f"{', '.join(sorted(SCOPES))}.")
        raise PolicyError(msg, path=path, line=line)
    rule = None
    if not is_package:
        m = _RULE_NAME.match(target)
        rule = m.group(1) if m else None
    return Annotation(path=path, line=line, scope=scope, rule=rule, fields=dict(fields))


def metadata_from(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Annotation fields as policy metadata: title, description, then ``custom`` flattened.

    ``owner`` falls back to the first author's email (or name), ``documentation`` to the first
    related resource, so annotation-only policies still name a steward and a link.
    """
    out: dict[str, Any] = {}
    for key in ("title", "description", "authors", "organizations", "related_resources"):
        if key in fields:
            value = fields[key]
            out[key] = value.strip() if isinstance(value, str) else value
    custom = fields.get("custom")
    if isinstance(custom, Mapping):
        out.update({str(k): v for k, v in custom.items()})
    authors = fields.get("authors")
    if "owner" not in out and isinstance(authors, list) and authors:
        first = authors[0]
        if isinstance(first, Mapping):
            first = first.get("email") or first.get("name")
        if first:
            out["owner"] = str(first)
    resources = fields.get("related_resources")
    if "documentation" not in out and isinstance(resources, list) and resources:
        first = resources[0]
        ref = first.get("ref") if isinstance(first, Mapping) else first
        if ref:
            out["documentation"] = str(ref)
    # YAML gives dates and the like; metadata travels as JSON (decisions, the OPA bundle).
    normalized: dict[str, Any] = json.loads(json.dumps(out, default=str))
    return normalized


def package_metadata(package: str, annotations: Mapping[str, tuple[Annotation, ...]]
                     ) -> dict[str, Any]:
    """Metadata from annotations for ``package``: ancestors' ``subpackages`` blocks first
    (outermost first), then the package's own ``package``/``subpackages`` blocks.

    Args:
        package: e.g. ``governance.domains.marketing``.
        annotations: package name -> the annotations of its files.
    """
    parts = package.split(".")
    out: dict[str, Any] = {}
    for n in range(1, len(parts)):
        for a in annotations.get(".".join(parts[:n]), ()):
            if a.scope == "subpackages":
                out.update(metadata_from(a.fields))
    for a in annotations.get(package, ()):
        if a.scope in ("package", "subpackages"):
            out.update(metadata_from(a.fields))
    return out
