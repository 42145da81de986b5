"""Searching a test's stores for strings that must never be recorded (docs/pandas.md, "the
header"): every file under a folder but the data files, once Lacuna has flushed them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import lacuna


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
