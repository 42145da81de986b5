"""Run every benchmark and write docs/benchmarks.md with the machine and date.

    python benchmarks/run_all.py [--quick]

Each ``bench_*.py`` prints one markdown section to stdout; this script runs them one after the
other (never in parallel: they would measure each other) and assembles the page.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from docsection import cpu_model

HERE = Path(__file__).resolve().parent
# Scripts run more than once, each extra time with these arguments (their own sections).
EXTRA_RUNS = {"bench_accuracy.py": [["--heldout", "--full-model"]]}
DOC = HERE.parent / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = cpu_model()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import pandas as pd

    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, pandas {pd.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--only", nargs="*", help="bench names, e.g. classify policy")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    sections = []
    runs = [(s, []) for s in scripts]
    runs += [(s, extra) for s in scripts for extra in EXTRA_RUNS.get(s.name, [])]
    runs.sort(key=lambda run: run[0].name)
    for script, extra in runs:
        started = time.perf_counter()
        cmd = [sys.executable, str(script), *extra, *(["--quick"] if args.quick else [])]
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            print(f"{script.name} failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        sections.append(proc.stdout.strip())
        print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    header = [
        "# Benchmarks",
        "",
        "Measured by `python benchmarks/run_all.py`"
        + (" --quick" if args.quick else "")
        + "; re-run it to refresh this page.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        "",
    ]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(header) + "\n" + "\n\n".join(sections) + "\n")
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
