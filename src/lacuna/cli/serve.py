"""``lacuna serve``: the governance server (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")
                    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8181, as OPA).")] = None,
    db: Annotated[str | None, typer.Option(
        help="State database URL (audit, exceptions, lineage, users), e.g. "
        "sqlite:///state.db (default: the config's audit.url).")] = None,
    policy_dir: Annotated[Path | None, typer.Option(
        "--policy-dir", help="Rego policy folder (default: the bundled default bundle).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="lacuna.yaml: destinations, stewards, docs_url.")] = None,
    settings: Annotated[Path | None, typer.Option(
        help="Server settings YAML (also LACUNA_SERVER_SETTINGS; LACUNA_SERVER_* override).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Load the demo scenario (audit records, a pending exception, lineage) "
        "and demo users, and print their tokens and the console URL.")] = False,
) -> None:
    """Run the governance server: classify, decide, OPA's Data API, lineage, audit, exceptions."""
    from lacuna.server.run import run
    from lacuna.server.settings import load_settings

    loaded = load_settings(settings, host=host, port=port, db=db, policy_dir=policy_dir,
                           config=config, workers=workers, demo=demo or None)
    raise typer.Exit(run(loaded))
