"""A second hash-chained, signed table: the decision log (``lacuna_decision_log``).

The decision log is written in batches off the hot path (:mod:`lacuna.policy.log_sinks`). Each
batch, in one ``BEGIN IMMEDIATE`` transaction, reads the chain's head row, gives every record
the next ``seq``, ``hash = sha256(prev_hash + body)`` and a signature over
``lacuna-decision_log:<seq>:<hash>`` (the same key scheme as the audit trail), and moves the
head. After the commit a signed checkpoint, naming the state database's id
(:mod:`lacuna.state.database_id`), goes to ``<database>.decision_log.checkpoint`` and, when
``audit.checkpoint_log`` is set, to that external log too (chain ``decision_log``).
:func:`verify_ledger` checks it all as :mod:`lacuna.audit.verify` does for the audit trail.

Two ways to append, the same rows, chain and head: :func:`append_chained` through SQLAlchemy
Core (any database; PostgreSQL), and :func:`append_chained_sqlite` on the raw ``sqlite3``
connection with prepared statements (one multi-row ``INSERT`` per batch), as the audit trail's
appends do (:mod:`lacuna.audit.store`): Core builds and processes the parameters of every row
(``construct_params``, compile-cache lookups), which cost the decision log's writer thread
more than SQLite's own insert of the row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import OperationalError

from lacuna.audit.checkpoint import (
    Checkpoint,
    CheckpointFile,
    CheckpointLog,
    read_checkpoint_file,
)
from lacuna.audit.record import GENESIS_HASH, VerifyReport, chain_hash, iso, link_payload
from lacuna.audit.schema import insert_rows
from lacuna.audit.verify import (
    check_signature,
    describe,
    lenient_text,
    not_text,
    other_chain,
    other_database,
    pick,
    stored_boolean,
    undecodable,
)
from lacuna.model import utcnow
from lacuna.signing import Keyring
from lacuna.state import database_id

CHAIN = "decision_log"
CHAIN_COLUMNS = ("seq", "prev_hash", "hash", "signature")

#: The columns a row copies from its hashed body, by name, as the writer derives them (None:
#: the body is not a record): e.g. :func:`lacuna.policy.log_sinks.derived_columns`.
Derived = Callable[[str], Mapping[str, Any] | None]


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
    if not rows:
        return seq, prev
    links = chain_links([row["body"] for row in rows], seq, prev, keyring)
    conn.execute(insert(table), [
        {**row, "seq": s, "prev_hash": p, "hash": h, "signature": sig}
        for row, (s, p, h, sig) in zip(rows, links, strict=True)])
    seq, _, prev, _ = links[-1]
    conn.execute(update(heads).where(heads.c.id == 1).values(seq=seq, hash=prev))
    return seq, prev


def chain_links(bodies: Sequence[str], seq: int, prev: str, keyring: Keyring
                ) -> list[tuple[int, str, str, str]]:
    """``(seq, prev_hash, hash, signature)`` of each body chained after the head ``(seq,
    prev)``: the one place both append paths link their rows."""
    links = []
    sign = keyring.sign
    for body in bodies:
        seq += 1
        digest = chain_hash(prev, body)
        links.append((seq, prev, digest, sign(link_payload(CHAIN, seq, digest))))
        prev = digest
    return links


@dataclass(frozen=True, slots=True)
class SqliteStatements:
    """The prepared SQL of :func:`append_chained_sqlite` for one chained table and its head
    (built once per sink by :func:`sqlite_statements`). A row is a tuple of the table's own
    columns in ``columns`` order; the chain's four columns follow them."""

    columns: tuple[str, ...]
    body: int  # the index of the body in a row
    head: str
    last: str
    new_head: str
    into: str  # "table (columns...)" for schema.insert_rows
    width: int
    move_head: str


