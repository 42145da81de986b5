"""Decision logs: OPA's record shape, the SQL table beside the audit trail, HTTP batches."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from lacuna.audit import AuditStore
from lacuna.config import Config
from lacuna.errors import ConfigError
from lacuna.model import Action, Classification, Decision, Operation, Tier, User
from lacuna.policy import DecisionLogSink, MemoryDecisionLog, PolicyEngine
from lacuna.policy.decision_log import DecisionEvent, to_record
from lacuna.policy.log_sinks import HttpDecisionLog, SqlDecisionLog, sink_from_settings


def read_op() -> Operation:
    return Operation(action=Action.READ, user=User(id="alice"),
                     classification=Classification(tier=Tier.INTERNAL))


def test_decision_log_record_has_opas_shape() -> None:
    sink = MemoryDecisionLog(labels={"environment": "test"})
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    operation = read_op()
    decision = engine.decide(operation)
    assert sink.flush()
    [record] = sink.records
    assert set(record) == {"decision_id", "timestamp", "path", "input", "result", "bundles",
                           "metrics", "labels"}
    assert record["path"] == "lacuna/decision/result"
    assert record["timestamp"].endswith("Z")
    assert record["input"]["action"] == "read"
    assert record["result"] == decision.to_dict()
    assert record["result"]["operation_id"] == operation.id
    assert record["bundles"] == {"lacuna": {"revision": engine.revision}}
    assert record["metrics"]["timer_rego_query_eval_ns"] > 0
    assert record["metrics"]["counter_lacuna_cache_hit"] == 0
    assert record["labels"]["app"] == "lacuna"
    assert record["labels"]["environment"] == "test"
    assert len(record["decision_id"]) == 32


def test_decision_log_cached_decisions_are_logged_too() -> None:
    sink = MemoryDecisionLog()
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    engine.decide(read_op())
    engine.decide(read_op())
    assert sink.flush()
    assert [r["metrics"]["counter_lacuna_cache_hit"] for r in sink.records] == [0, 1]
    assert len({r["decision_id"] for r in sink.records}) == 2


def test_decision_log_sql_table_beside_the_audit_trail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    audit = AuditStore(url)
    sink = SqlDecisionLog(url, batch_size=2, flush_interval_s=0.05)
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    operations = [read_op() for _ in range(5)]
    for operation in operations:
        decision = engine.decide(operation)
        audit.record(decision, operation, session="s")
    sink.close()
    records = SqlDecisionLog(url).records(limit=10)
    assert sorted(r["result"]["operation_id"] for r in records) == sorted(
        o.id for o in operations)
    assert {r["bundles"]["lacuna"]["revision"] for r in records} == {engine.revision}
    assert SqlDecisionLog(url).records(operation_id=operations[0].id)[0]["input"]["action"] == (
        "read")
    trail = audit.list()
    assert {r.data["decision"]["bundle_revision"] for r in trail} == {engine.revision}
    assert audit.verify().ok
    audit.close()


def test_decision_log_body_text_reads_back_as_json_would_have_written_it() -> None:
    """The stored text (orjson, or json for what orjson would write another way) parses to the
    same record as ``json.dumps(..., default=str)`` gave before; it is what the chain hashes."""
    from datetime import UTC, datetime

    from lacuna.policy.log_sinks import body_text

    engine = PolicyEngine.from_config(Config())
    operation = read_op()
    decision = engine.decide(operation)
    plain = to_record(DecisionEvent(decision, {"action": "read", "n": 1e-05, "ü": [1, 2.5]},
                                    "lacuna/decision/result", 1, 2))
    dated = {**plain, "input": {"at": datetime(2026, 1, 2, tzinfo=UTC)}}
    for record in (plain, dated):
        text = body_text(record)
        assert json.loads(text) == json.loads(json.dumps(record, default=str))
        assert text == body_text(record)  # deterministic: sorted keys
    assert '"ü":[1,2.5]' in body_text(plain)  # written by orjson (json would escape the ü)
    assert body_text(dated) == json.dumps(dated, sort_keys=True, separators=(",", ":"),
                                          default=str)  # a date: json, as before


def test_decision_log_sql_sink_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    from lacuna.errors import AuditError

    path = tmp_path / "notes.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(AuditError, match="is not an SQLite database"):
        SqlDecisionLog(f"sqlite:///{path}")


class Collector:
    """A small HTTP server that keeps what is POSTed to it (gzip JSON batches)."""

    def __init__(self, status: int = 200) -> None:
        self.batches: list[list[dict]] = []
        self.status = status
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Encoding"] == "gzip"
                if collector.status == 200:
                    collector.batches.append(json.loads(gzip.decompress(raw)))
                self.send_response(collector.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/logs"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_decision_log_http_sink_posts_batches() -> None:
    collector = Collector()
    try:
        sink = HttpDecisionLog(collector.url, batch_size=3, flush_interval_s=0.05)
        engine = PolicyEngine.from_config(Config(), decision_log=sink, cache_size=0)
        for _ in range(7):
            engine.decide(read_op())
        sink.close()
    finally:
        collector.stop()
    assert [len(b) for b in collector.batches] == [3, 3, 1]
    assert sink.written == 7
    assert sink.dropped == 0


def test_decision_log_failing_sink_never_breaks_decisions(caplog) -> None:
    collector = Collector(status=500)
    try:
        sink = HttpDecisionLog(collector.url, retries=1, backoff_s=0.001, flush_interval_s=0.05)
        engine = PolicyEngine.from_config(Config(), decision_log=sink)
        with caplog.at_level(logging.ERROR, logger="lacuna.policy.decision_log"):
            assert engine.decide(read_op()).allowed
            sink.close()
    finally:
        collector.stop()
    assert sink.dropped == 1
    assert "could not write 1 records (dropped)" in caplog.text
    assert "answered HTTP 500" in caplog.text


class BlockedSink(DecisionLogSink):
    name = "blocked"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()

    def write(self, records) -> None:
        self.release.wait(5)


def test_decision_log_full_queue_drops_instead_of_blocking(caplog) -> None:
    sink = BlockedSink(queue_size=2, batch_size=1, flush_interval_s=0.01)
    engine = PolicyEngine.from_config(Config(), decision_log=sink, cache_size=0)
    with caplog.at_level(logging.WARNING, logger="lacuna.policy.decision_log"):
        for _ in range(10):
            assert engine.decide(read_op()).allowed
    assert sink.dropped >= 6
    assert "is full: dropped" in caplog.text
    sink.release.set()
    sink.close()


def test_decision_log_sink_from_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert isinstance(sink_from_settings({}, audit_url=url), SqlDecisionLog)
    http = sink_from_settings({"type": "http", "url": "http://x/logs", "timeout_ms": 100})
    assert isinstance(http, HttpDecisionLog)
    assert http.timeout_s == 0.1
    assert sink_from_settings({"type": "none"}) is None
    with pytest.raises(ConfigError, match="needs url"):
        sink_from_settings({"type": "http"})
    with pytest.raises(ConfigError, match="is not one of"):
        sink_from_settings({"type": "kafka"})


def test_decision_log_sql_sink_can_checkpoint_in_the_background(tmp_path: Path) -> None:
    """As the server runs it: the batches' commits leave copying the WAL back to a thread of
    their own (lacuna.audit.walcheck), and the rows end up in the database file."""
    import shutil
    import sqlite3
    import time

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    AuditStore(url).close()
    sink = SqlDecisionLog(url, batch_size=5, flush_interval_s=0.05)
    sink.checkpoint_in_background()
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    for _ in range(20):
        engine.decide(read_op())
    assert sink.flush()
    wal = sink._wal
    assert wal is not None
    deadline = time.monotonic() + 10
    while True:  # the database file alone (no -wal) holds the rows once they are copied back
        shutil.copyfile(tmp_path / "audit.db", tmp_path / "alone.db")
        with sqlite3.connect(tmp_path / "alone.db") as conn:
            n = conn.execute("SELECT COUNT(*) FROM lacuna_decision_log").fetchone()[0]
        (tmp_path / "alone.db").unlink()
        # runs is counted just after the checkpoint returns: the rows can be seen first
        if (n == 20 and wal.runs > 0) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert n == 20
    assert wal.runs > 0
    sink.close()
    assert wal._thread is None
    assert len(SqlDecisionLog(url).records(limit=50)) == 20


def test_record_timestamps_are_the_text_datetime_gives() -> None:
    """``iso_timestamp`` formats a second once and rounds the microseconds itself: the same
    text as ``datetime.fromtimestamp(ns / 1e9, UTC)`` for every instant, half-microseconds,
    second boundaries (rounding up into the next second) and instants before 1970 included."""
    import random
    from datetime import UTC, datetime

    from lacuna.policy.decision_log import iso_timestamp

    def reference(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(
            timespec="microseconds").replace("+00:00", "Z")

    rng = random.Random(7)
    edges = [0, 1, -1, 499, 500, 501, 1_500, 2_500, 999_999_499, 999_999_500, 999_999_999,
             -500, -1_500, -999_999_999, 1_764_732_600_000_000_500, 1_764_732_600_999_999_500,
             1_764_732_600_999_999_999, 4_102_444_799_999_999_999]
    samples = edges + [rng.randrange(-10**18, 4 * 10**18) for _ in range(20_000)]
    samples += [rng.randrange(0, 2 * 10**18) // 1000 * 1000 + rng.choice((499, 500, 501))
                for _ in range(20_000)]
    now = time.time_ns()
    samples += list(range(now, now + 3 * 10**9, 999_983))  # consecutive: the cached second
    assert [iso_timestamp(ns) for ns in samples] == [reference(ns) for ns in samples]


def test_a_batch_of_records_is_the_records_one_by_one() -> None:
    """``to_records`` (the writer thread's) makes what ``to_record`` makes, each record its
    own: only the made-up decision ids differ (a server's own id is kept)."""
    from lacuna.policy.decision_log import to_records
    from lacuna.policy.log_sinks import body_text

    engine = PolicyEngine.from_config(Config())
    events = [DecisionEvent(engine.decide(read_op()), {"action": "read", "k": k},
                            "lacuna/decision/result", time.time_ns() + k, 10 + k,
                            cache_hit=k == 1, decision_id="server-id" if k == 2 else None,
                            extra_metrics={"counter_x": k})
              for k in range(4)]
    labels = {"environment": "test"}
    batch = to_records(events, labels)
    single = [to_record(e, labels) for e in events]
    assert batch[2]["decision_id"] == "server-id"
    assert len({r["decision_id"] for r in batch}) == 4
    for made, one in zip(batch, single, strict=True):
        one = {**one, "decision_id": made["decision_id"]}
        assert made == one
        assert body_text(made) == body_text(one)
    batch[0]["labels"]["environment"] = "changed"  # records share no mutable parts
    assert batch[1]["labels"]["environment"] == "test"
    assert to_records([], labels) == []


def test_prometheus_shows_the_decision_logs_counts_only_when_there_is_one() -> None:
    from lacuna.server.metrics import Metrics

    metrics = Metrics()
    assert "lacuna_decision_log_records_total" not in metrics.render()
    text = metrics.render(decision_log=(1200, 35))
    assert "# TYPE lacuna_decision_log_records_total counter" in text
    assert 'lacuna_decision_log_records_total{result="written"} 1200\n' in text
    assert 'lacuna_decision_log_records_total{result="dropped"} 35\n' in text


def _events(n: int, start: int = 0) -> list[dict[str, object]]:
    out = []
    for i in range(start, start + n):
        op = Operation(action=Action.READ, user=User(id=f"u{i}"), classification=Classification())
        out.append(to_record(DecisionEvent(
            decision=Decision(allowed=True, operation_id=op.id, reasoning="r"),
            input={"i": i}, path="lacuna/decision", timestamp_ns=i, eval_ns=1)))
    return out


def test_a_batch_is_linked_before_the_turn_and_again_only_when_the_head_moved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite sink hashes and signs a batch before it takes the writers' turn (which then
    covers only the SQL); when another writer moved the head meanwhile, it links the batch
    again under the lock: the chain verifies either way, in the order written."""
    from lacuna.audit import ledger
    from lacuna.cli.audit import _verify_decision_log

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = AuditStore(url)
    mine, other = SqlDecisionLog(url), SqlDecisionLog(url)
    linked: list[int] = []
    real_links = ledger.chain_links

    def counting(bodies, seq, prev, keyring):  # type: ignore[no-untyped-def]
        linked.append(len(bodies))
        return real_links(bodies, seq, prev, keyring)

    monkeypatch.setattr(ledger, "chain_links", counting)
    mine.write(_events(2))  # no head row yet: linked under the lock
    linked.clear()
    mine.write(_events(3, 2))  # the head did not move: linked once, before the turn
    assert linked == [3]

    real_ahead = ledger.link_ahead

    def moved_meanwhile(conn, sql, rows, keyring):  # type: ignore[no-untyped-def]
        ahead = real_ahead(conn, sql, rows, keyring)
        monkeypatch.setattr(ledger, "link_ahead", real_ahead)  # once
        other.write(_events(2, 5))  # another process's batch lands first
        return ahead

    monkeypatch.setattr(ledger, "link_ahead", moved_meanwhile)
    linked.clear()
    mine.write(_events(4, 7))
    assert linked == [4, 2, 4]  # ahead, the other writer's batch, again under the lock
    report = _verify_decision_log(store)
    assert report is not None
    assert report.ok, report.problem
    assert report.checked == 11
    order = [r["input"]["i"] for r in reversed(mine.records(limit=20))]
    assert order == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    for sink in (mine, other):
        sink.close()
    store.close()


def test_a_decisions_log_record_masks_the_credentials_the_audit_trail_masks() -> None:
    """A password or token in an export's URL or a source's name, a token in the purpose, an
    AWS key in the code location: the audit trail masked them, the decision log (a second
    copy of the same operation) kept them as sent, in its input and in the result's repeat of
    the destination."""
    from lacuna.model import Destination, DestinationType, Scope, Source

    sink = MemoryDecisionLog()
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    secret = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
    url = "https://ann:hunter2@files.example.com/up/x.csv?token=abc123"
    engine.decide(Operation(
        action=Action.EXPORT, user=User(id="alice"), classification=secret,
        sources=(Source(name="postgresql://bob:s3cret@db/crm", classification=secret),),
        destination=Destination(uri=url, type=DestinationType.HTTP, scope=Scope.EXTERNAL,
                                path=url),
        purpose="upload with Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        code_location="nb.py:3 AKIAIOSFODNN7EXAMPLE"))
    public = read_op()  # nothing to mask: the record holds the input as it was
    engine.decide(public)
    assert sink.flush()
    masked, plain = sink.records
    text = json.dumps(masked)
    for secret_text in ("hunter2", "abc123", "s3cret", "eyJhbGciOiJIUzI1NiJ9",
                        "AKIAIOSFODNN7EXAMPLE"):
        assert secret_text not in text, secret_text
    masked_url = "https://ann:***@files.example.com/up/x.csv?token=***"
    assert masked["input"]["destination"]["uri"] == masked_url
    assert masked["input"]["destination"]["path"] == masked_url
    assert masked["input"]["source"]["names"] == ["postgresql://bob:***@db/crm"]
    assert masked["input"]["purpose"] == "upload with Bearer ***"
    assert masked["input"]["context"]["code_location"] == "nb.py:3 ***"
    assert masked["result"]["destination"] == masked_url
    assert masked["result"]["allowed"] is False  # the decision itself is as it was made
    assert plain["input"]["action"] == "read"
    assert plain["result"]["operation_id"] == public.id
