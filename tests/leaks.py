"""Searching a test's stores for strings that must never be recorded (docs/pandas.md, "the
header"): every file under a folder but the data files, once Lacuna has flushed them; and the
ordinary headers no writer may take for values (:data:`HEADERS`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import lacuna

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
