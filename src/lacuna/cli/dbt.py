"""``lacuna dbt``: classification, suggestions, environment policies and run records of a dbt
(or Floe) project. See docs/dbt.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
console = Console()
err_console = Console(stderr=True)

ProjectDir = Annotated[Path, typer.Option("--project-dir", help="The dbt project's folder.")]
Parse = Annotated[bool, typer.Option("--parse", help="Run `dbt parse` first (needs dbt).")]
NoVerify = Annotated[bool, typer.Option(
    "--no-verify-manifest", help="Believe target/manifest.json without checking it against "
    "the project's YAML and SQL (a manifest used without its project; docs/dbt.md).")]
TargetOption = Annotated[str | None, typer.Option(
    "--target", "-t", help="The profile's output dbt runs with (default: $DBT_TARGET, else "
    "the profile's target); the manifest's schemas and databases are checked against it.")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
Environment = Annotated[
    str | None,
    typer.Option("--environment", "-e",
                 help="development, preview, staging or production (default: production "
                      "when floe.yaml's or lacuna.yaml's environment is; else floe.yaml's, "
                      "else lacuna.yaml's). Where lacuna.yaml says production (environment "
                      "or dbt.environment), another environment is refused."),
]


def _configure(config: Path | None, **overrides: object) -> None:
    from lacuna.governor import configure

    configure(str(config) if config else None, **{k: v for k, v in overrides.items() if v})


Database = Annotated[
    Path | None,
    typer.Option("--database", help="A DuckDB warehouse to sample values from (default: the "
                 "path of the target's output in profiles.yml, when the file exists)."),
]


Warehouse = Annotated[
    str | None,
    typer.Option("--warehouse", help="Sample values from this warehouse (a SQLAlchemy URL: "
                 "duckdb:///…, postgresql+psycopg://…, sqlite:///…; default: lacuna.yaml's "
                 "dbt.warehouse, else --database / the project's DuckDB file)."),
]


def _classified(project_dir: Path, parse: bool, config: Path | None,
                database: Path | None = None, warehouse: str | None = None,
                verify: bool = True, target: str | None = None) -> tuple[object, str]:
    """The project's classification, and why no warehouse values were sampled ("" when they
    were, or when the project is not on DuckDB)."""
    from lacuna.dbt import load_project
    from lacuna.dbt.classify import classify_project, seed_sampler
    from lacuna.dbt.locate import optional
    from lacuna.dbt.runtime import configured_warehouse
    from lacuna.dbt.warehouse import sampler as warehouse_sampler
    from lacuna.governor import current

    _configure(config)
    gov = current()
    project = load_project(project_dir, parse=parse, verify=verify, target=target)
    sampler = seed_sampler(project)
    url = warehouse or (None if database else configured_warehouse(project, gov.config))
    note = ""
    if url:
        sampler = warehouse_sampler(url, fallback=sampler)
    else:
        path, why = optional(project, database, target)
        if path is not None:
            sampler = warehouse_sampler(path, fallback=sampler)
        elif why:
            note = f"values not sampled from the warehouse: {why}"
    return classify_project(project, gov.config.classification, sampler=sampler), note


@app.command()
def classify(
    project_dir: ProjectDir = Path("."),
    parse: Parse = False,
    no_verify_manifest: NoVerify = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database: Database = None,
    warehouse: Warehouse = None,
    target: TargetOption = None,
    config: ConfigOption = None,
) -> None:
    """Classify every model, seed, snapshot and source: declared, inherited or suggested."""
    from lacuna.dbt.classify import ProjectClassification

    pc, note = _classified(project_dir, parse, config, database, warehouse,
                           verify=not no_verify_manifest, target=target)
    assert isinstance(pc, ProjectClassification)
    if as_json:
        out = {uid: {**nc.classification.to_dict(), "declared": list(nc.declared),
                     "inherited": list(nc.inherited), "suggested": list(nc.suggested),
                     "overruled": [o.column for o in nc.overruled],
                     "notes": list(nc.notes)} for uid, nc in pc.nodes.items()}
        typer.echo(json.dumps(out, indent=2))
        return
    for nc in pc.nodes.values():
        c = nc.classification
        table = Table(title=f"{nc.node.unique_id}: {c.tier.value} {', '.join(c.tags)}",
                      title_justify="left")
        for head in ("column", "class", "pii_type", "sensitivity", "source"):
            table.add_column(head)
        overruled = {o.column: o for o in nc.overruled}
        for name, col in c.columns.items():
            source = ("declared" if name in nc.declared else
                      f"{'values' if overruled[name].by_values else 'inherited'} (declared "
                      f"{overruled[name].declared.classification.value}: lower, so overruled)"
                      if name in overruled else
                      "inherited" if name in nc.inherited else "suggested")
            table.add_row(escape(name), col.classification.value, escape(col.pii_type or ""),
                          col.sensitivity.value, source)
        console.print(table)
        for node_note in nc.notes:
            console.print(f"  note: {node_note}", highlight=False, markup=False)
    if note:
        err_console.print(f"note: {note}", highlight=False, markup=False)


@app.command()
def suggest(
    project_dir: ProjectDir = Path("."),
    apply: Annotated[bool, typer.Option("--apply", help="Write the suggestions into the "
                                        "schema files, keeping comments and formatting.")] = False,
    namespace: Annotated[str | None, typer.Option(
        "--namespace", help="meta namespace to write: lacuna or floe (default: floe when the "
        "project has a floe.yaml)")] = None,
    parse: Parse = False,
    no_verify_manifest: NoVerify = False,
    database: Database = None,
    warehouse: Warehouse = None,
    target: TargetOption = None,
    config: ConfigOption = None,
) -> None:
    """Suggest classes for undeclared columns: YAML to paste, or --apply it in place."""
    from lacuna.dbt.classify import ProjectClassification
    from lacuna.dbt.suggest import apply as apply_suggestions
    from lacuna.dbt.suggest import suggestions, suggestions_yaml

    pc, note = _classified(project_dir, parse, config, database, warehouse,
                           verify=not no_verify_manifest, target=target)
    assert isinstance(pc, ProjectClassification)
    if note:
        err_console.print(f"note: {note}", highlight=False, markup=False)
    ns = namespace or ("floe" if (project_dir / "floe.yaml").is_file() else "lacuna")
    if ns not in ("lacuna", "floe"):
        err_console.print(f"--namespace must be lacuna or floe, not {ns!r}", markup=False)
        raise typer.Exit(2)
    items = suggestions(pc)
    if not items:
        console.print("every classified column is declared: nothing to suggest")
        return
    if not apply:
        typer.echo(suggestions_yaml(items, ns), nl=False)
        return
    for done in apply_suggestions(pc, items, ns):
        verb = "created" if done.created else "updated"
        console.print(f"{verb} {done.path}: {', '.join(done.columns)}", highlight=False,
                      markup=False)


@app.command("apply")
def apply_cmd(
    project_dir: ProjectDir = Path("."),
    environment: Environment = None,
    seed: Annotated[str, typer.Option(help="Synthetic values are reproducible per seed.")
                    ] = "lacuna",
    database: Annotated[Path | None, typer.Option(help="The DuckDB file (default: the path "
                                                  "of the target's output in profiles.yml)."
                                                  )] = None,
    warehouse: Annotated[str | None, typer.Option(
        help="The built tables as a SQLAlchemy URL (PostgreSQL, SQLite, DuckDB; default: "
             "lacuna.yaml's dbt.warehouse).")] = None,
    target: TargetOption = None,
    config: ConfigOption = None,
    no_verify_manifest: NoVerify = False,
) -> None:
    """Apply non-production policies to the built tables: synthesize, redact, mask, hash."""
    from lacuna.dbt.runtime import apply_environment, load_plan
    from lacuna.governor import current

    _configure(config)
    gp = load_plan(project_dir, environment=environment, config=current().config,
                   verify=not no_verify_manifest, target=target)
    report = apply_environment(project_dir, seed=seed, database=database, governance_plan=gp,
                               warehouse=warehouse, target=target)
    for relation, done in report.tables.items():
        actions = ", ".join(f"{c}={a}" for c, a in done.items())
        console.print(f"{relation}: {actions}", highlight=False, markup=False)
    for uid in report.skipped:
        console.print(f"skipped {uid}: its table is not built", highlight=False, markup=False)
    console.print(f"{len(report.tables)} table(s) governed for {report.environment} in "
                  f"{report.database}", highlight=False, markup=False)


@app.command()
def read(
    model: Annotated[str, typer.Argument(help="The model (name or unique id).")],
    project_dir: ProjectDir = Path("."),
    environment: Environment = None,
    user: Annotated[str | None, typer.Option(help="User id (default: from config).")] = None,
    role: Annotated[str | None, typer.Option(help="User role.")] = None,
    exception_id: Annotated[str | None, typer.Option(
        "--exception-id", help="An approved exception (critical columns).")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 10,
    database: Annotated[Path | None, typer.Option(help="The DuckDB file (default: the path "
                                                  "of the target's output in profiles.yml)."
                                                  )] = None,
    warehouse: Annotated[str | None, typer.Option(
        help="The built tables as a SQLAlchemy URL (default: lacuna.yaml's dbt.warehouse).")
    ] = None,
    target: TargetOption = None,
    config: ConfigOption = None,
) -> None:
    """Read a model's table through the production policies (exit 1 when denied)."""
    from lacuna.dbt.runtime import read_model
    from lacuna.errors import GovernanceViolation
    from lacuna.governor import current

    _configure(config, user={k: v for k, v in (("id", user), ("role", role)) if v})
    who = current().config.user.to_user()
    try:
        frame = read_model(project_dir, model, user=who, environment=environment,
                           exception_id=exception_id, database=database,
                           warehouse=warehouse, target=target)
    except GovernanceViolation as exc:
        err_console.print(f"[red]denied:[/red] {escape(exc.decision.reasoning)}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(frame.head(limit).to_string(index=False))


@app.command()
def policies(
    project_dir: ProjectDir = Path("."),
    environment: Environment = None,
    target: TargetOption = None,
    config: ConfigOption = None,
    no_verify_manifest: NoVerify = False,
) -> None:
    """Validate the governance section and show what it does to each classified column."""
    from lacuna.dbt.runtime import effects_summary, load_plan
    from lacuna.governor import current

    _configure(config)
    gp = load_plan(project_dir, environment=environment, config=current().config,
                   verify=not no_verify_manifest, target=target)
    table = Table(title=f"governance in {gp.environment} ({gp.category})", title_justify="left")
    for head in ("node", "column", "action", "policies"):
        table.add_column(head)
    for row in effects_summary(gp):
        table.add_row(*(escape(str(cell)) for cell in row))
    console.print(table)


@app.command()
def record(
    project_dir: ProjectDir = Path("."),
    database: Annotated[Path | None, typer.Option(help="The DuckDB file (to read the hooks' "
                                                  "rows and sample values; default: the path "
                                                  "of the target's output in profiles.yml)."
                                                  )] = None,
    environment: Environment = None,
    target: TargetOption = None,
    config: ConfigOption = None,
) -> None:
    """Record the last dbt run: lineage runs, decisions, audit and OpenLineage per node.

    Exits 1 when a node is denied or its decision is not recorded, and when its dbt tests fail
    quality.dbt_tests under strict enforcement with block_on_failure (docs/dbt.md)."""
    from lacuna.dbt.record import record_run
    from lacuna.lineage.ol_emit import flush_all

    _configure(config)
    report = record_run(project_dir, database=database, environment=environment,
                        target=target)
    flush_all()
    for note in report.notes:
        err_console.print(f"note: {note}", highlight=False, markup=False)
    for n in report.nodes:
        verdict = "" if n.decision is None else (
            " allowed" if n.decision.allowed else f" DENIED: {n.decision.reasoning}")
        hook = "" if n.tracked or not report.hook_rows else " (no track_lineage hook)"
        lost = "" if n.unrecorded is None else f" DECISION NOT RECORDED: {n.unrecorded}"
        console.print(f"{n.unique_id}: {n.status}{verdict}{lost}{hook}", highlight=False,
                      markup=False)
        for failure in n.quality_failures:
            console.print(f"  quality gate dbt_tests FAILED: {failure}", highlight=False,
                          markup=False)
    console.print(f"recorded {len(report.nodes)} node run(s) of dbt invocation "
                  f"{report.invocation_id} ({report.hook_rows} hook row(s))", highlight=False,
                  markup=False)
    if report.quality_failed:
        level = ("error" if report.quality_blocks else
                 "note" if report.enforcement == "off" else "warning")
        tail = "" if report.quality_blocks else (
            f" (enforcement {report.enforcement}, block_on_failure "
            f"{str(report.block_on_failure).lower()}: not blocking)")
        err_console.print(f"{level}: {len(report.quality_failed)} node(s) fail the quality gate "
                          f"quality.dbt_tests (their dbt tests failed or did not run){tail}; "
                          "fix the data or the tests, run dbt build and lacuna dbt record "
                          "again",
                          highlight=False, markup=False)
    if report.unrecorded:
        err_console.print(f"error: {len(report.unrecorded)} decision(s) are not on the audit "
                          "trail; fix the audit store (lacuna.yaml's audit) or the policies and "
                          "run lacuna dbt record again",
                          highlight=False, markup=False)
    raise typer.Exit(1 if report.denied or report.unrecorded or report.quality_blocks else 0)


@app.command("vars")
def vars_cmd(
    project_dir: ProjectDir = Path("."),
    environment: Environment = None,
    seed: Annotated[str, typer.Option(
        help="Tells pseudonym sets apart; not a secret. hash and synthesize are keyed by "
             "$LACUNA_DBT_HASH_KEY (16+ characters, required), not by the seed.")] = "lacuna",
    target: TargetOption = None,
    config: ConfigOption = None,
    no_verify_manifest: NoVerify = False,
) -> None:
    """Print the --vars for dbt that make the lacuna.govern() post-hook apply the policies.

    hash and synthesize need LACUNA_DBT_HASH_KEY in dbt's environment (docs/dbt.md)."""
    from lacuna.dbt.runtime import govern_vars, load_plan
    from lacuna.governor import current

    _configure(config)
    gp = load_plan(project_dir, environment=environment, config=current().config,
                   verify=not no_verify_manifest, target=target)
    typer.echo(json.dumps(govern_vars(gp, seed=seed), separators=(",", ":")))


@app.command("package-path")
def package_path() -> None:
    """Print the folder of the `lacuna` dbt package (for packages.yml: `- local: <path>`)."""
    from lacuna.dbt import PACKAGE_DIR

    typer.echo(str(PACKAGE_DIR))
