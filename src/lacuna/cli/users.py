"""``lacuna users``: server identities (API tokens are printed once and stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer

from lacuna.identity import ROLES

app = typer.Typer(no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option(
    help="State database URL (default: LACUNA_SERVER_DB, else the config's audit.url).")]


def _store(db: str | None) -> object:
    import os

    from lacuna.config import load_config
    from lacuna.identity import UserStore

    url = db or os.environ.get("LACUNA_SERVER_DB") or load_config().audit_url
    return UserStore(url)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name, e.g. an e-mail address.")],
    role: Annotated[list[str], typer.Option(
        "--role", "-r", help=f"Role (repeatable): {', '.join(ROLES)}.")],
    replace: Annotated[bool, typer.Option(
        help="Give an existing user these roles and a new token.")] = False,
    db: DbOption = None,
) -> None:
    """Create a user and print their API token (once: only its hash is kept)."""
    from lacuna.identity import UserStore

    store = _store(db)
    assert isinstance(store, UserStore)
    token = store.add(name, roles=role, replace=replace)
    typer.echo(token)
    typer.echo(f"# {name} ({', '.join(role)}): the token above is shown once; send it as "
               "'Authorization: Bearer <token>'", err=True)


@app.command("list")
def list_users(db: DbOption = None) -> None:
    """Users and their roles (never tokens)."""
    from lacuna.identity import UserStore

    store = _store(db)
    assert isinstance(store, UserStore)
    for principal, disabled in store.list():
        flag = "  (disabled)" if disabled else ""
        typer.echo(f"{principal.name}\t{','.join(principal.roles)}{flag}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="User name.")], db: DbOption = None) -> None:
    """Stop a user's token from working."""
    from lacuna.identity import UserStore

    store = _store(db)
    assert isinstance(store, UserStore)
    store.disable(name)
    typer.echo(f"disabled {name}")
