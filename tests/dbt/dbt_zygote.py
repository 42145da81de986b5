"""A fork server for the dbt runs of the test session: dbt is imported once, each run forked.

A ``dbt`` process spends about two seconds of CPU importing dbt-core and its adapter before it
reads the project, and about two more generating the code that (de)serialises its
dataclasses; the dbt tests start dozens of them. Here one Python process of dbt's own
virtualenv imports dbt and parses a tiny project of its own once (``serve``, :func:`_warm_up`),
and forks a child per run, which runs dbt's own command line (``dbt.cli.main.cli``, what the
``dbt`` script runs) with the caller's arguments, working folder, environment, stdin, stdout
and stderr, and exits as that script does, with its exit code: each run is what dbt makes of a
second invocation in one process (``dbtRunner``), less the start-up.

The caller runs the *client*, an executable file ``tests/dbt/conftest.py`` writes and points
``LACUNA_DBT`` at (so ``run_dbt``, ``load_project(parse=True)`` and ``lacuna`` subprocesses use
it unchanged). The client hands its three standard streams to the server over a Unix socket,
starts the server the first time (one per test process), and exits with the run's status.
When the client dies (``run_dbt``'s timeout), its run is killed.

This file runs under dbt's Python: the standard library and dbt only, no Lacuna, no pytest.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import NoReturn

STATUS = struct.Struct("!i")
STARTUP_S = 120.0
IDLE_S = 1800.0  # a server nobody called for this long exits


def _send(path: str, request: dict[str, object]) -> int:
    """Run ``request`` in the server at ``path``; its exit status (or -1: no server)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return -1
    with sock:
        data = json.dumps(request).encode()
        fds = array.array("i", [0, 1, 2])
        sock.sendmsg([STATUS.pack(len(data)), data],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        got = b""
        while len(got) < STATUS.size:
            chunk = sock.recv(STATUS.size - len(got))
            if not chunk:
                sys.stderr.write("dbt_zygote: the fork server closed the connection\n")
                return 70
            got += chunk
        return int(STATUS.unpack(got)[0])


def client(path: str, python: str, argv: list[str]) -> int:
    """The client: run ``dbt ARGV`` in the server at ``path``, starting it if it is not up."""
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    status = _send(path, request)
    if status != -1:
        return status
    import fcntl
    import subprocess

    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter: the others wait, then connect
        status = _send(path, request)
        if status != -1:
            return status
        # the server's environment carries none of the caller's dbt or Lacuna settings: each
        # run gets its own caller's environment
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "LACUNA_"))}
        env["DO_NOT_TRACK"] = "1"  # its warm-up sends dbt no usage event either
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a killed server's socket: its successor appears under this name
        with open(path + ".log", "ab") as log:
            server = subprocess.Popen([python, __file__, "serve", path], env=env,
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                      start_new_session=True)
        with open(path + ".pid", "w") as pid:
            pid.write(str(server.pid))
        deadline = time.monotonic() + STARTUP_S
        while not os.path.exists(path):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.stderr.write(f"dbt_zygote: the fork server did not start: {path}.log\n")
                return 70
            time.sleep(0.05)
    status = _send(path, request)
    return 70 if status == -1 else status


def _run_child(request: dict[str, object], fds: list[int]) -> NoReturn:
    """In the forked child: become the dbt process the caller asked for, and exit as it does.

    The exit is the ``dbt`` script's, ``sys.exit(cli())``, which unwinds to the top of this
    file and ends the interpreter normally: its finalizers close what dbt left open (DuckDB
    checkpoints its write-ahead log into the database file when its last connection goes),
    which ``os._exit`` would skip."""
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[arg-type]
        sys.argv = ["dbt", *request["argv"]]  # type: ignore[misc]
        from dbt.cli.main import cli
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(1)
    sys.exit(cli())


