"""Run a function in a forked child and read back what it returns (tests that fork)."""

from __future__ import annotations

import json
import os
import select
import signal
from collections.abc import Callable
from typing import Any


def in_child(child: Callable[[], Any], timeout: float = 30) -> Any:
    """Run ``child()`` in an ``os.fork``ed process and return the JSON it returns (None when it
    did not answer within ``timeout``: it hung, and is killed)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, json.dumps(child()).encode())
        except BaseException as exc:
            os.write(write, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(0)
    os.close(write)
    ready: list[Any] = []
    try:
        with os.fdopen(read) as answer:
            ready = select.select([answer], [], [], timeout)[0]
            return json.loads(answer.read()) if ready else None
    finally:
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
