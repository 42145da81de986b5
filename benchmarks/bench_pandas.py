"""Governed vs plain pandas: merge, groupby-sum and to_csv on 10k and 1M rows; and a pipeline.

The governed run uses the default policy bundle in enforce mode and the SQLite audit trail; the
export goes to governed storage, so it is allowed (a full decision, an audit append and a
sidecar). The overhead is (governed - plain); the ratio is governed / plain.

The pipeline (issue 7's overhead target, <= 1.05x): read_csv of two 500k-row files, merge,
filter, groupby-sum, run alternately plain (``lacuna.disable()``) and governed
(``lacuna.enable()``, same process and governor) after one governed warm-up run; the ratio is
the median governed time over the median plain time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from docsection import median_seconds

import lacuna
from lacuna.governor import current


def frames(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    ids = np.arange(n)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"user{i}@example.com" for i in range(n)],
            "region": rng.choice(["EMEA", "AMER", "APAC", "LATAM"], n),
        }
    )
    sales = pd.DataFrame(
        {"customer_id": rng.integers(0, n, n), "revenue": rng.uniform(1, 500, n).round(2)}
    )
    return customers, sales




def measure(n: int, repeat: int, out: Path) -> list[tuple[str, float, float]]:
    customers, sales = frames(n)
    plain: dict[str, float] = {}
    governed: dict[str, float] = {}
    for mode, results in (("plain", plain), ("governed", governed)):
        if mode == "governed":
            lacuna.enable(governed_config(out))
            customers = lacuna_frame(customers, "customers.csv")
            sales = lacuna_frame(sales, "sales.csv")
        results.update(run_operations(customers, sales, out / f"export-{mode}-{n}.csv", repeat))
        lacuna.disable()
    return [(k, plain[k], governed[k]) for k in plain]


def run_operations(
    customers: pd.DataFrame, sales: pd.DataFrame, target: Path, repeat: int
) -> dict[str, float]:
    joined = customers.merge(sales, on="customer_id")
    summary = joined.groupby("region")["revenue"].sum()
    return {
        "merge": median_seconds(lambda: customers.merge(sales, on="customer_id"), repeat),
        "groupby-sum": median_seconds(lambda: joined.groupby("region")["revenue"].sum(), repeat),
        "to_csv (aggregate)": median_seconds(lambda: summary.to_csv(target), repeat),
        "to_csv (joined)": median_seconds(lambda: joined.to_csv(target), max(1, repeat // 3)),
    }


def governed_config(out: Path) -> lacuna.Config:
    from lacuna.config import config_from_dict

    return config_from_dict(
        {"destinations": {"governed": [f"{out}/"]}, "audit": {"url": f"sqlite:///{out}/audit.db"}}
    )


def lacuna_frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    from lacuna.lineage.state import DataState, LineageNode, set_state

    classification = lacuna.classify(df)
    return set_state(
        df,
        DataState(
            classification=classification, lineage=LineageNode(name=name, operation="read_csv")
        ),
    )


def write_pipeline_files(out: Path, n: int) -> tuple[Path, Path]:
    customers, sales = frames(n)
    paths = out / "pipeline-customers.csv", out / "pipeline-sales.csv"
    customers.to_csv(paths[0], index=False)
    sales.to_csv(paths[1], index=False)
    return paths


def pipeline(customers: Path, sales: Path) -> pd.Series:
    joined = pd.read_csv(customers).merge(pd.read_csv(sales), on="customer_id")
    large = joined[joined["revenue"] > 100]
    return large.groupby("region")["revenue"].sum()


def measure_pipeline(out: Path, n: int, runs: int,
                     clock: Callable[[], float] = time.perf_counter
                     ) -> tuple[float, float, list[float]]:
    """Median plain and governed seconds of :func:`pipeline`, alternating, and every ratio.

    ``clock``: ``time.perf_counter`` (wall) or ``time.process_time`` (CPU of every thread of
    this process: steadier on a machine shared with other work)."""
    paths = write_pipeline_files(out, n)
    lacuna.enable(governed_config(out))
    pipeline(*paths)  # warm-up: the first governed read classifies the files
    plain: list[float] = []
    governed: list[float] = []
    for _ in range(runs):
        for results, switch in ((plain, lacuna.disable), (governed, lacuna.enable)):
            switch()
            t = clock()
            pipeline(*paths)
            results.append(clock() - t)
    lacuna.disable()
    ratios = [g / p for p, g in zip(plain, governed, strict=True)]
    return statistics.median(plain), statistics.median(governed), ratios


def small_frames(n: int) -> list[pd.DataFrame]:
    """``n`` four-row frames nobody classified: an id column of new values in each, a region
    and an amount column the same in each (frames built row by row in a loop)."""
    return [pd.DataFrame({"id": range(4 * i, 4 * i + 4), "region": ["EMEA", "AMER", "APAC",
                                                                    "LATAM"],
                          "amount": [1.5, 2.5, 3.5, 4.5]}) for i in range(n)]


def measure_concat(out: Path, n: int) -> tuple[float, float, float, float]:
    """``pd.concat`` of :func:`small_frames`, plain then governed (each input classified on
    its own values): (plain wall, plain CPU, governed wall, governed CPU) in seconds."""
    def timed() -> tuple[float, float]:
        given = small_frames(n)
        wall, cpu = time.perf_counter(), time.process_time()
        pd.concat(given)
        return time.perf_counter() - wall, time.process_time() - cpu

    plain = timed()
    lacuna.enable(governed_config(out))
    governed = timed()
    lacuna.disable()
    return (*plain, *governed)


def print_concat(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pw, pc, gw, gc = measure_concat(Path(tmp), n)
        current().close()
    print("## Governed vs plain pandas: pd.concat of many small unclassified frames\n")
    print(f"`pd.concat` of {n:,} four-row frames nobody classified (an id column of new "
          "values in each, a region and an amount column the same in each); governed, each "
          "input is classified on its own values.\n")
    print("| clock | plain (s) | governed (s) | governed per frame (ms) |")
    print("|---|---:|---:|---:|")
    for label, p, g in (("wall", pw, gw), ("CPU (process)", pc, gc)):
        print(f"| {label} | {p:.3f} | {g:.3f} | {g / n * 1e3:.2f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concat-only", type=int, metavar="N", default=0,
                        help="print only the pd.concat section, of N small frames")
    args = parser.parse_args()
    if args.concat_only:
        print_concat(args.concat_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        n_pipe = 50_000 if args.quick else 500_000
        runs = 3 if args.quick else 11
        plain_s, gov_s, ratios = measure_pipeline(Path(tmp), n_pipe, runs)
        cpu = measure_pipeline(Path(tmp), n_pipe, runs, time.process_time)
        current().close()  # flush the decision log before its folder goes
    print("## Governed vs plain pandas: read_csv + merge + filter + groupby\n")
    print(
        f"Two CSV files of {n_pipe:,} rows each (customers with e-mail addresses, sales), read "
        "with read_csv, merged, filtered and grouped; {runs} alternating plain/governed runs "
        "in one process after a governed warm-up (the first read of a file classifies it; "
        "re-reads of an unchanged file use the cached classification). Target: <= 1.05x.\n"
        .replace("{runs}", str(runs))
    )
    print("| clock | plain median (ms) | governed median (ms) | ratio of medians | "
          "per-run ratios |")
    print("|---|---:|---:|---:|---|")
    for label, (p, g, r) in (("wall", (plain_s, gov_s, ratios)), ("CPU (process)", cpu)):
        print(f"| {label} | {p * 1e3:.1f} | {g * 1e3:.1f} | {g / p:.3f}× | "
              + ", ".join(f"{x:.2f}" for x in r) + " |")
    print()
    sizes = [10_000] if args.quick else [10_000, 1_000_000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            repeat = 5 if args.quick else (15 if n <= 10_000 else 5)
            for op, plain, gov in measure(n, repeat, Path(tmp)):
                rows.append((n, op, plain, gov))
        current().close()
    print("## Governed vs plain pandas\n")
    print(
        "Median wall time per call; overhead = governed − plain. Exports include a policy "
        "decision, an audit append and a sidecar write.\n"
    )
    print("| rows | operation | plain (ms) | governed (ms) | overhead (ms) | ratio |")
    print("|---:|---|---:|---:|---:|---:|")
    for n, op, plain, gov in rows:
        print(
            f"| {n:,} | {op} | {plain * 1e3:.2f} | {gov * 1e3:.2f} | "
            f"{(gov - plain) * 1e3:+.2f} | {gov / plain:.2f}× |"
        )
    print()
    print_concat(500 if args.quick else 5_000)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
