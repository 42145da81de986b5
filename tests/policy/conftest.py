"""Fixtures for policy tests: small bundles written to a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from lacuna.policy import default_bundle_root

WriteBundle = Callable[..., Path]


@pytest.fixture
def write_bundle(tmp_path: Path) -> WriteBundle:
    """Write ``{relative path: text}`` into a fresh folder, optionally over the default bundle."""
    counter = iter(range(1_000_000))

    def write(files: Mapping[str, str], *, base: str = "empty") -> Path:
        root = tmp_path / f"bundle-{next(counter)}"
        if base == "default":
            shutil.copytree(str(default_bundle_root()), root)
        else:
            root.mkdir()
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    return write
