"""Which governed files each process read through the mount: the heuristic lineage of writes.

A file written through the mount gets, as its upstream, the files read through the mount by the
same process group (a shell pipeline, ``cp``, a Python process and its children share one) in
the last ``window`` seconds. The kernel tells the mount who calls; it cannot tell which bytes of
a write came from which read, so these edges are marked ``heuristic`` in the lineage store.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from lacuna.model import Classification

MAX_GROUPS = 256  # process groups remembered at once (least recently active dropped first)
MAX_READS = 64  # distinct files remembered per group


@dataclass(frozen=True, slots=True)
class Read:
    """One governed read: the backing file, the classification it was read with, and when its
    data was first seen (its trusted sidecar's or authenticated sealed header's clock, as it
    was read: :mod:`lacuna.lineage.clock`; None: none is trusted)."""

    path: str
    classification: Classification
    at: float
    first_seen: datetime | None = None


def group_of(pid: int) -> int:
    """The process group of ``pid`` (the process itself when it has exited)."""
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return pid


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            return fh.read().strip() or "?"
    except OSError:
        return "?"


class ReadTracker:
    """Reads by process group, bounded in groups, files and time. Thread-safe."""

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._groups: OrderedDict[int, dict[str, Read]] = OrderedDict()
        self._lock = threading.Lock()

    def saw(self, pid: int, path: str, classification: Classification,
            first_seen: datetime | None = None) -> None:
        group = group_of(pid)
        with self._lock:
            reads = self._groups.pop(group, {})
            reads.pop(path, None)
            reads[path] = Read(path, classification, time.monotonic(), first_seen)
            while len(reads) > MAX_READS:
                reads.pop(next(iter(reads)))
            self._groups[group] = reads
            while len(self._groups) > MAX_GROUPS:
                self._groups.popitem(last=False)

    def reads(self, pid: int, *, exclude: str | None = None) -> tuple[Read, ...]:
        """What the group of ``pid`` read recently, oldest first (not ``exclude`` itself)."""
        group = group_of(pid)
        cutoff = time.monotonic() - self.window
        with self._lock:
            found = self._groups.get(group, {})
            return tuple(r for r in found.values() if r.at >= cutoff and r.path != exclude)

    def everyone(self, *, exclude: str | None = None) -> tuple[Read, ...]:
        """What any process group read recently, each file once (its latest read), not
        ``exclude`` itself."""
        cutoff = time.monotonic() - self.window
        latest: dict[str, Read] = {}
        with self._lock:
            for found in self._groups.values():
                for r in found.values():
                    if r.at >= cutoff and r.path != exclude and (
                            r.path not in latest or latest[r.path].at < r.at):
                        latest[r.path] = r
        return tuple(latest.values())
