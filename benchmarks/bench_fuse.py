"""Benchmark the governed mount: large sequential reads through FUSE against the file system
under it, cold and warm, and the cost of a governed open.

    python benchmarks/bench_fuse.py [--quick] [--size-mib N] [--runs N] [--drop-caches]
                                    [--transport both|passthrough|libfuse] [--write]

Prints a markdown section; ``--write`` also puts it into docs/benchmarks.md ("## Governed mount
(FUSE)"). Needs /dev/fuse, fusermount3 and mfusepy (the ``mount`` extra); says why when not.
The file goes to a temporary folder under ``$BENCH_TMP`` (default: the system's temp folder).

One file of random bytes (512 MiB; ``--quick`` 64), read sequentially in 1 MiB ``read()``
calls; each case is run ``--runs`` times, the cases alternating, and the median is reported.
Two mounts of the same folder serve side by side (``--transport``): the default transport here,
the kernel session with FUSE passthrough (``mount.passthrough: on``), and libfuse through
mfusepy (``off``), so the cases of both alternate in one run. Like is compared with like,
native against the mount, in the same regime:

- **cold**: nothing of the file is in the page cache before the read: the backing file's pages
  and the mount's are evicted (``posix_fadvise(DONTNEED)`` on each, which drops a clean file's
  pages; ``--drop-caches`` writes 3 to /proc/sys/vm/drop_caches instead, as root, which also
  evicts everyone else's cache: for a quiet machine only). Both read from the device.
- **warm**: the file was read once before, through the same path (natively: the backing file;
  through the mount: the mount, so its pages are in the kernel's cache for the mount, kept
  between opens by ``auto_cache`` while the file's size and mtime are unchanged). Every open is
  still decided and audited; only the bytes come from the kernel's cache.

Plus **first read, backing cached** (the backing file in the page cache, the mount's pages
evicted: every byte goes through the mount process, whose cost this isolates) and, for
comparison, the same with reads answered through Python (``LACUNA_MOUNT_READ_BUF=0``:
``read()`` returning bytes, what mfusepy does by default).

For each mount read: the CPU time of the mount process (user + system, from /proc) per GiB,
and the number of requests it answered (read syscalls on /dev/fuse, from /proc/PID/io); for
every read the reading process's own CPU per GiB. Open latency: ``open()``+``close()`` of a
small CSV, a decided and audited read through the mount, natively a plain open.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docsection import stamp
from docsection import write as update_section

LOAD_BEFORE = os.getloadavg()
CHUNK = 1 << 20
TITLE = "## Governed mount (FUSE)"
GOAL = 1.2  # issue 14: large sequential reads within 1.2x of the file system underneath


def read_all(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds (of this reader) to read ``path`` sequentially."""
    buf = bytearray(CHUNK)
    cpu, start = time.process_time(), time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.readv(fd, [buf]):
            pass
    finally:
        os.close(fd)
    return time.perf_counter() - start, time.process_time() - cpu


def evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache (for a file in the mount: the mount's own
    pages; for the backing file: the device must be read again)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_caches() -> None:
    """Empty the whole page cache (root only; ``--drop-caches``)."""
    os.sync()
    DROP_CACHES.write_text("3\n")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_syscalls(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("syscr:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def open_close(path: Path, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        with open(path, "rb") as fh:
            fh.read(1)
        out.append(time.perf_counter() - start)
    return out


@contextmanager
def mounted(root: Path, source: Path, mnt: Path, *, read_buf: bool = True,
            passthrough: str = "off", home: Path | None = None) -> Any:
    root.mkdir(exist_ok=True)
    mnt.mkdir(exist_ok=True)
    config = root / "lacuna.yaml"
    config.write_text(f"user: {{id: bench}}\naudit: {{url: 'sqlite:///{root / 'state.db'}'}}\n"
                      f"mount: {{passthrough: '{passthrough}'}}\n")
    env = {**os.environ, "LACUNA_HOME": str(home or root / "home"), "RUST_BACKTRACE": "0",
           "LACUNA_MOUNT_READ_BUF": "1" if read_buf else "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lacuna", "mount", str(source), str(mnt), "--foreground",
         "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while not os.path.ismount(mnt):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mount did not come up: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)
        yield proc
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False, capture_output=True)
        proc.wait(timeout=30)


class Case:
    def __init__(self, label: str) -> None:
        self.label = label
        self.wall: list[float] = []
        self.cpu: list[float] = []  # the mount process's CPU seconds (mount cases)
        self.requests: list[int] = []
        self.reader_cpu: list[float] = []  # the reading process's own CPU seconds

    def run(self, path: Path, before: Callable[[], None], pid: int | None) -> None:
        before()
        cpu0 = cpu_seconds(pid) if pid else 0.0
        req0 = read_syscalls(pid) if pid else 0
        wall, reader = read_all(path)
        self.wall.append(wall)
        self.reader_cpu.append(reader)
        if pid:
            self.cpu.append(cpu_seconds(pid) - cpu0)
            self.requests.append(read_syscalls(pid) - req0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 3 runs (smoke run)")
    parser.add_argument("--size-mib", type=int, default=None, help="file size (default 512)")
    parser.add_argument("--runs", type=int, default=None, help="runs per case (default 5)")
    parser.add_argument("--drop-caches", action="store_true",
                        help="cold = /proc/sys/vm/drop_caches (root; evicts every cache on the "
                             "machine) instead of evicting this file's pages")
    parser.add_argument("--transport", choices=("both", "passthrough", "libfuse"),
                        default="both", help="which mounts to measure (default both)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    from lacuna.mount import fuse_missing
    from lacuna.mount.kernel_dev import probe

    missing = fuse_missing()
    if missing:
        print(f"{TITLE}\n\nNot run: {missing}.\n")
        return 0
    if args.drop_caches and not os.access(DROP_CACHES, os.W_OK):
        raise SystemExit(f"--drop-caches: {DROP_CACHES} is not writable (run as root), or "
                         "leave the option out to evict the file's pages only.")
    size = args.size_mib or (64 if args.quick else 512)
    runs = args.runs or (3 if args.quick else 5)
    gib = size / 1024
    transports = ["passthrough", "libfuse"] if args.transport == "both" else [args.transport]
    tmp_base = os.environ.get("BENCH_TMP")
    if "passthrough" in transports:
        why = probe(tmp_base or tempfile.gettempdir())
        if why is not None:
            print(f"{TITLE}\n\nPassthrough not measured: {why}.\n")
            transports.remove("passthrough")
            if not transports:
                return 0
    labels = {"native cold": "cold", "native warm": "warm"}
    for t in transports:
        labels |= {f"{t} cold": "cold", f"{t} warm": "warm"}
    for t in transports:
        labels[f"{t} sealed, first read"] = "warm"
    if "libfuse" in transports:
        labels |= {"libfuse first read, backing cached": "warm",
                   "libfuse first read, backing cached, Python read()": "warm"}
    cases = {k: Case(k) for k in labels}
    with tempfile.TemporaryDirectory(dir=tmp_base, prefix="bench-fuse-") as tmp:
        root = Path(tmp)
        source = root / "data"
        (source / "outbox").mkdir(parents=True)
        big = source / "big.bin"
        with open(big, "wb") as fh:
            for _ in range(size):
                fh.write(os.urandom(CHUNK))
        small = source / "customers.csv"
        small.write_text("customer_id,email\n" + "".join(
            f"C{i:04d},user{i}@example.com\n" for i in range(200)))
        mnts = {t: root / t / "mnt" for t in transports}
        opens = 20 if args.quick else 100
        native_open: list[float] = []
        mount_open: dict[str, list[float]] = {}

        def native_cold() -> None:
            if args.drop_caches:
                drop_caches()
            else:
                evict(big)

        with ExitStack() as stack:
            procs = {t: stack.enter_context(mounted(
                root / t, source, mnts[t], passthrough="on" if t == "passthrough" else "off",
                home=root / "home")) for t in transports}  # one key store: sealed files shared
            for t in transports:
                read_all(mnts[t] / "big.bin")  # the first governed open: engine, audit warm
            with open(mnts[transports[0]] / "sealed.bin", "wb") as fh:  # sealed on close
                for _ in range(size):
                    fh.write(os.urandom(CHUNK))
            for _ in range(runs):
                cases["native cold"].run(big, native_cold, None)
                for t in transports:
                    through = mnts[t] / "big.bin"
                    cases[f"{t} cold"].run(through, lambda th=through: (native_cold(),
                                                                        evict(th)), procs[t].pid)
                cases["native warm"].run(big, lambda: read_all(big), None)
                for t in transports:
                    through = mnts[t] / "big.bin"
                    cases[f"{t} warm"].run(through, lambda th=through: read_all(th),
                                           procs[t].pid)
                for t in transports:
                    sealed = mnts[t] / "sealed.bin"
                    cases[f"{t} sealed, first read"].run(
                        sealed, lambda se=sealed: (read_all(source / "sealed.bin"), evict(se)),
                        procs[t].pid)
                if "libfuse" in transports:
                    through = mnts["libfuse"] / "big.bin"
                    cases["libfuse first read, backing cached"].run(
                        through, lambda th=through: (read_all(big), evict(th)),
                        procs["libfuse"].pid)
            native_open = open_close(small, opens)
            for t in transports:
                open_close(mnts[t] / "customers.csv", 3)
                mount_open[t] = open_close(mnts[t] / "customers.csv", opens)
        if "libfuse" in transports:
            with mounted(root / "python", source, root / "python" / "mnt",
                         read_buf=False) as proc:
                through = root / "python" / "mnt" / "big.bin"
                read_all(through)
                for _ in range(max(runs // 2, 2)):
                    cases["libfuse first read, backing cached, Python read()"].run(
                        through, lambda th=through: (read_all(big), evict(th)), proc.pid)

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    evicted = ("`echo 3 > /proc/sys/vm/drop_caches`" if args.drop_caches else
               "the backing file's and the mount's pages evicted (`posix_fadvise(DONTNEED)`)")
    lines = [TITLE, "", stamp(LOAD_BEFORE), "",
             f"`python benchmarks/bench_fuse.py{' ' + ' '.join(argv) if argv else ''}`: a "
             f"{size} MiB file read sequentially in 1 MiB `read()` calls, median of {runs} "
             "alternating runs, the mounts side by side over one folder. **passthrough**: the "
             "kernel session (`lacuna.mount.kernel`, the default where the kernel offers it) "
             "with `FOPEN_PASSTHROUGH`: the kernel reads the backing file itself. **libfuse**: "
             "libfuse 3.14 through mfusepy (`mount.passthrough: off`), `auto_cache`, "
             "`direct_io` off, reads answered by `read_buf` (the backing descriptor handed to "
             "libfuse, spliced in C), read-ahead 1 MiB. **cold**: "
             f"{evicted} before each read, so native and mount read the device; **warm**: the "
             "file read once before through the same path (each open still decided and "
             "audited). **first read, backing cached**: libfuse's pages evicted, the backing "
             "file's cached: every byte through the mount process. **sealed**: the same bytes "
             "written through the mount, so sealed (AES-256-GCM) in governed storage, read "
             "with the ciphertext cached and the mount's pages evicted: decrypted by the mount "
             "process on either transport. Each row's time is against "
             "the native read of its regime (first reads against native warm). Mount CPU = "
             "user + system time of the mount process; requests = its reads of /dev/fuse.", "",
             "| read | MiB/s | time vs native | reader CPU s/GiB | mount CPU s/GiB | requests "
             "| KiB/request |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    base = {"warm": med(cases["native warm"].wall), "cold": med(cases["native cold"].wall)}
    ratio = {}
    for case in cases.values():
        ratio[case.label] = med(case.wall) / base[labels[case.label]]
        if case.cpu:
            reqs = int(med([float(r) for r in case.requests]))
            per = f"{size * 1024 / reqs:,.0f}" if reqs > 0 else "-"
            cpu = f"{med(case.cpu) / gib:.2f} | {reqs:,} | {per}"
        else:
            cpu = "- | - | -"
        lines.append(f"| {case.label} | {size / med(case.wall):,.0f} | "
                     f"{ratio[case.label]:.2f}× | {med(case.reader_cpu) / gib:.2f} | {cpu} |")

    def verdict(t: str, regime: str) -> str:
        r = ratio[f"{t} {regime}"]
        return f"{regime} {r:.2f}× ({'met' if r <= GOAL else 'not met'})"

    def total(label: str) -> float:
        return (med(cases[label].reader_cpu) + med(cases[label].cpu)) / gib

    lines.append("")
    if "libfuse" in transports:
        first = cases["libfuse first read, backing cached"]
        reqs = max(int(med([float(r) for r in first.requests])), 1)
        py_cpu = med(cases["libfuse first read, backing cached, Python read()"].cpu)
        lines.append(f"- libfuse CPU per request (first read): {med(first.cpu) / reqs * 1e6:,.0f}"
                     f" µs with `read_buf` ({med(first.cpu) / gib:.2f} s/GiB), against "
                     f"{py_cpu / gib:.2f} s/GiB answering through Python `read()`.")
    lines.append("- Total CPU per GiB, reader + mount: native warm "
                 f"{med(cases['native warm'].reader_cpu) / gib:.2f} s, native cold "
                 f"{med(cases['native cold'].reader_cpu) / gib:.2f} s; " + "; ".join(
                     f"{t} warm {total(f'{t} warm'):.2f} s, {t} cold {total(f'{t} cold'):.2f} s"
                     for t in transports) + ".")
    lines.append(f"- Open + close of a small CSV ({len(native_open)} times): native "
                 f"{med(native_open) * 1e6:,.0f} µs; " + "; ".join(
                     f"{t} {med(v) * 1e3:,.2f} ms median (p95 "
                     f"{sorted(v)[int(0.95 * len(v)) - 1] * 1e3:,.2f} ms)"
                     for t, v in mount_open.items()) + ": each is a decided, audited read.")
    lines.append(f"- Goal, large sequential reads within {GOAL}× of the file system underneath: "
                 + "; ".join(f"{t}: {verdict(t, 'cold')}, {verdict(t, 'warm')}"
                             for t in transports)
                 + ". Why: [mount.md](mount.md#performance).")
    lines.append("")
    section = "\n".join(lines)
    print(section)
    if args.write:
        update_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
