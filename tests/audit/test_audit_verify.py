from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit.record import chain_hash, link_payload
from lacuna.audit.verify import verify_chain
from lacuna.errors import AuditError

N = 10


@contextmanager
def raw(store: AuditStore) -> Iterator[sqlite3.Connection]:
    """Tamper with the file directly, as an attacker with file access would."""
    assert store.path is not None
    conn = sqlite3.connect(store.path)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def resign(store: AuditStore, conn: sqlite3.Connection, seq: int) -> None:
    """Re-sign record ``seq`` as it now is: an attacker who holds the signing key (the local
    install key's owner), so that the structural checks below are what catches the edit."""
    (digest,) = conn.execute("SELECT hash FROM lacuna_audit WHERE seq = ?", (seq,)).fetchone()
    sig = store.keyring.sign(link_payload("audit", seq, digest))
    conn.execute("UPDATE lacuna_audit SET signature = ? WHERE seq = ?", (sig, seq))


def rows(store: AuditStore) -> dict[int, tuple[str, str, str]]:
    with raw(store) as conn:
        return {
            s: (p, b, h)
            for s, p, b, h in conn.execute("SELECT seq, prev_hash, body, hash FROM lacuna_audit")
        }


@pytest.fixture
def full(store: AuditStore, fill: Callable[[int], None]) -> AuditStore:
    fill(N)
    return store


def test_verify_empty_trail(store: AuditStore) -> None:
    report = store.verify()
    assert (report.ok, report.checked, report.problem) == (True, 0, "")
    assert "checkpoint #0" in report.checkpoint


def test_verify_intact_trail(full: AuditStore) -> None:
    report = full.verify()
    assert (report.ok, report.checked, report.head) == (True, N, full.list(limit=1)[0].hash)
    assert f"checkpoint #{N}" in report.checkpoint
    assert bool(report)


def test_verify_detects_edited_body(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute(
            "UPDATE lacuna_audit SET body = replace(body, '\"allowed\":false', "
            "'\"allowed\":true') WHERE seq = 4"
        )
    report = full.verify()
    assert (report.ok, report.first_bad, report.checked) == (False, 4, 3)
    assert "modified after it was written" in report.problem


def test_verify_detects_edit_with_recomputed_hash(full: AuditStore) -> None:
    prev, body, _ = rows(full)[5]
    forged = body.replace('"session":"s1"', '"session":"s2"')
    with raw(full) as conn:
        conn.execute(
            "UPDATE lacuna_audit SET body = ?, hash = ? WHERE seq = 5",
            (forged, chain_hash(prev, forged)),
        )
        resign(full, conn, 5)
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, 5)
    assert "does not link to record #5" in report.problem


def test_verify_detects_edited_index_column(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute("UPDATE lacuna_audit SET allowed = 1 - allowed WHERE seq = 6")
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, 6)
    assert "allowed" in report.problem


def test_verify_detects_deleted_record(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute("DELETE FROM lacuna_audit WHERE seq = 5")
    report = full.verify()
    assert (report.ok, report.first_bad, report.checked) == (False, 5, 4)
    assert "record #5 is missing" in report.problem


def test_verify_detects_deleted_range(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute("DELETE FROM lacuna_audit WHERE seq IN (3, 4)")
    report = full.verify()
    assert (report.first_bad, report.problem.split(":")[0]) == (3, "record #3–#4 is missing")


def test_verify_detects_truncated_tail(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute("DELETE FROM lacuna_audit WHERE seq > 8")
    report = full.verify()
    assert (report.ok, report.first_bad, report.checked) == (False, 9, 8)
    assert "#9–#10 were deleted" in report.problem


def test_verify_detects_reordered_records(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute("UPDATE lacuna_audit SET seq = -1 WHERE seq = 4")
        conn.execute("UPDATE lacuna_audit SET seq = 4 WHERE seq = 5")
        conn.execute("UPDATE lacuna_audit SET seq = 5 WHERE seq = -1")
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, 3)  # #4 no longer links to #3
    assert report.checked == 3


def test_verify_detects_rewritten_last_record(full: AuditStore) -> None:
    prev, body, _ = rows(full)[N]
    forged = body.replace('"session":"s1"', '"session":"s2"')
    with raw(full) as conn:
        conn.execute(
            "UPDATE lacuna_audit SET body = ?, hash = ? WHERE seq = ?",
            (forged, chain_hash(prev, forged), N),
        )
        resign(full, conn, N)
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, N)
    assert "rewritten" in report.problem


def test_verify_detects_record_added_outside_lacuna(full: AuditStore) -> None:
    _, body, last_hash = rows(full)[N]
    forged = body.replace(f'"seq":{N}', f'"seq":{N + 1}').replace(
        body[body.index('"id":"') + 6 : body.index('"id":"') + 38], "f" * 32
    )
    with raw(full) as conn:
        cols = "seq, id, timestamp, user_id, action, allowed, policy_id"
        conn.execute(
            f"INSERT INTO lacuna_audit ({cols}, body, prev_hash, hash) "
            f"SELECT {N + 1}, ?, timestamp, user_id, action, allowed, policy_id, ?, ?, ? "
            f"FROM lacuna_audit WHERE seq = {N}",
            ("f" * 32, forged, last_hash, chain_hash(last_hash, forged)),
        )
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, N + 1)
    assert "outside Lacuna" in report.problem


def test_verify_detects_forged_non_json_body(full: AuditStore) -> None:
    prev, _, _ = rows(full)[N]
    with raw(full) as conn:
        conn.execute(
            "UPDATE lacuna_audit SET body = 'oops', hash = ? WHERE seq = ?",
            (chain_hash(prev, "oops"), N),
        )
        conn.execute("UPDATE lacuna_audit_head SET hash = ?", (chain_hash(prev, "oops"),))
        resign(full, conn, N)
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, N)
    assert "not a JSON object" in report.problem
    assert full.get(N).data == {}  # type: ignore[union-attr]  # still listable


