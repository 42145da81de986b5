"""``lacuna``: the command line. Commands parse, call the public verbs, and print.

Exit codes: 0 ok / allowed, 1 denied or a failed check, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lacuna.errors import ConfigError, LacunaError

app = typer.Typer(
    name="lacuna",
    help="Self-service data governance: classify data, check operations against policy, "
    "read the audit trail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]


def _print_version(value: bool) -> None:
    if value:
        import platform

        from lacuna import __version__
        from lacuna._version import lacuna_version

        installed = lacuna_version()  # the package metadata's, as provenance records it
        shown = installed if installed != "unknown" else f"{__version__} (not installed)"
        typer.echo(f"lacuna {shown}, Python {platform.python_version()}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print Lacuna's and Python's versions and exit (for a bug report).")] = False,
) -> None:
    """Self-service data governance: classify data, check operations against policy, read the
    audit trail."""


def _configure(config: Path | None, **overrides: Any) -> None:
    from lacuna.governor import configure

    configure(str(config) if config else None, **{k: v for k, v in overrides.items() if v})


@app.command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Data files: csv, tsv, parquet, json, xlsx.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Show the deciding evidence, near misses and the layer "
                     "per column, and which cascade layers are on."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Classify data files: tier and tags per file, class, layer and reasoning per column."""
    from lacuna import _bypass
    from lacuna.classify import statuses
    from lacuna.classify.heuristic import settings_for
    from lacuna.classify.readers import read_sample
    from lacuna.cli._classify import classification_table, explanation, layer_report, to_json
    from lacuna.governor import current

    _configure(config)
    gov = current()
    results = {}
    for path in paths:
        with _bypass.bypass():
            frame = read_sample(str(path), gov.config.classification.sample_rows)
        results[str(path)], _ = gov.classify_source(str(path), frame)
    layers = statuses(settings_for(gov.config.classification))
    if as_json:
        out = to_json(results, layers)
        typer.echo(json.dumps(out if len(paths) > 1 else out[str(paths[0])], indent=2))
        return
    for name, c in results.items():
        console.print(classification_table(name, c, explain=explain))
        if explain:
            console.print(explanation(c), highlight=False, markup=False)
    if explain:
        console.print(layer_report(layers, results), highlight=False)


