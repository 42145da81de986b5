"""A database per test on SQLite, DuckDB and the session's PostgreSQL, with the bundled
``customers`` and ``sales`` loaded ungoverned (as data that was there before Lacuna)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from fixtures_postgres import new_postgres_database
from lacuna import _bypass
from lacuna.config import DestinationConfig
from lacuna.errors import GovernanceViolation

ENGINES = ("sqlite", "duckdb", "postgresql")


def url_for(kind: str, folder: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'warehouse.db'}"
    if kind == "duckdb":
        pytest.importorskip("duckdb_engine", reason="pip install duckdb-engine")
        return f"duckdb:///{folder / 'warehouse.duckdb'}"
    return new_postgres_database(request.getfixturevalue("postgres_url"))


def load(url: str, folder: Path, tables: tuple[str, ...] = ("customers", "sales")) -> None:
    engine = sa.create_engine(url)
    try:
        with _bypass.bypass():
            for table in tables:
                pd.read_csv(folder / f"{table}.csv").to_sql(table, engine, index=False)
    finally:
        engine.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, sandbox: Path) -> str:
    url = url_for(request.param, sandbox, request)
    load(url, sandbox)
    return url


@pytest.fixture
def make_db(sandbox: Path, request: pytest.FixtureRequest) -> Callable[..., str]:
    """A factory: ``make_db("duckdb", load=True)`` is the URL of a new database of that kind."""

    def make(kind: str, *, tables: tuple[str, ...] = ("customers", "sales")) -> str:
        url = url_for(kind, sandbox, request)
        load(url, sandbox, tables)
        return url

    return make


@pytest.fixture
def sqlite_url(sandbox: Path, request: pytest.FixtureRequest) -> str:
    url = url_for("sqlite", sandbox, request)
    load(url, sandbox)
    return url


@pytest.fixture
def governed_engine(sandbox_config: Callable[..., lacuna.Config]) -> Iterator[
        Callable[..., sa.Engine]]:
    """A factory: ``governed_engine(url, aware=False)`` configures Lacuna (aware: the database
    keeps classifications) and returns a governed engine for ``url``."""
    engines: list[sa.Engine] = []

    def make(url: str, *, aware: bool = False, **extra: object) -> sa.Engine:
        # the sandbox and its database files are under /tmp, an unmanaged place by default,
        # where a database file counts as external (lacuna.destinations): its Downloads/ is
        # the unmanaged place here
        destinations: dict[str, object] = {
            "unmanaged": [str(Path.cwd() / "Downloads"),
                          *(u for u in DestinationConfig().unmanaged if u != "/tmp")]}
        if aware:
            destinations["classification_aware_databases"] = [url]
        lacuna.configure(sandbox_config(destinations=destinations, **extra))
        engine = lacuna.sql.govern(sa.create_engine(url))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        lacuna.sql.ungovern(engine)
        engine.dispose()


@pytest.fixture
def refused() -> Callable[[sa.Engine, Mapping[str, str]], dict[str, str]]:
    """A checker: ``refused(engine, {sql: why})`` runs each statement on ``engine``, asserts it
    is refused with ``why`` in the message, and returns each refusal's message by statement."""

    def check(engine: sa.Engine, denied: Mapping[str, str]) -> dict[str, str]:
        messages = {}
        for sql, why in denied.items():
            with pytest.raises(GovernanceViolation) as err, engine.begin() as conn:
                conn.exec_driver_sql(sql)
            assert why in str(err.value), sql
            messages[sql] = str(err.value)
        return messages

    return check


@pytest.fixture
def enable_on(sandbox_config: Callable[..., lacuna.Config], sandbox: Path
              ) -> Iterator[Callable[..., None]]:
    """``enable_on(url, aware=True)``: Lacuna enabled with the sandbox's Downloads unmanaged
    (and ``url`` classification-aware when ``aware``); disabled after the test."""

    def enable(url: str, *, aware: bool = False, **extra: object) -> None:
        destinations: dict[str, object] = {"unmanaged": [str(sandbox / "Downloads")]}
        if aware:
            destinations["classification_aware_databases"] = [url]
        lacuna.enable(sandbox_config(destinations=destinations, **extra))

    yield enable
    lacuna.disable()


@pytest.fixture
def pg(make_db: Callable[..., str], postgres_url: str) -> str:
    """A new database on the session's PostgreSQL with ``customers`` and ``sales`` (its
    SQLAlchemy URL). ``postgres_url`` named here puts the test in the xdist group of the
    session's cluster (tests/xdist_groups.py), which ``make_db`` asks for only by name."""
    return make_db("postgresql")


@pytest.fixture
def enabled(enable_on: Callable[..., None], pg: str) -> Callable[..., None]:
    """``enabled(aware=True)``: :func:`enable_on` the test's ``pg`` database."""
    return lambda **kwargs: enable_on(pg, **kwargs)
