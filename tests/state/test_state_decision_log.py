"""The SQL decision log's two append paths on SQLite and live PostgreSQL: SQLite batches go
through the raw ``sqlite3`` connection (one prepared ``executemany``), other databases through
SQLAlchemy Core; both store the same rows, chain, head and checkpoint."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from lacuna.audit import ledger
from lacuna.model import Decision
from lacuna.policy import log_sinks
from lacuna.policy.decision_log import DecisionEvent, to_records
from lacuna.signing import default_keyring


def _records(tag: str, n: int, *, allowed: bool = True) -> list[dict[str, Any]]:
    events = [DecisionEvent(Decision(allowed=allowed ^ (k % 3 == 0), operation_id=f"op-{tag}-{k}",
                                     reasoning="ü ok" if allowed else "denied",
                                     bundle_revision="rev-1"),
                            {"action": "read", "k": k, "tag": tag, "n": 1e-05},
                            "lacuna/decision/result", 1_764_732_600_000_000_000 + k * 1_500, 7)
              for k in range(n)]
    return to_records(events, {"environment": "test"})


def _verify(sink: log_sinks.SqlDecisionLog, url: str) -> tuple[bool, int, str | None]:
    checkpoint = ledger.checkpoint_path(log_sinks.sqlite_file(log_sinks.parse_url(url)))
    with sink._engine.connect() as conn:
        report = ledger.verify_ledger(conn, log_sinks.table, log_sinks.heads, default_keyring(),
                                      checkpoint, columns=log_sinks.derived_columns)
    return report.ok, report.checked, report.problem or None


def _rows(sink: log_sinks.SqlDecisionLog) -> list[tuple[Any, ...]]:
    with sink._engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(log_sinks.table).order_by(log_sinks.table.c.seq))]


def test_the_sqlite_path_is_the_raw_one_and_others_use_core(state_url: str, home: Path) -> None:
    sink = log_sinks.SqlDecisionLog(state_url)
    try:
        assert (sink._sqlite is not None) == state_url.startswith("sqlite")
        if sink._sqlite is not None:  # the tuples row_values makes fill the right columns
            assert sink._sqlite.columns == log_sinks.ROW_COLUMNS
            assert sink._sqlite.columns == tuple(
                c.name for c in log_sinks.table.columns if c.name not in ledger.CHAIN_COLUMNS)
    finally:
        sink.close()


def test_written_records_read_back_and_verify(state_url: str, home: Path) -> None:
    sink = log_sinks.SqlDecisionLog(state_url)
    try:
        first, second = _records("a", 5), _records("b", 3, allowed=False)
        sink.write(first)
        sink.write(second)
        sink.write([])  # nothing to write: no transaction, the head stays
        back = sink.records(limit=20)
        assert sorted(back, key=lambda r: r["decision_id"]) == sorted(
            [json.loads(log_sinks.body_text(r)) for r in first + second],
            key=lambda r: r["decision_id"])
        assert sink.records(operation_id="op-b-1")[0]["input"] == {
            "action": "read", "k": 1, "tag": "b", "n": 1e-05}
        rows = _rows(sink)
        by_id = {r["decision_id"]: r for r in first + second}
        for row in rows:  # each column as the record says, the body its exact text
            assert row[:7] == log_sinks.row_values(by_id[row[0]])
        assert [row[7] for row in rows] == list(range(1, 9))  # seq
        assert _verify(sink, state_url) == (True, 8, None)
    finally:
        sink.close()


def test_the_raw_path_stores_what_core_stores(tmp_path: Path, home: Path) -> None:
    """The same batches through each path, into two SQLite files: every column of every row
    (the chain's hashes and signatures included) and the head are the same."""
    raw = log_sinks.SqlDecisionLog(f"sqlite:///{tmp_path / 'raw.db'}")
    core = log_sinks.SqlDecisionLog(f"sqlite:///{tmp_path / 'core.db'}")
    core._sqlite = None  # as on PostgreSQL
    try:
        batches = [_records("a", 4), _records("b", 1, allowed=False), _records("c", 6)]
        for batch in batches:
            raw.write(batch)
            core.write(batch)
        assert _rows(raw) == _rows(core)
        assert len(_rows(raw)) == 11
        after = _records("d", 2)
        for sink in (raw, core):  # a deleted head row is rebuilt from the last record alike
            with sink._engine.begin() as conn:
                conn.execute(delete(log_sinks.heads))
            sink.write(after)
        assert _rows(raw) == _rows(core)
        with raw._engine.connect() as a, core._engine.connect() as b:
            assert (a.execute(select(log_sinks.heads)).all()
                    == b.execute(select(log_sinks.heads)).all())
        assert _verify(raw, f"sqlite:///{tmp_path / 'raw.db'}") == (True, 13, None)
        assert _verify(core, f"sqlite:///{tmp_path / 'core.db'}") == (True, 13, None)
    finally:
        raw.close()
        core.close()


def test_two_sinks_on_one_database_keep_one_chain(state_url: str, home: Path) -> None:
    one, two = log_sinks.SqlDecisionLog(state_url), log_sinks.SqlDecisionLog(state_url)
    try:
        for k in range(3):  # in turns
            one.write(_records(f"one-{k}", 3))
            two.write(_records(f"two-{k}", 2))
        failures: list[BaseException] = []

        def hammer(sink: log_sinks.SqlDecisionLog, tag: str) -> None:
            try:
                for k in range(10):
                    sink.write(_records(f"{tag}-{k}", 5))
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=hammer, args=(s, t))
                   for s, t in ((one, "x"), (two, "y"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert _verify(one, state_url) == (True, 15 + 100, None)
        assert [row[7] for row in _rows(two)] == list(range(1, 116))
    finally:
        one.close()
        two.close()


def test_a_failing_batch_writes_nothing_and_is_dropped(state_url: str, home: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    sink = log_sinks.SqlDecisionLog(state_url, flush_interval_s=30)  # one batch: on flush
    try:
        kept = _records("kept", 3)
        sink.write(kept)
        before = _rows(sink)
        # the third record repeats a stored decision id: the insert fails after two good rows
        bad = [*_records("bad", 2), kept[0]]
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            sink.write(bad)
        assert _rows(sink) == before  # rolled back whole: no row, the head where it was
        assert _verify(sink, state_url) == (True, 3, None)
        # on the writer thread a failing batch is counted as dropped, and the log goes on
        events = [DecisionEvent(Decision(allowed=True, operation_id="op-q", reasoning=""),
                                {}, "p", 1_764_732_600_000_000_000, 1, decision_id=i)
                  for i in ("q1", kept[1]["decision_id"])]
        sink.log(events[0])
        sink.log(events[1])  # its batch holds a duplicate: the whole batch is dropped
        assert sink.flush()
        assert (sink.written, sink.dropped) == (0, 2)
        assert "could not write 2 records" in caplog.text
        sink.write(_records("after", 2))
        assert _verify(sink, state_url) == (True, 5, None)
        with sink._engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(log_sinks.table)).scalar()
        assert count == 5
    finally:
        sink.close()


def test_verify_compares_each_column_with_its_body(state_url: str, home: Path) -> None:
    """An edited operation_id column hid a decision from ``lacuna policy log --operation``
    while verify said intact: each column the writer copies from the record is checked."""
    sink = log_sinks.SqlDecisionLog(state_url)
    try:
        sink.write(_records("a", 4))
        assert _verify(sink, state_url) == (True, 4, None)  # every column as written
        t = log_sinks.table
        for column, value in (("operation_id", "op-elsewhere"), ("revision", None),
                              ("path", "x"), ("allowed", True)):
            with sink._engine.begin() as conn:
                before = conn.execute(select(t.c[column]).where(t.c.seq == 3)).scalar()
                if column == "allowed":
                    value = not before
                conn.execute(t.update().where(t.c.seq == 3).values({column: value}))
            ok, checked, problem = _verify(sink, state_url)
            assert (ok, checked) == (False, 2)
            assert f"record #3's column(s) {column} differ from its hashed body" in str(problem)
            with sink._engine.begin() as conn:
                conn.execute(t.update().where(t.c.seq == 3).values({column: before}))
            assert _verify(sink, state_url) == (True, 4, None)
        assert sink.records(operation_id="op-a-2")[0]["result"]["operation_id"] == "op-a-2"
    finally:
        sink.close()


@pytest.mark.parametrize("edit", ["allowed = ''", "body = CAST(body AS BLOB)", "seq = -3"])
def test_verify_reports_what_sqlite_stores_but_lacuna_never_writes(
        tmp_path: Path, home: Path, edit: str) -> None:
    """``''`` reads back as False (a denial) but no ``allowed = 0`` finds it; a BLOB body
    made verify fail with a TypeError: both are named findings."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = log_sinks.SqlDecisionLog(url)
    try:
        sink.write(_records("a", 3))  # k = 0 is a denial
        with sink._engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE lacuna_decision_log SET {edit} WHERE seq = 1")
        ok, checked, problem = _verify(sink, url)
        assert (ok, checked) == (False, 0)
        expected = {"a": "allowed differ", "b": "body is not stored as text",
                    "s": "a decision-log record numbered #-3 lies outside the chain"}[edit[0]]
        assert expected in str(problem)
    finally:
        sink.close()
