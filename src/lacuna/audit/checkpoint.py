"""Signed checkpoints of a chain (head ``seq``, head hash, time), kept outside the database.

The hash chain proves that no record was changed *inside* the trail; it cannot show that the
newest records were cut off, that the whole database was deleted, emptied or replaced by an
older copy. A checkpoint kept in a second place can: ``verify()`` compares the trail with the
latest checkpoint, and a trail that ends before it, or whose record at the checkpoint's
``seq`` has another hash, was truncated, rolled back, rebuilt or forked.

Two places:

- :class:`CheckpointFile`, beside the database (``audit.db.checkpoint``): one fixed-size slot,
  rewritten in place after every commit, under an ``flock`` on the checkpoint file itself (never
  on the database), and only ever moved forward (a slower process cannot write back an older
  checkpoint).
- :class:`CheckpointLog`, an optional external sink (``audit.checkpoint_log`` in
  ``lacuna.yaml``): a path, e.g. on another mount or an append-only object-store mount, to which
  every checkpoint is appended as one JSON line (``O_APPEND``, one ``write``).

Each checkpoint names its chain and its state database's id (:mod:`lacuna.state.database_id`;
none in a checkpoint written before checkpoints named their database), and is signed with
:func:`lacuna.signing.default_keyring` (see that module for what the signature proves where
the key lives). Both chains' checkpoints go to the one log, told apart by their chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lacuna._files import link_new
from lacuna.errors import AuditError
from lacuna.signing import Keyring

KIND = "lacuna-checkpoint"
SLOT = 512  # bytes; a checkpoint line is about 250


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The head of one chain (``audit`` or ``decision_log``) of one state database at one time,
    signed.

    ``database`` is the id of the state database whose chain it records
    (:mod:`lacuna.state.database_id`); it is signed with the rest. ``None``: a checkpoint
    written before checkpoints named their database (or of a database that has no id), whose
    signed payload has no ``database`` key at all, so it still verifies as it did.
    """

    chain: str
    seq: int
    hash: str
    time: str
    database: str | None = None
    signature: str = ""

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": KIND, "chain": self.chain, "seq": self.seq,
                                "hash": self.hash, "time": self.time}
        if self.database is not None:
            body["database"] = self.database
        return body

    def signed(self, keyring: Keyring) -> Checkpoint:
        return Checkpoint(chain=self.chain, seq=self.seq, hash=self.hash, time=self.time,
                          database=self.database,
                          signature=keyring.sign(_plain(payload := self.payload()) or payload))

    def valid(self, keyring: Keyring) -> bool:
        return keyring.verify(self.payload(), self.signature)

    def line(self) -> bytes:
        body = {**self.payload(), "signature": self.signature}
        text = _plain(body)
        if text is None:
            text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")
        return text + b"\n"

    @classmethod
    def parse(cls, text: bytes | str) -> Checkpoint | None:
        """The checkpoint in one line, or None when it is not one (garbage, wrong shape)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # a line nested too deep: anyone may append one
            return None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            return None
        seq, chain, digest = data.get("seq"), data.get("chain"), data.get("hash")
        when, sig = data.get("time"), data.get("signature")
        database = data.get("database")
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
            return None
        if not all(isinstance(v, str) for v in (chain, digest, when, sig)):
            return None
        if not (database is None or isinstance(database, str)):
            return None
        return cls(chain=str(chain), seq=seq, hash=str(digest), time=str(when),
                   database=database, signature=str(sig))


def _plain(body: dict[str, Any]) -> bytes | None:
    """``body`` as sorted compact JSON by ``orjson`` (a tenth of ``json``'s time, once per
    commit) when every value is an int or printable ASCII without quotes or backslashes:
    then ``json.dumps(body, sort_keys=True, separators=(",", ":"))`` (what :meth:`line`
    wrote) and :func:`lacuna.signing.canonical` (what is signed) give these same bytes.
    ``None`` otherwise (never for what Lacuna writes): the caller uses ``json``."""
    if all(isinstance(v, int) or (isinstance(v, str) and v.isascii() and v.isprintable()
                                  and '"' not in v and "\\" not in v)
           for v in body.values()):
        with contextlib.suppress(orjson.JSONEncodeError):  # e.g. an int beyond 64 bits
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return None


def _slot(checkpoint: Checkpoint) -> bytes:
    """The checkpoint's line padded to the file's fixed-size slot."""
    return checkpoint.line().rstrip(b"\n").ljust(SLOT - 1) + b"\n"


class CheckpointFile:
    """The latest checkpoint of one chain in one fixed-size slot of a small file.

    Args:
        path: the file, e.g. ``audit.db.checkpoint``.
        chain: which chain it records.
    """

    def __init__(self, path: Path, *, chain: str) -> None:
        self.path = path
        self.chain = chain
        self._fd: int | None = None
        self._pid = os.getpid()
        # the slot's bytes as last read or written here, and what they parse to: a writer
        # reads the slot twice per commit, and it usually holds what this process wrote
        self._known: tuple[bytes, Checkpoint | None] = (b"", None)

    def _read(self, fd: int) -> Checkpoint | None:
        """The checkpoint in the slot (read every time: another process may have moved it;
        parsed only when its bytes differ from the last ones seen here)."""
        raw = os.pread(fd, SLOT, 0)
        known, parsed = self._known
        if raw == known:
            return parsed
        parsed = Checkpoint.parse(raw.rstrip(b" \n\x00") or b"-")
        self._known = (raw, parsed)
        return parsed

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR)
            except OSError as exc:
                msg = (f"cannot open the audit checkpoint file {self.path} ({exc.strerror}). "
                       "Make its folder writable; it must sit beside the audit database.")
                raise AuditError(msg) from exc
            self._pid = os.getpid()
        return self._fd

    def peek(self) -> Checkpoint | None:
        """The stored checkpoint, read without a lock (None when absent or unreadable)."""
        if self._fd is None and not self.path.exists():
            return None
        return self._read(self._open())

    def advance(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` unless the file already holds a later one."""
        if self._fd is None and self._create(checkpoint):
            return
        fd = self._open()
        lock_within(fd, fcntl.LOCK_EX, self.path)
        try:
            current = self._read(fd)
            if current is not None and current.seq >= checkpoint.seq:
                return
            slot = _slot(checkpoint)
            os.pwrite(fd, slot, 0)
            self._known = (slot, checkpoint)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _create(self, checkpoint: Checkpoint) -> bool:
        """Make the file with ``checkpoint`` in it, whole (False when it exists already): a
        reader never sees it empty, which would read as a damaged checkpoint."""
        try:
            return link_new(self.path, _slot(checkpoint), mode=0o644)
        except OSError as exc:
            msg = (f"cannot create the audit checkpoint file {self.path} ({exc.strerror}). "
                   "Make its folder writable; it must sit beside the audit database.")
            raise AuditError(msg) from exc

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None


