"""dbt and Floe projects: the manifest, classification from ``meta``, governance config, the
runtime effect of per-environment policies, and run recording (docs/dbt.md).

Nothing here imports dbt: Lacuna reads dbt's artifacts (``manifest.json``, ``run_results.json``)
and runs the ``dbt`` executable only when asked to.
"""

from __future__ import annotations

from pathlib import Path

from lacuna.dbt.manifest import (
    DbtColumn,
    DbtNode,
    DbtProject,
    DbtTest,
    ManifestError,
    find_dbt,
    load_project,
    run_dbt,
)

PACKAGE_DIR = Path(__file__).resolve().parent / "package"  # the `lacuna` dbt package

__all__ = [
    "PACKAGE_DIR",
    "DbtColumn",
    "DbtNode",
    "DbtProject",
    "DbtTest",
    "ManifestError",
    "find_dbt",
    "load_project",
    "run_dbt",
]
