"""File-path evidence: folders like ``/pii/`` or ``/payroll/`` set a table-level floor.

A rule's pattern is matched on path *segments*, case-insensitively, never on substrings:
``/data/pii/x.csv`` is under ``/pii/``; ``/data/pipeline/x.csv`` is not. Each pattern segment is
a glob (``*``, ``?``, ``[...]``) for one path segment; ``**`` spans any number of segments. A
pattern is found anywhere in the path (``/pii/`` matches ``s3://lake/raw/pii/2024/x.parquet``).
A trailing ``/`` means "a folder": ``/pii/`` does not match a file named ``pii``; ``/pii/*``
matches the files directly inside a ``pii`` folder; ``*.secret.csv`` matches a file name.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from functools import lru_cache

from lacuna.classify import terms
from lacuna.config import ClassificationConfig, PathRule
from lacuna.model import FINANCIAL, GDPR, PHI, PII, Tier, unique

HR = "HR"
CUSTOMER_DATA = "CUSTOMER_DATA"  # the seed's policies key on this tag

BUILTIN_PATH_RULES: tuple[PathRule, ...] = (
    PathRule(pattern="/pii/", tier=Tier.PROPRIETARY, tags=(PII,)),
    PathRule(pattern="/gdpr/", tier=Tier.PROPRIETARY, tags=(PII, GDPR)),
    PathRule(pattern="/customer/", tier=Tier.PROPRIETARY, tags=(CUSTOMER_DATA,)),
    PathRule(pattern="/customers/", tier=Tier.PROPRIETARY, tags=(CUSTOMER_DATA,)),
    PathRule(pattern="/patient/", tier=Tier.PROPRIETARY, tags=(PHI,)),
    PathRule(pattern="/patients/", tier=Tier.PROPRIETARY, tags=(PHI,)),
    PathRule(pattern="/phi/", tier=Tier.PROPRIETARY, tags=(PHI,)),
    PathRule(pattern="/medical/", tier=Tier.PROPRIETARY, tags=(PHI,)),
    PathRule(pattern="/hr/", tier=Tier.PROPRIETARY, tags=(HR,)),
    PathRule(pattern="/employees/", tier=Tier.PROPRIETARY, tags=(HR,)),
    PathRule(pattern="/payroll/", tier=Tier.PROPRIETARY, tags=(HR, FINANCIAL)),
    PathRule(pattern="/finance/", tier=Tier.INTERNAL, tags=(FINANCIAL,)),
    PathRule(pattern="/financial/", tier=Tier.INTERNAL, tags=(FINANCIAL,)),
    PathRule(pattern="/confidential/", tier=Tier.PROPRIETARY),
    PathRule(pattern="/restricted/", tier=Tier.PROPRIETARY),
    PathRule(pattern="/secret/", tier=Tier.PROPRIETARY),
    PathRule(pattern="/internal/", tier=Tier.INTERNAL),
)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def path_segments(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], bool]:
    """Lower-case segments of a path or URI, and whether the last one is a file name.

    Example:
        >>> path_segments("s3://Lake/PII/x.parquet")
        (('lake', 'pii', 'x.parquet'), True)
    """
    text = _SCHEME.sub("", os.fspath(path)).replace("\\", "/")
    segments = tuple(s.lower() for s in text.split("/") if s not in ("", "."))
    return segments, not text.endswith("/") and bool(segments)


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> tuple[tuple[str, ...], bool]:
    folder = pattern.endswith("/")
    segments = tuple(s.lower() for s in pattern.replace("\\", "/").split("/") if s)
    return segments, folder


def rule_matches(pattern: str, path: str | os.PathLike[str]) -> bool:
    """Whether a path-rule pattern matches a path (see the module docstring).

    Example:
        >>> rule_matches("/pii/", "/data/pii/x.csv"), rule_matches("/pii/", "/data/pipeline/x.csv")
        (True, False)
    """
    want, folder = _compile(pattern)
    have, has_file = path_segments(path)
    if folder and has_file:
        have = have[:-1]
    if not want:
        return False
    return any(_match_at(want, have[start:]) for start in range(len(have)))


def _match_at(want: tuple[str, ...], have: tuple[str, ...]) -> bool:
    """Whether ``want`` matches a prefix of ``have``, ``**`` spanning any number of segments."""
    if not want:
        return True
    head, rest = want[0], want[1:]
    if head == "**":
        return any(_match_at(rest, have[i:]) for i in range(len(have) + 1))
    return bool(have) and fnmatchcase(have[0], head) and _match_at(rest, have[1:])


def classify_path(
    path: str | os.PathLike[str], config: ClassificationConfig | None = None
) -> tuple[Tier, tuple[str, ...], tuple[str, ...]]:
    """The table-level floor, tags and reasons implied by a file path.

    Built-in rules (``/pii/``, ``/customers/``, ``/patients/``, ``/hr/``, ``/payroll/``,
    ``/finance/``, ...) come first, then ``config.path_rules``, then ``config.sensitive_terms``
    found in the path (as whole tokens). The floor is the highest tier of all that match; the
    tags are their union.

    Args:
        path: a file path or URI.
        config: supplies ``path_rules`` and ``sensitive_terms``; ``None``: built-in rules only.

    Returns:
        ``(floor, tags, reasoning)``; ``(Tier.PUBLIC, (), ())`` when no rule matches.

    Example:
        >>> classify_path("/data/pii/users.csv")
        (<Tier.PROPRIETARY: 'PROPRIETARY'>, ('PII',), ("PROPRIETARY floor: path '/data/pii/users.csv' matches '/pii/' (built-in rule)",))
    """  # noqa: E501
    rules = [(r, "built-in rule") for r in BUILTIN_PATH_RULES]
    rules += [(r, "classification.path_rules") for r in (config.path_rules if config else ())]
    floor, tags, reasons = Tier.PUBLIC, list[str](), list[str]()
    shown = os.fspath(path)
    for rule, origin in rules:
        if rule_matches(rule.pattern, path):
            floor = max(floor, rule.tier)
            tags.extend(rule.tags)
            reasons.append(f"{rule.tier.value} floor: path {shown!r} matches "
                           f"{rule.pattern!r} ({origin})")
    if config is not None and config.sensitive_terms:
        for hit in terms.in_path(path, terms.compile_terms(config.sensitive_terms)):
            floor = max(floor, hit.term.term.tier)
            tags.extend(hit.term.term.tags)
            reasons.append(hit.reason())
    return floor, unique(t.upper() for t in tags), tuple(reasons)
