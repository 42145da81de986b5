"""Declassification through OpenLineage ingest, tried as an attacker.

An analyst holds a token that may post lineage. They write a ``lacuna_classification`` facet
saying PUBLIC, with the real content fingerprint of customer data, and post it to
``POST /api/v1/lineage``. A later governed read of that content (a pandas session on the same
state database) and a decision asked over HTTP must still see personal data and deny the
export. What is refused is said: in the answer, on the audit trail. A stricter claim is taken,
and the legitimate route around a denial (an exception a steward approves) still works.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lacuna
from lacuna.lineage.recording import file_fingerprint
from lacuna.lineage.records import DatasetRef

PUBLIC_FACET_COLUMNS = {c: {"classification": "public", "sensitivity": "low"}
                        for c in ("customer_id", "name", "email", "phone", "address", "region",
                                  "signup_date")}


@dataclass
class Scene:
    root: Path
    client: Any
    state: Any
    tokens: dict[str, str]
    yaml: Path

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def as_analyst(self) -> None:
        """A pandas session as ana on the server's own state database."""
        lacuna.enable(str(self.yaml))


@pytest.fixture
def scene(sandbox: Path) -> Iterator[Scene]:
    from fastapi.testclient import TestClient

    from server.conftest import in_process_app, server_files

    db, config, _ = server_files(sandbox)
    yaml = sandbox / "analyst.yaml"
    yaml.write_text(config.read_text(encoding="utf-8") + (
        f"user: {{id: ana, role: analyst}}\naudit: {{url: \"{db}\"}}\n"
        "storage: {encrypt: false}\n"), encoding="utf-8")
    old = os.environ.get("LACUNA_HOME")
    os.environ["LACUNA_HOME"] = str(sandbox / "home")
    app = in_process_app(db, config, log_json=True)
    state = app.state.lacuna
    tokens = {name: state.users.add(name, roles=roles) for name, roles in (
        ("ana", ("analyst",)), ("jane", ("data_steward",)))}
    try:
        with TestClient(app) as client:
            yield Scene(root=sandbox, client=client, state=state, tokens=tokens, yaml=yaml)
    finally:
        lacuna.disable()
        if old is None:
            os.environ.pop("LACUNA_HOME", None)
        else:
            os.environ["LACUNA_HOME"] = old


def _forge(scene: Scene, user: str, dataset: Path, fingerprint: str | None, tier: str,
           columns: dict[str, Any], run_id: str, tags: tuple[str, ...] = ()) -> Any:
    """START and COMPLETE of a run whose output carries a hand-written classification facet."""
    facet = {"_producer": "https://example.com/evil", "_schemaURL": "https://lacuna.dev/spec/"
             "facets/1-0-0/LacunaClassificationDatasetFacet.json", "tier": tier,
             "tags": list(tags), "columns": columns, "fingerprint": fingerprint}
    base = {"producer": "https://example.com/evil",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id}, "job": {"namespace": "evil", "name": "relabel"},
            "outputs": [{"namespace": "file", "name": str(dataset),
                         "facets": {"lacuna_classification": facet}}]}
    answer = None
    for kind in ("START", "COMPLETE"):
        answer = scene.client.post("/api/v1/lineage", headers=scene.headers(user), json={
            **base, "eventType": kind, "eventTime": "2026-12-02T10:00:00Z"})
        assert answer.status_code == 201, answer.text
    return answer


def _export_denied(path: Path, target: Path) -> lacuna.Classification:
    df = pd.read_csv(path)
    c = df.lacuna.classification
    with pytest.raises(lacuna.GovernanceViolation):
        df.to_csv(target, index=False)
    assert not target.exists()
    return c


def _decide(scene: Scene, user: str, source: Path, claimed: dict[str, Any],
            **extra: Any) -> dict[str, Any]:
    body = {"operation": {
        "action": "export", "classification": claimed, "method": "pandas.DataFrame.to_csv",
        "sources": [{"name": str(source), "classification": claimed}],
        "destination": str(scene.root / "Downloads" / "out.csv"), **extra}}
    r = scene.client.post("/api/v1/decide", json=body, headers=scene.headers(user))
    assert r.status_code == 200, r.text
    decision: dict[str, Any] = r.json()["decision"]
    return decision


