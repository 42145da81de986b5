"""A new governor: ``lacuna.enable(config)`` and its first governed read, A/B over two trees.

    python benchmarks/bench_governor_build.py --old /path/to/other/src [--new src] [--cycles 40]
                                              [--old-name TEXT] [--new-name TEXT] [--reads]
                                              [--write]

What a notebook pays when it switches user or reloads its configuration, a CLI command at
start, a test per case: the policy engine is compiled and analysed, the state stores are opened
(their schema checked) and the configuration recorded, then one ``pd.read_csv`` of the bundled
60-row customers table is decided and audited. One child interpreter per tree (``PYTHONPATH``
set to that tree's ``src``), the same configuration and state file every cycle (as a switch
of user does), after one warm-up cycle, and again in a new folder each cycle (``new place``: a
state file and a configuration of its own, as a command run in another project or each test
pays); the trees run in turn, a round each, so both see the same load. Compared in the same
run with the plain ``pd.read_csv`` the user does anyway. Reports the median of the rounds'
per-cycle wall and CPU milliseconds; ``--write`` replaces this script's section of
docs/benchmarks.md.

``--reads`` adds two cases on one governor already built (the fixed cost of each later read):
``read again``, the same file read again (its classification is cached by file), and ``new
file``, a fresh copy of the same table each time (classified each time, as every test's own
file is).
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
from typing import Any

TITLE = "## A new governor: enable() and its first read"


def child(folder: str, cycles: int, rounds: int, reads: bool = False) -> None:
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

    copies = iter(range(1_000_000))
    data = Path("customers.csv").read_bytes()

    def fresh() -> str:
        name = f"copy-{next(copies)}.csv"
        Path(name).write_bytes(data)
        return name

    def read_again() -> None:
        pd.read_csv("customers.csv")

    def read_new(name: str) -> None:
        pd.read_csv(name)  # looked up now: enable() replaces pd.read_csv

    def new_place() -> None:  # a new project folder: its own state file and configuration
        where = Path(tempfile.mkdtemp(prefix="place-", dir=folder))
        (where / "customers.csv").write_bytes(data)
        lacuna.enable(config_from_dict({
            "user": {"id": "analyst_alice", "role": "data_analyst"},
            "audit": {"url": f"sqlite:///{where}/audit.db"},
            "destinations": {"governed": [f"{where}/governed/"]}}))
        pd.read_csv(where / "customers.csv")

    governed()  # warm-up: imports, the classifier's tables, the state file's migrations
    lacuna.disable()
    plain()
    cases: list[tuple[str, Any]] = [("governed", governed), ("new place", new_place),
                                    ("plain", plain)]
    if reads:
        cases += [("read again", read_again), ("new file", read_new)]
    out: dict[str, list[list[float]]] = {case: [] for case, _ in cases}
    for _ in range(rounds):
        for case, fn in cases:
            args: list[tuple[str, ...]] = [()] * cycles
            if case in ("read again", "new file"):
                lacuna.enable(config)
                read_again()
                if case == "new file":
                    args = [(fresh(),) for _ in range(cycles)]
            w0, c0 = time.perf_counter(), time.process_time()
            for a in args:
                fn(*a)
            out[case].append([(time.perf_counter() - w0) / cycles * 1e3,
                              (time.process_time() - c0) / cycles * 1e3])
            lacuna.disable()
    print(json.dumps(out))


def run(src: str, folder: str, cycles: int, reads: bool) -> dict[str, list[list[float]]]:
    extra = ["--reads"] if reads else []
    done = subprocess.run([sys.executable, __file__, "--child", folder, "--cycles", str(cycles),
                           *extra],
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
    parser.add_argument("--reads", action="store_true",
                        help="also time later reads on one governor (read again, new file)")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cycles, 1, args.reads)
        return
    if not args.old:
        parser.error("--old is required: the src folder of the tree to compare with")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from docsection import stamp, write

    load = os.getloadavg()
    trees = {"old": args.old, "new": args.new}
    rows: dict[str, dict[str, list[list[float]]]] = {t: {} for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for tree in trees:
            folders[tree] = os.path.join(tmp, tree)
            os.makedirs(folders[tree])
            data = resources.files("lacuna") / "data" / "customers.csv"
            Path(folders[tree], "customers.csv").write_bytes(data.read_bytes())
        for i in range(args.rounds):
            for tree in (trees if i % 2 == 0 else list(trees)[::-1]):
                got = run(trees[tree], folders[tree], args.cycles, args.reads)
                for case in got:
                    rows[tree].setdefault(case, []).extend(got[case])

    def median(tree: str, case: str, at: int) -> float:
        return statistics.median(r[at] for r in rows[tree][case])

    lines = [TITLE, "", stamp(load), "",
             f"`benchmarks/bench_governor_build.py`: {args.rounds} rounds of {args.cycles} "
             "cycles per tree, one child interpreter per round, the trees in turn. A cycle is "
             "`lacuna.enable(config)` (the same configuration and state file each time, as a "
             "switch of user) plus the first governed `pd.read_csv` of the 60-row customers "
             "table; `new place` is the same in a new folder each cycle, with a state file "
             "and a configuration of its own (a command run in another project, each test); "
             "`plain` is the read alone, without Lacuna. Medians of the rounds, milliseconds "
             "per cycle.", "",
             "| tree | governed wall | governed CPU | new place wall | new place CPU "
             "| plain read wall |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    names = {"old": args.old_name or args.old, "new": args.new_name or args.new}
    for tree in trees:
        lines.append(f"| {tree} ({names[tree]}) | {median(tree, 'governed', 0):.1f} | "
                     f"{median(tree, 'governed', 1):.1f} | {median(tree, 'new place', 0):.1f} | "
                     f"{median(tree, 'new place', 1):.1f} | {median(tree, 'plain', 0):.2f} |")
    ratios = {case: median("new", case, 0) / median("old", case, 0)
              for case in ("governed", "new place")}
    lines += ["", f"new/old (wall): governed {ratios['governed']:.2f}, "
                  f"new place {ratios['new place']:.2f}."]
    if args.reads:
        lines += ["", "Later reads on one governor (`--reads`): `read again` is the same file "
                  "read again (its classification cached by file), `new file` a fresh copy of "
                  "the table each read (classified each time). Milliseconds per read.", "",
                  "| tree | read again wall | read again CPU | new file wall | new file CPU |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for tree in trees:
            lines.append(f"| {tree} ({names[tree]}) | {median(tree, 'read again', 0):.1f} | "
                         f"{median(tree, 'read again', 1):.1f} | "
                         f"{median(tree, 'new file', 0):.1f} | "
                         f"{median(tree, 'new file', 1):.1f} |")
    section = "\n".join(lines)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
