"""``lacuna users``: server identities (API tokens are printed once and stored hashed; every
row is signed with the installation's signing key: run these where the server's key is)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from lacuna.identity import LEGACY, NOT_GRANDFATHERED, OFF_TRAIL, ROLES

if TYPE_CHECKING:
    from lacuna.identity import UserStore

app = typer.Typer(no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option(
    help="State database URL (default: LACUNA_SERVER_DB, else the config's audit.url).")]


@contextmanager
def _store(db: str | None) -> Iterator[UserStore]:
    import os

    from lacuna.config import load_config
    from lacuna.identity import UserStore

    config = load_config()
    url = db or os.environ.get("LACUNA_SERVER_DB") or config.audit_url
    # ends of users go on the trail (a row put back from before them is refused); with the
    # config's external checkpoint log when this is the config's database
    store = UserStore(url, checkpoint_log=config.audit.checkpoint_log
                      if url == config.audit_url else None)
    try:
        yield store
    finally:
        store.close()


def _other_key(store: UserStore) -> str | None:
    """Why this process's key is probably not the server's (more user records are signed
    with keys it does not hold than verify with it), or None. A record edited after signing
    names this key and does not count: only the key ids do."""
    records = store.records()
    ring = store.keyring
    ours = {s.key_id for s in (ring.current, *ring.retired)}
    verified = sum(r.signature == "signed" for r in records)
    others = sorted({r.signed_by for r in records
                     if r.signed_by is not None and r.signed_by not in ours})
    foreign = sum(r.signed_by in others for r in records)
    if foreign <= verified:
        return None
    return (f"{foreign} of the {foreign + verified} signed user record(s) are signed with "
            f"another key ({', '.join(others[:3])}), not this process's (key id "
            f"{ring.current.key_id}): run lacuna users as the server's account, or with the "
            "server's key in LACUNA_SIGNING_KEY; the server refuses users signed with another "
            "key")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name, e.g. an e-mail address.")],
    role: Annotated[list[str], typer.Option(
        "--role", "-r", help=f"Role (repeatable): {', '.join(ROLES)}.")],
    replace: Annotated[bool, typer.Option(
        help="Give an existing user these roles and a new token.")] = False,
    db: DbOption = None,
) -> None:
    """Create a user and print their API token (once: only its hash is kept). The audit trail
    records who created (or replaced) whom, with which roles; never the token."""
    with _store(db) as store:
        wrong_key = _other_key(store)
        if wrong_key:  # the server would refuse the user, and the trail would hold a record
            #            signed with a key that is not its own
            typer.echo(f"refusing to add: {wrong_key}", err=True)
            raise typer.Exit(2)
        token = store.add(name, roles=role, replace=replace)
    typer.echo(token)
    typer.echo(f"# {name} ({', '.join(role)}): the token above is shown once; send it as "
               "'Authorization: Bearer <token>'", err=True)


_FLAGS = {"unsigned": "  (unsigned: cannot sign in; check, then lacuna users resign)",
          "invalid": "  (signature does not match: cannot sign in; re-issue with --replace)"}
_TRAIL = {LEGACY: "  (signed before creations were audited: check, then lacuna users resign)",
          OFF_TRAIL: "  (its creation is not on the audit trail: cannot sign in; re-issue "
                     "with --replace)",
          NOT_GRANDFATHERED: "  (signed before creations were audited, but not taken on trust "
                             "at the upgrade: cannot sign in; check, then lacuna users resign "
                             "NAME)"}


@app.command("list")
def list_users(db: DbOption = None) -> None:
    """Users and their roles (never tokens), and whether each record's signature holds."""
    with _store(db) as store:
        records = store.records()
    for r in records:
        flag = "  (disabled)" if r.disabled else ""
        typer.echo(f"{r.name}\t{','.join(r.roles)}{flag}{_FLAGS.get(r.signature, '')}"
                   f"{_TRAIL.get(r.trail, '')}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="User name.")], db: DbOption = None) -> None:
    """Stop a user's token from working."""
    with _store(db) as store:
        store.disable(name)
    typer.echo(f"disabled {name}")


@app.command("resign")
def resign(
    name: Annotated[list[str] | None, typer.Argument(
        help="Only these users (default: every unsigned or legacy one; a legacy user not taken "
             "on trust at the upgrade only when named).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    db: DbOption = None,
) -> None:
    """Sign user records written before Lacuna signed them, or before it put their creation on
    the audit trail (after an upgrade), as they are; the trail records it.

    You vouch for what they say: whoever could write the database before could have changed a
    role or a token digest. Check the list first; re-issuing (lacuna users add NAME --role ROLE
    --replace) trusts nothing old. Records whose signature does not match are never signed
    here: re-issue those."""
    with _store(db) as store:
        wrong_key = _other_key(store)
        if wrong_key:  # signing with it would lock these users out as well
            typer.echo(f"refusing to sign: {wrong_key}", err=True)
            raise typer.Exit(2)
        # a legacy row the trail did not take on trust at the upgrade only when named
        pending = [r for r in store.records()
                   if (r.signature == "unsigned" or r.trail == LEGACY
                       or (name and r.trail == NOT_GRANDFATHERED))
                   and (not name or r.name in name)]
        if not pending:
            typer.echo("no unsigned user records")
            return
        typer.echo("these user records carry no signature, or were signed before creations "
                   "were on the audit trail, and would be signed as they are:")
        for r in pending:
            typer.echo(f"  {r.name}\t{','.join(r.roles)}{'  (disabled)' if r.disabled else ''}")
        if not yes and not typer.confirm("sign them?", default=False):
            typer.echo("nothing signed")
            raise typer.Exit(1)
        done = store.resign([r.name for r in pending])
    typer.echo(f"signed {len(done)} user record(s): {', '.join(r.name for r in done)}")
    skipped = sorted({r.name for r in pending} - {r.name for r in done})
    if skipped:
        typer.echo(f"not signed (invalid roles; re-issue them): {', '.join(skipped)}", err=True)
        raise typer.Exit(1)
