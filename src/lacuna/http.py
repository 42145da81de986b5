"""Lacuna's one HTTP client: httpx, configured here, with an overall deadline on top.

Three parts of Lacuna talk HTTP: the remote policy client (:mod:`lacuna.policy.remote`), the
decision-log collector sink (:mod:`lacuna.policy.log_sinks`) and the LLM layer of the classifier
(:mod:`lacuna.classify.llm.client`). All of them go through :class:`HttpClient`, so timeouts,
retries, connection limits and TLS settings mean the same thing everywhere
(:class:`HttpSettings`).

**The deadline.** httpx's timeouts are per phase (connect, write, each read): a server that sends
one byte a second never trips a 2 s read timeout. :meth:`HttpClient.request` therefore enforces
one *overall* deadline per call, covering every attempt, the backoff between them, connecting,
sending and reading the whole body:

* the caller waits on a worker thread for at most the deadline, so nothing the network does
  (a black hole, a trickle, a slow TLS handshake) keeps it longer;
* the worker streams the body with a monotonic clock check after every chunk and a size cap
  (``max_body_bytes``), and each phase's timeout is the smaller of ``timeout_s`` and the time
  left, so an abandoned worker ends shortly after the deadline on its own.

Every failure is an :class:`HttpFailure` whose message names it: ``timed out``, ``connection
refused``, ``connection closed before the answer was complete``, ``answer larger than N bytes``,
``HTTP 503: ...``, ``no complete answer within 500 ms (deadline)``. Callers turn it into what
their area needs (a denial, an unavailable LLM, a dropped log batch).

:class:`CircuitBreaker` is the shared breaker: after ``failures`` consecutive failures it opens
and refuses calls at once for ``reset_s`` seconds, then lets one trial call through
(half-open), which closes it again or re-opens it.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import httpx

from lacuna._forks import keep, renew_in_child
from lacuna.redact import redact_text


def _new_pool() -> ThreadPoolExecutor:
    """Workers that run requests while their callers wait with a deadline. A worker abandoned
    at the deadline ends on its own soon after (its phase timeouts are capped by the same
    deadline)."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="lacuna-http")


_POOL = _new_pool()


def _new_pool_in_child() -> None:
    """A forked child has none of the pool's threads, but the pool counted its idle ones: a
    request was queued for a worker that never came, and timed out (a remote decision denied
    after its whole deadline). The child gets a pool of its own."""
    global _POOL
    _POOL = _new_pool()


os.register_at_fork(after_in_child=_new_pool_in_child)
RETRY_STATUSES = frozenset({429, 502, 503, 504, 500})


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How a Lacuna HTTP client behaves (from ``lacuna.yaml``; see docs/policies.md).

    Attributes:
        timeout_s: per phase (connect, send, each read), capped by the time left.
        deadline_s: overall, per call: every attempt, the backoff and the whole body.
        retries: extra attempts after a connection error, a timeout, HTTP 5xx or 429, while
            the deadline leaves time.
        backoff_s: the wait before the first retry; doubled for each next one.
        max_body_bytes: a longer answer is a failure (``answer larger than N bytes``).
        max_connections: kept-alive connections per client (all threads).
        verify: check the server's TLS certificate (``False`` only for tests).
        ca_file: a PEM bundle of CAs to trust instead of the system's.
        headers: sent with every request (e.g. ``Authorization``).
    """

    timeout_s: float = 2.0
    deadline_s: float = 0.5
    retries: int = 0
    backoff_s: float = 0.05
    max_body_bytes: int = 1 << 20
    max_connections: int = 10
    verify: bool = True
    ca_file: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.deadline_s <= 0:
            msg = "HttpSettings: timeout_s and deadline_s must be positive"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete answer: status, the whole body (at most ``max_body_bytes``), attempts."""

    status: int
    body: bytes
    attempts: int


