"""Benchmark the lineage store: a generated graph of 1M edges, 10-hop upstream queries.

Run: ``python benchmarks/bench_lineage.py [--quick] [--no-postgres]``. Prints a markdown
section to stdout.

The graph: N datasets in a pipeline-like order; dataset i has 5 distinct parents drawn from the
50 datasets before it (a wide, deep DAG: 10 hops upstream of a late dataset reach about 500
datasets and 2,500 edges). Every dataset has one produced version and one run. Rows are
bulk-inserted through SQLAlchemy Core into a store made by ``LineageStore`` (so the schema and
indexes are the real ones); the timed call is ``LineageStore.upstream(ref, depth=10)``, which
returns the full ``LineageGraph`` (nodes with their latest versions, edges, column edges), and,
beside it, the walk's SQL alone (breadth first, one indexed query per hop). Each is timed by
the wall clock and, for the full query, by the process's CPU time too (on a shared machine the
wall clock includes waiting for a core; the CPU time is close to what an idle machine gives,
SQLite running inside the process). PostgreSQL runs on an ephemeral local cluster when the
binaries are found (``/usr/lib/postgresql/*/bin``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import insert

from lacuna.lineage import queries
from lacuna.lineage.graph import Direction
from lacuna.lineage.records import DatasetRef
from lacuna.lineage.schema import datasets, edges, runs, versions
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification

PARENTS = 5
WINDOW = 50
BATCH = 20_000


def _name(i: int) -> str:
    return f"/lake/stage{i // 1000}/dataset_{i}.parquet"


def generate(store: LineageStore, n: int, seed: int = 7) -> int:
    """Fill the store with ``n`` datasets and about ``5 n`` edges; returns the edge count."""
    rng = random.Random(seed)
    body = json.dumps(Classification().to_dict(), sort_keys=True)
    count = 0
    with store.engine.begin() as conn:
        for start in range(0, n, BATCH):
            ids = range(start, min(start + BATCH, n))
            conn.execute(insert(datasets), [
                {"id": i + 1, "namespace": "file", "name": _name(i)} for i in ids])
            conn.execute(insert(runs), [{
                "id": f"run{i}", "operation": "transform", "status": "succeeded",
                "user_id": "bench", "role": "", "session": "", "method": "",
                "started_at": "2026-01-01T00:00:00.000000+00:00", "producer": "lacuna",
                "provenance": "{}", "seq": i + 1} for i in ids])
            conn.execute(insert(versions), [{
                "id": i + 1, "dataset_id": i + 1, "run_id": f"run{i}", "fingerprint": f"fp{i}",
                "tier": "PUBLIC", "classification": body, "columns": "[]",
                "created": "2026-01-01T00:00:00.000000+00:00", "produced": True} for i in ids])
            rows = []
            for i in ids:
                if i == 0:
                    continue
                low = max(0, i - WINDOW)
                for p in rng.sample(range(low, i), min(PARENTS, i - low)):
                    rows.append({"parent_id": p + 1, "child_id": i + 1, "run_id": f"run{i}"})
            conn.execute(insert(edges), rows)
            count += len(rows)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return count


def measure(store: LineageStore, n: int, repeat: int) -> dict[str, float]:
    rng = random.Random(11)
    targets = [rng.randrange(n // 2, n) for _ in range(repeat)]
    store.upstream(DatasetRef("file", _name(targets[0])), depth=10)  # warm the caches
    full, cpu, cte, sizes = [], [], [], []
    for t in targets:
        ref = DatasetRef("file", _name(t))
        t0, c0 = time.perf_counter(), time.process_time()
        graph = store.upstream(ref, depth=10)
        full.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        sizes.append((len(graph.nodes), len(graph.edges)))
        with store.engine.connect() as conn:
            t0 = time.perf_counter()
            queries.walk_levels(conn, t + 1, Direction.UPSTREAM, 10)
            cte.append(time.perf_counter() - t0)
    full.sort()
    return {
        "median_ms": statistics.median(full) * 1000,
        "p95_ms": full[int(0.95 * (len(full) - 1))] * 1000,
        "cte_ms": statistics.median(cte) * 1000,
        "cpu_ms": statistics.median(cpu) * 1000,
        "nodes": statistics.median(s[0] for s in sizes),
        "edges": statistics.median(s[1] for s in sizes),
    }


@contextmanager
def postgres() -> Iterator[str | None]:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        yield None
        return
    bindir = bins[-1].parent
    root = Path(tempfile.mkdtemp(prefix="lacuna-bench-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "lacuna", "-A",
                    "trust"], check=True, capture_output=True)
    subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-l",
                    str(data / "server.log"), "-w", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off "
                    "-c shared_buffers=256MB", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://lacuna@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def run(url: str, n: int, repeat: int) -> tuple[int, float, dict[str, float]]:
    with LineageStore(url) as store:
        t0 = time.perf_counter()
        count = generate(store, n)
        load = time.perf_counter() - t0
        return count, load, measure(store, n, repeat)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k edges, few repetitions")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    n = 4_000 if args.quick else 200_000
    repeat = 5 if args.quick else 50
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(("SQLite (WAL, file)", *run(f"sqlite:///{tmp}/state.db", n, repeat)))
    if not args.no_postgres:
        with postgres() as url:
            if url is not None:
                results.append(("PostgreSQL 15 (local, fsync off)", *run(url, n, repeat)))
    print("## Lineage store\n")
    print(f"`benchmarks/bench_lineage.py`: {n:,} datasets, {results[0][1]:,} edges (each "
          f"dataset has {PARENTS} parents among the {WINDOW} before it); `upstream(ref, "
          f"depth=10)` on {repeat} random datasets of the later half. Target: a 10-hop upstream "
          "query under 50 ms on SQLite.\n")
    print(f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n")
    print("| backend | edges | bulk load | 10-hop upstream, median | p95 | its CPU time, median "
          "| walk SQL alone, median | datasets reached | edges walked |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, count, load, m in results:
        print(f"| {name} | {count:,} | {load:.1f} s | {m['median_ms']:.1f} ms | "
              f"{m['p95_ms']:.1f} ms | {m['cpu_ms']:.1f} ms | {m['cte_ms']:.1f} ms | "
              f"{m['nodes']:.0f} | {m['edges']:.0f} |")
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
