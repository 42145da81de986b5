"""``lacuna datasets``: register, list, show and refresh pre-approved derived datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lacuna.config import Config
    from lacuna.datasets import Dataset

app = typer.Typer(no_args_is_help=True, help="Register and use pre-approved derived datasets.")
console = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def _configure(config: Path | None) -> Config:
    from lacuna.governor import configure

    return configure(str(config) if config else None).config


# a class decided under other classification/anonymize settings than the current ones
STALE = "built under other settings"
STALE_HINT = ("{what} built under other classification or anonymize settings than the current "
              "ones: its class is not what they give. The next get rebuilds it; to rebuild "
              "now: lacuna datasets refresh {name}")


def _transform(transform: str, columns: list[str] | None) -> str | dict[str, str]:
    if not columns:
        return transform
    mapping: dict[str, str] = {}
    for item in columns:
        name, sep, strategy = item.partition("=")
        if not sep or not name.strip() or not strategy.strip():
            msg = ("--column takes COLUMN=STRATEGY, COLUMN=drop or COLUMN=keep (e.g. "
                   f"email=hash, notes=drop, region=keep), got {item!r}")
            raise typer.BadParameter(msg)
        mapping[name.strip()] = strategy.strip()
    return mapping


def describe(d: Dataset, config: Config) -> list[tuple[str, str]]:
    """The fields ``show`` prints, in order."""
    c = d.classification
    stale = f" ({STALE})" if d.built_under_other_settings(config) else ""
    approval = ("an entitled steward" if d.approval == "steward"
                else "recorded, not verified: no stewards are configured")
    built = f"{d.built_at:%Y-%m-%d %H:%M:%S} UTC, {d.rows} rows" if d.built_at else "not yet"
    return [
        ("name", d.name),
        ("source", d.source),
        ("transform", d.transform.describe()),
        ("location", d.location),
        ("owner", d.owner),
        ("approved by", f"{d.approved_by} ({approval})"),
        ("refresh", d.refresh),
        ("registered", f"{d.registered_at:%Y-%m-%d %H:%M:%S} UTC by {d.registered_by}"
                       + (f", declared in {d.declared_in}" if d.declared_in else "")),
        ("built", built),
        ("classification", f"{c.tier.value}" + (f" ({', '.join(c.tags)})" if c.tags else "")
                           + stale if c else "not yet built"),
        ("columns", ", ".join(d.columns) or "not yet built"),
        ("lineage", f"{d.source} → {d.transform.kind} → {d.name}"),
        ("description", d.description or "-"),
    ]


@app.command()
def register(
    name: Annotated[str, typer.Argument(help="The dataset's name, e.g. customers_anonymized.")],
    source: Annotated[Path, typer.Argument(help="The data file it derives from.")],
    approved_by: Annotated[str, typer.Option(help="The data steward who approved it.")],
    transform: Annotated[
        str, typer.Option(help="'anonymize' (per pii_type) or a strategy for every personal "
                          "column (hash, mask, redact, ...).")
    ] = "anonymize",
    column: Annotated[
        list[str] | None, typer.Option(help="COLUMN=STRATEGY, COLUMN=drop or COLUMN=keep "
                                       "(repeatable; columns not named are kept); replaces "
                                       "--transform.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Who answers for it.")] = None,
    refresh: Annotated[
        str, typer.Option(help="on_read, manual, or a schedule string (run by the scheduler "
                          "lacuna serve starts).")
    ] = "on_read",
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    config: ConfigOption = None,
) -> None:
    """Register a dataset and materialise it in the governed folder."""
    import lacuna

    _configure(config)
    entry = lacuna.datasets.register(
        name, source, _transform(transform, column), approved_by=approved_by, owner=owner,
        refresh=refresh, description=description,
    )
    console.print(f"Registered {entry.name}: {entry.location}", highlight=False)
    console.print(f'Use it: df = lacuna.datasets.get("{entry.name}")', highlight=False)


@app.command("list")
def list_(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """List registered datasets (those declared in lacuna.yaml included)."""
    import lacuna

    settings = _configure(config)
    items = lacuna.datasets.list()
    if as_json:
        for item in items:
            typer.echo(json.dumps({**item.to_dict(), "built_under_other_settings":
                                   item.built_under_other_settings(settings)}))
        return
    table = Table(title="Registered datasets", title_justify="left")
    for header in ("name", "source", "transform", "tier", "approved by", "refresh", "built"):
        table.add_column(header, overflow="fold")
    stale = [d.name for d in items if d.built_under_other_settings(settings)]
    for d in items:
        tier = d.classification.tier.value if d.classification else ""
        if d.name in stale:
            tier += f" ({STALE})"
        built = f"{d.built_at:%Y-%m-%d %H:%M}" if d.built_at else "not yet"
        table.add_row(d.name, d.source, d.transform.describe(), tier, d.approved_by, d.refresh,
                      built)
    console.print(table)
    if stale:
        console.print(STALE_HINT.format(what=", ".join(stale) + (" was" if len(stale) == 1
                                                                  else " were"),
                                        name=stale[0] if len(stale) == 1 else "NAME"),
                      highlight=False, markup=False)


@app.command()
def show(name: str, as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Show one dataset: source, transform, approval, refresh, classification, last build."""
    import lacuna

    settings = _configure(config)
    entry = lacuna.datasets.show(name)
    if as_json:
        typer.echo(json.dumps({**entry.to_dict(), "built_under_other_settings":
                               entry.built_under_other_settings(settings)}, indent=2))
        return
    for key, value in describe(entry, settings):
        console.print(f"{key + ':':<16}{value}", highlight=False, markup=False)
    if entry.built_under_other_settings(settings):
        console.print(STALE_HINT.format(what=f"{entry.name} was", name=entry.name),
                      highlight=False, markup=False)


@app.command("refresh")
def refresh_(
    name: Annotated[str | None, typer.Argument(help="The dataset (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Rebuild a dataset from its source now (every dataset without NAME)."""
    import lacuna

    _configure(config)
    for entry in lacuna.datasets.refresh(name):
        console.print(f"Rebuilt {entry.name}: {entry.rows} rows, "
                      f"{entry.classification.tier.value if entry.classification else '?'}",
                      highlight=False)
