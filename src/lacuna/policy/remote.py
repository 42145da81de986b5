"""Decisions from a remote OPA server, through its Data API.

The server holds a bundle written by ``lacuna policy bundle`` (:mod:`lacuna.policy.opa_bundle`),
which includes the generated ``lacuna.decision`` aggregator. One request decides one operation::

    POST {url}/v1/data/lacuna/decision/result
    {"input": <the policy input>}
    -> 200 {"result": {"allowed": ..., "votes": [...], "explanation": {...},
                       "metadata": {...}, "revision": ...}, "decision_id": "..."}

and the answer becomes a :class:`~lacuna.model.Decision` by the same code the embedded engine
uses (:func:`lacuna.policy.decide.build`), so both give the same decision for the same bundle.

**The answer is checked, not trusted** (:mod:`lacuna.policy.remote_answer`): booleans only,
well-formed votes, and deny votes win, so ``{"allowed": "false"}`` or ``allowed: true`` beside
a ``deny`` vote is a denial that says what was wrong.

**Failure is a denial, within a deadline.** Requests go through :class:`lacuna.http.HttpClient`
(httpx): one overall deadline per decision (``deadline_ms``, default 500 ms: connect, send,
retries and reading the whole body), per-phase timeouts (``timeout_ms``), a size cap
(``max_response_bytes``). Connection errors, timeouts and HTTP 5xx/429 are retried while the
deadline leaves time. If the server still cannot answer, or answers with an HTTP error, no
result, or not a valid Lacuna decision, the operation is denied with ``Decision.engine_error``
naming the failure (e.g. *OPA server http://opa:8181: connection refused (after 3 attempts)*),
logged at ERROR. **Circuit breaker:** after ``breaker_failures`` consecutive failed decisions
(default 1) the engine denies at once, without a request, for ``breaker_reset_ms`` (default
5 s); then one trial decision goes out, and a good answer closes the breaker again. A dead
server costs one deadline, not one per operation.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError
from lacuna.http import CircuitBreaker, HttpClient, HttpFailure, HttpSettings, message
from lacuna.model import Decision
from lacuna.policy.aggregate import DATA_API_PATH
from lacuna.policy.compile import PolicyPackage
from lacuna.policy.decide import build
from lacuna.policy.decision_log import DecisionEvent
from lacuna.policy.inputs import build_input
from lacuna.policy.jsontext import dumps_bytes, dumps_sorted
from lacuna.policy.remote_answer import InvalidAnswer, check_answer
from lacuna.redact import redact_text, redact_url

if TYPE_CHECKING:
    from lacuna.model import Operation
    from lacuna.policy.decision_log import DecisionLogSink

log = logging.getLogger(__name__)


class RemoteUnavailable(Exception):  # internal: always turned into a Decision
    """The server could not give a usable answer (the message says why)."""


class RemoteEngine:
    """Decides operations through an OPA server's Data API (same interface as PolicyEngine).

    Args:
        url: the server, e.g. ``http://opa.internal:8181``.
        path: the Data API path of the decision (the aggregator's ``result``).
        timeout_ms: per phase of an attempt (connect, send, each read), capped by the deadline.
        retries: extra attempts after a connection error, timeout, HTTP 5xx or 429, while the
            deadline leaves time.
        backoff_ms: the wait before the first retry; doubled for each next one.
        deadline_ms: overall time for one decision's request(s), body included.
        breaker_failures: consecutive failed decisions that open the circuit breaker.
        breaker_reset_ms: how long an open breaker denies without asking the server.
        max_response_bytes: a longer answer is a failure.
        tls_verify: check the server's certificate (https).
        ca_file: a PEM file of CAs to trust for the server's certificate.
        max_connections: kept-alive connections to the server (all threads).
        docs_url: documentation base, as for :class:`PolicyEngine`.
        decision_log: a sink that receives every decision.
        headers: extra request headers (e.g. ``{"Authorization": "Bearer ..."}``).

    Raises:
        ConfigError: the URL is not an http(s) URL, or a limit is not positive.
    """

    def __init__(self, url: str, *, path: str = DATA_API_PATH, timeout_ms: int = 2000,
                 retries: int = 2, backoff_ms: int = 50, deadline_ms: int = 500,
                 breaker_failures: int = 1, breaker_reset_ms: int = 5000,
                 max_response_bytes: int = 1 << 20, tls_verify: bool = True,
                 ca_file: str | None = None, max_connections: int = 10,
                 docs_url: str | None = None, decision_log: DecisionLogSink | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            msg = (f"policy.server.url {redact_url(url)!r} is not an http(s) URL. Use e.g. "
                   "http://opa.internal:8181.")
            raise ConfigError(msg)
        for key, value in (("timeout_ms", timeout_ms), ("deadline_ms", deadline_ms),
                           ("max_response_bytes", max_response_bytes),
                           ("max_connections", max_connections)):
            if value <= 0:
                msg = f"policy.server.{key} must be positive, not {value}."
                raise ConfigError(msg)
        self.url = url.rstrip("/")
        self.shown = redact_url(self.url)  # what messages, logs and decisions show
        self.path = path.strip("/")
        self.timeout_s = timeout_ms / 1000.0
        self.deadline_s = deadline_ms / 1000.0
        self.retries = max(0, retries)
        self.backoff_s = backoff_ms / 1000.0
        self.docs_url = docs_url
        self.decision_log = decision_log
        self.revision: str | None = None  # the last revision the server reported
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_ms / 1000.0)
        base = f"{self.url}"
        self._target = f"{base}/v1/data/{self.path}"
        self._health = f"{base}/health"
        self._http = HttpClient(HttpSettings(
            timeout_s=self.timeout_s, deadline_s=self.deadline_s, retries=self.retries,
            backoff_s=self.backoff_s, max_body_bytes=max_response_bytes,
            max_connections=max_connections, verify=tls_verify, ca_file=ca_file,
            headers=tuple({"Content-Type": "application/json", **(headers or {})}.items())),
            https=parsed.scheme == "https")
        self._packages: dict[str, PolicyPackage] = {}

    @classmethod
    def from_settings(cls, server: Mapping[str, Any] | Any, *, docs_url: str | None = None,
                      decision_log: DecisionLogSink | None = None) -> RemoteEngine:
        """Build from the ``policy.server`` setting (a mapping or an object)::

            policy:
              server: {url: http://opa:8181, deadline_ms: 500, timeout_ms: 2000, retries: 2,
                       breaker_failures: 1, breaker_reset_ms: 5000, tls_verify: true,
                       ca_file: null, path: lacuna/decision/result, headers: {}}

        Raises:
            ConfigError: no url, not an http(s) URL, or a limit that is not positive.
        """
        get = server.get if isinstance(server, Mapping) else (
            lambda key, default=None: getattr(server, key, default))
        url = get("url", None)
        if not url:
            msg = "policy.server needs url: the OPA server, e.g. http://opa.internal:8181."
            raise ConfigError(msg)

        def number(key: str, default: int) -> int:
            value = get(key, None)
            return default if value is None else int(value)

        ca_file = get("ca_file", None)
        return cls(str(url), path=str(get("path", None) or DATA_API_PATH),
                   timeout_ms=number("timeout_ms", 2000), retries=number("retries", 2),
                   backoff_ms=number("backoff_ms", 50), deadline_ms=number("deadline_ms", 500),
                   breaker_failures=number("breaker_failures", 1),
                   breaker_reset_ms=number("breaker_reset_ms", 5000),
                   max_response_bytes=number("max_response_bytes", 1 << 20),
                   max_connections=number("max_connections", 10),
                   tls_verify=bool(get("tls_verify", True)),
                   ca_file=None if ca_file is None else str(ca_file),
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
        """Whether ``GET /health`` answers 200 (within the deadline)."""
        try:
            return self._http.request("GET", self._health).status == 200
        except HttpFailure:
            return False

    def _decide(self, doc: Mapping[str, Any], operation_id: str, started: float) -> Decision:
        decision_id = None
        if not self.breaker.allow():
            decision = self._failure(
                f"OPA server {self.shown}: circuit breaker open after "
                f"{_count(self.breaker.failures, 'consecutive failure')} (last: "
                f"{self.breaker.last_failure or 'unknown'}); no request sent, next try in "
                f"{self.breaker.retry_in():.1f} s", operation_id, started, quiet=True)
        else:
            try:
                result, decision_id = self._ask(doc)
                revision = result.get("revision") or None
                self.revision = revision
                decision = build(result, self._lookup(result["metadata"]), doc,
                                 operation_id=operation_id, revision=revision,
                                 docs_url=self.docs_url, started=started)
            except Exception as exc:  # RemoteUnavailable, or anything unexpected: deny
                detail = str(exc) if isinstance(exc, RemoteUnavailable) else (
                    f"OPA server {self.shown} returned an unusable answer: {exc}")
                self.breaker.failure(detail)
                decision = self._failure(detail, operation_id, started)
            else:
                self.breaker.success()
        if self.decision_log is not None:
            self.decision_log.log(DecisionEvent(
                decision, doc, self.path, time.time_ns(),
                int((time.perf_counter() - started) * 1e9), False, decision_id))
        return decision

    def _ask(self, doc: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """The checked ``result`` and ``decision_id`` for ``doc``.

        Raises:
            RemoteUnavailable: no valid answer (the message names the failure).
        """
        where = f"POST /v1/data/{self.path}"
        try:
            response = self._http.request("POST", self._target,
                                          content=dumps_bytes({"input": doc}))
        except HttpFailure as exc:
            if exc.kind == "status":
                msg = (f"OPA server {self.shown} returned HTTP {exc.status} after "
                       f"{_count(exc.attempts, 'attempt')}: {exc.reason.split(': ', 1)[-1]}")
            elif exc.kind == "unreachable":
                msg = (f"OPA server {self.shown} unreachable after "
                       f"{_count(exc.attempts, 'attempt')}: {exc.reason}")
            else:
                msg = f"OPA server {self.shown}: {exc}"
            raise RemoteUnavailable(msg) from None
        if response.status != 200:
            msg = (f"OPA server {self.shown} returned HTTP {response.status} for {where}: "
                   f"{message(response.body)}")
            raise RemoteUnavailable(msg)
        try:
            answer = json.loads(response.body)
        except ValueError as exc:
            msg = f"OPA server {self.shown} returned a response that is not JSON ({exc})"
            raise RemoteUnavailable(msg) from None
        result = answer.get("result") if isinstance(answer, Mapping) else None
        if isinstance(answer, Mapping) and result is None:
            msg = (f"OPA server {self.shown} returned no result for /v1/data/{self.path}: "
                   "load the Lacuna bundle there (lacuna policy bundle DIR -o "
                   "bundle.tar.gz) or fix policy.server.path")
            raise RemoteUnavailable(msg)
        if isinstance(result, Mapping) and isinstance(result.get("result"), Mapping):
            # a package's document (policy.server.path lacuna/decision): its rules' values,
            # which hold a top-level `allowed` beside the decision but not the decision itself
            msg = (f"OPA server {self.shown} returned a package's document for /v1/data/"
                   f"{self.path}, not a Lacuna decision: point policy.server.path at the "
                   "aggregator's rule (lacuna/decision/result)")
            raise RemoteUnavailable(msg)
        if isinstance(result, Mapping) and not {"allowed", "votes"} & result.keys():
            msg = (f"OPA server {self.shown} returned a result for /v1/data/{self.path} that "
                   "is not a Lacuna decision (no allowed/votes): point policy.server.path "
                   "at the aggregator (lacuna/decision/result)")
            raise RemoteUnavailable(msg)
        try:
            return check_answer(answer)
        except InvalidAnswer as exc:
            msg = f"OPA server {self.shown} returned an invalid decision for {where}: {exc}"
            raise RemoteUnavailable(msg) from None

    def _lookup(self, metadata: Mapping[str, Any]) -> Any:
        def lookup(name: str) -> PolicyPackage:
            meta = metadata.get(name) or {}
            key = f"{name}\0{dumps_sorted(meta)}"
            package = self._packages.get(key)
            if package is None:
                package = PolicyPackage(name=name, rules=frozenset(), metadata=dict(meta))
                self._packages[key] = package
            return package
        return lookup

    def _failure(self, detail: str, operation_id: str, started: float, *,
                 quiet: bool = False) -> Decision:
        detail = redact_text(detail)  # a transport error may quote the URL it failed on
        (log.warning if quiet else log.error)(
            "remote policy decision failed; denying operation %s (fail closed): %s",
            operation_id, detail)
        return Decision(
            allowed=False, operation_id=operation_id, engine_error=detail,
            bundle_revision=self.revision, eval_ms=(time.perf_counter() - started) * 1000.0,
            reasoning=(f"Denied because the policy server could not decide (fail closed): "
                       f"{detail}. Try again, or tell the platform team."),
        )

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteEngine(url={self.shown!r}, path={self.path!r})"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"
