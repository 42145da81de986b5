"""The ``pyarrow.compute`` hook: a typical call plain, hooked on public and on governed data.

    python benchmarks/bench_pyarrow_compute.py [--quick] [--rows N]

``pc.utf8_upper`` and ``pc.multiply`` on one column of a table with ``--rows`` rows (default
10,000 and 1,000,000): without Lacuna; governed, on a table Lacuna never read, of the same
shape and other values (the hook looks the inputs up and finds nothing); governed, on a column
of a table read through Lacuna (the result's buffers are recorded as holding that column).
Prints one markdown table, median microseconds per call, with the load average.
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
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")
    args = parser.parse_args()
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    import lacuna

    rounds = 3 if args.quick else 7
    print(f"load average {os.getloadavg()[0]:.1f}, pyarrow {pa.__version__}\n")
    print("| rows | call | plain µs | hooked, public µs | hooked, governed µs |")
    print("|---:|---|---:|---:|---:|")
    for rows in args.rows or [10_000, 1_000_000]:
        n = max(2, min(2_000, 20_000_000 // rows)) // (10 if args.quick else 1)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "people.csv"
            path.write_text("email,salary\n" + "".join(
                f"person{i}@example.com,{40_000 + i % 90_000}\n" for i in range(rows)))
            plain = pa_csv.read_csv(path)
            calls: dict[str, Callable[[pa.Table], object]] = {
                "utf8_upper(email)": lambda t: pc.utf8_upper(t["email"]),
                "multiply(salary, 2)": lambda t: pc.multiply(t["salary"], 2),
            }
            before = {k: timed(lambda f=f, t=plain: f(t), n, rounds) for k, f in calls.items()}
            with lacuna.governed(lacuna.Config()):
                # other values of the same shape: a copy of the governed ones would be matched
                # by what it holds (docs/integrations/frames.md) and be governed
                public = pa.table({"email": [f"client{i}@example.org" for i in range(rows)],
                                   "salary": [50_000 + i % 90_000 for i in range(rows)]})
                governed = pa_csv.read_csv(path)
                hooked = {k: timed(lambda f=f, t=public: f(t), n, rounds) for k, f in calls.items()}
                tracked = {k: timed(lambda f=f, t=governed: f(t), n, rounds)
                           for k, f in calls.items()}
            for k in calls:
                print(f"| {rows:,} | `{k}` | {before[k]:.1f} | {hooked[k]:.1f} | "
                      f"{tracked[k]:.1f} |")


if __name__ == "__main__":
    main()
