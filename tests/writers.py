"""Writer processes (and threads) that start together, for tests of concurrent appends."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest


def run_together(script: str, db_url: str, n: int, *, processes: int = 2) -> None:
    """Run ``script`` in ``processes`` Python processes with the arguments ``db_url``,
    ``proc<i>`` and ``n``: each prints ``ready`` once it is set up and waits for a line on its
    stdin, so all of them start writing at once. Fails the test when one does not start or
    does not exit 0 (with its stderr)."""
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(subprocess.Popen(
            [sys.executable, "-c", script, db_url, f"proc{i}", str(n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for i in range(processes)]
        for p in procs:
            assert p.stdout is not None
            assert p.stderr is not None
            if p.stdout.readline().strip() != "ready":
                pytest.fail(f"writer did not start: {p.stderr.read()}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.close()
        for p in procs:
            assert p.stderr is not None
            assert p.wait(timeout=120) == 0, p.stderr.read()


def at_once(call: Callable[..., Any], args: Sequence[tuple[Any, ...]], *,
            ready: Callable[..., Any] | None = None, timeout: float = 60.0) -> list[Any]:
    """``call(*each)`` for each of ``args``, one thread each, released together: every thread
    first runs ``ready(*each)`` if given (its result is passed to ``call`` first), then waits
    at one barrier. Returns the results in ``args``' order; the first exception a thread
    raised is raised here (after every thread has ended)."""
    barrier = threading.Barrier(len(args), timeout=timeout)
    results: list[Any] = [None] * len(args)
    errors: list[BaseException] = []

    def run(i: int, each: tuple[Any, ...]) -> None:
        try:
            prepared = () if ready is None else (ready(*each),)
            barrier.wait()
            results[i] = call(*prepared, *each)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, each)) for i, each in enumerate(args)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout * 2)
    if errors:
        raise errors[0]
    return results
