"""Alembic's environment for the state schema: target metadata is every store's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from lacuna.state.schema import VERSION_TABLE, state_metadata


def _run(connection: Connection, *, autogenerate: bool) -> None:
    context.configure(
        connection=connection,
        # importing every store is only worth it for Alembic's autogenerate
        target_metadata=state_metadata() if autogenerate else None,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER through table copies
    )
    with context.begin_transaction():
        context.run_migrations()


def _online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:  # lacuna.state.upgrade: its transaction, its lock
        _run(given, autogenerate=False)
        return
    from lacuna.audit.schema import build_engine, parse_url

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        msg = "set sqlalchemy.url (or use `lacuna db upgrade --url URL`)"
        raise SystemExit(msg)
    engine = build_engine(parse_url(url))
    try:
        with engine.connect() as connection:
            _run(connection, autogenerate=True)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=state_metadata(), version_table=VERSION_TABLE,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    _online()