def _decide_export(scene: Scene, source: Path, claimed: dict[str, Any], folder: Path
                   ) -> dict[str, Any]:
    """ana asks the server whether she may export ``source`` (as she classifies it) to a file
    in ``folder``."""
    body = {"operation": {
        "action": "export", "classification": claimed, "method": "pandas.DataFrame.to_csv",
        "sources": [{"name": str(source), "classification": claimed}],
        "destination": str(folder / "out.csv")}}
    r = scene.client.post("/api/v1/decide", json=body, headers=scene.headers("ana"))
    assert r.status_code == 200, r.text
    decision: dict[str, Any] = r.json()["decision"]
    return decision


def _governed_copy(scene: Scene) -> tuple[Path, str | None]:
    """A copy of the customers file written through Lacuna (so the pipeline knows it), with
    governance off again, and its content fingerprint."""
    scene.as_analyst()
    copy = scene.root / "governed" / "customers_copy.csv"
    pd.read_csv(scene.root / "customers.csv").to_csv(copy, index=False)
    lacuna.disable()
    return copy, file_fingerprint(DatasetRef.of(str(copy)))


def test_a_forged_public_facet_does_not_declassify_a_known_file(scene: Scene) -> None:
    root = scene.root
    scene.as_analyst()
    # The pipeline knows the data: a governed copy written through Lacuna.
    copy = root / "governed" / "customers_copy.csv"
    pd.read_csv(root / "customers.csv").to_csv(copy, index=False)
    loose = root / "loose.csv"  # the same content, without its sidecar
    shutil.copy(copy, loose)
    fp = file_fingerprint(DatasetRef.of(str(loose)))
    assert fp is not None
    before = pd.read_csv(loose).lacuna.classification
    assert before.tier.value == "PROPRIETARY"
    assert "PII" in before.tags

    answer = _forge(scene, "ana", loose, fp, "PUBLIC", PUBLIC_FACET_COLUMNS, "r-forged-1")

    # A governed read of the content, by the path the facet named and by the other copy.
    lacuna.disable()
    scene.as_analyst()
    for path in (loose, copy):
        c = _export_denied(path, root / "Downloads" / f"leak-{path.stem}.csv")
        assert c.tier.value == "PROPRIETARY"
        assert "PII" in c.tags
        assert c.columns["email"].classification.value == "pii"
    # The server's decide endpoint, asked with the forged claim about the source: denied.
    decision = _decide(scene, "ana", loose, {"tier": "PUBLIC"})
    assert decision["allowed"] is False, decision

    # What was recorded is what the store knew, and says why.
    run = scene.state.governor.lineage_store.get_run("r-forged-1")
    assert run is not None
    assert run.user_id == "ana"
    stored = run.outputs[0]
    assert stored.classification.tier.value == "PROPRIETARY"
    assert stored.classification.columns["email"].classification.value == "pii"
    assert any("refused" in r for r in stored.classification.reasoning)
    # The answer lists the refusals, and they are on the audit trail as a denial by the caller.
    refused = answer.json()["refused"]
    assert any("tier PUBLIC refused" in line for line in refused), refused
    assert any("'email' claimed public" in line for line in refused), refused
    records = scene.state.governor.audit.list(limit=50, denied_only=True, user="ana")
    assert any(r.policy_id == "lacuna.lineage.raise_only" for r in records)


def test_a_forged_facet_for_content_the_pipeline_never_saw_only_restricts(scene: Scene) -> None:
    """No trusted record exists: the claim cannot be clamped at ingest, so it must never be
    the authority a read restores from; the values decide."""
    root = scene.root
    fresh = root / "fresh.csv"
    pd.read_csv(root / "customers.csv").head(30).to_csv(fresh, index=False)  # bypassed: off
    fp = file_fingerprint(DatasetRef.of(str(fresh)))
    answer = _forge(scene, "ana", fresh, fp, "PUBLIC", PUBLIC_FACET_COLUMNS, "r-forged-2")
    scene.as_analyst()
    c = _export_denied(fresh, root / "Downloads" / "leak.csv")
    assert c.tier.value == "PROPRIETARY"
    assert "PII" in c.tags
    assert c.columns["email"].classification.value == "pii"
    assert answer.json()["recorded"] == "r-forged-2"  # the lineage itself is kept


