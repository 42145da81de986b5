"""Committed audit records survive: several writer processes, readers in between, other stores
opened on the same file, writers that exit and writers killed with ``kill -9`` at random points.

A writer reports each record's ``seq`` on a pipe only after ``record()`` returned (committed).
At the end every reported record must be on disk, the chain and its checkpoint must verify, and
no process may have died of a raw driver error. The figures go to docs/reliability.md.

Processes are forked from the test process (the modules are already imported), so a kill lands
within milliseconds of the first append instead of after a second of imports.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import random
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lacuna.audit import AuditStore
from lacuna.cli.audit import app
from lacuna.exceptions.store import ExceptionStore
from lacuna.model import Action, Classification, Decision, Operation, User
from lacuna.policy.log_sinks import SqlDecisionLog

pytestmark = pytest.mark.reliability
ctx = mp.get_context("fork")
DURATION_S = float(os.environ.get("LACUNA_RELIABILITY_SECONDS", "6"))
WRITERS = 3
LATE_S = 30.0


def _say(fd: int, text: str) -> None:
    os.write(fd, (text + "\n").encode())  # < PIPE_BUF: one atomic write, survives our kill


def _writer(url: str, name: str, fd: int, seed: int, limit: int) -> None:
    rng = random.Random(seed)
    try:
        store = AuditStore(url)
        for _ in range(limit):
            op = Operation(action=Action.EXPORT, user=User(id=name),
                           classification=Classification())
            rec = store.record(Decision(allowed=rng.random() < 0.5, operation_id=op.id,
                                        reasoning="r"), op, session=name)
            _say(fd, f"C {name} {rec.seq}")
            roll = rng.random()
            if roll < 0.04:  # another store on the same file, opened and closed mid-session
                ExceptionStore(url).close()
            elif roll < 0.08:
                SqlDecisionLog(url).close()
            elif roll < 0.12:
                store.list(limit=5)
        store.close()
        _say(fd, f"X {name}")
    except BaseException:
        _say(fd, "E " + traceback.format_exc().replace("\n", " | ")[-2000:])
    finally:
        os._exit(0)


def _reader(url: str, db: Path, fd: int, stop_at: float) -> None:
    try:
        while time.monotonic() < stop_at:
            if db.exists():
                with AuditStore(url, read_only=True, create=False) as store:
                    report = store.verify()
                    if not report.ok:
                        _say(fd, f"E verify failed while writers ran: {report.problem}")
                    store.list(limit=10)
                _say(fd, "V")
            time.sleep(0.02)
    except BaseException:
        _say(fd, "E " + traceback.format_exc().replace("\n", " | ")[-2000:])
    finally:
        os._exit(0)


def _kill(proc: Any) -> bool:
    """SIGKILL ``proc`` wherever it is; False when it had already exited (and been reaped)."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    finally:
        proc.join()
    return proc.exitcode == -signal.SIGKILL


class Pipe:
    """One pipe all children write to; a thread drains it so nobody blocks."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        buf = b""
        while chunk := os.read(self.r, 65536):
            buf += chunk
            *done, buf = buf.split(b"\n")
            self.lines.extend(x.decode() for x in done)

    def close(self) -> None:
        os.close(self.w)
        self._thread.join(10)
        os.close(self.r)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    """The children's pipe; every test here forks them, once no re-send thread runs."""
    _quiesce()
    p = Pipe()
    yield p
    with contextlib.suppress(OSError):
        p.close()


