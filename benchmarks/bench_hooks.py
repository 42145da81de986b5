"""Installing and removing the library hooks: one ``lacuna.enable()`` + ``lacuna.disable()``.

    python benchmarks/bench_hooks.py [--quick] [--cycles N]

Every hook (pandas' patches and the polars, pyarrow and DuckDB hooks, where installed) keeps the
replacement it built for an original, so a cycle only sets and restores attributes. Measured
after a first cycle has built them; compared in the same run with what the user does anyway, a
plain ``pd.read_csv`` of the bundled 60-row customers table. Prints one markdown section with
wall and CPU time and the load average.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path


def timed(fn: Callable[[], object], n: int, rounds: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds per call over ``rounds`` rounds of ``n`` calls."""
    walls, cpus = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        walls.append((time.perf_counter() - w0) / n * 1e3)
        cpus.append((time.process_time() - c0) / n * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--cycles", type=int, default=200, help="cycles per round")
    args = parser.parse_args()
    import pandas as pd

    import lacuna
    from lacuna.integrations import pandas as governed_pandas

    libraries = ["pandas"]
    for name in ("polars", "pyarrow", "duckdb"):
        try:
            __import__(name)
            libraries.append(name)
        except ImportError:
            pass
    lacuna.enable()
    hooks = len(governed_pandas._patches())
    lacuna.disable()
    n, rounds = (20, 3) if args.quick else (args.cycles, 7)

    def cycle() -> None:
        lacuna.enable()
        lacuna.disable()

    data = Path(str(resources.files("lacuna") / "data" / "customers.csv"))
    wall, cpu = timed(cycle, n, rounds)
    read_wall, read_cpu = timed(lambda: pd.read_csv(data), n, rounds)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print("## Installing and removing the hooks: enable() + disable()")
    print()
    print(f"Libraries hooked: {', '.join(libraries)} ({hooks} pandas patches plus the other "
          f"libraries' hooks); median of {rounds} rounds of {n} cycles; load average "
          f"{' '.join(load) or 'n/a'} when measured.")
    print()
    print("| what | wall ms | CPU ms |")
    print("|---|---|---|")
    print(f"| one `lacuna.enable()` + `lacuna.disable()` cycle | {wall:.2f} | {cpu:.2f} |")
    print(f"| for scale: plain `pd.read_csv` of the 60-row customers table | {read_wall:.2f} | "
          f"{read_cpu:.2f} |")


if __name__ == "__main__":
    main()
