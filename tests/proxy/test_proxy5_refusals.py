"""What a request costs the proxy to decide: a refusal no new handle on the state database
(each denial looks up the registered datasets it could offer instead, and opened the database
for it, about 10 ms a refusal, which a flood of requests made to be refused multiplied); a
classification no more cells than the classifier reads. In process."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from lacuna.classify.scan import sample_values
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


def test_proxy5_the_classified_frame_is_no_longer_than_the_classifiers_sample(gate,
                                                                            monkeypatch):
    """Each field was padded to the longest one (here 1,200 ids; a body of 32,000 keys made
    its 256 classified fields 8 million cells, 3 s), and the classifier then sampled the
    padded frame's rows, not each field's values. Each field is now cut to the sample the
    classifier takes of it alone: the frame is at most ``sample_rows`` long, and each
    field's values are the ones it would read of that field alone."""
    frames: list[pd.DataFrame] = []
    real = gate.gov.classify_read
    monkeypatch.setattr(gate.gov, "classify_read",
                        lambda name, frame, **kw: frames.append(frame) or real(name, frame, **kw))
    gate._cache.clear()
    body: dict[str, object] = {f"f{i}": f"value {i}" for i in range(40)}
    body["id"] = [f"{i:08d}" for i in range(1200)]
    body["email"] = [f"user{i}@example.com" for i in range(300)]
    verdict = gate.check(OutboundRequest(
        method="POST", url="https://api.external-service.com/v1", body=json.dumps(body).encode(),
        headers={"content-type": "application/json"}))
    assert verdict.status == 451  # (e-mails)
    rows = gate.gov.config.classification.sample_rows
    frame = frames[0]
    assert len(frame) == rows < 1200
    alone = sample_values(pd.Series(body["email"]), rows).tolist()
    assert frame["email"].dropna().tolist() == alone
