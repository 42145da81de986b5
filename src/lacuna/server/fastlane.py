"""The fast lane: the two decision routes answered in plain ASGI, without FastAPI's per-request
machinery (routing through every router, dependency solving, response validation).

``POST /api/v1/decide`` and ``POST /v1/data/{path}`` are the routes a notebook, a Spark job
or an OPA client calls once per operation; everything else goes through FastAPI. The fast lane
answers only the common case and hands anything else to the FastAPI route of the same path,
which answers it the usual way (and is what the OpenAPI document and the route-table test see):

- the caller's API token was accepted in the last 10 s and the users table has not changed
  since (:meth:`Authenticator.cached`, ``UserStore.CACHE_S`` and ``CHECK_S``: a revoked token
  works for up to a second, docs/server.md) and
  holds a role the route needs (both routes: any role). Unknown tokens, JWTs, cookies and
  missing credentials go to FastAPI, which authenticates, answers 401/403 and audits the
  refusal;
- the body is a JSON object (else FastAPI answers 400/422), with no query string; a decide
  body is said to be JSON (``content-type``), as the FastAPI route requires. A decide
  body validated a moment ago by the same caller is not validated again
  (:mod:`lacuna.server.bodies`); each request still gets its own operation.

What it does is what the FastAPI routes do (the same functions: ``routes_api.decide_and_record``,
``routes_opa.answer``): the same decision, recorded on the audit trail before the answer when
asked, the Data API answer on the decision log with the caller's name, the same metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from anyio import to_thread

from lacuna.dbt.reads import is_model_uri
from lacuna.errors import AuditError
from lacuna.identity import ROLES, Principal
from lacuna.server.bodies import DecideBody, parse
from lacuna.server.hosts import HostRefused

if TYPE_CHECKING:
    from lacuna.audit.group import GroupCommit
    from lacuna.model import Decision, Operation
    from lacuna.server.state import ServerState


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DECIDE_PATH = "/api/v1/decide"
DATA_PREFIX = "/v1/data"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_COMMIT_TIMEOUT_S = 30.0  # as GroupCommit.record


def wants(scope: Scope) -> bool:
    """Whether the fast lane may answer this request (it can still hand it on)."""
    if scope.get("method") != "POST" or scope.get("query_string"):
        return False
    path: str = scope.get("path", "")
    if not path.isprintable():  # a control character: the router decides what it names
        return False
    return path in (DECIDE_PATH, DATA_PREFIX) or path.startswith(DATA_PREFIX + "/")


def _principal(scope: Scope, state: ServerState) -> Principal | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                return None
            found = state.authenticator.cached(token)
            return found if found is not None and found.has(*ROLES) else None
    return None


def _json_body(scope: Scope) -> bool:
    """Whether the request says its body is JSON (``application/json`` or ``application/
    *+json``): the decide route reads nothing else as JSON, so neither does the fast lane."""
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (
                kind.startswith(b"application/") and kind.endswith(b"+json"))
    return False


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise _Gone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Gone(Exception):
    pass


def replay(raw: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already read body first, then the connection's own."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return again


async def respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def handle(scope: Scope, receive: Receive, send: Send, state: ServerState,
                 fallback: Callable[[Receive], Awaitable[None]]) -> None:
    """Answer the request, or hand it to ``fallback`` (the FastAPI app) with its body."""
    principal = _principal(scope, state)
    try:
        raw = await _body(receive)
    except _Gone:
        return
    if principal is None:
        await fallback(replay(raw, receive))
        return
    path: str = scope["path"]
    if path == DECIDE_PATH:
        if not _json_body(scope):  # FastAPI decides what a body of another type is (422)
            await fallback(replay(raw, receive))
            return
        parsed = state.bodies.get(principal.name, raw)
        if parsed is None:
            parsed = _parsed(raw)
            if parsed is None:  # not JSON, not an object or not valid: FastAPI says why
                await fallback(replay(raw, receive))
                return
            state.bodies.put(principal.name, raw, parsed)
        valid, host = _host(scope)
        if not valid:  # a host header that is not a host: FastAPI answers 422
            await fallback(replay(raw, receive))
            return
        try:  # the host as the server's client_hosts lets the caller speak for it
            host, verified = state.hosts.speaks_for(principal.name, host)
        except HostRefused:  # FastAPI answers it (and audits a 403)
            await fallback(replay(raw, receive))
            return
        scope.setdefault("state", {})["principal"] = principal  # for the access log
        answer = await _decide(state, parsed, principal, host, verified)
        if answer is None:
            await fallback(replay(raw, receive))
            return
        await respond(send, 200, answer)
        return
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        await fallback(replay(raw, receive))
        return
    scope.setdefault("state", {})["principal"] = principal  # for the access log
    from lacuna.server.routes_opa import answer_bytes

    args = (state, path[len(DATA_PREFIX):].strip("/"), body.get("input"), principal)
    # evaluated on a worker process up to the budget (opa.bounded): off the event loop
    status, out = (await to_thread.run_sync(answer_bytes, *args) if state.opa.bounded
                   else answer_bytes(*args))
    await respond(send, status, out)


def _host(scope: Scope) -> tuple[bool, str | None]:
    """Whether the host header is valid, and the host the client names
    (``routes_api.vouched_host``; None when it names none)."""
    from lacuna.lineage.seen import HOST_HEADER, valid_host

    wanted = HOST_HEADER.lower().encode()
    for name, value in scope.get("headers") or ():
        if name == wanted:
            host = value.decode("latin-1")
            return valid_host(host), host
    return True, None


def _parsed(raw: bytes) -> DecideBody | None:
    """The decide body validated, or ``None`` (not JSON, not an object, not valid)."""
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return None
    return parse(body) if isinstance(body, dict) else None


async def _decide(state: ServerState, request: DecideBody, principal: Principal,
                  host: str | None = None, verified: bool = False) -> bytes | None:
    """The decide route's answer, or ``None`` when the operation is not valid (FastAPI's route
    answers 422 and says why). ``host``: the client's, whose file a write's clock is for
    (``verified``: the server vouches for it, ``routes_api.hosted``)."""
    from lacuna.lineage.seen import clocks
    from lacuna.server.routes_api import answered, bound, clocked, decide_and_record, hosted

    try:
        operation = hosted(bound(state, request.operation, principal), host, verified)
    except Exception:  # invalid operation: FastAPI's route answers 422 with the reason
        return None

    def run() -> bytes:
        decision, audit = decide_and_record(state, operation, record=request.record,
                                            session=request.session)
        return _answer(decision, audit, operation)

    writer = state.audit_writer
    dbt_read = (operation.destination is not None
                and is_model_uri(operation.destination.uri))
    if (operation.sources or operation.exception_id or dbt_read
            or (request.record and writer is None)):
        # May read the state database (registered datasets, exception grants), a dbt
        # project's manifest (a model's restrict rules) or append synchronously: on a worker
        # thread, off the event loop, through decide_and_record.
        return await to_thread.run_sync(run)
    # CPU only, tens to hundreds of microseconds: on the event loop, where a hop to a worker
    # thread and back would cost more than the decision. A recorded decision waits for its
    # group commit without holding a thread.
    started = time.perf_counter()
    decision = state.governor.decide(operation)
    stored, failure = None, None
    if request.record and decision.allowed and _clocks(operation, clocks):
        # an allowed write of a local file: its retention clock is read (and written, the
        # first time) in the lineage store, on a worker thread. Only then: a denied write, the
        # usual answer to a write that matters, keeps the event loop and its inline commits
        # (making every recorded write hop to a thread halved the decisions/s).
        decision = await to_thread.run_sync(clocked, state, decision)
    if request.record and writer is not None:
        stored, failure = await _recorded(state, writer, decision,
                                          request.session or state.governor.session)
    return _answer(*answered(state, decision, stored, failure, started), operation)


def _clocks(operation: Operation, clocks: Callable[[Operation], bool]) -> bool:
    """Whether ``operation``'s allowed write keeps a file's retention clock; true when that
    cannot be told (a destination URL the lineage store cannot name, such as a port past
    65535): :func:`~lacuna.server.routes_api.clocked` then denies it, as the route does (the
    fast lane answered it with a 500)."""
    try:
        return clocks(operation)
    except Exception:
        return True


def _answer(decision: Decision, audit: dict[str, Any] | None, sent: Operation) -> bytes:
    from lacuna.remote.wire import decision_to_wire

    return orjson.dumps({"decision": decision_to_wire(decision, sent), "audit": audit},
                        default=str)


async def _recorded(state: ServerState, writer: GroupCommit, decision: Decision, session: str
                    ) -> tuple[Any, Exception | None]:
    """Append ``decision`` through the group commit and wait for it, as ``_record`` does."""
    from lacuna.server.routes_api import appended

    assert decision.operation is not None
    future = writer.submit_async(decision, decision.operation, session=session)
    timer = asyncio.get_running_loop().call_later(_COMMIT_TIMEOUT_S, _expire, future,
                                                  writer.store.where)
    try:
        stored = await future
    except Exception as exc:
        return appended(state, decision, None, exc)
    finally:
        timer.cancel()
    return appended(state, decision, stored, None)


def _expire(future: asyncio.Future[Any], where: str) -> None:
    """The commit took too long: the caller is answered now (its decision unrecorded)."""
    if not future.done():
        future.set_exception(AuditError(
            f"the audit trail {where} did not commit within {_COMMIT_TIMEOUT_S:.0f} s (the "
            "database is locked or slow); the decision is treated as unrecorded."))