def test_verify_detects_body_claiming_another_seq(full: AuditStore) -> None:
    prev, body, _ = rows(full)[N]
    forged = body.replace(f'"seq":{N}', '"seq":99')
    digest = chain_hash(prev, forged)
    with raw(full) as conn:
        conn.execute(
            "UPDATE lacuna_audit SET body = ?, hash = ? WHERE seq = ?", (forged, digest, N)
        )
        conn.execute("UPDATE lacuna_audit_head SET hash = ?", (digest,))
        resign(full, conn, N)
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, N)
    assert f"record #{N} says it is #99" in report.problem


def test_verify_detects_first_record_replaced(full: AuditStore) -> None:
    with raw(full) as conn:
        conn.execute("UPDATE lacuna_audit SET prev_hash = ? WHERE seq = 1", ("1" * 64,))
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, 1)
    assert "genesis" in report.problem


def test_verify_detects_deleted_head(full: AuditStore, mk: Any) -> None:
    with raw(full) as conn:
        conn.execute("DELETE FROM lacuna_audit_head")
    report = full.verify()
    assert (report.ok, report.first_bad, report.checked) == (False, None, N)
    assert "head row" in report.problem
    # Reopening does not paper over it with a fresh head, and appending refuses.
    with AuditStore(str(full.url)) as again:
        assert again.verify() == report
        op = mk.op()
        with pytest.raises(AuditError, match="head row is missing"):
            again.record(mk.decision(op), op, session="s")


