"""Start uvicorn with the server's settings; SIGTERM/SIGINT shut it down gracefully.

On SIGTERM uvicorn stops accepting connections, lets requests in flight finish (up to
``shutdown_timeout_s``), then the app's shutdown flushes the decision log and closes the stores.
An audit record is committed before its request answers, so every answered request is on the
trail (tests/server/test_shutdown.py checks this under load).
"""

from __future__ import annotations

import json
import os
import sys

from fastapi import FastAPI

from lacuna.server.settings import ServerSettings

_RESOLVED = "_LACUNA_SERVER_RESOLVED"  # settings handed to worker processes


def app_from_env() -> FastAPI:
    """The factory uvicorn workers call (settings from the parent, as JSON)."""
    from lacuna.server.app import create_app
    from lacuna.server.collector import settle
    from lacuna.server.logs import configure_logging

    settings = ServerSettings.model_validate(json.loads(os.environ[_RESOLVED]))
    configure_logging(json_lines=settings.log_json)
    app = create_app(settings)
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
              "server_header": False}
    if settings.workers > 1:
        uvicorn.run("lacuna.server.run:app_from_env", factory=True, workers=settings.workers,
                    **common)  # type: ignore[arg-type]
    else:
        uvicorn.run(app_from_env(), **common)  # type: ignore[arg-type]
    return 0
