"""``lacuna mount``, ``lacuna unmount`` and ``lacuna status`` (the user's recent denials)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]


def mount(
    source: Annotated[Path, typer.Argument(help="The data folder to govern.")],
    mountpoint: Annotated[Path, typer.Argument(help="An empty folder to mount it on.")],
    foreground: Annotated[bool, typer.Option(
        "--foreground", help="Serve in this process until unmounted (log on stderr).")] = False,
    outside: Annotated[list[str] | None, typer.Option(
        "--outside", help="A folder inside SOURCE that is outside governed storage (the way "
        "out; repeatable). Default: outbox.")] = None,
    config: ConfigOption = None,
) -> None:
    """Mount SOURCE at MOUNTPOINT: every read and write through it is governed.

    How files are served is mount.passthrough in lacuna.yaml (the log says which):
    auto (default): FUSE passthrough where the kernel allows it (Linux 6.9+, root), else libfuse;
    on: FUSE passthrough, or an error saying why not; off: libfuse (mfusepy).
    """
    from lacuna.config import load_config
    from lacuna.mount import DEFAULT_OUTSIDE, MountLayout, serve, start

    layout = MountLayout.of(source, mountpoint, tuple(outside or DEFAULT_OUTSIDE))
    if foreground:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        serve(layout, load_config(str(config) if config else None))
        return
    load_config(str(config) if config else None)  # a broken lacuna.yaml fails here, not later
    logfile = start(layout, str(config.resolve()) if config else None)
    typer.echo(f"governing {layout.source} at {layout.mountpoint}; outside: "
               f"{', '.join(layout.outside)}; log: {logfile}\n"
               f"unmount with: lacuna unmount {layout.mountpoint}")


def unmount_command(
    mountpoint: Annotated[Path, typer.Argument(help="The governed mount to end.")],
) -> None:
    """Unmount a governed mount."""
    from lacuna.mount import unmount

    unmount(mountpoint)
    typer.echo(f"unmounted {mountpoint}")


def status(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N denials.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """Your recent denials (from every layer: pandas, the mount, SQL ...), newest first."""
    from lacuna.governor import build_config, current, use

    if config is not None:
        from lacuna.governor import Governor

        use(Governor(build_config(str(config))))
    from lacuna.errors import LacunaError
    from lacuna.remote.client import refuse_local_state

    gov = current()
    try:
        refuse_local_state(gov.config, "lacuna status", "Your denials are there: GET "
                           "/api/v1/audit?user=<you> (a data steward's or compliance "
                           "officer's token), or the console's audit page (/console/audit).")
    except LacunaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    user = gov.config.user.to_user().id
    # denied records are outcomes and events too: page until `limit` decisions (a limit on the
    # records answered "No denials" behind a newer outcome or exception refusal)
    found: list[Any] = []
    page, before = max(limit, 100), None
    while len(found) < limit:
        rows = gov.audit.list(limit=page, denied_only=True, user=user, before=before)
        found += [r for r in rows if r.kind == "decision"]
        if len(rows) < page:
            break
        before = rows[-1].seq
    found = found[:limit]
    if as_json:
        for rec in found:
            typer.echo(json.dumps(rec.to_dict(), sort_keys=True, ensure_ascii=False))
        return
    if not found:
        typer.echo(f"No denials for {user}.")
        return
    typer.echo(f"Recent denials for {user} (newest first, times in UTC):")
    for rec in found:
        how = rec.data.get("how") or {}
        where = rec.destination or ", ".join(rec.data.get("what", {}).get("sources", [])[:2])
        typer.echo(f"- {rec.timestamp:%Y-%m-%d %H:%M:%S} {rec.action} {where or '—'} "
                   f"via {how.get('method') or '?'} ({how.get('code_location') or '?'})\n"
                   f"  {rec.reasoning}"
                   + (f" [{rec.policy_id}]" if rec.policy_id else ""))
