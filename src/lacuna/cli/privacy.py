"""``lacuna privacy budget``: what ``noise`` releases have spent, per source column.

Each ``noise`` release that makes personal data public spends epsilon from the budget of the
columns it came from (:mod:`lacuna.anonymize.budget`); this shows the ledger: per subject, the
epsilon spent, the releases and the last one, against ``anonymize.epsilon_budget``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Privacy: the noise strategy's budget.")
console = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("budget")
def budget_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Epsilon spent by noise releases per source column, against anonymize.epsilon_budget."""
    from lacuna.anonymize.budget import ledger, limit_of
    from lacuna.governor import configure

    cfg = configure(str(config) if config else None).config
    limit = limit_of(cfg)
    rows = ledger(cfg)
    if as_json:
        typer.echo(json.dumps({"limit": limit, "subjects": [
            {"subject": s.described, "epsilon": s.epsilon, "left": max(limit - s.epsilon, 0.0),
             "releases": s.releases, "last_at": s.last_at} for s in rows]}, indent=2))
        return
    if not rows:
        console.print(f"no noise release has spent any budget yet (limit {limit:g} per source "
                      "column: anonymize.epsilon_budget)", highlight=False, markup=False)
        return
    table = Table(title=f"privacy budget (limit {limit:g} per subject: anonymize.epsilon_budget)")
    for col in ("subject", "spent", "left", "releases", "last release"):
        table.add_column(col)
    for s in rows:
        table.add_row(s.described, f"{s.epsilon:g}", f"{max(limit - s.epsilon, 0.0):g}",
                      str(s.releases), s.last_at)
    console.print(table)
