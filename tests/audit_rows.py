"""Reading a test's audit trail back, for tests that check what was recorded."""

from __future__ import annotations

from pathlib import Path

from lacuna.audit import AuditStore


def methods(folder: Path) -> list[tuple[str, bool]]:
    """(method, allowed) of every audit record in ``folder/audit.db``, oldest first, but the
    configuration event a governor records before its first decision (not an operation)."""
    store = AuditStore(f"sqlite:///{folder / 'audit.db'}")
    try:
        records = sorted((r for r in store.list(limit=None) if r.kind != "config"),
                         key=lambda r: r.timestamp)
        return [((r.data.get("how") or {}).get("method", ""), r.allowed) for r in records]
    finally:
        store.close()
