"""Recompute the hash chain and name the first record that can no longer be trusted.

``first_bad`` means: every record before it is proven intact (its content matches its hash and it
links to the one before it). The checks, in order, for each record ``#n``:

=====================================  ==========================================================
check                                  what a failure means
=====================================  ==========================================================
``seq`` is the previous ``seq + 1``    ``#n`` (and maybe more) was deleted
``prev_hash`` = hash of ``#n-1``       ``#n-1`` was rewritten with a recomputed hash, or ``#n``
                                       was forged or moved; reported as ``#n-1``
``sha256(prev_hash + body)`` = hash    ``#n``'s body was edited after it was written
body is JSON and says ``seq`` = n      ``#n`` was forged or reordered
indexed columns equal the body         ``#n``'s columns (user, action, allowed, ...) were edited
=====================================  ==========================================================

Finally the head row (last ``seq`` and ``hash``, written with every append) must equal the last
record: this catches deleting the newest records and rewriting the last one. A rewrite of the
whole chain *and* the head is invisible to the chain; compare ``VerifyReport.head`` with a copy
kept elsewhere to catch that.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from lacuna.audit.record import GENESIS_HASH, VerifyReport, chain_hash
from lacuna.audit.schema import head, records

BATCH = 2000


def _mismatched_columns(row: Any, body: dict[str, Any]) -> list[str]:
    who, what, decision = body.get("who", {}), body.get("what", {}), body.get("decision", {})
    expected = {
        "id": body.get("id"),
        "timestamp": body.get("when"),
        "user_id": who.get("user_id"),
        "action": what.get("action"),
        "allowed": decision.get("allowed"),
        "policy_id": decision.get("policy_id"),
    }
    return [name for name, value in expected.items() if getattr(row, name) != value]


def _check_row(row: Any, seq: int, prev: str) -> tuple[int, str] | None:
    """``(first_bad, problem)`` for one record, or None when it is intact."""
    if row.seq != seq:
        gap = f"#{seq}" if row.seq == seq + 1 else f"#{seq}–#{row.seq - 1}"
        return seq, (f"record {gap} is missing: the sequence jumps from #{seq - 1} to #{row.seq}. "
                     "Records were deleted from the audit trail.")
    if row.prev_hash != prev:
        if seq == 1:
            return 1, ("record #1 does not start the chain (its prev_hash is not the genesis "
                       "hash): it was forged, or earlier records were removed.")
        return seq - 1, (f"record #{seq} does not link to record #{seq - 1}: #{seq - 1} was "
                         f"rewritten (and its hash recomputed), or #{seq} was forged or moved.")
    if chain_hash(row.prev_hash, row.body) != row.hash:
        return seq, (f"record #{seq} was modified after it was written: its content no longer "
                     "matches its hash.")
    try:
        body = json.loads(row.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return seq, f"record #{seq} is not a JSON object: it was forged."
    if body.get("seq") != seq:
        return seq, (f"record #{seq} says it is #{body.get('seq')}: records were reordered "
                     "or forged.")
    bad = _mismatched_columns(row, body)
    if bad:
        return seq, (f"record #{seq}'s column(s) {', '.join(bad)} differ from its hashed body: "
                     "they were edited after it was written. The body holds the true values.")
    return None


def verify_chain(conn: Connection) -> VerifyReport:
    """Walk the whole chain in ``seq`` order, in batches, inside the caller's transaction."""
    top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    seq, prev, checked = 1, GENESIS_HASH, 0
    while True:
        rows = conn.execute(
            select(records).where(records.c.seq >= seq).order_by(records.c.seq).limit(BATCH)
        ).all()
        for row in rows:
            failure = _check_row(row, seq, prev)
            if failure is not None:
                return VerifyReport(ok=False, checked=checked, first_bad=failure[0],
                                    problem=failure[1], head=prev)
            seq, prev, checked = seq + 1, row.hash, checked + 1
        if len(rows) < BATCH:
            break
    last = seq - 1
    if top is None:
        return VerifyReport(ok=False, checked=checked, first_bad=None, head=prev,
                            problem="the head row of the audit trail is missing: it was deleted. "
                                    "The records themselves are intact.")
    if top.seq > last:
        return VerifyReport(ok=False, checked=checked, first_bad=last + 1, head=prev,
                            problem=(f"the trail ends at #{last} but its head says #{top.seq}: "
                                     f"the newest record(s) #{last + 1}–#{top.seq} were deleted."))
    if top.seq < last:
        return VerifyReport(ok=False, checked=checked, first_bad=top.seq + 1, head=prev,
                            problem=(f"record(s) #{top.seq + 1}–#{last} were added without "
                                     "updating the head: they were written outside Lacuna."))
    if top.hash != prev:
        return VerifyReport(ok=False, checked=checked, first_bad=last or None, head=prev,
                            problem=(f"the last record (#{last}) does not match the head's hash: "
                                     "it was rewritten with a recomputed hash."))
    return VerifyReport(ok=True, checked=checked, head=prev)
