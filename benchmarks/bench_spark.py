"""Governed Spark on local[2]: write overhead, full-scan classification, anonymisation, and the
same work in pandas on one core.

    python benchmarks/bench_spark.py                     # 1,000,000 rows: a few minutes
    python benchmarks/bench_spark.py --rows 10000000     # the issue's 10M rows
    python benchmarks/bench_spark.py --quick             # 200,000 rows, 3 write pairs (smoke)

The data: N rows of customer_id, email (100,000 distinct addresses), region (4 values) and
revenue, generated inside Spark (``spark.range`` and column expressions, never in pandas) and
stored once as Parquet, in 8 files.

- **write overhead**: read the Parquet and write it to a governed folder, plain (Lacuna not
  enabled on the session) and governed (decided before the job, labelled, audited, lineage
  recorded), alternating plain/governed ``--pairs`` times after one warm-up of each; the ratio
  is median(governed) / median(plain) (goal ≤ 1.05×).
- **full-scan classification**: ``lacuna.spark.classify(df, full_scan=True)``: every value
  through the value recognizers (``mapInPandas`` on the executors); rows/s and rows/s per
  core (2 cores).
- **anonymisation**: ``lacuna.spark.anonymize(df, ["email"], "hash")`` (keyed HMAC-SHA256, a
  pandas UDF), forced with Spark's ``noop`` sink; rows/s.
- **pandas, one core**: the same work on min(N, ``--pandas-rows``) rows read from the same
  Parquet: ``lacuna.classify.fullscan.full_scan`` (the code the Spark scan runs per batch),
  ``lacuna.anonymize`` and ``to_parquet``; rows/s.

Wall time and CPU time are both reported: CPU is this process and every process under it (the
JVM, Spark's Python workers), from /proc, so it counts the executors' work too. The machine
is shared: the load average at the start and end is printed with the numbers.

Prints one markdown section and writes it into ``docs/benchmarks.md`` (the "Governed Spark"
section) unless ``--no-doc``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SECTION = "## Governed Spark"
CLK = os.sysconf("SC_CLK_TCK")


def tree_cpu() -> float:
    """CPU seconds of this process and all its descendants (alive ones, plus what their
    waited-for children used), from /proc."""
    procs: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
        cpu = sum(int(v) for v in fields[11:15]) / CLK
        procs[int(entry)] = (int(fields[1]), cpu)
    mine = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return sum(procs[p][1] for p in mine if p in procs)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall s, CPU s of the process tree) of one call."""
    cpu, start = tree_cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - start, tree_cpu() - cpu


