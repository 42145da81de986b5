"""``lacuna cache``: the classification cache, operated: stats, warm, clear.

The seed's troubleshooting for slow classification: "check cache hit rate; increase cache size
or pre-warm cache". ``stats`` shows the hit rate per cache layer and the entries by
classification layer; ``warm`` classifies files ahead of use, so the answers the slower layers
(embeddings, LLM) give are already in the persistent tier for the next process;
``classification.cache.size`` in ``lacuna.yaml`` sets the memory tier's size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lacuna.classify.cache import AnswerCache
    from lacuna.governor import Governor

app = typer.Typer(no_args_is_help=True, help="The classification cache: stats, warm, clear.")
console = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _cache(config: Path | None) -> tuple[Governor, AnswerCache]:
    from lacuna.classify.cascade import cascade_for
    from lacuna.governor import configure

    gov = configure(str(config) if config else None)
    return gov, cascade_for(gov.cascade).cache


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


@app.command("stats")
def stats_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Hit rate per cache layer (all processes since the last clear), size, entries by layer."""
    _, cache = _cache(config)
    stats = cache.stats()
    if as_json:
        typer.echo(json.dumps(stats.to_dict(), indent=2))
        return
    where = stats.where or "memory only"
    console.print(f"classification cache: {where}", highlight=False, markup=False)
    console.print(f"hit rate {_pct(stats.hit_rate)}; memory tier {stats.memory_entries} of "
                  f"{stats.size} entries (classification.cache.size)", highlight=False)
    table = Table(title="lookups by cache layer")
    for col in ("layer", "hits", "misses", "hit rate"):
        table.add_column(col)
    for tier, row in stats.to_dict()["tiers"].items():
        table.add_row(tier, str(row["hits"]), str(row["misses"]), _pct(row["hit_rate"]))
    console.print(table)
    entries = ", ".join(f"{k}: {v}" for k, v in sorted(stats.entries_by_layer.items()))
    console.print(f"stored answers by classification layer: {entries or 'none'}",
                  highlight=False)


@app.command("warm")
def warm_command(
    paths: Annotated[list[Path], typer.Argument(help="Data files, or folders of them.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Classify files ahead of use: the slower layers' answers land in the persistent cache."""
    from lacuna import _bypass
    from lacuna.classify.readers import file_format, read_sample
    from lacuna.errors import ClassificationError

    gov, cache = _cache(config)
    before = sum(cache.stats().entries_by_layer.values())
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and file_format(p))
        elif not path.exists():
            msg = f"cannot warm the cache with {path}: no such file or folder"
            raise ClassificationError(msg)
        else:
            files.append(path)
    columns = 0
    for path in files:
        with _bypass.bypass():
            frame = read_sample(str(path), gov.config.classification.sample_rows)
        gov.classify_source(str(path), frame)
        columns += len(frame.columns)
    stats = cache.stats()
    added = sum(stats.entries_by_layer.values()) - before
    if as_json:
        typer.echo(json.dumps({"files": [str(p) for p in files], "columns": columns,
                               "added": added, "entries": stats.entries_by_layer}, indent=2))
        return
    console.print(f"warmed {len(files)} file(s), {columns} column(s): {added} new answer(s) "
                  f"stored ({'persistent' if stats.persistent else 'memory only'})",
                  highlight=False)


@app.command("clear")
def clear_command(config: ConfigOption = None) -> None:
    """Forget every cached answer (memory and the persistent tier) and the statistics."""
    _, cache = _cache(config)
    removed = cache.clear()
    console.print(f"classification cache cleared: {removed} answer(s) removed", highlight=False)
