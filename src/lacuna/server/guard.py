"""What every HTTP request to the server gets, whichever way it is answered: the body limit
(413 before or while it is read), a request id (``X-Request-ID``, kept or made), the baseline
security headers (:data:`BASELINE_HEADERS`, unless the answer sets its own), status metrics and
one structured access-log line (method, path, status, ms, user; never headers).

:class:`Guard` is installed twice, on purpose: as the FastAPI app's innermost user middleware
(every request FastAPI answers, where ``ServerErrorMiddleware`` still wraps it) and by
:mod:`lacuna.server.outer` in front of the whole app for the decision routes, which then skip
FastAPI's middleware stack. A request the outer lane guarded is marked in its scope
(:data:`GUARDED`) so that, when the fast lane hands it back to FastAPI, it is not counted,
logged or limited a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from lacuna.model import new_id
from lacuna.server import fastlane

if TYPE_CHECKING:
    from lacuna.server.state import ServerState

log = logging.getLogger("lacuna.server")
access = logging.getLogger("lacuna.server.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GUARDED = "lacuna.guarded"  # scope key: the outer lane already guards this request
# On every answer that does not set its own: answers hold audit records, decisions and
# classifications, which no shared cache should keep and no other site should frame or have
# sniffed as another type (the console's pages add their Content-Security-Policy).
BASELINE_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"))
_INTERNAL = (b'{"code":"InternalError","message":"the server failed to answer this request; '
             b'its log has the error under the request id (X-Request-ID)"}')


class Guard:
    """Pure ASGI middleware around ``app`` (see the module docstring). The decision routes
    go through :mod:`lacuna.server.fastlane` first (:meth:`fast`)."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        self.limit = state.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(GUARDED):
            await self.app(scope, receive, send)
        elif fastlane.wants(scope):
            await self.fast(scope, receive, send, self.app)
        else:
            await self.run(scope, receive, send, self.app)

    async def fast(self, scope: Scope, receive: Receive, send: Send, fallback: ASGIApp
                   ) -> None:
        """The fast lane, guarded; a request it hands back goes to ``fallback`` (the FastAPI
        app or what is left of its stack), which answers it unguarded (already done here)."""
        scope[GUARDED] = True
        await self.run(scope, receive, send, _Lane(self.state, fallback))

    async def run(self, scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> None:
        """Answer through ``inner`` with the limit, the request id, metrics and the log line."""
        started = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        request_id = (headers.get(b"x-request-id") or b"").decode("latin-1")[:64] or (
            new_id()[:16])
        status = 500
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            status = 413
            await _too_large(send, self.limit)
            self._done(scope, status, started, request_id)
            return
        if _holds_nul(scope):
            status = 400
            await _respond(send, 400, _NUL)
            self._done(scope, status, started, request_id)
            return
        seen, over, answered = 0, False, False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal status, answered
            if over:  # a body streamed past the limit (no content-length): a FastAPI route
                # catches what reading it raised and answers 400 ("error parsing the body"),
                # which says nothing of the limit; the 413 is sent instead
                if not answered:
                    answered, status = True, 413
                    await _too_large(send, self.limit)
                return
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                headers.extend(h for h in BASELINE_HEADERS if h[0] not in present)
            await send(message)

        scope["lacuna.request_id"] = request_id
        try:
            await inner(scope, limited, sending)
        except _TooLarge:
            status = 413
            if not answered:
                await _too_large(send, self.limit)
        finally:
            self._done(scope, status, started, request_id)

    def _done(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        self.state.metrics.response(status)
        if self.state.settings.access_log:
            principal = getattr(scope.get("state", {}).get("principal"), "name", None) if (
                isinstance(scope.get("state"), dict)) else None
            access.info("%s %s %s", scope.get("method"), scope.get("path"), status, extra={
                "method": scope.get("method"), "path": scope.get("path"), "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2), "user": principal,
                "request_id": request_id})


class _Lane:
    """The fast lane as an ASGI app: it answers, or hands the request to ``fallback``.

    An exception before any answer started becomes a 500 JSON answer and one error log line
    with the traceback, as Starlette's ``ServerErrorMiddleware`` would have done around it
    (never a traceback to the client). Once an answer has started (FastAPI's own 500, say)
    the exception goes on to the server, which logs it and closes the connection, as before.
    """

    def __init__(self, state: ServerState, fallback: ASGIApp) -> None:
        self.state = state
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = False

        async def sending(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        async def slow(receive_again: Receive) -> None:
            await self.fallback(scope, receive_again, sending)

        try:
            await fastlane.handle(scope, receive, sending, self.state, slow)
        except _TooLarge:
            raise
        except Exception:
            if answered:
                raise
            log.exception("HTTP 500 for %s %s (request %s): unhandled error in the fast lane",
                          scope.get("method"), scope.get("path"),
                          scope.get("lacuna.request_id"))
            await fastlane.respond(send, 500, _INTERNAL)


class _TooLarge(Exception):
    pass


_NUL = (b'{"code":"BadRequest","message":"the request\'s path or query string holds a NUL '
        b'character (%00): no name, id or filter Lacuna keeps can hold one; remove it"}')


def _holds_nul(scope: Scope) -> bool:
    """Whether the path (decoded) or the query string (``%00``, or the byte itself) holds a
    NUL. No id, name or filter can hold one: PostgreSQL refuses it in any text parameter,
    which made an exception's route a 500 and an audit or feedback search a 400 naming the
    state database's URL, to any caller."""
    query = scope.get("query_string") or b""
    return "\x00" in str(scope.get("path") or "") or b"%00" in query or b"\x00" in query


async def _too_large(send: Send, limit: int) -> None:
    await _respond(send, 413, b'{"code":"RequestTooLarge","message":"the request body is '
                   b'larger than the server\'s limit of ' + str(limit).encode() +
                   b' bytes (max_body_bytes)"}')


async def _respond(send: Send, status: int, body: bytes) -> None:
    """A JSON answer ``body`` with ``status``, sent here (before any route)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *BASELINE_HEADERS]})
    await send({"type": "http.response.body", "body": body})
