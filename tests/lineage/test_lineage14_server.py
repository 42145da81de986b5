"""A lineage refusal raised in the server reaches its clients without where the server keeps its
state (the state database's file, or its URL's host, account and password); the server's log
keeps the whole message."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

SOURCE = "s3://lake/customers.csv"
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """The server app in this process (as ``lacuna serve`` builds it) on a state database
    holding Lacuna's own PII version of :data:`SOURCE`, marked dismissed by hand."""
    from fastapi.testclient import TestClient

    from lacuna.config import load_config
    from lacuna.server.app import create_app
    from lacuna.server.outer import serving
    from lacuna.server.settings import load_settings

    db = tmp_path / "secret-folder" / "state.db"
    url = f"sqlite:///{db}"
    old = os.environ.get("LACUNA_HOME")
    os.environ["LACUNA_HOME"] = str(tmp_path / "home")
    config = tmp_path / "lacuna.yaml"
    config.write_text(yaml.safe_dump({"lineage": {"openlineage": {"enabled": False}}}))
    cfg = load_config(config)
    app = create_app(load_settings(environ={}, db=url, config=config),
                     config=cfg.model_copy(update={"audit": cfg.audit.model_copy(
                         update={"url": url})}))
    state = app.state.lacuna
    token = state.users.add("ana", roles=("analyst",))
    state.governor.lineage_store.record(Run(
        id="pii", operation="export", status=RunStatus.SUCCEEDED,
        outputs=(DatasetVersion(dataset=DatasetRef.of(SOURCE), classification=PII),)))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lacuna_lineage_versions SET dismissed = 1")
    try:
        with TestClient(serving(app)) as client:
            yield client, {"Authorization": f"Bearer {token}"}, db
    finally:
        if old is None:
            os.environ.pop("LACUNA_HOME", None)
        else:
            os.environ["LACUNA_HOME"] = old


def test_lineage14_a_refusal_in_a_decision_does_not_name_the_state_database(
        server: tuple[Any, dict[str, str], Path], caplog: pytest.LogCaptureFixture) -> None:
    client, headers, db = server
    public = {"tier": "PUBLIC"}
    body = {"operation": {
        "action": "export", "classification": public, "method": "pandas.DataFrame.to_csv",
        "sources": [{"name": SOURCE, "classification": public}],
        "destination": "/tmp/out.csv"}}
    with caplog.at_level(logging.ERROR):
        r = client.post("/api/v1/decide", json=body, headers=headers)
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert decision["allowed"] is False  # fail closed
    assert "marked dismissed by hand" in decision["engine_error"]
    assert "the server's state database" in decision["engine_error"]
    assert str(db.parent) not in r.text  # before: the state database's path
    # the server's log keeps where
    assert any(str(db) in rec.getMessage() and "by hand" in rec.getMessage()
               for rec in caplog.records)


def test_lineage14_a_refusal_of_a_lineage_read_does_not_name_the_state_database(
        server: tuple[Any, dict[str, str], Path]) -> None:
    client, headers, db = server
    r = client.get("/api/v1/lineage/known", params={"dataset": SOURCE}, headers=headers)
    assert r.status_code == 400, r.text
    assert "marked dismissed by hand" in r.json()["message"]
    assert str(db.parent) not in r.text
    # the allowed path: a dataset nothing was edited of answers
    r = client.get("/api/v1/lineage/known", params={"dataset": "s3://lake/new.csv"},
                   headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["classification"] is None


def test_lineage14_a_store_names_its_place_for_the_log_and_cli_without_a_password(
        store_url: str) -> None:
    """What the server's log and the CLI say (the whole place): a SQLite store's file; a
    PostgreSQL store's URL with its password masked."""
    if store_url.startswith("sqlite"):
        with LineageStore(store_url) as store:
            assert store.where == store_url.removeprefix("sqlite:///")
        return
    scheme, rest = store_url.split("://", 1)
    with LineageStore(f"{scheme}://lacuna:s3cret-pw@{rest.split('@', 1)[-1]}") as store:
        assert "s3cret-pw" not in store.where
        assert store.where == f"{scheme}://lacuna:***@{rest.split('@', 1)[-1]}"
