"""A notebook governed through a Lacuna server masks data: its run reaches the server as
OpenLineage events signed with the client's own key, which the server cannot check. The masked
output came in at its inputs' class, and the server recorded a refused lowering. The server's
own decision on that write (on its audit trail, the caller's, naming the masking) is now the
evidence; an event without it still gets the inputs' class."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.http import HttpClient, HttpResponse
from lacuna.lineage.openlineage import event_to_dict, run_to_events
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus

SERVER_KEY = "11" * 32
CLIENT_KEY = "22" * 32  # the notebook's own: the server cannot check what it signs


@pytest.fixture
def notebook(app_client, monkeypatch, tmp_path) -> dict[str, Any]:
    """A pandas client with ``server:`` whose every call goes to the in-process app (which
    signs and verifies with its own key), and the folder under the server's governed path it
    writes in: customers.csv, its masked copy and a plain copy."""
    def request(self: HttpClient, method: str, url: str, *, content: bytes | None = None,
                headers: Any = None, deadline_s: Any = None) -> HttpResponse:
        mine = os.environ.get("LACUNA_SIGNING_KEY")
        os.environ["LACUNA_SIGNING_KEY"] = SERVER_KEY
        try:
            r = app_client.client.request(method, url.removeprefix("http://lacuna.invalid"),
                                          content=content, headers=dict(self.settings.headers))
        finally:
            os.environ["LACUNA_SIGNING_KEY"] = mine or CLIENT_KEY
        return HttpResponse(status=r.status_code, body=r.content, attempts=1)

    monkeypatch.setattr(HttpClient, "request", request)
    monkeypatch.setenv("LACUNA_SIGNING_KEY", CLIENT_KEY)
    gov = app_client.state.governor
    base = Path(str(gov.config.destinations.governed[0])) / tmp_path.name
    base.mkdir()
    config = config_from_dict({
        "server": {"url": "http://lacuna.invalid", "token": app_client.tokens["ana"]},
        "lineage": {"openlineage": {"enabled": False}}, "storage": {"encrypt": False}})
    start = gov.audit.list(limit=1)[0].seq
    with lacuna.governed(config):
        pd.DataFrame({"name": ["Ann Lee", "Bob Stone"],
                      "email": ["ann@example.com", "bob@example.com"],
                      "case": [tmp_path.name] * 2}
                     ).to_csv(base / "customers.csv", index=False)
        df = pd.read_csv(base / "customers.csv")
        lacuna.anonymize(df, columns=["email", "name"], strategy="redact").to_csv(
            base / "masked.csv", index=False)
        df.to_csv(base / "copy.csv", index=False)
    store = gov.lineage_store
    refusals = [r for r in gov.audit.list(limit=50) if r.seq > start
                and r.data.get("decision", {}).get("policy_id") == "lacuna.lineage.raise_only"]
    return {"base": base, "store": store, "refusals": refusals, "headers": app_client.headers,
            "client": app_client.client, "ref": lambda n: DatasetRef.of(str(base / n))}


def _send(nb: dict[str, Any], user: str, output: str, decision_id: str | None) -> Run:
    """A run of ``user``'s events: customers.csv -> ``output``, declared at the masked
    output's class, naming the decision ``decision_id``; what the server recorded."""
    store, ref = nb["store"], nb["ref"]
    masked = store.latest(ref("masked.csv")).classification
    run = Run(id=uuid.uuid4().hex, operation="write", status=RunStatus.SUCCEEDED,
              inputs=(store.latest(ref("customers.csv")),),
              outputs=(DatasetVersion(dataset=ref(output), classification=masked),),
              decision_id=decision_id)
    events = [event_to_dict(e) for e in run_to_events(run)]  # signed with CLIENT_KEY
    os.environ["LACUNA_SIGNING_KEY"] = SERVER_KEY
    try:
        for event in events:
            answer = nb["client"].post("/api/v1/lineage", json=event,
                                       headers=nb["headers"](user))
            assert answer.status_code == 201, answer.text
    finally:
        os.environ["LACUNA_SIGNING_KEY"] = CLIENT_KEY
    recorded = store.get_run(answer.json()["recorded"])
    assert recorded is not None
    return recorded


def test_lineage11_a_masked_notebook_write_keeps_its_lower_class(notebook) -> None:
    store, ref = notebook["store"], notebook["ref"]
    masked = store.latest(ref("masked.csv")).classification
    assert "ANONYMIZED" in masked.tags
    assert "PII" not in masked.tags  # before: the inputs' PII, GDPR
    assert any("decision" in line and "masked" in line for line in masked.reasoning)
    # the unmasked copy keeps what it read, and no lowering was refused in the round trip
    copy = store.latest(ref("copy.csv")).classification
    assert {"PII", "GDPR"} <= set(copy.tags)
    assert notebook["refusals"] == []


def test_lineage11_a_decision_vouches_only_for_its_own_output(notebook) -> None:
    store, ref = notebook["store"], notebook["ref"]
    [masked_run] = [r for r in store.runs(ref("masked.csv")) if r.decision_id]
    [copy_run] = [r for r in store.runs(ref("copy.csv")) if r.decision_id]
    # the allowed path again: ana's own masked decision, the same output
    again = _send(notebook, "ana", "masked.csv", masked_run.decision_id)
    assert "PII" not in again.outputs[0].classification.tags
    # the copy's decision (allowed, unmasked) proves no lowering
    plain = _send(notebook, "ana", "copy.csv", copy_run.decision_id)
    assert "PII" in plain.outputs[0].classification.tags
    # the masked decision names masked.csv, not another output
    other = _send(notebook, "ana", "other.csv", masked_run.decision_id)
    assert "PII" in other.outputs[0].classification.tags
    # no decision at all
    bare = _send(notebook, "ana", "bare.csv", None)
    assert "PII" in bare.outputs[0].classification.tags


def test_lineage11_another_users_decision_id_does_not_count(notebook) -> None:
    store, ref = notebook["store"], notebook["ref"]
    [masked_run] = [r for r in store.runs(ref("masked.csv")) if r.decision_id]
    joes = _send(notebook, "joe", "masked.csv", masked_run.decision_id)
    assert {"PII", "GDPR"} <= set(joes.outputs[0].classification.tags)