def test_a_stricter_claim_is_taken(scene: Scene) -> None:
    root = scene.root
    sales = root / "sales.csv"
    scene.as_analyst()
    before = pd.read_csv(sales).lacuna.classification
    assert before.tier.value != "PROPRIETARY"
    lacuna.disable()
    fp = file_fingerprint(DatasetRef.of(str(sales)))
    columns = {"revenue": {"classification": "financial", "sensitivity": "high"}}
    answer = _forge(scene, "jane", sales, fp, "PROPRIETARY", columns, "r-raise",
                    tags=("DEAL_DATA",))
    assert answer.json()["refused"] == []
    scene.as_analyst()
    c = _export_denied(sales, root / "Downloads" / "sales.csv")
    assert c.tier.value == "PROPRIETARY"
    assert "DEAL_DATA" in c.tags
    assert c.columns["revenue"].classification.value == "financial"


def test_a_steward_cannot_lower_by_ingest_either_but_an_exception_still_works(
        scene: Scene) -> None:
    """No declassify route exists, so no role lowers a class by posting lineage; the
    legitimate route past a denial is an exception a steward approves."""
    root = scene.root
    copy, fp = _governed_copy(scene)
    answer = _forge(scene, "jane", copy, fp, "PUBLIC", PUBLIC_FACET_COLUMNS, "r-steward")
    assert answer.json()["refused"]
    pii = {"tier": "PROPRIETARY", "tags": ["PII"], "columns": {
        "email": {"classification": "pii", "pii_type": "email", "sensitivity": "high"}}}
    assert _decide(scene, "ana", copy, pii)["allowed"] is False
    dest = str(root / "Downloads" / "out.csv")
    r = scene.client.post("/api/v1/exceptions", headers=scene.headers("ana"), json={
        "destination": dest, "purpose": "Quarterly churn review with the CFO",
        "approver": "jane", "duration_hours": 2})
    assert r.status_code == 201, r.text
    exc = r.json()["id"]
    r = scene.client.post(f"/api/v1/exceptions/{exc}/approve", json={"comment": "ok"},
                          headers=scene.headers("jane"))
    assert r.status_code == 200, r.text
    assert _decide(scene, "ana", copy, pii, exception_id=exc)["allowed"] is True


def test_import_from_a_file_gets_the_same_rule(scene: Scene, tmp_path: Path) -> None:
    """``lacuna lineage import`` (the in-process route) refuses the same lowering."""
    import json

    from lacuna.lineage.ol_import import import_events

    root = scene.root
    copy, fp = _governed_copy(scene)
    facet = {"tier": "PUBLIC", "columns": PUBLIC_FACET_COLUMNS, "fingerprint": fp}
    events = [{"eventType": kind, "eventTime": "2026-12-02T10:00:00Z",
               "producer": "https://example.com/evil", "run": {"runId": "r-file"},
               "job": {"namespace": "evil", "name": "relabel"},
               "outputs": [{"namespace": "file", "name": str(copy),
                            "facets": {"lacuna_classification": facet}}]}
              for kind in ("START", "COMPLETE")]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events), encoding="utf-8")
    store = scene.state.governor.lineage_store
    report = import_events(path, store)
    scene.as_analyst()
    shutil.copy(copy, root / "copied.csv")
    c = _export_denied(root / "copied.csv", root / "Downloads" / "x.csv")
    assert c.columns["email"].classification.value == "pii"
    stored = store.latest(DatasetRef.of(str(copy)))
    assert stored is not None
    assert stored.classification.tier.value == "PROPRIETARY"
    assert any("tier PUBLIC refused" in r for r in report.refused), report.to_dict()
    assert report.to_dict()["refused"] == report.refused
    # The command line says so too, and exits 1.
    from typer.testing import CliRunner

    from lacuna.cli import app

    path.write_text(path.read_text(encoding="utf-8").replace("r-file", "r-cli"),
                    encoding="utf-8")
    out = CliRunner().invoke(app, ["lineage", "import", str(path), "--json", "--db",
                                   scene.state.governor.config.audit_url])
    assert out.exit_code == 1, out.output
    assert any("tier PUBLIC refused" in r for r in json.loads(out.stdout)["refused"])


