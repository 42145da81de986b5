"""``lacuna generate``: consumption-layer access rules from a dbt project's classification.

``lacuna generate cube`` writes Cube data-model files with access policies (or, for Cube
versions without access-policy masking, a ``cube.js`` queryRewrite); ``lacuna generate polaris``
writes Apache Polaris catalog-role grants as management-API requests. Exit 0 on success, 2 on a
usage, configuration or manifest error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lacuna.cli.dbt import TargetOption

if TYPE_CHECKING:
    from lacuna.dbt.consumption import AccessPlan

app = typer.Typer(help="Generate Cube and Polaris access rules from dbt classification.",
                  no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

ProjectDir = Annotated[Path, typer.Option("--project-dir", help="The dbt project folder.")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", "-c", help="The file with governance.policies and consumption (default: "
    "floe.yaml or lacuna.yaml in the project).")]
Models = Annotated[list[str] | None, typer.Option(
    "--models", "-m", help="Only these models (name globs; repeatable).")]
NoVerify = Annotated[bool, typer.Option(
    "--no-verify-manifest", help="Believe target/manifest.json without checking it against "
    "the project's YAML and SQL (a manifest used without its project; docs/dbt.md).")]


def _plan(project_dir: Path, config: Path | None, models: list[str] | None,
          verify: bool = True, target: str | None = None) -> AccessPlan:
    from lacuna.dbt.checks import warehouse_types
    from lacuna.dbt.consumption import load_consumption, plan_access
    from lacuna.dbt.evidence import duckdb_path
    from lacuna.dbt.manifest import load_project

    consumption, governance, _ = load_consumption(project_dir, config)
    project = load_project(project_dir, verify=verify, target=target)
    db = duckdb_path(project, target) if project.adapter_type in (None, "duckdb") else None
    return plan_access(project, consumption, governance, models=models,
                       column_types=warehouse_types(db) if db else None)


def _summary(plan: AccessPlan) -> None:
    for model in plan.models:
        parts = []
        for role in plan.roles:
            masked, withheld = model.members(role, "masked"), model.members(role, "withheld")
            if masked or withheld:
                bits = ([f"masked {', '.join(masked)}"] if masked else []) + \
                    ([f"withheld {', '.join(withheld)}"] if withheld else [])
                parts.append(f"{role}: {'; '.join(bits)}")
        rows = f"; rows filtered by {', '.join(f.user_attribute for f in model.row_filters)}" \
            if model.row_filters else ""
        console.print(f"  {escape(model.name)}: "
                      f"{escape(' | '.join(parts) or 'every role sees every column')}"
                      f"{escape(rows)}")


@app.command()
def cube(
    project_dir: ProjectDir = Path(),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (Cube's project "
                                      "root: model/cubes/*.yml, cube.js).")] = Path("cube"),
    cube_version: Annotated[str | None, typer.Option(
        "--cube-version", help="The Cube version to target; below 1.6.56 Lacuna writes a "
        "queryRewrite in cube.js instead of access-policy masking. Default: current.")]
    = None,
    config: ConfigFile = None,
    models: Models = None,
    target: TargetOption = None,
    no_verify_manifest: NoVerify = False,
) -> None:
    """Write Cube data-model files with access_policy (member_level, member_masking,
    row_level with { userAttributes.x }), failing closed when a user attribute is missing."""
    from lacuna.dbt.cube import generate_cube, supports_masking

    plan = _plan(project_dir, config, models, verify=not no_verify_manifest,
                 target=target)
    written = generate_cube(plan, out, cube_version=cube_version)
    mode = "access policies with masking" if supports_masking(cube_version) else \
        "queryRewrite in cube.js (no access-policy masking in this Cube version)"
    console.print(f"Cube model for {len(plan.models)} models, roles "
                  f"{', '.join(plan.roles)}: {mode}")
    _summary(plan)
    for path in written:
        console.print(f"  wrote {escape(str(path))}")


@app.command()
def polaris(
    project_dir: ProjectDir = Path(),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("polaris"),
    config: ConfigFile = None,
    models: Models = None,
    target: TargetOption = None,
    no_verify_manifest: NoVerify = False,
) -> None:
    """Write Polaris catalog-role grants (namespace/table privileges per role) as the management
    API's JSON requests, with a summary and an apply script."""
    from lacuna.dbt.polaris import generate_polaris, polaris_requests

    plan = _plan(project_dir, config, models, verify=not no_verify_manifest,
                 target=target)
    written = generate_polaris(plan, out)
    requests, summary = polaris_requests(plan)
    console.print(f"Polaris catalog {summary['catalog']!r}: {len(requests)} requests for roles "
                  f"{', '.join(plan.roles)}")
    for role, access in summary["roles"].items():
        withheld = "; ".join(f"{t} ({why})" for t, why in access["withheld"].items())
        console.print(f"  {escape(role)}: reads {len(access['tables'])} tables"
                      + (f"; withheld: {escape(withheld)}" if withheld else ""))
    for path in written:
        console.print(f"  wrote {escape(str(path))}")
