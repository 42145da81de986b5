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
# The pipeline's steps: the governor calls them and hands them their settings and stores.
STEPS = ("classify", "lineage", "policy", "audit", "anonymize", "exceptions")
# Public functions that act on "the current governor" by design (lacuna.exceptions.request,
# ...): known debt, to move behind the governor as lineage did (lineage.api.LineageHost, which
# the governor installs). Do not add to it.
GOVERNOR_FACADES: tuple[str, ...] = ()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "lacuna":  # from lacuna import governor
                names.update(f"lacuna.{alias.name}" for alias in node.names)
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


def _step_files() -> list[Path]:
    return [p for step in STEPS for p in sorted((SRC / step).rglob("*.py"))]


@pytest.mark.parametrize("path", _step_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_step_imports_the_governor(path):
    """integrations -> governor -> steps -> model: a step is handed its settings and stores."""
    if str(path.relative_to(SRC)) in GOVERNOR_FACADES:
        pytest.skip("a public facade over the current governor (known debt)")
    bad = sorted(n for n in _imports(path) if n == "lacuna.governor" or n.startswith(
        ("lacuna.governor.", "lacuna.api")))
    assert not bad, (f"{path.relative_to(SRC)} imports {bad}: steps must not know the governor; "
                     "take the settings or store as an argument instead")


def test_the_model_imports_no_step_and_no_governor():
    bad = sorted(n for n in _imports(SRC / "model.py")
                 if n.startswith(("lacuna.governor", *(f"lacuna.{s}" for s in STEPS))))
    assert not bad, f"model.py imports {bad}: the model is the innermost layer"


def test_the_governor_imports_no_integration():
    bad = sorted(n for n in _imports(SRC / "governor.py") if n.startswith("lacuna.integrations"))
    assert not bad, f"governor.py imports {bad}: integrations call the governor, not the reverse"


# The inheritance rules an integration must not apply itself: it describes the operation as a
# lineage Step and hands it to Governor.inherit (see docs/lineage.md, "Writing an integration").
RULE_FUNCTIONS = frozenset({"combine", "project", "aggregate", "reassign", "derive", "stricter"})


def _rule_calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "rules" and node.attr in RULE_FUNCTIONS):
            found.add(f"rules.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "lacuna.lineage.rules":
            found.update(a.name for a in node.names if a.name in RULE_FUNCTIONS)
    return found


@pytest.mark.parametrize("path", sorted((SRC / "integrations").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SRC)))
def test_integrations_hand_inheritance_to_the_governor(path):
    bad = sorted(_rule_calls(path))
    assert not bad, (f"{path.relative_to(SRC)} applies {bad} itself: describe the operation as a "
                     "lacuna.lineage.step.Step and call Governor.inherit")


def test_one_combine_rule():
    """One function named combine in lineage and the integrations: the join rule."""
    defined = []
    for path in [*(SRC / "lineage").rglob("*.py"), *(SRC / "integrations").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined += [f"{path.relative_to(SRC)}:{n.name}" for n in ast.walk(tree)
                    if isinstance(n, ast.FunctionDef) and "combine" in n.name.lower()]
    assert defined == ["lineage/rules.py:combine"]