@app.command()
def check(
    source: Annotated[Path, typer.Argument(help="The data file the operation would act on.")],
    to: Annotated[str, typer.Option("--to", help="Destination: a path, URL or database URL.")],
    action: Annotated[str, typer.Option(help="export, write, read or transform.")] = "export",
    user: Annotated[str | None, typer.Option(help="User id (default: from config).")] = None,
    role: Annotated[str | None, typer.Option(help="User role.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Business purpose.")] = None,
    environment: Annotated[
        str | None, typer.Option(help="development, preview, staging or production.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Dry-run a decision: would SOURCE be allowed to go --to DEST? Exit 0 allowed, 1 denied."""
    import lacuna
    from lacuna.feedback import render_json, render_rich
    from lacuna.model import Action, environment_category

    if action not in {a.value for a in Action}:  # the option's own error, not the config's
        msg = f"{action!r} is not one of: {', '.join(Action)}"
        raise typer.BadParameter(msg, param_hint="'--action'")
    if environment is not None:
        try:
            environment_category(environment)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--environment'") from None
    user_over = {k: v for k, v in (("id", user), ("role", role)) if v}
    _configure(config, user=user_over, environment=environment)
    _usable_destination(to)
    from lacuna.governor import current

    gov = current()
    if gov.config.server is None and not gov.config.policy.server:
        # a policy folder that does not load is a configuration error (exit 2, one line naming
        # the file and the fix), not a decision: it was a fail-closed "denied" (exit 1) with a
        # traceback on stderr
        gov.engine  # noqa: B018
    decision = lacuna.check(str(source), to, action=action, purpose=purpose)
    if as_json:
        typer.echo(render_json(decision))
    else:
        console.print(render_rich(decision), soft_wrap=True)
    raise typer.Exit(0 if decision.allowed else 1)


def _usable_destination(to: str) -> None:
    """A --to that is no destination at all (empty, control characters, a URL without a host)
    is a usage error (exit 2), not a denial with the governor's traceback."""
    from lacuna.errors import IntegrationError
    from lacuna.governor import current

    try:
        current().destination(to)
    except IntegrationError as exc:
        msg = f"--to {to!r} is not a destination: {exc}"
        raise ConfigError(msg) from None


@app.command()
def demo(
    keep: Annotated[
        Path | None,
        typer.Option(help="Run in this folder (new or empty) and keep the files (default: a "
                     "temporary folder)."),
    ] = None,
) -> None:
    """Run the seed's scenario on bundled sample data: classify, join, aggregate, a denied
    export with its learning moment, the compliant alternatives succeeding, the audit trail."""
    from lacuna.demo import run

    raise typer.Exit(run(console, keep=keep))


def _mount_subcommands() -> None:
    from lacuna.cli.audit import app as audit_app
    from lacuna.cli.cache import app as cache_app
    from lacuna.cli.datasets import app as datasets_app
    from lacuna.cli.db import app as db_app
    from lacuna.cli.dbt import app as dbt_app
    from lacuna.cli.exceptions import app as exceptions_app
    from lacuna.cli.exceptions import decrypt_command
    from lacuna.cli.lineage import app as lineage_app
    from lacuna.cli.metrics import app as metrics_app
    from lacuna.cli.metrics import feedback, report_app, survey
    from lacuna.cli.policy import app as policy_app
    from lacuna.cli.retention import app as retention_app
    from lacuna.cli.serve import serve
    from lacuna.cli.users import app as users_app

    app.add_typer(audit_app, name="audit", help="Read and verify the audit trail.")
    app.add_typer(cache_app, name="cache", help="The classification cache: stats, warm, clear.")
    app.add_typer(datasets_app, name="datasets", help="Register and use pre-approved datasets.")
    app.add_typer(db_app, name="db", help="The state database's schema: upgrade, current.")
    app.add_typer(dbt_app, name="dbt", help="dbt and Floe projects: classify, suggest, apply "
                  "environment policies, record runs.")
    app.add_typer(exceptions_app, name="exceptions", help="Request and decide policy exceptions.")
    app.add_typer(lineage_app, name="lineage", help="Query lineage: show, impact, completeness, "
                  "runs, import, dismiss.")
    app.add_typer(metrics_app, name="metrics", help="Governance metrics against their targets.")
    app.add_typer(policy_app, name="policy", help="Check, test, run and package Rego policies.")
    app.add_typer(retention_app, name="retention", help="Retention by tier: plan, apply, legal "
                  "holds.")
    app.add_typer(report_app, name="report", help="Compliance reports for reviews and auditors.")
    app.add_typer(users_app, name="users", help="Server users, roles and API tokens.")
    from lacuna.cli.privacy import app as privacy_app
    app.add_typer(privacy_app, name="privacy", help="Privacy: the noise strategy's budget.")
    from lacuna.cli.proxy import app as proxy_app
    app.add_typer(proxy_app, name="proxy", help="The HTTP egress proxy and its CA.")
    app.command("serve")(serve)
    app.command("decrypt")(decrypt_command)
    from lacuna.cli.compile import compile_command
    app.command("compile")(compile_command)
    from lacuna.cli.generate import app as generate_app
    app.add_typer(generate_app, name="generate", help="Generate Cube and Polaris access rules.")
    from lacuna.cli.storage import keys_app, storage_app
    app.add_typer(keys_app, name="keys", help="Key store keys: versions, rotation, retirement.")
    app.add_typer(storage_app, name="storage", help="Governed storage: sealed files, audited "
                  "reads, re-wrapping after key rotation.")
    app.command("feedback")(feedback)
    app.command("survey")(survey)
    from lacuna.cli.mount import mount, status, unmount_command
    app.command("mount")(mount)
    app.command("unmount")(unmount_command)
    app.command("status")(status)


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Each command's summary in a command list on one line: rich help keeps a docstring's line
    breaks there, which cut a two-line first paragraph mid-sentence."""
    import inspect

    for info in typer_app.registered_commands:
        first = (info.help or inspect.getdoc(info.callback) or "").split("\n\n")[0]
        if info.short_help is None and "\n" in first:
            info.short_help = " ".join(first.split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _one_line_summaries(group.typer_instance)


_mount_subcommands()
_one_line_summaries(app)


def main() -> None:
    """Entry point: Lacuna errors become one clear line and exit code 2, not a traceback."""
    try:
        app()  # typer handles usage errors (exit 2) and typer.Exit itself
    except ConfigError as exc:
        err_console.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except LacunaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
