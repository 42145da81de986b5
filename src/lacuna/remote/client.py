"""Govern through a Lacuna server: decisions, audit, lineage and exceptions over its HTTP API.

When ``lacuna.yaml`` has ``server: {url: http://lacuna:8181}`` (the token comes from
``$LACUNA_TOKEN``, or ``token_env`` names another variable), the governor uses:

- :class:`ServerEngine` as its policy engine: ``POST /api/v1/decide`` decides *and* records
  the decision on the server's audit trail, as the token's user; exception grants and the
  checked alternatives are the server's (``complete_decisions``: the governor adds nothing);
- :class:`ServerAudit` as its audit trail: it hands back the record the server wrote for the
  decision, and sends outcomes (``POST /api/v1/audit/outcomes``);
- :class:`ServerLineage` for lineage: runs go to the server as OpenLineage events
  (``POST /api/v1/lineage``), queries go to ``/api/v1/lineage/...``;
- :class:`ServerExceptions` for ``lacuna.request_exception`` and ``lacuna exceptions``.

**Fail closed, within a bound.** Every call has one deadline (``deadline_ms``, default 2 s)
through :class:`lacuna.http.HttpClient`; an unreachable server, a timeout, an HTTP error or an
answer that is not a decision is a denial that says so (*Lacuna server http://lacuna:8181
unreachable …: denied (fail closed)*). After ``breaker_failures`` failed decisions the breaker
denies at once for ``breaker_reset_ms``.
"""

from __future__ import annotations

import builtins
import contextvars
import json
import logging
import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lacuna.errors import AuditError, ConfigError, LacunaError, LineageError
from lacuna.http import CircuitBreaker, HttpClient, HttpFailure, HttpSettings, message
from lacuna.identity.names import same_name
from lacuna.model import Decision, utcnow
from lacuna.policy.jsontext import escaped
from lacuna.redact import redact_text, redact_url
from lacuna.remote.wire import decision_from_wire, operation_to_wire, wire_name

if TYPE_CHECKING:
    from lacuna.audit import AuditRecord
    from lacuna.config import Config
    from lacuna.exceptions.model import ExceptionRequest, Status
    from lacuna.exceptions.store import WrittenFile
    from lacuna.lineage.graph import LineageGraph
    from lacuna.lineage.records import DatasetRef, Run
    from lacuna.model import Classification, Operation
    from lacuna.retention.holds import Hold
    from lacuna.retention.keeping import RuleHold

log = logging.getLogger("lacuna.remote")
# the operation the server last allowed under an exception in this context (its id, the
# exception's): the write that follows reports its file under that decision
_ALLOWED: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "lacuna_server_allowed", default=None)
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class ServerUnavailable(LacunaError):
    """The Lacuna server gave no usable answer (the message says why and what to do);
    ``status`` is the HTTP status of an error answer (None: no answer) and ``detail`` the
    server's message in it."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class NotOnThisHost(LacunaError):
    """A command that reads this host's state database, with ``server:`` configured: the
    decisions, audit records and lineage are the server's (the message says where to look)."""


def refuse_local_state(config: Config, command: str, instead: str) -> None:
    """Refuse ``command`` when ``config`` governs through a Lacuna server: it reads this
    host's state database (``audit.url``), which a server's client never writes, so its
    answer (no records, an intact empty trail, no lineage) would be about nothing.

    Raises:
        NotOnThisHost: ``config.server`` is set (the message names the server and ``instead``).
    """
    if config.server is None:
        return
    msg = (f"{command} reads this host's state database, but lacuna.yaml governs through the "
           f"Lacuna server {redact_url(str(config.server.url))} (server:): its decisions, audit "
           f"records and lineage are recorded there, not here. {instead}")
    raise NotOnThisHost(msg)


def host_name(host: str | None = None) -> str:
    """This machine's name (``host``: another) as a client names itself to a server in every
    request (:data:`~lacuna.lineage.seen.HOST_HEADER`): the paths its operations name are
    this host's, and so are the retention clocks the server keeps for them. Percent-encoded
    (a header is ASCII, and no ``/`` may end the host of ``file://<host>/<path>``); a name
    longer than 255 characters so is sent as a digest of it."""
    import hashlib

    from lacuna.exceptions.files import this_host

    name = urllib.parse.quote(this_host() if host is None else host, safe="")
    if len(name) <= 255:
        return name
    return "sha256-" + hashlib.sha256(name.encode()).hexdigest()


