"""A/B of the embedded decision path: two source trees, block by block, under the same load.

    python benchmarks/bench_policy_ab.py --old /path/to/main/src [--new src] [--rounds 30]

One child interpreter per tree (``PYTHONPATH`` set to that tree's ``src``) stays up for the whole
run; the driver asks them in turn for a block of ``--block`` decisions of one case (the order
of the two trees flipped every block), so on a shared machine both see the same load within
a fraction of a second, on the same CPU (``--cpu``). The cases are the default bundle's, with
the decision cache off (``cache_size=0``, ``log=False``): a PROPRIETARY [PII, GDPR] frame
exported to ``~/Downloads`` (denied), the same frame to governed storage (allowed), and a read
(allowed). Reported per
case and tree: the median and the best of the blocks' p50 wall times, the CPU time
(``time.process_time``) per decision over all blocks, and the ratios new/old, with the load
average before and after. Only the public API is used, so any two revisions compare.

It prints; it writes nothing (docs/benchmarks.md keeps hand-written notes of what it showed).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = ("export denied (~/Downloads)", "export allowed (governed storage)",
         "read allowed (baseline)")


def child() -> None:
    """Serve blocks: read ``case n`` lines, decide ``case`` n times, answer ``[p50, cpu]``
    (microseconds) as a JSON line."""
    from lacuna.config import Config
    from lacuna.destinations import classify_destination
    from lacuna.model import (
        Action,
        Classification,
        ColumnClass,
        ColumnKind,
        Operation,
        Sensitivity,
        Source,
        Tier,
        User,
    )
    from lacuna.policy import PolicyEngine

    config = Config()
    pii = {name: ColumnClass(classification=ColumnKind.PII, pii_type=name,
                             sensitivity=Sensitivity.HIGH)
           for name in ("email", "phone", "address")}
    c = Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR"),
                       columns={**pii, "region": ColumnClass()})

    def operation(action: Action, target: str | None) -> Operation:
        return Operation(
            action=action, user=User(id="analyst_alice", role="data_analyst"),
            classification=c, sources=(Source(name="customers.csv", classification=c),),
            destination=classify_destination(target, config.destinations) if target else None,
            method="pandas.DataFrame.to_csv", variable="df", code_location="analysis.py:12")

    engine = PolicyEngine.from_config(config, cache_size=0)
    ops = (operation(Action.EXPORT, "~/Downloads/customers.csv"),
           operation(Action.EXPORT, "/governed/workspace/customers.csv"),
           operation(Action.READ, None))
    for op, expected in zip(ops, (False, True, True), strict=True):
        decision = engine.decide(op, log=False)
        if decision.allowed is not expected or decision.engine_error:
            raise SystemExit(f"unexpected decision for {op.action}: {decision.reasoning}")
        for _ in range(300):
            engine.decide(op, log=False)
    print("ready", flush=True)
    for line in sys.stdin:
        case, n = (int(x) for x in line.split())
        op = ops[case]
        samples = []
        gc.disable()
        cpu = time.process_time()
        for _ in range(n):
            t = time.perf_counter_ns()
            engine.decide(op, log=False)
            samples.append((time.perf_counter_ns() - t) / 1000.0)
        cpu = time.process_time() - cpu
        gc.enable()
        print(json.dumps([statistics.median(samples), cpu / n * 1e6]), flush=True)


def _start(src: str, cpu: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, __file__, "--child", "--cpu", str(cpu)],
                               text=True,
                               env={**os.environ, "PYTHONPATH": src}, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise SystemExit(f"the child for {src} did not start (see its error above)")
    return process


def _block(process: subprocess.Popen[str], case: int, n: int) -> list[float]:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(f"{case} {n}\n")
    process.stdin.flush()
    answer: list[float] = json.loads(process.stdout.readline())
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="the baseline's src folder (required)")
    parser.add_argument("--new", default=str(Path(__file__).resolve().parent.parent / "src"),
                        help="the candidate's src folder (default: this checkout's)")
    parser.add_argument("--rounds", type=int, default=30, help="blocks per case and tree")
    parser.add_argument("--block", type=int, default=200, help="decisions per block")
    parser.add_argument("--cpu", type=int, default=0,
                        help="the CPU both children are pinned to, so neither gets the "
                             "quieter core (-1: not pinned)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.cpu})
        child()
        return
    if not args.old:
        parser.error("--old is required: the baseline's src folder, e.g. a main checkout's src")
    trees = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
    load_before = os.getloadavg()
    children = {name: _start(src, args.cpu) for name, src in trees.items()}
    blocks: dict[tuple[str, int], list[list[float]]] = {
        (name, case): [] for name in trees for case in range(len(CASES))}
    try:
        for r in range(args.rounds):
            for case in range(len(CASES)):
                for name in (list(trees) if (r + case) % 2 == 0 else list(trees)[::-1]):
                    blocks[name, case].append(_block(children[name], case, args.block))
    finally:
        for process in children.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait()
    load_after = os.getloadavg()
    print(f"old: {trees['old']}\nnew: {trees['new']}\n{args.rounds} rounds x {args.block} "
          f"decisions per case and tree, the trees alternating block by block; load average "
          f"(1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_before)} before, "
          f"{'/'.join(f'{x:.2f}' for x in load_after)} after\n")
    print("| default bundle, uncached | p50 old / new (us) | best block p50 old / new (us) | "
          "CPU old / new (us) | new/old p50 | new/old CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for case, label in enumerate(CASES):
        p50 = {k: statistics.median(b[0] for b in blocks[k, case]) for k in trees}
        best = {k: min(b[0] for b in blocks[k, case]) for k in trees}
        cpu = {k: statistics.fmean(b[1] for b in blocks[k, case]) for k in trees}
        print(f"| {label} | {p50['old']:.1f} / {p50['new']:.1f} | {best['old']:.1f} / "
              f"{best['new']:.1f} | {cpu['old']:.1f} / {cpu['new']:.1f} | "
              f"{p50['new'] / p50['old']:.3f} | {cpu['new'] / cpu['old']:.3f} |")


if __name__ == "__main__":
    main()
