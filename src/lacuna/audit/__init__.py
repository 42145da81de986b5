"""The audit trail: every governed decision, allowed or denied, hash-chained and verifiable.

See :class:`AuditStore` for the API, :mod:`lacuna.audit.record` for the record's body and
:mod:`lacuna.audit.verify` for what ``verify()`` proves.
"""

from __future__ import annotations

from lacuna.audit.record import RECORD_SCHEMA_VERSION, AuditRecord, VerifyReport
from lacuna.audit.store import AuditStore

__all__ = ["RECORD_SCHEMA_VERSION", "AuditRecord", "AuditStore", "VerifyReport"]
