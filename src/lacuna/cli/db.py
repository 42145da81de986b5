"""``lacuna db``: the state database's schema (Alembic migrations, see docs/state.md).

``upgrade`` brings the database to this Lacuna's head revision (every store also does so when
it opens); ``current`` shows the recorded revision without changing anything.

Exit codes: 0 ok (``current``: at head), 1 ``current`` found it behind or empty, 2 a newer
schema, a usage, configuration or database error.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from lacuna.errors import AuditError, ConfigError
from lacuna.redact import redact_url

app = typer.Typer(help="The state database's schema: upgrade it, show its revision.",
                  no_args_is_help=True)
console = Console()

UrlOption = Annotated[
    str | None,
    typer.Option("--url", "--db", metavar="URL",
                 help="SQLAlchemy URL of the state database, e.g. "
                      "postgresql+psycopg://lacuna@db/governance. Default: audit.url from "
                      "lacuna.yaml, else audit.db in $LACUNA_HOME."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="PATH", help="The lacuna.yaml to read audit.url from."),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)
    return typer.Exit(code)


def _url(url: str | None, config: Path | None) -> str:
    if url:
        return url
    from lacuna.config import load_config

    try:
        return load_config(config).audit_url
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@app.command()
def upgrade(url: UrlOption = None, config: ConfigOption = None) -> None:
    """Create or upgrade the state schema to this Lacuna's head revision."""
    from lacuna.audit.schema import build_engine, check_sqlite_file, parse_url, sqlite_file
    from lacuna.state import upgrade as run_upgrade

    try:
        parsed = parse_url(_url(url, config))
        path = sqlite_file(parsed)
        where = str(path) if path else redact_url(parsed)
        if path is not None:
            check_sqlite_file(path, create=True)
        engine = build_engine(parsed)
        try:
            with engine.connect() as conn:
                from lacuna.state.schema import status

                before = status(conn)
            found = run_upgrade(engine, where=where)
        finally:
            engine.dispose()
    except AuditError as exc:
        raise _fail(str(exc)) from None
    if before.current == found.current:
        console.print(f"{where}: already at revision {found.head} (head); nothing to do.",
                      highlight=False)
    else:
        was = ", ".join(before.current) or "none"
        console.print(f"{where}: upgraded from revision {was} to {found.head} (head).",
                      highlight=False)


@app.command()
def current(url: UrlOption = None, config: ConfigOption = None) -> None:
    """Show the state database's schema revision (read-only: nothing is created or changed)."""
    from lacuna.audit.schema import build_engine, explain, parse_url, sqlite_file
    from lacuna.state.schema import status

    try:
        parsed = parse_url(_url(url, config))
        path = sqlite_file(parsed)
        where = str(path) if path else redact_url(parsed)
        if path is not None and not path.is_file():
            msg = (f"no state database at {path}: nothing has been recorded there yet "
                   "(`lacuna db upgrade` creates it).")
            raise _fail(msg, 1)
        engine = build_engine(parsed, read_only=True)
        try:
            with engine.connect() as conn:
                found = status(conn)
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise _fail(explain(exc, where, "read")) from None
        finally:
            engine.dispose()
    except AuditError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{where}: {found.describe()}", highlight=False, soft_wrap=True)
    if found.newer:
        raise typer.Exit(2)
    if not found.up_to_date:
        raise typer.Exit(1)