def sqlite_statements(table: Table, heads: Table) -> SqliteStatements:
    own = tuple(c.name for c in table.columns if c.name not in CHAIN_COLUMNS)
    names = ", ".join((*own, *CHAIN_COLUMNS))
    return SqliteStatements(
        columns=own, body=own.index("body"),
        head=f"SELECT seq, hash FROM {heads.name} WHERE id = 1",
        last=(f"SELECT seq, hash FROM {table.name} WHERE seq IS NOT NULL "
              "ORDER BY seq DESC LIMIT 1"),
        new_head=f"INSERT INTO {heads.name} (id, seq, hash) VALUES (1, ?, ?)",
        into=f"{table.name} ({names})", width=len(own) + len(CHAIN_COLUMNS),
        move_head=f"UPDATE {heads.name} SET seq = ?, hash = ? WHERE id = 1")


@dataclass(frozen=True, slots=True)
class Linked:
    """A batch's links computed before its write transaction, after the head ``(seq, hash)``
    read then (:func:`link_ahead`)."""

    head: tuple[int, str]
    links: list[tuple[int, str, str, str]]


def link_ahead(conn: sqlite3.Connection, sql: SqliteStatements,
               rows: Sequence[tuple[Any, ...]], keyring: Keyring) -> Linked | None:
    """Hash and sign ``rows`` after the head as it is now, outside any write transaction, so
    that the writer holds the write lock (and the writers' turn) only for the SQL:
    :func:`append_chained_sqlite` uses them when the head has not moved by the time it holds
    the lock, and links the rows again there when it has. ``None`` without a head row yet."""
    top = conn.execute(sql.head).fetchone()
    if top is None or not rows:
        return None
    seq, prev = top
    return Linked(head=(seq, prev),
                  links=chain_links([row[sql.body] for row in rows], seq, prev, keyring))


def append_chained_sqlite(conn: sqlite3.Connection, sql: SqliteStatements,
                          rows: Sequence[tuple[Any, ...]], keyring: Keyring,
                          ahead: Linked | None = None) -> tuple[int, str]:
    """:func:`append_chained` on a raw ``sqlite3`` connection, inside the caller's ``BEGIN
    IMMEDIATE`` transaction: the same rows, chain and head, one ``INSERT`` for the batch
    (:func:`~lacuna.audit.schema.insert_rows`). ``ahead``: the rows linked before the
    transaction (:func:`link_ahead`), used when the head is still the one they were linked
    after. ``rows`` are tuples in ``sql.columns`` order. Returns the new head ``(seq, hash)``."""
    top = conn.execute(sql.head).fetchone()
    if top is None:
        last = conn.execute(sql.last).fetchone()
        seq, prev = (0, GENESIS_HASH) if last is None else (last[0], last[1])
        conn.execute(sql.new_head, (seq, prev))
    else:
        seq, prev = top
    if not rows:
        return seq, prev
    if ahead is not None and ahead.head == (seq, prev) and len(ahead.links) == len(rows):
        links = ahead.links
    else:  # another writer moved the head since (or nothing was linked ahead)
        links = chain_links([row[sql.body] for row in rows], seq, prev, keyring)
    insert_rows(conn, sql.into, sql.width,
                [(*row, *link) for row, link in zip(rows, links, strict=True)])
    seq, _, prev, _ = links[-1]
    conn.execute(sql.move_head, (seq, prev))
    return seq, prev


def checkpoint_file(path: Path | None) -> CheckpointFile | None:
    """The decision log's checkpoint file at ``path`` (``None``: not an SQLite file, no
    checkpoint), for a writer to keep open: it then reads and parses its slot only when
    another writer moved it, and opens it once, not per batch."""
    return None if path is None else CheckpointFile(path, chain=CHAIN)


