"""``lacuna retention``: plan and apply retention by tier, place and release legal holds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from lacuna.retention import Plan

app = typer.Typer(no_args_is_help=True, help="Retention by tier, legal holds.")
console = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _gov(config: Path | None):  # type: ignore[no-untyped-def]
    from lacuna.governor import configure

    return configure(str(config) if config else None)


@contextlib.contextmanager
def _here() -> Iterator[None]:
    """A command refused with ``server:`` (retention's trail and holds are the server's):
    its message and exit 2, as the other commands reading local state."""
    from lacuna.remote.client import NotOnThisHost

    try:
        yield
    except NotOnThisHost as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}",
                                   highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--as-of {text!r}: expected an ISO-8601 date or time, e.g. 2027-01-31"
        raise typer.BadParameter(msg) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _table(plan: Plan) -> Table:
    table = Table(title=f"Retention plan at {plan.now:%Y-%m-%d %H:%M} UTC", show_lines=False)
    for col in ("action", "item", "tier", "age", "rule", "policy", "why"):
        table.add_column(col, overflow="fold")
    for e in plan.entries:
        age = f"{e.age_days / 365.25:.1f}y" if e.age_days >= 365 else f"{e.age_days:.0f}d"
        table.add_row(e.action.upper() if e.due else e.action, e.item.path, e.item.tier.value,
                      age, e.rule, e.policy, e.reason)
    return table


@app.command("plan")
def plan_command(
    as_json: JsonOption = False,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Plan as of this date (ISO-8601): what would be due then.")] = None,
    config: ConfigOption = None,
) -> None:
    """Show what retention would delete, archive or keep, and why (rule, tier, age, policy).
    A file whose age is not known from trusted evidence, or that was already due under a rule
    recorded by an earlier apply, is to review; a changed rule is shown with the previous one."""
    from lacuna.retention import build_plan

    with _here():
        plan = build_plan(_gov(config), now=_when(as_of))
    if as_json:
        typer.echo(json.dumps(plan.to_dict(), indent=2))
        return
    console.print(_table(plan), soft_wrap=True)
    console.print(f"{plan.count('delete')} to delete, {plan.count('archive')} to archive, "
                  f"{plan.count('keep')} kept, {plan.count('hold')} held, "
                  f"{plan.count('review')} to review, {plan.count('error')} error(s)",
                  highlight=False)


@app.command("apply")
def apply_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Delete or archive what is due now, keep the rest; every decision is audited.
    Waits while another process applies retention on this host (a server's scheduled run:
    retention.schedule), then plans afresh. Exit 1 when an item could not be deleted, is an
    error, kept (a rule failed, a hold is lost or not on the audit trail, its data has hard
    links elsewhere, ...: see its reason), or is to review, kept (its age is not known from
    trusted evidence, or it was already due under a rule an earlier apply recorded)."""
    from lacuna.retention import apply

    with _here():
        report = apply(_gov(config))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for event, paths in report.done.items():
            for path in paths:
                console.print(f"{event:<8} {path}", highlight=False, markup=False)
        for line in report.failed:
            console.print(f"FAILED   {line}", highlight=False, markup=False)
        console.print(f"{len(report.records)} audit record(s) written", highlight=False)
    raise typer.Exit(1 if report.failed or report.plan.count("error")
                     or report.plan.count("review") else 0)


@app.command("hold")
def hold_command(
    dataset: Annotated[str, typer.Argument(help="A file or folder (everything under it).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (litigation, audit, request).")],
    config: ConfigOption = None,
) -> None:
    """Place a legal hold: the dataset is never deleted or archived until released."""
    from lacuna.retention import place_hold

    with _here():
        hold = place_hold(_gov(config), dataset, reason=reason)
    console.print(f"hold {hold.id} placed on {hold.dataset}: {hold.reason}", highlight=False,
                  markup=False)


@app.command("release")
def release_command(
    dataset: Annotated[str, typer.Argument(help="The held file or folder, or the hold's id.")],
    config: ConfigOption = None,
) -> None:
    """Release a legal hold."""
    from lacuna.retention import release_hold

    with _here():
        hold = release_hold(_gov(config), dataset)
    console.print(f"hold {hold.id} on {hold.dataset} released", highlight=False, markup=False)


@app.command("list-holds")
def list_holds_command(
    all_: Annotated[bool, typer.Option("--all", help="Include released holds.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List legal holds (active ones; --all for the history)."""
    from lacuna.retention import list_holds

    holds = list_holds(_gov(config).config, include_released=all_)
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in holds], indent=2))
        return
    if not holds:
        console.print("no legal holds", highlight=False)
        return
    table = Table(title="Legal holds")
    for col in ("id", "dataset", "reason", "placed by", "placed at", "released"):
        table.add_column(col, overflow="fold")
    for h in holds:
        table.add_row(h.id, h.dataset, h.reason, h.placed_by, f"{h.placed_at:%Y-%m-%d %H:%M}",
                      f"{h.released_at:%Y-%m-%d} by {h.released_by}" if h.released_at else "")
    console.print(table)
