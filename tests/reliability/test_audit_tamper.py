"""The tamper matrix: each way someone who can write the state folder (but does not hold the
signing key) can change an audit trail, and what ``lacuna audit verify`` says about it.

Every case must exit 1 with a message naming what was found. The figures go to
docs/reliability.md (tamper cases detected).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lacuna.audit import AuditStore
from lacuna.audit.record import chain_hash, indexed_operation_id
from lacuna.cli.audit import app
from lacuna.errors import AuditError
from lacuna.model import Action, Classification, Decision, Operation, User

pytestmark = pytest.mark.reliability
runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})
N = 12


@dataclass
class Trail:
    db: Path
    url: str
    config: Path

    @property
    def checkpoint(self) -> Path:
        return Path(f"{self.db}.checkpoint")

    def sql(self, *statements: tuple[str, tuple[object, ...]]) -> None:
        conn = sqlite3.connect(self.db)
        try:
            for text, args in statements:
                conn.execute(text, args)
            conn.commit()
        finally:
            conn.close()

    def rows(self) -> list[tuple[int, str, str, str, str]]:
        conn = sqlite3.connect(self.db)
        try:
            return list(conn.execute(
                "SELECT seq, prev_hash, body, hash, signature FROM lacuna_audit ORDER BY seq"))
        finally:
            conn.close()


def append(url: str, n: int, *, user: str = "analyst", **kwargs: object) -> None:
    with AuditStore(url, **kwargs) as store:  # type: ignore[arg-type]
        for _ in range(n):
            op = Operation(action=Action.EXPORT, user=User(id=user),
                           classification=Classification())
            store.record(Decision(allowed=False, operation_id=op.id, reasoning="no"), op,
                         session="s")


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    db = tmp_path / "state" / "audit.db"
    url = f"sqlite:///{db}"
    config = tmp_path / "lacuna.yaml"
    config.write_text(json.dumps({"audit": {"url": url,
                                            "checkpoint_log": str(tmp_path / "ext" / "cp.log")}}))
    append(url, N, checkpoint_log=tmp_path / "ext" / "cp.log")
    return Trail(db=db, url=url, config=config)


def verify(trail: Trail) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", "--config", str(trail.config)])
    return result.exit_code, " ".join(result.output.split())


def _edit_body(t: Trail) -> None:
    t.sql(("UPDATE lacuna_audit SET body = replace(body, '\"allowed\":false', "
           "'\"allowed\":true') WHERE seq = 4", ()))


def _edit_rehash(t: Trail) -> None:
    # Rewrite #5 and recompute every later hash and the head: a perfect chain, unsigned.
    rows = t.rows()
    prev = rows[3][3]
    stmts: list[tuple[str, tuple[object, ...]]] = []
    for seq, _, body, _, _ in rows[4:]:
        if seq == 5:
            body = body.replace('"allowed":false', '"allowed":true')
        digest = chain_hash(prev, body)
        stmts.append(("UPDATE lacuna_audit SET body=?, prev_hash=?, hash=?, allowed=? "
                      "WHERE seq=?", (body, prev, digest, '"allowed":true' in body, seq)))
        prev = digest
    stmts.append(("UPDATE lacuna_audit_head SET hash = ?", (prev,)))
    t.sql(*stmts)


def _delete_middle(t: Trail) -> None:
    t.sql(("DELETE FROM lacuna_audit WHERE seq = 6", ()))


def _delete_and_rehash(t: Trail) -> None:
    # Delete #6, renumber and re-hash the rest: a perfect chain of N-1 records, unsigned.
    rows = [r for r in t.rows() if r[0] != 6]
    stmts: list[tuple[str, tuple[object, ...]]] = [("DELETE FROM lacuna_audit", ())]
    prev = "0" * 64
    for new_seq, (seq, _, body, _, sig) in enumerate(rows, start=1):
        body = body.replace(f'"seq":{seq}', f'"seq":{new_seq}')
        digest = chain_hash(prev, body)
        data = json.loads(body)
        # every column, as the rows were (the operation id column too: layout 3)
        stmts.append(("INSERT INTO lacuna_audit (seq, id, timestamp, user_id, action, allowed, "
                      "policy_id, body, prev_hash, hash, signature, operation_id) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (new_seq, data["id"], data["when"], data["who"]["user_id"],
                       data["what"]["action"], data["decision"]["allowed"],
                       data["decision"]["policy_id"], body, prev, digest, sig,
                       indexed_operation_id(data))))
        prev = digest
    stmts.append(("UPDATE lacuna_audit_head SET seq = ?, hash = ?", (len(rows), prev)))
    t.sql(*stmts)


def _truncate(t: Trail) -> None:
    # Cut the newest 3 records and move the head back: the chain and head agree.
    rows = t.rows()
    t.sql(("DELETE FROM lacuna_audit WHERE seq > ?", (N - 3,)),
          ("UPDATE lacuna_audit_head SET seq = ?, hash = ?", (N - 3, rows[N - 4][3])))


def _rebuild(t: Trail) -> None:
    # A whole new trail of the same length, written by Lacuna but without this installation's
    # key (another LACUNA_HOME: another install key), copied over the real one.
    other = t.db.parent / "other"
    other.mkdir()
    url = f"sqlite:///{other / 'audit.db'}"
    from lacuna.signing import Keyring, Signer

    append(url, N, user="nobody", keyring=Keyring(Signer(b"x" * 32)), checkpoint=None)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{t.db}{suffix}").unlink(missing_ok=True)
    shutil.copy(other / "audit.db", t.db)


def _fork(t: Trail) -> None:
    # An older copy (at #5) restored, then extended by Lacuna itself to beyond the checkpoint
    # (a process writing without the checkpoint file): signed, chained, but a fork.
    copy = t.db.parent / "copy.db"
    src, dst = sqlite3.connect(t.db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    conn = sqlite3.connect(copy)
    conn.execute("DELETE FROM lacuna_audit WHERE seq > 5")
    top = conn.execute("SELECT hash FROM lacuna_audit WHERE seq = 5").fetchone()[0]
    conn.execute("UPDATE lacuna_audit_head SET seq = 5, hash = ?", (top,))
    conn.commit()
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{t.db}{suffix}").unlink(missing_ok=True)
    shutil.move(copy, t.db)
    append(t.url, N, user="forker", checkpoint=None)


def _append_forged(t: Trail) -> None:
    rows = t.rows()
    seq, _, body, digest, _ = rows[-1]
    data = json.loads(body)
    data.update(seq=seq + 1, id="f" * 32)
    forged = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    new = chain_hash(digest, forged)
    t.sql(("INSERT INTO lacuna_audit (seq, id, timestamp, user_id, action, allowed, policy_id, "
           "body, prev_hash, hash, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
           (seq + 1, "f" * 32, data["when"], data["who"]["user_id"], data["what"]["action"],
            data["decision"]["allowed"], data["decision"]["policy_id"], forged, digest, new,
            "hmac-sha256:000000000000:" + "0" * 64)),
          ("UPDATE lacuna_audit_head SET seq = ?, hash = ?", (seq + 1, new)))


def _sign_in_non_ascii(t: Trail) -> None:
    # The last record's signature names this installation's key (its id is public) but its
    # digest is not hex: verify must call it forged, not raise (hmac.compare_digest refuses
    # non-ASCII text).
    seq, _, _, _, signature = t.rows()[-1]
    algorithm, key, _ = signature.split(":")
    t.sql(("UPDATE lacuna_audit SET signature = ? WHERE seq = ?",
           (f"{algorithm}:{key}:" + "\u00e9" * 64, seq)),)


def _delete_database(t: Trail) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{t.db}{suffix}").unlink(missing_ok=True)


def _empty_database(t: Trail) -> None:
    t.sql(("DROP TABLE lacuna_audit", ()), ("DROP TABLE lacuna_audit_head", ()))


def _zero_database(t: Trail) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{t.db}{suffix}").unlink(missing_ok=True)
    t.db.write_bytes(b"")


def _delete_checkpoint_then_truncate(t: Trail) -> None:
    _truncate(t)
    t.checkpoint.unlink()


def _forge_checkpoint_then_truncate(t: Trail) -> None:
    _truncate(t)
    data = json.loads(t.checkpoint.read_text())
    rows = t.rows()
    data.update(seq=rows[-1][0], hash=rows[-1][3])
    t.checkpoint.write_text(json.dumps(data).ljust(511) + "\n")


def _sql(statement: str) -> Callable[[Trail], None]:
    return lambda t: t.sql((statement, ()))


def _delete_everything_local(t: Trail) -> None:
    # Database and its checkpoint gone: only the external checkpoint log remains.
    _delete_database(t)
    t.checkpoint.unlink()


CASES: dict[str, tuple[Callable[[Trail], None], str]] = {
    "edit a record": (_edit_body, "modified after it was written"),
    "edit and re-hash the chain": (_edit_rehash, "signature does not match"),
    "delete a record": (_delete_middle, "were deleted"),
    "delete, renumber and re-hash": (_delete_and_rehash, "signature does not match"),
    "truncate the tail": (_truncate, "were deleted"),
    "rebuild with another key": (_rebuild, "not this installation's key"),
    "fork from an older copy": (_fork, "rebuilt or forked"),
    "append a forged record": (_append_forged, "not this installation's key"),
    "a signature that is not hex": (_sign_in_non_ascii, "signature does not match"),
    "delete the database": (_delete_database, "is gone"),
    "drop the tables": (_empty_database, "emptied or replaced"),
    "empty the file": (_zero_database, "emptied or replaced"),
    "truncate, delete checkpoint": (_delete_checkpoint_then_truncate, "is missing"),
    "truncate, forge checkpoint": (_forge_checkpoint_then_truncate, "not signed"),
    "delete database and checkpoint": (_delete_everything_local, "is gone"),
    # SQLite keeps bytes that are not UTF-8 in a text column, and its driver refused to read
    # the whole trail over one (exit 2, "cannot read", no record named)
    "a body that is not UTF-8": (_sql("UPDATE lacuna_audit SET body = "
                                      "CAST(X'7bff7d' AS TEXT) WHERE seq = 1"),
                                 "at record #1: record #1's body is not stored as text"),
    "a last user column not UTF-8": (_sql(f"UPDATE lacuna_audit SET user_id = "
                                          f"CAST(X'61ff' AS TEXT) WHERE seq = {N}"),
                                     f"record #{N}'s column(s) user_id differ"),
}


def test_intact_trail_verifies(trail: Trail) -> None:
    code, out = verify(trail)
    assert code == 0, out
    assert f"intact: {N} record(s)" in out
    assert f"checkpoint #{N}" in out


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_detected(trail: Trail, case: str) -> None:
    tamper, expected = CASES[case]
    tamper(trail)
    code, out = verify(trail)
    assert code == 1, f"{case}: not detected: {out}"
    assert "TAMPERED" in out
    assert expected in out, out


def test_verify_never_writes(trail: Trail) -> None:
    files = sorted(trail.db.parent.iterdir())
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}
    assert verify(trail)[0] == 0
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(trail.db.parent.iterdir()) if p.is_file() and p in before}
    assert after == before
    op = Operation(action=Action.READ, user=User(id="x"), classification=Classification())
    decision = Decision(allowed=True, operation_id=op.id, reasoning="r")
    with AuditStore(trail.url, read_only=True) as store, pytest.raises(AuditError):
        store.record(decision, op, session="s")


def test_writer_refuses_a_trail_behind_its_checkpoint(trail: Trail) -> None:
    _truncate(trail)
    with pytest.raises(AuditError, match="records were deleted"):
        append(trail.url, 1)
    assert len(trail.rows()) == N - 3  # nothing appended over the gap


def _decision_log(trail: Trail, n: int, *, configured: bool = False) -> None:
    """Log ``n`` decisions; ``configured``: through the sink lacuna.yaml makes (as the governor
    and the server do), else a bare ``SqlDecisionLog`` on the trail's database."""
    from lacuna.config import load_config
    from lacuna.policy.decision_log import DecisionEvent, DecisionLogSink
    from lacuna.policy.factory import decision_log_from_config
    from lacuna.policy.log_sinks import SqlDecisionLog

    sink: DecisionLogSink | None
    if configured:
        cfg = load_config(trail.config)
        settings = cfg.policy.decision_log
        assert settings is not None
        small = settings.model_copy(update={"batch_size": 3, "flush_interval_ms": 10})
        sink = decision_log_from_config(cfg.model_copy(update={
            "policy": cfg.policy.model_copy(update={"decision_log": small})}))
        assert isinstance(sink, SqlDecisionLog)
    else:
        sink = SqlDecisionLog(trail.url, batch_size=3, flush_interval_s=0.01)
    for i in range(n):
        op = Operation(action=Action.READ, user=User(id=f"u{i}"), classification=Classification())
        sink.log(DecisionEvent(decision=Decision(allowed=i % 2 == 0, operation_id=op.id,
                                                 reasoning="r"),
                               input={"i": i}, path="lacuna/decision", timestamp_ns=i,
                               eval_ns=1))
    sink.close()


