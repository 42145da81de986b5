"""Helpers for tests that start a real server process: a free loopback port, and waiting for
its /health with the server's log in the failure message."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, *,
                 timeout: float = 60.0, poll: float = 0.1, workers: int = 1) -> None:
    """Return once ``url``/health answers 200 and the log says ``workers`` workers finished
    starting (the first one up answers /health while another may still be importing: a
    signal then finds it half started); kill ``proc`` and fail with the log's tail if it
    exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (httpx.get(f"{url}/health", timeout=1).status_code == 200
                    and log.read_text(errors="replace").count(
                        "Application startup complete") >= workers):
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the server did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(poll)
