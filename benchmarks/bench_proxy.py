"""Egress proxy overhead: latency per request through ``lacuna proxy`` vs straight to the server.

    python benchmarks/bench_proxy.py [--quick] [--requests N]
    python benchmarks/bench_proxy.py --gate [--requests N]

Starts a loopback upstream (``http.server`` in its own process, answers every POST with a short
JSON) and ``lacuna proxy`` (its own process, default bundle, SQLite state in a temporary folder,
127.0.0.1 external), then sends N requests per case from one ``http.client`` connection kept
alive (to the upstream directly, or to the proxy with absolute URLs), direct and proxied
alternating. Cases: an allowed JSON aggregate (~100 B), an allowed CSV aggregate (~10 KB,
200 rows) and a refused CSV of customer e-mails (answered 451 by the proxy, never forwarded).
Every request through the proxy is decided and, when allowed, audited. Also measures what the
fingerprint recording adds to a governed ``pd.read_csv`` (proxy.fingerprints on vs off).
Prints one markdown section.

``--gate``: the gate alone, in process (no sockets, no proxy process): the CPU time of
``Gate.check`` (this thread's, so other processes' load counts less) for a small GET (a number
in the path, a query, two headers), a small JSON POST and a JSON list of 200 records, each
request with values of its own (the gate remembers a payload it saw: a repeat costs nothing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
UPSTREAM = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        out = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited early ({proc.args})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} did not open")


def _cases() -> dict[str, tuple[bytes, str, int]]:
    agg = json.dumps({"region": ["EU", "US", "APAC"], "customers": [1204, 877, 311]}).encode()
    csv = ("region,week,orders,returns\n" + "".join(
        f"R{i % 9},{i % 52},{100 + i},{i % 13}\n" for i in range(200))).encode()
    emails = ("customer_id,email\n" + "".join(
        f"{1000 + i},user{i}@example.com\n" for i in range(200))).encode()
    return {"JSON aggregate, allowed": (agg, "application/json", 200),
            "CSV aggregate (200 rows), allowed": (csv, "text/csv", 200),
            "CSV of customer e-mails (200 rows), refused": (emails, "text/csv", 451)}


def _one(conn: http.client.HTTPConnection, target: str, body: bytes, ctype: str,
         status: int) -> float:
    started = time.perf_counter()
    conn.request("POST", target, body=body, headers={"content-type": ctype})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != status:
        raise SystemExit(f"{target}: expected {status}, got {response.status}")
    return elapsed * 1000


def _read_overhead(tmp: Path, writes: str = "wait") -> tuple[float, float, float, float]:
    """What the governed-read hook costs the read: opening the store (once per process),
    recording a new file's classified columns, and a re-read of the same file (recognised,
    nothing stored). ``writes``: proxy.fingerprint_writes (background: the read does not wait
    for the commit; the writer's work is then measured by the flush, not here)."""
    import pandas as pd

    from lacuna.config import config_from_dict
    from lacuna.model import Classification, ColumnClass, ColumnKind
    from lacuna.proxy.fingerprints import record_read, store_for

    config = config_from_dict({"audit": {"url": f"sqlite:///{tmp / f'read-{writes}.db'}"},
                               "proxy": {"fingerprint_writes": writes}})
    n = 100_000
    frame = pd.DataFrame({"customer_id": range(n), "email": [f"user{i}@example.com" for i in
                                                            range(n)],
                          "name": [f"Ana Silva {i}" for i in range(n)]})
    pii = ColumnClass(classification=ColumnKind.PII)
    classification = Classification(columns={"email": pii, "name": pii})
    started = time.perf_counter()
    store_for(config)
    opened = (time.perf_counter() - started) * 1000
    started, cpu = time.perf_counter(), time.process_time()
    record_read(config, "customers.csv", frame, classification)
    first = (time.perf_counter() - started) * 1000
    first_cpu = (time.process_time() - cpu) * 1000  # the whole process's (writer included)
    store_for(config).flush()
    again = []
    for _ in range(20):
        started = time.perf_counter()
        record_read(config, "customers.csv", frame, classification)
        again.append((time.perf_counter() - started) * 1000)
    store_for(config).close()
    return opened, first, first_cpu, statistics.median(again)


def _gate_requests() -> dict[str, Callable[[int], Any]]:
    from lacuna.proxy.gate import OutboundRequest

    host = "https://api.external-service.com"
    json_type = {"content-type": "application/json"}

    def get(i: int) -> OutboundRequest:
        return OutboundRequest(method="GET", url=f"{host}/v1/orders/{1000 + i}/items?page={i}"
                               "&sort=asc", headers={"accept": "application/json",
                                                     "user-agent": "python-requests/2.31"})

    def post(i: int) -> OutboundRequest:
        body = json.dumps({"region": "EU", "count": i, "status": "ok"}).encode()
        return OutboundRequest(method="POST", url=f"{host}/v1/metrics", body=body,
                               headers=json_type)

    def records(i: int) -> OutboundRequest:
        body = json.dumps([{"id": i * 1000 + k, "sku": f"SKU-{k % 50}", "qty": k % 9,
                            "region": ["EU", "US"][k % 2], "price": round(k * 1.25, 2)}
                           for k in range(200)]).encode()
        return OutboundRequest(method="POST", url=f"{host}/v1/batch", body=body,
                               headers=json_type)

    return {"GET, a number in the path, a query, 2 headers": get,
            "POST, small JSON object": post, "POST, JSON list of 200 records": records}


def _gate(n: int) -> int:
    """``Gate.check`` in process: CPU ms per request (see the module's docstring)."""
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor
    from lacuna.proxy.gate import Gate

    with tempfile.TemporaryDirectory() as folder:
        gov = Governor(config_from_dict({"audit": {"url": f"sqlite:///{folder}/state.db"}}))
        gate = Gate(gov)
        rows = []
        for name, make in _gate_requests().items():
            for i in range(3):  # warm (engine, classifier)
                gate.check(make(-1 - i))
            ms, verdicts = [], set()
            for i in range(n):
                request = make(i)
                started = time.thread_time()
                verdict = gate.check(request)
                ms.append((time.thread_time() - started) * 1000)
                verdicts.add(verdict.status or 200)
            rows.append((name, statistics.median(ms), statistics.quantiles(ms, n=10)[8],
                         sorted(verdicts)))
        gov.close()
    print(f"`python benchmarks/bench_proxy.py --gate` ({n} requests per case, in process; "
          f"load average {os.getloadavg()[0]:.1f}).\n")
    print("| request | CPU p50 | CPU p90 | answered |")
    print("|---|---:|---:|---|")
    for name, p50, p90, verdicts in rows:
        print(f"| {name} | {p50:.1f} ms | {p90:.1f} ms | {', '.join(map(str, verdicts))} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gate", action="store_true", help="the gate alone, in process")
    args = parser.parse_args()
    n = 30 if args.quick else args.requests
    if args.gate:
        return _gate(n)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = {**os.environ, "LACUNA_HOME": str(tmp / "home"), "LACUNA_EMBEDDINGS_BUILD": "never",
               "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        os.environ.update({k: env[k] for k in ("LACUNA_HOME", "LACUNA_EMBEDDINGS_BUILD")})
        config = tmp / "lacuna.yaml"
        config.write_text("destinations: {internal_hosts: [localhost]}\n"
                          f"audit: {{url: 'sqlite:///{tmp / 'state.db'}'}}\n")
        up_port, proxy_port = _free_port(), _free_port()
        upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)], env=env)
        proxy = subprocess.Popen([sys.executable, "-m", "lacuna", "proxy", "--port",
                                  str(proxy_port), "-c", str(config)], env=env,
                                 stdout=subprocess.DEVNULL)
        try:
            _wait_port(up_port, upstream)
            _wait_port(proxy_port, proxy)
            direct = http.client.HTTPConnection("127.0.0.1", up_port, timeout=30)
            via = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=30)
            rows = []
            for name, (body, ctype, status) in _cases().items():
                url = f"http://127.0.0.1:{up_port}/ingest"
                for _ in range(3):  # warm both paths (engine, classifier, connections)
                    _one(via, url, body, ctype, status)
                d_ms, p_ms = [], []
                for _ in range(n):
                    if status == 200:
                        d_ms.append(_one(direct, "/ingest", body, ctype, 200))
                    p_ms.append(_one(via, url, body, ctype, status))
                d50 = statistics.median(d_ms) if d_ms else None
                p50 = statistics.median(p_ms)
                p95 = statistics.quantiles(p_ms, n=20)[18]
                rows.append((name, len(body), d50, p50, p95))
            direct.close()
            via.close()
        finally:
            for proc in (proxy, upstream):
                proc.terminate()
                proc.wait(10)
        opened, first, first_cpu, again = _read_overhead(tmp)
        _, first_bg, first_bg_cpu, _ = _read_overhead(tmp, "background")
    load = os.getloadavg()[0]
    print("## Egress proxy (HTTP)\n")
    print(f"`python benchmarks/bench_proxy.py` ({n} requests per case, one kept-alive client "
          f"connection, loopback; load average {load:.1f} at the end). Overhead = proxied p50 "
          "minus direct p50: reading the body, classifying it, the fingerprint lookup, the "
          "decision, the audit record and a new upstream connection.\n")
    print("| case | body | direct p50 | proxied p50 | proxied p95 | overhead p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, size, d50, p50, p95 in rows:
        direct_text = f"{d50:.2f} ms" if d50 is not None else "(not sent)"
        over = f"{p50 - d50:.1f} ms" if d50 is not None else "-"
        print(f"| {name} | {size:,} B | {direct_text} | {p50:.1f} ms | {p95:.1f} ms | {over} |")
    print(f"\nFingerprint recording at governed reads (2 classified columns of a 100,000-row "
          f"frame, 1,000 values each): {first:.0f} ms ({first_cpu:.0f} ms CPU) the first time "
          "a file is read, "
          f"{again:.1f} ms when the same file is read again (median of 20); opening the store "
          f"(key, table) once per process: {opened:.0f} ms. With proxy.fingerprint_writes: "
          f"background the first read waits {first_bg:.0f} ms ({first_bg_cpu:.0f} ms CPU): the "
          "writer thread commits after it returns.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
