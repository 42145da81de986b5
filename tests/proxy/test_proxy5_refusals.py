"""A refused request costs the proxy no new handle on the state database: each denial looks
up the registered datasets it could offer instead, and opened the database for it (about
10 ms a refusal, which a flood of requests made to be refused multiplied). In process."""

from __future__ import annotations

import json
import sqlite3

import pytest

from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com/v1/contacts"


def _refused(gate, n: int) -> None:
    for i in range(n):
        verdict = gate.check(OutboundRequest(
            method="POST", url=EXTERNAL, headers={"content-type": "application/json"},
            body=json.dumps({"email": f"ana{i}@example.com"}).encode()))
        assert verdict.status == 451


def test_proxy5_a_refusal_does_not_open_the_state_database_again(gate, monkeypatch):
    from lacuna.datasets import store

    _refused(gate, 1)  # (the state database exists: the first decision recorded it)
    opened: list[str] = []
    real = store.open_state_database
    monkeypatch.setattr(store, "open_state_database",
                        lambda url, tables: opened.append(url) or real(url, tables))
    _refused(gate, 5)
    assert opened == []  # (each of the five opened it before)


def test_proxy5_the_kept_store_reads_the_registry_as_it_is_now(tmp_path):
    """Kept open, the store still reads rows written since by another handle, and a state
    database replaced by another file is opened again, not read through the old handle."""
    from lacuna.datasets.store import DatasetStore, DatasetTampered, shared_store

    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert shared_store(url).find("people_anon") is None
    writer = DatasetStore(url)  # (another process's handle; an unsigned row: refused)
    with writer._engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO lacuna_datasets VALUES ('people_anon', 'x', '{}')")
    writer.close()
    with pytest.raises(DatasetTampered):
        shared_store(url).find("people_anon")
    first = shared_store(url)._engine
    assert shared_store(url)._engine is first  # (kept)
    (tmp_path / "state.db").unlink()
    sqlite3.connect(tmp_path / "state.db").close()  # another, empty file at the same path
    again = shared_store(url)
    assert again._engine is not first
    assert again.find("people_anon") is None
