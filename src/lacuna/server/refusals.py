"""Audited refusals, bounded: a flood of 401s and 403s cannot fill the audit trail.

Every refused request (401 unauthenticated, 403 forbidden, a console sign-in that failed) is
an audit record (:func:`lacuna.server.security.audit_refusal`). Anyone who can reach the
port can send those, without a credential, as fast as the network allows: each would be a
signed record appended under the writers' turn, taking trail space and write time from the
decisions the server exists to record.

:class:`RefusalBudget` lets each caller (a client address for anonymous refusals, with IPv6
addresses taken by their /64 network; the user's name for a known caller's 403) have its
refusals recorded one by one up to a burst (``audit_refusals_burst``, 30 by default), then at
a steady rate (``audit_refusals_per_minute``, 30), as a token bucket; a second bucket caps
all callers together (ten times each). A refusal over budget is still refused, counted in
``/metrics`` (``lacuna_auth_failures_total``, ``lacuna_audit_refusals_suppressed_total``) and
kept in a count per caller; that count becomes one audit record, a
:class:`Suppressed` summary (policy ``lacuna.server.refusals_suppressed``: how many, which
statuses, the most refused paths, first and last time), written when the caller is next
recorded one by one, by the server every ``SUMMARY_EVERY_S`` seconds, and when the server
stops. So the trail still says that every refusal happened, and who sent them; it no longer
says it one record each.

The budget is per server process: with ``--workers N`` each worker has its own, so the trail
takes up to N times the rate. The number of callers remembered is bounded
(``MAX_CALLERS``); a caller forgotten with refusals still uncounted hands them to one shared
summary for "other callers", so rotating addresses neither grows memory nor loses a count.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

SUMMARY_EVERY_S = 60.0
MAX_CALLERS = 10_000
ALL_CALLERS = 10.0  # all callers together: this many times one caller's burst and rate
OTHER_CALLERS = "other callers (forgotten to bound memory)"
_TOP_PATHS = 5


def caller_key(client: str | None, user: str | None) -> str:
    """Whose budget a refusal spends: the user for a known caller, else the client address
    (an IPv6 address by its /64 network, which one host can fill with addresses)."""
    if user:
        return f"user {user}"
    if not client:
        return "client unknown"
    try:
        address = ipaddress.ip_address(client)
    except ValueError:  # a name (a test client, a Unix socket): as it is
        return f"client {client}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 client of a dual-stack socket
            return f"client {address.ipv4_mapped}"
        return f"client {ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"client {address}"


@dataclass(frozen=True)
class Suppressed:
    """Refusals of one caller not recorded one by one: what their summary record says."""

    caller: str
    count: int
    first: float  # wall-clock times (time.time())
    last: float
    statuses: tuple[tuple[int, int], ...]  # (status, count), most first
    paths: tuple[tuple[str, int], ...]  # the most refused "METHOD /path", with counts

    def reasoning(self, burst: int, per_minute: float) -> str:
        statuses = ", ".join(f"{n} x HTTP {s}" for s, n in self.statuses)
        paths = ", ".join(f"{p} ({n})" for p, n in self.paths)
        span = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.first)) + " to " + \
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last))
        return (f"{self.count} refused request(s) from {self.caller} between {span} were "
                f"not recorded one by one: over the audit budget of {burst} at once and "
                f"{per_minute:g} a minute (audit_refusals_burst, audit_refusals_per_minute). "
                f"Statuses: {statuses}. Most refused: {paths}.")


@dataclass
class _Pending:
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)

    def add(self, status: int, path: str, now: float, n: int = 1) -> None:
        if not self.count:
            self.first = now
        self.count += n
        self.last = max(self.last, now)
        self.statuses[status] += n
        self.paths[path] += n

    def merge(self, other: _Pending) -> None:
        if not other.count:
            return
        self.first = min(self.first, other.first) if self.count else other.first
        self.count += other.count
        self.last = max(self.last, other.last)
        self.statuses.update(other.statuses)
        self.paths.update(other.paths)

    def summary(self, caller: str) -> Suppressed:
        return Suppressed(caller=caller, count=self.count, first=self.first, last=self.last,
                          statuses=tuple(self.statuses.most_common()),
                          paths=tuple(self.paths.most_common(_TOP_PATHS)))


@dataclass
class _Caller:
    tokens: float
    at: float  # monotonic time the tokens were counted
    pending: _Pending = field(default_factory=_Pending)


@dataclass(frozen=True)
class Admission:
    """Whether to record this refusal one by one, and the summary to record before it (this
    caller's suppressed refusals so far), if any."""

    record: bool
    summary: Suppressed | None = None


class RefusalBudget:
    """Token buckets per caller and for all callers (see the module docstring).

    Args:
        burst: refusals a caller may have recorded at once.
        per_minute: the steady rate a caller's budget refills at.
        max_callers: callers remembered at once.
        clock, wall: monotonic and wall-clock time (tests pass their own).
    """

    def __init__(self, burst: int = 30, per_minute: float = 30.0, *,
                 max_callers: int = MAX_CALLERS,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.burst = burst
        self.per_minute = per_minute
        self.max_callers = max_callers
        self._rate = per_minute / 60.0
        self._clock, self._wall = clock, wall
        self._callers: OrderedDict[str, _Caller] = OrderedDict()
        self._all = _Caller(tokens=ALL_CALLERS * burst, at=clock())
        self._other = _Pending()
        self._lock = threading.Lock()
        self.suppressed = 0  # refusals not recorded one by one, in all (for /metrics)

    def admit(self, caller: str, status: int, path: str) -> Admission:
        """Spend one refusal of ``caller``'s budget: record it, or count it for a summary."""
        now, wall = self._clock(), self._wall()
        with self._lock:
            entry = self._callers.get(caller)
            if entry is None:
                entry = self._callers[caller] = _Caller(tokens=float(self.burst), at=now)
                self._forget_oldest()
            else:
                self._callers.move_to_end(caller)
            self._refill(entry, now, self.burst)
            self._refill(self._all, now, ALL_CALLERS * self.burst, scale=ALL_CALLERS)
            if entry.tokens < 1.0 or self._all.tokens < 1.0:
                entry.pending.add(status, path, wall)
                self.suppressed += 1
                return Admission(record=False)
            entry.tokens -= 1.0
            self._all.tokens -= 1.0
            summary = None
            if entry.pending.count:
                summary = entry.pending.summary(caller)
                entry.pending = _Pending()
            return Admission(record=True, summary=summary)

    def due(self) -> list[Suppressed]:
        """Every count not yet summarised, taken (the server writes them as records)."""
        with self._lock:
            out = []
            for caller, entry in self._callers.items():
                if entry.pending.count:
                    out.append(entry.pending.summary(caller))
                    entry.pending = _Pending()
            if self._other.count:
                out.append(self._other.summary(OTHER_CALLERS))
                self._other = _Pending()
            return out

    def give_back(self, summaries: list[Suppressed]) -> None:
        """Summaries that could not be written: counted again, to be written next time."""
        with self._lock:
            for s in summaries:
                pending = _Pending(count=s.count, first=s.first, last=s.last,
                                   statuses=Counter(dict(s.statuses)),
                                   paths=Counter(dict(s.paths)))
                entry = self._callers.get(s.caller)
                (entry.pending if entry is not None else self._other).merge(pending)

    def _refill(self, entry: _Caller, now: float, cap: float, scale: float = 1.0) -> None:
        entry.tokens = min(cap, entry.tokens + (now - entry.at) * self._rate * scale)
        entry.at = now

    def _forget_oldest(self) -> None:
        while len(self._callers) > self.max_callers:
            _, old = self._callers.popitem(last=False)
            self._other.merge(old.pending)
