"""A throw-away PostgreSQL cluster for the test session (Debian's postgresql-15), shared by every
suite: ``postgres_url`` is the server's URL, :func:`new_postgres_database` makes one database on it.

Registered by ``tests/conftest.py`` as a plugin, so the cluster starts at most once per session
(about 1.3 s) and only when a test asks for it. Skips with the reason when PostgreSQL or psycopg
is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster for the session; its URL (one database per test)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN}: install postgresql-15")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb refuses to run as root")
    root = Path(tempfile.mkdtemp(prefix="lacuna-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    run = {"check": True, "capture_output": True}
    subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "lacuna",
                                "-A", "trust"), **run)  # type: ignore[call-overload]
    subprocess.run(_as_postgres(
        str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off", "start"),
        **run)  # type: ignore[call-overload]
    try:
        yield f"postgresql+psycopg://lacuna@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                    "stop"), capture_output=True, check=False)
        # A database per test leaves gigabytes: removed by a detached `rm`, not on the
        # session's clock (several seconds at the end of a worker's run)
        if shutil.which("setsid"):  # setsid -f: forks rm off and returns at once
            subprocess.run(["setsid", "-f", "rm", "-rf", "--", str(root)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            shutil.rmtree(root, ignore_errors=True)


def libpq_dsn(url: str) -> str:
    """The libpq connection string of a ``postgresql+psycopg://`` SQLAlchemy URL (what the
    drivers used directly take: psycopg, psycopg2, asyncpg)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def new_postgres_database(server: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = libpq_dsn(server) + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"
