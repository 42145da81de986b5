"""Retention fixtures: a project with governed storage, written through Lacuna in the past."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import time_machine
import yaml

import lacuna
from lacuna.errors import LacunaError
from lacuna.lineage.sidecar import Sidecar

NOW = datetime.now(UTC)


def years_ago(n: float) -> datetime:
    return NOW - timedelta(days=round(365.25 * n))


@pytest.fixture
def project(sandbox: Path) -> Path:
    """``lacuna.yaml`` in the sandbox: one governed root, the audit trail beside it."""
    root = sandbox / "governed" / "workspace"
    config = {
        "user": {"id": "records_manager", "role": "records_manager"},
        "destinations": {"governed": [f"{root}/"]},
        "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"},
    }
    (sandbox / "lacuna.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return sandbox


def write_at(project: Path, when: datetime, source: str, name: str) -> Path:
    """Read ``source`` and write it under the governed root through Lacuna, at ``when``."""
    target = project / "governed" / "workspace" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with time_machine.travel(when, tick=False):
        lacuna.enable(str(project / "lacuna.yaml"))
        try:
            frame = pd.read_csv(project / source)
            frame.to_csv(target, index=False)
        finally:
            lacuna.disable()
    return target


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lacuna ARGS`` in this process (typer's runner), in the project folder."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    old = os.getcwd()
    os.chdir(project)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(old)
        lacuna.disable()
    if isinstance(result.exception, LacunaError):  # what lacuna.cli.main does: exit 2
        return subprocess.CompletedProcess(args, 2, result.stdout, str(result.exception))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, "")


def rotate_and_rewrap(project: Path, path: Path) -> Sidecar:
    """``lacuna keys rotate storage`` then ``lacuna storage rewrap`` of the one sealed file at
    ``path``: its sidecar as signed again (trusted)."""
    from lacuna.lineage.sidecar import read_sidecar

    assert run(project, "keys", "rotate", "storage").returncode == 0
    rewrap = run(project, "storage", "rewrap")
    assert rewrap.returncode == 0, rewrap.stdout
    assert "1 of 1 sealed file(s) re-wrapped" in rewrap.stdout
    after = read_sidecar(path)
    assert after is not None
    assert after.trusted
    return after


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lacuna ARGS`` in a fresh process, in the project folder, with this checkout first."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "lacuna", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