DECISION_CASES: dict[str, tuple[str, str]] = {
    "edit a decision": ("UPDATE lacuna_decision_log SET body = replace(body, '\"i\":3', "
                        "'\"i\":4') WHERE seq = 4", "modified after it was written"),
    "delete a decision": ("DELETE FROM lacuna_decision_log WHERE seq = 2", "were deleted"),
    "insert an unchained decision": (
        "INSERT INTO lacuna_decision_log (decision_id, timestamp, path, allowed, body) "
        "VALUES ('x', 't', 'p', 1, '{}')", "not chained"),
    "truncate the decision log": ("DELETE FROM lacuna_decision_log WHERE seq > 5",
                                  "were deleted"),
    "drop the decision log": ("DROP TABLE lacuna_decision_log", "it was deleted"),
    "a body that is not UTF-8": ("UPDATE lacuna_decision_log SET body = "
                                 "CAST(X'7bff7d' AS TEXT) WHERE seq = 3",
                                 "decision-log record #3's body is not stored as text"),
}


def test_intact_decision_log_verifies(trail: Trail) -> None:
    _decision_log(trail, 8)
    code, out = verify(trail)
    assert code == 0, out
    assert "Decision log intact: 8 record(s) verified" in out


def test_decision_logged_during_verify_is_not_read_as_deleted(trail: Trail,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """A decision logged after verify's snapshot began moves the checkpoint past the records
    the snapshot shows: verify reads the checkpoint before the snapshot, so that is no
    "records were deleted" (it was, when the checkpoint was read inside the snapshot)."""
    from contextlib import contextmanager

    _decision_log(trail, 4)
    real = AuditStore.snapshot

    @contextmanager
    def snapshot_then_a_writer(self: AuditStore):  # type: ignore[no-untyped-def]
        with real(self) as conn:
            conn.exec_driver_sql("SELECT count(*) FROM lacuna_decision_log").all()  # pinned
            _decision_log(trail, 1)
            yield conn

    monkeypatch.setattr(AuditStore, "snapshot", snapshot_then_a_writer)
    code, out = verify(trail)
    assert code == 0, out
    assert "Decision log intact: 4 record(s) verified" in out


@pytest.mark.parametrize("case", list(DECISION_CASES))
def test_decision_log_tampering_is_detected(trail: Trail, case: str) -> None:
    _decision_log(trail, 8)
    statement, expected = DECISION_CASES[case]
    trail.sql((statement, ()))
    code, out = verify(trail)
    assert code == 1, f"{case}: not detected: {out}"
    assert "decision log TAMPERED" in out
    assert expected in out, out


@pytest.mark.parametrize("left", ["decision log checkpoint", "writers' turn file"])
def test_deleting_database_and_every_checkpoint_is_still_detected(trail: Trail,
                                                                  left: str) -> None:
    """With no checkpoint log configured, deleting the database and its checkpoint is still
    caught by what the trail left beside them (the decision log's checkpoint, the writers'
    turn file): verify never says "nothing to verify" about a trail that existed."""
    from lacuna.audit import ledger, turn

    _decision_log(trail, 3)
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))
    marks = {"decision log checkpoint": ledger.checkpoint_path(trail.db),
             "writers' turn file": Path(f"{trail.db}{turn.SUFFIX}")}
    kept = marks.pop(left)
    kept.touch()  # the decision log's sink made it; the turn file comes from a group commit
    for other in marks.values():
        assert other is not None
        other.unlink(missing_ok=True)
    _delete_everything_local(trail)
    code, out = verify(trail)
    assert code == 1, out
    assert "TAMPERED" in out
    assert "is gone" in out
    assert str(kept) in out
    # and with nothing left beside it, there was no trail here: nothing to verify, exit 0
    assert kept is not None
    kept.unlink()
    assert verify(trail) == (0, f"No audit trail at {trail.url}: nothing to verify.")


