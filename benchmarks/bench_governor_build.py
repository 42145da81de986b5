"""A new governor: ``lacuna.enable(config)`` and its first governed read, A/B over two trees.

    python benchmarks/bench_governor_build.py --old /path/to/other/src [--new src] [--cycles 40]
                                              [--old-name TEXT] [--new-name TEXT] [--write]

What a notebook pays when it switches user or reloads its configuration, a CLI command at
start, a test per case: the policy engine is compiled and analysed, the state stores are opened
(their schema checked) and the configuration recorded, then one ``pd.read_csv`` of the bundled
60-row customers table is decided and audited. One child interpreter per tree (``PYTHONPATH``
set to that tree's ``src``), the same configuration and state file every cycle (as a switch
of user does), after one warm-up cycle; the trees run in turn, a round each, so both see the
same load. Compared in the same run with the plain ``pd.read_csv`` the user does anyway.
Reports the median of the rounds' per-cycle wall and CPU milliseconds; ``--write`` replaces
this script's section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

TITLE = "## A new governor: enable() and its first read"


def child(folder: str, cycles: int, rounds: int) -> None:
    import pandas as pd

    import lacuna
    from lacuna.config import config_from_dict

    os.chdir(folder)
    os.environ["LACUNA_HOME"] = os.path.join(folder, "home")
    config = config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                               "audit": {"url": f"sqlite:///{folder}/audit.db"}})

    def governed() -> None:
        lacuna.enable(config)
        pd.read_csv("customers.csv")

    def plain() -> None:
        pd.read_csv("customers.csv")

    governed()  # warm-up: imports, the classifier's tables, the state file's migrations
    lacuna.disable()
    plain()
    out: dict[str, list[list[float]]] = {"governed": [], "plain": []}
    for _ in range(rounds):
        for case, fn in (("governed", governed), ("plain", plain)):
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(cycles):
                fn()
            out[case].append([(time.perf_counter() - w0) / cycles * 1e3,
                              (time.process_time() - c0) / cycles * 1e3])
            lacuna.disable()
    print(json.dumps(out))


def run(src: str, folder: str, cycles: int) -> dict[str, list[list[float]]]:
    done = subprocess.run([sys.executable, __file__, "--child", folder, "--cycles", str(cycles)],
                          env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True,
                          check=True)
    result: dict[str, list[list[float]]] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", help="the other tree's src folder (required)")
    parser.add_argument("--new", default=str(Path(__file__).resolve().parent.parent / "src"))
    parser.add_argument("--old-name", help="what the old tree is, in the table (its path)")
    parser.add_argument("--new-name", help="what the new tree is, in the table (its path)")
    parser.add_argument("--cycles", type=int, default=40, help="cycles per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per tree")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cycles, 1)
        return
    if not args.old:
        parser.error("--old is required: the src folder of the tree to compare with")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from docsection import stamp, write

    load = os.getloadavg()
    trees = {"old": args.old, "new": args.new}
    rows: dict[str, dict[str, list[list[float]]]] = {t: {"governed": [], "plain": []}
                                                       for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for tree in trees:
            folders[tree] = os.path.join(tmp, tree)
            os.makedirs(folders[tree])
            data = resources.files("lacuna") / "data" / "customers.csv"
            Path(folders[tree], "customers.csv").write_bytes(data.read_bytes())
        for i in range(args.rounds):
            for tree in (trees if i % 2 == 0 else list(trees)[::-1]):
                got = run(trees[tree], folders[tree], args.cycles)
                for case in got:
                    rows[tree][case] += got[case]

    def median(tree: str, case: str, at: int) -> float:
        return statistics.median(r[at] for r in rows[tree][case])

    lines = [TITLE, "", stamp(load), "",
             f"`benchmarks/bench_governor_build.py`: {args.rounds} rounds of {args.cycles} "
             "cycles per tree, one child interpreter per round, the trees in turn. A cycle is "
             "`lacuna.enable(config)` (the same configuration and state file each time, as a "
             "switch of user) plus the first governed `pd.read_csv` of the 60-row customers "
             "table; `plain` is the read alone, without Lacuna. Medians of the rounds, "
             "milliseconds per cycle.", "",
             "| tree | governed wall | governed CPU | plain read wall |",
             "| --- | ---: | ---: | ---: |"]
    names = {"old": args.old_name or args.old, "new": args.new_name or args.new}
    for tree in trees:
        lines.append(f"| {tree} ({names[tree]}) | {median(tree, 'governed', 0):.1f} | "
                     f"{median(tree, 'governed', 1):.1f} | {median(tree, 'plain', 0):.2f} |")
    ratio = median("new", "governed", 0) / median("old", "governed", 0)
    lines += ["", f"new/old (governed wall): {ratio:.2f}."]
    section = "\n".join(lines)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
