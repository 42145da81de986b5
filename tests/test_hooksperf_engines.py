"""One SQLAlchemy engine per state database per process (lacuna.state.engines): what
``lacuna.enable()`` opens, what it writes, and what is left open afterwards."""

from __future__ import annotations

import gc
import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import inspect

import lacuna
from lacuna import governor
from lacuna.audit import AuditStore
from lacuna.policy.log_sinks import SqlDecisionLog
from lacuna.state import engines


def _key(path: Path) -> str:
    return f"sqlite:{path}"


def _decide_once(sandbox: Path) -> None:
    pd.read_csv(sandbox / "sales.csv").to_csv(sandbox / "governed" / "workspace" / "out.csv")


def test_engines_audit_trail_and_decision_log_share_one_engine(sandbox: Path,
                                                                sandbox_config) -> None:
    lacuna.enable(sandbox_config())
    gov = governor.current()
    sink = gov.engine.decision_log  # type: ignore[attr-defined]
    assert isinstance(sink, SqlDecisionLog)
    assert gov.audit.engine is sink.engine
    assert engines.shared()[_key(sandbox / "audit.db")] == 2


def test_engines_next_governor_reuses_the_engine_and_writes_the_same(sandbox: Path,
                                                                     sandbox_config) -> None:
    lacuna.enable(sandbox_config())
    first = governor.current()
    engine = first.audit.engine
    _decide_once(sandbox)
    lacuna.disable()
    lacuna.enable(sandbox_config(mode="warn"))  # a new governor: the first one is closed
    second = governor.current()
    assert second is not first
    assert second.audit.engine is engine
    _decide_once(sandbox)
    lacuna.disable()
    # what both governors wrote is one intact chain, in the trail and in the decision log
    report = second.audit.verify()
    assert report.ok, report
    sessions = {r.data.get("who", {}).get("session") for r in second.audit.list(limit=100)}
    assert {first.session, second.session} <= sessions
    second.flush()
    logged = second.engine.decision_log.records(limit=100)  # type: ignore[attr-defined]
    assert len(logged) >= 2


def test_engines_connections_close_with_the_last_store(sandbox: Path, sandbox_config) -> None:
    lacuna.enable(sandbox_config())
    gov = governor.current()
    engine = gov.audit.engine
    _decide_once(sandbox)
    lacuna.disable()
    assert engine.pool.checkedin() > 0  # the governor is open: its connections are pooled
    governor.reset()  # closes the governor's stores
    assert engines.shared()[_key(sandbox / "audit.db")] == 0
    assert engine.pool.checkedin() == 0  # nothing open on the file any more
    lacuna.disable()  # forgets the idle engine altogether
    assert _key(sandbox / "audit.db") not in engines.shared()


def test_engines_a_replaced_file_is_the_one_written_after_reopening(sandbox: Path,
                                                                     sandbox_config) -> None:
    """A governor closed and its file moved away: the next governor writes to a new file at
    the path, never to the moved one through a connection kept open."""
    lacuna.enable(sandbox_config())
    _decide_once(sandbox)
    lacuna.disable()
    governor.reset()
    moved = sandbox / "old-audit.db"
    for suffix in ("", "-wal", "-shm", ".checkpoint"):
        if (sandbox / f"audit.db{suffix}").exists():
            (sandbox / f"audit.db{suffix}").rename(sandbox / f"old-audit.db{suffix}")
    with closing(sqlite3.connect(moved)) as conn:
        before = conn.execute("SELECT count(*) FROM lacuna_audit").fetchone()[0]
    assert before > 0
    lacuna.enable(sandbox_config())
    _decide_once(sandbox)
    lacuna.disable()
    assert governor.current().audit.list(limit=10)
    with closing(sqlite3.connect(moved)) as conn:
        assert conn.execute("SELECT count(*) FROM lacuna_audit").fetchone()[0] == before


def test_engines_in_memory_databases_stay_separate() -> None:
    with AuditStore("sqlite://") as one, AuditStore("sqlite://") as two:
        assert one.engine is not two.engine
        with one.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE only_in_one (x INTEGER)")
        with two.engine.connect() as conn:
            assert "only_in_one" not in inspect(conn).get_table_names()
        assert two.list() == []