def _on_disk(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT seq, user_id FROM lacuna_audit"))
    finally:
        conn.close()


def _quiesce(deadline_s: float = 30.0) -> None:
    """Wait for the short-lived background threads earlier tests of this worker started (the
    OpenLineage re-send of each governed test's state database) to end: ``fork`` copies only
    the calling thread, so a lock another thread held at that instant (SQLAlchemy's, sqlite's)
    stays held in every child, which then hangs. A run with one at fork time committed 120
    records in 6 s, and its reader never finished a verify."""
    deadline = time.monotonic() + deadline_s
    while any(t.name.startswith("lacuna-openlineage-resend") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a re-send thread is still running after 30 s"
        time.sleep(0.01)


def test_kill_9_loses_no_committed_record(tmp_path: Path, pipe: Pipe) -> None:
    db = tmp_path / "state" / "audit.db"
    url = f"sqlite:///{db}"
    seed = int(os.environ.get("LACUNA_RELIABILITY_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    alive: list[Any] = []
    started = kills = 0

    def spawn() -> None:
        nonlocal started
        started += 1
        p = ctx.Process(target=_writer, args=(url, f"w{started}", pipe.w, rng.randrange(1 << 30),
                                              rng.choice((20, 60, 10_000))))
        p.start()
        alive.append(p)

    for _ in range(WRITERS):
        spawn()
    # The clock starts at the first committed record: on a loaded host the first writers can take
    # seconds to create the database, and a run that killed them all before that proved nothing.
    deadline = time.monotonic() + 60
    while not any(line.startswith(("C ", "E ")) for line in pipe.lines):
        assert time.monotonic() < deadline, "no writer committed a record within 60 s"
        time.sleep(0.01)
    stop_at = time.monotonic() + DURATION_S
    # The reader verifies for as long as writers run: at least DURATION_S, and on a loaded
    # host until its first verify ends (up to LATE_S more; a reader that never verifies fails)
    late = stop_at + LATE_S
    reader = ctx.Process(target=_reader, args=(url, db, pipe.w, late))
    reader.start()
    while time.monotonic() < stop_at or (
            "V" not in pipe.lines and reader.is_alive() and time.monotonic() < late):
        time.sleep(rng.uniform(0.02, 0.3))
        for p in [p for p in alive if not p.is_alive()]:
            p.join()
            alive.remove(p)
        if alive and rng.random() < 0.7:
            victim = rng.choice(alive)
            kills += _kill(victim)  # at whatever point it is
            alive.remove(victim)
        target = rng.choice((1, 1, 2, WRITERS))  # a lone writer too: the case that lost records
        while len(alive) < target:
            spawn()
    for p in alive:
        kills += _kill(p)
    _kill(reader)  # (it only reads)
    pipe.close()

    errors = [line for line in pipe.lines if line.startswith("E ")]
    assert not errors, f"seed {seed}: {errors[:3]}"
    committed = [line.split()[1:] for line in pipe.lines if line.startswith("C ")]
    disk = _on_disk(db)
    lost = [(name, seq) for name, seq in committed if disk.get(int(seq)) != name]
    verifies = sum(line == "V" for line in pipe.lines)
    print(f"\nreliability: seed {seed}, {started} writers, {kills} killed with SIGKILL, "
          f"{len(committed)} records committed, {len(disk)} on disk, {len(lost)} lost, "
          f"{verifies} verifies during the run")
    assert not lost, f"seed {seed}: committed records missing on disk: {lost[:10]}"
    assert len(committed) > 20, "the run proved nothing"
    assert kills >= 3, "the run proved nothing"
    result = CliRunner().invoke(app, ["verify", "--db", url])
    assert result.exit_code == 0, f"seed {seed}: {result.output}"
    assert f"intact: {len(disk)} record(s)" in result.output
    assert verifies > 0


def _lone_writer(url: str, fd: int, go_r: int) -> None:
    try:
        store = AuditStore(url)
        for phase in range(2):
            for _ in range(40):
                op = Operation(action=Action.WRITE, user=User(id="lone"),
                               classification=Classification())
                rec = store.record(Decision(allowed=True, operation_id=op.id, reasoning="r"), op,
                                   session="lone")
                _say(fd, f"C lone {rec.seq}")
            if phase == 0:
                ExceptionStore(url).close()  # other stores opened beside the audit trail
                SqlDecisionLog(url).close()
                _say(fd, "opened")
                os.read(go_r, 1)  # wait while another process verifies, lists and exits
        _say(fd, "done")
        time.sleep(60)  # killed here, never closed cleanly
    except BaseException:
        _say(fd, "E " + traceback.format_exc().replace("\n", " | ")[-2000:])
    finally:
        os._exit(0)


def test_records_after_another_process_reads_and_exits_survive(tmp_path: Path,
                                                                 pipe: Pipe) -> None:
    """Issue 8.1: 40 + 40 records committed, 41 on disk, and verify said intact."""
    db = tmp_path / "state" / "audit.db"
    url = f"sqlite:///{db}"
    go_r, go_w = os.pipe()
    writer = ctx.Process(target=_lone_writer, args=(url, pipe.w, go_r))
    writer.start()
    deadline = time.monotonic() + 60
    while "opened" not in pipe.lines and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(2):  # verify, list, another writer, an exceptions store: each then exits
        result = CliRunner().invoke(app, ["verify", "--db", url])
        assert result.exit_code == 0, result.output
        reader = ctx.Process(target=_reader, args=(url, db, pipe.w, time.monotonic() + 0.05))
        other = ctx.Process(target=_writer, args=(url, "other", pipe.w, 1, 1))
        for proc in (reader, other):
            proc.start()
            proc.join(30)
    os.write(go_w, b"g")
    while "done" not in pipe.lines and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _kill(writer)
    pipe.close()
    assert not [line for line in pipe.lines if line.startswith("E ")]
    committed = [line for line in pipe.lines if line.startswith("C ")]
    assert len(committed) == 82  # 80 by the long-lived writer, 2 by the short ones
    assert len(_on_disk(db)) == 82
    result = CliRunner().invoke(app, ["verify", "--db", url])
    assert result.exit_code == 0, result.output
    assert "intact: 82 record(s)" in result.output


def _opener(url: str, name: str, fd: int, go: float) -> None:
    try:
        while time.time() < go:
            time.sleep(0.0005)
        store = AuditStore(url)
        ExceptionStore(url)
        SqlDecisionLog(url).close()
        for _ in range(5):
            op = Operation(action=Action.READ, user=User(id=name),
                           classification=Classification())
            rec = store.record(Decision(allowed=True, operation_id=op.id, reasoning="r"), op,
                               session=name)
            _say(fd, f"C {name} {rec.seq}")
        store.close()
    except BaseException:
        _say(fd, "E " + traceback.format_exc().replace("\n", " | ")[-2000:])
    finally:
        os._exit(0)


@pytest.mark.parametrize("round_", range(3))
def test_processes_opening_a_new_state_file_together(tmp_path: Path, pipe: Pipe,
                                                     round_: int) -> None:
    db = tmp_path / f"new{round_}" / "audit.db"
    url = f"sqlite:///{db}"
    go = time.time() + 0.5
    procs = [ctx.Process(target=_opener, args=(url, f"p{i}", pipe.w, go)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    pipe.close()
    errors = [line for line in pipe.lines if line.startswith("E ")]
    assert not errors, errors[:2]
    assert len(_on_disk(db)) == 30
    with AuditStore(url, read_only=True) as store:
        report = store.verify()
    assert (report.ok, report.checked) == (True, 30), report.problem
