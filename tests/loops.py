"""Running a coroutine from a test whatever the worker has running.

A session component on the same xdist worker (Playwright's sync API, for the console's browser
tests) keeps an event loop running on the main thread, where ``asyncio.run`` refuses to start
another. :func:`run` gives the coroutine a loop of its own on a fresh thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on a thread of its own; its result or its exception."""
    with ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coro).result()
