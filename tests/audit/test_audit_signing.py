"""Signatures and checkpoints of the audit trail: the pieces under the tamper matrix."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit.checkpoint import Checkpoint, CheckpointFile, CheckpointLog
from lacuna.audit.record import GENESIS_HASH
from lacuna.errors import AuditError
from lacuna.signing import Keyring, Signer

KEY = Keyring(Signer(b"k" * 32))


def test_checkpoint_file_only_moves_forward(tmp_path: Path) -> None:
    cp = CheckpointFile(tmp_path / "a.checkpoint", chain="audit")
    assert cp.peek() is None
    cp.advance(Checkpoint(chain="audit", seq=5, hash="h5", time="t").signed(KEY))
    cp.advance(Checkpoint(chain="audit", seq=3, hash="h3", time="t").signed(KEY))  # a late one
    got = cp.peek()
    assert got is not None
    assert (got.seq, got.hash, got.valid(KEY)) == (5, "h5", True)
    assert not got.valid(Keyring(Signer(b"o" * 32)))
    cp.close()


@pytest.mark.parametrize("text", [b"", b"garbage", b'{"kind": "other"}', b'{"kind": '
                                  b'"lacuna-checkpoint", "seq": "1"}', b"[1, 2]",
                                  b"[" * 100_000, b'{"a":' * 100_000, b"\xff\xfe"])
def test_garbage_is_not_a_checkpoint(text: bytes) -> None:
    """Whoever can append to the checkpoint log (every writer) can append any line: one
    nested too deep for ``json`` raised RecursionError out of verify."""
    assert Checkpoint.parse(text or b"-") is None


def test_checkpoint_log_keeps_the_highest_valid(tmp_path: Path) -> None:
    log = CheckpointLog(tmp_path / "ext" / "cp.log")
    for seq in (1, 3, 2):
        log.append(Checkpoint(chain="audit", seq=seq, hash=f"h{seq}", time="t").signed(KEY))
    forged = Checkpoint(chain="audit", seq=9, hash="h9", time="t", signature="hmac-sha256:x:y")
    log.append(forged)
    log.close()
    best, bad = log.latest("audit", KEY)
    assert best is not None
    assert (best.seq, bad) == (3, 1)


def test_layout_1_trail_is_upgraded_once_and_signed(tmp_path: Path, mk: Any) -> None:
    db = tmp_path / "audit.db"
    url = f"sqlite:///{db}"
    with AuditStore(url, keyring=KEY) as store:
        for _ in range(3):
            op = mk.op()
            store.record(mk.decision(op), op, session="s")
    with sqlite3.connect(db) as conn:  # what a layout-1 trail looked like
        conn.execute("ALTER TABLE lacuna_audit DROP COLUMN signature")
        conn.execute("UPDATE lacuna_audit_head SET layout_version = 1")
    with AuditStore(url, keyring=KEY) as store:
        report = store.verify()
        assert (report.ok, report.checked) == (True, 3), report.problem
        op = mk.op()
        assert store.record(mk.decision(op), op, session="s").seq == 4
        assert store.verify().ok
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT layout_version FROM lacuna_audit_head").fetchone() == (3,)


def test_new_trail_is_checkpointed_at_zero(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    AuditStore(f"sqlite:///{db}", keyring=KEY).close()
    cp = Checkpoint.parse(Path(f"{db}.checkpoint").read_bytes().rstrip())
    assert cp is not None
    assert (cp.seq, cp.hash, cp.valid(KEY)) == (0, GENESIS_HASH, True)


def test_verify_without_the_signing_key_names_both_keys(tmp_path: Path, mk: Any) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore(url, keyring=KEY) as store:
        op = mk.op()
        store.record(mk.decision(op), op, session="s")
    other = Keyring(Signer(b"o" * 32))
    with AuditStore(url, read_only=True, keyring=other) as store:
        report = store.verify()
    assert not report.ok
    assert KEY.current.key_id in report.problem
    assert other.current.key_id in report.problem


def test_verify_never_creates_a_signing_key(tmp_path: Path, mk: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`lacuna audit verify` with the signing key deleted says the key is missing (exit 1 or
    2, never "intact") and leaves no new key behind: a reader never makes one."""
    from typer.testing import CliRunner

    from lacuna.cli.audit import app
    from lacuna.signing import key_path

    monkeypatch.delenv("LACUNA_SIGNING_KEY", raising=False)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore(url) as store:  # signed with $LACUNA_HOME/signing.key, made on first use
        op = mk.op()
        store.record(mk.decision(op), op, session="s")
    assert key_path().exists()
    result = CliRunner().invoke(app, ["verify", "--db", url])
    assert result.exit_code == 0, result.output
    key_path().unlink()
    result = CliRunner().invoke(app, ["verify", "--db", url])
    assert result.exit_code != 0
    assert "no signing key" in " ".join(result.output.split())
    assert not key_path().exists()
    with AuditStore(url, read_only=True) as store, pytest.raises(AuditError, match="no signing"):
        store.verify()
    assert not key_path().exists()