def test_a_claim_cannot_trade_a_personal_class_for_a_critical_one(scene: Scene) -> None:
    """``identifier`` at ``critical`` sensitivity rolls up to the same tier as ``pii`` at
    ``high``, so the column-by-column "stricter" took the claim: an e-mail column became a
    pseudonym, no longer personal, and a projection of it lost the PII tag the policies look
    for. A claim may add sensitivity, never take a column's personal class away: neither over
    a known class at ingest nor over what the values show when the file is read."""
    root = scene.root
    scene.as_analyst()
    copy = root / "governed" / "customers_copy.csv"
    pd.read_csv(root / "customers.csv").to_csv(copy, index=False)  # the pipeline knows it
    lacuna.disable()
    fresh = root / "fresh.csv"  # content the pipeline never saw
    pd.read_csv(root / "customers.csv").head(30).to_csv(fresh, index=False)
    pseudonyms = {c: {"classification": "identifier", "sensitivity": "critical"}
                  for c in ("name", "email", "phone", "address")}
    for path, run_id in ((copy, "r-pseudo-known"), (fresh, "r-pseudo-fresh")):
        fp = file_fingerprint(DatasetRef.of(str(path)))
        _forge(scene, "ana", path, fp, "PROPRIETARY", pseudonyms, run_id, tags=("PII",))
    stored = scene.state.governor.lineage_store.get_run("r-pseudo-known").outputs[0]
    assert stored.classification.columns["email"].classification.value == "pii"
    assert stored.classification.columns["email"].sensitivity.value == "critical"
    scene.as_analyst()
    df = pd.read_csv(fresh)
    assert df.lacuna.classification.columns["email"].classification.value == "pii"
    assert "PII" in df[["email"]].lacuna.classification.tags


def _export_allowed(path: Path, target: Path) -> lacuna.Classification:
    df = pd.read_csv(path)
    c = df.lacuna.classification
    df.to_csv(target, index=False)
    assert pd.read_csv(target).equals(df)  # written, and reads back the same
    return c


