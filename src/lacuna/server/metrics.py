"""Counters for ``GET /metrics`` (Prometheus text format 0.0.4), kept in this process.

With several uvicorn workers each process counts its own requests: scrape each worker, or sum
(Prometheus does when the ``instance`` differs). Names::

    lacuna_decisions_total{result="allowed|denied|error"}
    lacuna_decision_seconds_bucket{le=...} / _sum / _count     (decide and the OPA Data API)
    lacuna_audit_writes_total{result="ok|failed"}
    lacuna_auth_failures_total{status="401|403"}
    lacuna_audit_refusals_suppressed_total   (over the audit budget: lacuna.server.refusals)
    lacuna_http_requests_total{status="2xx|4xx|5xx"}
    lacuna_decision_log_records_total{result="written|dropped"}   (when a decision log is on)

The decision log's counts are its sink's own (``DecisionLogSink.written`` and ``dropped``),
read at each scrape: records dropped because its queue was full or a batch failed show here
before anyone reads the log's ERROR lines.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Thread-safe counters and one latency histogram."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: Counter[str] = Counter()
        self.audit_writes: Counter[str] = Counter()
        self.auth_failures: Counter[str] = Counter()
        self.http: Counter[str] = Counter()
        self.refusals_suppressed = 0
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0

    def decision(self, result: str, seconds: float) -> None:
        with self._lock:
            self.decisions[result] += 1
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sum += seconds
            self._count += 1

    def audit_write(self, ok: bool) -> None:
        with self._lock:
            self.audit_writes["ok" if ok else "failed"] += 1

    def auth_failure(self, status: int) -> None:
        with self._lock:
            self.auth_failures[str(status)] += 1

    def refusal_suppressed(self) -> None:
        with self._lock:
            self.refusals_suppressed += 1

    def response(self, status: int) -> None:
        with self._lock:
            self.http[f"{status // 100}xx"] += 1

    def summary(self) -> dict[str, object]:
        with self._lock:
            return {"decisions": dict(self.decisions), "audit_writes": dict(self.audit_writes),
                    "auth_failures": dict(self.auth_failures), "http": dict(self.http),
                    "decision_seconds": {"count": self._count, "sum": round(self._sum, 6)}}

    def render(self, decision_log: tuple[int, int] | None = None) -> str:
        """The Prometheus text exposition; ``decision_log`` is its sink's ``(written,
        dropped)`` (``None``: no decision log, no such lines)."""
        with self._lock:
            lines = [
                "# HELP lacuna_decisions_total Policy decisions answered, by result.",
                "# TYPE lacuna_decisions_total counter",
                *(f'lacuna_decisions_total{{result="{k}"}} {v}'
                  for k, v in sorted(self.decisions.items())),
                "# HELP lacuna_decision_seconds Time to answer a decision request.",
                "# TYPE lacuna_decision_seconds histogram",
            ]
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), self._buckets, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'lacuna_decision_seconds_bucket{{le="{le}"}} {running}')
            lines += [
                f"lacuna_decision_seconds_sum {self._sum:.6f}",
                f"lacuna_decision_seconds_count {self._count}",
                "# HELP lacuna_audit_writes_total Audit records appended, by result.",
                "# TYPE lacuna_audit_writes_total counter",
                *(f'lacuna_audit_writes_total{{result="{k}"}} {v}'
                  for k, v in sorted(self.audit_writes.items())),
                "# HELP lacuna_auth_failures_total Requests refused 401 or 403.",
                "# TYPE lacuna_auth_failures_total counter",
                *(f'lacuna_auth_failures_total{{status="{k}"}} {v}'
                  for k, v in sorted(self.auth_failures.items())),
                "# HELP lacuna_audit_refusals_suppressed_total Refusals over the audit budget: "
                "counted in a summary record, not recorded one by one.",
                "# TYPE lacuna_audit_refusals_suppressed_total counter",
                f"lacuna_audit_refusals_suppressed_total {self.refusals_suppressed}",
                "# HELP lacuna_http_requests_total HTTP responses, by status class.",
                "# TYPE lacuna_http_requests_total counter",
                *(f'lacuna_http_requests_total{{status="{k}"}} {v}'
                  for k, v in sorted(self.http.items())),
            ]
        if decision_log is not None:
            written, dropped = decision_log
            lines += [
                "# HELP lacuna_decision_log_records_total Decision-log records written, or "
                "dropped (queue full, batch failed).",
                "# TYPE lacuna_decision_log_records_total counter",
                f'lacuna_decision_log_records_total{{result="written"}} {written}',
                f'lacuna_decision_log_records_total{{result="dropped"}} {dropped}',
            ]
        return "\n".join(lines) + "\n"
