"""SQL column lineage speed: parse + qualify + trace + classify a 50-column, 5-join query.

    python benchmarks/bench_sql.py [--quick]

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


if __name__ == "__main__":
    main()