LOCK_WAIT_S = 30.0  # a writer holds the file's lock for one pwrite: far longer is not a writer


def lock_within(fd: int, operation: int, path: Path, wait_s: float | None = None) -> None:
    """``flock(fd, operation)``, polling, for at most ``wait_s`` (:data:`LOCK_WAIT_S`): a
    blocking ``flock`` has no deadline, so anyone who can open the checkpoint file and hold its
    lock (``flock -x audit.db.checkpoint sleep infinity``) hung verify, and every append,
    forever.

    Raises:
        AuditError: the lock was held longer, naming the file and how to find its holder.
    """
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)  # the usual case: free
        return
    except BlockingIOError:
        pass
    limit = LOCK_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + limit
    pause = 0.0005
    while True:
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                msg = (f"the audit checkpoint file {path} has been locked by another process "
                       f"for {limit:g} s (Lacuna's writers hold it for one write), so it "
                       f"could not be read or moved on. Find the holder with `fuser -v {path}` "
                       "and stop it, then run again.")
                raise AuditError(msg) from None


def read_checkpoint_file(path: Path) -> tuple[bool, Checkpoint | None]:
    """``(exists, checkpoint)`` of a checkpoint file, read under a shared lock, for verify."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False, None
    except OSError as exc:
        msg = f"cannot read the audit checkpoint file {path} ({exc.strerror})."
        raise AuditError(msg) from exc
    try:
        lock_within(fd, fcntl.LOCK_SH, path)
        return True, Checkpoint.parse(os.pread(fd, SLOT, 0).rstrip(b" \n\x00") or b"-")
    finally:
        os.close(fd)


class CheckpointLog:
    """An external, append-only log of checkpoints: one JSON line per checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = os.getpid()

    def append(self, checkpoint: Checkpoint) -> None:
        if self._fd is None or self._pid != os.getpid():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                msg = (f"cannot open the external checkpoint log {self.path} ({exc.strerror}). "
                       "Fix audit.checkpoint_log in lacuna.yaml or the folder's permissions.")
                raise AuditError(msg) from exc
            self._pid = os.getpid()
        os.write(self._fd, checkpoint.line())  # one write with O_APPEND: lines never interleave

    def latest(self, chain: str, keyring: Keyring) -> tuple[Checkpoint | None, int]:
        """The validly signed checkpoint of ``chain`` with the highest seq (of any database),
        and how many lines of that chain were not validly signed."""
        best: Checkpoint | None = None
        bad = 0
        for cp in self._checkpoints(chain):
            if cp is None:
                bad += 1
            elif cp.valid(keyring):
                best = cp if best is None or cp.seq > best.seq else best
            else:
                bad += 1
        return best, bad

    def valid(self, chain: str, keyring: Keyring) -> tuple[Checkpoint, ...]:
        """The validly signed checkpoints of ``chain`` that verify can pick
        (:func:`lacuna.audit.verify.pick`: per database, the one with the highest seq), in the
        log's order: for each database named (or none), its validly signed checkpoint with the
        highest seq, the first in the log of equal ones. Signatures are checked from the
        highest seq down, so a log of one line per append costs a parse per line and a
        signature per database (and per line that fails), not a signature per line: 100,000
        lines took 1.3 s of CPU."""
        found = [cp for cp in self._checkpoints(chain) if cp is not None]
        best: dict[str | None, int] = {}
        for i in sorted(range(len(found)), key=lambda i: (-found[i].seq, i)):
            if found[i].database not in best and found[i].valid(keyring):
                best[found[i].database] = i
        return tuple(found[i] for i in sorted(best.values()))

    def _checkpoints(self, chain: str) -> list[Checkpoint | None]:
        """The log's checkpoints of ``chain``, and None for each line that is not one (garbage,
        damage); lines of other chains are left out."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        found: list[Checkpoint | None] = []
        for raw in lines:
            cp = Checkpoint.parse(raw)
            if cp is None:
                if raw.strip():
                    found.append(None)
            elif cp.chain == chain:
                found.append(cp)
        return found

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