class HttpFailure(Exception):
    """No usable answer; the message says what happened (``kind`` classifies it).

    ``kind`` is one of ``unreachable``, ``timeout``, ``closed``, ``too_large``, ``status``,
    ``deadline``; ``status`` is the last HTTP status for ``status`` failures.
    """

    def __init__(self, reason: str, *, kind: str, attempts: int = 1,
                 status: int | None = None) -> None:
        reason = redact_text(reason)  # a transport error may quote the URL, with its secrets
        if kind != "deadline":
            counted = f"{attempts} attempt" if attempts == 1 else f"{attempts} attempts"
            super().__init__(f"{reason} (after {counted})")
        else:
            super().__init__(reason)
        self.reason, self.kind, self.attempts, self.status = reason, kind, attempts, status


class _Attempt(Exception):
    """One attempt failed (internal: retried, or turned into an HttpFailure)."""

    def __init__(self, reason: str, kind: str, status: int | None = None,
                 retry: bool = True) -> None:
        super().__init__(reason)
        self.reason, self.kind, self.status, self.retry = reason, kind, status, retry


class HttpClient:
    """An httpx client configured from :class:`HttpSettings`; thread-safe.

    Example:
        >>> client = HttpClient(HttpSettings(deadline_s=0.2))
        >>> client.settings.deadline_s
        0.2
        >>> client.close()
    """

    def __init__(self, settings: HttpSettings | None = None, *, https: bool = True) -> None:
        self.settings = s = settings or HttpSettings()
        # Loading CA certificates costs 0.1-0.5 s: once per process (and CA file), and not at
        # all for a client that only speaks plain http (``https=False``: no TLS to verify).
        self._verify: bool | ssl.SSLContext = (_tls_context(s.ca_file) if https and s.verify
                                               else False)
        self._client: httpx.Client | None = self._new_client()
        self._closed = False
        self._lock = threading.Lock()
        renew_in_child(self)

    def _new_client(self) -> httpx.Client:
        s = self.settings
        return httpx.Client(
            timeout=httpx.Timeout(s.timeout_s),
            limits=httpx.Limits(max_connections=s.max_connections,
                                max_keepalive_connections=s.max_connections),
            verify=self._verify, headers=dict(s.headers), follow_redirects=False)

    def _http(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._new_client()
                client = self._client
        return client

    def _after_fork_in_child(self) -> None:
        """A forked child opens connections of its own (:mod:`lacuna._forks`): on the
        parent's kept-alive ones, the two processes' requests and answers would interleave
        (one could read the answer meant for the other). The parent's are kept open, unused:
        closing a TLS connection here would end the parent's session."""
        keep(self._client)
        self._lock = threading.Lock()
        if not self._closed:  # (a closed client stays closed)
            self._client = None  # made at the child's first request (a fork stays cheap)

    def request(self, method: str, url: str, *, content: bytes | None = None,
                headers: Mapping[str, str] | None = None,
                deadline_s: float | None = None) -> HttpResponse:
        """One call, retried within the deadline; returns the whole answer.

        Any HTTP status is returned except the retried ones (5xx, 429), which fail after the
        last attempt. ``deadline_s`` overrides the settings' deadline for this call.

        Raises:
            HttpFailure: no usable answer before the deadline (the message says why).
        """
        budget = self.settings.deadline_s if deadline_s is None else deadline_s
        if budget <= 0:
            msg = "no time left before the deadline"
            raise HttpFailure(msg, kind="deadline", attempts=0)
        deadline = time.monotonic() + budget
        future = _POOL.submit(self._attempts, method, url, content, dict(headers or {}),
                              deadline)
        within = f"no complete answer within {budget * 1000:.0f} ms (deadline"
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            msg = f"{within})"
            raise HttpFailure(msg, kind="deadline") from None
        except HttpFailure as exc:
            if exc.kind == "timeout" and time.monotonic() >= deadline - 0.01:
                # The worker's own (deadline-capped) timeout fired first: the same failure.
                msg = f"{within}; {exc.reason})"
                raise HttpFailure(msg, kind="deadline", attempts=exc.attempts) from None
            raise

    def _attempts(self, method: str, url: str, content: bytes | None,
                  headers: dict[str, str], deadline: float) -> HttpResponse:
        s = self.settings
        last: _Attempt | None = None
        made = 0
        for attempt in range(s.retries + 1):
            if attempt:
                pause = s.backoff_s * 2 ** (attempt - 1)
                if time.monotonic() + pause >= deadline:
                    break
                time.sleep(pause)
            made += 1
            try:
                status, body = self._once(method, url, content, headers, deadline)
                return HttpResponse(status, body, made)
            except _Attempt as exc:
                last = exc
                if not exc.retry or time.monotonic() >= deadline:
                    break
        assert last is not None
        raise HttpFailure(last.reason, kind=last.kind, attempts=made, status=last.status)

    def _once(self, method: str, url: str, content: bytes | None, headers: dict[str, str],
              deadline: float) -> tuple[int, bytes]:
        left = deadline - time.monotonic()
        if left <= 0:
            msg = "timed out (deadline reached)"
            raise _Attempt(msg, "timeout", retry=False)
        timeout = httpx.Timeout(min(self.settings.timeout_s, left))
        cap = self.settings.max_body_bytes
        try:
            with self._http().stream(method, url, content=content, headers=headers,
                                     timeout=timeout) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    msg = f"answer larger than {cap} bytes (Content-Length {declared})"
                    raise _Attempt(msg, "too_large", retry=False)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        msg = f"answer larger than {cap} bytes"
                        raise _Attempt(msg, "too_large", retry=False)
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        msg = (f"answer still arriving at the deadline, {size} bytes so far: "
                               "the server sends too slowly")
                        raise _Attempt(msg, "timeout", retry=False)
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise _Attempt(_timeout_reason(exc), "timeout") from None
        except httpx.RemoteProtocolError as exc:
            raise _Attempt(_closed_reason(exc), "closed") from None
        except (httpx.TransportError, OSError) as exc:
            raise _Attempt(_reason(exc), "unreachable") from None
        body = b"".join(chunks)
        if status in RETRY_STATUSES:
            msg = f"HTTP {status}: {message(body)}"
            raise _Attempt(msg, "status", status=status)
        return status, body

    def close(self) -> None:
        """Close the kept-alive connections."""
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._client is not None:
                    self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class CircuitBreaker:
    """Closed → (N failures) → open → (reset time) → half-open → one trial → closed or open."""

    def __init__(self, failures: int, reset_s: float) -> None:
        self.failures, self.reset_s = max(1, failures), reset_s
        self._count, self._opened = 0, 0.0
        self._trial = False
        self._lock = threading.Lock()
        self.last_failure = ""

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._count < self.failures:
            return "closed"
        return "half-open" if time.monotonic() - self._opened >= self.reset_s else "open"

    def retry_in(self) -> float:
        """Seconds until the breaker half-opens (0 when closed or half-open)."""
        with self._lock:
            if self._count < self.failures:
                return 0.0
            return max(0.0, self.reset_s - (time.monotonic() - self._opened))

    def allow(self) -> bool:
        """Whether a call may go out now (at most one trial while half-open)."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._count, self._trial = 0, False

    def failure(self, reason: str = "") -> None:
        with self._lock:
            self._count += 1
            self._trial = False
            self.last_failure = reason or self.last_failure
            if self._count >= self.failures:
                self._opened = time.monotonic()


_CONTEXTS: dict[str | None, ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying TLS context for ``ca_file`` (``None``: certifi's CAs, as httpx uses)."""
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(ca_file)
        if context is None:
            import certifi

            context = ssl.create_default_context(cafile=ca_file or certifi.where())
            _CONTEXTS[ca_file] = context
        return context


def message(raw: bytes) -> str:
    """A short text for an error body (OPA's ``message``/``code``, else the first bytes)."""
    import json

    try:
        body: Any = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(body, Mapping):
        return str(body.get("message") or body.get("code") or body)[:500]
    return str(body)[:500]


def _timeout_reason(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    return "timed out"


def _closed_reason(exc: httpx.RemoteProtocolError) -> str:
    text = str(exc)
    if "without sending complete message body" in text or "incomplete" in text.lower():
        return "connection closed before the answer was complete"
    if "disconnected without sending a response" in text:
        return "connection closed without an answer"
    return f"malformed HTTP answer ({text or type(exc).__name__})"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not text:
        text = str(cause)
        cause = cause.__cause__ or cause.__context__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return f"cannot resolve the host ({text})"
    return text or type(exc).__name__
