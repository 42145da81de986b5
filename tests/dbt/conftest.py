"""The example dbt project, built once per test session.

``dbt_built`` copies ``examples/dbt_project`` to a temporary folder, points its ``packages.yml``
at the ``lacuna`` dbt package of this checkout, and runs ``dbt deps`` and ``dbt build`` once;
tests read the manifest, run results and the DuckDB warehouse it leaves. Without dbt the
fixture skips with the reason. ``dbt_project_copy`` is a fresh unbuilt copy per test.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lacuna.dbt import PACKAGE_DIR
from lacuna.dbt.manifest import find_dbt, run_dbt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dbt_project"
_IGNORE = shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*", ".user.yml",
                                 "package-lock.yml")


@dataclass(frozen=True)
class BuiltProject:
    dir: Path
    warehouse: Path
    build_output: str

    @property
    def target(self) -> Path:
        return self.dir / "target"


def copy_example(dest: Path) -> Path:
    """The example project at ``dest`` with its package path made absolute."""
    shutil.copytree(EXAMPLE, dest, ignore=_IGNORE)
    (dest / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE_DIR}\n", encoding="utf-8")
    return dest


def _require_dbt() -> None:
    if find_dbt(EXAMPLE) is None:
        pytest.skip("dbt is not installed (scripts/setup.sh puts it in .venv-dbt; or set "
                    "LACUNA_DBT)")


@pytest.fixture(scope="session")
def dbt_built(tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """``dbt build`` of the example project, once per session."""
    _require_dbt()
    project = copy_example(tmp_path_factory.mktemp("dbt") / "dbt_project")
    run_dbt(["deps"], project)
    done = run_dbt(["build"], project)
    return BuiltProject(dir=project, warehouse=project / "target" / "warehouse.duckdb",
                        build_output=done.stdout)


@pytest.fixture
def dbt_project_copy(tmp_path: Path) -> Path:
    """A fresh, unbuilt copy of the example project."""
    return copy_example(tmp_path / "dbt_project")
