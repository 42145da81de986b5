"""``lacuna metrics``, ``lacuna feedback`` and ``lacuna survey``: measure and improve.

Exit codes: 0 ok, 1 a metric missed its target (``--check``), 2 usage, configuration or
database error, or (``--check``) a filter that matched nothing and names a value Lacuna does
not know (misspelt).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lacuna.errors import ConfigError, LacunaError

if TYPE_CHECKING:
    from lacuna.metrics import GovernanceMetrics

app = typer.Typer(
    help="Governance metrics of a period, against the seed's targets.",
    invoke_without_command=True,
)
console = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", metavar="PATH", help="The lacuna.yaml to read.")
]
PeriodOption = Annotated[
    str, typer.Option("--period", "-p", help="last_7_days, last_30_days, last_N_days, 2026-Q4, "
                      "2026-11 or 2026-10-01..2026-12-31.")
]


def _configure(config: Path | None) -> None:
    from lacuna.governor import configure

    configure(str(config) if config else None)


def _fail(exc: LacunaError) -> typer.Exit:
    what = "configuration error" if isinstance(exc, ConfigError) else "error"
    Console(stderr=True).print(f"[bold red]{what}:[/] {escape(str(exc))}", highlight=False,
                               soft_wrap=True)
    return typer.Exit(2)


@app.callback()
def metrics(
    ctx: typer.Context,
    period: PeriodOption = "last_30_days",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    domain: Annotated[str | None, typer.Option(help="Only this policy domain.")] = None,
    policy: Annotated[str | None, typer.Option(help="Only this policy id.")] = None,
    user_group: Annotated[str | None, typer.Option(help="Only this role.")] = None,
    tier: Annotated[str | None, typer.Option(help="Only this tier.")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit 1 when a metric missed its target; 2 when a filter matched "
        "nothing and names a policy, domain or role Lacuna does not know.")] = False,
    config: ConfigOption = None,
) -> None:
    """The seed's governance metrics for a period, each with its target and flag."""
    if ctx.invoked_subcommand is not None:
        return
    from lacuna.metrics import TARGETS, Flag, GovernanceMetrics
    from lacuna.model import Tier

    try:
        _configure(config)
        if tier is not None:  # a misspelt tier would count nothing and meet every target
            tier = Tier.parse(tier).value
        m = GovernanceMetrics(period, domain=domain, policy=policy, user_group=user_group,
                              tier=tier)
    except LacunaError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(m.to_dict(), indent=2, default=str))
    else:
        console.print(str(m), highlight=False, markup=False)
        table = Table(title=f"Targets ({m.period.label})", box=box.SIMPLE)
        for column in ("metric", "value", "target", "flag"):
            table.add_column(column)
        for name, flag in m.flags.items():
            style = {Flag.OK: "green", Flag.MISSED: "red"}.get(flag, "yellow")
            table.add_row(name, str(getattr(m, name)), TARGETS[name].text,
                          f"[{style}]{flag.value}[/]")
        console.print(table)
    misspelt = False
    for warning, unknown in _unmatched_filters(m):
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                                   soft_wrap=True)
        misspelt = misspelt or unknown
    if check and misspelt:  # a misspelt filter counts nothing and meets every target
        raise typer.Exit(2)
    if check and any(f is Flag.MISSED for f in m.flags.values()):
        raise typer.Exit(1)


def feedback(
    decision_id: Annotated[str, typer.Argument(help="The decision's audit record id or "
                                               "operation id.")],
    false_positive: Annotated[str | None, typer.Option(
        "--false-positive", metavar="COMMENT", help="The denial was wrong: why.")] = None,
    correct: Annotated[str | None, typer.Option(
        "--correct", metavar="COMMENT", help="The decision was right.")] = None,
    config: ConfigOption = None,
) -> None:
    """Tell policy owners whether a decision was right (feeds false_positive_rate)."""
    from lacuna.metrics import report_feedback

    if (false_positive is None) == (correct is None):
        console.print("give exactly one of --false-positive COMMENT or --correct COMMENT")
        raise typer.Exit(2)
    try:
        _configure(config)
        record = report_feedback(decision_id, false_positive=false_positive is not None,
                                 comment=false_positive if false_positive is not None else
                                 str(correct))
    except LacunaError as exc:
        raise _fail(exc) from exc
    console.print(f"feedback recorded (audit record {record.id}); thank you.", highlight=False)


def survey(
    score: Annotated[int, typer.Argument(min=1, max=5, help="1 (disagree) to 5 (agree).")],
    comment: Annotated[str, typer.Option(help="Anything to add.")] = "",
    config: ConfigOption = None,
) -> None:
    """Answer "Governance tools help me work efficiently" (1–5)."""
    from lacuna.metrics import answer_survey

    try:
        _configure(config)
        record = answer_survey(score, comment=comment)
    except LacunaError as exc:
        raise _fail(exc) from exc
    console.print(f"answer recorded (audit record {record.id}); thank you.", highlight=False)


