"""Time-ordered ids (lacuna.model.ordered_id): UUIDv7 as 32 hex digits, for the records whose
tables index them (audit records, operations, decision-log decisions)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from lacuna.audit import AuditStore
from lacuna.model import new_id, ordered_id, ordered_ids
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


def test_ids_made_together_are_ordered_ids_too() -> None:
    """``ordered_ids(n)`` (a decision-log batch's): the same layout, one clock read for all,
    every random bit in use (none stuck), no two alike."""
    earlier = ordered_id()
    time.sleep(0.002)
    before = time.time_ns() // 1_000_000
    batch = ordered_ids(2_000)
    after = time.time_ns() // 1_000_000
    assert len(set(batch)) == 2_000
    for value in batch:
        assert len(value) == 32
        assert value == value.lower()
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= after
        assert value > earlier
    # the 74 random bits (12 after the version, 62 after the variant) each take both values
    rand_a = [(int(v, 16) >> 64) & 0xFFF for v in batch]
    rand_b = [int(v, 16) & ((1 << 62) - 1) for v in batch]
    for bits, width in ((rand_a, 12), (rand_b, 62)):
        ones = [sum(b >> i & 1 for b in bits) for i in range(width)]
        assert all(600 < n < 1_400 for n in ones), ones
    assert ordered_ids(0) == []
