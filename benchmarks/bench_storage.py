"""Governed storage: sealing throughput on one core, and governed vs plain pandas I/O.

Run: ``python benchmarks/bench_storage.py [--quick]``. Prints a markdown section to stdout.

1. The cipher alone: the format's inner loop (AES-256-GCM over 256 KiB segments, per-segment
   nonces, into reused buffers), in memory, one thread.
2. The file format end to end: :class:`SealedWriter` / :class:`SealedReader` over a file in a
   temporary folder (page cache; fsync on close), one thread.
3. pandas, 1M rows (CSV and Parquet): plain pandas on a plain folder; governed with
   ``storage.encrypt: false``; governed and sealed (the default). Median of 3 runs each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MiB = 1024 * 1024


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cipher(total: int, runs: int) -> tuple[float, float]:
    from lacuna.storage.sealed import SEGMENT_BYTES, TAG_BYTES, _nonce

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    plain = os.urandom(SEGMENT_BYTES)
    sealed = bytearray(SEGMENT_BYTES + TAG_BYTES)
    back = bytearray(SEGMENT_BYTES)
    aad, prefix, n = os.urandom(32), os.urandom(7), total // SEGMENT_BYTES

    def enc() -> None:
        for i in range(n):
            aead.encrypt_into(_nonce(prefix, i, False), plain, aad, sealed)

    def dec() -> None:
        for _ in range(n):
            aead.decrypt_into(_nonce(prefix, 0, False), sealed, aad, back)

    encrypt = total / _median(enc, runs) / MiB
    aead.encrypt_into(_nonce(prefix, 0, False), plain, aad, sealed)
    return encrypt, total / _median(dec, runs) / MiB


def files(folder: Path, total: int, runs: int) -> tuple[float, float]:
    from lacuna.keystore import FileKeyBackend, KeyStore
    from lacuna.storage.sealed import SealedReader, write_sealed

    keys = KeyStore(FileKeyBackend(folder / "keys"))
    data = os.urandom(total)
    path = folder / "blob.bin"
    seal = _median(lambda: write_sealed(path, data, keys, key_id="storage"), runs)

    def read() -> None:
        with SealedReader(path, keys) as fh:
            while fh.read(8 * MiB):
                pass

    return total / seal / MiB, total / _median(read, runs) / MiB


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    ids = np.arange(rows)
    return pd.DataFrame({
        "customer_id": ids,
        "email": [f"user{i}@example.com" for i in ids],
        "region": rng.choice(["north", "south", "east", "west"], rows),
        "spend": rng.random(rows).round(2) * 1000,
        "orders": rng.integers(0, 50, rows),
    })


def pandas_rows(folder: Path, rows: int, runs: int) -> list[str]:
    import lacuna
    from lacuna.config import config_from_dict

    df = frame(rows)
    plain_dir, governed = folder / "plain", folder / "governed"
    plain_dir.mkdir()
    governed.mkdir()

    def config(encrypt: bool) -> object:
        return config_from_dict({
            "user": {"id": "bench", "role": "data_analyst"},
            "destinations": {"governed": [f"{governed}/"]},
            "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
            "storage": {"encrypt": encrypt},
        })

    formats = {
        "CSV": ("csv", lambda d, p: d.to_csv(p, index=False), lambda p: pd.read_csv(p)),
        "Parquet": ("parquet", lambda d, p: d.to_parquet(p), lambda p: pd.read_parquet(p)),
    }
    out = []
    for name, (suffix, write, read) in formats.items():
        times: dict[str, tuple[float, float]] = {}
        for label, encrypt in (("plain", None), ("governed", False), ("sealed", True)):
            target = (plain_dir if encrypt is None else governed) / f"{label}.{suffix}"
            if encrypt is not None:
                lacuna.enable(config(encrypt))
            try:
                w = _median(lambda t=target, f=write: f(df, t), runs)
                r = _median(lambda t=target, f=read: f(t), runs)
            finally:
                lacuna.disable()
            times[label] = (w, r)
        size = (governed / f"sealed.{suffix}").stat().st_size / MiB
        pw, pr = times["plain"]
        for label in ("plain", "governed", "sealed"):
            w, r = times[label]
            note = "" if label == "plain" else f"{w / pw:.2f}× / {r / pr:.2f}×"
            out.append(f"| {name} ({size:.0f} MiB) | {label} | {w * 1000:,.0f} | "
                       f"{r * 1000:,.0f} | {note} |")
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one run")
    parser.add_argument("--runs", type=int, default=None, help="runs per number (default 3)")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    total = (64 if args.quick else 256) * MiB
    rows = 100_000 if args.quick else 1_000_000
    os.environ.setdefault("LACUNA_EMBEDDINGS_BUILD", "never")  # classification: layer 1
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        os.environ["LACUNA_HOME"] = str(Path(tmp) / "home")
        enc, dec = cipher(total, runs)
        fenc, fdec = files(Path(tmp), total, runs)
        table = pandas_rows(Path(tmp), rows, runs)
        from lacuna.governor import reset

        reset()  # close the audit trail before its folder goes
    load = os.getloadavg()[0]
    print("## Governed storage (encrypted at rest)\n")
    print(f"`benchmarks/bench_storage.py {' '.join(argv)}`: one thread, "
          f"median of {runs} run(s). Goal: at least 500 MB/s to encrypt and decrypt on one "
          f"core. Load average when it ran: {load:.1f} on {os.cpu_count()} cores.\n")
    print("| what | encrypt MiB/s | decrypt MiB/s |")
    print("|---|---:|---:|")
    print(f"| AES-256-GCM, 256 KiB segments, in memory ({total // MiB} MiB) | {enc:,.0f} | "
          f"{dec:,.0f} |")
    print(f"| sealed file: SealedWriter / SealedReader ({total // MiB} MiB, fsync on close) | "
          f"{fenc:,.0f} | {fdec:,.0f} |")
    print(f"\npandas, {rows:,} rows (customer_id, email, region, spend, orders). plain: pandas "
          "alone, plain folder; governed: Lacuna enabled, governed root, storage.encrypt "
          "false; sealed: the default (encrypted at rest, reads decided and audited before "
          "decrypting). The ratio is against plain.\n")
    print("| format | mode | write ms | read ms | write / read vs plain |")
    print("|---|---|---:|---:|---|")
    print("\n".join(table))
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
