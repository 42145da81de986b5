"""SQL column lineage speed: parse + qualify + trace + classify a 50-column, 5-join query; and
the cost of governed statement execution (lacuna.sql) against plain SQLAlchemy.

    python benchmarks/bench_sql.py [--quick] [--governed-only]

Six tables of ten columns each (two personal per table); the query joins them (5 joins) and
projects 50 columns: identities, keyed hashes, generalisations and transformations, through one
CTE. Reports p50/p99 in milliseconds per dialect over N runs after a warm-up. Prints one markdown
section.
"""

from __future__ import annotations

import argparse
import statistics
import time

from lacuna.lineage.sql import DIALECTS, classify_sql

TABLES = [f"t{i}" for i in range(6)]


def build() -> tuple[str, dict[str, dict[str, str]]]:
    schema = {
        t: {f"c{j}": ("pii" if j < 2 else "financial" if j == 2 else "public") for j in range(10)}
        for t in TABLES
    }
    shapes = ["{c}", "sha256({c} || :key)", "left({c}, 3)", "upper({c})", "coalesce({c}, 'x')"]
    cols = []
    for n in range(50):
        table, column = TABLES[n % 6], f"c{n % 10}"
        cols.append(shapes[n % 5].format(c=f"{table}.{column}") + f" AS out{n}")
    joins = " ".join(f"JOIN {t} ON {t}.c9 = t0.c9" for t in TABLES[1:])
    sql = (
        "INSERT INTO target WITH base AS (SELECT * FROM t0) SELECT "
        + ", ".join(cols)
        + f" FROM base AS t0 {joins}"
    )
    return sql, schema


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--governed-only", action="store_true")
    args = parser.parse_args()
    runs = 20 if args.quick else 200
    sql, schema = build()
    print("## SQL column lineage (50 columns, 5 joins, one CTE)\n")
    print("| dialect | p50 ms | p99 ms | edges | output tier |")
    print("|---|---|---|---|---|")
    for dialect in DIALECTS:
        out = classify_sql(sql, schema=schema, dialect=dialect)  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            classify_sql(sql, schema=schema, dialect=dialect)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"| {dialect} | {statistics.median(times):.1f} | {p99:.1f} | {len(out.edges)} "
            f"| {out.classification.tier.value} |"
        )


STATEMENTS = {
    "point read": "SELECT order_id, revenue FROM sales WHERE order_id = 'O00042'",
    "aggregate read": "SELECT product_category, SUM(revenue) AS revenue FROM sales "
                      "GROUP BY product_category HAVING COUNT(*) >= 5",
    "join read (PII)": "SELECT c.email, s.revenue FROM customers c "
                       "JOIN sales s ON c.customer_id = s.customer_id",
    "INSERT … SELECT": "INSERT INTO copy_sales SELECT product_category, revenue FROM sales "
                       "WHERE order_id = 'O00042'",
}


def governed_overhead(runs: int) -> None:
    """Median wall time per statement, plain vs governed (SQLite and DuckDB files), alternating
    plain and governed runs so that load on a shared machine hits both alike."""
    import importlib.resources
    import tempfile
    from pathlib import Path

    import pandas as pd
    import sqlalchemy as sa

    import lacuna
    import lacuna.sql
    from lacuna import _bypass

    folder = Path(tempfile.mkdtemp(prefix="lacuna-bench-sql-"))
    data = importlib.resources.files("lacuna") / "data"
    frames = {t: pd.read_csv(str(data / f"{t}.csv")) for t in ("customers", "sales")}
    lacuna.configure(audit={"url": f"sqlite:///{folder / 'audit.db'}"},
                     user={"id": "bench", "role": "data_analyst"})
    print("\n## Governed SQL statements (lacuna.sql) vs plain SQLAlchemy\n")
    print(f"Median of {runs} alternating runs per statement; every governed statement is parsed, "
          "its tables' classifications looked up (cached, keyed by columns and row count), "
          "decided and appended to the audit trail (SQLite).\n")
    print("| database | statement | plain ms | governed ms | overhead ms | ratio |")
    print("|---|---|---|---|---|---|")
    for kind in ("sqlite", "duckdb"):
        url = f"{kind}:///{folder / ('w.db' if kind == 'sqlite' else 'w.duckdb')}"
        plain, governed = sa.create_engine(url), sa.create_engine(url)
        with _bypass.bypass():
            for name, frame in frames.items():
                frame.to_sql(name, plain, index=False)
        with plain.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE copy_sales (product_category TEXT, revenue REAL)")
        lacuna.sql.govern(governed)
        for label, sql in STATEMENTS.items():
            times: dict[str, list[float]] = {"plain": [], "governed": []}
            for i in range(runs + 3):
                for which, engine in (("plain", plain), ("governed", governed)):
                    start = time.perf_counter()
                    with engine.begin() as conn:
                        result = conn.exec_driver_sql(sql)
                        if result.returns_rows:
                            result.fetchall()
                    if i >= 3:  # warm-up: first classification of each table, caches
                        times[which].append((time.perf_counter() - start) * 1000)
            p, g = statistics.median(times["plain"]), statistics.median(times["governed"])
            print(f"| {kind} | {label} | {p:.2f} | {g:.2f} | {g - p:.2f} | {g / p:.1f}× |")
        plain.dispose()
        governed.dispose()


if __name__ == "__main__":
    import sys

    if "--governed-only" not in sys.argv:
        main()
    governed_overhead(20 if "--quick" in sys.argv else 100)
