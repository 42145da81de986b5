"""What a write to an existing local file pays for the exceptions' records: against the write.

    python benchmarks/bench_supersede.py [--quick]

Every governed write to a local file (pandas, polars, pyarrow; Spark and DuckDB to a path)
takes the path's turn (:func:`lacuna.exceptions.pathlock.path_lock`: an in-process lock and an
``flock``), asks which exceptions hold the file it replaces
(:func:`lacuna.exceptions.appends.replacing`: an ``lstat`` and a query of the pending file
records) and, once it returned, closes their records (:func:`~lacuna.exceptions.appends.
supersede`, nothing to do when none holds it). This measures that step alone, on a file no
exception holds (the common case), with 0, 1,000 and 10,000 pending records of other files in
the state database (SQLite), against the plain pandas write of the same file (``to_csv``,
``to_parquet``) of 1,000 and 100,000 rows. Median wall time; prints one markdown section.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from docsection import cpu_model, median_seconds

import lacuna
from lacuna import _bypass


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": np.arange(n),
        "email": [f"user{i}@example.com" for i in range(n)],
        "region": rng.choice(["EMEA", "AMER", "APAC", "LATAM"], n),
        "revenue": rng.uniform(1, 500, n).round(2),
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, no 10,000 records")
    args = parser.parse_args()
    from lacuna.config import config_from_dict
    from lacuna.exceptions import appends
    from lacuna.exceptions.pathlock import path_lock
    from lacuna.governor import current

    before = os.getloadavg()
    rows: list[tuple[int, int, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="lacuna-bench-supersede-") as tmp:
        out = Path(tmp) / "data"
        out.mkdir()
        (out / "state").mkdir()
        lacuna.enable(config_from_dict({
            "destinations": {"governed": [f"{out}/"]},
            "audit": {"url": f"sqlite:///{out}/state/audit.db"},
            "lineage": {"openlineage": {"enabled": False}}}))
        gov = current()
        frames = {n: frame(n) for n in (1_000, 100_000)}
        recorded = 0
        for pending in (0, 1_000) if args.quick else (0, 1_000, 10_000):
            for i in range(recorded, pending):  # records of other files, not yet deleted
                gov.exceptions.record_file("EXC-BENCH", str(out / f"other-{i}.csv"),
                                           written_by="bench", encrypted=False)
            recorded = max(recorded, pending)

            def step(path: Path) -> None:
                with path_lock(path):
                    found = appends.replacing(gov, path, None)
                    appends.supersede(gov, found, exception_id=None, method="bench")

            for n, df in frames.items():
                for writer in ("to_csv", "to_parquet"):
                    path = out / f"f{n}.{writer.removeprefix('to_')}"

                    def write(df: pd.DataFrame = df, writer: str = writer,
                              path: Path = path) -> None:
                        with _bypass.bypass():
                            getattr(df, writer)(path, index=False)

                    write()  # the file exists: the write replaces it
                    runs = 5 if args.quick else (31 if n <= 1_000 else 9)
                    plain = median_seconds(write, runs) * 1000
                    steps = 51 if args.quick else 201
                    extra = median_seconds(lambda path=path: step(path), steps) * 1000
                    rows.append((pending, n, writer, plain, extra))
        lacuna.disable()
    after = os.getloadavg()
    now = datetime.now(UTC)
    print("## Exceptions: the cost of superseding on a write to an existing file\n")
    print(f"`python benchmarks/bench_supersede.py{' --quick' if args.quick else ''}`, "
          f"measured {now:%Y-%m-%d %H:%M} UTC on {cpu_model()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, pandas {pd.__version__}; load average (1/5/15 min) "
          f"{before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f} before, "
          f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} after. The step is the path's turn, "
          "`replacing()` (`lstat` + the query of pending file records) and `supersede()` of "
          "nothing, on a file no exception holds; the write is plain pandas (median).\n")
    print("| pending records | rows | writer | write ms | step ms | step / write |")
    print("|---:|---:|---|---:|---:|---:|")
    for pending, n, writer, plain, extra in rows:
        print(f"| {pending:,} | {n:,} | {writer} | {plain:.2f} | {extra:.3f} | "
              f"{extra / plain:.1%} |")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
