"""Benchmark ``lacuna.synthesize`` against plain Faker row by row.

Run: ``python benchmarks/bench_synthesize.py [--quick]``. Prints a markdown section to stdout.
Arrow is held to one CPU (``pyarrow.set_cpu_count(1)``); numpy is single-threaded for these
operations. Faker is timed on a slice and extrapolated to the full row count (it is linear).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import zlib
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
from faker import Faker

import lacuna
from lacuna.anonymize.synthetic import generate

PII_COLUMNS = ("full_name", "email", "phone", "ssn", "date_of_birth")
TYPES = {"full_name": "name", "email": "email", "phone": "phone", "ssn": "ssn",
         "date_of_birth": "dob"}


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = np.arange(rows)
    return pd.DataFrame({
        "full_name": pd.Series(ids).map(lambda i: f"Customer Number{i}"),
        "email": [f"customer{i}@corp.example" for i in ids],
        "phone": [f"+1 (415) {i // 10_000 % 1000:03d}-{i % 10_000:04d}" for i in ids],
        "ssn": [f"{100 + i % 500:03d}-{1 + i % 97:02d}-{1 + i % 9999:04d}" for i in ids],
        "date_of_birth": pd.to_datetime(rng.integers(0, 365 * 70, rows), unit="D",
                                        origin="1940-01-01").strftime("%Y-%m-%d"),
        "plan": rng.choice(["basic", "pro"], rows),
    })


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def faker_rows(df: pd.DataFrame, seeded: bool) -> None:
    fake = Faker("en_US")
    for row in df.itertuples(index=False):
        if seeded:  # deterministic per value, like lacuna: reseed from each original value
            fake.seed_instance(zlib.crc32(row.email.encode()))
        fake.name()
        fake.email()
        fake.phone_number()
        fake.ssn()
        fake.date_of_birth()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    args = parser.parse_args()
    pa.set_cpu_count(1)
    rows = 100_000 if args.quick else 1_000_000
    df = frame(rows)
    lacuna.classify(df)  # warm the classifier and Faker's word lists
    lacuna.synthesize(df.head(1000), seed=1)
    results: list[tuple[str, float, str]] = []
    cpu_start = time.process_time()
    total = best(lambda: lacuna.synthesize(df, seed=1, as_of=date(2026, 1, 1)), 2)
    cpu = (time.process_time() - cpu_start) / 2  # CPU seconds of one run: load-independent
    results.append((f"`lacuna.synthesize` end to end, {len(PII_COLUMNS)} PII columns", total,
                    "classify + synthesize + re-classify + k-anonymity check"))
    for column in PII_COLUMNS:
        t = best(lambda c=column: generate(df[c], TYPES[c], b"bench-key"), 2)
        results.append((f"  `{TYPES[column]}` column alone", t, "vectorised generator"))
    part = df.head(20_000)
    plain = best(lambda: faker_rows(part, seeded=False), 1) * rows / len(part)
    results.append(("plain Faker, row by row (5 calls per row)", plain,
                    f"timed on {len(part):,} rows, extrapolated; not deterministic"))
    seeded = best(lambda: faker_rows(part, seeded=True), 1) * rows / len(part)
    results.append(("Faker row by row, reseeded per value", seeded,
                    f"timed on {len(part):,} rows, extrapolated; deterministic like lacuna"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("## Synthetic data\n")
    print(f"{rows:,} rows x {len(PII_COLUMNS)} PII columns (name, email, phone, SSN, date of "
          f"birth), Python {platform.python_version()}, pandas {pd.__version__}, pyarrow "
          f"{pa.__version__}, Faker {Faker.__module__ and __import__('faker').VERSION}, "
          f"{os.cpu_count()} CPU(s), Arrow held to 1 thread, load average {load:.1f} at the "
          "start. Best of 2 (Faker: one pass on a slice).\n")
    print("| case | seconds | rows/s | note |")
    print("|---|---:|---:|---|")
    for name, seconds, note in results:
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} | {note} |")
    print(f"\nCPU time of one end-to-end run: {cpu:.2f} s (on one core; wall time above also "
          f"counts waiting for the CPU on a loaded machine). Speed-up over plain Faker: "
          f"{plain / total:.0f}x; over reseeded Faker: {seeded / total:.0f}x.")


if __name__ == "__main__":
    main()
