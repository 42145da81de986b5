"""Start uvicorn with the server's settings; SIGTERM/SIGINT shut it down gracefully.

On SIGTERM uvicorn stops accepting connections, lets requests in flight finish (up to
``shutdown_timeout_s``), then the app's shutdown flushes the decision log and closes the stores.
An audit record is committed before its request answers, so every answered request is on the
trail (tests/server/test_operations.py checks this under load, with one worker and two).

With several workers each listens on a socket of its own (:mod:`lacuna.server.workers`).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from lacuna.server.settings import ServerSettings

if TYPE_CHECKING:
    from lacuna.server.outer import Outer

_RESOLVED = "_LACUNA_SERVER_RESOLVED"  # settings handed to worker processes


def app_from_env() -> Outer:
    """The factory uvicorn workers call (settings from the parent, as JSON): the FastAPI app
    behind the outer lane (:mod:`lacuna.server.outer`)."""
    from lacuna.server.app import create_app
    from lacuna.server.collector import settle
    from lacuna.server.logs import configure_logging
    from lacuna.server.outer import serving

    settings = ServerSettings.model_validate(json.loads(os.environ[_RESOLVED]))
    configure_logging(json_lines=settings.log_json)
    app = serving(create_app(settings))
    settle()  # this worker's start-up heap, built: see lacuna.server.collector
    return app


def run(settings: ServerSettings) -> int:
    """Serve until stopped; returns the exit code."""
    import uvicorn

    from lacuna.server.logs import configure_logging

    configure_logging(json_lines=settings.log_json)
    if settings.demo:
        from lacuna.server.demo import prepare_demo

        settings = prepare_demo(settings, out=sys.stdout)
    os.environ[_RESOLVED] = settings.model_dump_json()
    common = {"host": settings.host, "port": settings.port, "log_config": None,
              "access_log": False, "timeout_graceful_shutdown": int(settings.shutdown_timeout_s),
              "server_header": False, **proxy_options(settings)}
    if settings.workers > 1:
        from lacuna.server.workers import serve_workers

        serve_workers(uvicorn.Config(
            "lacuna.server.run:app_from_env", factory=True, workers=settings.workers,
            timeout_worker_healthcheck=max(1, round(settings.worker_healthcheck_s)), **common))
    else:
        uvicorn.run(app_from_env(), **common)
    return 0


def proxy_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's proxy options: ``X-Forwarded-For``/``-Proto`` are believed only from the
    addresses ``trusted_proxies`` names.

    uvicorn's default believes them from 127.0.0.1, which on a server listening on loopback
    is every local caller: any notebook could then write the client address a refusal is
    audited with (``security.audit_refusal``). Off, the headers are ignored (and uvicorn's
    proxy-headers middleware, a layer every request paid for, is not installed).
    """
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}
