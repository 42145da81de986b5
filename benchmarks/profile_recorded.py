"""CPU per recorded decision, in-process: the server's fast lane without HTTP or a client.

    python benchmarks/profile_recorded.py [--processes P] [--concurrency C] [--requests N]
                                        [--rounds R] [--dry-run] [--profile FILE]

Starts P processes (2, as ``lacuna serve --workers 2``), each with the server's state
(``lacuna.server.state.build_state``: the group commit, the decision log, the default bundle)
on one SQLite state database in a temporary folder, and sends each N ``POST /api/v1/decide``
requests for the seed's denied export (``bench_server.OPERATION``) straight to
``lacuna.server.fastlane.handle``, C at a time on one asyncio loop, so the group commits see
what they see under HTTP load. Per round: the processes' CPU time per decision (``os.times``,
user and system, every thread: the group-commit writer and the decision log included),
decisions/s, the groups committed (and how many the event loop committed itself), the
latency of a request as the fast lane answers it (p50, p99; closed loop, so mostly queueing),
the load average and the share of CPU time the hypervisor stole (see
``docsection.cpu_ticks``). Then it checks what ``lacuna audit verify`` checks (chain,
signatures, checkpoint) and that the metrics rollups count every decision. ``--dry-run``
sends ``record: false`` (no audit record) for comparison; ``--profile FILE`` writes a
cProfile of each process's last round (its event loop thread).

Not a ``bench_*.py`` section script (``run_all.py`` does not run it, and it writes no part of
docs/benchmarks.md): a measuring and profiling tool for the recorded decision path, whose
figures go into the hand-written notes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import OPERATION  # noqa: E402  (the same operation as over HTTP)
from docsection import cpu_ticks, steal_share  # noqa: E402


def _scope(token: str) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/api/v1/decide", "query_string": b"",
            "headers": [(b"authorization", f"Bearer {token}".encode()),
                        (b"content-type", b"application/json")]}


class _Retry(Exception):
    """The fast lane handed a request on once: authenticated again, it is sent again."""


async def _drive(state: Any, token: str, body: bytes, n: int, concurrency: int,
                 latencies: list[float] | None = None) -> int:
    from lacuna.server import fastlane

    ok = 0
    handed_on = 0

    async def fallback(_receive: Any) -> None:
        # The FastAPI route would answer it, authenticating anew: the token's cache entry
        # was dropped (CACHE_S passed, or a users-table check failed). Once in a row is
        # that; twice means the token or the body is not accepted.
        nonlocal handed_on
        handed_on += 1
        if handed_on > 1:
            msg = "the fast lane handed the request on (token or body not accepted)"
            raise SystemExit(msg)
        state.authenticator.authenticate(token)
        raise _Retry

    async def one() -> None:
        nonlocal ok
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        nonlocal handed_on
        started = time.perf_counter()
        if state.authenticator.cached(token) is None:  # as the FastAPI route would, every 10 s
            state.authenticator.authenticate(token)
        try:
            await fastlane.handle(_scope(token), receive, send, state, fallback)
        except _Retry:
            sent.clear()
            await fastlane.handle(_scope(token), receive, send, state, fallback)
        handed_on = 0
        if latencies is not None:
            latencies.append(time.perf_counter() - started)
        answer = json.loads(sent[1]["body"])
        if sent[0]["status"] == 200 and answer["audit"] is not None:
            ok += 1

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    per, extra = divmod(n, concurrency)
    await asyncio.gather(*(worker(per + (i < extra)) for i in range(concurrency)))
    return ok


def _worker(db: str, token: str, args: argparse.Namespace, barrier: Any, out: Any) -> None:
    """One server worker's state on the shared database, driven round by round."""
    from lacuna.server.collector import settle
    from lacuna.server.settings import ServerSettings
    from lacuna.server.state import build_state

    state = build_state(ServerSettings(db=db, scheduler=False))
    settle()  # as a server worker does once its state is built (lacuna.server.run)
    body = json.dumps({"operation": OPERATION, "record": not args.dry_run}).encode()
    try:
        state.authenticator.authenticate(token)  # cached, as after a first request
        asyncio.run(_drive(state, token, body, 200, args.concurrency))  # warm
        writer = state.audit_writer
        assert writer is not None
        for r in range(args.rounds):
            profiler = None
            if args.profile and r == args.rounds - 1:
                import cProfile

                profiler = cProfile.Profile()
            groups, inline, latencies = writer.groups, writer.inline_groups, []
            barrier.wait()
            threads_before = _thread_cpu()
            before, wall = os.times(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            ok = asyncio.run(_drive(state, token, body, args.requests, args.concurrency,
                                    latencies))
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(f"{args.profile}.{os.getpid()}")
            after = os.times()
            threads = {name: cpu - threads_before.get(name, 0.0)
                       for name, cpu in _thread_cpu().items()}
            out.put((r, ok, after.user - before.user, after.system - before.system,
                     time.perf_counter() - wall, writer.groups - groups, threads,
                     writer.inline_groups - inline, latencies))
    finally:
        state.close()


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by name (the event loop is
    ``MainThread``; the group-commit writer, the decision log and the WAL checkpoints have
    their own)."""
    import threading

    out: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clock = time.pthread_getcpuclockid(thread.ident)
            out[thread.name] = out.get(thread.name, 0.0) + time.clock_gettime(clock)
        except OSError:  # ended meanwhile
            continue
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000,
                        help="decisions per round and process")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="requests in flight per process")
    parser.add_argument("--processes", type=int, default=2,
                        help="server workers on the same database (as --workers)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="record: false")
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of each process's last round to FILE.<pid>")
    args = parser.parse_args()
    sys.path.insert(0, str(SRC))
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="lacuna-bench-recorded-") as tmp:
        os.environ["LACUNA_HOME"] = f"{tmp}/home"
        os.environ["LACUNA_EMBEDDINGS_BUILD"] = "never"
        os.environ.pop("LACUNA_CONFIG", None)
        os.chdir(tmp)
        from lacuna.audit.store import AuditStore
        from lacuna.identity import UserStore

        db = f"sqlite:///{tmp}/state.db"
        users = UserStore(db)
        token = users.add("bench", roles=["analyst"])
        users.close()
        AuditStore(db).close()  # created once, before the workers race to open it
        barrier, out = ctx.Barrier(args.processes), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(db, token, args, barrier, out))
                 for _ in range(args.processes)]
        for p in procs:
            p.start()
        n = args.requests * args.processes
        for r in range(args.rounds):
            load, ticks = os.getloadavg()[0], cpu_ticks()
            got = [out.get() for _ in procs]
            steal = steal_share(ticks, cpu_ticks())
            user, system = sum(g[2] for g in got), sum(g[3] for g in got)
            wall = max(g[4] for g in got)
            groups = sum(g[5] for g in got)
            inline = sum(g[7] for g in got)
            latencies = sorted(t for g in got for t in g[8])
            ok = sum(g[1] for g in got)
            print(f"round {r + 1}: {ok} decisions, CPU {(user + system) * 1e3 / n:.3f} ms/"
                  f"decision (user {user * 1e3 / n:.3f}, system {system * 1e3 / n:.3f}), "
                  f"{n / wall:,.0f} decisions/s, {groups} groups ({n / max(groups, 1):.1f} "
                  f"records each, {inline} committed on the event loop), in-process latency "
                  f"p50 {latencies[len(latencies) // 2] * 1e3:.2f} ms, p99 "
                  f"{latencies[int(len(latencies) * 0.99)] * 1e3:.2f} ms, load {load:.2f}, "
                  f"CPU stolen "
                  f"{'-' if steal is None else format(steal, '.0%')}", flush=True)
            threads: dict[str, float] = {}
            for g in got:
                for name, cpu in g[6].items():
                    threads[name] = threads.get(name, 0.0) + cpu
            print("  by thread (ms/decision): " + ", ".join(
                f"{name} {cpu * 1e3 / n:.3f}" for name, cpu in
                sorted(threads.items(), key=lambda kv: -kv[1]) if cpu * 1e3 / n >= 0.001),
                flush=True)
        for p in procs:
            p.join()
        if not args.dry_run:
            _check(db)
    return 0


def _check(db: str) -> None:
    """What ``lacuna audit verify`` checks, and that the rollups count every decision."""
    from sqlalchemy import text

    from lacuna.audit.store import AuditStore

    store = AuditStore(db, read_only=True)
    try:
        report = store.verify()
        with store.engine.connect() as conn:
            rolled = conn.execute(text(
                "SELECT COALESCE(SUM(decisions), 0) FROM lacuna_metrics_hourly")).scalar()
        print(f"verify: ok={report.ok} checked={report.checked} {report.problem}; rollups "
              f"count {rolled} decisions")
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