def _seq0_checkpoint(chain: str) -> bytes:
    """A validly signed checkpoint #0 (the genesis hash) of ``chain``: what every new trail
    writes beside itself, signed with this installation's key."""
    from lacuna.audit.checkpoint import Checkpoint, _slot
    from lacuna.signing import default_keyring

    return _slot(Checkpoint(chain=chain, seq=0, hash="0" * 64, time="2026-01-01T00:00:00+00:00")
                 .signed(default_keyring()))


def test_decision_log_emptied_behind_the_audit_chains_checkpoint_is_detected(trail: Trail
                                                                              ) -> None:
    """A fresh trail's seq-0 audit checkpoint (same key, same genesis hash) copied over the
    decision log's checkpoint must not vouch for an emptied decision log."""
    from lacuna.audit import ledger

    _decision_log(trail, 6)
    fresh = trail.db.parent / "fresh" / "audit.db"
    AuditStore(f"sqlite:///{fresh}").close()  # writes fresh/audit.db.checkpoint: audit #0
    trail.sql(("DELETE FROM lacuna_decision_log", ()),
              ("UPDATE lacuna_decision_log_head SET seq = 0, hash = ?", ("0" * 64,)))
    checkpoint = ledger.checkpoint_path(trail.db)
    assert checkpoint is not None
    shutil.copy(f"{fresh}.checkpoint", checkpoint)
    code, out = verify(trail)
    assert code == 1, out
    assert "decision log TAMPERED" in out
    assert "belongs to the 'audit' chain" in out


