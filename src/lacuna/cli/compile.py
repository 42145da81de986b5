"""``lacuna compile``: ADR-0012's compile-time quality validation of a dbt project.

Prints the five-step report, writes ``--json`` and ``--sarif`` reports, and exits 1 when strict
enforcement with ``block_on_failure`` finds errors (0 otherwise, warnings included; 2 for a
usage, configuration or manifest error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lacuna.cli.dbt import TargetOption
from lacuna.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from lacuna.dbt.classify import Sampler
    from lacuna.dbt.manifest import DbtNode, DbtProject
    from lacuna.dbt.report import CompileReport, Finding

console = Console(highlight=False, soft_wrap=True)

OK, BAD, WARN = "[green]✓[/green]", "[red]✗[/red]", "[yellow]![/yellow]"


def compile_command(
    project_dir: Annotated[Path, typer.Option("--project-dir", help="The dbt project folder.")]
    = Path(),
    enforcement: Annotated[
        str | None,
        typer.Option("--enforcement", help="off, warn or strict (default: quality_gates."
                     "enforcement, else warn)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", metavar="FILE",
                                                  help="Write the JSON report here.")] = None,
    sarif_out: Annotated[Path | None, typer.Option("--sarif", metavar="FILE",
                                                   help="Write a SARIF 2.1.0 report here.")]
    = None,
    run_checks: Annotated[bool, typer.Option(
        "--run-checks", help="Run the gates' row_count, null_percentage and freshness checks "
        "against the warehouse (the project's DuckDB file).")] = False,
    warehouse: Annotated[Path | None, typer.Option(
        "--warehouse", help="The DuckDB file (default: from the project's profiles.yml).")]
    = None,
    gates_config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="The file with quality_gates/quality (default: floe.yaml, "
        "lacuna.yaml or manifest.yaml in the project).")] = None,
    parse: Annotated[bool, typer.Option("--parse", help="Run `dbt parse` first.")] = False,
    target: TargetOption = None,
    no_verify_manifest: Annotated[bool, typer.Option(
        "--no-verify-manifest", help="Believe target/manifest.json without checking it against "
        "the project's YAML and SQL (a manifest used without its project; docs/dbt.md).")]
    = False,
) -> None:
    """Check a dbt project's tests, docs and quality gates (ADR-0012) before it runs."""
    from lacuna import __version__
    from lacuna.dbt.compile import compile_project, load_project_gates
    from lacuna.dbt.evidence import Evidence, duckdb_path
    from lacuna.dbt.governance import load_governance
    from lacuna.dbt.manifest import load_project
    from lacuna.dbt.sarif import write_sarif

    if enforcement is not None and enforcement not in ("off", "warn", "strict"):
        msg = f"--enforcement {enforcement!r}: expected off, warn or strict"
        raise ConfigError(msg)
    console.print("[bold][1/5] Loading platform artifacts[/bold]")
    gates, source = load_project_gates(project_dir, gates_config)
    # the policies are validated before anything passes (ADR-0012: compile-time validation):
    # a typo in them would otherwise surface only when a production read is decided
    load_governance(project_dir, config=gates_config)
    names = source if source == "defaults" else \
        ", ".join(Path(s).name for s in source.split(", "))
    console.print(f"  {OK} Quality gates: {gates.rules_loaded} rules loaded "
                  f"({escape(names)})")
    console.print("[bold][2/5] Analyzing dbt project[/bold]")
    project = load_project(project_dir, parse=parse, verify=not no_verify_manifest,
                           target=target)
    db = warehouse or (duckdb_path(project, target) if project.adapter_type in (None, "duckdb")
                       else None)
    evidence = Evidence(audit=_audit_store, lineage=_lineage_store, warehouse=db,
                        adapter=project.adapter_type)
    checks = []
    if run_checks:
        from lacuna.dbt.checks import run_checks as run

        if db is None:
            msg = ("--run-checks needs the project's DuckDB file: pass --warehouse PATH "
                   f"(adapter: {project.adapter_type})")
            raise ConfigError(msg)
        checks = run(project, gates, db)
    from lacuna.dbt.checks import warehouse_columns

    mode = enforcement or gates.quality_gates.enforcement
    report = compile_project(project, gates, enforcement=mode,  # type: ignore[arg-type]
                             evidence=evidence, checks=checks, checks_ran=run_checks,
                             built_columns=warehouse_columns(db) if db else None,
                             sampler=_sampler(project, db))
    console.print(f"  {OK} {report.models} models, {report.tests} tests")
    for f in report.findings:  # the classification's findings (lacuna.classification.*)
        if f.step == 2:
            console.print(f"  {_mark(f.level)} {escape(f.message)}")
            console.print(f"      Fix: {escape(f.fix)}")
    _print(report)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2, default=str),
                            encoding="utf-8")
    if sarif_out is not None:
        write_sarif(report, sarif_out, tool_version=__version__)
    raise typer.Exit(1 if report.failed else 0)


