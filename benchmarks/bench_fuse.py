"""Benchmark the governed mount: large sequential reads through FUSE against the file system
under it, and the cost of a governed open.

Run: ``python benchmarks/bench_fuse.py [--quick] [--size-mib N]``. Prints a markdown section to
stdout. Needs /dev/fuse, fusermount3 and mfusepy (the ``mount`` extra); prints why when not.

Three reads of one file, alternating, median of the runs, 1 MiB ``read()`` calls:

- **native**: the backing file in SOURCE, its pages in the page cache (warm);
- **mount, first read**: through the mount just after the file's mtime changed, so the kernel's
  FUSE page cache is empty and every byte goes through the mount process (the backing file is
  still warm: this is the mount's own overhead, the worst case for a sequential read);
- **mount, re-read**: through the mount again; ``auto_cache`` keeps the pages while the file is
  unchanged, so this is what a program reading a file twice sees.

The open latency is ``open()``+``close()`` of a small CSV: through the mount each open is a
decided, audited read (classification cached by size and mtime), natively a plain open.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 1 << 20


def read_all(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(CHUNK):
            pass
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_close(path: Path, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        with open(path, "rb") as fh:
            fh.read(1)
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size-mib", type=int, default=None)
    args = parser.parse_args(argv)
    from lacuna.mount import fuse_missing

    missing = fuse_missing()
    if missing:
        print(f"## Governed mount (FUSE)\n\nNot run: {missing}.\n")
        return 0
    size = args.size_mib or (64 if args.quick else 512)
    runs = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, mnt = root / "data", root / "mnt"
        (source / "outbox").mkdir(parents=True)
        mnt.mkdir()
        big = source / "big.bin"
        with open(big, "wb") as fh:
            for _ in range(size):
                fh.write(os.urandom(CHUNK))
        small = source / "customers.csv"
        small.write_text("customer_id,email\n" + "".join(
            f"C{i:04d},user{i}@example.com\n" for i in range(200)))
        config = root / "lacuna.yaml"
        config.write_text(f"user: {{id: bench}}\naudit: {{url: 'sqlite:///{root / 'state.db'}'}}\n")
        env = {**os.environ, "LACUNA_HOME": str(root / "home"), "RUST_BACKTRACE": "0"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "lacuna", "mount", str(source), str(mnt), "--foreground",
             "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env)
        try:
            deadline = time.monotonic() + 60
            while not os.path.ismount(mnt):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"mount did not come up: {proc.stderr.read()!r}")
                time.sleep(0.05)
            read_all(big)  # native pages warm
            read_all(mnt / "big.bin")  # the first governed open: engine, audit trail warm
            native, first, again, cpu = [], [], [], []
            for _ in range(runs):
                native.append(read_all(big))
                os.utime(big)  # a changed mtime: auto_cache drops the mount's pages at open
                time.sleep(1.1)  # past attr_timeout, so the kernel sees the new mtime
                before = cpu_seconds(proc.pid)
                first.append(read_all(mnt / "big.bin"))
                cpu.append(cpu_seconds(proc.pid) - before)
                again.append(read_all(mnt / "big.bin"))
            opens = 20 if args.quick else 100
            open_close(mnt / "customers.csv", 3)
            native_open = open_close(small, opens)
            mount_open = open_close(mnt / "customers.csv", opens)
        finally:
            subprocess.run(["fusermount3", "-u", str(mnt)], check=False, capture_output=True)
            proc.wait(timeout=30)

    def mibs(times: list[float]) -> float:
        return size / statistics.median(times)

    base = statistics.median(native)
    load = os.getloadavg()[0]
    print("## Governed mount (FUSE)\n")
    print(f"`benchmarks/bench_fuse.py`: a {size} MiB file read sequentially in 1 MiB `read()` "
          f"calls, median of {runs} alternating runs; libfuse 3 through mfusepy, options "
          "`auto_cache`, `attr_timeout=1`, `direct_io` off. Load average at the end: "
          f"{load:.1f} on {os.cpu_count()} cores.\n")
    print("| read | MiB/s | time vs native |")
    print("|---|---:|---:|")
    for label, times in (("native (backing file, page cache warm)", native),
                         ("mount, first read (FUSE cache empty)", first),
                         ("mount, re-read (kernel cache kept)", again)):
        print(f"| {label} | {mibs(times):,.0f} | {statistics.median(times) / base:.2f}× |")
    print()
    print(f"CPU time of the mount process per first read: {statistics.median(cpu):.2f} s for "
          f"{size} MiB ({statistics.median(cpu) / size * 1024:.2f} s per GiB; native read "
          f"time {base / size * 1024:.2f} s per GiB). On a loaded machine the first read waits "
          "for the mount process to be scheduled for every request; its CPU time does not.\n")
    print(f"Open + close of a small CSV ({opens} times): native "
          f"{statistics.median(native_open) * 1e6:,.0f} µs, through the mount "
          f"{statistics.median(mount_open) * 1e3:,.2f} ms median "
          f"(p95 {sorted(mount_open)[int(0.95 * len(mount_open)) - 1] * 1e3:,.2f} ms): each is "
          "a decided, audited read.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
