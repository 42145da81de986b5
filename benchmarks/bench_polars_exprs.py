"""polars expressions under governance: building and using an expression without literals.

    python benchmarks/bench_polars_exprs.py [--quick] [--rows N]

Every ``Expr`` method, operator and namespace method is hooked so that an expression holding a
Series taken from a governed frame (``pl.lit(s)``) keeps its class
(:mod:`lacuna.integrations.polars._exprs`). This measures what that costs where there is no
literal: building ``pl.col("n").cast(pl.String).str.to_uppercase().alias("u") + "x"`` (five
hooked calls), and ``with_columns`` of it on a frame of ``--rows`` rows (default 1,000) that
Lacuna never read and on one read through Lacuna; plus ``pl.lit(s)`` of a governed Series
put into a frame. Prints one markdown table, median microseconds per call, with the load
average. Run it on older code (``PYTHONPATH=<old src>``) to compare.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from docsection import timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--rows", type=int, default=1_000, help="rows of the frames")
    args = parser.parse_args()
    import polars as pl

    import lacuna

    rounds, n = (3, 200) if args.quick else (7, 2_000)
    rows = args.rows

    def expr() -> pl.Expr:
        return pl.col("n").cast(pl.String).str.to_uppercase().alias("u") + "x"

    print(f"load average {os.getloadavg()[0]:.1f}, polars {pl.__version__}, {rows:,} rows\n")
    print("| call | plain µs | governed, public frame µs | governed, governed frame µs |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "people.csv"
        path.write_text("email,n\n" + "".join(
            f"person{i}@example.com,{i}\n" for i in range(rows)))
        plain_frame = pl.DataFrame({"email": [f"client{i}@example.org" for i in range(rows)],
                                    "n": list(range(rows))})
        calls: dict[str, Callable[[pl.DataFrame], object]] = {
            "build the expression": lambda _d: expr(),
            "with_columns(expression)": lambda d: d.with_columns(expr()),
            "with_columns(pl.lit(d['email']).str.reverse())": lambda d: d.with_columns(
                pl.lit(d["email"]).str.reverse().alias("r")),
        }
        before = {k: timed(lambda f=f: f(plain_frame), n, rounds) for k, f in calls.items()}
        with lacuna.governed(lacuna.Config()):
            public = pl.DataFrame({"email": [f"client{i}@example.org" for i in range(rows)],
                                   "n": list(range(rows))})
            governed = pl.read_csv(path)
            hooked = {k: timed(lambda f=f: f(public), n, rounds) for k, f in calls.items()}
            tracked = {k: timed(lambda f=f: f(governed), n // 10, rounds)
                       for k, f in calls.items()}
        for k in calls:
            print(f"| `{k}` | {before[k]:.1f} | {hooked[k]:.1f} | {tracked[k]:.1f} |")


if __name__ == "__main__":
    main()