def test_verify_reads_in_batches(
    store: AuditStore, fill: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lacuna.audit.verify.BATCH", 3)
    fill(7)
    assert store.verify().checked == 7


def test_verify_report_head_is_publishable(full: AuditStore, tmp_path: Path) -> None:
    head = full.verify().head
    assert head == rows(full)[N][2]


def test_verify_races_the_first_writer_of_a_new_trail(full: AuditStore, monkeypatch: Any) -> None:
    """verify() reads the checkpoint before its snapshot. On a brand-new trail the first writer
    may create the checkpoint and commit records in between: the snapshot then holds records
    while the checkpoint was read as missing. That is a race, not a deleted checkpoint (seen in
    tests/reliability's kill -9 run); the same picture with the file really gone is tampering."""
    import lacuna.audit.store as store_module

    real = store_module.read_checkpoint_file
    calls: list[Path] = []

    def read_before_the_writer(path: Path) -> Any:
        calls.append(path)
        return (False, None) if len(calls) == 1 else real(path)

    monkeypatch.setattr(store_module, "read_checkpoint_file", read_before_the_writer)
    report = full.verify()
    assert (report.ok, report.checked, report.problem) == (True, N, ""), report.problem
    assert f"checkpoint #{N}" in report.checkpoint
    assert len(calls) == 2

    Path(f"{full.path}.checkpoint").unlink()
    report = full.verify()
    assert not report.ok
    assert "is missing beside a trail of" in report.problem


def test_intact_records_relies_only_on_records_intact_in_the_chain(full: AuditStore) -> None:
    """What a store relies on when it reads a record (a user's creation, an older dismissal):
    an edited body, a forged signature, a record moved to another seq or one whose predecessor
    was rewritten is left out; the rest are returned."""
    from sqlalchemy import select

    from lacuna.audit.schema import records
    from lacuna.audit.store import READ_COLUMNS
    from lacuna.audit.verify import intact_records

    def read() -> list[Any]:
        with full.engine.connect() as conn:
            return list(conn.execute(select(*READ_COLUMNS).order_by(records.c.seq)).all())

    def intact() -> list[int]:
        with full.engine.connect() as conn:
            return [r.seq for r in intact_records(conn, read(), full.keyring)]

    assert intact() == list(range(1, N + 1))
    with raw(full) as conn:
        conn.execute("UPDATE lacuna_audit SET body = replace(body, 'analyst', 'admin') "
                     "WHERE seq = 2")  # edited: no longer its hash
        (prev, body) = conn.execute("SELECT prev_hash, body FROM lacuna_audit WHERE seq = 4"
                                    ).fetchone()
        forged = body.replace("analyst", "admin")
        conn.execute("UPDATE lacuna_audit SET body = ?, hash = ? WHERE seq = 4",
                     (forged, chain_hash(prev, forged)))  # re-hashed without the key
        conn.execute("UPDATE lacuna_audit SET hash = ? WHERE seq = 7", ("0" * 64,))
        resign(full, conn, 7)  # #7 rewritten and signed: #8 no longer links to it
    got = intact()
    assert 2 not in got
    assert 4 not in got
    assert 5 not in got  # its predecessor #4 is not the one it linked to
    assert 8 not in got
    assert set(got) >= {1, 3, 6, 9, 10}


@pytest.mark.parametrize("seq", [0, -7])
def test_verify_detects_a_record_numbered_outside_the_chain(full: AuditStore, seq: int) -> None:
    """A row numbered below #1 is never reached by the walk from #1, yet ``list`` shows it and
    ``of_operation`` may find it: a forged decision that verify said nothing about."""
    with raw(full) as conn:
        cols = [c[1] for c in conn.execute("PRAGMA table_info(lacuna_audit)")]
        row = dict(zip(cols, conn.execute("SELECT * FROM lacuna_audit WHERE seq = 2").fetchone(),
                       strict=True))
        row.update(seq=seq, id="f" * 32)
        conn.execute(f"INSERT INTO lacuna_audit ({', '.join(row)}) "
                     f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
    assert seq in [r.seq for r in full.list(limit=N + 1)]  # what an auditor would be shown
    report = full.verify()
    assert (report.ok, report.first_bad, report.checked) == (False, None, N)
    assert f"a record numbered #{seq} lies outside the chain" in report.problem


@pytest.mark.parametrize("value", ["''", "X''", "2", "'abc'", "0.5"])
def test_verify_detects_allowed_column_that_only_reads_as_a_boolean(
        full: AuditStore, value: str) -> None:
    """SQLite keeps any value in the BOOLEAN column; ``''`` reads back as False, so a denial
    (#2) matched its body while ``--denied`` and the counts (``allowed = 0``) lost it."""
    with raw(full) as conn:
        conn.execute(f"UPDATE lacuna_audit SET allowed = {value} WHERE seq IN (2, 3)")
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, 2)
    assert "column(s) allowed differ" in report.problem


def test_verify_keeps_both_stored_booleans(full: AuditStore) -> None:
    """The allowed path: 0 and 1 as Lacuna writes them (and a record appended after) verify,
    and the denied ones are all listed."""
    with raw(full) as conn:
        stored = {v for (v,) in conn.execute("SELECT DISTINCT allowed FROM lacuna_audit")}
    assert stored == {0, 1}
    assert full.verify().ok
    assert len(full.list(limit=N, denied_only=True)) == N // 2


@pytest.mark.parametrize("column", ["body", "prev_hash", "hash"])
def test_verify_reports_a_hash_link_stored_as_a_blob(full: AuditStore, column: str) -> None:
    """The same bytes as a BLOB: a finding naming the record, not a TypeError traceback."""
    with raw(full) as conn:
        conn.execute(f"UPDATE lacuna_audit SET {column} = CAST({column} AS BLOB) WHERE seq = 4")
    report = full.verify()
    assert (report.ok, report.first_bad) == (False, 4)
    assert f"record #4's {column} is not stored as text" in report.problem


@pytest.mark.parametrize("value", ["'x'", "2.5", "X'0a'"])
def test_verify_names_a_head_row_edited_to_what_lacuna_never_writes(
        full: AuditStore, value: str) -> None:
    """A head seq of 'x' made verify fail with a TypeError (str > int); 2.5 read as
    "2.5 record(s) before it are intact"."""
    with raw(full) as conn:
        conn.execute(f"UPDATE lacuna_audit_head SET seq = {value}")
    report = full.verify()
    assert (report.ok, report.first_bad, report.checked) == (False, None, N)
    assert "the head row of the audit trail holds seq" in report.problem


def test_verify_passes_intact_records_on_its_fast_path(
        full: AuditStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """An intact record written by Lacuna is checked by ``_intact`` alone (the full check,
    which builds the report, is for records it cannot pass)."""
    from lacuna.audit import verify

    def full_check(*args: Any) -> None:
        raise AssertionError(f"an intact record took the slow path: #{args[1]}")

    monkeypatch.setattr(verify, "_check_row", full_check)
    report = full.verify()
    assert (report.ok, report.checked) == (True, N)


def test_verify_sends_what_its_fast_path_cannot_pass_to_the_full_check(
        db_url: str, home: Path, mk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record signed with a retired key, and a body orjson does not read (a file name that is
    not UTF-8, stored as a lone surrogate's escape), are intact: the full check passes them,
    and only them."""
    from dataclasses import replace

    from lacuna.audit import verify
    from lacuna.model import Source
    from lacuna.signing import Keyring, Signer

    old, new = Signer(b"o" * 32), Signer(b"n" * 32)
    first = AuditStore(db_url, keyring=Keyring(old))
    op = mk.op()
    first.record(mk.decision(op), op, session="s1")
    first.close()
    store = AuditStore(db_url, keyring=Keyring(new, (old,)))
    op = mk.op()
    op = replace(op, sources=(Source(name="bad\udcff.csv", classification=op.classification),))
    store.record(mk.decision(op), op, session="s1")
    op = mk.op()
    store.record(mk.decision(op), op, session="s1")
    seen: list[int] = []
    check = verify._check_row

    def counted(row: Any, seq: int, prev: str, keyring: Keyring) -> Any:
        seen.append(seq)
        return check(row, seq, prev, keyring)

    monkeypatch.setattr(verify, "_check_row", counted)
    report = store.verify()
    store.close()
    assert (report.ok, report.checked, seen) == (True, 3, [1, 2])


@pytest.mark.parametrize(("edit", "problem"), [
    # a key holder's forgeries of what Lacuna never writes: orjson reads the first two
    # differently from json (a huge integer as a float; the fast path must not pass it), the
    # third is an object where the body's parts are; each is named, not a traceback
    (lambda b: b.replace('"user_id":"user1"', '"user_id":100000000000000000000001'),
     "column(s) user_id differ"),
    (lambda b: b.replace('"seq":2', '"seq":2.0'), None),
    (lambda b: b.replace('"who":{', '"who":"x","w":{'), "column(s) user_id differ"),
])
def test_verify_reads_a_signed_body_as_json_reads_it(
        full: AuditStore, edit: Callable[[str], str], problem: str | None) -> None:
    _, body, _ = rows(full)[2]
    forged = edit(body)
    assert forged != body
    with raw(full) as conn:
        conn.execute("UPDATE lacuna_audit SET body = ?, hash = ? WHERE seq = 2",
                     (forged, chain_hash(rows(full)[1][2], forged)))
        resign(full, conn, 2)
        for seq in range(3, N + 1):  # the chain re-linked and re-signed after it
            (prev,) = conn.execute("SELECT hash FROM lacuna_audit WHERE seq = ?",
                                   (seq - 1,)).fetchone()
            (text,) = conn.execute("SELECT body FROM lacuna_audit WHERE seq = ?",
                                   (seq,)).fetchone()
            conn.execute("UPDATE lacuna_audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                         (prev, chain_hash(prev, text), seq))
            resign(full, conn, seq)
        conn.execute("UPDATE lacuna_audit_head SET hash = (SELECT hash FROM lacuna_audit "
                     "WHERE seq = ?)", (N,))
    with full.snapshot() as conn:  # the chain alone (its checkpoint names the old #10)
        report = verify_chain(conn, full.keyring)
    if problem is None:  # json reads 2.0 == 2: the body says its seq (as before)
        assert (report.ok, report.checked) == (True, N)
    else:
        assert (report.ok, report.first_bad) == (False, 2)
        assert problem in report.problem


def test_verify_and_append_give_up_on_a_checkpoint_file_locked_for_too_long(
        full: AuditStore, mk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone who can open the checkpoint file can hold its lock (``flock -x ... sleep
    infinity``): verify and every append waited forever. Now they wait ``LOCK_WAIT_S`` and say
    which file and how to find its holder; a lock let go within it is waited for."""
    import contextlib
    import fcntl
    import os
    import threading

    from lacuna.audit import checkpoint

    assert full.checkpoint_path is not None
    monkeypatch.setattr(checkpoint, "LOCK_WAIT_S", 0.05, raising=False)
    fd = os.open(full.checkpoint_path, os.O_RDONLY)
    release = threading.Timer(1.0, os.close, (fd,))  # what the old code waited for
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        release.start()
        with pytest.raises(AuditError, match=r"locked by another process for 0.05 s.*fuser -v"):
            full.verify()
        op = mk.op()
        with pytest.raises(AuditError, match=r"audit checkpoint file .* locked"):
            full.record(mk.decision(op), op, session="s1")
    finally:
        release.cancel()
        with contextlib.suppress(OSError):  # closed by the timer already
            os.close(fd)
    # the allowed path: a holder that lets go in time is waited for
    monkeypatch.setattr(checkpoint, "LOCK_WAIT_S", 10.0)
    fd = os.open(full.checkpoint_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.05, os.close, (fd,)).start()
    report = full.verify()
    assert (report.ok, report.checked) == (True, N + 1)  # the append committed; its
    assert f"checkpoint #{N}" in report.checkpoint  # checkpoint could not move on
    op = mk.op()
    full.record(mk.decision(op), op, session="s1")
    report = full.verify()
    assert (report.ok, report.checked) == (True, N + 2)
    assert f"checkpoint #{N + 2}" in report.checkpoint


def test_a_checkpoint_log_checks_the_signatures_verify_can_pick_not_every_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log holds a line per append: verify checked every line's signature (100,000 lines,
    1.3 s of CPU). It picks per database the highest seq, so only those are checked, from the
    top down past forged ones; what it picks is what it picked from every valid line."""
    from lacuna.audit.checkpoint import Checkpoint, CheckpointLog
    from lacuna.audit.verify import pick
    from lacuna.signing import Keyring, Signer

    keyring, forger = Keyring(Signer(b"k" * 32)), Keyring(Signer(b"f" * 32))
    lines: list[Checkpoint] = []
    for seq in range(40):
        for database in ("a", "b", None):
            lines.append(Checkpoint(chain="audit", seq=seq, hash=f"{seq:064x}", time="t",
                                    database=database).signed(keyring))
    lines += [Checkpoint(chain="audit", seq=99, hash="0" * 64, time="t", database=d)
              .signed(forger) for d in ("a", "c")]  # forged, highest: passed over
    lines.append(Checkpoint(chain="audit", seq=39, hash="1" * 64, time="t2", database="a")
                 .signed(keyring))  # an equal seq later in the log: the first one counts
    lines.append(Checkpoint(chain="decision_log", seq=500, hash="2" * 64, time="t",
                            database="a").signed(keyring))
    path = tmp_path / "cp.log"
    path.write_bytes(b"".join(cp.line() for cp in lines) + b"garbage\n")
    every = tuple(cp for cp in lines if cp.chain == "audit" and cp.valid(keyring))
    checked: list[Checkpoint] = []
    real = Checkpoint.valid

    def counted(self: Checkpoint, ring: Keyring) -> bool:
        checked.append(self)
        return real(self, ring)

    monkeypatch.setattr(Checkpoint, "valid", counted)
    got = CheckpointLog(path).valid("audit", keyring)
    assert len(checked) <= 5  # three databases and the two forged lines above them
    for database in ("a", "b", "c", None):
        assert pick(got, database) == pick(every, database)
    assert pick(got, "a")[0] == lines[39 * 3]  # seq 39 of "a", not the later equal one


def test_verify_reports_a_head_row_whose_layout_version_was_edited(full: AuditStore) -> None:
    """A head row's layout_version edited upward (to 99) was reported intact: a writer of
    this version refuses to open such a trail, yet verify vouched for it."""
    assert full.verify().ok  # the trail as Lacuna wrote it
    for value, says in (
            ("99", "audit layout 99, but this Lacuna reads layouts up to 3"),
            ("4", "audit layout 4, but this Lacuna reads layouts up to 3"),
            ("2", "layout 2, but the records' columns are layout 3"),
            ("3.5", "holds layout_version 3.5, not the number Lacuna writes")):
        with raw(full) as conn:
            conn.execute(f"UPDATE lacuna_audit_head SET layout_version = {value}")
        report = full.verify()
        assert (report.ok, report.first_bad, report.checked) == (False, None, N), value
        assert says in report.problem
    with raw(full) as conn:  # put back as Lacuna wrote it: intact again
        conn.execute("UPDATE lacuna_audit_head SET layout_version = 3")
    assert full.verify().ok
