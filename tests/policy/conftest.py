"""Fixtures for policy tests: small bundles in a temporary folder, and the OPA stand-in server."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from lacuna.policy import PolicyEngine, default_bundle_root
from lacuna.policy.opa_bundle import write_opa_bundle

WriteBundle = Callable[..., Path]
HERE = Path(__file__).parent


def _register(name: str, filename: str) -> Any:
    """Import a helper file of this folder as module ``name`` (tests run with
    ``--import-mode=importlib``, so sibling files are not importable by themselves)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / filename)
        if spec is None or spec.loader is None:  # pragma: no cover - the files are right here
            raise ImportError(filename)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# Helpers the test modules import by these names.
_register("policy_opa_standin", "opa_standin.py")  # a stand-in for OPA's Data API; not OPA
_register("policy_seed_cases", "seed_cases.py")
_register("policy_golden_cases", "test_policy_golden.py")


def load_standin_module() -> Any:
    """``tests/policy/opa_standin.py`` (a stand-in for OPA's Data API; not OPA)."""
    return sys.modules["policy_opa_standin"]


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


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start OPA stand-ins: ``standin(engine)`` serves that engine's bundle (as an OPA bundle
    written by ``write_opa_bundle``); ``standin()`` starts an empty one. Stopped after the test.
    """
    module = load_standin_module()
    started: list[Any] = []
    counter = iter(range(1_000_000))

    def start(engine: PolicyEngine | None = None) -> Any:
        tar = None
        if engine is not None:
            tar = tmp_path / f"bundle-{next(counter)}.tar.gz"
            write_opa_bundle(engine, tar)
        server = module.OpaStandIn(tar).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
