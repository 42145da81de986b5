"""A forked child (multiprocessing's ``fork`` start, a pre-forking server, ``os.fork``) is
governed as fully as its parent, and neither disturbs the other (:mod:`lacuna._forks`).

Each test forks for real, after the parent has used the component, so the child inherits it
in use: a decision-log writer thread, pooled SQLite connections, a kept-alive HTTP connection,
a group-commit writer.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from forking import in_child
from lacuna import _forks
from lacuna.audit import AuditStore
from lacuna.audit.group import GroupCommit
from lacuna.cli import app
from lacuna.http import HttpClient, HttpSettings
from lacuna.model import Action, Classification, Decision, Operation, User

pytestmark = pytest.mark.reliability


def _reads_twice_and_writes(folder: str) -> None:
    pd.read_csv(Path(folder) / "sales.csv")
    frame = pd.read_csv(Path(folder) / "sales.csv")
    frame.to_csv(Path(folder) / "governed" / "workspace" / "copy.csv", index=False)


def _operation_ids(database: Path) -> tuple[list[str], list[str]]:
    with closing(sqlite3.connect(database)) as conn:
        audited = [r[0] for r in conn.execute(
            "SELECT operation_id FROM lacuna_audit WHERE operation_id IS NOT NULL")]
        logged = [r[0] for r in conn.execute("SELECT operation_id FROM lacuna_decision_log")]
    return audited, logged


def test_a_multiprocessing_childs_decisions_reach_the_decision_log(governed: Path) -> None:
    """The child inherited a sink whose writer thread it does not have: its decisions were
    queued for no one and lost (the audit trail had them, the decision log did not), and a
    multiprocessing child leaves with os._exit, which runs no atexit flush."""
    pd.read_csv(governed / "sales.csv")
    child = multiprocessing.get_context("fork").Process(target=_reads_twice_and_writes,
                                                        args=(str(governed),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    lacuna.disable(flush_timeout=10)
    audited, logged = _operation_ids(governed / "audit.db")
    assert len(audited) == 4  # the parent's read, the child's two reads and its write
    assert sorted(logged) == sorted(audited)  # each once: the parent's not written twice
    verified = CliRunner().invoke(app, ["audit", "verify", "--db",
                                        f"sqlite:///{governed / 'audit.db'}"])
    assert verified.exit_code == 0, verified.output


def test_a_forkserver_child_flushes_its_decision_log_at_exit(governed: Path) -> None:
    """A child of the forkserver (the default start from Python 3.14) also ends with
    os._exit: the decisions still queued for the writer's next batch, all of them in a short
    child, were lost. (A spawned child leaves with sys.exit, which runs the atexit flush.)"""
    child = multiprocessing.get_context("forkserver").Process(target=_fresh_child,
                                                              args=(str(governed),))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    audited, logged = _operation_ids(governed / "audit.db")
    assert len(audited) == 3
    assert sorted(logged) == sorted(audited)


def _fresh_child(folder: str) -> None:
    from conftest import _sandbox_config

    os.chdir(folder)
    lacuna.enable(_sandbox_config(Path(folder)))
    _reads_twice_and_writes(folder)


def _decision(name: str) -> tuple[Decision, Operation]:
    operation = Operation(action=Action.WRITE, user=User(id=name),
                          classification=Classification())
    return Decision(allowed=True, operation_id=operation.id, reasoning="ok"), operation


def test_a_child_appends_on_its_own_connections_and_both_chains_hold(tmp_path: Path) -> None:
    """The child inherited the parent's pooled SQLite connections (and its append connection):
    two processes on one SQLite handle. It now opens its own; the parent's stay open for the
    parent, whose appends carry on after the child's."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = AuditStore(url)
    store.record(*_decision("parent"), session="s")
    pool = store._engine.pool

    def child() -> Any:
        fresh = store._engine.pool is not pool
        for _ in range(3):
            store.record(*_decision("child"), session="s")
        return {"fresh_pool": fresh, "seen": len(store.list(limit=100))}

    assert in_child(child) == {"fresh_pool": True, "seen": 4}
    store.record(*_decision("parent"), session="s")
    assert store._engine.pool is pool
    assert [r.user_id for r in reversed(store.list(limit=100))] == [
        "parent", "child", "child", "child", "parent"]
    assert store.verify().ok
    store.close()


