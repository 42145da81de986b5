"""A lineage store per test, on SQLite and on one ephemeral PostgreSQL cluster per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures_postgres import new_postgres_database  # the session's cluster: tests/conftest.py
from lacuna.lineage.store import LineageStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server = request.getfixturevalue("postgres_url")
    return new_postgres_database(server)


@pytest.fixture
def store(store_url: str) -> Iterator[LineageStore]:
    with LineageStore(store_url) as s:
        yield s
