"""A sandbox with governed storage, configured by a lacuna.yaml so the CLI sees the same
settings as the Python API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import lacuna
from lacuna.config import DestinationConfig


def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [101, 102, 103, 104],
        "email": ["ann@example.com", "bob@example.org", "cy@example.net", "di@example.com"],
        "phone": ["+1 415 555 0101", "+1 415 555 0102", "+1 415 555 0103", "+1 415 555 0104"],
        "spend": [10.5, 20.25, 30.0, 41.75],
    })


def write_config(folder: Path, **extra: object) -> Path:
    root = folder / "governed" / "workspace"
    root.mkdir(parents=True, exist_ok=True)
    body = {
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "destinations": {"governed": [f"{root}/", *DestinationConfig().governed]},
        "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
        **extra,
    }
    path = folder / "lacuna.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.fixture
def vault(tmp_path: Path):
    """Governed storage at <tmp>/governed/workspace, pandas governed by <tmp>/lacuna.yaml."""
    config = write_config(tmp_path)
    lacuna.enable(str(config))
    yield tmp_path / "governed" / "workspace"
    lacuna.disable()


@pytest.fixture
def decrypted(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What ``SealedReader`` opened for decryption while the test ran, in order: a denied read
    must leave it empty (decided before anything is decrypted)."""
    from lacuna.storage import sealed

    opened: list[object] = []
    original = sealed.SealedReader.__init__

    def spy(self: sealed.SealedReader, *args: object, **kwargs: object) -> None:
        opened.append(args[0])
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sealed.SealedReader, "__init__", spy)
    return opened