def test_a_group_commit_child_gets_its_own_writer(tmp_path: Path) -> None:
    """The group commit's writer thread is the parent's: a child's record() waited for it
    until its timeout."""
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    group = GroupCommit(store)
    group.record(*_decision("parent"), session="s")

    def child() -> Any:
        started = time.monotonic()
        record = group.record(*_decision("child"), session="s", timeout=10)
        return {"user": record.user_id, "s": time.monotonic() - started}

    answer = in_child(child)
    assert answer is not None
    assert answer.get("user") == "child", answer
    assert answer["s"] < 5
    group.record(*_decision("parent"), session="s")
    group.close()
    assert [r.user_id for r in reversed(store.list(limit=10))] == ["parent", "child", "parent"]
    assert store.verify().ok
    store.close()


@pytest.fixture
def keep_alive_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP/1.1 server that keeps connections alive and answers each GET with the client's
    port, which it also notes: one port per connection."""
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            ports.append(self.client_address[1])
            body = json.dumps({"port": self.client_address[1]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", ports
    server.shutdown()
    server.server_close()


def test_a_childs_http_calls_go_out_on_its_own_connection(
        keep_alive_server: tuple[str, list[int]]) -> None:
    """Before, the child's request waited for a worker of the parent's thread pool that it
    does not have, until the deadline: in remote mode, every decision of a forked child was a
    denial after the whole deadline. Its requests also shared the parent's kept-alive socket,
    where the two processes' answers would interleave."""
    url, ports = keep_alive_server
    client = HttpClient(HttpSettings(deadline_s=5.0), https=False)
    parent_port = json.loads(client.request("GET", url).body)["port"]

    def child() -> Any:
        started = time.monotonic()
        port = json.loads(client.request("GET", url).body)["port"]
        return {"port": port, "s": time.monotonic() - started}

    answer = in_child(child)
    assert answer is not None
    assert "error" not in answer, answer
    assert answer["port"] != parent_port
    assert answer["s"] < 2
    assert json.loads(client.request("GET", url).body)["port"] == parent_port  # still alive
    assert ports == [parent_port, answer["port"], parent_port]
    client.close()


def test_a_fork_waits_for_background_threads_to_leave_the_database() -> None:
    """A child forked while a thread of the parent was inside SQLite inherits SQLite's
    process-wide mutexes taken, by a thread it does not have. Background threads hold
    ``no_fork()`` there; a fork waits until they have left."""
    inside, left = threading.Event(), threading.Event()

    def background() -> None:
        with _forks.no_fork():
            inside.set()
            time.sleep(0.3)
            left.set()

    thread = threading.Thread(target=background)
    thread.start()
    assert inside.wait(5)
    answer = in_child(lambda: {"left_before_fork": left.is_set()})
    thread.join()
    assert answer == {"left_before_fork": True}
    with _forks.no_fork():  # open again in the parent, and usable in a child
        pass
    assert in_child(lambda: _enter_no_fork()) == {"entered": True}


def _enter_no_fork() -> dict[str, bool]:
    with _forks.no_fork():
        return {"entered": True}


def test_one_component_failing_to_renew_does_not_stop_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def _after_fork_in_child(self) -> None:
            raise RuntimeError("boom")

    class Counted:
        renewed = False

        def _after_fork_in_child(self) -> None:
            Counted.renewed = True

    broken, counted = Broken(), Counted()
    _forks.renew_in_child(broken)
    _forks.renew_in_child(counted)
    assert in_child(lambda: {"renewed": Counted.renewed}) == {"renewed": True}
    del broken, counted


def test_a_childs_policy_watcher_still_reloads(tmp_path: Path) -> None:
    """The watcher's thread is the parent's: a long-lived child (a pre-forked worker) decided
    with the policies of the moment it was forked, for ever."""
    from lacuna.policy import PolicyEngine
    from lacuna.policy.watch import PolicyWatcher

    root = tmp_path / "policies"
    root.mkdir()
    rego = root / "p.rego"
    rego.write_text('package p\n\nimport rego.v1\n\nallow if input.action == "read"\n')
    engine = PolicyEngine(root)
    with PolicyWatcher(engine, interval_s=0.02):

        def child() -> Any:
            before = engine.evaluate({"action": "export"}).allowed
            rego.write_text("package p\n\nimport rego.v1\n\nallow := true\n")
            os.utime(rego, ns=(time.time_ns() + 10**9,) * 2)  # surely a new modification time
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if engine.evaluate({"action": "export"}).allowed:
                    return {"before": before, "reloaded": True}
                time.sleep(0.02)
            return {"before": before, "reloaded": False}

        assert in_child(child) == {"before": False, "reloaded": True}
