"""Benchmark the audit trail on SQLite: append latency, contended appends, list and verify.

Run: ``python benchmarks/bench_audit.py [--quick]``. Prints a markdown section to stdout.
Every number comes from a fresh SQLite file in a temporary folder (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy

from lacuna.audit import AuditStore
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Decision,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Source,
    Tier,
    User,
)


def make_pair(i: int) -> tuple[Decision, Operation]:
    cls = Classification(
        tier=Tier.PROPRIETARY,
        tags=("PII", "GDPR"),
        columns={
            "email": ColumnClass(classification=ColumnKind.PII, pii_type="email"),
            "revenue": ColumnClass(classification=ColumnKind.FINANCIAL),
            "region": ColumnClass(),
        },
    )
    op = Operation(
        action=Action.EXPORT,
        user=User(id=f"user{i % 20}", role="data_analyst"),
        classification=cls,
        sources=(Source(name="customers.csv", classification=cls),),
        destination=Destination(uri="~/Downloads/export.csv", type=DestinationType.FILE,
                                scope=Scope.EXTERNAL),
        purpose="benchmark",
        method="pandas.DataFrame.to_csv",
        code_location="bench.py:1",
    )
    allowed = i % 4 != 0
    decision = Decision(allowed=allowed, operation_id=op.id, reasoning="benchmark decision",
                        policy_id=None if allowed else "P-2024-001", eval_ms=0.05, operation=op)
    return decision, op


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Per-call wall times in milliseconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def row(name: str, samples: list[float], note: str = "") -> str:
    qs = statistics.quantiles(samples, n=100) if len(samples) > 1 else samples * 99
    return (f"| {name} | {len(samples):,} | {statistics.fmean(samples):.3f} | {qs[49]:.3f} | "
            f"{qs[94]:.3f} | {qs[98]:.3f} | {note} |")


def _writer(url: str, n: int, start: float) -> None:
    store = AuditStore(url)
    pairs = [make_pair(i) for i in range(n)]
    while time.time() < start:
        time.sleep(0.001)
    for decision, op in pairs:
        store.record(decision, op, session="bench")
    store.close()


def contended(url: str, n: int, writers: int) -> float:
    """Wall seconds for ``writers`` processes appending ``n`` records each to one file."""
    ctx = mp.get_context("spawn")
    start = time.time() + 2.0  # after every process has imported and opened the store
    procs = [ctx.Process(target=_writer, args=(url, n, start)) for _ in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            msg = f"a writer process failed with exit code {p.exitcode}"
            raise RuntimeError(msg)
    return time.time() - start


def verify_only(n: int, runs: int = 3) -> None:
    """``verify()`` of a trail of ``n`` records (written once with ``record_many``): wall and
    CPU seconds per run. CPU (``time.process_time``) is the steadier figure on a shared host."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'audit.db'}"
        store = AuditStore(url)
        for start in range(0, n, 1000):
            store.record_many([(*make_pair(i), "bench")
                               for i in range(start, min(n, start + 1000))])
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            report = store.verify()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert report.ok, report.problem
            assert report.checked == n, report.checked
            print(f"| `verify()` | {n:,} records | {wall:.2f} s wall | {cpu:.2f} s CPU | "
                  f"{cpu / n * 1e6:.1f} µs CPU/record |")
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer records, for CI")
    parser.add_argument("--verify-records", type=int, default=None, metavar="N",
                        help="only time verify() of a trail of N records (wall and CPU)")
    args = parser.parse_args()
    if args.verify_records:
        verify_only(args.verify_records)
        return
    n = 2_000 if args.quick else 20_000
    n_contended = 500 if args.quick else 5_000
    reads = 100 if args.quick else 500

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'audit.db'}"
        store = AuditStore(url)
        pairs = [make_pair(i) for i in range(n)]
        it = iter(pairs)

        def append() -> None:
            decision, op = next(it)
            store.record(decision, op, session="bench")

        for decision, op in (make_pair(i) for i in range(50)):  # warm-up
            store.record(decision, op, session="warm-up")
        rec = timed(append, n)
        lst = timed(lambda: store.list(limit=50), reads)
        flt = timed(lambda: store.list(limit=50, denied_only=True, user="user4"), reads)
        t0 = time.perf_counter()
        report = store.verify()
        verify_s = time.perf_counter() - t0
        assert report.ok, report.problem
        total = report.checked
        store.close()

        url2 = f"sqlite:///{Path(tmp) / 'contended.db'}"
        AuditStore(url2).close()
        wall = contended(url2, n_contended, writers=2)
        with AuditStore(url2) as check:
            report2 = check.verify()
        assert report2.ok, report2.problem
        assert report2.checked == 2 * n_contended

    print("## Audit trail\n")
    print(f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL), SQLAlchemy "
          f"{sqlalchemy.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}, {mp.cpu_count()} CPU(s). Times in milliseconds.\n")
    print("| operation | calls | mean | p50 | p95 | p99 | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print(row("`record()` one writer", rec, "append + hash chain, one transaction"))
    print(row("`list(limit=50)`", lst, f"over {total:,} records"))
    print(row("`list(denied_only, user)`", flt, "indexed filters"))
    per = verify_s / total * 1e6
    print(f"| `verify()` | 1 | {verify_s * 1e3:.1f} | | | | {total:,} records, "
          f"{per:.1f} µs/record |")
    rate = 2 * n_contended / wall
    print(f"| `record()` 2 processes, one file | {2 * n_contended:,} | "
          f"{wall / (2 * n_contended) * 1e3:.3f} | | | | {rate:,.0f} appends/s in total; "
          f"chain verified intact |")


if __name__ == "__main__":
    main()
