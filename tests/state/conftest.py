"""The state suite: every store on SQLite and on the session's live PostgreSQL cluster.

``state_url`` is parametrized over both backends: a fresh SQLite file, or a fresh database on
the cluster that ``tests/fixtures_postgres.py`` starts once per session (Debian's
postgresql-15, ``initdb`` as ``postgres``, loopback only). The PostgreSQL half skips, saying
why, when the binaries or psycopg are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_postgres import new_postgres_database

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        (tmp_path / "state").mkdir()
        return f"sqlite:///{tmp_path / 'state' / 'audit.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A LACUNA_HOME of the test's own (its signing key, its keystore)."""
    path = tmp_path / "home"
    monkeypatch.setenv("LACUNA_HOME", str(path))
    return path


def child_env(home: Path) -> dict[str, str]:
    """The environment of a child process: this checkout's sources, the test's home."""
    path = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "LACUNA_HOME": str(home),
            "RUST_BACKTRACE": "0"}


def start_together(script: str, args: list[list[str]], home: Path,
                   timeout: float = 180) -> list[str]:
    """Run ``script`` once per argument list, in separate processes that each print ``ready``
    and then wait for one line on stdin, so that they all start their work at the same time;
    return their outputs (after ``ready``). Fails the test with a child's stderr."""
    procs = [subprocess.Popen([sys.executable, "-c", script, *a], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=child_env(home)) for a in args]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                p.kill()
                pytest.fail(f"a child did not start: {p.communicate()[1]}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err
            outs.append(out)
        return outs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
