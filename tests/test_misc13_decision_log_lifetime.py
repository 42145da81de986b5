"""A decision log dropped without ``close()`` (a Governor never closed): its writer thread held
the sink for the life of the process, and with it the state database's engine lease, the
engine's pool and its cache of compiled statements (the test session's heap grew by ~2,400
objects a test, mostly SQLAlchemy's compiled statements of the engines of tests' audit.db).
The thread now holds the sink weakly: the sink is collected once its records are written, its
thread ends and its lease is released. A record logged just before it is dropped is written."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lacuna.config import Config
from lacuna.model import Action, Classification, Operation, Tier, User
from lacuna.policy import PolicyEngine
from lacuna.policy.decision_log import DecisionLogSink
from lacuna.policy.log_sinks import SqlDecisionLog
from lacuna.state import engines


def _read() -> Operation:
    return Operation(action=Action.READ, user=User(id="alice"),
                     classification=Classification(tier=Tier.INTERNAL))


def _gone(ref: weakref.ref[Any], thread: threading.Thread, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        gc.collect()
        if ref() is None and not thread.is_alive():
            return True
        time.sleep(0.01)
    return False


class ListSink(DecisionLogSink):
    name = "list"

    def __init__(self, out: list[Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.out = out

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.out.extend(records)


def test_a_sink_dropped_unclosed_writes_what_it_was_given_then_goes() -> None:
    out: list[Mapping[str, Any]] = []
    sink = ListSink(out, flush_interval_s=0.05)
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    decision = engine.decide(_read())
    thread, ref = sink._thread, weakref.ref(sink)
    assert thread is not None
    assert thread.is_alive()
    del sink, engine  # dropped with the record queued: never closed, never flushed
    assert _gone(ref, thread), "the writer thread kept the sink alive"
    assert [r["result"]["operation_id"] for r in out] == [decision.operation_id]


def test_a_sql_sink_dropped_unclosed_releases_its_state_database(sandbox: Path) -> None:
    url = f"sqlite:///{sandbox / 'audit.db'}"
    before = sum(engines.shared().values())
    sink = SqlDecisionLog(url, flush_interval_s=0.01)
    assert sum(engines.shared().values()) == before + 1  # its lease
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    engine.decide(_read())
    assert sink.flush(5)
    thread, ref = sink._thread, weakref.ref(sink)
    assert thread is not None
    del sink, engine
    assert _gone(ref, thread), "the writer thread kept the sink alive"
    assert sum(engines.shared().values()) == before  # released (shared() releases the collected)
    with sqlite3.connect(sandbox / "audit.db") as conn:  # what it logged is there
        assert conn.execute("SELECT count(*) FROM lacuna_decision_log").fetchone() == (1,)


def test_a_closed_sink_still_ends_its_thread_and_a_live_one_keeps_writing() -> None:
    out: list[Mapping[str, Any]] = []
    sink = ListSink(out, flush_interval_s=0.01)
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    engine.decide(_read())
    thread = sink._thread
    assert thread is not None
    time.sleep(0.05)  # several idle wake-ups: the thread goes on while the sink is in use
    assert thread.is_alive()
    engine.decide(_read())
    assert sink.flush(5)
    assert len(out) == 2
    sink.close()
    thread.join(5)
    assert not thread.is_alive()