def test_a_checkpoint_file_appears_whole_or_not_at_all(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A verifier running beside the first writer read the new checkpoint file empty ("it was
    edited or damaged"): the file is now written aside and linked into place, so a failure
    while writing it leaves no file, and a second writer's advance finds the first's."""
    import os

    path = tmp_path / "audit.db.checkpoint"
    first = Checkpoint(chain="audit", seq=1, hash="a" * 64, time="t1").signed(KEY)
    real_write = os.write

    def failing_write(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(AuditError, match="cannot create the audit checkpoint file"):
        CheckpointFile(path, chain="audit").advance(first)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # nor the private file it was written to
    monkeypatch.setattr(os, "write", real_write)
    CheckpointFile(path, chain="audit").advance(first)
    later = Checkpoint(chain="audit", seq=2, hash="b" * 64, time="t2").signed(KEY)
    CheckpointFile(path, chain="audit").advance(later)  # exists: the locked, in-place path
    stored = CheckpointFile(path, chain="audit").peek()
    assert stored is not None
    assert (stored.seq, stored.hash) == (2, "b" * 64)


def test_a_remembered_slot_never_hides_another_writer(tmp_path: Path) -> None:
    """A writer remembers the slot it last read or wrote (it reads it twice per commit), but
    reads the file every time: another process's checkpoint, or a forged or rolled-back slot,
    is seen at once."""
    path = tmp_path / "a.checkpoint"
    mine, other = (CheckpointFile(path, chain="audit") for _ in range(2))
    mine.advance(Checkpoint(chain="audit", seq=1, hash="h1", time="t").signed(KEY))
    assert mine.peek() == other.peek()
    other.advance(Checkpoint(chain="audit", seq=2, hash="h2", time="t").signed(KEY))
    seen = mine.peek()
    assert seen is not None
    assert (seen.seq, seen.hash) == (2, "h2")
    mine.advance(Checkpoint(chain="audit", seq=2, hash="h2", time="t").signed(KEY))  # not later
    with path.open("r+b") as f:  # an edit in place, same length, outside any writer
        text = f.read()
        f.seek(0)
        f.write(text.replace(b'"seq":2', b'"seq":7'))
    forged = mine.peek()
    assert forged is not None
    assert forged.seq == 7
    assert not forged.valid(KEY)
    path.write_bytes(b"garbage".ljust(512))
    assert mine.peek() is None
    mine.close()
    other.close()


def test_checkpoint_lines_are_the_bytes_json_writes(tmp_path: Path) -> None:
    """orjson writes the line (and the signed payload) where it gives ``json``'s bytes; any
    other value goes through ``json``, and every line still parses and verifies."""
    import json

    cases = [Checkpoint(chain="audit", seq=12, hash="ab" * 32,
                        time="2026-12-03T00:00:00.000001+00:00"),
             Checkpoint(chain='a"b\\c', seq=2**70, hash="é", time="x\n")]
    for cp in (c.signed(KEY) for c in cases):
        body = {**cp.payload(), "signature": cp.signature}
        assert cp.line() == json.dumps(body, sort_keys=True,
                                       separators=(",", ":")).encode("ascii") + b"\n"
        assert cp.valid(KEY)
        assert Checkpoint.parse(cp.line()) == cp


@pytest.mark.parametrize("size", [16, 32, 63, 64, 65, 100, 200])
def test_signatures_are_hmac_sha256_for_keys_of_every_length(size: int) -> None:
    """The signer keys SHA-256 once (HMAC's padded states, copied per signature): the same
    digest as ``hmac.digest`` for short keys, a key of SHA-256's block size, and longer keys
    (hashed first); a signer pickles and copies as its key."""
    import copy
    import hmac
    import os
    import pickle

    from lacuna.signing import Keyring, Signer

    key = os.urandom(size)
    signer = Signer(key)
    for payload in (b"", b"lacuna-decision_log:1:" + b"a" * 64, os.urandom(300)):
        assert signer.digest(payload) == hmac.digest(key, payload, "sha256").hex()
    assert signer.digest({"b": 1, "a": "ü"}) == hmac.digest(
        key, '{"a":"ü","b":1}'.encode(), "sha256").hex()
    signature = signer.sign("payload")
    assert signer.verify("payload", signature)
    assert not signer.verify("payloaD", signature)
    assert not Signer(os.urandom(size)).verify("payload", signature)
    ring = Keyring(signer)
    for again in (pickle.loads(pickle.dumps(ring)), copy.deepcopy(ring)):
        assert again == ring
        assert again.sign("payload") == signature


def test_a_checkpoints_database_is_signed_and_older_ones_still_parse(tmp_path: Path) -> None:
    """The state database's id is part of the signed payload: changed or removed, the
    signature fails. A checkpoint written before checkpoints named their database parses and
    verifies as it did (``database`` None)."""
    cp = Checkpoint(chain="audit", seq=4, hash="h4", time="t", database="a" * 32).signed(KEY)
    parsed = Checkpoint.parse(cp.line())
    assert parsed == cp
    assert parsed.valid(KEY)
    for database in (None, "b" * 32):
        edited = Checkpoint(chain="audit", seq=4, hash="h4", time="t", database=database,
                            signature=cp.signature)
        assert not edited.valid(KEY)
        assert not Checkpoint.parse(edited.line()).valid(KEY)  # type: ignore[union-attr]
    legacy = b'{"chain":"audit","hash":"h4","kind":"lacuna-checkpoint","seq":4,"time":"t"'
    old = Checkpoint(chain="audit", seq=4, hash="h4", time="t").signed(KEY)
    line = legacy + b',"signature":"' + old.signature.encode() + b'"}'
    parsed = Checkpoint.parse(line)
    assert parsed is not None
    assert (parsed.database, parsed.valid(KEY)) == (None, True)
    assert Checkpoint.parse(line.replace(b'"seq":4', b'"database":7,"seq":4')) is None


def test_the_log_tells_databases_apart(tmp_path: Path) -> None:
    from lacuna.audit.verify import pick

    log = CheckpointLog(tmp_path / "cp.log")
    entries = [Checkpoint(chain="audit", seq=1, hash="h1", time="t"),  # before ids
               Checkpoint(chain="audit", seq=2, hash="h2", time="t", database="a" * 32),
               Checkpoint(chain="audit", seq=9, hash="h9", time="t", database="b" * 32),
               Checkpoint(chain="decision_log", seq=5, hash="d5", time="t", database="a" * 32)]
    for cp in entries:
        log.append(cp.signed(KEY))
    log.close()
    logged = log.valid("audit", KEY)
    assert [cp.seq for cp in logged] == [1, 2, 9]
    mine, foreign = pick(logged, "a" * 32)
    assert (mine and mine.seq, foreign and foreign.seq) == (2, 9)
    mine, foreign = pick(logged, None)
    assert (mine and mine.seq, foreign and foreign.seq) == (1, 9)
    assert [cp.seq for cp in log.valid("decision_log", KEY)] == [5]


@pytest.mark.parametrize("digest", ["\u00e9" * 64, "\ud800", "\uff10" * 64, "ab\x00cd"],
                         ids=["accented", "lone-surrogate", "fullwidth-digits", "nul"])
def test_a_signature_that_is_not_hex_does_not_verify_and_does_not_raise(digest: str) -> None:
    signer = Signer(b"k" * 32)
    keyring = Keyring(Signer(b"r" * 32), (signer,))
    good = signer.sign({"a": 1})
    forged = f"hmac-sha256:{signer.key_id}:{digest}"
    assert signer.verify({"a": 1}, good)
    assert keyring.verify({"a": 1}, good)  # the allowed path, through a retired key
    assert not signer.verify({"a": 1}, forged)
    assert not keyring.verify({"a": 1}, forged)


def test_a_payload_without_a_canonical_form_does_not_verify() -> None:
    signer = Signer(b"k" * 32)
    signature = signer.sign({"a": 1})
    assert not signer.verify({"a": float("nan")}, signature)  # JSON has no NaN
    assert not signer.verify({1: "x", "b": 2}, signature)  # keys that do not sort
    with pytest.raises(ValueError, match="JSON compliant"):
        signer.sign({"a": float("nan")})  # signing still refuses it loudly
