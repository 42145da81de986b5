"""The external checkpoint log (``audit.checkpoint_log``) on SQLite and live PostgreSQL: the
decision log's checkpoints reach it, name the state database, and verify compares with them.
On PostgreSQL there is no checkpoint file beside the database, so the log is the only record
of the decision log's head outside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from lacuna.audit import ledger
from lacuna.audit.checkpoint import Checkpoint, CheckpointLog
from lacuna.audit.record import VerifyReport
from lacuna.policy import log_sinks
from lacuna.signing import default_keyring
from lacuna.state import database_id


def _records(tag: str, n: int) -> list[dict[str, Any]]:
    return [{"decision_id": f"{tag}-{k}", "timestamp": "2026-12-03T00:00:00.000000Z",
             "path": "lacuna/decision", "result": {"operation_id": f"op-{k}", "allowed": True},
             "bundles": {"lacuna": {"revision": "r"}}} for k in range(n)]


def _verify(sink: log_sinks.SqlDecisionLog, url: str, log: Path) -> VerifyReport:
    keyring = default_keyring()
    checkpoint = ledger.checkpoint_path(log_sinks.sqlite_file(log_sinks.parse_url(url)))
    logged = CheckpointLog(log).valid(ledger.CHAIN, keyring)
    with sink._engine.connect() as conn:
        return ledger.verify_ledger(conn, log_sinks.table, log_sinks.heads, keyring,
                                    checkpoint, log=(log, logged))


def test_decision_log_checkpoints_reach_the_log_and_show_a_rollback(state_url: str, home: Path,
                                                                    tmp_path: Path) -> None:
    log = tmp_path / "ext" / "cp.log"
    sink = log_sinks.SqlDecisionLog(state_url, checkpoint_log=log)
    try:
        sink.write(_records("a", 3))
        sink.write(_records("b", 2))
        with sink._engine.connect() as conn:
            ident = database_id.read(conn)
        assert ident is not None
        assert len(ident) == 32
        lines = [Checkpoint.parse(line) for line in log.read_bytes().splitlines()]
        assert [(cp.chain, cp.seq, cp.database) for cp in lines if cp is not None] == [
            ("decision_log", 3, ident), ("decision_log", 5, ident)]
        report = _verify(sink, state_url, log)
        assert (report.ok, report.checked) == (True, 5), report.problem
        # roll the decision log back to #3 (rows and head; the file checkpoint too on SQLite)
        with sink._engine.begin() as conn:
            third = conn.execute(select(log_sinks.table.c.hash)
                                 .where(log_sinks.table.c.seq == 3)).scalar_one()
            conn.execute(delete(log_sinks.table).where(log_sinks.table.c.seq > 3))
            conn.execute(update(log_sinks.heads).values(seq=3, hash=third))
        checkpoint = ledger.checkpoint_path(log_sinks.sqlite_file(
            log_sinks.parse_url(state_url)))
        if checkpoint is not None:
            checkpoint.write_bytes(log.read_bytes().splitlines()[0].ljust(511) + b"\n")
        report = _verify(sink, state_url, log)
        assert not report.ok
        assert "the decision log ends at #3" in report.problem
        assert str(log) in report.problem
    finally:
        sink.close()


def test_a_log_holding_another_databases_checkpoints_is_refused(state_url: str, home: Path,
                                                                tmp_path: Path) -> None:
    log = tmp_path / "ext" / "cp.log"
    sink = log_sinks.SqlDecisionLog(state_url, checkpoint_log=log)
    try:
        sink.write(_records("a", 2))
        CheckpointLog(log).append(Checkpoint(chain="decision_log", seq=1, hash="x" * 64,
                                             time="t", database="f" * 32)
                                  .signed(default_keyring()))
        report = _verify(sink, state_url, log)
        assert not report.ok
        assert f"names state database {'f' * 32}, not this one" in report.problem
    finally:
        sink.close()
