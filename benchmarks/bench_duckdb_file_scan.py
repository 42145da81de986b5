"""What a whole-file scan would cost a DuckDB copy of a file, next to the copy itself.

Run: ``python benchmarks/bench_duckdb_file_scan.py [--quick] [--rows N] [--runs N]``. Prints one
markdown section to stdout (``run_all.py`` collects it).

A file a DuckDB statement reads (``COPY (SELECT * FROM 'big.csv') TO …``) is classified from
a sample: half its first rows and half a reservoir over all its rows
(``lacuna.integrations.duckdb._spread_sample``). The question is whether scanning every row
with the strong recognizers' patterns, as a write's computed columns are
(``computed._scanned``: a spread of each column's values by hash, values holding an ``@``,
values matching a free-text pattern, patterns inside long values), is cheap next to the
copy. Measured on a CSV of ``--rows`` rows (id, two short texts, a region, an amount, a
date; no Lacuna hooks installed), each case run ``--runs`` times interleaved, medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from docsection import stamp

from lacuna.integrations.duckdb import computed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 3 runs")
    parser.add_argument("--rows", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--runs", type=int, default=None, help="default 7")
    args = parser.parse_args()
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.runs = args.runs or (3 if args.quick else 7)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        big = here / "big.csv"
        con = duckdb.connect()
        con.execute(
            "COPY (SELECT range AS id, 'item-' || range AS label, 'Customer ' || (range % 977) "
            "AS name, CASE WHEN range % 3 = 0 THEN 'north' ELSE 'south' END AS region, "
            "(range * 7) % 100000 / 100.0 AS amount, DATE '2020-01-01' + "
            f"CAST(range % 1000 AS INTEGER) AS day FROM range({args.rows})) TO '{big}'")
        rel = con.sql(f"SELECT * FROM '{big}'")
        names = [str(c) for c in rel.columns]
        cases: dict[str, Callable[[], object]] = {
            "COPY to CSV (the copy itself)": lambda: con.execute(
                f"COPY (SELECT * FROM '{big}') TO '{here / 'out.csv'}'"),
            "COPY to Parquet": lambda: con.execute(
                f"COPY (SELECT * FROM '{big}') TO '{here / 'out.parquet'}'"),
            "sample now: first rows + reservoir": lambda: (
                con.sql(f"SELECT * FROM '{big}' LIMIT 1001").df(),
                con.sql(f"SELECT * FROM '{big}' USING SAMPLE reservoir(500 ROWS) "
                        "REPEATABLE (1013)").df()),
            "whole-file scan (computed._scanned)": lambda: computed._scanned(
                rel, names, 1000),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, case in cases.items():
                start = time.perf_counter()
                case()
                times[name].append(time.perf_counter() - start)
    copy = statistics.median(times["COPY to CSV (the copy itself)"])
    print("## DuckDB: a whole-file scan of a copied file\n")
    print(f"`python benchmarks/bench_duckdb_file_scan.py`: a CSV of {args.rows:,} rows, each "
          f"case run {args.runs} times interleaved, medians of wall time. Why a file a DuckDB "
          "statement copies is sampled, not scanned whole: docs/sql.md.\n")
    print(stamp(load_before, clock="wall") + "\n")
    print("| case | seconds | x the CSV copy |\n|---|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / copy:.2f} |")


if __name__ == "__main__":
    main()