def _handle(conn: socket.socket) -> None:
    """In a forked handler: fork the dbt child, wait for it (or for the client to go), answer."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    head, ancillary, _, _ = conn.recvmsg(STATUS.size, socket.CMSG_LEN(3 * 4))
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
    size = STATUS.unpack(head)[0]
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            os._exit(0)
        data += chunk
    request = json.loads(data)
    child = os.fork()
    if child == 0:
        conn.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(child)
    while True:
        ready, _, _ = select.select([pidfd, conn], [], [])
        if conn in ready and not conn.recv(1):  # the client is gone (killed on a timeout)
            os.kill(child, signal.SIGKILL)
        if pidfd in ready or conn in ready:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                break
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):
        conn.sendall(STATUS.pack(code if code >= 0 else 128 - code))
    os._exit(0)


def serve(path: str) -> None:
    """The server: import dbt, then fork a handler per connection until stopped (SIGTERM,
    or no call for ``IDLE_S``)."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(
        os.path.abspath(__file__))]  # this folder's test modules shadow nothing of dbt's
    import importlib

    for module in ("dbt.cli.main", "dbt.adapters.factory", "dbt.adapters.duckdb"):
        with contextlib.suppress(ImportError):  # the imports each run is spared
            importlib.import_module(module)
    _warm_up(os.path.join(os.path.dirname(path), "warm"))
    signal.signal(signal.SIGTERM, lambda *_: _stop(path))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(16)
    os.rename(path + ".tmp", path)  # clients see the socket once it accepts
    listener.settimeout(IDLE_S)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:  # its test process is gone without stopping it (or idle long)
            os.unlink(path)  # the next client starts another
            _stop(path)
        conn.setblocking(True)
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            listener.close()
            _handle(conn)
        conn.close()
        _reap(os.WNOHANG)


WARM_FILES = {
    "dbt_project.yml": 'name: warm\nversion: "1.0.0"\nconfig-version: 2\nprofile: warm\n',
    "profiles.yml": ("warm:\n  target: dev\n  outputs:\n"
                     "    dev: {type: duckdb, path: target/warm.duckdb, threads: 1}\n"),
    "seeds/s.csv": "id,email\n1,a@example.com\n",
    "models/m.sql": "select id, email from {{ ref('s') }}\n",
    "models/schema.yml": ("version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n"
                          "        data_tests: [not_null]\n"),
}


def _warm_up(folder: str) -> None:
    """One ``dbt parse`` of a tiny project of its own, in the server, before any fork.

    dbt generates the (de)serialisation code and JSON schemas of its dataclasses at first use
    (mashumaro), about two more seconds of CPU per process: made once here, every run inherits
    them. A run is then what dbt's own ``dbtRunner`` makes of a second invocation in one
    process, which dbt supports: each invocation sets its flags, resets the adapters, sets up
    its loggers; the deprecations already warned of are forgotten here so each run warns as a
    fresh process. Parse connects to no warehouse and leaves no thread behind; without dbt's
    static parser (``dbt_extractor``, native code whose state a fork breaks: a forked run
    then hung in it), which each run starts for itself."""
    for rel, text in WARM_FILES.items():
        target = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as out:
            out.write(text)
    try:
        from dbt.cli.main import dbtRunner

        done = dbtRunner().invoke(["parse", "--quiet", "--no-static-parser", "--project-dir",
                                   folder, "--profiles-dir", folder])
        import dbt.deprecations

        dbt.deprecations.reset_deprecations()
    except Exception as exc:  # the runs work without it, only slower
        sys.stderr.write(f"dbt_zygote: warm-up failed: {exc!r}\n")
        return
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0
    sys.stderr.write(f"dbt_zygote: warm-up {'done' if done.success else 'failed'}; OS threads: "
                     f"{threads}\n")


def _reap(flags: int) -> None:
    """Wait for the finished handlers (each waited for its run: their CPU time adds up here)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, flags)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _stop(path: str) -> None:
    """On SIGTERM (or idle): write the CPU seconds of the server and every finished run it
    forked to ``PATH.cpu`` (what ``LACUNA_TEST_DBT_CPU_LOG`` collects), then end the server's
    process group: itself, and any run still going (its test process is done with it)."""
    import resource

    _reap(os.WNOHANG)
    cpu = sum(getattr(resource.getrusage(who), field)
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for field in ("ru_utime", "ru_stime"))
    with open(path + ".cpu.tmp", "w") as out:
        out.write(f"{cpu:.2f}\n")
    os.rename(path + ".cpu.tmp", path + ".cpu")
    if os.getpgid(0) == os.getpid():  # started in a session of its own (the client does)
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(client(sys.argv[1], sys.argv[2], sys.argv[3:]))
