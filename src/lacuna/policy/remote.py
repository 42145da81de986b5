"""Decisions from a remote OPA server, through its Data API.

The server holds a bundle written by ``lacuna policy bundle`` (:mod:`lacuna.policy.opa_bundle`),
which includes the generated ``lacuna.decision`` aggregator. One request decides one operation::

    POST {url}/v1/data/lacuna/decision/result
    {"input": <the policy input>}
    -> 200 {"result": {"allowed": ..., "votes": [...], "explanation": {...},
                       "metadata": {...}, "revision": ...}, "decision_id": "..."}

and the answer becomes a :class:`~lacuna.model.Decision` by the same code the embedded engine
uses (:func:`lacuna.policy.decide.build`), so both give the same decision for the same bundle.

**Failure is a denial.** Connection errors, timeouts and HTTP 5xx/429 are retried
(``retries`` times, waiting ``backoff_ms`` then doubling); if the server still cannot answer,
or answers with an HTTP error, no result, or not a Lacuna decision, the operation is denied with
``Decision.engine_error`` saying so (e.g. *OPA server http://opa:8181 unreachable after 3
attempts: Connection refused*), and the failure is logged at ERROR. Connections are kept alive
(one per thread).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError
from lacuna.model import Decision
from lacuna.policy.aggregate import DATA_API_PATH
from lacuna.policy.compile import PolicyPackage
from lacuna.policy.decide import build
from lacuna.policy.decision_log import DecisionEvent
from lacuna.policy.inputs import build_input

if TYPE_CHECKING:
    from lacuna.model import Operation
    from lacuna.policy.decision_log import DecisionLogSink

log = logging.getLogger(__name__)
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class RemoteUnavailable(Exception):  # internal: always turned into a Decision
    """The server could not give a usable answer (the message says why)."""


class RemoteEngine:
    """Decides operations through an OPA server's Data API (same interface as PolicyEngine).

    Args:
        url: the server, e.g. ``http://opa.internal:8181``.
        path: the Data API path of the decision (the aggregator's ``result``).
        timeout_ms: per attempt (connect and answer).
        retries: extra attempts after a connection error, timeout, HTTP 5xx or 429.
        backoff_ms: the wait before the first retry; doubled for each next one.
        docs_url: documentation base, as for :class:`PolicyEngine`.
        decision_log: a sink that receives every decision.
        headers: extra request headers (e.g. ``{"Authorization": "Bearer ..."}``).

    Raises:
        ConfigError: the URL is not an http(s) URL.
    """

    def __init__(self, url: str, *, path: str = DATA_API_PATH, timeout_ms: int = 2000,
                 retries: int = 2, backoff_ms: int = 50, docs_url: str | None = None,
                 decision_log: DecisionLogSink | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            msg = (f"policy.server.url {url!r} is not an http(s) URL. Use e.g. "
                   "http://opa.internal:8181.")
            raise ConfigError(msg)
        self.url = url.rstrip("/")
        self.path = path.strip("/")
        self.timeout_s = timeout_ms / 1000.0
        self.retries = max(0, retries)
        self.backoff_s = backoff_ms / 1000.0
        self.docs_url = docs_url
        self.decision_log = decision_log
        self.revision: str | None = None  # the last revision the server reported
        self._split = parsed
        self._target = f"{parsed.path.rstrip('/')}/v1/data/{self.path}"
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._local = threading.local()
        self._packages: dict[str, PolicyPackage] = {}
        self._connections: list[http.client.HTTPConnection] = []
        self._conn_lock = threading.Lock()

    @classmethod
    def from_settings(cls, server: Mapping[str, Any] | Any, *, docs_url: str | None = None,
                      decision_log: DecisionLogSink | None = None) -> RemoteEngine:
        """Build from the ``policy.server`` setting (a mapping or an object)::

            policy:
              server: {url: http://opa:8181, timeout_ms: 2000, retries: 2,
                       path: lacuna/decision/result, headers: {}}

        Raises:
            ConfigError: no url, or not an http(s) URL.
        """
        get = server.get if isinstance(server, Mapping) else (
            lambda key, default=None: getattr(server, key, default))
        url = get("url", None)
        if not url:
            msg = "policy.server needs url: the OPA server, e.g. http://opa.internal:8181."
            raise ConfigError(msg)
        return cls(str(url), path=str(get("path", None) or DATA_API_PATH),
                   timeout_ms=int(get("timeout_ms", 2000) or 2000),
                   retries=int(get("retries", 2) if get("retries", 2) is not None else 2),
                   backoff_ms=int(get("backoff_ms", 50) or 50),
                   headers=dict(get("headers", None) or {}), docs_url=docs_url,
                   decision_log=decision_log)

    def decide(self, operation: Operation, *, exception_approved: bool = False,
               exception_approver_role: str | None = None) -> Decision:
        """Decide one operation on the server. Never raises: failures are denials."""
        started = time.perf_counter()
        try:
            doc = build_input(operation, exception_approved=exception_approved,
                              exception_approver_role=exception_approver_role)
        except Exception as exc:  # fail closed: a bad operation
            return replace(self._failure(f"the policy input is invalid: {exc}", operation.id,
                                         started), operation=operation)
        return replace(self._decide(doc, operation.id, started), operation=operation)

    def evaluate(self, doc: Mapping[str, Any], *, operation_id: str = "") -> Decision:
        """Decide a raw policy input document on the server. Never raises."""
        return self._decide(doc, operation_id, time.perf_counter())

    def health(self) -> bool:
        """Whether ``GET /health`` answers 200."""
        try:
            status, _ = self._request("GET", f"{self._split.path.rstrip('/')}/health", None)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    def _decide(self, doc: Mapping[str, Any], operation_id: str, started: float) -> Decision:
        decision_id = None
        try:
            answer = self._post({"input": doc})
            decision_id = answer.get("decision_id")
            result = answer.get("result")
            if not isinstance(result, Mapping):
                msg = (f"OPA server {self.url} returned no result for /v1/data/{self.path}: "
                       "load the Lacuna bundle there (lacuna policy bundle DIR -o "
                       "bundle.tar.gz) or fix policy.server.path")
                raise RemoteUnavailable(msg)
            if not isinstance(result.get("votes"), list) or not isinstance(
                    result.get("metadata"), Mapping):
                msg = (f"OPA server {self.url} returned a result for /v1/data/{self.path} that "
                       "is not a Lacuna decision (no votes/metadata): point policy.server.path "
                       "at the aggregator (lacuna/decision/result)")
                raise RemoteUnavailable(msg)
            revision = str(result.get("revision") or "") or None
            self.revision = revision
            decision = build(result, self._lookup(result["metadata"]), doc,
                             operation_id=operation_id, revision=revision,
                             docs_url=self.docs_url, started=started)
        except RemoteUnavailable as exc:
            decision = self._failure(str(exc), operation_id, started)
        except Exception as exc:  # a malformed answer: still a denial
            decision = self._failure(f"OPA server {self.url} returned an unusable answer: {exc}",
                                     operation_id, started)
        if self.decision_log is not None:
            self.decision_log.log(DecisionEvent(
                decision, doc, self.path, time.time_ns(),
                int((time.perf_counter() - started) * 1e9), False, decision_id))
        return decision

    def _lookup(self, metadata: Mapping[str, Any]) -> Any:
        def lookup(name: str) -> PolicyPackage:
            meta = metadata.get(name) or {}
            key = f"{name}\0{_encode(meta)}"
            package = self._packages.get(key)
            if package is None:
                package = PolicyPackage(name=name, rules=frozenset(), metadata=dict(meta))
                self._packages[key] = package
            return package
        return lookup

    def _failure(self, detail: str, operation_id: str, started: float) -> Decision:
        log.error("remote policy decision failed; denying operation %s (fail closed): %s",
                  operation_id, detail)
        return Decision(
            allowed=False, operation_id=operation_id, engine_error=detail,
            bundle_revision=self.revision, eval_ms=(time.perf_counter() - started) * 1000.0,
            reasoning=(f"Denied because the policy server could not decide (fail closed): "
                       f"{detail}. Try again, or tell the platform team."),
        )

    def _post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        payload = _encode(body).encode("utf-8")
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                status, raw = self._request("POST", self._target, payload)
            except (OSError, http.client.HTTPException) as exc:
                last = f"unreachable after {_attempts(attempt + 1)}: {_reason(exc)}"
                continue
            if status >= 500 or status == 429:
                last = f"returned HTTP {status} after {_attempts(attempt + 1)}: {_message(raw)}"
                continue
            if status != 200:
                msg = (f"OPA server {self.url} returned HTTP {status} for POST "
                       f"/v1/data/{self.path}: {_message(raw)}")
                raise RemoteUnavailable(msg)
            try:
                answer = json.loads(raw)
            except ValueError:
                msg = f"OPA server {self.url} returned a response that is not JSON"
                raise RemoteUnavailable(msg) from None
            if not isinstance(answer, dict):
                msg = f"OPA server {self.url} returned a response that is not a JSON object"
                raise RemoteUnavailable(msg)
            return answer
        msg = f"OPA server {self.url} {last}"
        raise RemoteUnavailable(msg)

    def _request(self, method: str, target: str, body: bytes | None) -> tuple[int, bytes]:
        """One request on this thread's kept-alive connection (reconnecting once if stale)."""
        for fresh in (False, True):
            conn = self._connection(fresh)
            reused = getattr(conn, "_lacuna_used", False)
            try:
                conn.request(method, target, body=body, headers=self._headers)
                response = conn.getresponse()
                data = response.read()
                conn._lacuna_used = True  # type: ignore[attr-defined]
                return response.status, data
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                with self._conn_lock:
                    if conn in self._connections:
                        self._connections.remove(conn)
                if not reused or fresh or isinstance(exc, TimeoutError):
                    raise
        msg = "unreachable"  # pragma: no cover - the loop returns or raises
        raise AssertionError(msg)  # pragma: no cover

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            host, port = self._split.hostname or "", self._split.port
            cls = (http.client.HTTPSConnection if self._split.scheme == "https"
                   else http.client.HTTPConnection)
            conn = cls(host, port, timeout=self.timeout_s)
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close the kept-alive connections (of every thread)."""
        with self._conn_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteEngine(url={self.url!r}, path={self.path!r})"


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(body, Mapping):
        return str(body.get("message") or body.get("code") or body)[:500]
    return str(body)[:500]
