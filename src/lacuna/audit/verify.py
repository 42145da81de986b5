"""Recompute the hash chain and name the first record that can no longer be trusted.

``first_bad`` means: every record before it is proven intact (its content matches its hash and it
links to the one before it). The checks, in order, for each record ``#n``:

=====================================  ==========================================================
check                                  what a failure means
=====================================  ==========================================================
the stored hash link is text           ``#n``'s body or hashes were rewritten outside Lacuna
                                       (e.g. stored as a BLOB)
``seq`` is the previous ``seq + 1``    ``#n`` (and maybe more) was deleted
``prev_hash`` = hash of ``#n-1``       ``#n-1`` was rewritten with a recomputed hash, or ``#n``
                                       was forged or moved; reported as ``#n-1``
``sha256(prev_hash + body)`` = hash    ``#n``'s body was edited after it was written
signature verifies with the keyring    ``#n`` was forged, or the chain re-hashed, by someone
                                       without the signing key (or signed with another key)
body is JSON and says ``seq`` = n      ``#n`` was forged or reordered
indexed columns equal the body         ``#n``'s columns (user, action, allowed, ...) were edited
                                       (``allowed`` must be a stored boolean: another value
                                       that reads as one hides ``#n`` from ``--denied``)
``operation_id`` column = the body's   ``#n``'s operation id column (layout 3) was edited: a
                                       decision-id lookup (``of_operation``) could miss ``#n``
=====================================  ==========================================================

Then the head row (last ``seq`` and ``hash``, written with every append) must equal the last
record, and no record may lie outside the chain (a ``seq`` below 1, which the walk from ``#1``
never reads but ``list`` and ``of_operation`` would show). Finally the trail is compared with
its signed checkpoints, kept outside the database (:mod:`lacuna.audit.checkpoint`): a missing
or unsigned checkpoint, a trail that ends before the checkpoint's ``seq`` (truncated, emptied,
deleted, an older copy restored) or whose record at that ``seq`` has another hash (rebuilt,
forked) fails. What the checks prove depends on who can read the signing key: see
``docs/audit.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Column, Connection, inspect, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import Label

from lacuna.audit.checkpoint import Checkpoint
from lacuna.audit.record import (
    GENESIS_HASH,
    VerifyReport,
    chain_hash,
    column_time,
    indexed_operation_id,
    link_payload,
)
from lacuna.audit.schema import LAYOUT_VERSION, head, records
from lacuna.signing import Keyring, Signer, signature_key_id

BATCH = 2000


def stored_boolean(column: Column[bool]) -> Label[bool]:
    """Whether a boolean column holds a boolean as stored (SQLite: 0 or 1). SQLite keeps
    whatever is written into a ``BOOLEAN`` column (``''``, ``X''``, ``2``, ``'abc'``) and the
    driver reads some of those as the right ``bool``, while ``WHERE allowed = 0`` (``audit
    list --denied``, the metrics' counts) does not match them: such a value is an edit. Read
    beside the column, labelled ``<name>_stored``; PostgreSQL's ``boolean`` holds nothing
    else, so it is always true there."""
    return column.in_([True, False]).label(f"{column.name}_stored")


def not_text(row: Any, seq: int, chain: str = "record") -> str | None:
    """Why record ``#seq``'s hash link is not what Lacuna writes (``body``, ``prev_hash`` and
    ``hash`` as text), or None. A BLOB holding the same bytes is an edit too, and would
    otherwise make the hash check fail with a ``TypeError`` instead of a finding."""
    wrong = [name for name in ("body", "prev_hash", "hash")
             if not isinstance(getattr(row, name), str)]
    if not wrong:
        return None
    return (f"{chain} #{seq}'s {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not "
            "stored as text (Lacuna writes text): the record was rewritten outside Lacuna.")


def _part(body: dict[str, Any], name: str) -> dict[str, Any]:
    """``body[name]`` when it is an object, else ``{}`` (a body forged with a string there
    reads as its columns' values missing, not as an ``AttributeError``)."""
    part = body.get(name)
    return part if isinstance(part, dict) else {}


def _mismatched_columns(row: Any, body: dict[str, Any]) -> list[str]:
    who, what, decision = _part(body, "who"), _part(body, "what"), _part(body, "decision")
    expected = {
        "id": body.get("id"),
        "timestamp": body.get("when"),
        "user_id": who.get("user_id"),
        "action": what.get("action"),
        "allowed": decision.get("allowed"),
        "policy_id": decision.get("policy_id"),
    }
    bad = [name for name, value in expected.items() if getattr(row, name) != value
           and not (name == "timestamp" and same_time(row.timestamp, value))]
    if "allowed" not in bad and getattr(row, "allowed_stored", True) is not True:
        bad.append("allowed")
    return bad


def same_time(column: object, when: object) -> bool:
    """Whether the ``timestamp`` column holds the body's ``when``: as the body spells it (every
    record Lacuna writes, and one appended before the column was normalised: a trail not yet
    migrated by 0016, which a read-only verify must not call edited), or as its instant in UTC
    (:func:`~lacuna.audit.record.column_time`: a body spelled with another offset)."""
    return column == when or (isinstance(column, str) and column == column_time(when))


def check_signature(keyring: Keyring, chain: str, seq: int, digest: str,
                    signature: str | None) -> str | None:
    """Why record ``#seq``'s signature fails, or None when it verifies."""
    if keyring.verify(link_payload(chain, seq, digest), signature):
        return None
    if not signature:
        return (f"record #{seq} carries no signature: it was inserted, or the chain re-hashed, "
                "outside Lacuna.")
    used = signature_key_id(signature)
    mine = keyring.current.key_id
    if used is not None and used != mine:
        return (f"record #{seq} is signed with key {used}, not this installation's key {mine}: "
                "it was forged with another key, or verify runs without the key that signed "
                "the trail (set $LACUNA_SIGNING_KEY or restore $LACUNA_HOME/signing.key).")
    return (f"record #{seq}'s signature does not match its hash: the record was forged, or the "
            "chain rebuilt, without the signing key.")


def _check_row(row: Any, seq: int, prev: str, keyring: Keyring) -> tuple[int, str] | None:
    """``(first_bad, problem)`` for one record, or None when it is intact."""
    if row.seq == seq and (wrong := not_text(row, seq)) is not None:
        return seq, wrong
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
    unsigned = check_signature(keyring, "audit", seq, row.hash, row.signature)
    if unsigned is not None:
        return seq, unsigned
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
    if "operation_id" in row._fields:  # layout 3 (absent from a trail not migrated yet)
        expected = indexed_operation_id(body)
        if row.operation_id != expected:
            return seq, (
                f"record #{seq}'s operation_id column says {row.operation_id!r} but its hashed "
                f"body says {expected!r}: the column was edited after the record was written, "
                "so looking up a decision by its operation id (the feedback page, the "
                "server's decision links) could miss this record or find it under another id. "
                "The body holds the true value; keep the database as evidence.")
    return None


def _intact(row: Any, seq: int, prev: str, signer: Signer) -> bool:
    """Whether record ``#seq`` (a row of :func:`verify_chain`'s columns, in their order) passes
    every check of :func:`_check_row` in the usual case: text columns of the types Lacuna
    writes, signed with the current key, a body ``orjson`` reads. It is :func:`verify_chain`'s
    fast path (a third of the time per record: one tuple unpack instead of a dozen attribute
    reads, ``orjson`` instead of ``json``, no report built): True only when ``_check_row``
    would find nothing; False sends the row to ``_check_row``, which decides and names what is
    wrong (a retired key's signature, a body only ``json`` reads, e.g. a non-UTF-8 file name's
    escape, are intact there)."""
    (row_seq, rid, timestamp, user_id, action, allowed, allowed_stored, policy_id, body,
     prev_hash, digest, signature, *operation_id) = row
    if (row_seq != seq or prev_hash != prev or type(body) is not str
            or type(digest) is not str or type(signature) is not str
            or not signature.isascii()
            or hashlib.sha256((prev + body).encode("utf-8")).hexdigest() != digest
            or not hmac.compare_digest(signature,
                                       signer.sign(link_payload("audit", seq, digest)))):
        return False
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if type(parsed) is not dict:
        return False
    who, what, decision = parsed.get("who"), parsed.get("what"), parsed.get("decision")
    if type(who) is not dict or type(what) is not dict or type(decision) is not dict:
        return False
    body_seq, body_allowed, body_policy = (parsed.get("seq"), decision.get("allowed"),
                                           decision.get("policy_id"))
    # every value compared is of the type Lacuna writes, so orjson's reading of the body
    # (a huge integer as a float) can only send a row to _check_row, never pass it
    if (type(body_seq) is not int or body_seq != seq or type(rid) is not str
            or rid != parsed.get("id") or type(timestamp) is not str
            or not same_time(timestamp, parsed.get("when")) or type(user_id) is not str
            or user_id != who.get("user_id") or type(action) is not str
            or action != what.get("action") or type(allowed) is not bool
            or allowed is not body_allowed or allowed_stored is not True
            or (policy_id != body_policy if type(policy_id) is str
                else policy_id is not None or body_policy is not None)):
        return False
    return not operation_id or operation_id[0] == indexed_operation_id(parsed)


def intact_records(conn: Connection, rows: Sequence[Any], keyring: Keyring) -> list[Any]:
    """Of ``rows`` (records read with every column but ``operation_id``), the ones that pass
    :func:`verify_chain`'s checks of one record: their body matches their hash and is signed,
    says their ``seq``, matches their columns, and they link to the record before them as it
    is stored now. A store that *relies* on a record (a user's creation: :mod:`lacuna.identity`;
    a dismissal signed before dismissals named their store: :mod:`lacuna.lineage.store`) reads
    it through this, so a record forged without the key, or copied in from another trail signed
    with the same key, is not relied on even before ``lacuna audit verify`` runs."""
    wanted = sorted({int(r.seq) - 1 for r in rows if int(r.seq) > 1})
    before: dict[int, str] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        before.update((int(seq), str(digest)) for seq, digest in conn.execute(
            select(records.c.seq, records.c.hash).where(records.c.seq.in_(part))).all())
    out = []
    for row in rows:
        seq = int(row.seq)
        prev = GENESIS_HASH if seq == 1 else before.get(seq - 1)
        if prev is not None and _check_row(row, seq, prev, keyring) is None:
            out.append(row)
    return out


def record_columns() -> list[Any]:
    """The columns :func:`intact_records` needs: every one but ``operation_id``, and whether
    ``allowed`` holds a boolean as stored (:func:`stored_boolean`)."""
    return [*(c for c in records.c if c.name != "operation_id"), stored_boolean(records.c.allowed)]


def _text_or_bytes(raw: bytes) -> str | bytes:
    """SQLite text as ``str``, or as the stored bytes when they are not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _text_escaped(raw: bytes) -> str:
    """SQLite text as ``str``, a byte that is not UTF-8 as a lone surrogate (``\\udcff``, as
    ``os`` decodes a file name's): for showing, where the value is shown escaped."""
    return raw.decode("utf-8", "surrogateescape")


def undecodable(exc: OperationalError) -> bool:
    """Whether SQLite's driver refused a read over a text value that is not UTF-8 ("Could not
    decode to UTF-8"): SQLite keeps whatever bytes are written into a text column."""
    return isinstance(exc.orig, sqlite3.OperationalError) and "decode" in str(exc.orig)


@contextmanager
def lenient_text(conn: Connection, *, shown: bool = False) -> Iterator[None]:
    """Within: ``conn`` (SQLite) reads a text value that is not UTF-8 as its bytes, so a check
    names the record holding it (a hash link not stored as text, a column that differs from
    its body) instead of failing to read the whole table (:func:`undecodable`). ``shown``: as
    text with each such byte a lone surrogate instead, for a reader that shows records
    (``lacuna audit list``, the console): they are shown escaped, and verify names them."""
    raw = conn.connection.dbapi_connection
    if not isinstance(raw, sqlite3.Connection):
        yield
        return
    before = raw.text_factory
    raw.text_factory = _text_escaped if shown else _text_or_bytes
    try:
        yield
    finally:
        raw.text_factory = before


_UTC_LENGTH = len("2026-01-20T14:00:00.000000+00:00")  # iso()'s form


def _utc_column(conn: Connection) -> bool:
    """Whether the trail's ``timestamp`` column holds UTC only: its state database is at
    revision 0016 or later, which rewrote the older records' (a read-only verify of a trail
    no writer has upgraded yet accepts the column as the body spells ``when``)."""
    from lacuna.state.schema import VERSION_TABLE

    if not inspect(conn).has_table(VERSION_TABLE):
        return False
    found = [str(v) for (v,) in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
    return any(v.isdigit() and int(v) >= 16 for v in found)


def verify_chain(conn: Connection, keyring: Keyring) -> VerifyReport:
    """Walk the whole chain in ``seq`` order, in batches, inside the caller's transaction."""
    try:
        return _walk(conn, keyring)
    except OperationalError as exc:
        if not undecodable(exc):
            raise
    with lenient_text(conn):  # walked again (a value not UTF-8 is an edit: now it is named)
        return _walk(conn, keyring)


def _walk(conn: Connection, keyring: Keyring) -> VerifyReport:
    marked = "layout_version" in {c["name"] for c in inspect(conn).get_columns(head.name)}
    top = conn.execute(select(head.c.seq, head.c.hash,
                              *([head.c.layout_version] if marked else []))
                       .where(head.c.id == 1)).first()
    present = {c["name"] for c in inspect(conn).get_columns(records.name)}
    # read in _FAST's order (operation_id last, absent before layout 3)
    c = records.c
    columns = [c.seq, c.id, c.timestamp, c.user_id, c.action, c.allowed,
               stored_boolean(c.allowed), c.policy_id, c.body, c.prev_hash, c.hash, c.signature,
               *([c.operation_id] if "operation_id" in present else [])]
    signer = keyring.current
    utc_column = _utc_column(conn)
    seq, prev, checked = 1, GENESIS_HASH, 0
    while True:
        rows = conn.execute(
            select(*columns).where(records.c.seq >= seq).order_by(records.c.seq).limit(BATCH)
        ).all()
        for row in rows:
            if not _intact(row, seq, prev, signer):
                failure = _check_row(row, seq, prev, keyring)
                if failure is not None:
                    return VerifyReport(ok=False, checked=checked, first_bad=failure[0],
                                        problem=failure[1], head=prev)
            # (the shape is enough: the row passed, so the column is its body's 'when' as
            # spelled or as its instant in UTC, and only another offset's spelling differs)
            if utc_column and (len(row.timestamp) != _UTC_LENGTH
                               or not row.timestamp.endswith("+00:00")):
                return VerifyReport(ok=False, checked=checked, first_bad=seq, head=prev, problem=(
                    f"record #{seq}'s timestamp column holds {row.timestamp!a}, not its "
                    "instant in UTC as this trail keeps it (state revision 0016): it was "
                    "edited after it was written, and `lacuna audit list --since` and the "
                    "metrics would place the record at another time. The body holds the true "
                    "value; keep the database as evidence."))
            seq, prev, checked = seq + 1, row.hash, checked + 1
        if len(rows) < BATCH:
            break
    last = seq - 1
    if top is None:
        return VerifyReport(ok=False, checked=checked, first_bad=None, head=prev,
                            problem="the head row of the audit trail is missing: it was deleted. "
                                    "The records themselves are intact.")
    if type(top.seq) is not int or not isinstance(top.hash, str):
        return VerifyReport(ok=False, checked=checked, first_bad=None, head=prev, problem=(
            f"the head row of the audit trail holds seq {top.seq!r} and hash {top.hash!r}, "
            "not the number and text Lacuna writes: it was edited outside Lacuna. The "
            "records themselves are intact."))
    wrong_layout = _layout_problem(top.layout_version if marked else None, present)
    if wrong_layout is not None:
        return VerifyReport(ok=False, checked=checked, first_bad=None, head=prev,
                            problem=wrong_layout)
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
    stray = conn.execute(select(records.c.seq).where(records.c.seq < 1)
                         .order_by(records.c.seq).limit(1)).first()
    if stray is not None:
        return VerifyReport(ok=False, checked=checked, first_bad=None, head=prev, problem=(
            f"a record numbered #{stray.seq} lies outside the chain (which starts at #1): it "
            "was inserted outside Lacuna, and `lacuna audit list` or a lookup by decision id "
            "would show it as a record."))
    return VerifyReport(ok=True, checked=checked, head=prev)


def _layout_problem(layout: Any, present: set[str]) -> str | None:
    """Why the head row's ``layout_version`` is not what Lacuna writes beside these records'
    columns, or None. Lacuna sets it with the columns it names, in one transaction: 1 (no
    ``signature``), 2 (``signature``), 3 (and ``operation_id``). A higher one than this Lacuna
    knows is a trail a newer Lacuna wrote, or an edit; either way it is not reported intact
    (a writer of this version refuses to open it, and the version that wrote it is the one to
    verify it). Another number, or a value that is not a number, is an edit."""
    found = 1 if "signature" not in present else 3 if "operation_id" in present else 2
    if type(layout) is not int:
        return (f"the head row of the audit trail holds layout_version {layout!r}, not the "
                f"number Lacuna writes (the records' columns are layout {found}): it was edited "
                "outside Lacuna. The records themselves are intact.")
    if layout > LAYOUT_VERSION:
        return (f"the head row says the trail is audit layout {layout}, but this Lacuna reads "
                f"layouts up to {LAYOUT_VERSION} (and the records' columns are layout {found}): "
                "either a newer Lacuna wrote it (verify it with that version: lacuna --version "
                "names yours) or the head row was edited outside Lacuna. It is not verified "
                "as intact.")
    if layout != found:
        return (f"the head row says the trail is audit layout {layout}, but the records' "
                f"columns are layout {found}: Lacuna changes both together, so the head row "
                "was edited outside Lacuna. The records themselves are intact.")
    return None


#: What verify knows of one place checkpoints are kept: a checkpoint file's one checkpoint (None
#: when unreadable), or a checkpoint log's validly signed checkpoints of the chain (a tuple,
#: read before the snapshot; which of them count depends on the database id read in it).
Seen = Checkpoint | tuple[Checkpoint, ...] | None


def pick(logged: tuple[Checkpoint, ...], database: str | None
         ) -> tuple[Checkpoint | None, Checkpoint | None]:
    """``(mine, foreign)`` of a checkpoint log's checkpoints of one chain: the one with the
    highest seq that names ``database`` or no database (written before checkpoints named
    theirs), and the one with the highest seq that names another database."""
    mine: Checkpoint | None = None
    foreign: Checkpoint | None = None
    for cp in logged:
        if cp.database is None or cp.database == database:
            mine = cp if mine is None or cp.seq > mine.seq else mine
        else:
            foreign = cp if foreign is None or cp.seq > foreign.seq else foreign
    return mine, foreign


def other_database(where: object, cp: Checkpoint, database: str | None) -> str | None:
    """Why a validly signed checkpoint does not belong to the database with id ``database``,
    or None when it does (or names no database: written before checkpoints named theirs)."""
    if cp.database is None or cp.database == database:
        return None
    if database is None:
        return (f"the checkpoint {where} (#{cp.seq}) names state database {cp.database}, but "
                "this database has no id (its lacuna_database_id row or table is gone): the id "
                "was deleted, or the database replaced by a copy made before its upgrade.")
    return (f"the checkpoint {where} (#{cp.seq}) names state database {cp.database}, not this "
            f"one ({database}): it was copied from another state database (with its chain, or "
            "over this one's), or this database was replaced by another.")


def describe(cp: Checkpoint, where: object) -> str:
    """A checkpoint the chain matched, for the report; one written before checkpoints named
    their database says so (the next append replaces it)."""
    text = f"checkpoint #{cp.seq} of {cp.time} in {where}"
    if cp.database is None:
        text += (" (written before checkpoints named their database: not tied to this one "
                 "until the next append)")
    return text


def compare_checkpoint(report: VerifyReport, checkpoints: list[tuple[str, bool, Seen]],
                       keyring: Keyring, *, conn: Connection | None, database: str | None,
                       empty: str = "", chain: str = "audit") -> VerifyReport:
    """``report`` failed when the trail disagrees with one of its checkpoints.

    Args:
        report: the chain's report (``checked`` records, all intact when ``ok``).
        checkpoints: ``(where, exists, seen)`` per place: a checkpoint file and its latest
            checkpoint (None: unreadable), or a checkpoint log and its validly signed
            checkpoints of ``chain`` (a tuple).
        keyring: the keys that must have signed the checkpoints.
        conn: to read the record at a checkpoint's ``seq`` (None: no tables).
        database: this state database's id (:mod:`lacuna.state.database_id`; None: it has
            none). A checkpoint that names another database is refused.
        empty: why there are no records, for the message (tables missing).
        chain: the chain the checkpoints must name (a checkpoint of another chain, e.g. the
            decision log's, is refused).
    """
    if not report.ok:
        return report
    last = report.checked
    seen: list[str] = []
    for where, exists, found in checkpoints:
        if isinstance(found, tuple):  # a checkpoint log: another database's entry is news
            mine, foreign = pick(found, database)
            cp = foreign if foreign is not None else mine
            if cp is None and exists and last:
                return VerifyReport(ok=False, checked=report.checked, head=report.head, problem=(
                    f"the checkpoint log {where} holds no checkpoint of the {chain!r} chain "
                    f"beside a trail of {last} record(s): they were removed from it, or it was "
                    "configured after the trail's last append, so truncation cannot be ruled "
                    "out."))
            exists = exists and cp is not None  # no checkpoint of this chain: as if missing
        else:
            cp = found
        problem = _against(where, exists, cp, last, keyring, conn, empty, chain, database)
        if problem is not None:
            return VerifyReport(ok=False, checked=report.checked, first_bad=problem[0],
                                problem=problem[1], head=report.head)
        if cp is not None:
            seen.append(describe(cp, where))
    return VerifyReport(ok=True, checked=report.checked, head=report.head,
                        checkpoint="; ".join(seen))


def other_chain(where: object, cp: Checkpoint, chain: str) -> str:
    """The problem of a validly signed checkpoint of another chain where ``chain``'s belongs."""
    return (f"the checkpoint {where} belongs to the {cp.chain!r} chain (its #{cp.seq}), not to "
            f"the {chain!r} chain: it was copied from another chain's checkpoint file (a seq-0 "
            "checkpoint vouches for an emptied chain), so deleted records cannot be ruled out.")


def _against(where: str, exists: bool, cp: Checkpoint | None, last: int, keyring: Keyring,
             conn: Connection | None, empty: str, chain: str, database: str | None
             ) -> tuple[int | None, str] | None:
    if not exists:
        if last == 0:
            return None  # nothing recorded and nothing checkpointed: a trail never used
        return None, (f"the checkpoint file {where} is missing beside a trail of {last} "
                      "record(s): it was deleted (or the database copied without it), so "
                      "truncation cannot be ruled out.")
    if cp is None:
        return None, (f"the checkpoint {where} is unreadable: it was edited or damaged.")
    if not cp.valid(keyring):
        return None, (f"the checkpoint {where} (#{cp.seq}) is not signed by this installation's "
                      "key: it was forged or edited.")
    if cp.chain != chain:
        return None, other_chain(where, cp, chain)
    if empty:
        return last + 1, (f"{empty}, but its checkpoint of {cp.time} in {where} records a trail "
                          f"of {cp.seq} record(s) there: the database was emptied or replaced.")
    elsewhere = other_database(where, cp, database)
    if elsewhere is not None:
        return None, elsewhere
    if cp.seq > last:
        what = f"the trail ends at #{last}" if last else "the trail holds no records"
        return last + 1, (f"{what}, but its checkpoint of {cp.time} in {where} records "
                          f"#{cp.seq}: records #{last + 1}–#{cp.seq} were deleted (truncated, "
                          "emptied or an older copy restored).")
    if cp.seq == 0:
        return None if cp.hash == GENESIS_HASH else (None, f"the checkpoint {where} is forged.")
    assert conn is not None
    row = conn.execute(select(records.c.hash).where(records.c.seq == cp.seq)).first()
    if row is None or row.hash != cp.hash:
        return cp.seq, (f"record #{cp.seq} is not the record its checkpoint of {cp.time} in "
                        f"{where} names: the trail was rebuilt or forked from #{cp.seq} or "
                        "earlier.")
    return None
