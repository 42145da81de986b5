"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Callable
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


@pytest.fixture
def restored_by_disable(sandbox_config) -> Callable[[Callable[[], list[object]]], None]:
    """A check: each attribute ``current()`` reads is replaced by ``lacuna.enable()`` and put
    back, the very object it was, by ``lacuna.disable()``."""
    def check(current: Callable[[], list[object]]) -> None:
        lacuna.disable()
        before = current()
        lacuna.enable(sandbox_config())
        assert all(a is not b for a, b in zip(current(), before, strict=True))
        lacuna.disable()
        assert all(a is b for a, b in zip(current(), before, strict=True))

    return check
