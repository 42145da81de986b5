"""The SQL decision log's CPU per record, on its writer thread, in-process.

    python benchmarks/bench_decision_log.py [--records N] [--batch 100] [--rounds 4]
                                            [--compare OLD_SRC] [--write]

What the sink's background thread does for each batch (``DecisionLogSink._write``): build the
OPA-shaped records (``to_records``, or ``to_record`` each in a tree without it), then
``SqlDecisionLog.write`` them (the stored text, the hash chain and signatures, one SQLite
transaction, the signed checkpoint): the "write" column is the whole minus the records. The
"process" column is all threads' CPU over the batches (``time.process_time``), which adds
the WAL checkpoints the server runs on a thread of their own (``checkpoint_in_background``).

The events are ``N`` real decisions of the default bundle on the server benchmark's operation
(an export of a PROPRIETARY [PII, GDPR] frame to ~/Downloads: a denial), each its own
operation, with the explanation already read (as the server's answer reads it) so the log's
own work is measured, and the garbage collector settled as a server worker settles it
(``lacuna.server.collector``: else a full collection walking the benchmark's heap lands in
whichever batch triggers it). Times are the writer's ``time.thread_time``: no other thread's CPU is
counted, and a loaded machine (2 cores shared) moves them far less than wall time. After the
run the chain is verified (``verify_ledger``) and the rows counted, so a fast but wrong writer
fails.

``--compare OLD_SRC`` runs each round twice in fresh processes, alternating ``OLD_SRC`` (e.g.
``/work/main/src``) and this tree's ``src``, and prints both: the way to A/B a change on a
noisy machine. Prints one markdown section; ``--write`` also replaces it in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
TITLE = "## Decision log: CPU per record on the writer thread"
OPERATION_CLASSIFICATION = {
    "tier": "PROPRIETARY", "tags": ["PII", "GDPR"], "columns": {"email": {
        "classification": "pii", "pii_type": "email", "sensitivity": "high"}}}


def measure(records: int, batch: int) -> dict[str, float]:
    """One run in this process: CPU per record (µs) of ``to_record`` and of whole batches."""
    from sqlalchemy import func, select

    from lacuna.audit import ledger
    from lacuna.config import Config
    from lacuna.destinations import classify_destination
    from lacuna.model import Action, Classification, Operation, User
    from lacuna.policy import PolicyEngine, decision_log
    from lacuna.policy.decision_log import DecisionEvent, DecisionLogSink, to_record
    from lacuna.policy.log_sinks import SqlDecisionLog, heads, table
    from lacuna.server.collector import settle
    from lacuna.signing import default_keyring

    class Capture(DecisionLogSink):
        """Keeps the engine's events (no thread): the benchmark writes them itself."""

        def __init__(self) -> None:
            super().__init__()
            self.events: list[DecisionEvent] = []

        def log(self, event: DecisionEvent) -> None:
            self.events.append(event)

        def write(self, records: Any) -> None:  # pragma: no cover - never called
            raise NotImplementedError

    tmp = Path(tempfile.mkdtemp(prefix="bench-dlog-"))
    os.environ["LACUNA_HOME"] = str(tmp / "home")
    capture = Capture()
    config = Config()
    engine = PolicyEngine.from_config(config, decision_log=capture)
    classification = Classification.from_dict(OPERATION_CLASSIFICATION)
    destination = classify_destination("/home/analyst/Downloads/customers.csv",
                                       config.destinations)
    for _ in range(records):
        decision = engine.decide(Operation(
            action=Action.EXPORT, user=User(id="bench", role="analyst"),
            classification=classification, destination=destination,
            method="pandas.DataFrame.to_csv", variable="customers"))
        decision.why  # noqa: B018 - the explanation, read as the server's answer reads it
    events = capture.events
    url = f"sqlite:///{tmp / 'state.db'}"
    sink = SqlDecisionLog(url, batch_size=batch)
    sink.checkpoint_in_background()  # as the server does (lacuna.audit.walcheck)
    sink.write([to_record(e) for e in events[:batch]])  # warm up: tables, statements, key
    settle()  # the collector as a server worker has it: the start-up heap frozen
    make = getattr(decision_log, "to_records", None)  # a batch at once, where the tree has it
    t = time.thread_time()
    for i in range(0, len(events), batch):
        if make is not None:
            make(events[i:i + batch], sink.labels)
        else:
            [to_record(e, sink.labels) for e in events[i:i + batch]]
    per_record = (time.thread_time() - t) / len(events) * 1e6
    t, p = time.thread_time(), time.process_time()
    for i in range(0, len(events), batch):
        sink._write(events[i:i + batch])  # what the writer thread does with a batch
    per_batch = (time.thread_time() - t) / len(events) * 1e6
    if sink._wal is not None:  # its last checkpoint counted too
        sink._wal.close()
    process = (time.process_time() - p) / len(events) * 1e6
    with sink._engine.connect() as conn:
        report = ledger.verify_ledger(conn, table, heads, default_keyring(),
                                      ledger.checkpoint_path(tmp / "state.db"))
        rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
    sink.close()
    shutil.rmtree(tmp, ignore_errors=True)
    if not report.ok or rows != len(events) + batch or sink.dropped:
        msg = f"the decision log is wrong after the run: {report}, {rows} rows"
        raise SystemExit(msg)
    return {"to_record_us": per_record, "write_us": per_batch - per_record,
            "total_us": per_batch, "process_us": process}


