"""Reading a test's audit trail back, for tests that check what was recorded."""

from __future__ import annotations

from pathlib import Path

from lacuna.audit import AuditStore


def methods(folder: Path) -> list[tuple[str, bool]]:
    """(method, allowed) of every audit record in ``folder/audit.db``, oldest first."""
    store = AuditStore(f"sqlite:///{folder / 'audit.db'}")
    try:
        records = sorted(store.list(limit=None), key=lambda r: r.timestamp)
        return [((r.data.get("how") or {}).get("method", ""), r.allowed) for r in records]
    finally:
        store.close()
