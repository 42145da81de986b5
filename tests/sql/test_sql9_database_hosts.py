"""Where libpq connects that the URL does not say: a service (``?service=prod``, or
``PGSERVICE``) takes its host from ``pg_service.conf``, and ``PGHOSTADDR`` is the address it
connects to whatever host the URL names. ``postgresql://etl@localhost/db?service=prod`` (the
service on evil.com) was internal; it is external now unless ``service:prod`` is listed in
``destinations.internal_hosts``."""

from __future__ import annotations

import pytest

from lacuna.config import DestinationConfig
from lacuna.destinations import classify_destination
from lacuna.model import Scope

CONFIG = DestinationConfig(internal_hosts=("*.corp.example", "service:warehouse"))


@pytest.fixture(autouse=True)
def _no_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGHOST", "PGHOSTADDR", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("url", "scope"), [
    ("postgresql://etl@localhost/db?service=prod", Scope.EXTERNAL),
    ("postgresql+psycopg://etl@/db?service=prod#orders", Scope.EXTERNAL),
    ("postgresql://etl@localhost/db?service=warehouse", Scope.INTERNAL),  # listed
    ("postgresql://etl@localhost/db", Scope.INTERNAL),
])
def test_a_service_s_host_is_not_read_so_it_is_external(url, scope):
    d = classify_destination(url, CONFIG)
    assert d.scope is scope
    assert ("pg_service.conf" in d.reasoning) is (scope is Scope.EXTERNAL)


def test_pgservice_counts_for_postgresql_only(monkeypatch):
    monkeypatch.setenv("PGSERVICE", "prod")
    assert classify_destination("postgresql:///db", CONFIG).scope is Scope.EXTERNAL
    assert classify_destination("sqlite:////work/x.db", CONFIG).scope is Scope.INTERNAL
    monkeypatch.setenv("PGSERVICE", "warehouse")
    assert classify_destination("postgresql:///db", CONFIG).scope is Scope.INTERNAL


def test_pghostaddr_is_where_libpq_connects(monkeypatch):
    monkeypatch.setenv("PGHOSTADDR", "203.0.113.5")
    d = classify_destination("postgresql://etl@localhost/db", CONFIG)
    assert d.scope is Scope.EXTERNAL
    assert "203.0.113.5" in d.reasoning
    # the URL's own hostaddr wins over the variable
    assert classify_destination("postgresql://etl@localhost/db?hostaddr=127.0.0.1",
                                CONFIG).scope is Scope.INTERNAL
    monkeypatch.setenv("PGHOSTADDR", "127.0.0.1")
    assert classify_destination("postgresql://etl@localhost/db", CONFIG).scope is Scope.INTERNAL
