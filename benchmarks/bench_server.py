"""Governance server throughput and latency over loopback HTTP (``lacuna serve --workers 2``).

    python benchmarks/bench_server.py [--quick] [--seconds S] [--clients N] [--threads T]

Starts the server in a subprocess (2 uvicorn workers, SQLite state in a temporary folder,
default bundle, access log off), then drives it from N client processes with T threads each,
every thread on its own kept-alive HTTP/1.1 connection (``http.client``), for S seconds per
case. Cases: ``POST /api/v1/decide`` recording each decision on the audit trail (the normal
call), the same as a dry run (``record: false``), and OPA's Data API
``POST /v1/data/lacuna/decision/result``. Every request is authenticated (API token). The
operation is the seed's denied export (PROPRIETARY [PII], to an unmanaged folder), so each
decision also builds its explanation and checked alternatives. Reports decisions/s and
p50/p99 latency as the clients see them. The load generator shares the machine's cores with
the server, so the numbers are a floor for this machine, not the server's ceiling.
Prints one markdown section.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
OPERATION = {"action": "export", "classification": {
    "tier": "PROPRIETARY", "tags": ["PII", "GDPR"], "columns": {"email": {
        "classification": "pii", "pii_type": "email", "sensitivity": "high"}}},
    "destination": "/home/analyst/Downloads/customers.csv", "method": "pandas.DataFrame.to_csv",
    "variable": "customers"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _client(port: int, path: str, body: bytes, token: str, seconds: float, threads: int,
            out: Any) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    stop_at = time.perf_counter() + seconds

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        bad = 0
        while (start := time.perf_counter()) < stop_at:
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (the uvicorn workers)."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _load(port: int, path: str, body: dict[str, Any], token: str, seconds: float,
          clients: int, threads: int, server_pid: int | None = None) -> dict[str, float]:
    raw = json.dumps(body).encode()
    _client_warm(port, path, raw, token)
    cpu_before = _cpu_seconds(server_pid) if server_pid else 0.0
    queue: Any = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_client, args=(
        port, path, raw, token, seconds, threads, queue)) for _ in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    cpu = (_cpu_seconds(server_pid) - cpu_before) if server_pid else float("nan")
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    n = len(latencies)
    return {"n": n, "errors": errors, "per_s": n / min(elapsed, seconds + 0.5),
            "cpu_ms": cpu * 1000 / n if n else float("nan"),
            "p50_ms": statistics.median(latencies) * 1000 if n else float("nan"),
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan")}


def _client_warm(port: int, path: str, raw: bytes, token: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(50):
        conn.request("POST", path, body=raw, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            msg = f"{path}: HTTP {response.status}"
            raise SystemExit(msg)
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 6.0)
    sys.path.insert(0, str(SRC))
    from lacuna.identity import UserStore

    with tempfile.TemporaryDirectory(prefix="lacuna-bench-server-") as tmp:
        db = f"sqlite:///{tmp}/state.db"
        users = UserStore(db)
        token = users.add("bench", roles=["analyst"])
        users.close()
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(SRC), "LACUNA_HOME": f"{tmp}/home",
               "RUST_BACKTRACE": "0", "LACUNA_SERVER_ACCESS_LOG": "false",
               "LACUNA_EMBEDDINGS_BUILD": "never"}
        env.pop("LACUNA_CONFIG", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "lacuna", "serve", "--port", str(port), "--db", db,
             "--workers", str(args.workers)], env=env, cwd=tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        msg = "the server did not start"
                        raise SystemExit(msg) from None
                    time.sleep(0.2)
            from lacuna.model import Action, Classification, Operation, User
            from lacuna.policy.inputs import build_input

            doc = build_input(Operation(
                action=Action.EXPORT, user=User(id="bench", role="analyst"),
                classification=Classification.from_dict(OPERATION["classification"]),
                method="pandas.DataFrame.to_csv", variable="customers"))
            cases = [
                ("POST /api/v1/decide (recorded on the audit trail)", "/api/v1/decide",
                 {"operation": OPERATION}),
                ("POST /api/v1/decide (dry run, record: false)", "/api/v1/decide",
                 {"operation": OPERATION, "record": False}),
                ("POST /v1/data/lacuna/decision/result (OPA Data API)",
                 "/v1/data/lacuna/decision/result", {"input": doc}),
            ]
            rows = []
            for name, path, body in cases:
                r = _load(port, path, body, token, seconds, args.clients, args.threads,
                          server.pid)
                rows.append((name, r))
        finally:
            server.terminate()
            server.wait(30)
    load = os.getloadavg()
    print("## Governance server (HTTP)\n")
    print(f"`lacuna serve --workers {args.workers}` on 127.0.0.1, SQLite state, default bundle, "
          "access log off; load from "
          f"{args.clients} client processes x {args.threads} kept-alive connections on the "
          f"same machine, {seconds:.0f} s per case; the seed's denied export (explanation and "
          "checked alternatives included). Goal: >= 3,000 decisions/s, p99 < 10 ms. "
          f"Load average after the run: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} "
          f"({os.cpu_count()} cores).\n")
    print("| case | decisions/s | p50 | p99 | server CPU per decision | requests | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['per_s']:,.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
              f"{r['cpu_ms']:.2f} ms | {r['n']:,} | {r['errors']} |")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
