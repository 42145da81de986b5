"""``lacuna exceptions``: request, list, show, approve, deny, revoke, sweep, settle and report
exceptions; ``lacuna decrypt`` reads back a file written with ``encrypt=True``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="Request, review and decide policy exceptions.")
# No markup: requests hold text their requesters wrote ("[bold red]APPROVED[/]" is shown as
# typed, not obeyed); styles are passed as style=.
console = Console(markup=False)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]


def _configure(config: Path | None) -> None:
    from lacuna.governor import configure

    configure(str(config) if config else None)


@app.command("request")
def request(
    destination: Annotated[str, typer.Argument(help="Where the data should go.")],
    purpose: Annotated[str, typer.Option(help="What the data is for.")],
    approver: Annotated[str, typer.Option(help="The steward who should decide.")],
    justification: Annotated[str, typer.Option(help="Why the policy should not apply.")] = "",
    hours: Annotated[float, typer.Option(help="How long an approval lasts.")] = 24,
    condition: Annotated[list[str] | None, typer.Option(help="A condition (repeatable).")] = None,
    source: Annotated[str | None, typer.Option(help="The data's source (file, table).")] = None,
    config: ConfigOption = None,
) -> None:
    """File an exception request (as the configured user)."""
    import lacuna

    _configure(config)
    exc = lacuna.request_exception(
        operation={"action": "export", "source": source, "destination": destination},
        purpose=purpose,
        approver=approver,
        business_justification=justification,
        duration_hours=hours,
        conditions=condition or (),
    )
    console.print(str(exc), highlight=False)


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="pending, approved, denied, revoked or expired.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    config: ConfigOption = None,
) -> None:
    """List exception requests, oldest first."""
    from lacuna.exceptions import Status
    from lacuna.exceptions.shown import json_visible, visible, visible_fields
    from lacuna.governor import current

    _configure(config)
    try:
        wanted = Status(status) if status else None
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        msg = f"unknown status {status!r}; use one of: {allowed}"
        raise typer.BadParameter(msg) from None
    store = current().exceptions
    unreadable: list[Exception] = []  # rows Lacuna did not write: said, not fatal to the list
    items = _decided(lambda: store.list(status=wanted, unreadable=unreadable))
    remote = getattr(store, "remote", False)  # server: it checks the grants, not this client

    def verified(item: Any) -> bool | None:
        return None if remote else bool(store.verified(item))

    if as_json:  # the same values; a control character is written as its \u escape
        for item in items:
            typer.echo(json_visible(json.dumps({**item.to_dict(),
                                                "verified": verified(item)})))
        for broken in unreadable:
            typer.echo(json_visible(json.dumps({"verified": False, "error": str(broken)})))
        return
    table = Table(title="Exceptions", title_justify="left")
    for header in ("id", "status", "requested by", "destination", "purpose", "valid until",
                   "signed"):
        table.add_column(header, overflow="fold")
    for item in items:
        until = f"{item.valid_until:%Y-%m-%d %H:%M}" if item.valid_until else ""
        shown = visible_fields(item)  # a request stored before control characters were
        table.add_row(                 # refused shows them as escapes, on one line
            shown.id, shown.status.value, shown.requested_by, shown.destination, shown.purpose,
            until, "by the server" if remote else "yes" if verified(item)
            else "NO: not honoured",
        )
    console.print(table)
    for broken in unreadable:
        console.print(f"NOT HONOURED: {visible(str(broken), one_line=True)}", highlight=False,
                      markup=False)


@app.command()
def show(exception_id: str, config: ConfigOption = None) -> None:
    """Show one exception with its justification and conditions."""
    from lacuna.governor import current

    _configure(config)
    from lacuna.exceptions.authority import not_verified_note
    from lacuna.exceptions.shown import visible

    store = current().exceptions
    item = _decided(lambda: store.get(exception_id))
    console.print(str(item), highlight=False)
    if item.business_justification:  # a stored line break (new requests fold them) goes on
        lines = [visible(line, terminal=True)  # an indented line: none reads as a field
                 for line in item.business_justification.split("\n")]
        console.print("Justification: " + "\n  ".join(lines), highlight=False)
    written = _decided(lambda: store.files(item.id))
    if written:
        from lacuna.exceptions.files import on_client, this_host

        console.print("Files written under it:", highlight=False)
        for f in written:
            client = on_client(f.path)  # a server's record of a client's file
            if f.deleted_at:
                state = f"deleted {f.deleted_at:%Y-%m-%d %H:%M}"
            elif client is not None and client[0] != this_host():
                state = f"not deleted (on {client[0]}, not this machine)"
            elif Path(f.path if client is None else client[1]).exists():
                state = "on disk"
            else:
                state = "not on disk (the write failed, or it was moved or deleted)"
            kind = "encrypted" if f.encrypted else "plain"
            console.print(visible(f"  {f.path} ({kind}, {f.written_by}): {state}",
                                  one_line=True), highlight=False)
    # with server: the server checks grants (and answers for its rows), never this client
    if not getattr(store, "remote", False) and not store.verified(item):
        console.print(f"✗ {not_verified_note(item)}", style="red", highlight=False)


@app.command()
def approve(
    exception_id: str,
    by: Annotated[
        str | None,
        typer.Option(help="Your identity, as a check: it must be the configured user (user.id "
                     "or $LACUNA_USER), who must be a steward for this request."),
    ] = None,
    comment: Annotated[str | None, typer.Option(help="A note for the record.")] = None,
    start: Annotated[datetime | None, typer.Option(help="Start of validity (UTC).")] = None,
    condition: Annotated[
        list[str] | None,
        typer.Option("--condition", help="A condition of the approval, e.g. 'aggregate only' "
                     "(repeat for several): shown with the grant and in every decision it "
                     "covers."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Approve a pending request (stewards only; never the requester). Exit 1 when refused."""
    from datetime import UTC

    import lacuna

    _configure(config)
    begin = start.replace(tzinfo=UTC) if start and start.tzinfo is None else start
    item = _decided(lambda: lacuna.approve_exception(
        exception_id, by=by, comment=comment, start=begin, conditions=condition or ()))
    console.print(str(item), highlight=False)
    now = datetime.now(UTC)
    if item.valid_until is not None and item.valid_until <= now:
        typer.echo(f"warning: --start {begin:%Y-%m-%d %H:%M} UTC plus the requested "
                   f"{item.duration_hours:g} h ended at {item.valid_until:%Y-%m-%d %H:%M} UTC: "
                   "this grant covers nothing. Ask for a new request and approve it without "
                   "--start (now) or with a start still to come.", err=True)