class ServerClient:
    """An authenticated JSON client for one Lacuna server (thread-safe). Every request names
    this host (:func:`host_name`)."""

    def __init__(self, settings: Any) -> None:
        from lacuna.lineage.seen import HOST_HEADER

        url = str(settings.url).rstrip("/")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            msg = (f"server.url {redact_url(url)!r} is not an http(s) URL; use e.g. "
                   "http://lacuna:8181")
            raise ConfigError(msg)
        token = settings.token or os.environ.get(settings.token_env or "LACUNA_TOKEN")
        if not token:
            msg = (f"server.url is {redact_url(url)} but no API token is set: put it in "
                   f"${settings.token_env or 'LACUNA_TOKEN'} (from `lacuna users add`)")
            raise ConfigError(msg)
        self.url = url
        self.shown = redact_url(url)  # what messages and logs show
        self.deadline_s = settings.deadline_ms / 1000.0
        self.breaker = CircuitBreaker(settings.breaker_failures,
                                      settings.breaker_reset_ms / 1000.0)
        self._http = HttpClient(HttpSettings(
            timeout_s=settings.timeout_ms / 1000.0, deadline_s=self.deadline_s,
            retries=settings.retries, max_body_bytes=8 << 20,
            max_connections=10, verify=settings.tls_verify, ca_file=settings.ca_file,
            headers=(("Content-Type", "application/json"),
                     ("Authorization", f"Bearer {token}"), (HOST_HEADER, host_name()))),
            https=parsed.scheme == "https")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer of ``method path``.

        Raises:
            ServerUnavailable: no answer within the deadline, an HTTP error (with the server's
                message), or an answer that is not JSON.
        """
        where = f"Lacuna server {self.shown}"
        try:
            response = self._http.request(  # a name that is not UTF-8 as its escape: the
                method, f"{self.url}{path}",  # server refuses a lone surrogate (a 422 denial)
                content=None if body is None else _encode(escaped(body)).encode("utf-8"))
        except HttpFailure as exc:
            what = "unreachable" if exc.kind == "unreachable" else "did not answer"
            msg = f"{where} {what} ({exc}) for {method} {path}"
            raise ServerUnavailable(msg) from None
        if response.status >= 400:
            detail = message(response.body)
            msg = f"{where} answered HTTP {response.status} for {method} {path}: {detail}"
            raise ServerUnavailable(msg, status=response.status, detail=detail)
        if not 200 <= response.status < 300:  # a redirect: not followed (the token stays
            # here), and not an answer (an outcome "sent" to it was silently not recorded)
            msg = (f"{where} answered HTTP {response.status} for {method} {path}: a Lacuna "
                   "server never redirects; check server.url (the address, http or https, a "
                   "proxy in front of it)")
            raise ServerUnavailable(msg)
        if not response.body:
            return None
        try:
            return json.loads(response.body)
        except ValueError:
            msg = f"{where} answered {method} {path} with something that is not JSON"
            raise ServerUnavailable(msg) from None
        except RecursionError:  # not a ValueError: it escaped every caller's fail-closed path
            msg = (f"{where} answered {method} {path} with JSON nested too deeply to read "
                   "(no Lacuna answer is)")
            raise ServerUnavailable(msg) from None

    def close(self) -> None:
        self._http.close()


class ServerEngine:
    """The governor's policy engine when a Lacuna server decides (see the module docstring)."""

    complete_decisions = True  # grants and alternatives are the server's: add nothing

    def __init__(self, client: ServerClient, session: str) -> None:
        self.client = client
        self.session = session
        self.decision_log = None
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def decide(self, operation: Operation, *, exception_approved: bool = False,  # noqa: ARG002
               exception_approver_role: str | None = None, log: bool = True) -> Decision:  # noqa: ARG002
        """Decide (and, unless ``log`` is false, record) on the server. Never raises."""
        started = time.perf_counter()
        if not self.client.breaker.allow():
            return self._failure(
                operation, started,
                f"Lacuna server {self.client.shown}: not asked, "
                f"{self.client.breaker.failures} earlier request(s) failed (last: "
                f"{self.client.breaker.last_failure or 'unknown'}); next try in "
                f"{self.client.breaker.retry_in():.1f} s")
        try:
            answer = self.client.call("POST", "/api/v1/decide", {
                "operation": operation_to_wire(operation), "record": log,
                "session": self.session})
            decision = _decision_in(answer, operation)
        except Exception as exc:  # any answer that is not this decision: denied, never raised
            detail = str(exc) if isinstance(exc, ServerUnavailable) else (
                f"Lacuna server {self.client.shown} answered something that is not a decision "
                f"({type(exc).__name__}: {exc})")
            self.client.breaker.failure(detail)
            return self._failure(operation, started, detail)
        self.client.breaker.success()
        if log:  # a write that follows reports its file under this decision, or none
            _ALLOWED.set((operation.id, operation.exception_id)
                         if decision.allowed and operation.exception_id else None)
        audit = answer.get("audit")
        if log and isinstance(audit, Mapping):
            with self._lock:
                self._records[operation.id] = dict(audit)
                while len(self._records) > 10_000:
                    self._records.popitem(last=False)
        return decision

    def recorded(self, operation_id: str) -> dict[str, Any] | None:
        """The server's audit record of this operation's decision (taken once)."""
        with self._lock:
            return self._records.pop(operation_id, None)

    def _failure(self, operation: Operation, started: float, detail: str) -> Decision:
        detail = redact_text(detail)  # it goes to the log, the decision and the audit record
        log.error("governance server decision failed; denying operation %s (fail closed): %s",
                  operation.id, detail)
        return Decision(
            allowed=False, operation_id=operation.id, engine_error=detail, operation=operation,
            eval_ms=(time.perf_counter() - started) * 1000.0,
            reasoning=(f"Denied because the governance server could not decide (fail closed): "
                       f"{detail}. Check that the server runs and is reachable, or tell the "
                       "platform team."))

    def close(self) -> None:
        self.client.close()