def write_checkpoint(file: CheckpointFile | None, seq: int, digest: str, keyring: Keyring,
                     *, database: str | None = None, log: CheckpointLog | None = None) -> None:
    """Sign the committed head ``(seq, digest)`` of the state database with id ``database``
    and store it in ``file`` (only ever forward) and, when configured, append it to the
    external checkpoint log ``log`` (``audit.checkpoint_log``, shared with the audit trail's
    checkpoints and told apart from them by their chain)."""
    if file is None and log is None:
        return
    cp = Checkpoint(chain=CHAIN, seq=seq, hash=digest, time=iso(utcnow()),
                    database=database).signed(keyring)
    if file is not None:
        file.advance(cp)
    if log is not None:
        log.append(cp)


def verify_ledger(conn: Connection, table: Table, heads: Table, keyring: Keyring,
                  checkpoint: Path | None,
                  read: tuple[bool, Checkpoint | None] | None = None, *,
                  log: tuple[Path, tuple[Checkpoint, ...]] | None = None,
                  columns: Derived | None = None) -> VerifyReport:
    """Recompute the decision log's chain, signatures, head and checkpoints.

    ``read`` is the checkpoint as read before ``conn``'s snapshot began (``(exists,
    checkpoint)``); read here, after the snapshot, a concurrent writer's checkpoint can be
    ahead of the records the snapshot shows, which looks like deleted records. ``log`` is the
    external checkpoint log (``audit.checkpoint_log``) and its validly signed decision-log
    checkpoints, read before the snapshot too. Every checkpoint must name this state
    database's id (:mod:`lacuna.state.database_id`) or none (written before checkpoints named
    their database). ``columns`` derives a row's other columns from its body: each must
    equal its body's (an edited ``operation_id`` hides the decision from ``lacuna policy log
    --operation``), and a boolean column must hold a boolean as stored."""
    args = (conn, table, heads, keyring, checkpoint, read)
    try:
        return _verify_ledger(*args, log=log, columns=columns)
    except OperationalError as exc:
        if not undecodable(exc):
            raise
    with lenient_text(conn):  # verified again: a value not UTF-8 is an edit, now named
        return _verify_ledger(*args, log=log, columns=columns)


def _verify_ledger(conn: Connection, table: Table, heads: Table, keyring: Keyring,
                   checkpoint: Path | None,
                   read: tuple[bool, Checkpoint | None] | None = None, *,
                   log: tuple[Path, tuple[Checkpoint, ...]] | None = None,
                   columns: Derived | None = None) -> VerifyReport:
    unchained = conn.execute(select(table.c.decision_id).where(table.c.seq.is_(None))
                             .limit(1)).first()
    if unchained is not None:
        return VerifyReport(ok=False, checked=0, problem=(
            f"decision-log record {unchained.decision_id} is not chained: it was inserted "
            "outside Lacuna (or written before the decision log was chained)."))
    seq, prev, checked = 1, GENESIS_HASH, 0
    rows = conn.execute(select(*table.c, *(stored_boolean(c) for c in table.c
                                           if isinstance(c.type, Boolean)))
                        .order_by(table.c.seq))
    for row in rows:
        problem = _check(row, seq, prev, keyring, columns)
        if problem is not None:
            return VerifyReport(ok=False, checked=checked, first_bad=seq,
                                problem=problem, head=prev)
        seq, prev, checked = seq + 1, row.hash, checked + 1
    top = conn.execute(select(heads.c.seq, heads.c.hash).where(heads.c.id == 1)).first()
    if (top is None and checked) or (top is not None and (top.seq, top.hash) != (checked, prev)):
        return VerifyReport(ok=False, checked=checked, first_bad=checked + 1, head=prev, problem=(
            "the decision log's head row does not match its last record: the newest records "
            "were deleted or the head was edited."))
    database = database_id.read(conn)
    seen: list[str] = []
    if checkpoint is not None:
        exists, cp = read_checkpoint_file(checkpoint) if read is None else read
        if not exists:
            if checked:
                return VerifyReport(ok=False, checked=checked, head=prev, problem=(
                    f"the decision-log checkpoint {checkpoint} is missing beside {checked} "
                    "records: it was deleted."))
        elif cp is None or not cp.valid(keyring):
            return VerifyReport(ok=False, checked=checked, head=prev, problem=(
                f"the decision-log checkpoint {checkpoint} is not signed by this "
                "installation's key: it was forged or edited."))
        else:
            mismatch = _against(conn, table, cp, checkpoint, checked, database)
            if mismatch is not None:
                return VerifyReport(ok=False, checked=checked, head=prev,
                                    first_bad=mismatch[0], problem=mismatch[1])
            seen.append(describe(cp, checkpoint))
    if log is not None:
        where, logged = log
        mine, foreign = pick(logged, database)
        cp = foreign if foreign is not None else mine
        # None: the log never received a decision-log checkpoint (decisions logged before it
        # was given them), so there is no rollback it could show
        if cp is not None:
            mismatch = _against(conn, table, cp, where, checked, database)
            if mismatch is not None:
                return VerifyReport(ok=False, checked=checked, head=prev,
                                    first_bad=mismatch[0], problem=mismatch[1])
            seen.append(describe(cp, where))
    return VerifyReport(ok=True, checked=checked, head=prev, checkpoint="; ".join(seen))


