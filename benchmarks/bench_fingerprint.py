"""What binding a sidecar to a large file costs, next to reading the file.

    python benchmarks/bench_fingerprint.py [--sizes 17,64,256] [--repeat 3] [--write]

A sidecar is trusted only while the file's content fingerprint matches the one it signed
(``lacuna.lineage.sidecar.fingerprint``): sha256 of the whole file up to 16 MiB, BLAKE3 of the
whole file above (before 2026-12: 32 sampled blocks and the mtime, which an in-place edit
between the blocks with the mtime put back got past). For CSV files of each size (MiB) this
times, median of ``--repeat`` runs on a file the page cache holds: Lacuna's fingerprint,
what the alternatives would cost (``hashlib.sha256`` of the whole file, as ``sha256sum``;
the old sampled read), and plain ``pandas.read_csv`` of the same file, the operation the
fingerprint is paid on (a governed read of a file with a sidecar). Prints one markdown
section; ``--write`` also replaces it in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from docsection import median_seconds, stamp, write

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from lacuna.lineage.sidecar import fingerprint

MIB = 1 << 20


def csv_file(path: Path, mib: int) -> None:
    """A customers-like CSV of about ``mib`` MiB (ids, e-mails, amounts, cities)."""
    rows = [b"%d,user%d@example.com,%d.%02d,%s\n" % (i, i, i % 5000, i % 100,
                                                    (b"Paris", b"Lisbon", b"Berlin")[i % 3])
            for i in range(20_000)]
    block = b"".join(rows)
    with path.open("wb") as fh:
        fh.write(b"id,email,amount,city\n")
        written, n = 0, 0
        while written < mib * MIB:
            fh.write(block.replace(b"user", b"u%03d_" % n))
            written += len(block) + 4 * len(rows)
            n += 1


def sampled(path: Path) -> str:
    """The fingerprint sidecars of big files had before 2026-12 (for comparison only)."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        digest.update(fh.read(MIB))
        step = (size - 2 * MIB) // 32
        for i in range(32):
            fh.seek(MIB + i * step)
            digest.update(fh.read(64 * 1024))
        fh.seek(size - MIB)
        digest.update(fh.read(MIB))
    return digest.hexdigest()


def sha256_whole(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    return median_seconds(fn, repeat) * 1000


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="17,64,256", help="file sizes in MiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="replace the section in docs")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mib in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"customers-{mib}.csv"
            csv_file(path, mib)
            size = path.stat().st_size / MIB
            mode = fingerprint(path)["mode"]
            rows.append((size, mode,
                         median_ms(lambda p=path: fingerprint(p), args.repeat),
                         median_ms(lambda p=path: sha256_whole(p), args.repeat),
                         median_ms(lambda p=path: sampled(p), args.repeat),
                         median_ms(lambda p=path: pd.read_csv(p), args.repeat)))
            path.unlink()
    lines = [
        "## Sidecar fingerprints of large files",
        "",
        "`python benchmarks/bench_fingerprint.py`: a sidecar binds the whole file (sha256 up "
        "to 16 MiB, BLAKE3 above; before 2026-12 big files bound 32 sampled blocks and the "
        "mtime, which missed an in-place edit between the blocks). Median of "
        f"{args.repeat} runs on a CSV the page cache holds; `pandas.read_csv` of the same file "
        "is the read the fingerprint is paid on.",
        "",
        stamp(load, clock="wall"),
        "",
        "| file | Lacuna's fingerprint (mode) | sha256 whole file | old sampled blocks | "
        "`pd.read_csv` | fingerprint / read |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size, mode, ours, sha, old, read in rows:
        lines.append(f"| {size:.1f} MiB | {ours:.0f} ms ({mode}) | {sha:.0f} ms | {old:.1f} ms | "
                     f"{read:.0f} ms | {ours / read:.0%} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main(sys.argv[1:])
