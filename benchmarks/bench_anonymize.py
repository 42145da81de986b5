"""Benchmark ``lacuna.anonymize``: 1M rows per strategy, beside Presidio's anonymizer.

Run: ``python benchmarks/bench_anonymize.py [--quick]``. Prints a markdown section to stdout.

Every strategy treats one column of a 1,000,000-row frame (100,000 distinct customers, each seen
about 10 times, as in a fact table). Strategies work once per distinct value (``factorize``), so
distinct values, not rows, drive the cost of the per-value ones (``fpe``, ``tokenize``); ``fpe``
runs FF3-1 in numpy batches and is compared with the ``ff3`` package (one value at a time, the
same function) in the same run; ``noise`` on 10,000 aggregates (it is for aggregates; OpenDP's
exact sampler is ~0.1 ms a value).
Presidio's ``AnonymizerEngine`` works on one text at a time: it is timed on a slice and the
per-row rate is shown (``presidio-anonymizer``, the ``bench`` extra). CPU time beside wall time:
the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lacuna.anonymize import anonymize
from lacuna.config import config_from_dict
from lacuna.lineage.state import DataState, LineageNode, set_state
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier


def frame(rows: int, distinct: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, distinct, rows)
    area = 100 + ids % 500
    df = pd.DataFrame({
        "email": pd.Series([f"user{i}@example{i % 97}.com" for i in range(distinct)])[ids].values,
        "ssn": [f"{a:03d}-{10 + i % 89:02d}-{1000 + i % 8999:04d}" for a, i in zip(area, ids,
                                                                                  strict=True)],
        "dob": pd.Series(pd.date_range("1940-01-01", periods=distinct, freq="D")
                         .strftime("%Y-%m-%d"))[ids % distinct].values,
        "zip": [f"{10000 + i % 89999:05d}" for i in ids],
        "ip": [f"10.{i % 256}.{(i // 256) % 256}.{i % 200}" for i in ids],
        "total": rng.normal(1000, 100, rows),
    })
    pii = {"email": "email", "ssn": "ssn", "dob": "dob", "zip": "postal_code", "ip": "ip_address"}
    columns = {c: ColumnClass(classification=ColumnKind.PII, pii_type=t,
                              sensitivity=Sensitivity.HIGH) for c, t in pii.items()}
    columns["total"] = ColumnClass(classification=ColumnKind.FINANCIAL)
    set_state(df, DataState(classification=Classification(tier=Tier.PROPRIETARY, tags=("PII",),
                                                          columns=columns),
                            lineage=LineageNode(name="customers.csv", operation="read_csv")))
    return df


def timed(run: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def presidio_rate(values: list[str], operator: str, params: dict[str, Any]) -> float | None:
    try:
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult
    except ImportError:
        return None
    engine = AnonymizerEngine()
    ops = {"EMAIL_ADDRESS": OperatorConfig(operator, params)}
    started = time.perf_counter()
    for v in values:
        engine.anonymize(text=v, analyzer_results=[
            RecognizerResult("EMAIL_ADDRESS", 0, len(v), 1.0)], operators=ops)
    return len(values) / (time.perf_counter() - started)


def ff3_values_per_second(digits: list[str]) -> float:
    from ff3 import FF3Cipher

    cipher = FF3Cipher(bytes(32).hex(), "00112233445566", radix=10)
    started = time.process_time()
    for value in digits:
        cipher.encrypt(value)
    return len(digits) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    distinct = rows // 10
    home = tempfile.mkdtemp(prefix="lacuna-bench-")
    os.environ["LACUNA_HOME"] = home
    config = config_from_dict({"audit": {"url": f"sqlite:///{home}/state.db"}})
    df = frame(rows, distinct)
    noise_df = frame(10_000, 10_000)
    cases: list[tuple[str, str, pd.DataFrame, str, str]] = [
        ("hash", "email", df, "hash", ""),
        ("mask", "email", df, "mask", ""),
        ("redact", "email", df, "redact", ""),
        ("tokenize", "email", df, "tokenize", f"first run: creates {distinct:,} vault rows"),
        ("tokenize", "email", df, "tokenize", "second run: every token already in the vault"),
        ("fpe", "ssn", df, "fpe", f"{distinct:,} distinct SSNs"),
        ("generalize", "dob", df, "generalize", "date of birth → age band"),
        ("generalize", "zip", df, "generalize", "ZIP → 3-digit prefix"),
        ("generalize", "ip", df, "generalize", "IPv4 → /24"),
        ("noise", "total", noise_df, "noise", "10,000 aggregates, epsilon 1"),
    ]
    anonymize(frame(1000, 100), ["email", "ssn", "total"], strategy={"email": "tokenize",
              "ssn": "fpe", "total": "noise"}, config=config)  # warm up: imports, keys, vault
    lines = [
        "## Anonymization",
        "",
        f"`lacuna.anonymize(df, [column], strategy=...)` on {rows:,} rows ({distinct:,} distinct "
        "values unless noted), one column at a time; wall and CPU seconds, one run each.",
        "",
        "| strategy | column | rows | wall s | CPU s | rows/s | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, col, data, strategy, note in cases:
        wall, cpu = timed(lambda d=data, c=col, s=strategy: anonymize(d, [c], strategy=s,
                                                                       config=config))
        lines.append(f"| {name} | {col} | {len(data):,} | {wall:.2f} | {cpu:.2f} | "
                     f"{len(data) / wall:,.0f} | {note} |")
    ssns = df["ssn"].drop_duplicates().iloc[:5_000].str.replace("-", "").tolist()
    ff3_rate = ff3_values_per_second(ssns)
    lines += ["", f"The `ff3` package, one SSN at a time (what `fpe` used before): "
              f"{ff3_rate:,.0f} distinct values/s ({len(ssns):,} SSNs; CPU-bound, so wall ≈ CPU "
              f"on a quiet machine). Lacuna's batch FF3-1 computes the same values (tested)."]
    sample = df["email"].iloc[: (2_000 if args.quick else 20_000)].tolist()
    rates = {
        "hash": presidio_rate(sample, "hash", {"hash_type": "sha256"}),
        "mask": presidio_rate(sample, "mask", {"masking_char": "*", "chars_to_mask": 100,
                                               "from_end": False}),
        "redact": presidio_rate(sample, "replace", {"new_value": "[REDACTED]"}),
    }
    if all(r is None for r in rates.values()):
        lines += ["", "Presidio's anonymizer is not installed (`pip install lacuna[bench]`)."]
    else:
        lines += [
            "",
            f"Presidio's `AnonymizerEngine` on the same e-mail column (one call per value, "
            f"timed on {len(sample):,} rows; the time for {rows:,} rows is extrapolated):",
            "",
            "| operator | rows/s | est. s for all rows | lacuna rows/s |",
            "|---|---:|---:|---:|",
        ]
        ours = {line.split("|")[1].strip(): line.split("|")[6].strip() for line in lines
                if line.startswith("| ") and line.split("|")[2].strip() == "email"}
        for op, rate in rates.items():
            if rate is not None:
                lines.append(f"| {op} | {rate:,.0f} | {rows / rate:.1f} | {ours.get(op, '')} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
