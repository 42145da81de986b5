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
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

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
    async def reply(request: Request, exc: Exception) -> Response:
        if state_unavailable(exc) is not None:
            return unavailable(request, exc)
        page = getattr(request.app.state, ERROR_PAGE, None)
        if page is not None and request.url.path.startswith("/console"):
            # a page in a browser: the console's error page, same words and status (a JSON
            # body there was a page of raw text, the console's layout gone)
            answer: Response = page(request, status_of(exc), unplaced(request, exc))
            return answer
        return JSONResponse({"code": type(exc).__name__, "message": unplaced(request, exc)},
                            status_code=status_of(exc))

    for kind, _status in _STATUS:
        app.add_exception_handler(kind, reply)

    async def driver(request: Request, exc: Exception) -> Response:
        # A store that let its driver's error through (the users table, a session check):
        # the database being out of reach is a 503 like any other; anything else stays the
        # unhandled error it was (a 500, logged with its traceback).
        if state_unavailable(exc) is None:
            raise exc
        return unavailable(request, exc)

    app.add_exception_handler(SQLAlchemyError, driver)
    app.add_exception_handler(sqlite3.Error, driver)

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
    keeps the whole message. An error of the database being out of reach
    (:func:`state_unavailable`) is told as :data:`UNAVAILABLE` alone, and logged here."""
    if state_unavailable(exc) is not None:
        _log_unavailable(request, exc)
        return UNAVAILABLE
    state = getattr(request.app.state, "lacuna", None)
    return str(exc) if state is None else placeless(state, str(exc))


def placeless(state: ServerState, text: str) -> str:
    """``text`` with where the server keeps its state (the state database's URL, with or
    without its password, or its file) said as "the server's state database"."""
    places = {state.governor.audit.where, _safe_url(state.db), state.db}
    for where in sorted((p for p in places if p), key=len, reverse=True):
        text = text.replace(where, "the server's state database")
    return text


def status_of(exc: Exception) -> int:
    """The HTTP status of one of Lacuna's errors: 503 when it comes of the state database
    being out of reach (:func:`state_unavailable`), else that of the first kind in
    :data:`_STATUS` it is an instance of."""
    if state_unavailable(exc) is not None:
        return 503
    return next(status for kind, status in _STATUS if isinstance(exc, kind))


UNAVAILABLE = ("the server's state database is unavailable (it could not be reached, stayed "
               "locked, or its driver failed). Try again in a moment; if it persists, tell "
               "the server's operator (the server's log has the cause under this answer's "
               "X-Request-ID)")
RETRY_AFTER_S = 5


def state_unavailable(exc: BaseException) -> BaseException | None:
    """The driver error that made ``exc``, when it says the state database is out of reach:
    down or unreachable, locked beyond the busy timeout, out of pool connections, not a
    database any more, or another failure of the database or its driver (SQLAlchemy's
    ``OperationalError``, ``InterfaceError``, ``InternalError``, a bare ``DatabaseError``,
    a pool ``TimeoutError``, and sqlite3's). The stores wrap these in their own errors
    (``AuditError``, ``LineageError``, ...), some ``from None``: the chain is walked through
    causes and contexts. A value the database refused (``DataError``), a conflict
    (``IntegrityError``) or a wrong statement (``ProgrammingError``) is not: the caller or the
    code is at fault, not the database's availability."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen or len(seen) > 32:
            continue
        seen.add(id(current))
        if _out_of_reach(current):
            return current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def _out_of_reach(exc: BaseException) -> bool:
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.OperationalError | sa.InterfaceError | sa.InternalError
                  | sa.TimeoutError | sa.DisconnectionError):
        return True
    if type(exc) is sa.DatabaseError:  # e.g. "file is not a database"; not its subclasses
        return True
    if isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError
                  | sqlite3.InternalError):
        return True
    return type(exc) is sqlite3.DatabaseError


def unavailable(request: Request, exc: BaseException) -> Response:
    """The 503 of a request the state database failed: the same words to every caller (never
    the database's URL, host or file, nor the driver's text), the whole error in the server's
    log. A console page gets it as a page (:data:`UNAVAILABLE_PAGE` on the app's state, which
    the console installs)."""
    _log_unavailable(request, exc)
    page = getattr(request.app.state, UNAVAILABLE_PAGE, None)
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if page is not None and request.url.path.startswith("/console"):
        response: Response = page(request, UNAVAILABLE)
    else:
        response = JSONResponse({"code": "StateUnavailable", "message": UNAVAILABLE},
                                status_code=503)
    response.headers.update(headers)
    return response


def _log_unavailable(request: Request, exc: BaseException) -> None:
    """One error line: the request, the store's message and the driver's own first line
    (never SQLAlchemy's rendering of the statement's parameters, which hold the values)."""
    cause = state_unavailable(exc) or exc
    driver = (str(getattr(cause, "orig", None) or cause).splitlines() or [""])[0]
    told = "" if isinstance(exc, SQLAlchemyError | sqlite3.Error) else f"{exc} "
    log.error("HTTP 503 for %s %s (request %s): the state database is unavailable: %s(%s: %s)",
              request.method, request.url.path, request.scope.get("lacuna.request_id"), told,
              type(cause).__name__, driver)


UNAVAILABLE_PAGE = "lacuna_unavailable_page"  # app.state: (request, message) -> a 503 page
# app.state: (request, status, message) -> the page of one of Lacuna's errors on a console page
ERROR_PAGE = "lacuna_error_page"


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
