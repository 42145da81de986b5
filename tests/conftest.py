"""Shared fixtures: every test gets its own LACUNA_HOME, cwd and a fresh governor."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RUST_BACKTRACE", "0")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / ".lacuna-home"))
    monkeypatch.delenv("LACUNA_CONFIG", raising=False)
    monkeypatch.delenv("LACUNA_USER", raising=False)
    monkeypatch.delenv("LACUNA_ROLE", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    import lacuna
    from lacuna.governor import reset

    lacuna.disable()
    reset()
