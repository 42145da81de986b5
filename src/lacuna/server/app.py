"""The application factory: ``create_app(settings) -> FastAPI``.

Routers (docs/server.md has the full table, with roles):

- :mod:`lacuna.server.routes_ops`: ``/health``, ``/metrics`` (Prometheus), ``/api/v1/metrics``
- :mod:`lacuna.server.routes_api`: ``/api/v1/classify``, ``/api/v1/decide``
- :mod:`lacuna.server.routes_opa`: OPA's ``/v1/data``, ``/v1/policies``
- :mod:`lacuna.server.routes_state`: audit, exceptions, lineage (OpenLineage ingest at Marquez's
  ``POST /api/v1/lineage``)
- ``lacuna.server.console`` when it exists: its ``install(app)`` adds the steward console

Every route depends on :func:`lacuna.server.security.require_role` (or is in
``PUBLIC_PATHS``). Requests larger than ``max_body_bytes`` get 413 before they are read
(:mod:`lacuna.server.guard`). What uvicorn serves is this app behind
:func:`lacuna.server.outer.serving`, which answers the decision routes before FastAPI's
middleware stack; the app alone (tests, the console's) answers them the same way, slower.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

import lacuna
from lacuna.errors import ConfigError, GovernanceViolation, LacunaError, PolicyError
from lacuna.identity import set_authenticator
from lacuna.server.guard import Guard
from lacuna.server.security import require_role
from lacuna.server.settings import ServerSettings
from lacuna.server.state import ServerState, build_state

__all__ = ["create_app", "require_role"]

log = logging.getLogger("lacuna.server")


def create_app(settings: ServerSettings | None = None, *, state: ServerState | None = None,
               config: Any | None = None) -> FastAPI:
    """The governance server's FastAPI application, its state opened now.

    Args:
        settings: server settings (default: file and environment, see
            :func:`lacuna.server.settings.load_settings`).
        state: an already built state (tests, the demo); else built from ``settings``.
        config: a Lacuna :class:`~lacuna.config.Config` to govern with instead of the one
            ``settings`` names.

    Raises:
        ConfigError, PolicyError, AuditError: the state cannot be opened (at start-up).
    """
    from lacuna.server.settings import load_settings

    settings = settings or (state.settings if state else load_settings())
    state = state or build_state(settings, config)
    set_authenticator(state.authenticator)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("lacuna server ready: state %s, policy revision %s", _safe_url(state.db),
                 state.policy_engine.revision)
        jobs = None
        if settings.scheduler:  # the exceptions sweep, dataset refreshes, retention (scheduler)
            from lacuna.scheduler import for_governor

            jobs = for_governor(state.governor)
            jobs.start()
        summaries = asyncio.create_task(_write_suppressed_refusals(state))
        try:
            yield
        finally:
            log.info("lacuna server stopping: flushing the decision log, closing the stores")
            summaries.cancel()
            if jobs is not None:
                jobs.stop()
            state.close()

    app = FastAPI(
        title="Lacuna governance server",
        version=lacuna.__version__,
        description=("Classification, policy decisions, OPA's Data API, lineage, audit and "
                     "exceptions over HTTP. Every endpoint but /health needs "
                     "`Authorization: Bearer <token>`; see docs/server.md for roles."),
        lifespan=lifespan,
    )
    app.state.lacuna = state
    _errors(app)
    from lacuna.server import (
        routes_api,
        routes_files,
        routes_opa,
        routes_ops,
        routes_retention,
        routes_state,
    )

    app.include_router(routes_ops.router)
    app.include_router(routes_api.router)
    app.include_router(routes_opa.router)
    app.include_router(routes_state.router)
    app.include_router(routes_files.router)
    app.include_router(routes_retention.router)
    if importlib.util.find_spec("lacuna.server.console") is not None:  # the steward console
        console = importlib.import_module("lacuna.server.console")
        console.install(app)
    app.add_middleware(Guard, state=state)
    return app


async def _write_suppressed_refusals(state: ServerState) -> None:
    """Every ``SUMMARY_EVERY_S``: the summary records of refusals over the audit budget
    (:mod:`lacuna.server.refusals`), so a flood that stopped is on the trail within a minute
    (the rest at shutdown, by ``ServerState.close``)."""
    from anyio import to_thread

    from lacuna.server.refusals import SUMMARY_EVERY_S
    from lacuna.server.security import write_suppressed

    while True:
        await asyncio.sleep(SUMMARY_EVERY_S)
        due = state.refusals.due()
        if due:
            await to_thread.run_sync(write_suppressed, state, due)


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    from lacuna.redact import redact_url

    return redact_url(url)


# Lacuna's errors -> HTTP status: the first kind the error is (:func:`status_of`), not the
# nearest class in its MRO (Starlette's pick), which made ``ExceptionNotFound(LacunaError,
# LookupError)`` a 400 instead of a 404.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, 400),
    (PolicyError, 400),
    (GovernanceViolation, 403),
    (LookupError, 404),
    (PermissionError, 403),
    (LacunaError, 400),
)


def _errors(app: FastAPI) -> None:
    """Lacuna's errors as JSON with a status that fits; never a traceback to the client."""
    async def reply(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"code": type(exc).__name__, "message": unplaced(request, exc)},
                            status_code=status_of(exc))

    for kind, _status in _STATUS:
        app.add_exception_handler(kind, reply)

    async def invalid(_: Request, exc: Exception) -> Response:
        # FastAPI's 422, but rendered by orjson: a NaN or Infinity the body held (Python's
        # JSON reader accepts them) is echoed as null instead of failing the answer with 500.
        # A large rejected value is named, not echoed back (a 2 MB body is not a message).
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        detail = [_echo_small(error) for error in jsonable_encoder(errors)]
        return Response(orjson.dumps({"detail": detail}), status_code=422,
                        media_type="application/json")

    app.add_exception_handler(RequestValidationError, invalid)


def unplaced(request: Request, exc: Exception) -> str:
    """An error's message as a caller is told it: where the server keeps its state (the state
    database's URL or file, as the stores' messages name it) said as "the server's state
    database". A store that could not be read (a NUL PostgreSQL refuses, the database down)
    told any caller its host, port, account and database, or the server's folders; the log
    keeps the whole message."""
    text = str(exc)
    state = getattr(request.app.state, "lacuna", None)
    if state is None:
        return text
    places = {state.governor.audit.where, _safe_url(state.db), state.db}
    for where in sorted((p for p in places if p), key=len, reverse=True):
        text = text.replace(where, "the server's state database")
    return text


def status_of(exc: Exception) -> int:
    """The HTTP status of one of Lacuna's errors: that of the first kind in :data:`_STATUS`
    it is an instance of."""
    return next(status for kind, status in _STATUS if isinstance(exc, kind))


ECHO_LIMIT = 256  # bytes of a rejected value a 422 repeats back


def _echo_small(error: Any) -> Any:
    """A validation error with its ``input`` kept only when it is small."""
    if not isinstance(error, dict) or "input" not in error:
        return error
    try:
        size = len(orjson.dumps(error["input"]))
    except (TypeError, orjson.JSONEncodeError):
        size = ECHO_LIMIT + 1
    if size <= ECHO_LIMIT:
        return error
    kind = type(error["input"]).__name__
    return {**error, "input": f"<{kind} of {size:,} bytes, not repeated here>"}