def run_child(src: str, records: int, batch: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": src, "LACUNA_EMBEDDINGS_BUILD": "never"}
    out = subprocess.run([sys.executable, __file__, "--child", "--records", str(records),
                          "--batch", str(batch)], env=env, check=True, capture_output=True,
                         text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def revision(src: str) -> str:
    """The branch and commit of the git tree holding ``src`` (``?`` outside git)."""
    parts = []
    for ask in (["--abbrev-ref", "HEAD"], ["--short", "HEAD"]):
        out = subprocess.run(["git", "-C", src, "rev-parse", *ask], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0:
            return "?"
        parts.append(out.stdout.strip())
    return " ".join(parts)


def summary(runs: list[dict[str, float]], key: str) -> str:
    values = sorted(r[key] for r in runs)
    return f"{statistics.median(values):.1f} ({values[0]:.1f}–{values[-1]:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--compare", metavar="OLD_SRC", help="alternate with this source tree")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.records, args.batch)))
        return
    load = os.getloadavg()
    trees = [(f"this tree ({revision(str(SRC))})", str(SRC))]
    if args.compare:
        trees.insert(0, (f"old: {args.compare} ({revision(args.compare)})", args.compare))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for _ in range(args.rounds):
        for name, src in trees:
            runs[name].append(run_child(src, args.records, args.batch))
    sys.path.insert(0, str(HERE))
    from docsection import stamp, write

    lines = [TITLE, "", stamp(load), "",
             f"`python benchmarks/bench_decision_log.py --records {args.records} --batch "
             f"{args.batch} --rounds {args.rounds}"
             + (f" --compare {args.compare}`" if args.compare else "`")
             + f": µs of the writer thread's CPU per record, median (min–max) of "
             f"{args.rounds} fresh processes" + (", old and new alternated." if args.compare
                                                 else "."), "",
             f"Each process: {args.records:,} distinct decisions of the default bundle (the "
             "server benchmark's denied export, explanation read), written in batches of "
             f"{args.batch} to a fresh SQLite file with the WAL checkpointed on its own thread "
             "and the collector settled, as in a server worker; the chain is verified after. "
             "\"records\" is building the OPA-shaped records, \"write\" the rest of a batch "
             "(stored text, hash chain and signatures, the transaction, the checkpoint file), "
             "\"process\" adds every other thread's CPU (the WAL checkpoints).", "",
             "| source | records (to_record) | write (text, chain, insert, commit) "
             "| writer total | process (+ WAL checkpoints) |", "|---|---:|---:|---:|---:|"]
    for name, _ in trees:
        lines.append(f"| {name} | {summary(runs[name], 'to_record_us')} | "
                     f"{summary(runs[name], 'write_us')} | {summary(runs[name], 'total_us')} | "
                     f"{summary(runs[name], 'process_us')} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
