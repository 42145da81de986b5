"""Reading a test's audit trail back, for tests that check what was recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def denial_body(i: int, when: str, *, tier: str | None = None) -> dict[str, Any]:
    """The smallest decision body the audit store appends (``AuditStore._append_all``): a
    denial of an export of ``/lake/a`` to ``/d`` at ``when`` (the column is written as it is),
    record id ``i``; for tests that place records at chosen times."""
    return {"id": f"{i:032x}", "seq": 0,
            "who": {"user_id": "u", "role": "r", "session": "t"},
            "what": {"action": "export", "sources": ["/lake/a"], "destination": "/d",
                     "tier": tier, "columns": {}},
            "when": when,
            "decision": {"allowed": False, "policy_id": "P", "policies": [],
                         "engine_error": None},
            "why": {"exception_id": None}}
