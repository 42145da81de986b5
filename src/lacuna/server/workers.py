"""Several worker processes, each listening on a socket of its own (``SO_REUSEPORT``).

uvicorn's supervisor binds one socket and hands it to every worker. Each worker's event loop
accepts from it when it wakes, and whichever wakes first takes a burst of the new connections:
under the load benchmark 44 of 64 connections went to one of two workers, so one worker's
requests queued (p99 of 47-110 ms at 3,000 decisions/s) while the other had time to spare.
Here each worker binds the address with ``SO_REUSEPORT`` and listens on its own socket, and the
kernel hashes each new connection to one of them (as nginx's ``reuseport`` and gunicorn's
``--reuse-port`` do).

The rest is uvicorn's supervisor as it is (health checks, a dead worker replaced, SIGTERM
passed to every worker): it is handed an :class:`OwnSocket` in place of the shared socket, a
recipe that each worker process unpickles into a socket bound there. The parent binds the
address without listening: that reserves the port while workers come and go, resolves port 0
to one port for all of them, and fails at once when another program holds the address. A worker
that stops listening (shutting down, or dead) resets the connections still waiting in its own
queue, not yet accepted; an answered request is never lost, just as with one shared socket.
"""

from __future__ import annotations

import logging
import socket
import sys
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

log = logging.getLogger("uvicorn.error")


def serve_workers(config: uvicorn.Config) -> None:
    """Serve ``config`` with ``config.workers`` processes until SIGTERM/SIGINT."""
    if not hasattr(socket, "SO_REUSEPORT"):  # no per-worker sockets here: uvicorn's own way
        Multiprocess(config, [config.bind_socket()]).run()
        return
    try:
        reserved = reuseport_socket(config.host, config.port)
    except OSError as exc:
        log.error("cannot bind %s:%s: %s (is another server on this port? choose one with "
                  "--port)", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    config.port = reserved.getsockname()[1]
    log.info("Uvicorn running on http://%s:%d, %d workers with a SO_REUSEPORT socket each "
             "(Press CTRL+C to quit)", config.host, config.port, config.workers)
    try:
        own: Any = OwnSocket(config.host, config.port)  # a socket once in the worker
        Multiprocess(config, [own]).run()
    finally:
        reserved.close()


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _bound_in_worker(host: str, port: int) -> socket.socket:
    try:
        return reuseport_socket(host, port)
    except OSError as exc:  # the supervisor stops on this exit code instead of retrying
        log.error("worker cannot bind %s:%s: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)


@dataclass(frozen=True)
class OwnSocket:
    """Where a worker binds its own socket: pickled to the worker process (uvicorn starts
    workers with ``spawn``), it arrives there as a fresh socket bound to ``host:port`` with
    ``SO_REUSEPORT``, which uvicorn then listens on with the configured backlog."""

    host: str
    port: int

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return _bound_in_worker, (self.host, self.port)
