"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import lacuna


@pytest.fixture
def downloads(sandbox: Path, sandbox_config, monkeypatch: pytest.MonkeyPatch) -> Path:
    """~/Downloads (HOME is the sandbox), unmanaged under the default configuration; Lacuna
    enabled with the sandbox's settings."""
    monkeypatch.setenv("HOME", str(sandbox))
    lacuna.enable(sandbox_config())
    return Path("~/Downloads").expanduser()
