"""``lacuna lineage import FILE``: OpenLineage events from other producers into the lineage store.

Reads JSON Lines (one event per line, what openlineage-python's file transport and most
collectors write) or one JSON document holding an event or a list of events. Events are merged by
runId (START, RUNNING, COMPLETE, ...); a run is recorded once it has a COMPLETE, FAIL or ABORT
event. Hostile input is bounded (line and file size, events, datasets and columns per event) and
each rejected line is reported as ``file:line: what``; a run with any malformed event is left out
entirely rather than recorded half-known. Classifications in the events only raise what the
store knows (:mod:`lacuna.lineage.claims`, the same rule as the server's ingest).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.config import ClassificationConfig
from lacuna.errors import LineageError
from lacuna.lineage.openlineage import EventError, _Pending, finish, merge_event

if TYPE_CHECKING:
    from lacuna.lineage.records import Run
    from lacuna.lineage.store import LineageStore

MAX_LINE = 8 << 20  # bytes in one JSON line
MAX_DOCUMENT = 64 << 20  # bytes of a file read as one JSON document
MAX_EVENTS = 1_000_000
MAX_ERRORS = 100  # reported one by one; beyond this only counted


@dataclass
class ImportReport:
    """What an import did: counts, and the rejected lines as ``file:line: reason``."""

    events: int = 0
    runs: list[Run] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # runIds without a terminal event
    errors: list[str] = field(default_factory=list)
    rejected: int = 0
    refused: list[str] = field(default_factory=list)  # lowerings refused (lineage.claims)

    @property
    def datasets(self) -> int:
        return len({v.dataset for r in self.runs for v in (*r.inputs, *r.outputs)})

    @property
    def column_edges(self) -> int:
        return sum(len(r.column_edges) for r in self.runs)

    def reject(self, where: str, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{where}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "runs": len(self.runs), "datasets": self.datasets,
                "column_edges": self.column_edges, "incomplete_runs": self.incomplete,
                "rejected": self.rejected, "errors": self.errors, "refused": self.refused}


def _documents(path: Path, report: ImportReport) -> list[tuple[int, Any]]:
    """(line number, decoded JSON) for each event; bad lines go to ``report``."""
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}."
        raise LineageError(msg) from None
    out: list[tuple[int, Any]] = []
    first_error: tuple[int, str] | None = None
    with handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE + 1)
            if not raw:
                break
            number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                report.reject(f"{path}:{number}", f"line longer than {MAX_LINE} bytes; skipped")
                while raw and not raw.endswith(b"\n"):  # skip the rest of it
                    raw = handle.readline(MAX_LINE)
                continue
            text = raw.strip()
            if not text:
                continue
            if len(out) >= MAX_EVENTS:
                report.reject(f"{path}:{number}", f"more than {MAX_EVENTS} events; stopped")
                break
            try:
                out.append((number, json.loads(text)))
            except (ValueError, RecursionError) as exc:
                first_error = first_error or (number, str(exc))
                report.reject(f"{path}:{number}", f"not JSON ({str(exc)[:200]})")
    if first_error is not None and not out and size <= MAX_DOCUMENT:
        # Not JSON Lines: perhaps one (pretty-printed) event or a list of events.
        try:
            whole = json.loads(path.read_bytes())
        except (ValueError, RecursionError, OSError):
            return out
        report.errors.clear()
        report.rejected = 0
        items = whole if isinstance(whole, list) else [whole]
        return [(1, item) for item in items[:MAX_EVENTS]]
    return out


def read_runs(path: str | os.PathLike[str], config: ClassificationConfig | None = None
              ) -> ImportReport:
    """Parse ``path`` into runs (not yet stored); every rejected line is in the report."""
    path = Path(path)
    config = config or ClassificationConfig()
    report = ImportReport()
    pending: dict[str, _Pending] = {}
    bad: set[str] = set()
    for number, event in _documents(path, report):
        report.events += 1
        rid = None
        if isinstance(event, dict) and isinstance(event.get("run"), dict):
            rid = event["run"].get("runId")
        try:
            merge_event(pending, event, config)
        except EventError as exc:
            report.reject(f"{path}:{number}", f"{exc}")
            if isinstance(rid, str):
                bad.add(rid)
        except RecursionError:
            report.reject(f"{path}:{number}", "nested too deeply")
            if isinstance(rid, str):
                bad.add(rid)
    for rid, p in pending.items():
        if rid in bad:
            report.errors.append(f"{path}: run {rid} left out: one of its events was rejected")
            continue
        try:
            run = finish(p)
        except EventError as exc:
            report.reject(f"{path}: run {rid}", str(exc))
            continue
        if run is None:
            report.incomplete.append(rid)
        else:
            report.runs.append(run)
    return report


def import_events(path: str | os.PathLike[str], store: LineageStore,
                  config: ClassificationConfig | None = None) -> ImportReport:
    """Read ``path`` and record its complete runs in ``store``, as the server's ingest does
    (:func:`lacuna.lineage.claims.ingest`): a classification in the events may raise what the
    store knows, never lower it; each refused lowering is in ``report.refused``, and the runs
    are stored untrusted.

    Raises:
        LineageError: the file cannot be read, or the store cannot be written.
    """
    from lacuna.lineage.claims import ingest

    report = read_runs(path, config)
    recorded: list[Run] = []
    for run in report.runs:
        try:
            run, refused = ingest(run, store, config or ClassificationConfig(), by=str(path))
            report.refused.extend(f"{path}: run {run.id}: {line}" for line in refused)
        except LineageError as exc:
            if "cannot" in str(exc) and "lineage store" in str(exc):
                raise  # the database itself failed: stop, say so
            report.reject(f"{path}: run {run.id}", str(exc))
            continue
        recorded.append(run)
    report.runs = recorded
    return report


__all__ = ["ImportReport", "import_events", "read_runs"]
