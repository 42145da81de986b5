"""A second hash-chained, signed table: the decision log (``lacuna_decision_log``).

The decision log is written in batches off the hot path (:mod:`lacuna.policy.log_sinks`). Each
batch, in one ``BEGIN IMMEDIATE`` transaction, reads the chain's head row, gives every record
the next ``seq``, ``hash = sha256(prev_hash + body)`` and a signature over
``lacuna-decision_log:<seq>:<hash>`` (the same key scheme as the audit trail), and moves the
head. After the commit a signed checkpoint goes to ``<database>.decision_log.checkpoint``.
:func:`verify_ledger` checks it all as :mod:`lacuna.audit.verify` does for the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select, update

from lacuna.audit.checkpoint import Checkpoint, CheckpointFile, read_checkpoint_file
from lacuna.audit.record import GENESIS_HASH, VerifyReport, chain_hash, iso, link_payload
from lacuna.audit.verify import check_signature
from lacuna.model import utcnow
from lacuna.signing import Keyring

CHAIN = "decision_log"
CHAIN_COLUMNS = ("seq", "prev_hash", "hash", "signature")


def chain_columns() -> list[Column[Any]]:
    """The columns a chained table adds to its own."""
    return [Column("seq", Integer, unique=True), Column("prev_hash", String(64)),
            Column("hash", String(64)), Column("signature", String(128))]


def head_table(metadata: MetaData, name: str) -> Table:
    return Table(name, metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                 Column("seq", Integer, nullable=False), Column("hash", String(64), nullable=False))


def checkpoint_path(db: Path | None) -> Path | None:
    return None if db is None else Path(f"{db}.{CHAIN}.checkpoint")


def append_chained(conn: Connection, table: Table, heads: Table,
                   rows: Sequence[Mapping[str, Any]], keyring: Keyring) -> tuple[int, str]:
    """Insert ``rows`` (each with its ``body`` text) chained after the head, inside the caller's
    write transaction; returns the new head ``(seq, hash)``."""
    top = conn.execute(select(heads.c.seq, heads.c.hash).where(heads.c.id == 1)
                       .with_for_update()).first()
    if top is None:
        last = conn.execute(select(table.c.seq, table.c.hash).where(table.c.seq.is_not(None))
                            .order_by(table.c.seq.desc()).limit(1)).first()
        seq, prev = (0, GENESIS_HASH) if last is None else (last.seq, last.hash)
        conn.execute(insert(heads).values(id=1, seq=seq, hash=prev))
    else:
        seq, prev = top.seq, top.hash
    chained = []
    for row in rows:
        seq += 1
        digest = chain_hash(prev, row["body"])
        chained.append({**row, "seq": seq, "prev_hash": prev, "hash": digest,
                        "signature": keyring.sign(link_payload(CHAIN, seq, digest))})
        prev = digest
    conn.execute(insert(table), chained)
    conn.execute(update(heads).where(heads.c.id == 1).values(seq=seq, hash=prev))
    return seq, prev


def write_checkpoint(path: Path | None, seq: int, digest: str, keyring: Keyring) -> None:
    if path is None:
        return
    cp = CheckpointFile(path, chain=CHAIN)
    try:
        cp.advance(Checkpoint(chain=CHAIN, seq=seq, hash=digest, time=iso(utcnow()))
                   .signed(keyring))
    finally:
        cp.close()


def verify_ledger(conn: Connection, table: Table, heads: Table, keyring: Keyring,
                  checkpoint: Path | None,
                  read: tuple[bool, Checkpoint | None] | None = None) -> VerifyReport:
    """Recompute the decision log's chain, signatures, head and checkpoint.

    ``read`` is the checkpoint as read before ``conn``'s snapshot began (``(exists,
    checkpoint)``); read here, after the snapshot, a concurrent writer's checkpoint can be
    ahead of the records the snapshot shows, which looks like deleted records."""
    unchained = conn.execute(select(table.c.decision_id).where(table.c.seq.is_(None))
                             .limit(1)).first()
    if unchained is not None:
        return VerifyReport(ok=False, checked=0, problem=(
            f"decision-log record {unchained.decision_id} is not chained: it was inserted "
            "outside Lacuna (or written before the decision log was chained)."))
    seq, prev, checked = 1, GENESIS_HASH, 0
    rows = conn.execute(select(table.c.seq, table.c.body, table.c.prev_hash, table.c.hash,
                               table.c.signature).order_by(table.c.seq))
    for row in rows:
        problem = _check(row, seq, prev, keyring)
        if problem is not None:
            return VerifyReport(ok=False, checked=checked, first_bad=seq,
                                problem=problem, head=prev)
        seq, prev, checked = seq + 1, row.hash, checked + 1
    top = conn.execute(select(heads.c.seq, heads.c.hash).where(heads.c.id == 1)).first()
    if (top is None and checked) or (top is not None and (top.seq, top.hash) != (checked, prev)):
        return VerifyReport(ok=False, checked=checked, first_bad=checked + 1, head=prev, problem=(
            "the decision log's head row does not match its last record: the newest records "
            "were deleted or the head was edited."))
    if checkpoint is None:
        return VerifyReport(ok=True, checked=checked, head=prev)
    exists, cp = read_checkpoint_file(checkpoint) if read is None else read
    if not exists:
        if checked == 0:
            return VerifyReport(ok=True, checked=0, head=prev)
        return VerifyReport(ok=False, checked=checked, head=prev, problem=(
            f"the decision-log checkpoint {checkpoint} is missing beside {checked} records: it "
            "was deleted."))
    if cp is None or not cp.valid(keyring):
        return VerifyReport(ok=False, checked=checked, head=prev, problem=(
            f"the decision-log checkpoint {checkpoint} is not signed by this installation's "
            "key: it was forged or edited."))
    if cp.seq > checked:
        return VerifyReport(ok=False, checked=checked, first_bad=checked + 1, head=prev, problem=(
            f"the decision log ends at #{checked} but its checkpoint of {cp.time} records "
            f"#{cp.seq}: records were deleted."))
    at = conn.execute(select(table.c.hash).where(table.c.seq == cp.seq)).first()
    if cp.seq and (at is None or at.hash != cp.hash):
        return VerifyReport(ok=False, checked=checked, first_bad=cp.seq, head=prev, problem=(
            f"decision-log record #{cp.seq} is not the one its checkpoint names: the log was "
            "rebuilt or forked."))
    return VerifyReport(ok=True, checked=checked, head=prev,
                        checkpoint=f"checkpoint #{cp.seq} of {cp.time} in {checkpoint}")


def _check(row: Any, seq: int, prev: str, keyring: Keyring) -> str | None:
    if row.seq != seq:
        return (f"decision-log record #{seq} is missing (the sequence jumps to #{row.seq}): "
                "records were deleted.")
    if row.prev_hash != prev:
        return (f"decision-log record #{seq} does not link to #{seq - 1}: #{seq - 1} was "
                "rewritten or #{seq} forged.")
    if chain_hash(row.prev_hash, row.body) != row.hash:
        return f"decision-log record #{seq} was modified after it was written."
    problem = check_signature(keyring, CHAIN, seq, row.hash, row.signature)
    return None if problem is None else "decision-log " + problem