class ServerAudit:
    """The governor's audit trail when the server records (it already did, on decide)."""

    def __init__(self, engine: ServerEngine) -> None:
        self.engine = engine

    def record(self, decision: Decision, operation: Operation, *, session: str) -> AuditRecord:
        """The record the server wrote for this decision.

        Raises:
            AuditError: the server did not record it (it was unreachable, or refused).
        """
        from lacuna.audit import AuditRecord

        stored = self.engine.recorded(operation.id)
        if stored is None and decision.denied and not decision.engine_error \
                and decision.policy_id:  # refused here, by this client's own rule
            stored = self._refusal(decision, operation, session)
        if stored is None:
            msg = (f"the governance server {self.engine.client.shown} did not record decision "
                   f"{operation.id} ({decision.engine_error or 'no audit record returned'})")
            raise AuditError(msg)
        return AuditRecord(seq=int(stored["seq"]), id=str(stored["id"]), timestamp=utcnow(),
                           user_id=operation.user.id, action=operation.action.value,
                           allowed=decision.allowed, policy_id=decision.policy_id, body="{}",
                           prev_hash="", hash=str(stored.get("hash") or ""))

    def _refusal(self, decision: Decision, operation: Operation, session: str
                 ) -> dict[str, Any] | None:
        """Record on the server a denial this client made by its own rule (the governed
        mount's, a legal hold's: ``POST /api/v1/audit/refusals``); the record's id, seq and
        hash, or None (logged) when the server did not take it."""
        try:
            answer = self.engine.client.call("POST", "/api/v1/audit/refusals", {
                "operation": operation_to_wire(operation), "reasoning": decision.reasoning,
                "policy_id": decision.policy_id, "policy_title": decision.policy_title,
                "session": session or None})
            audit = answer.get("audit") if isinstance(answer, Mapping) else None
            if not isinstance(audit, Mapping) or "seq" not in audit or "id" not in audit:
                msg = "the answer names no audit record"
                raise ValueError(msg)
            return dict(audit)
        except (ServerUnavailable, ValueError) as exc:
            log.error("could not record refusal %s on the governance server: %s",
                      operation.id, exc)
            return None

    def record_outcome(self, decision: Decision, operation: Operation, *, session: str, of: str,  # noqa: ARG002
                       error: BaseException | None = None, mode: str | None = None) -> None:
        """Send the operation's outcome (succeeded, or failed with the error) to the server;
        for a denial that ran (``warn`` or ``observe`` mode), with that ``mode``: the server
        takes an outcome of a denial only so, and its trail shows that the denied operation
        ran, and under which mode."""
        body: dict[str, Any] = {
            "of": of, "error": None if error is None else f"{type(error).__name__}: {error}"}
        if not decision.allowed:
            body["mode"] = mode or "warn"
        self.engine.client.call("POST", "/api/v1/audit/outcomes", body)

    def close(self) -> None:
        """Nothing to close (the engine owns the connection)."""


