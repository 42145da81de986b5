"""The ASGI app uvicorn runs: the decision routes answered before FastAPI's middleware stack.

A decision request (``POST /api/v1/decide``, ``POST /v1/data/...``: :func:`fastlane.wants`)
otherwise passes through uvicorn's and FastAPI's layers (``ServerErrorMiddleware``, FastAPI's
telemetry and body-limit middlewares, ``FastAPI.__call__``, ``Starlette.__call__``) before the
guard hands it to the fast lane: ~8% of a busy worker's CPU, for layers that do nothing for it.

:class:`Outer` sends it straight to the guarded fast lane (:meth:`Guard.fast`: our 413 limit,
request id, status metrics, access log, a JSON 500 when the fast lane fails). Everything else
(lifespan events, every other route, and any request the fast lane hands back: unknown tokens,
bad bodies) goes to the FastAPI app unchanged, which answers with its own middlewares and
exception handlers (401/403 audited, 422, ...). Nothing is lost by the skip:

- FastAPI's body limit (``FastAPI(max_body_size=...)``) is not set here, so its middleware
  passes every request through; ``max_body_bytes`` is enforced by the guard on both paths.
- FastAPI's native OpenTelemetry (spans, ``http.server.*`` metrics) is off unless a global
  OpenTelemetry provider is configured, which Lacuna does not do; the fast lane's requests are
  in Lacuna's own metrics and access log either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lacuna.server import fastlane
from lacuna.server.guard import ASGIApp, Guard, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI


class Outer:
    """The decision routes to the guarded fast lane, everything else to ``app`` (FastAPI).

    ``app`` stays reachable (``outer.app``) for what needs the FastAPI object: its routes,
    its OpenAPI document, ``app.state.lacuna``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._app: ASGIApp = app
        self._guard = Guard(app, app.state.lacuna)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and fastlane.wants(scope):
            await self._guard.fast(scope, receive, send, self._app)
        else:
            await self._app(scope, receive, send)


def serving(app: FastAPI) -> Outer:
    """The app to serve: ``app`` (from :func:`lacuna.server.app.create_app`) behind the
    outer lane."""
    return Outer(app)
