"""Fixtures: the sandbox's config with a steward who may approve registered datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

import lacuna
from lacuna.config import Config, DestinationConfig, config_from_dict

STEWARD = "steward@example.com"


def dataset_config(sandbox: Path, **extra: object) -> lacuna.Config:
    defaults = DestinationConfig()
    data: dict[str, object] = {
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "destinations": {
            "governed": [f"{sandbox / 'governed' / 'workspace'}/", *defaults.governed],
            "unmanaged": [str(sandbox / "Downloads"), *defaults.unmanaged],
        },
        "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"},
    }
    if "stewards" in Config.model_fields:  # the steward list (branch `exceptions`), when present
        data["stewards"] = {"default": [STEWARD]}
    data.update(extra)
    return config_from_dict(data)


@pytest.fixture
def home(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder with Downloads/ (``~/Downloads`` is unmanaged by default)."""
    home = sandbox / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def enabled(sandbox: Path):
    """Lacuna enabled on the sandbox; call it with overrides to re-enable."""

    def enable(**extra: object) -> lacuna.Config:
        config = dataset_config(sandbox, **extra)
        lacuna.enable(config)
        return config

    yield enable
    lacuna.disable()