def pandas_timed(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def session(root: Path):  # type: ignore[no-untyped-def]
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]").appName("lacuna-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def loadavg() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "∞"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="rows (default 1,000,000)")
    parser.add_argument("--pairs", type=int, default=5, help="plain/governed write pairs")
    parser.add_argument("--pandas-rows", type=int, default=2_000_000,
                        help="rows for the pandas comparison (at most --rows)")
    parser.add_argument("--quick", action="store_true", help="200,000 rows, 3 pairs")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    pairs = 3 if args.quick else args.pairs
    root = Path(tempfile.mkdtemp(prefix="lacuna-bench-spark-"))
    os.environ.setdefault("LACUNA_HOME", str(root / "home"))
    import warnings

    warnings.filterwarnings("ignore")
    from pyspark.sql import functions as F

    import lacuna
    import lacuna.spark

    governed_dir = root / "governed" / "workspace"
    governed_dir.mkdir(parents=True)
    lacuna.configure(
        user={"id": "bench", "role": "data_analyst"},
        destinations={"governed": [f"{governed_dir}/"], "unmanaged": []},
        audit={"url": f"sqlite:///{root / 'audit.db'}"},
    )
    load_start = loadavg()
    started = datetime.now(UTC)
    spark = session(root)
    source = str(root / "source.parquet")
    (spark.range(rows, numPartitions=8)
     .select(F.concat(F.lit("C"), F.col("id").cast("string")).alias("customer_id"),
             F.concat(F.lit("user"), (F.col("id") % 100_000).cast("string"),
                      F.lit("@example.org")).alias("email"),
             F.element_at(F.array(*(F.lit(r) for r in ("AMER", "EMEA", "APAC", "LATAM"))),
                          (F.col("id") % 4 + 1).cast("int")).alias("region"),
             (F.rand(7) * 100).alias("revenue"))
     .write.parquet(source))
    print(f"generated {rows:,} rows", file=sys.stderr)

    out = str(governed_dir / "out.parquet")

    def write() -> None:
        spark.read.parquet(source).write.mode("overwrite").parquet(out)

    plain: list[tuple[float, float]] = []
    governed: list[tuple[float, float]] = []
    for i in range(pairs + 1):  # the first pair warms up both paths and is not counted
        for runs, on in ((plain, False), (governed, True)):
            if on:
                lacuna.spark.enable(spark)
            t = timed(write)
            if on:
                lacuna.spark.disable(spark)
            if i:
                runs.append(t)
        print(f"write pair {i}: plain {plain[-1][0] if i else 0:.2f} s, governed "
              f"{governed[-1][0] if i else 0:.2f} s", file=sys.stderr)
    plain_s = statistics.median(t[0] for t in plain)
    gov_s = statistics.median(t[0] for t in governed)
    plain_cpu = statistics.median(t[1] for t in plain)
    gov_cpu = statistics.median(t[1] for t in governed)

    df = spark.read.parquet(source)
    lacuna.spark.classify(df.limit(1000), full_scan=True)  # Python workers up, imports done
    found = {}

    def scan() -> None:
        found["c"] = lacuna.spark.classify(df, full_scan=True)

    scan_s, scan_cpu = timed(scan)
    print(f"full scan: {scan_s:.1f} s", file=sys.stderr)
    c = found["c"]

    key = "k" * 32
    anon = lacuna.spark.anonymize(df, ["email"], strategy="hash", key=key)
    anon_s, anon_cpu = timed(lambda: anon.write.format("noop").mode("overwrite").save())
    print(f"anonymize: {anon_s:.1f} s", file=sys.stderr)

    import pandas as pd

    from lacuna.classify.fullscan import full_scan

    n_pd = min(rows, args.pandas_rows)
    pdf = pd.read_parquet(source).head(n_pd)
    pd_found = {}
    pd_scan_s, pd_scan_cpu = pandas_timed(lambda: pd_found.setdefault("c", full_scan(pdf)))
    pd_anon_s, pd_anon_cpu = pandas_timed(
        lambda: lacuna.anonymize(pdf[["email"]], ["email"], strategy="hash", key=key))
    pd_write_s, pd_write_cpu = pandas_timed(lambda: pdf.to_parquet(root / "pandas.parquet"))
    spark.stop()
    shutil.rmtree(root, ignore_errors=True)
    load_end = loadavg()

    ratio = gov_s / plain_s
    agree = ({k: v.pii_type for k, v in c.columns.items()}
             == {k: v.pii_type for k, v in pd_found["c"].columns.items()})
    lines = [
        SECTION,
        "",
        f"`python benchmarks/bench_spark.py --rows {rows}` (local[2]; the script's docstring "
        "says what each line measures). "
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores; load average {load_start} at the start, {load_end} at the "
        "end (the cores are shared with other work: wall times are pessimistic, CPU times "
        "less so). CPU is summed over the driver, the JVM and Spark's Python workers.",
        "",
        f"| measure ({rows:,} rows in Spark, {n_pd:,} in pandas) | Spark local[2] | "
        "pandas, 1 core |",
        "|---|---|---|",
        f"| write Parquet, plain (median of {pairs}) | {plain_s:.2f} s wall, {plain_cpu:.1f} s "
        f"CPU ({rate(rows, plain_s)} rows/s) | {pd_write_s:.2f} s wall, {pd_write_cpu:.1f} s "
        f"CPU ({rate(n_pd, pd_write_s)} rows/s) |",
        f"| write Parquet, governed (median of {pairs}, alternating with plain) | {gov_s:.2f} s "
        f"wall, {gov_cpu:.1f} s CPU: **{ratio:.3f}×** plain (goal ≤ 1.05×) | — |",
        f"| full-scan classification | {scan_s:.1f} s wall, {scan_cpu:.1f} s CPU: "
        f"{rate(rows, scan_s)} rows/s, **{rate(rows, scan_s * 2)} rows/s/core** "
        f"({rate(rows, scan_cpu)} rows per CPU-second) | {pd_scan_s:.1f} s wall, "
        f"{pd_scan_cpu:.1f} s CPU: **{rate(n_pd, pd_scan_cpu)} rows/s** |",
        f"| anonymize `email` (hash) | {anon_s:.1f} s wall, {anon_cpu:.1f} s CPU: "
        f"{rate(rows, anon_s)} rows/s | {pd_anon_s:.1f} s wall, {pd_anon_cpu:.1f} s CPU: "
        f"{rate(n_pd, pd_anon_s)} rows/s |",
        "",
        f"Full scan found: tier {c.tier.value}; email → {c.columns['email'].pii_type}, "
        f"region → {c.columns['region'].classification.value}; the pandas full scan "
        f"{'agrees' if agree else 'DISAGREES'} column by column. Write pairs (plain, governed "
        "wall s): " + ", ".join(f"({p[0]:.2f}, {g[0]:.2f})" for p, g in zip(plain, governed,
                                                                        strict=True)) + ".",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_doc:
        update_doc(text)


def update_doc(section: str) -> None:
    """Replace the measured part of the "Governed Spark" section (up to its first paragraph
    that starts with "The governed write", kept as prose) or append the section."""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^The governed write|^## |\Z)",
                         re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: section + "\n\n", doc, count=1)
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(doc)


if __name__ == "__main__":
    main()
