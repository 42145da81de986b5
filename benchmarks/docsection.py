"""Write one benchmark's section of docs/benchmarks.md in place (``--write``).

A section starts at its ``## Title`` line and runs to the next ``## `` heading; it is replaced
whole (or appended when the page has none), so each script owns its section and the other
sections stay as they are. :func:`stamp` is the line every section starts with: date, machine,
load average, so a number is never read without the conditions it was taken in.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_ticks() -> tuple[int, int] | None:
    """``(steal, total)`` clock ticks of all CPUs so far (``/proc/stat``; ``None`` elsewhere).

    Steal is time the hypervisor gave this machine's virtual CPUs to someone else: on a
    shared host it comes and goes, and while it lasts a 2-core VM has less than 2 cores, so
    throughput falls (and CPU time per operation rises) whatever the code does. Benchmarks
    report it beside their figures (:func:`steal_share`)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return values[7], sum(values)


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the CPUs' time stolen by the hypervisor between two :func:`cpu_ticks`."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timed(fn: Callable[[], object], n: int, rounds: int) -> float:
    """Median wall microseconds per call over ``rounds`` rounds of ``n`` calls (for calls too
    short to time one by one)."""
    walls = []
    for _ in range(rounds):
        w0 = time.perf_counter()
        for _ in range(n):
            fn()
        walls.append((time.perf_counter() - w0) / n * 1e6)
    return statistics.median(walls)


def stamp(load_before: tuple[float, float, float], *, clock: str = "cpu") -> str:
    """``Measured <date> on <machine>; load average before/after``, and which clock the times
    are read from: ``clock="cpu"`` (process CPU time) or ``"wall"`` (``time.perf_counter``)."""
    cpu = cpu_model()
    after = os.getloadavg()
    said = ("CPU times are `time.process_time` (in-process) or the processes' user + system "
            "time (psutil): steadier than wall time when other work shares the cores."
            if clock == "cpu" else
            "Times are wall-clock (`time.perf_counter`): compare them within one run, on a "
            "quiet machine (the load averages say how quiet it was).")
    return (f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; load average (1/5/15 min) "
            f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f} before, "
            f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} after. {said}")


def write(section: str, doc: Path = DOC) -> None:
    """Replace the section whose first line is ``section``'s first line (a ``## `` title)."""
    title = section.splitlines()[0].strip()
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == title)
    except StopIteration:
        doc.write_text(text.rstrip("\n") + "\n\n" + section.strip() + "\n")
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    out = [*lines[:start], *section.strip().splitlines(), "", *lines[end:]]
    doc.write_text("\n".join(out).rstrip("\n") + "\n")