@app.command()
def deny(
    exception_id: str,
    by: Annotated[
        str | None, typer.Option(help="Your identity, as a check (see approve).")
    ] = None,
    comment: Annotated[str | None, typer.Option(help="Why, for the requester.")] = None,
    config: ConfigOption = None,
) -> None:
    """Deny a pending request, or revoke an approved one (a steward, or the requester
    withdrawing their own). Exit 1 when refused."""
    import lacuna

    _configure(config)
    item = _decided(lambda: lacuna.deny_exception(exception_id, by=by, comment=comment))
    console.print(str(item), highlight=False)


@app.command()
def revoke(
    exception_id: str,
    by: Annotated[
        str | None, typer.Option(help="Your identity, as a check (see approve).")
    ] = None,
    comment: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    config: ConfigOption = None,
) -> None:
    """End an approved exception now (a steward of it, or its requester). Files written under
    it are deleted by the next sweep. Exit 1 when refused."""
    import lacuna

    _configure(config)
    item = _decided(lambda: lacuna.revoke_exception(exception_id, by=by, comment=comment))
    console.print(str(item), highlight=False)


@app.command()
def sweep(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete files written under ended exceptions and mark expired ones (audited)."""
    import lacuna

    _configure(config)
    report = _decided(lacuna.sweep_exceptions)
    if as_json:
        typer.echo(json.dumps({"at": report.at.isoformat(), "expired": list(report.expired),
                               "deleted": list(report.deleted), "missing": list(report.missing),
                               "held": list(report.held), "failed": list(report.failed)}))
    else:
        console.print(str(report), highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def settle(
    exception_id: str,
    path: Annotated[str, typer.Argument(help="The file, as the sweep reports it.")],
    reason: Annotated[str, typer.Option(help="What you checked and did with the data "
                                        "(required, for the record).")],
    by: Annotated[
        str | None, typer.Option(help="Your identity, as a check (see approve).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Settle a file the sweep reports and cannot act on (its record edited or removed, the
    exception untrusted, the file missing or replaced), once you have checked it and dealt
    with the data by hand: the sweep then neither deletes nor reports it. A steward entitled
    to the exception (a default steward when its record cannot be trusted); never its
    requester or the file's writer. Audited. Exit 1 when refused."""
    from lacuna.exceptions import settle_file

    _configure(config)
    before = _decided(lambda: settle_file(exception_id, path, reason=reason, by=by))
    console.print(f"settled {path} (exception {exception_id}, {len(before)} record(s) on file "
                  "before): the sweep no longer deletes or reports it", highlight=False)


@app.command()
def report(
    since: Annotated[
        datetime | None, typer.Option(help="Only exceptions filed at or after (UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    config: ConfigOption = None,
) -> None:
    """The exceptions section of a compliance report: requests, decisions, uses, files."""
    from datetime import UTC

    from lacuna.exceptions.report import build
    from lacuna.governor import current

    _configure(config)
    begin = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    built = _decided(lambda: build(current(), begin))
    typer.echo(built.to_json() if as_json else built.text())


def decrypt_command(
    path: Annotated[Path, typer.Argument(help="A file written with encrypt=True.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the plaintext here: a new "
                                  "file, mode 0600, with a signed sidecar (default: standard "
                                  "output).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Decrypt a file Lacuna encrypted, if you may read it (audited). With -o, the plaintext
    is a new file (mode 0600; a file or link there is replaced, never written through) with a
    signed sidecar saying the class it was written as and when its data was first seen;
    written under an exception, the sweep deletes it when the exception ends. Exit 1 when
    refused."""
    import sys

    import lacuna

    _configure(config)
    plain = _decided(lambda: lacuna.decrypt(path, output))
    if output is None:
        sys.stdout.buffer.write(plain)
        sys.stdout.flush()
    else:
        Console(stderr=True).print(f"decrypted {path} → {output}", highlight=False)


def _decided(decide: Callable[[], T]) -> T:
    """Run a store call; a refusal (not entitled, unknown, tampered, wrong state) is one clear
    line on stderr and exit 1, not a traceback."""
    from lacuna.errors import ConfigError, LacunaError

    try:
        return decide()
    except ConfigError:
        raise
    except (LacunaError, OSError) as exc:
        err = Console(stderr=True)
        err.print(f"refused: {exc}", style="red", markup=False, highlight=False)
        hint = _ignored_user_hint()
        if hint:
            err.print(hint, highlight=False)
        raise typer.Exit(1) from None


def _ignored_user_hint() -> str | None:
    """Why ``LACUNA_USER=jane lacuna exceptions approve ...`` acted as someone else: a
    ``user.id`` in the configuration wins over the variable (which is only its default)."""
    import os

    from lacuna.governor import current

    claimed = os.environ.get("LACUNA_USER")
    configured = current().config.user.id
    if not claimed or claimed == configured:
        return None
    return (f"note: you acted as {configured!r}, not $LACUNA_USER={claimed!r}: the "
            "configuration's user.id (lacuna.yaml) wins over $LACUNA_USER. Remove user.id "
            "there, or run with a configuration that names you (--config).")