def test_a_steward_dismisses_a_hostile_raise_and_the_data_is_usable_again(scene: Scene) -> None:
    """Any token holder may raise: ana claims the shared sales file PROPRIETARY, and everyone's
    export of it to a local folder is denied. A default steward dismisses the run (``POST
    /api/v1/lineage/runs/{id}/dismiss``): the export works again. Nobody else may, Lacuna's
    own runs cannot be dismissed, and both the dismissal and the refusals are audited."""
    root = scene.root
    sales = root / "sales.csv"
    scene.as_analyst()
    (root / "reports").mkdir()  # a local folder: INTERNAL data may go there, PROPRIETARY not
    before = _export_allowed(sales, root / "reports" / "sales-before.csv")
    lacuna.disable()
    fp = file_fingerprint(DatasetRef.of(str(sales)))
    columns = {"revenue": {"classification": "financial", "sensitivity": "high"}}
    _forge(scene, "ana", sales, fp, "PROPRIETARY", columns, "r-hostile", tags=("SECRET",))
    scene.as_analyst()
    assert _export_denied(sales, root / "reports" / "sales.csv").tier.value == "PROPRIETARY"
    lacuna.disable()
    # A decision asked over HTTP for the same export is held to what the store knows: the raise.
    claimed = {"tier": before.tier.value, "tags": list(before.tags)}
    assert _decide_export(scene, sales, claimed, root / "reports")["allowed"] is False

    url = "/api/v1/lineage/runs/r-hostile/dismiss"
    body = {"reason": "sales.csv holds no secret: checked with its owner"}
    client, h = scene.client, scene.headers
    assert client.post(url, json=body).status_code == 401
    r = client.post(url, json=body, headers=h("ana"))  # not a steward (her own claim, too)
    assert r.status_code == 403, r.text
    assert client.post(url, json={"reason": ""}, headers=h("jane")).status_code == 422
    assert client.post("/api/v1/lineage/runs/r-nope/dismiss", json=body,
                       headers=h("jane")).status_code == 404
    r = client.post(url, json=body, headers=h("jane"))
    assert r.status_code == 200, r.text
    assert r.json()["dismissed_by"] == "jane"
    assert [d["tier"] for d in r.json()["datasets"]] == ["PROPRIETARY"]  # as it was
    # The denied export above read sales.csv while the claim stood: Lacuna's own run recorded
    # it as it read it, raised, naming the claim (signed): it comes down with the dismissal.
    (said,) = r.json()["datasets"]
    assert (said["now"]["tier"], said["still_as_strict"]) == (before.tier.value, False)
    assert [(d["dataset"], d["was"]["tier"], d["tier"]) for d in r.json()["came_down"]] == [
        (str(sales), "PROPRIETARY", before.tier.value)]
    assert r.json()["still_raised"] == []
    assert _decide_export(scene, sales, claimed, root / "reports")["allowed"] is True
    again = client.post(url, json=body, headers=h("jane"))
    assert again.status_code == 409
    assert "already dismissed" in again.json()["detail"]

    # ana sends her dismissed run again (same runId): refused, the dismissal stands.
    events = [{"producer": "https://example.com/evil", "eventTime": "2026-12-02T11:00:00Z",
               "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
               "run": {"runId": "r-hostile"}, "job": {"namespace": "evil", "name": "relabel"},
               "eventType": kind, "outputs": [{"namespace": "file", "name": str(sales)}]}
              for kind in ("START", "COMPLETE")]
    assert client.post("/api/v1/lineage", json=events[0], headers=h("ana")).status_code == 201
    r = client.post("/api/v1/lineage", json=events[1], headers=h("ana"))
    assert r.status_code == 409, r.text
    assert "dismissed by a steward" in r.json()["detail"]
    came_back = [a for a in scene.state.governor.audit.list(limit=100, denied_only=True)
                 if a.data["decision"]["policy_id"] == "lacuna.server.http_409"]
    assert [a.user_id for a in came_back] == ["ana"]

    scene.as_analyst()
    after = _export_allowed(sales, root / "reports" / "sales.csv")
    assert (after.tier, after.tags) == (before.tier, before.tags)
    lacuna.disable()
    # Lacuna's own run (the governed export just recorded) is no claim: 409.
    own = scene.state.governor.lineage_store.runs(DatasetRef.of(str(sales)), limit=50)
    pipeline = [run.id for run in own if run.producer == "lacuna" and run.id != "r-hostile"]
    assert pipeline
    r = client.post(f"/api/v1/lineage/runs/{pipeline[0]}/dismiss", json=body,
                    headers=h("jane"))
    assert r.status_code == 409, r.text
    assert "Lacuna's own pipeline" in r.json()["detail"]
    # ana recorded that run (her pandas session): her event under its runId does not replace
    # it (which would leave a claim a steward could dismiss): it is recorded apart.
    moved = _forge(scene, "ana", sales, fp, "PUBLIC", {}, pipeline[0]).json()
    assert moved["recorded"] != pipeline[0]
    assert "Lacuna's own pipeline" in moved["moved"]
    r = client.post(f"/api/v1/lineage/runs/{pipeline[0]}/dismiss", json=body,
                    headers=h("jane"))
    assert r.status_code == 409, r.text
    # The run stays on record (the history shows what was claimed).
    assert scene.state.governor.lineage_store.get_run("r-hostile") is not None
    events = [(a.data["what"]["event"], a.user_id) for a in
              scene.state.governor.audit.list(limit=100) if a.data.get("kind") == "lineage"]
    assert ("claim-dismissed", "jane") in events
    assert ("dismiss-refused", "jane") in events  # the unknown run, the second try, own run
    assert not any(e == "claim-dismissed" and u != "jane" for e, u in events)


@pytest.mark.parametrize("run_id", ["airflow/dag/task", "..", "x/../y"])
def test_a_run_id_of_any_characters_can_be_dismissed(scene: Scene, run_id: str) -> None:
    """A producer chooses its runId: one with a "/" or a dot segment could not be routed to
    ``POST /api/v1/lineage/runs/{run_id}/dismiss`` (404, unaudited), so its raise could not be
    dismissed over HTTP. Percent-encoded, any run id reaches the route."""
    from urllib.parse import quote

    sales = scene.root / "sales.csv"
    _forge(scene, "ana", sales, None, "PROPRIETARY", {}, run_id, tags=("SECRET",))
    url = f"/api/v1/lineage/runs/{quote(run_id, safe='').replace('.', '%2E')}/dismiss"
    r = scene.client.post(url, json={"reason": "checked with the owner"},
                          headers=scene.headers("jane"))
    assert r.status_code == 200, r.text
    assert r.json()["run_id"] == run_id
