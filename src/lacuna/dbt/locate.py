"""Which DuckDB file holds a dbt project's tables: one answer for every ``lacuna dbt`` command.

In this order (:func:`locate`):

1. ``database`` (``--database PATH``), when given; it must exist.
2. The ``path`` of the profile's target output, read as dbt reads it
   (:func:`lacuna.dbt.target.read_target`: ``$DBT_PROFILES_DIR``, ``$DBT_PROFILE``,
   ``--target``, else ``$DBT_TARGET``, else the profile's ``target:``; ``env_var()``
   rendered), relative to the project folder, where dbt runs. A missing file is a problem that
   names ``profiles.yml`` and the output, never a reason to look elsewhere: a stale file of the
   same name in ``target/`` is not the warehouse dbt wrote.
3. Only when the target cannot be read (no ``dbt_project.yml`` or ``profiles.yml``, no such
   profile or output, a ``path`` with Jinja only dbt renders or an unset ``env_var()``):
   ``<database>.duckdb`` of the manifest's nodes in the target folder, else the project folder.

lacuna.yaml's ``dbt.warehouse`` URL comes before 2 where a command takes one; the commands check
it themselves (:func:`lacuna.dbt.runtime.configured_warehouse`), as they do ``--warehouse URL``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lacuna.dbt.manifest import ManifestError
from lacuna.errors import ConfigError, IntegrationError, LacunaError

if TYPE_CHECKING:
    from lacuna.dbt.manifest import DbtProject
    from lacuna.dbt.target import Target


@dataclass(frozen=True, slots=True)
class WarehouseFile:
    """The answer of :func:`locate`: a file, or the ``problem`` that stops its use."""

    path: Path | None
    source: str  # where the answer came from: "--database", "profiles.yml (p: outputs: dev)"
    problem: str = ""  # empty: ``path`` is an existing file to use
    error: type[LacunaError] = ManifestError  # what :meth:`require` raises for the problem

    def require(self) -> Path:
        """The file; raises ``error`` with the problem when there is none to use."""
        if self.problem or self.path is None:
            raise self.error(self.problem or "no DuckDB warehouse file")
        return self.path


def locate(project: DbtProject, database: str | Path | None = None,
           target: str | None = None) -> WarehouseFile:
    """The project's DuckDB warehouse file (see the module docstring); ``target``:
    ``--target``, the profile's output dbt ran with."""
    if database is not None:
        path = Path(database).expanduser()
        if not path.is_file():
            return WarehouseFile(path, "--database", f"--database {path}: no such file (the "
                                 "DuckDB file `dbt build` wrote; or leave --database out to "
                                 "use the path of the target in profiles.yml)")
        return WarehouseFile(path, "--database")
    if project.adapter_type not in (None, "duckdb"):
        return WarehouseFile(None, "manifest", (
            f"dbt project {project.name!r} runs on {project.adapter_type}: Lacuna rewrites and "
            "reads tables directly only on DuckDB; use the dbt post-hook macros there"),
            IntegrationError)
    try:
        found = project_target(project, target)
    except ConfigError as exc:  # profiles.yml or dbt_project.yml is not valid YAML
        return WarehouseFile(None, "profiles.yml", str(exc))
    if found is not None and found.type is not None:
        located = _from_target(project, found)
        if located is not None:
            return located
    why = found.why if found is not None else \
        f"there is no dbt_project.yml in {project.project_dir}"
    return _by_name(project, why)


def optional(project: DbtProject, database: str | Path | None = None,
             target: str | None = None) -> tuple[Path | None, str]:
    """The warehouse file to read when there is one, for a command that can do without it;
    else None and why ("" when the project is not on DuckDB, where none is expected).

    Raises:
        ManifestError: ``database`` was given (``--database``) and is not there.
    """
    found = locate(project, database, target)
    if database is not None:
        found.require()  # a file named on the command line must be there
    if not found.problem and found.path is not None:
        return found.path, ""
    if project.adapter_type not in (None, "duckdb"):
        return None, ""
    return None, found.problem


def project_target(project: DbtProject, target: str | None = None) -> Target | None:
    """The profile output ``target`` (``--target``) of the project, read as dbt reads it
    (:func:`lacuna.dbt.target.read_target`); None without a ``dbt_project.yml``.

    Raises:
        ManifestError: ``dbt_project.yml`` or ``profiles.yml`` is not valid YAML.
    """
    from lacuna.dbt.properties import read_yaml_mapping
    from lacuna.dbt.target import read_target

    root = Path(project.project_dir)
    if not (root / "dbt_project.yml").is_file():
        return None
    return read_target(root, read_yaml_mapping(root / "dbt_project.yml"), target)


def _from_target(project: DbtProject, found: Target) -> WarehouseFile | None:
    """The output's file, or its problem; None when its ``path`` is Jinja only dbt renders."""
    from lacuna.dbt.expected import UNKNOWN

    if found.type != "duckdb":
        return WarehouseFile(None, found.where, (
            f"{found.where} is a {found.type} output, not DuckDB: Lacuna rewrites and reads "
            "tables directly only on DuckDB; pass --target for the DuckDB output dbt built, "
            "--warehouse URL, or use the dbt post-hook macros there"), IntegrationError)
    if found.path is UNKNOWN:
        return None
    file = found.duckdb_file(Path(project.project_dir))
    if file is not None:
        file = Path(os.path.normpath(file))  # ../shared/x.duckdb, shown as the file it is
    if file is None:
        return WarehouseFile(None, found.where, (
            f"{found.where}: path {found.path or ':memory:'!r} is not a DuckDB file Lacuna can "
            "open (in memory, MotherDuck or DuckLake): pass --database PATH, or --warehouse "
            "URL where the command takes one"), IntegrationError)
    if not file.is_file():
        return WarehouseFile(file, found.where, (
            f"{found.where}: path {found.path!r} is {file}, which does not exist: run `dbt "
            "build` with this target (and the environment dbt reads env_var() from), pass "
            "--target for the output that holds the tables, or --database PATH"))
    return WarehouseFile(file, found.where)


def _by_name(project: DbtProject, why: str) -> WarehouseFile:
    """The old lookup, for a target Lacuna cannot read: ``<database>.duckdb`` by name."""
    db_names = {n.database for n in project.nodes.values() if n.database}
    for name in sorted(db_names):
        for folder in (project.target_dir, project.project_dir):
            candidate = folder / f"{name}.duckdb"
            if candidate.is_file():
                return WarehouseFile(candidate, f"{candidate.name} by the manifest's database "
                                     f"name (the target's path is unknown: {why})")
    return WarehouseFile(None, "manifest", (
        f"no DuckDB warehouse found for dbt project {project.name!r}: the target's path is "
        f"unknown ({why}), and no <database>.duckdb is in {project.target_dir} or the project "
        "folder; pass --database PATH"))


__all__ = ["WarehouseFile", "locate", "optional", "project_target"]
