"""The project's own checks, run with the tests so CI enforces them: ruff and mypy --strict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# mypy on a clean clone (no cache) is the longest single test: the xdist scheduler hands out
# groups before single tests, so in a group of its own it starts early instead of last, with the
# run waiting on it alone (tests/xdist_groups.py)
pytestmark = pytest.mark.xdist_group("quality")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=600)


def test_ruff_is_clean():
    if shutil.which("ruff", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    result = _run("ruff", "check", "src", "tests", "benchmarks", "scripts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_on_the_package():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[dev]')")
    # a clean clone has no cache to reuse: writing one costs ~10% of the run for nothing
    cache = [] if (ROOT / ".mypy_cache").is_dir() else ["--cache-dir", os.devnull]
    result = _run("mypy", "--strict", "--ignore-missing-imports", *cache, "src/lacuna")
    assert result.returncode == 0, result.stdout + result.stderr
