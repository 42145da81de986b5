"""Searching a test's stores for strings that must never be recorded (docs/pandas.md, "the
header"): every file under a folder but the data files, once Lacuna has flushed them; and the
ordinary headers no writer may take for values (:data:`HEADERS`)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import lacuna

#: addresses the label tests make column labels, and what records call those columns
EMAILS = ["ana@example.org", "bo@example.com", "cy@example.net", "di@example.io"]
POSITIONS = ["(column 1)", "(column 2)", "(column 3)", "(column 4)"]
_POSITION = re.compile(r"\(column (\d+)\)")

# Real headers that hold no values: words that are also names (Jordan, Chad, June), a pivot by
# sex, numbered periods. Every writer must write them as it did (no ``(column labels)``, no
# label named by position).
HEADERS = {
    "ordinary": ["customer_id", "email", "region", "amount", "signup_date"],
    "countries": ["France", "Jordan", "Chad", "Georgia", "Italy", "Peru", "Kenya", "Japan"],
    "months": ["January", "February", "March", "April", "May", "June", "July", "August"],
    "sexes": ["ward", "F", "M"],
    "numbered": ["q1_2024", "q2_2024", "q3_2024", "q4_2024", "n"],
}


def flushed() -> None:
    """Lacuna disabled: its decision log and OpenLineage events are flushed by ``disable``."""
    lacuna.disable()


def leaks(root: Path, secrets: Iterable[str], *data: Path) -> list[str]:
    """``file: secret`` for each file under ``root`` (the data files ``data`` aside) that
    holds one of ``secrets``: the audit trail, decision log and lineage store (SQLite and its
    WAL), OpenLineage events, sidecars, anything else Lacuna keeps there."""
    flushed()
    skip = {p.resolve() for p in data}
    wanted = [s.encode() for s in secrets]
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.resolve() in skip:
            continue
        content = path.read_bytes()
        found += [f"{path.relative_to(root)}: {s.decode()}" for s in wanted if s in content]
    return found


def by_position(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are a column's position (``(column N)``), by N."""
    return sorted((n for n in names if _POSITION.fullmatch(n)), key=lambda n: int(n[8:-1]))


def lines_with(records: Iterable[logging.LogRecord], secrets: Iterable[str] = EMAILS) -> list[str]:
    """The log lines (``caplog.records``) that hold one of ``secrets``."""
    wanted = list(secrets)
    return [r.getMessage() for r in records if any(s in r.getMessage() for s in wanted)]


def decision_log(root: Path) -> list[str]:
    """The decision log's records (``lacuna_decision_log`` in ``root/audit.db``) as JSON text,
    once Lacuna is disabled (flushed)."""
    from lacuna.policy.log_sinks import SqlDecisionLog

    flushed()
    sink = SqlDecisionLog(f"sqlite:///{root / 'audit.db'}")
    try:
        return [json.dumps(r, default=str) for r in sink.records(limit=100)]
    finally:
        sink.close()
