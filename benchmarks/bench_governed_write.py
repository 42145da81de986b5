"""Governed vs plain pandas writers: ``to_csv`` and ``to_parquet`` of 1,000 and 1,000,000 rows.

    python benchmarks/bench_governed_write.py [--quick] [--profile]

A frame with an e-mail column (PII) is written to a governed location (allowed), alternately
plain (``lacuna.disable()``) and governed (``lacuna.enable()``), in one process after a governed
warm-up; reports the median wall time of each and the overhead (governed - plain). A governed
write adds the boundary check of the frame's columns, the decision, the audit record before the
write, the outcome record after it, the sidecar and the lineage run. ``--profile`` prints where
the governed 1,000-row ``to_csv`` spends its time (cProfile, top functions by own time).
Prints one markdown section.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import lacuna


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": np.arange(n),
        "email": [f"user{i}@example.com" for i in range(n)],
        "region": rng.choice(["EMEA", "AMER", "APAC", "LATAM"], n),
        "revenue": rng.uniform(1, 500, n).round(2),
    })


def config(out: Path) -> lacuna.Config:
    from lacuna.config import config_from_dict

    return config_from_dict({"destinations": {"governed": [f"{out}/"]},
                             "audit": {"url": f"sqlite:///{out}/state/audit.db"},
                             "lineage": {"openlineage": {"enabled": False}}})


def governed_read(df: pd.DataFrame, folder: Path, cfg: lacuna.Config) -> pd.DataFrame:
    """``df`` as a governed ``read_csv`` gives it (classification, fingerprints, lineage)."""
    path = folder / f"source-{len(df)}.csv"
    lacuna.disable()
    df.to_csv(path, index=False)
    lacuna.enable(cfg)
    return pd.read_csv(path)


def alternate(plain_write: Callable[[], object], write: Callable[[], object], runs: int,
              cfg: lacuna.Config) -> tuple[float, float]:
    plain: list[float] = []
    governed: list[float] = []
    for _ in range(runs):
        for results, on in ((plain, False), (governed, True)):
            if on:
                lacuna.enable(cfg)
            else:
                lacuna.disable()
            started = time.perf_counter()
            (write if on else plain_write)()
            results.append(time.perf_counter() - started)
    lacuna.disable()
    return statistics.median(plain) * 1000, statistics.median(governed) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lacuna-bench-write-") as tmp:
        out = Path(tmp) / "governed"
        out.mkdir()
        cfg = config(out)
        sizes = (1_000, 100_000) if args.quick else (1_000, 1_000_000)
        for n in sizes:
            bare = frame(n)  # plain pandas writes it without Lacuna's state in attrs
            df = governed_read(bare, Path(tmp), cfg)
            df.to_csv(out / "warm.csv")  # warm-up: engine compile, stores opened
            lacuna.disable()
            runs = 21 if n <= 10_000 else 5
            for name in ("to_csv", "to_parquet"):
                suffix = name.removeprefix("to_")
                plain, governed = alternate(
                    lambda name=name, n=n, s=suffix, f=bare: getattr(f, name)(out / f"p{n}.{s}"),
                    lambda name=name, n=n, s=suffix, f=df: getattr(f, name)(out / f"g{n}.{s}"),
                    runs, cfg)
                rows.append((n, name, plain, governed, runs))
        if args.profile:
            df = governed_read(frame(1_000), Path(tmp), cfg)
            df.to_csv(out / "p.csv")
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(50):
                df.to_csv(out / "p.csv")
            prof.disable()
            lacuna.disable()
            stats = pstats.Stats(prof, stream=sys.stderr)
            stats.sort_stats("cumulative").print_stats(40)
    load = os.getloadavg()
    print("## Governed writes: to_csv and to_parquet\n")
    print(f"`python benchmarks/bench_governed_write.py`; Python {platform.python_version()}, "
          f"pandas {pd.__version__}; {os.cpu_count()} cores; load average after the run "
          f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}. Median wall time of alternating plain "
          "and governed runs, writing a PII frame to a governed location (allowed).\n")
    print("| rows | writer | runs | plain ms | governed ms | overhead ms | ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, name, plain, governed, runs in rows:
        print(f"| {n:,} | {name} | {runs} | {plain:.2f} | {governed:.2f} | "
              f"{governed - plain:+.2f} | {governed / plain:.2f}x |")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