def _sampler(project: DbtProject, db: Path | None) -> Sampler:
    """Seeds' values from their CSV files; a source's from its table in the DuckDB file when
    there is one (what ``lacuna dbt record`` samples too), so that a source column declared
    below what its values show is reported before the run."""
    from lacuna.dbt.classify import seed_sampler
    from lacuna.dbt.warehouse import sampler as warehouse_sampler

    seeds = seed_sampler(project)
    if db is None or not Path(db).is_file():
        return seeds
    tables = warehouse_sampler(Path(db), fallback=seeds)

    def sample(node: DbtNode, names: Sequence[str]) -> Mapping[str, Sequence[Any]] | None:
        return tables(node, names) if node.resource_type == "source" else seeds(node, names)

    return sample


def _audit_store():  # type: ignore[no-untyped-def]
    from lacuna.governor import current

    return current().audit


def _lineage_store():  # type: ignore[no-untyped-def]
    from lacuna.governor import current

    return current().lineage_store


def _mark(level: str) -> str:
    return {"error": f"{BAD} ERROR:", "warning": f"{WARN} WARNING:"}.get(level, "  note:")


def _print(report: CompileReport) -> None:
    console.print("[bold][3/5] Checking test coverage[/bold]")
    by_layer = {f.layer: f for f in report.findings if f.rule_id == "lacuna.coverage.layer"}
    for layer in report.layers:
        minimum = f" (min: {layer.minimum_coverage:.0f}%)" if layer.minimum_coverage is not None \
            else ""
        line = f"{layer.layer} layer: {layer.coverage:.0f}% coverage{minimum}"
        finding = by_layer.get(layer.layer)
        if finding is None:
            console.print(f"  {OK} {line}")
            continue
        console.print(f"  {_mark(finding.level)} {line}")
        missing = [f"{m.name}.{c}" for m in report.model_coverage if m.layer == layer.layer
                   for c in m.untested_columns]
        if missing:
            console.print(f"      Missing tests for: {escape(', '.join(missing))}")
    for f in report.findings:
        if f.rule_id == "lacuna.coverage.model":
            console.print(f"  {_mark(f.level)} {escape(f.message)}")
            console.print(f"      Fix: {escape(f.fix)}")
    unlayered = [m.name for m in report.model_coverage if m.layer is None]
    if unlayered:
        console.print(f"  {WARN} no layer detected for: {escape(', '.join(unlayered))} "
                      "(name prefix, folder, tag or config.meta layer)")
    console.print("[bold][4/5] Validating quality gates[/bold]")
    per_model: dict[str, list[Finding]] = {}
    for f in report.findings:
        if f.step == 4 and f.model:
            per_model.setdefault(f.model, []).append(f)
    coverage = {m.unique_id: m for m in report.model_coverage}
    for uid, found in per_model.items():
        model = coverage[uid]
        worst = "error" if any(f.level == "error" for f in found) else str(found[0].level)
        console.print(f"  {_mark(worst)} Model '{escape(model.name)}' missing required tests")
        console.print(escape(f"      Required: [{', '.join(model.required_tests)}]"))
        console.print(escape(f"      Missing: [{', '.join(model.missing_tests)}]"))
        for f in found:
            test = f.message.split("`")[1] if "`" in f.message else f.rule_id
            reason = f.message.split(": ", 1)[-1]
            console.print(f"        - {escape(test)}: {escape(reason)}")
            console.print(f"          fix: {escape(f.fix)}")
    if not per_model:
        console.print(f"  {OK} every model has its required tests")
    _print_checks(report)
    status = "[red]FAILED[/red]" if report.failed else "[green]SUCCEEDED[/green]"
    errors, warnings = len(report.errors), len(report.warnings)
    tail = ""
    if errors or warnings:
        tail = f" ({errors} errors, {warnings} warnings, enforcement: {report.enforcement})"
    console.print(f"[bold][5/5] Compilation {status}[/bold]{tail}")
    if report.failed:
        console.print("Fix quality violations and re-run `lacuna compile`")
    elif errors:
        console.print("Errors do not block: block_on_failure is false")


def _print_checks(report: CompileReport) -> None:
    if not report.checks_ran:
        if report.gates_loaded:
            console.print(f"  - {report.gates_loaded} quality gates declared; run them against "
                          "the warehouse with --run-checks")
        return
    for c in report.checks:
        mark = OK if c.passed else _mark({"block": "error", "warn": "warning"}.get(
            c.on_failure, "note"))
        console.print(f"  {mark} gate '{escape(c.gate)}': {c.check} on {escape(c.model)}: "
                      f"{escape(c.observed)} (expected {escape(c.expected)})")
