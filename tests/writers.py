"""Writer processes that start together, for tests of concurrent appends."""

from __future__ import annotations

import contextlib
import subprocess
import sys

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
