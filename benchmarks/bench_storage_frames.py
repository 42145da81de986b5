"""Governed storage through polars, pyarrow and DuckDB: what sealing costs each library.

Run: ``python benchmarks/bench_storage_frames.py [--rows N] [--runs N] [--write]``. Prints a
markdown section to stdout; ``--write`` also replaces its section in docs/benchmarks.md.

For each library, a Parquet write and read of the same frame (default 300,000 rows: id, e-mail,
region, spend, orders), in three modes: **plain** (the library alone, no Lacuna: what a user
would run instead), **governed** (Lacuna enabled, governed root, ``storage.encrypt: false``)
and **sealed** (the default: the file is encrypted at rest; the read is decided and audited
before decrypting). Median wall time of ``--runs`` runs, with the process CPU time of the same
runs beside it (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from bench_storage import frame, workspace
from docsection import cpu_model

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"
TITLE = "## Governed storage: polars, pyarrow and DuckDB"


def _median(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of ``runs`` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def libraries(df: pd.DataFrame) -> dict[str, tuple[Callable[[Path], Any], Callable[[Path], Any]]]:
    import duckdb
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lacuna import _bypass

    with _bypass.bypass():
        pl_df = pl.from_pandas(df)
        table = pa.Table.from_pandas(df, preserve_index=False)
    con = duckdb.connect()
    con.register("frame", table)
    return {
        "polars write_parquet / read_parquet": (
            lambda p: pl_df.write_parquet(p), lambda p: pl.read_parquet(p)),
        "polars sink_parquet / scan_parquet().collect()": (
            lambda p: pl_df.lazy().sink_parquet(p), lambda p: pl.scan_parquet(p).collect()),
        "pyarrow parquet.write_table / read_table": (
            lambda p: pq.write_table(table, p), lambda p: pq.read_table(p)),
        "DuckDB write_parquet / read_parquet().arrow()": (
            lambda p: con.sql("SELECT * FROM frame").write_parquet(str(p)),
            lambda p: con.read_parquet(str(p)).to_arrow_table()),
    }


def measure(folder: Path, rows: int, runs: int) -> list[str]:
    import lacuna

    df = frame(rows)
    plain_dir, governed, config = workspace(folder)

    out = []
    for name, (write, read) in libraries(df).items():
        times: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        for i, (label, encrypt) in enumerate((("plain", None), ("governed", False),
                                              ("sealed", True))):
            target = (plain_dir if encrypt is None else governed) / f"{len(out)}-{i}.parquet"
            if encrypt is not None:
                lacuna.enable(config(encrypt))
            try:
                w = _median(lambda t=target, f=write: f(t), runs)
                r = _median(lambda t=target, f=read: f(t), runs)
            finally:
                lacuna.disable()
            times[label] = (w, r)
        (pw, _), (pr, _) = times["plain"]
        for label in ("plain", "governed", "sealed"):
            (w, wc), (r, rc) = times[label]
            ratio = "" if label == "plain" else f"{w / pw:.2f}× / {r / pr:.2f}×"
            out.append(f"| {name} | {label} | {w * 1000:,.0f} ({wc * 1000:,.0f}) | "
                       f"{r * 1000:,.0f} ({rc * 1000:,.0f}) | {ratio} |")
    return out


def section(argv: list[str], rows: int, runs: int, table: list[str], load: str) -> str:
    cpu = cpu_model()
    lines = [
        TITLE, "",
        f"`python benchmarks/bench_storage_frames.py {' '.join(argv)}`".replace(" `", "`"),
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores; load average "
        f"{load} (1/5/15 min) when it ran. {rows:,} rows (id, e-mail, region, spend, orders), "
        f"Parquet, median of {runs} run(s): wall ms (process CPU ms). plain: the library alone, "
        "no Lacuna; governed: Lacuna enabled, governed root, `storage.encrypt: false`; sealed: "
        "the default (encrypted at rest, the read decided and audited before decrypting; "
        "path-based calls through a private scratch copy in /dev/shm). The ratio is wall time "
        "against plain.", "",
        "| library | mode | write ms (CPU) | read ms (CPU) | write / read vs plain |",
        "|---|---|---:|---:|---|",
        *table, "",
    ]
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if TITLE in doc:
        head, rest = doc.split(TITLE, 1)
        tail = rest.split("\n## ", 1)
        doc = head + text.rstrip() + "\n" + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        doc = doc.rstrip() + "\n\n" + text
    DOC.write_text(doc, encoding="utf-8")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="50,000 rows, one run")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 300,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per number (default 3)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    rows = args.rows or (50_000 if args.quick else 300_000)
    os.environ.setdefault("LACUNA_EMBEDDINGS_BUILD", "never")  # classification: layer 1
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        os.environ["LACUNA_HOME"] = str(Path(tmp) / "home")
        table = measure(Path(tmp), rows, runs)
        from lacuna.governor import reset

        reset()  # close the audit trail before its folder goes
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    text = section([a for a in argv if a != "--write"], rows, runs, table, load)
    print(text)
    if args.write:
        write_doc(text)


if __name__ == "__main__":
    main(sys.argv[1:])