def _against(conn: Connection, table: Table, cp: Checkpoint, where: object, checked: int,
             database: str | None) -> tuple[int | None, str] | None:
    """Why the decision log of ``checked`` records disagrees with the validly signed
    checkpoint ``cp`` kept at ``where`` (``(first_bad, problem)``), or None."""
    if cp.chain != CHAIN:
        return None, other_chain(where, cp, CHAIN)
    elsewhere = other_database(where, cp, database)
    if elsewhere is not None:
        return None, elsewhere
    if cp.seq > checked:
        return checked + 1, (
            f"the decision log ends at #{checked} but its checkpoint of {cp.time} in {where} "
            f"records #{cp.seq}: records were deleted (truncated, or an older copy restored).")
    at = conn.execute(select(table.c.hash).where(table.c.seq == cp.seq)).first()
    if cp.seq and (at is None or at.hash != cp.hash):
        return cp.seq, (f"decision-log record #{cp.seq} is not the one its checkpoint in "
                        f"{where} names: the log was rebuilt or forked.")
    if not cp.seq and cp.hash != GENESIS_HASH:
        return None, f"the decision-log checkpoint {where} is forged."
    return None


def _check(row: Any, seq: int, prev: str, keyring: Keyring,
           columns: Derived | None = None) -> str | None:
    if row.seq == seq and (wrong := not_text(row, seq, "decision-log record")) is not None:
        return wrong
    if row.seq < seq:  # read in seq order from #1: only a number below 1 comes first
        return (f"a decision-log record numbered #{row.seq} lies outside the chain (which "
                "starts at #1): it was inserted outside Lacuna.")
    if row.seq != seq:
        return (f"decision-log record #{seq} is missing (the sequence jumps to #{row.seq}): "
                "records were deleted.")
    if row.prev_hash != prev:
        return (f"decision-log record #{seq} does not link to #{seq - 1}: #{seq - 1} was "
                f"rewritten or #{seq} forged.")
    if chain_hash(row.prev_hash, row.body) != row.hash:
        return f"decision-log record #{seq} was modified after it was written."
    problem = check_signature(keyring, CHAIN, seq, row.hash, row.signature)
    if problem is not None:
        return "decision-log " + problem
    if columns is None:
        return None
    expected = columns(row.body)
    if expected is None:
        return f"decision-log record #{seq} is not a JSON record: it was forged."
    bad = [name for name, value in expected.items() if getattr(row, name) != value
           or getattr(row, f"{name}_stored", True) is not True]
    if not bad:
        return None
    return (f"decision-log record #{seq}'s column(s) {', '.join(bad)} differ from its hashed "
            "body: they were edited after it was written (a search by operation id or "
            "revision could miss it). The body holds the true values.")
