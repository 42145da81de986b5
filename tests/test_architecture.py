"""Dependencies point inward: integrations, server and CLI use the pipeline, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lacuna"
# The pipeline's steps and the model: they must not know who calls them.
INNER = ("model.py", "errors.py", "config.py", "classify", "lineage", "policy", "audit",
         "anonymize", "exceptions", "destinations.py", "feedback.py", "_registry.py",
         "_bypass.py")
OUTER = ("lacuna.integrations", "lacuna.cli", "lacuna.server", "lacuna.demo")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _inner_files() -> list[Path]:
    files: list[Path] = []
    for entry in INNER:
        path = SRC / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


@pytest.mark.parametrize("path", _inner_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_pipeline_does_not_import_its_callers(path):
    bad = sorted(n for n in _imports(path) if n.startswith(OUTER))
    assert not bad, f"{path.relative_to(SRC)} imports {bad}: the pipeline must not know its hosts"


def test_pipeline_steps_do_not_import_pandas_integration_or_ipython():
    for path in _inner_files():
        assert "IPython" not in {n.split(".")[0] for n in _imports(path)}, path