def test_engines_relative_paths_and_readers_get_engines_of_their_own(tmp_path: Path) -> None:
    with AuditStore("sqlite:///rel.db") as one, AuditStore("sqlite:///rel.db") as two:
        assert one.engine is not two.engine  # a relative path names a file per cwd
    url = f"sqlite:///{tmp_path / 'abs.db'}"
    with AuditStore(url) as writer, AuditStore(url, read_only=True) as reader:
        assert reader.engine is not writer.engine  # mode=ro: SQLite refuses its writes
        with AuditStore(url) as other:
            assert other.engine is writer.engine


def test_engines_a_store_collected_unclosed_gives_its_engine_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = AuditStore(url)
    engine = store.engine
    with AuditStore(url) as other:
        assert other.engine is engine
        assert engines.shared()[_key(tmp_path / "a.db")] == 2
        del store
        gc.collect()
        assert engines.shared()[_key(tmp_path / "a.db")] == 1
    assert engines.shared()[_key(tmp_path / "a.db")] == 0
    engines.drop_idle()
    assert _key(tmp_path / "a.db") not in engines.shared()


def test_engines_a_store_that_fails_to_open_gives_its_engine_back(tmp_path: Path) -> None:
    path = tmp_path / "not-sqlite.db"
    path.write_bytes(b"not a database, kept as it is" * 100)
    with pytest.raises(lacuna.LacunaError):
        AuditStore(f"sqlite:///{path}")
    assert engines.shared().get(_key(path), 0) == 0
    assert path.read_bytes().startswith(b"not a database")


def test_engines_shared_never_shows_a_password() -> None:
    from sqlalchemy.engine import make_url

    url = make_url("postgresql+psycopg://lacuna:s3cret-pw@db.invalid/lacuna")
    lease = engines.lease(url)  # no connection is made
    try:
        again = engines.lease(make_url("postgresql+psycopg://lacuna:s3cret-pw@db.invalid/lacuna"))
        other = engines.lease(make_url("postgresql+psycopg://lacuna:other-pw@db.invalid/lacuna"))
        assert again.engine is lease.engine
        assert other.engine is not lease.engine  # another login: another engine
        shown = engines.shared()
        assert not any("s3cret" in key or "other-pw" in key for key in shown)
        assert shown["postgresql+psycopg://lacuna:***@db.invalid/lacuna"] == 3
        again.release()
        other.release()
        other.release()  # a lease is given back once
        assert engines.shared()["postgresql+psycopg://lacuna:***@db.invalid/lacuna"] == 1
    finally:
        lease.release()
        engines.drop_idle()
    assert "postgresql+psycopg://lacuna:***@db.invalid/lacuna" not in engines.shared()


def test_engines_another_driver_or_uri_options_get_another_engine(tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    path = tmp_path / "d.db"
    plain = engines.lease(make_url(f"sqlite:///{path}"))
    named = engines.lease(make_url(f"sqlite+pysqlite:///{path}"))
    options = engines.lease(make_url(f"sqlite:///{path}?timeout=1"))
    try:
        assert named.engine is not plain.engine
        assert options.engine is not plain.engine  # options: an engine of its own
        again = engines.lease(make_url(f"sqlite:///{path}"))
        assert again.engine is plain.engine
        again.release()
    finally:
        for lease in (plain, named, options, plain):  # a second release changes nothing
            lease.release()
    assert engines.shared()[_key(path)] == 0
    engines.drop_idle()


def test_engines_a_shared_pool_is_as_large_as_the_two_it_replaces(sandbox_config) -> None:
    """The audit trail's readers must not leave the decision log's writer waiting for a
    connection: the shared pool holds what the two engines of their own did together."""
    lacuna.enable(sandbox_config())
    engine = governor.current().audit.engine
    own = AuditStore("sqlite:///relative-own.db")  # an engine of its own: SQLAlchemy's pool
    try:
        assert engine.pool.size() == 2 * own.engine.pool.size()  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 2 * own.engine.pool._max_overflow  # type: ignore[attr-defined]
    finally:
        own.close()
