"""Governed vs plain pandas: merge, groupby-sum and to_csv on 10k and 1M rows.

The governed run uses the default policy bundle in enforce mode and the SQLite audit trail; the
export goes to governed storage, so it is allowed (a full decision, an audit append and a
sidecar). The overhead is (governed - plain); the ratio is governed / plain.
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


def timeit(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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
        "merge": timeit(lambda: customers.merge(sales, on="customer_id"), repeat),
        "groupby-sum": timeit(lambda: joined.groupby("region")["revenue"].sum(), repeat),
        "to_csv (aggregate)": timeit(lambda: summary.to_csv(target), repeat),
        "to_csv (joined)": timeit(lambda: joined.to_csv(target), max(1, repeat // 3)),
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
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
    sys.stdout.flush()


if __name__ == "__main__":
    main()
