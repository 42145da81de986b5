"""Benchmark holding an ingested run's claims to the lineage store (``lineage.claims``).

Run: ``python benchmarks/bench_claims.py [N ...] [--repeat R] [--quick]`` (default N = 10 100
1000; ``--quick``: 10 and 100, once). Prints a markdown section to stdout.

The store (a fresh SQLite file) holds a run of Lacuna's pipeline that produced N datasets as
PROPRIETARY/PII, each with its own content fingerprint. A claim run reads the same N datasets
as PUBLIC (every one a lowering: three refusals each). Timed: ``guard`` (what the store knows,
held against the claim) and ``ingest`` (the guard, then the run recorded untrusted), each the
median of R runs by the wall clock and the process's CPU time, with the SQL statements the
engine executed counted (``before_cursor_execute``; SQLite's ``BEGIN`` included).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import guard, ingest
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification

CONFIG = ClassificationConfig()
PII = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["PII"], "columns": {
    "email": {"classification": "pii", "pii_type": "email", "sensitivity": "high"}}})
PUBLIC = Classification.from_dict({"tier": "PUBLIC", "columns": {
    "email": {"classification": "public", "sensitivity": "low"}}})


def _run(run_id: str, c: Classification, n: int, *, inputs: bool) -> Run:
    now = datetime.now(UTC)
    versions = tuple(DatasetVersion(dataset=DatasetRef("file", f"/lake/d{i}.csv"),
                                    classification=c, fingerprint=f"sha256:{i:064x}")
                     for i in range(n))
    return Run(id=run_id, operation="bench", status=RunStatus.SUCCEEDED,
               inputs=versions if inputs else (), outputs=() if inputs else versions,
               user_id="ana", role="analyst", session="s", started_at=now, ended_at=now)


def measure(n: int, repeat: int, root: Path) -> dict[str, float]:
    with LineageStore(f"sqlite:///{root / f'claims{n}.db'}") as store:
        store.record(_run("pipeline", PII, n, inputs=False))
        count = [0]

        def counted(*_: object) -> None:
            count[0] += 1

        event.listen(store.engine, "before_cursor_execute", counted)
        out: dict[str, float] = {}
        for name in ("guard", "ingest"):
            walls, cpus = [], []
            for r in range(repeat):
                claim = _run(f"claim{r}", PUBLIC, n, inputs=True)
                count[0] = 0
                wall, cpu = time.perf_counter(), time.process_time()
                if name == "guard":
                    _, refused = guard(claim, store, CONFIG)
                else:
                    _, refused = ingest(claim, store, CONFIG)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                assert len(refused) == 3 * n, (name, len(refused))
            out[f"{name}_s"] = statistics.median(walls)
            out[f"{name}_cpu_s"] = statistics.median(cpus)
            out[f"{name}_statements"] = count[0]
        return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N = 10 100, once (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat = [10, 100], 1
    logging.getLogger("lacuna").setLevel(logging.ERROR)  # a refusal is logged per run
    print("## Holding ingested claims to the store\n")
    print("`benchmarks/bench_claims.py`: a claim run lowering N datasets the pipeline recorded, "
          "held to the store (`guard`) and recorded untrusted (`ingest`); median of "
          f"{args.repeat} run(s).\n")
    print(f"Load average before measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n")
    print("| datasets | guard statements | guard wall | guard CPU | ingest statements "
          "| ingest wall | ingest CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            m = measure(n, args.repeat, Path(tmp))
            print(f"| {n:,} | {m['guard_statements']:,} | {m['guard_s'] * 1000:.0f} ms | "
                  f"{m['guard_cpu_s'] * 1000:.0f} ms | {m['ingest_statements']:,} | "
                  f"{m['ingest_s'] * 1000:.0f} ms | {m['ingest_cpu_s'] * 1000:.0f} ms |")


if __name__ == "__main__":
    main(sys.argv[1:])
