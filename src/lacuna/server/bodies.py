"""Decide request bodies parsed once per burst: the fast lane's memo of validated bodies.

A notebook loop, a Spark job or a retrying client sends the same ``POST /api/v1/decide`` body
many times a second. Validating it (pydantic) and parsing its operation (classification,
sources) took about a quarter of the fast lane's CPU per dry-run decision (cProfile of
``benchmarks/profile_recorded.py``), and the same bytes always give the same result, so the
fast lane remembers the result for a few seconds by the bytes and the caller's name. What is
remembered is only what follows from the bytes: who acts, the destination's classification
(the server's settings and the filesystem), the operation's id and time are filled in for
every request (:meth:`WireOperation.bind`).

Only bodies that validated are remembered: a malformed one goes to the FastAPI route every
time, which answers 422 with the reason. The key includes the caller's name so that one
caller cannot learn from a faster answer that another sent the same body a moment ago.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from lacuna.remote.wire import WireOperation, parse_operation

MAX_BODY_BYTES = 16 * 1024  # larger bodies are parsed every time (rare; memory stays bounded)
SIZE = 256
TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class DecideBody:
    """A validated ``DecideRequest``: its flags and its operation, parsed."""

    record: bool
    session: str | None
    operation: WireOperation


def parse(body: dict[str, Any]) -> DecideBody | None:
    """``body`` validated as ``DecideRequest`` and its operation parsed, or ``None`` when it
    is not valid (the FastAPI route answers 422 and says why)."""
    from lacuna.server.schemas import DecideRequest

    try:
        request = DecideRequest.model_validate(body)
        operation = parse_operation(request.operation.model_dump(exclude={"user"}))
    except Exception:  # pydantic's ValidationError, a bad field (ValueError, ConfigError...)
        return None
    return DecideBody(record=request.record, session=request.session, operation=operation)


class Bodies:
    """Parsed bodies by ``(caller, bytes)``, for ``ttl_s`` seconds, at most ``size`` of them
    (least recently used dropped). Used from one event loop; no lock is needed as every step
    is one dictionary operation under the GIL."""

    def __init__(self, size: int = SIZE, ttl_s: float = TTL_S) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._entries: OrderedDict[tuple[str, bytes], tuple[float, DecideBody]] = OrderedDict()

    def get(self, caller: str, raw: bytes) -> DecideBody | None:
        """The remembered parse of ``raw`` for ``caller``, if any and still fresh."""
        hit = self._entries.get((caller, raw))
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, caller: str, raw: bytes, body: DecideBody) -> None:
        """Remember ``body`` as the parse of ``raw`` (bodies over ``MAX_BODY_BYTES``: not)."""
        if len(raw) > MAX_BODY_BYTES:
            return
        key = (caller, raw)
        self._entries[key] = (time.monotonic() + self.ttl_s, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