def test_audit_trail_emptied_behind_the_decision_logs_checkpoint_is_detected(trail: Trail
                                                                             ) -> None:
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    trail.sql(("DELETE FROM lacuna_audit", ()),
              ("UPDATE lacuna_audit_head SET seq = 0, hash = ?", ("0" * 64,)))
    trail.checkpoint.write_bytes(_seq0_checkpoint("decision_log"))
    code, out = verify(trail)
    assert code == 1, out
    assert "audit trail TAMPERED" in out
    assert "belongs to the 'decision_log' chain" in out


@pytest.mark.parametrize("version_table_too", [False, True])
def test_dropping_the_decision_log_and_its_checkpoint_is_detected(trail: Trail,
                                                                  version_table_too: bool
                                                                  ) -> None:
    """Both decision-log tables dropped and the checkpoint deleted: the state schema that made
    them (its version table, else the audit trail's metrics rollups) shows they existed."""
    from lacuna.audit import ledger

    _decision_log(trail, 5)
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))
    trail.sql(("DROP TABLE lacuna_decision_log", ()), ("DROP TABLE lacuna_decision_log_head", ()),
              *([("DROP TABLE lacuna_alembic_version", ())] if version_table_too else []))
    checkpoint = ledger.checkpoint_path(trail.db)
    assert checkpoint is not None
    checkpoint.unlink()
    code, out = verify(trail)
    assert code == 1, out
    assert "decision log TAMPERED" in out
    assert "lacuna_decision_log, lacuna_decision_log_head are gone" in out
    assert "they were dropped" in out