@app.command("insights")
def insights_command(
    period: PeriodOption = "last_30_days",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Policies with the highest violation, false-positive and exception rates, the seed's
    diagnosis for each and the decisions behind them; columns most often reported wrong."""
    from lacuna.metrics import insights

    try:
        _configure(config)
        found = insights(period)
    except LacunaError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2, default=str))
    else:
        console.print(str(found), highlight=False, markup=False)


@app.command("rebuild")
def rebuild_command(config: ConfigOption = None) -> None:
    """Recompute the metrics' rollups from every audit record (after an upgrade, or when the
    rollups were started on a trail that already had records); until then metrics read the
    records themselves. Exits 1, after rebuilding, when the rollups had diverged from the
    trail (records removed or edited outside Lacuna: run `lacuna audit verify`)."""
    from lacuna.governor import current
    from lacuna.metrics.rollup import rebuild_checked

    try:
        _configure(config)
        done = rebuild_checked(current().audit)
    except LacunaError as exc:
        raise _fail(exc) from exc
    console.print(f"rolled up {done.count} decisions; metrics now read the rollups.",
                  highlight=False)
    if done.diverged and done.before is not None:
        # the metrics had silently counted what the trail no longer holds (or not what it does)
        was, now = done.before, done.after
        Console(stderr=True).print(
            f"[red]the rollups had diverged from the audit trail:[/] they counted {was[0]} "
            f"decisions ({was[1]} denied, {was[2]} resolved, {was[3]} workarounds); the "
            f"trail's records give {now[0]} ({now[1]} denied, {now[2]} resolved, {now[3]} "
            "workarounds). Records were removed or edited outside Lacuna since they were "
            "rolled up; the metrics now follow the trail as it is. Run `lacuna audit verify` "
            "and keep the database as evidence.", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


report_app = typer.Typer(help="Reports for reviews and auditors.", no_args_is_help=True)


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    HTML = "html"
    PDF = "pdf"


@report_app.command("compliance")
def compliance(
    period: PeriodOption = "last_30_days",
    fmt: Annotated[ReportFormat, typer.Option(
        "--format", "-f", help="text, json, html or pdf (pdf needs -o; printed by headless "
        "Chromium).")] = (
        ReportFormat.TEXT),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file "
                                                "(default: standard output).")] = None,
    config: ConfigOption = None,
) -> None:
    """Decisions, denials by policy, exceptions with justifications and approvers, audit chain
    verification, lineage completeness and coverage: the quarterly review (--period 2026-Q4)."""
    from lacuna.metrics import compliance_report

    if fmt is ReportFormat.PDF and output is None:
        Console(stderr=True).print("--format pdf writes a file: give it with -o FILE.pdf")
        raise typer.Exit(2)
    try:
        _configure(config)
        report = compliance_report(period)
        if fmt is ReportFormat.PDF and output is not None:
            report.to_pdf(output)
    except LacunaError as exc:
        raise _fail(exc) from exc
    if fmt is ReportFormat.PDF:
        console.print(f"wrote {output} (pdf, {report.period.label})", highlight=False)
        return
    text = {ReportFormat.TEXT: report.to_text, ReportFormat.JSON: report.to_json,
            ReportFormat.HTML: report.to_html}[fmt]()
    if output is None:
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output} ({fmt.value}, {report.period.label})", highlight=False)


def _unmatched_filters(m: GovernanceMetrics) -> list[tuple[str, bool]]:
    """A warning for each filter of ``m`` when nothing of its period matched the filters (no
    decision, no exception request), with whether the filter names a value Lacuna does not
    know: a policy id or domain the policy bundle does not have, a role that is neither
    Lacuna's nor the configured user's. ``--check`` exits 2 on such a value (a misspelt
    ``--policy`` used to count nothing and pass); a known value that only had a quiet period
    is a warning."""
    counts, filters = m.counts, m.filters.to_dict()
    if (not filters or counts["violation_rate"]["decisions"]
            or counts["exception_rate"]["exception_requests"]):
        return []
    from difflib import get_close_matches

    known = _known_filter_values()
    misspelt: list[tuple[str, bool]] = []
    for name, value in filters.items():
        options = known.get(name)  # (the tier was validated before: Tier.parse)
        if options is None or value in options:
            continue
        near = get_close_matches(value, sorted(options), n=3)
        misspelt.append((
            f"{_option(name)} {value}: nothing in {m.period.label} matched it, and it is not "
            f"a {name.replace('_', ' ')} Lacuna knows "
            + (f"(did you mean {', '.join(near)}?)" if near else
               f"(known: {', '.join(sorted(options)[:12])})") + "; check the spelling", True))
    if misspelt:
        return misspelt
    given = " ".join(f"{_option(k)} {v}" for k, v in filters.items())
    return [(f"{given}: nothing in {m.period.label} matched; widen --period if that is not "
             "what you expected", False)]


def _option(name: str) -> str:
    """A filter's CLI option (``user_group``: ``--user-group``)."""
    return "--" + name.replace("_", "-")


def _known_filter_values() -> dict[str, set[str]]:
    """What each filter may name: every role, policy id and domain a decision of the trail
    was counted under (the rollups), the loaded bundle's policy ids and domains, the
    stewards' policies and domains, Lacuna's roles and the configured user's. A filter whose
    values cannot all be known here (rollups incomplete; a policy engine without packages) is
    left out."""
    from lacuna.governor import current
    from lacuna.identity import ROLES
    from lacuna.metrics import rollup

    gov = current()
    if gov.config.server is not None:  # the rollups are the server's, not this host's
        return {}
    with gov.audit.engine.connect() as conn:
        seen = rollup.seen(conn)
    if seen is None:
        return {}
    known = {"user_group": seen["user_group"] | {*ROLES, gov.config.user.role}}
    packages = getattr(gov.engine, "packages", None)
    if packages is not None:
        known["policy"] = (seen["policy"] | set(gov.config.stewards.policies)
                           | {str(p.metadata["id"]) for p in packages if p.metadata.get("id")})
        known["domain"] = (seen["domain"] | set(gov.config.stewards.domains)
                           | {p.name for p in packages}
                           | {p.name.rsplit(".", 1)[-1] for p in packages})
    return known
