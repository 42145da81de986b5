"""Time-ordered ids (lacuna.model.ordered_id): UUIDv7 as 32 hex digits, for the records whose
tables index them (audit records, operations, decision-log decisions)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from lacuna.audit import AuditStore
from lacuna.model import new_id, ordered_id
from lacuna.policy.decision_log import DecisionEvent, to_record


def test_an_ordered_id_is_a_version_7_uuid_of_now() -> None:
    before = time.time_ns() // 1_000_000
    value = ordered_id()
    after = time.time_ns() // 1_000_000
    assert len(value) == 32
    assert value == value.lower()
    parsed = uuid.UUID(hex=value)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after  # the first 48 bits: Unix milliseconds


def test_ordered_ids_sort_by_time_and_stay_unguessable() -> None:
    first = [ordered_id() for _ in range(200)]
    time.sleep(0.002)
    later = [ordered_id() for _ in range(200)]
    assert max(first) < min(later)  # a later millisecond sorts after
    assert len(set(first + later)) == 400
    # within one millisecond the 74 random bits differ: no counter an attacker could step
    randoms = {int(v, 16) & ((1 << 62) - 1) for v in first}
    assert len(randoms) == 200
    assert uuid.UUID(hex=new_id()).version == 4  # request ids and tokens stay random


def test_audit_records_and_operations_get_ordered_ids(store: AuditStore, mk: Any) -> None:
    op = mk.op()
    assert uuid.UUID(hex=op.id).version == 7
    recs = [store.record(mk.decision(op), op, session="s")
            for _ in range(3)]
    assert all(uuid.UUID(hex=r.id).version == 7 for r in recs)
    assert len({r.id for r in recs}) == 3
    assert store.verify().ok


def test_decision_log_records_get_ordered_ids(mk: Any) -> None:
    op = mk.op()
    event = DecisionEvent(mk.decision(op), {}, "lacuna/decision/result", time.time_ns(), 1000)
    assert uuid.UUID(hex=to_record(event)["decision_id"]).version == 7
    given = DecisionEvent(mk.decision(op), {}, "p", time.time_ns(), 1,
                          decision_id="abc")
    assert to_record(given)["decision_id"] == "abc"  # a server's own id is kept