def test_no_false_alarm_without_decisions(trail: Trail, tmp_path: Path) -> None:
    """A trail whose decision log was never written (policy.decision_log.type: none) and a new,
    empty state database verify intact, and say so for the decision log too."""
    code, out = verify(trail)  # 12 audit records, no decision ever logged
    assert code == 0, out
    assert "Decision log intact: 0 record(s) verified." in out
    fresh = tmp_path / "fresh" / "audit.db"
    AuditStore(f"sqlite:///{fresh}").close()
    trail.config.write_text(json.dumps({"audit": {"url": f"sqlite:///{fresh}"}}))
    code, out = verify(trail)
    assert code == 0, out
    assert "Audit trail intact: 0 record(s)" in out
    assert "Decision log intact: 0 record(s) verified." in out


def test_rolling_back_every_file_is_detected_only_with_the_checkpoint_log(trail: Trail) -> None:
    """docs/audit.md's rollback table: an older copy of the database restored with every
    checkpoint file beside it is consistent; only the external checkpoint log shows it."""
    from lacuna.audit import ledger

    _decision_log(trail, 2)
    conn = sqlite3.connect(trail.db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    files = [trail.db, trail.checkpoint, ledger.checkpoint_path(trail.db)]
    saved = {f: f.read_bytes() for f in files if f is not None}
    append(trail.url, 3, checkpoint_log=trail.db.parent.parent / "ext" / "cp.log")
    _decision_log(trail, 2)
    for suffix in ("-wal", "-shm"):
        Path(f"{trail.db}{suffix}").unlink(missing_ok=True)
    for f, data in saved.items():
        f.write_bytes(data)
    code, out = verify(trail)
    assert code == 1, out
    assert f"the trail ends at #{N}" in out
    assert "were deleted" in out
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    code, out = verify(trail)
    assert code == 0, out  # the documented limit: a consistent rollback of the folder


def _wal_into_db(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _restore(saved: dict[Path, bytes]) -> None:
    for f, data in saved.items():
        for suffix in ("-wal", "-shm"):
            Path(f"{f}{suffix}").unlink(missing_ok=True)
        f.write_bytes(data)


def test_rolling_back_the_decision_log_with_its_checkpoint_is_detected_by_the_log(
        trail: Trail) -> None:
    """docs/audit.md's rollback table: the database and the decision log's checkpoint file
    restored from an older copy (no audit record appended since) are consistent; the decision
    log's checkpoints in audit.checkpoint_log show it. They did not reach the log before."""
    from lacuna.audit import ledger

    _decision_log(trail, 4, configured=True)
    _wal_into_db(trail.db)
    checkpoint = ledger.checkpoint_path(trail.db)
    assert checkpoint is not None
    saved = {trail.db: trail.db.read_bytes(), checkpoint: checkpoint.read_bytes()}
    _decision_log(trail, 4, configured=True)
    assert verify(trail)[0] == 0
    _restore(saved)
    code, out = verify(trail)
    assert code == 1, out
    assert "decision log TAMPERED" in out
    assert "the decision log ends at #4" in out
    assert "cp.log records #8" in out
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    code, out = verify(trail)
    assert code == 0, out  # the documented limit: a consistent rollback of the folder


def test_dropping_the_decision_log_is_detected_by_the_log(trail: Trail) -> None:
    """Both decision-log tables, the state schema's marks and the checkpoint file gone: the
    decision log's checkpoints in the external log still show there was one."""
    from lacuna.audit import ledger

    _decision_log(trail, 3, configured=True)
    trail.sql(("DROP TABLE lacuna_decision_log", ()), ("DROP TABLE lacuna_decision_log_head", ()),
              ("DROP TABLE lacuna_alembic_version", ()),
              ("DROP TABLE lacuna_metrics_rollup", ()))
    checkpoint = ledger.checkpoint_path(trail.db)
    assert checkpoint is not None
    checkpoint.unlink()
    code, out = verify(trail)
    assert code == 1, out
    assert "the decision-log table is gone, but its checkpoint in" in out


def _other_database(trail: Trail, n: int) -> Path:
    """Another state database signed with the same key (another deployment sharing it), with
    ``n`` audit records of its own."""
    other = trail.db.parent.parent / "other" / "audit.db"
    append(f"sqlite:///{other}", n, user="someone-else")
    _wal_into_db(other)
    return other


def _copy_rows(trail: Trail, other: Path, *tables: str) -> None:
    _wal_into_db(trail.db)
    conn = sqlite3.connect(trail.db)
    try:
        conn.execute("ATTACH ? AS other", (str(other),))
        for name in tables:
            conn.execute(f"DELETE FROM {name}")
            conn.execute(f"INSERT INTO {name} SELECT * FROM other.{name}")
        conn.commit()
    finally:
        conn.close()


def test_a_chain_and_checkpoint_copied_from_another_database_is_detected(trail: Trail) -> None:
    """Another database's (validly signed) chain and checkpoint copied over this one's: the
    checkpoint names the other database's id, so it no longer vouches for this one."""
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    other = _other_database(trail, 3)
    _copy_rows(trail, other, "lacuna_audit", "lacuna_audit_head")
    shutil.copy(f"{other}.checkpoint", trail.checkpoint)
    code, out = verify(trail)
    assert code == 1, out
    assert "audit trail TAMPERED" in out
    assert "names state database" in out
    assert "it was copied from another state database" in out


def test_a_fresh_databases_seq0_checkpoint_does_not_vouch_for_an_emptied_trail(trail: Trail
                                                                               ) -> None:
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    fresh = trail.db.parent.parent / "fresh" / "audit.db"
    AuditStore(f"sqlite:///{fresh}").close()  # writes fresh/audit.db.checkpoint: audit #0
    trail.sql(("DELETE FROM lacuna_audit", ()),
              ("UPDATE lacuna_audit_head SET seq = 0, hash = ?", ("0" * 64,)))
    shutil.copy(f"{fresh}.checkpoint", trail.checkpoint)
    code, out = verify(trail)
    assert code == 1, out
    assert "names state database" in out


def test_copying_the_database_id_too_is_detected_only_with_the_checkpoint_log(trail: Trail
                                                                              ) -> None:
    """The documented limit: whoever can write the database can copy the other database's id
    row too (or the whole file); then only the external log, whose checkpoints name this
    database's id, shows it."""
    other = _other_database(trail, 3)
    _copy_rows(trail, other, "lacuna_audit", "lacuna_audit_head", "lacuna_database_id")
    shutil.copy(f"{other}.checkpoint", trail.checkpoint)
    code, out = verify(trail)
    assert code == 1, out
    assert "cp.log (#12) names state database" in out
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    code, out = verify(trail)
    assert code == 0, out


def test_writer_refuses_a_checkpoint_of_another_database(trail: Trail) -> None:
    """An older-looking checkpoint (#3) of another database does not let a writer go on."""
    other = _other_database(trail, 3)
    shutil.copy(f"{other}.checkpoint", trail.checkpoint)
    with pytest.raises(AuditError, match="names state database"):
        append(trail.url, 1)
    assert len(trail.rows()) == N


def test_writer_refuses_a_database_whose_id_was_deleted(trail: Trail) -> None:
    trail.sql(("DELETE FROM lacuna_database_id", ()))
    with pytest.raises(AuditError, match="has no id"):
        append(trail.url, 1)
    assert len(trail.rows()) == N
    code, out = verify(trail)
    assert code == 1, out
    assert "this database has no id" in out


def _legacy_checkpoint(chain: str, seq: int, digest: str) -> bytes:
    """A checkpoint as Lacuna wrote it before checkpoints named their database."""
    from lacuna.audit.checkpoint import Checkpoint, _slot
    from lacuna.signing import default_keyring

    return _slot(Checkpoint(chain=chain, seq=seq, hash=digest, time="2026-01-01T00:00:00+00:00")
                 .signed(default_keyring()))


def test_a_database_from_before_database_ids_keeps_working(trail: Trail) -> None:
    """The upgrade path: a database at revision 0007 (no id) beside a checkpoint that names no
    database verifies (and says the checkpoint is not tied to it); the next writer upgrades
    it, and its checkpoints name the new id from then on."""
    from lacuna.audit import ledger

    _decision_log(trail, 3)
    trail.config.write_text(json.dumps({"audit": {"url": trail.url}}))  # no checkpoint log
    last = trail.rows()[-1]
    trail.sql(("DROP TABLE lacuna_database_id", ()),
              ("UPDATE lacuna_alembic_version SET version_num = '0007'", ()))
    trail.checkpoint.write_bytes(_legacy_checkpoint("audit", last[0], last[3]))
    dl_checkpoint = ledger.checkpoint_path(trail.db)
    assert dl_checkpoint is not None
    dl = sqlite3.connect(trail.db).execute(
        "SELECT seq, hash FROM lacuna_decision_log_head").fetchone()
    dl_checkpoint.write_bytes(_legacy_checkpoint("decision_log", dl[0], dl[1]))
    code, out = verify(trail)
    assert code == 0, out
    assert "written before checkpoints named their database" in out
    append(trail.url, 1)  # migrates to head: the database gets its id
    _decision_log(trail, 1)
    code, out = verify(trail)
    assert code == 0, out
    assert f"intact: {N + 1} record(s)" in out
    assert "Decision log intact: 4 record(s)" in out
    assert "written before checkpoints named their database" not in out


def test_a_copy_from_before_the_upgrade_restored_is_detected_by_the_log(trail: Trail) -> None:
    """A database restored to before its upgrade (no id) while the log's checkpoints name the
    id it got at the upgrade."""
    last = trail.rows()[-1]
    trail.sql(("DROP TABLE lacuna_database_id", ()),
              ("UPDATE lacuna_alembic_version SET version_num = '0007'", ()))
    trail.checkpoint.write_bytes(_legacy_checkpoint("audit", last[0], last[3]))
    code, out = verify(trail)
    assert code == 1, out
    assert "this database has no id" in out
