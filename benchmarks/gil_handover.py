"""How long a thread holds a lock across SQLite calls while another thread computes, at a few
GIL switch intervals: the reason ``lacuna serve``'s workers hand the GIL over every 0.5 ms
(``lacuna.server.collector.SWITCH_INTERVAL_S``).

    python benchmarks/gil_handover.py [--seconds S] [--intervals 0.005,0.0005]

A writer thread commits a small transaction (``BEGIN IMMEDIATE``, a head read, an insert, a
head update, ``COMMIT``: what one audit group commit runs) on an SQLite file in WAL mode,
holding a lock around it, as the group-commit writer holds the writers' turn; the main thread
meanwhile computes without pause, as a busy event loop does. Every SQLite call gives the GIL
up, and the writer has to get it back from the main thread after each, which CPython grants
when the holder has run for a switch interval. Prints, per interval, how many commits the
writer made and the time the lock was held (p50, p99): the time another worker's commit
waited for the turn. A measuring tool (``run_all.py`` does not run it); its figures go into
docs/server.md.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path


def held_times(interval: float, seconds: float, folder: Path) -> list[float]:
    """The lock's hold times (seconds) of every commit the writer made in ``seconds``."""
    sys.setswitchinterval(interval)
    conn = sqlite3.connect(folder / f"handover-{interval}.db", isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE records (seq INTEGER, body TEXT)")
    conn.execute("CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER)")
    conn.execute("INSERT INTO head VALUES (1, 0)")
    turn, stop, held = threading.Lock(), threading.Event(), []

    def writer() -> None:
        while not stop.is_set():
            with turn:
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                seq = conn.execute("SELECT seq FROM head WHERE id = 1").fetchone()[0] + 1
                conn.execute("INSERT INTO records VALUES (?, ?)", (seq, "x" * 200))
                conn.execute("UPDATE head SET seq = ? WHERE id = 1", (seq,))
                conn.execute("COMMIT")
                held.append(time.perf_counter() - started)
            time.sleep(0.002)  # the next group arrives

    thread = threading.Thread(target=writer)
    thread.start()
    until, busy = time.perf_counter() + seconds, 0
    while time.perf_counter() < until:  # the busy event loop
        busy += sum(range(200))
    stop.set()
    thread.join()
    conn.close()
    return sorted(held)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--intervals", default="0.005,0.001,0.0005,0.0002",
                        help="switch intervals in seconds, comma-separated")
    args = parser.parse_args()
    default = sys.getswitchinterval()
    with tempfile.TemporaryDirectory(prefix="lacuna-gil-") as tmp:
        for interval in (float(v) for v in args.intervals.split(",")):
            held = held_times(interval, args.seconds, Path(tmp))
            print(f"switch interval {interval * 1e3:.1f} ms: {len(held)} commits, lock held "
                  f"p50 {held[len(held) // 2] * 1e3:.2f} ms, "
                  f"p99 {held[int(len(held) * 0.99)] * 1e3:.2f} ms", flush=True)
    sys.setswitchinterval(default)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