class ServerLineage:
    """Runs go to the server as OpenLineage events; the queries the governor needs too."""

    def __init__(self, client: ServerClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def record(self, run: Run) -> None:
        """Send ``run``'s START and COMPLETE/FAIL events to ``POST /api/v1/lineage``.

        Raises:
            LineageError: the server did not take them.
        """
        from openlineage.client.serde import Serde

        from lacuna.lineage.openlineage import run_to_events

        if self.client.breaker.state == "open":  # the server is known to be down: no wait
            msg = (f"Lacuna server {self.client.shown} is unreachable (circuit breaker open): "
                   f"lineage run {run.id} not sent")
            raise LineageError(msg)
        try:
            for event in run_to_events(run, namespace=self.namespace):
                self.client.call("POST", "/api/v1/lineage", json.loads(Serde.to_json(event)))
        except ServerUnavailable as exc:
            raise LineageError(str(exc)) from None

    def known(self, path: str) -> Classification | None:
        """What the server's lineage store knows of the local file at ``path`` (by its name and
        its content's fingerprint: ``GET /api/v1/lineage/known``); None when nothing, or when
        ``path`` is not a local file.

        Raises:
            LineageError: no answer, or not a classification.
        """
        return self.knows(path)[0]

    def set_fingerprint(self, run_id: str, dataset: DatasetRef, fingerprint: str) -> int:
        """Give run ``run_id``'s output ``dataset`` (a file completed after the run was sent:
        an ExcelWriter or HDFStore closed) its content fingerprint on the server (``POST
        /api/v1/lineage/runs/{id}/fingerprint``); how many versions were updated.

        Raises:
            LineageError: no answer, or refused.
        """
        try:
            answer = self.client.call(
                "POST", f"/api/v1/lineage/runs/{_q(run_id)}/fingerprint",
                {"dataset": wire_name(str(dataset)), "fingerprint": fingerprint})
        except ServerUnavailable as exc:
            raise LineageError(str(exc)) from None
        updated = answer.get("updated") if isinstance(answer, Mapping) else None
        return updated if isinstance(updated, int) else 0

    def first_seen(self, path: str) -> datetime | None:
        """The retention clock the server keeps for the local file at ``path`` on this host
        (recorded when it allowed a write there), or its content's when that is earlier (a
        copy made by hand: :mod:`lacuna.lineage.seen`); None when it knows neither, or when
        ``path`` is not a local file.

        Raises:
            LineageError: no answer, or not a time.
        """
        return self.knows(path)[1]

    def knows(self, path: str, *, content: bool = True
              ) -> tuple[Classification | None, datetime | None]:
        """:meth:`known` and :meth:`first_seen` in one request (``content``: send the file's
        fingerprint, so that a copy is known by its content).

        Raises:
            LineageError: no answer, or not a classification and a time.
        """
        from lacuna.lineage.clock import aware
        from lacuna.lineage.recording import file_fingerprint
        from lacuna.lineage.records import DatasetRef
        from lacuna.model import Classification

        ref = DatasetRef.of(path)
        if ref.namespace != "file":  # a URL's name may hold its credentials: not sent (the
            return None, None  # server holds a remote source by its name when it decides)
        fp = file_fingerprint(ref) if content else None
        query = f"?dataset={_q(wire_name(str(ref)))}" + (f"&fingerprint={_q(fp)}" if fp else "")
        try:
            answer = self.client.call("GET", f"/api/v1/lineage/known{query}")
            if not isinstance(answer, Mapping) or "classification" not in answer:
                msg = "not an object with a classification"
                raise ValueError(msg)
            found, seen = answer["classification"], answer.get("first_seen")
            when = aware(seen) if isinstance(seen, str) else None
            if seen is not None and when is None:
                msg = f"first_seen {str(seen)[:40]!r} is not a time"
                raise ValueError(msg)
            return (None if found is None else Classification.from_dict(found)), when
        except (ServerUnavailable, ValueError, TypeError, LacunaError) as exc:
            msg = (f"could not ask the Lacuna server {self.client.shown} what it knows of "
                   f"{path}: {exc}")
            raise LineageError(msg) from None

    def upstream(self, dataset: DatasetRef, depth: int | None = None) -> LineageGraph:
        """What the server's lineage store says ``dataset`` was derived from (``GET
        /api/v1/lineage/upstream``: at most its default limit of datasets, the nearest first),
        each dataset with the tier and tags of its latest version.

        Raises:
            LineageError: no answer, or not a lineage graph.
        """
        from lacuna.lineage.graph import Direction, LineageEdge, LineageGraph
        from lacuna.lineage.records import DatasetRef, DatasetVersion
        from lacuna.model import Classification, Tier

        query = f"?dataset={_q(wire_name(str(dataset)))}" + (f"&depth={depth}" if depth else "")
        try:
            answer = self.client.call("GET", f"/api/v1/lineage/upstream{query}")
            if not isinstance(answer, Mapping) or not isinstance(answer.get("nodes"), list) \
                    or not isinstance(answer.get("edges"), list):
                msg = "not an object with nodes and edges"
                raise ValueError(msg)
            refs: dict[str, DatasetRef] = {wire_name(str(dataset)): dataset}
            nodes: dict[DatasetRef, DatasetVersion | None] = {}
            depths: dict[DatasetRef, int] = {}
            for n in answer["nodes"]:
                ref = DatasetRef(namespace=str(n["namespace"]), name=str(n["name"]))
                refs[str(n["dataset"])] = ref
                depths[ref] = int(n.get("depth") or 0)
                nodes[ref] = None if n.get("tier") is None else DatasetVersion(
                    dataset=ref, classification=Classification(
                        tier=Tier(n["tier"]), tags=tuple(str(t) for t in n.get("tags") or ())))
            edges = tuple(LineageEdge(parent=refs[str(e["parent"])], child=refs[str(e["child"])],
                                      run_id=str(e.get("run") or ""))
                          for e in answer["edges"])
        except (ServerUnavailable, ValueError, TypeError, KeyError, AttributeError) as exc:
            msg = (f"could not ask the Lacuna server {self.client.shown} what {dataset} was "
                   f"derived from: {exc}")
            raise LineageError(msg) from None
        return LineageGraph(root=dataset, direction=Direction.UPSTREAM, nodes=nodes,
                            depths=depths, edges=edges, truncated=answer.get("truncated") is True)

    def runs(self, *_: Any, **__: Any) -> list[Run]:
        return []

    def get_run(self, run_id: str) -> Run | None:  # noqa: ARG002
        return None

    def close(self) -> None:
        """Nothing to close."""


class ServerExceptions:
    """``ExceptionStore``'s verbs, filed with the server as the token's user."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def add(self, request: ExceptionRequest) -> ExceptionRequest:
        answer = self._call("POST", "/api/v1/exceptions", {
            "destination": request.destination, "action": request.action,
            "source": request.sources[0] if request.sources else None,
            "purpose": request.purpose, "business_justification":
                request.business_justification, "approver": request.approver,
            "duration_hours": request.duration_hours, "conditions": list(request.conditions)})
        return _exception(answer)

    def get(self, exception_id: str) -> ExceptionRequest:
        return _exception(self._call("GET", f"/api/v1/exceptions/{_q(exception_id)}"))

    def list(self, *, status: Status | None = None, user: str | None = None,
             unreadable: builtins.list[Exception] | None = None) -> list[ExceptionRequest]:
        """The server's list (``unreadable``: the rows it left out, said, as the local store
        says them)."""
        query = f"?status={status.value}" if status is not None else ""
        answer = self._call("GET", f"/api/v1/exceptions{query}")
        if not isinstance(answer, Mapping) or not isinstance(answer.get("exceptions"), list):
            msg = (f"Lacuna server {self.client.shown} answered GET /api/v1/exceptions with "
                   "something that is not a list of exceptions")
            raise LacunaError(msg)
        if unreadable is not None:
            unreadable.extend(LacunaError(
                f"exception {str(i)[:64]}: its row on the server is not a request Lacuna "
                "wrote (left out by the server)") for i in answer.get("unreadable") or ())
        items = [_exception(e) for e in answer["exceptions"]]
        return [e for e in items if user is None or same_name(e.requested_by, user)]

    def decide(self, exception_id: str, *, approve: bool, by: str, stewards: Any,  # noqa: ARG002
               comment: str | None = None, start: datetime | None = None,  # noqa: ARG002
               revoke: bool = False) -> ExceptionRequest:
        """Approve, deny or (``revoke``) end an approved exception, as the token's user; the
        server checks who may, and audits it. Its ``deny`` also revokes an approved one, so
        a revoke first checks that it is approved (as the local store refuses anything else:
        a revoke of a pending request must not deny it).

        Raises:
            LacunaError: no answer, refused by the server, or (revoke) not approved.
        """
        from lacuna.exceptions.model import Status

        if revoke:
            current = self.get(exception_id)
            if current.status is not Status.APPROVED:
                msg = (f"exception {exception_id} is {current.status.value}; only an approved "
                       "exception can be revoked.")
                raise LacunaError(msg)
        verb = "approve" if approve else "deny"
        return _exception(self._call("POST", f"/api/v1/exceptions/{_q(exception_id)}/{verb}",
                                     {"comment": comment}))

    def verified(self, request: ExceptionRequest) -> bool:  # noqa: ARG002
        return False  # grants are checked by the server, never on the client

    def pending_named(self, *names: str) -> tuple[WrittenFile, ...]:  # noqa: ARG002
        """None held here: the records of this client's files are the server's
        (:meth:`record_file`), so an append checks against none (an append under an
        exception to a file that exists is refused: lacuna.exceptions.appends)."""
        return ()

    remote = True  # files written under an exception are recorded and audited by the server

    def files(self, exception_id: str) -> builtins.list[WrittenFile]:
        """The server's records of the files written under ``exception_id`` (a client's as
        ``file://<host><path>``: lacuna.exceptions.files.on_client).

        Raises:
            LacunaError: no answer, or not a list of records.
        """

        path = f"/api/v1/exceptions/{_q(exception_id)}/files"
        answer = self._call("GET", path)
        return self._records(answer.get("files") if isinstance(answer, Mapping) else None,
                             f"GET {path}")

    def settle(self, exception_id: str, path: str, reason: str) -> builtins.list[WrittenFile]:
        """Settle ``path`` (as the server records it: a client's file as
        ``file://<host><path>``) under ``exception_id`` on the server, as the token's user
        (``POST /api/v1/exceptions/{id}/settle``: a data steward; it checks who may and
        audits it); the records as they were.

        Raises:
            LacunaError: no answer, or refused.
        """
        route = f"/api/v1/exceptions/{_q(exception_id)}/settle"
        answer = self._call("POST", route, {"path": path, "reason": reason})
        return self._records(answer.get("records_before") if isinstance(answer, Mapping)
                             else None, f"POST {route}")

    def _records(self, found: Any, what: str) -> builtins.list[WrittenFile]:
        from lacuna.exceptions.store import WrittenFile

        try:
            if not isinstance(found, list):
                raise TypeError
            return [WrittenFile(
                exception_id=str(f["exception_id"]), path=str(f["path"]),
                written_by=str(f["written_by"]),
                written_at=datetime.fromisoformat(str(f["written_at"])),
                encrypted=bool(f["encrypted"]), directory=bool(f.get("directory")),
                deleted_at=(datetime.fromisoformat(str(f["deleted_at"]))
                            if f.get("deleted_at") else None),
                identity=f.get("identity") if isinstance(f.get("identity"), str) else None)
                for f in found]
        except (TypeError, KeyError, ValueError):
            msg = (f"Lacuna server {self.client.shown} answered {what} with something that is "
                   "not a list of file records")
            raise LacunaError(msg) from None

    def record_file(self, exception_id: str, path: str, *, written_by: str, encrypted: bool,
                    directory: bool = False, **_: Any) -> WrittenFile:
        """Report ``path`` (this host's, absolute) to the server, before it is written, as
        written under ``exception_id`` by the operation the server just allowed under it in
        this context: the server checks it (the token's user is the exception's requester,
        the decision is theirs, allowed under it, recent, of this destination), records it
        and audits ``file-written``; ``lacuna exceptions sweep`` on this host deletes it when
        the exception ends.

        Raises:
            ExceptionNotAuthorized: no such decision here, or the server refused or could not
                be asked (fail closed: nothing is written).
        """
        from lacuna.exceptions.files import this_host
        from lacuna.exceptions.store import WrittenFile

        allowed = _ALLOWED.get()
        if allowed is None or allowed[1] != exception_id:
            raise _unrecorded(self.client.shown, exception_id, path, (
                "the server allowed no operation under it in this call (a write under an "
                "exception is reported with the decision that allowed it)"))
        host = this_host()
        self._report(exception_id, path, {
            "operation_id": allowed[0], "host": host, "path": path, "encrypted": encrypted,
            "directory": directory})
        return WrittenFile(exception_id=exception_id, path=path, written_by=written_by,
                           written_at=utcnow(), encrypted=encrypted, directory=directory)

    def record_identity(self, written: WrittenFile, identity: str) -> WrittenFile:
        """Add to the server's record of ``written`` what was written (after the write, under
        the same decision).

        Raises:
            ExceptionNotAuthorized: not recorded (the caller logs it; the client sweep then
                deletes the file only if it was not modified after the exception ended).
        """
        from dataclasses import replace

        from lacuna.exceptions.files import this_host

        allowed = _ALLOWED.get()
        if allowed is None or allowed[1] != written.exception_id:
            raise _unrecorded(self.client.shown, written.exception_id, written.path,
                              "no decision under it in this call")
        self._report(written.exception_id, written.path, {
            "operation_id": allowed[0], "host": this_host(), "path": written.path,
            "encrypted": written.encrypted, "directory": written.directory,
            "identity": identity})
        return replace(written, identity=identity)

    def _report(self, exception_id: str, path: str, body: dict[str, Any]) -> None:
        from lacuna.exceptions.authority import ExceptionNotAuthorized

        try:
            self.client.call("POST", f"/api/v1/exceptions/{_q(exception_id)}/files", body)
        except ServerUnavailable as exc:
            raise ExceptionNotAuthorized(str(_unrecorded(
                self.client.shown, exception_id, path, str(exc)))) from None

    def due_files(self, host: str) -> builtins.list[dict[str, Any]]:
        """This user's files written on ``host`` under exceptions that ended (or whose
        record the server cannot trust): what the sweep on this host answers for.

        Raises:
            LacunaError: no answer, or not a list of files.
        """
        answer = self._call("GET", f"/api/v1/exceptions/files/due?host={_q(host)}")
        found = answer.get("files") if isinstance(answer, Mapping) else None
        if not isinstance(found, list) or not all(
                isinstance(f, Mapping) and isinstance(f.get("exception_id"), str)
                and isinstance(f.get("path"), str) for f in found):
            msg = (f"Lacuna server {self.client.shown} answered GET /api/v1/exceptions/files/"
                   "due with something that is not a list of files")
            raise LacunaError(msg)
        return [dict(f) for f in found]

    def swept(self, exception_id: str, host: str, path: str, step: str, detail: str) -> None:
        """Tell the server what this host's sweep did with a file (it audits the step and,
        for ``file-deleted``, closes the record).

        Raises:
            LacunaError: no answer, or refused.
        """
        self._call("POST", f"/api/v1/exceptions/{_q(exception_id)}/files/swept",
                   {"host": host, "path": path, "step": step, "detail": detail[:2000]})

    def decrypt_refusal(self, exception_id: str | None, path: str, written_by: str,
                        output: str | None, *, operation_id: str | None = None) -> str | None:
        """Why the token's user may not decrypt ``path`` (written under ``exception_id``, or
        sealed without one, None: ``POST /api/v1/decrypt``; ``written_by``: its header's
        name; ``operation_id``: the decision its header says sealed it, which the server
        judges a file sealed without an exception by), as the server judges and audits it
        (``decrypt``), or None; with ``output`` under an exception, the plaintext copy is
        recorded under it on the server, as the file itself (the sweep here deletes it).

        Raises:
            LacunaError: no answer (nothing is decrypted then).
        """
        from lacuna.exceptions.files import this_host

        route = ("/api/v1/decrypt" if exception_id is None
                 else f"/api/v1/exceptions/{_q(exception_id)}/decrypt")
        body = {"path": path, "written_by": written_by, "host": this_host(), "output": output}
        if exception_id is None and operation_id is not None:
            body["operation_id"] = operation_id  # a header naming none: as before it was sent
        try:
            answer = self.client.call("POST", route, body)
        except ServerUnavailable as exc:
            if exc.status == 422 and "operation_id" in exc.detail:
                raise LacunaError(_older_server(self.client.shown)) from None
            raise LacunaError(str(exc)) from None
        if not isinstance(answer, Mapping) or not isinstance(answer.get("allowed"), bool):
            msg = (f"Lacuna server {self.client.shown} answered the decryption check with "
                   "something that is not an answer")
            raise LacunaError(msg)
        return None if answer["allowed"] else str(answer.get("refused") or "refused")

    def copy_written(self, exception_id: str, path: str, output: str, identity: str) -> None:
        """Add to the server's record of the decrypted copy ``output`` what was written.

        Raises:
            LacunaError: no answer, or refused.
        """
        from lacuna.exceptions.files import this_host

        self._call("POST", f"/api/v1/exceptions/{_q(exception_id)}/decrypt", {
            "path": path, "written_by": "", "host": this_host(), "output": output,
            "identity": identity})

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.client.call(method, path, body)
        except ServerUnavailable as exc:
            raise LacunaError(str(exc)) from None

    def close(self) -> None:
        """Nothing to close."""


def _older_server(server: str) -> str:
    """Why a server that refused ``operation_id`` in ``POST /api/v1/decrypt`` (a 422: its
    body takes no such field) cannot judge a sealed file, and what to do."""
    from lacuna import __version__

    return (f"the Lacuna server ({server}) is older than this client (Lacuna {__version__}): "
            "it does not take operation_id, the decision this file's header says sealed it, "
            "which is what a server judges a sealed file by. Upgrade the server (pip install "
            f"-U 'lacuna>={__version__}' where it runs, then restart lacuna serve) and "
            "try again; until then a default steward's client decrypts it")


def _unrecorded(server: str, exception_id: str, path: str, why: str) -> Exception:
    """The refusal of a write under ``exception_id`` whose file the server did not record."""
    from lacuna.exceptions.authority import ExceptionNotAuthorized

    return ExceptionNotAuthorized(
        f"cannot write {path} under exception {exception_id}: the Lacuna server ({server}) "
        f"did not record it ({why}), and a file written under an exception must be on the "
        "server's record for the sweep to delete it when the exception ends. Check that the "
        "server runs and that you write under your own approved exception, then try again. "
        "Nothing was written.")


class ServerKeeping:
    """What retention holds, as the server says (:class:`lacuna.retention.keeping.Keeping`):
    the legal holds from ``GET /api/v1/retention/holds``, kept until the server says their
    ``version`` changed, and the Rego retention rules' holds from ``POST
    /api/v1/retention/rule-holds`` on the items described here (the data is on this host;
    the server's policy bundle decides). Any failure raises: the caller refuses (fail
    closed)."""

    PATH = "/api/v1/retention/holds"

    def __init__(self, client: ServerClient, config: Config) -> None:
        self.client = client
        self.config = config
        self._known: tuple[str, tuple[Hold, ...], tuple[str, ...]] | None = None
        self._lock = threading.Lock()

    def holds(self) -> tuple[Hold, ...]:
        """The active holds.

        Raises:
            ServerUnavailable: no answer, or not one of holds.
        """
        return self._ask()[1]

    @staticmethod
    def _clocked(lineage: ServerLineage, item: Any) -> Any:
        """``item`` with the server's clock for it (:func:`_server_clock`) and at least the
        tier and tags the server's lineage store knows of it (by name and content): a
        sidecar signed by the owner saying PII data is PUBLIC took it out of a rule holding
        personal data.

        Raises:
            LineageError: the server did not answer it (the caller refuses: fail closed).
        """
        from dataclasses import replace

        known, seen = lineage.knows(item.path)
        if known is not None and (known.tier > item.tier
                                  or not set(known.tags) <= set(item.tags)):
            item = replace(item, tier=max(item.tier, known.tier),
                           tags=tuple(dict.fromkeys((*item.tags, *known.tags))))
        return _server_clock(item, seen)

    def _ask(self) -> tuple[str, tuple[Hold, ...], tuple[str, ...]]:
        with self._lock:
            known = self._known
        query = f"?known={_q(known[0])}" if known is not None else ""
        answer = self.client.call("GET", f"{self.PATH}{query}")
        try:
            if not isinstance(answer, Mapping) or not isinstance(answer.get("version"), str):
                msg = "not an object with a version"
                raise ValueError(msg)
            packages = answer.get("rule_packages")
            if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
                msg = "rule_packages is not a list of names"
                raise ValueError(msg)
            if answer.get("unchanged") is True and known is not None \
                    and known[0] == answer["version"]:
                found = (known[0], known[1], tuple(packages))
            else:
                holds = answer.get("holds")
                if not isinstance(holds, list):
                    msg = "holds is not a list"
                    raise ValueError(msg)
                found = (answer["version"], tuple(hold_from_wire(h) for h in holds),
                         tuple(packages))
        except (ValueError, TypeError, KeyError) as exc:
            msg = (f"Lacuna server {self.client.shown} answered GET {self.PATH} with something "
                   f"that is not the legal holds ({exc})")
            raise ServerUnavailable(msg) from None
        with self._lock:
            self._known = found
        return found

    def rule_hold(self, paths: Sequence[str]) -> RuleHold | None:
        """The first governed item at or under ``paths`` that the server's retention rules
        hold (or fail on), asked in batches; none when the server's bundle has no
        ``retention`` rule. An item's clock (the age a rule sees) is the one the server keeps
        for it (:meth:`ServerLineage.knows`) when it keeps one, not its sidecar's: a sidecar
        signed by the owner's own key saying the data is older than it is took it out of a
        rule holding recent data, and its deletion went through. Its tier and tags are at
        least what the server knows of it.

        Raises:
            ServerUnavailable: no answer, or not one answer per item.
        """
        from lacuna.retention.keeping import RuleHold, items_at, rule_input
        from lacuna.server.schemas import RULE_ITEMS

        known = self._known or self._ask()
        if not known[2]:
            return None
        now = utcnow()
        batch: list[dict[str, Any]] = []
        lineage = ServerLineage(self.client, self.config.lineage.openlineage.namespace)
        items = (rule_input(self._clocked(lineage, i), now)
                 for p in paths for i in items_at(self.config, p))
        while True:
            batch = [doc["dataset"] for _, doc in zip(range(RULE_ITEMS), items, strict=False)]
            if not batch:
                return None
            answer = self.client.call("POST", "/api/v1/retention/rule-holds",
                                      {"items": batch})
            answers = answer.get("answers") if isinstance(answer, Mapping) else None
            if not isinstance(answers, list) or len(answers) != len(batch):
                msg = (f"Lacuna server {self.client.shown} answered POST "
                       "/api/v1/retention/rule-holds with something that is not one answer "
                       "per item")
                raise ServerUnavailable(msg)
            for sent, got in zip(batch, answers, strict=True):
                if got is None:
                    continue
                if not isinstance(got, Mapping) or not isinstance(got.get("package"), str):
                    msg = (f"Lacuna server {self.client.shown} answered POST "
                           "/api/v1/retention/rule-holds with an answer that is not a hold")
                    raise ServerUnavailable(msg)
                error = got.get("error")
                return RuleHold(path=str(sent["path"]), package=got["package"],
                                reason=str(got.get("reason") or ""),
                                error=None if error is None else str(error))


def _server_clock(item: Any, seen: datetime | None) -> Any:
    """``item`` (described from its sidecar, signed with the owner's own key) with the clock
    the server keeps for it, ``seen``, when it keeps one: its ``clock`` is then ``seen``."""
    from dataclasses import replace

    if seen is None:
        return item
    note = "; its clock is the Lacuna server's"
    if seen <= item.written_at:
        return replace(item, first_seen=seen, seen_note=note,
                       known_from=item.known_from.removesuffix(item.seen_note) + note)
    return replace(item, written_at=seen, first_seen=None, seen_note=note,
                   known_from=item.known_from.removesuffix(item.seen_note) + note)


def hold_from_wire(data: Any) -> Hold:
    """A hold as the server sends it (:meth:`Hold.to_dict` and ``unrecorded``).

    Raises:
        ValueError: a field is missing or not of its type.
    """
    from lacuna.retention.holds import Hold

    if not isinstance(data, Mapping):
        msg = "a hold is not an object"
        raise ValueError(msg)
    text = {k: data.get(k) for k in ("id", "dataset", "reason", "placed_by")}
    for key, value in text.items():
        if not isinstance(value, str) or not value:
            msg = f"a hold's {key} is not text"
            raise ValueError(msg)
    optional = {k: data.get(k) for k in ("released_by", "released_at", "unrecorded")}
    if any(v is not None and not isinstance(v, str) for v in optional.values()):
        msg = "a hold's released_by, released_at or unrecorded is not text"
        raise ValueError(msg)
    placed = datetime.fromisoformat(str(data.get("placed_at")))
    released = (datetime.fromisoformat(optional["released_at"])
                if optional["released_at"] else None)
    return Hold(id=text["id"], dataset=text["dataset"], reason=text["reason"],  # type: ignore[arg-type]
                placed_by=text["placed_by"], placed_at=placed,  # type: ignore[arg-type]
                released_by=optional["released_by"], released_at=released,
                unrecorded=optional["unrecorded"])


def server_first_seen(config: Config, path: str) -> datetime | None:
    """The retention clock the server ``config`` names keeps for the local file at ``path``
    (:meth:`ServerLineage.first_seen`), asked with the governor's client when ``config`` is
    the current governor's.

    Raises:
        LineageError: no answer, or not a time.
    """
    from lacuna.governor import existing

    gov = existing()
    if gov is not None and gov.config.server is config.server:
        return gov.lineage_store.first_seen(path)  # type: ignore[attr-defined, no-any-return]
    client = ServerClient(config.server)
    try:
        return ServerLineage(client, config.lineage.openlineage.namespace).first_seen(path)
    finally:
        client.close()


def server_holds(config: Config, *, include_released: bool = False) -> list[Hold]:
    """The holds of the server ``config`` names: the active ones, or with
    ``include_released`` the whole history (a data steward's or compliance officer's).

    Raises:
        LacunaError: no answer, or not one of holds.
    """
    client = ServerClient(config.server)
    try:
        if not include_released:
            return list(ServerKeeping(client, config).holds())
        answer = client.call("GET", f"{ServerKeeping.PATH}?all=true")
        holds = answer.get("holds") if isinstance(answer, Mapping) else None
        if not isinstance(holds, list):
            msg = "holds is not a list"
            raise ValueError(msg)
        return [hold_from_wire(h) for h in holds]
    except ValueError as exc:
        msg = (f"Lacuna server {client.shown} answered GET {ServerKeeping.PATH} with something "
               f"that is not the legal holds ({exc})")
        raise ServerUnavailable(msg) from None
    finally:
        client.close()


def _decision_in(answer: Any, operation: Operation) -> Decision:
    """The decision a ``POST /api/v1/decide`` answer holds for ``operation``.

    Raises:
        ValueError: the answer is not an object holding a decision object, or that decision
            names another operation (an answer meant for another request is not this one's).
    """
    if not isinstance(answer, Mapping) or not isinstance(answer.get("decision"), Mapping):
        msg = "the answer is not an object with a decision object"
        raise ValueError(msg)
    data = answer["decision"]
    if str(data.get("operation_id") or operation.id) != operation.id:
        msg = (f"the decision is for operation {str(data.get('operation_id'))[:80]!r}, not "
               f"{operation.id!r}")
        raise ValueError(msg)
    return decision_from_wire(data, operation)


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _exception(data: Any) -> ExceptionRequest:
    from lacuna.exceptions.store import _from_body

    return _from_body(json.dumps(data), str(data.get("id", "?")) if isinstance(data, dict)
                      else "?")


def remote_parts(config: Config, session: str) -> tuple[ServerEngine, ServerAudit]:
    """The engine and audit trail for ``config.server`` (the governor calls this).

    Raises:
        ConfigError: no URL, not an http(s) URL, or no token.
    """
    engine = ServerEngine(ServerClient(config.server), session)
    return engine, ServerAudit(engine)
