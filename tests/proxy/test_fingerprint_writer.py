"""Fingerprints are stored by one writer thread per store, in batches: a governed read never runs
the INSERT itself. With ``proxy.fingerprint_writes: wait`` (the default) the read returns once
they are committed, so any process's proxy recognises them at once; with ``background`` it
returns at once, and the proxy in this process still finds them (a lookup waits for what is
pending), as does every process once the writer (or the exit) has committed them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from lacuna.config import config_from_dict
from lacuna.errors import AuditError
from lacuna.model import Classification, ColumnClass, ColumnKind
from lacuna.proxy.fingerprints import FingerprintStore, record_read, store_for

PII = ColumnClass(classification=ColumnKind.PII, pii_type="name")
KEY = b"k" * 32


def _config(tmp_path: Path, writes: str) -> object:
    return config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                             "anonymize": {"key_dir": str(tmp_path / "keys")},
                             "proxy": {"fingerprint_writes": writes}})


def _read(config: object, refs: list[str], source: str = "customers.csv") -> None:
    frame = pd.DataFrame({"customer_ref": refs, "year": [2020] * len(refs)})
    record_read(config, source, frame,  # type: ignore[arg-type]
                Classification(columns={"customer_ref": PII}))


def _refs(tag: str, n: int = 30) -> list[str]:
    return [f"{tag}-ref-{i:04d}" for i in range(n)]


class _Lock:
    """Another connection holding SQLite's write lock (a busy state database)."""

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.con.execute("BEGIN IMMEDIATE")

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, lambda: (self.con.execute("COMMIT"), self.con.close()))
        timer.start()
        return timer


def test_wait_commits_before_the_read_returns_for_every_process(tmp_path: Path) -> None:
    config = _config(tmp_path, "wait")
    refs = _refs("wait")
    _read(config, refs)
    # another store object: its own engine and writer, as the proxy's process has
    other = FingerprintStore(config.audit_url, store_for(config)._key)  # type: ignore[attr-defined]
    try:
        [m] = other.match({"ref": refs[:5]})
        assert (m.column, m.source, m.matched) == ("customer_ref", "customers.csv", 5)
    finally:
        other.close()


def test_background_returns_at_once_and_the_next_lookup_finds_the_values(tmp_path: Path) -> None:
    config = _config(tmp_path, "background")
    store = store_for(config)  # the key and the table exist before the database gets busy
    refs = _refs("bg")
    lock = _Lock(tmp_path / "state.db")
    timer = lock.release_after(1.0)
    started = time.monotonic()
    _read(config, refs)
    returned = time.monotonic() - started
    assert returned < 0.5  # the read did not wait for the busy database
    assert store.match({"ref": refs[:5]})  # waits for this process's pending write
    assert time.monotonic() - started >= 0.9  # ... which needed the lock
    timer.join()
    assert store.match({"ref": ["never-read-value"]}) == ()  # only what was read


def test_writes_queued_meanwhile_are_one_transaction(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = FingerprintStore(f"sqlite:///{tmp_path / 'state.db'}", KEY)
    batches: list[int] = []
    original = FingerprintStore._store

    def counted(self: FingerprintStore, jobs: list[object]) -> None:
        batches.append(len(jobs))
        original(self, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(FingerprintStore, "_store", counted)
    lock = _Lock(tmp_path / "state.db")
    for i in range(20):
        store.record_columns_later(f"file{i}.csv", [("ref", PII, _refs(f"f{i}", 5))])
    timer = lock.release_after(0.3)
    assert store.flush(timeout=30)
    timer.join()
    assert sum(batches) == 20
    assert len(batches) < 20  # the jobs that waited went in together
    assert len(store.match({"ref": _refs("f19", 5)})) == 1
    assert store.record_columns("again.csv", [("ref", PII, _refs("f19", 5))]) == 0  # known
    store.close()


def test_a_failed_write_is_an_error_for_who_waits_and_a_log_line_for_a_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = FingerprintStore(f"sqlite:///{tmp_path / 'state.db'}", KEY)
    monkeypatch.setattr(store, "_insert_sql", lambda: "INSERT INTO no_such_table VALUES (?)")
    with pytest.raises(AuditError, match="fingerprint store"):
        store.record_columns("x.csv", [("ref", PII, _refs("err", 3))])
    store.record_columns_later("y.csv", [("ref", PII, _refs("err2", 3))])
    assert store.flush(timeout=30)
    assert "could not store fingerprints of y.csv" in caplog.text
    store.close()
    with pytest.raises(AuditError, match="closed"):
        store.record_columns_later("z.csv", [("ref", PII, _refs("late", 3))])


def test_close_commits_what_is_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = FingerprintStore(url, KEY)
    lock = _Lock(tmp_path / "state.db")
    store.record_columns_later("late.csv", [("ref", PII, _refs("late"))])
    timer = lock.release_after(0.3)
    store.close()  # waits for the writer
    timer.join()
    fresh = FingerprintStore(url, KEY)
    assert len(fresh.match({"ref": _refs("late")[:4]})) == 1
    fresh.close()


def test_a_process_that_exits_right_after_a_background_read_stores_it(tmp_path: Path) -> None:
    script = f"""
import pandas as pd
from lacuna.config import config_from_dict
from lacuna.model import Classification, ColumnClass, ColumnKind
from lacuna.proxy.fingerprints import record_read
config = config_from_dict({{"audit": {{"url": "sqlite:///{tmp_path / 'state.db'}"}},
                           "anonymize": {{"key_dir": "{tmp_path / 'keys'}"}},
                           "proxy": {{"fingerprint_writes": "background"}}}})
refs = [f"exit-ref-{{i:04d}}" for i in range(30)]
record_read(config, "exit.csv", pd.DataFrame({{"ref": refs}}),
            Classification(columns={{"ref": ColumnClass(classification=ColumnKind.PII)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    config = _config(tmp_path, "wait")
    [m] = store_for(config).match({"ref": [f"exit-ref-{i:04d}" for i in range(5)]})
    assert m.source == "exit.csv"
