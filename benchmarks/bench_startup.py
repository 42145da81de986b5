"""Cold start of a pandas-only script: ``import pandas``, ``import lacuna``, the first
``lacuna.enable()`` and one governed ``to_csv``, each in a fresh interpreter.

    python benchmarks/bench_startup.py [--quick] [--rounds N] [OLD_SRC NEW_SRC]

``OLD_SRC`` and ``NEW_SRC`` are ``src`` folders of two trees (a worktree of main and one of a
branch); each round runs one child per tree, in turn, so both see the same load. Without them
(``run_all.py``) it measures this tree's ``src`` alone. The children
share one ``HOME``/``LACUNA_HOME`` in a temporary folder (a state database made by a first,
untimed run) and write bytecode (``PYTHONDONTWRITEBYTECODE`` unset): what a user's second run
costs. A last child per tree runs with ``python -X importtime``: the modules imported during
``enable()`` and the first write, and what they cost by top-level package. Prints markdown.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import sys, time, json
def now():
    return time.perf_counter(), time.process_time()
t0 = now()
import pandas as pd
t1 = now()
import lacuna
t2 = now()
before = set(sys.modules)
print("--- enable ---", file=sys.stderr, flush=True)
lacuna.enable(mode="observe")
t3 = now()
pd.DataFrame({"a": [1, 2]}).to_csv(sys.argv[1])
t4 = now()
lacuna.disable()
marks = [t0, t1, t2, t3, t4]
phases = ["import pandas", "import lacuna", "enable()", "first to_csv"]
print(json.dumps({"phases": {p: [1e3 * (marks[i + 1][0] - marks[i][0]),
                                 1e3 * (marks[i + 1][1] - marks[i][1])]
                             for i, p in enumerate(phases)},
                  "total": [1e3 * (t4[0] - t0[0]), 1e3 * (t4[1] - t0[1])],
                  "modules_at_enable": len(set(sys.modules) - before)}))
"""


def run(src: str, home: Path, *, importtime: bool = False) -> tuple[dict[str, object], str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=src, HOME=str(home), LACUNA_HOME=str(home / ".lacuna"))
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD,
            str(home / "out.csv")]
    done = subprocess.run(args, env=env, cwd=home, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def by_package(stderr: str) -> tuple[float, list[tuple[str, float]]]:
    """The top-level imports after the marker (enable() and the write): total cumulative ms
    and the five heaviest top-level packages."""
    after = stderr.split("--- enable ---", 1)[-1]
    costs: collections.Counter[str] = collections.Counter()
    for line in after.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if m and len(m.group(2)) <= 1:  # a top-level import (its cumulative time)
            costs[m.group(3).split(".")[0]] += int(m.group(1)) / 1e3
    return sum(costs.values()), costs.most_common(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("old", nargs="?")
    parser.add_argument("new", nargs="?")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
    here = str(Path(__file__).resolve().parents[1] / "src")
    trees = {"old": args.old, "new": args.new} if args.old and args.new else {"this tree": here}
    results: dict[str, list[dict[str, object]]] = {name: [] for name in trees}
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for src in trees.values():
            run(src, home)  # the state database, the bytecode: untimed
        for _ in range(args.rounds):
            for name, src in trees.items():
                results[name].append(run(src, home)[0])
        imports = {name: by_package(run(src, home, importtime=True)[1])
                   for name, src in trees.items()}
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print("## Cold start of a pandas-only script (bench_startup.py)")
    print()
    print(f"Load average (1/5/15 min) {'/'.join(load_before)} before, "
          f"{'/'.join(load_after)} after; {args.rounds} rounds, one child per tree each.")
    print()
    print("| phase | " + " | ".join(f"{n} wall ms | {n} CPU ms" for n in trees) + " |")
    print("| --- |" + " ---: | ---: |" * len(trees))
    phases = [*next(iter(results.values()))[0]["phases"], "total"]  # type: ignore[misc]
    for phase in phases:
        cells = []
        for name in trees:
            rows = [r["total"] if phase == "total" else r["phases"][phase]  # type: ignore[index]
                    for r in results[name]]
            for i in (0, 1):
                values = sorted(row[i] for row in rows)
                cells.append(f"{statistics.median(values):.0f} ({values[0]:.0f}–"
                             f"{values[-1]:.0f})")
        print(f"| {phase} | {' | '.join(cells)} |")
    print()
    for name in trees:
        total, top = imports[name]
        modules = statistics.median(r["modules_at_enable"] for r in results[name])  # type: ignore[misc]
        heaviest = ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in top)
        print(f"- {name}: {modules:.0f} modules imported by `enable()` and the first write; "
              f"`-X importtime` top-level cumulative {total:.0f} ms ({heaviest})")


if __name__ == "__main__":
    main()
