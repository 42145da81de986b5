"""A client with ``server:`` shows the decision the server made and recorded: when the server's
lineage store knows a source better than the client claims (its sidecar deleted, a copy, a
hand-written claim), the server decides on what it knows, and the denial the user reads names
that class, not the client's (it said ``Classification: PUBLIC`` above a reason about
PROPRIETARY data)."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.model import Action, Classification, Source


def _config(live: Any, user: str) -> Any:
    return config_from_dict({
        "server": {"url": live.url, "token": live.tokens[user], "deadline_ms": 8000,
                   "timeout_ms": 6000},
        "lineage": {"openlineage": {"enabled": False}},
        "destinations": {"governed": [f"{live.root / 'governed'}/"],
                         "unmanaged": [str(live.root / "Downloads")]},
    })


def _plain(live: Any, user: str) -> Any:
    """:func:`_config`, writing plaintext files and their sidecars under the governed folder
    (not sealed storage: the session's other clients sealed there with their own keys)."""
    config = _config(live, user)
    return config.model_copy(update={"storage": config.storage.model_copy(
        update={"encrypt": False})})


def _record(live: Any, operation_id: str) -> dict[str, Any]:
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 50},
                        headers=live.headers("carla")).json()["records"]
    return next(r for r in records
                if r.get("operation_id") == operation_id and r.get("kind") != "outcome")


def test_a_denial_names_the_class_the_server_decided_and_recorded(
        live, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    target = live.root / "governed" / "held-customers.csv"
    with lacuna.governed(_config(live, "ana")):
        pd.DataFrame({"name": ["Ann Lee", "Bob Stone"],
                      "email": ["ann@example.com", "bob@example.com"]}).to_csv(target, index=False)
        gov = current()
        claimed = Classification()  # what a read without its sidecar may say: PUBLIC
        export = gov.operation(Action.EXPORT, claimed,
                               sources=[Source(name=str(target), classification=claimed)],
                               destination=gov.destination(str(live.root / "Downloads" / "x.csv")),
                               method="test.export")
        with pytest.raises(GovernanceViolation) as denied:
            gov.govern(export)
        copy = gov.operation(Action.WRITE, claimed,
                             sources=[Source(name=str(target), classification=claimed)],
                             destination=gov.destination(str(live.root / "governed" / "y.csv")),
                             method="test.write")
        allowed = gov.govern(copy)
    text = str(denied.value)
    recorded = _record(live, export.id)
    assert recorded["what"]["tier"] == "PROPRIETARY"  # what the server decided on
    assert "Classification: PROPRIETARY" in text  # before: Classification: PUBLIC
    assert "Classification: PUBLIC" not in text
    assert "Tags: (none)" not in text
    assert denied.value.decision.operation.classification.tier.value == "PROPRIETARY"
    assert denied.value.decision.operation.sources[0].classification.tier.value == "PROPRIETARY"
    # the allowed path: the decision carries the class the server recorded too
    assert allowed.allowed
    assert allowed.operation.classification.tier.value == "PROPRIETARY"
    assert _record(live, copy.id)["what"]["tier"] == "PROPRIETARY"
    # a claim the server does not raise keeps the client's own classification object
    plain = gov.operation(Action.WRITE, claimed,
                          destination=gov.destination(str(live.root / "governed" / "z.csv")),
                          method="test.plain")
    assert gov.decide(plain).operation.classification is claimed


def _claim(live: Any, path: Any, run_id: str) -> None:
    """A run on the server's lineage store saying ``path``'s content (its fingerprint) is
    PROPRIETARY personal data (a claim may only raise: as any client's recorded write)."""
    from lacuna.lineage.recording import file_fingerprint
    from lacuna.lineage.records import DatasetRef

    facet = {"_producer": "https://example.com/t", "_schemaURL": "https://lacuna.dev/spec/"
             "facets/1-0-0/LacunaClassificationDatasetFacet.json", "tier": "PROPRIETARY",
             "tags": ["PII"], "columns": {"region": {"classification": "pii",
                                                     "sensitivity": "high"}},
             "fingerprint": file_fingerprint(DatasetRef.of(str(path)))}
    for kind in ("START", "COMPLETE"):
        httpx.post(f"{live.url}/api/v1/lineage", headers=live.headers("ana"), json={
            "producer": "https://example.com/t", "eventType": kind,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "eventTime": "2026-12-02T10:00:00Z", "run": {"runId": run_id},
            "job": {"namespace": "t", "name": "w"},
            "outputs": [{"namespace": "file", "name": str(path),
                         "facets": {"lacuna_classification": facet}}]}).raise_for_status()


def test_a_read_takes_what_the_server_knows_of_the_file_not_only_its_sidecar(
        live, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    known = live.root / "governed" / "regions-known.csv"
    known.write_text("region\nnorth\nsouth\n", encoding="utf-8")
    _claim(live, known, "3f1c1d0e-7a4b-4c2e-9a41-0d6a1f2b3c01")
    copy = tmp_path / "copy.csv"  # the same content elsewhere, no sidecar: by fingerprint
    copy.write_bytes(known.read_bytes())
    plain = tmp_path / "plain.csv"  # content the server knows nothing of
    plain.write_text("region\neast\nwest\n", encoding="utf-8")
    with lacuna.governed(_config(live, "ana")):
        for path in (known, copy):
            frame = pd.read_csv(path)
            # before: PUBLIC (the values alone), and the copy exported to Downloads
            assert frame.lacuna.classification.tier.value == "PROPRIETARY", path
            assert "PII" in frame.lacuna.classification.tags
            with pytest.raises(GovernanceViolation):
                frame.to_csv(live.root / "Downloads" / "regions-out.csv", index=False)
        assert not (live.root / "Downloads" / "regions-out.csv").exists()
        free = pd.read_csv(plain)  # the allowed path: unknown content keeps its own class
        assert free.lacuna.classification.tier.value == "PUBLIC"
        out = live.root / "Downloads" / "plain-out.csv"
        free.to_csv(out, index=False)
    assert out.read_text(encoding="utf-8") == plain.read_text(encoding="utf-8")


def test_a_read_the_server_cannot_answer_about_is_proprietary(monkeypatch, tmp_path) -> None:
    from lacuna.governor import Governor

    monkeypatch.setenv("LACUNA_TOKEN", "lac_example")
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path))
    gov = Governor(config_from_dict({
        "server": {"url": "http://127.0.0.1:9", "deadline_ms": 300, "timeout_ms": 200,
                   "retries": 0},
        "lineage": {"openlineage": {"enabled": False}}}))
    data = tmp_path / "r.csv"
    data.write_text("region\nnorth\n", encoding="utf-8")
    c, *_ = gov.classify_read_raised(str(data), pd.read_csv(data))
    assert c.tier.value == "PROPRIETARY"  # fail closed, saying why
    assert "could not ask the Lacuna server" in c.reasoning[0]
    gov.close()


def test_a_remote_name_is_not_sent_to_ask_what_the_server_knows(monkeypatch) -> None:
    from lacuna.remote.client import ServerLineage

    asked: list[str] = []

    class Client:
        shown = "http://lacuna"

        def call(self, method: str, path: str, body: Any = None) -> Any:
            asked.append(path)
            return {"classification": None}

    lineage = ServerLineage(Client(), "ns")  # type: ignore[arg-type]
    assert lineage.known("https://user:secret@data.example.com/a.csv") is None
    assert asked == []  # its credentials never leave in a query


def test_a_written_file_carries_the_class_the_server_decided_on(
        live, monkeypatch, tmp_path) -> None:
    """The server learnt more of a source after the client read it (another writer, a claim):
    the write is decided and recorded at the server's class, and its label (the sidecar a
    later local read trusts) and its lineage output say that class, not the client's view."""
    from lacuna.lineage.sidecar import read_sidecar, sidecar_paths

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    source = live.root / "governed" / "regions-late.csv"
    source.write_text("region\neast\nnorth\n", encoding="utf-8")
    out = live.root / "governed" / "regions-late-out.csv"
    with lacuna.governed(_plain(live, "ana")):
        frame = pd.read_csv(source)
        assert frame.lacuna.classification.tier.value == "PUBLIC"  # nothing known yet
        _claim(live, source, "3f1c1d0e-7a4b-4c2e-9a41-0d6a1f2b3c02")  # the server learns
        frame.to_csv(out, index=False)  # allowed (governed), decided as PROPRIETARY
        label = read_sidecar(out)
        assert label is not None
        assert label.trusted
        assert label.classification.tier.value == "PROPRIETARY"  # before: PUBLIC
        assert "PII" in label.classification.tags
        assert label.classification.columns["region"].classification.value == "pii"
        assert pd.read_csv(out).lacuna.classification.tier.value == "PROPRIETARY"
        for side in sidecar_paths(out):
            side.unlink(missing_ok=True)  # the file's owner deletes the label:
        assert read_sidecar(out) is None  # the server's lineage store still knows the output
        assert pd.read_csv(out).lacuna.classification.tier.value == "PROPRIETARY"
    assert out.read_text(encoding="utf-8") == "region\neast\nnorth\n"  # written as asked


def test_a_read_takes_its_parents_from_the_server_not_from_a_sidecar_its_owner_wrote(
        live, monkeypatch, tmp_path) -> None:
    """The file's owner signs its sidecar with their own key: a sidecar naming other sources
    (or none at all) hid what the data derives from in every later write's lineage and
    decision (its sources were the names the sidecar listed, or the file alone)."""
    from lacuna.lineage.sidecar import read_sidecar, sidecar_paths, write_sidecar

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    origin = live.root / "governed" / "parents-origin.csv"
    origin.write_text("region\neast\nnorth\n", encoding="utf-8")
    out = live.root / "governed" / "parents-out.csv"
    elsewhere = str(tmp_path / "harmless.csv")
    with lacuna.governed(_plain(live, "ana")):
        pd.read_csv(origin).to_csv(out, index=False)  # the server records out <- origin
        assert pd.read_csv(out).lacuna.lineage.sources == (str(origin),)  # the allowed path
        label = read_sidecar(out)
        assert label is not None
        write_sidecar(out, label.classification, sources=(elsewhere,), written_by="ana")
        assert read_sidecar(out).trusted  # signed with the owner's key: the client trusts it
        forged = pd.read_csv(out)
        assert forged.lacuna.lineage.sources == (str(origin),)  # before: harmless.csv
        for side in sidecar_paths(out):
            side.unlink(missing_ok=True)
        bare = pd.read_csv(out)
        assert bare.lacuna.lineage.sources == (str(origin),)  # before: the file alone
        graph = httpx.get(f"{live.url}/api/v1/lineage/upstream", params={"dataset": str(out)},
                          headers=live.headers("ana")).json()
        assert {n["dataset"] for n in graph["nodes"]} == {str(out), str(origin)}
        again = live.root / "governed" / "parents-again.csv"
        bare.to_csv(again, index=False)  # its decision names origin as its source
    up = httpx.get(f"{live.url}/api/v1/lineage/upstream", params={"dataset": str(again)},
                   headers=live.headers("ana")).json()
    assert str(origin) in {n["dataset"] for n in up["nodes"]}
    assert elsewhere not in {n["dataset"] for n in up["nodes"]}


def test_a_decision_made_after_the_fact_is_decided_and_recorded_on_the_server(
        live, monkeypatch, tmp_path) -> None:
    """What a client decides and records after the operation ran (the Spark query listener's
    ungoverned writes, a dbt run's models) and the events it records (Spark governance
    switched off) are on the server's trail: a decision made with record false and then
    handed to the audit was refused there (a 422 for a denial, 'no audit record' for an
    allowed one) and logged 'did not record' on no trail."""
    from types import SimpleNamespace

    from lacuna.spark.session import _record_switch_off

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    with lacuna.governed(_config(live, "ana")):
        gov = current()
        pii = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["PII"]})
        export = gov.operation(Action.EXPORT, pii, method="spark.ungoverned (test)",
                               destination=gov.destination(str(live.root / "Downloads" / "u")))
        denied, stored = gov.record_decided(export, lambda d: d.evolve(reasoning="flagged"))
        kept = gov.operation(Action.WRITE, Classification(), method="dbt.model (test)",
                             destination=gov.destination(str(live.root / "governed" / "m")))
        allowed, kept_stored = gov.record_decided(kept)
        spark = SimpleNamespace(sparkContext=SimpleNamespace(applicationId="app-test-1"))
        _record_switch_off(spark, "spark.lacuna.enabled")  # type: ignore[arg-type]
    assert not denied.allowed
    assert denied.reasoning == "flagged"  # what this process reports
    assert allowed.allowed
    assert stored is not None
    assert kept_stored is not None
    assert _record(live, export.id)["decision"]["allowed"] is False  # on the server's trail
    assert _record(live, kept.id)["decision"]["allowed"] is True
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 50},
                        headers=live.headers("carla")).json()["records"]
    switched = [r for r in records
                if (r.get("how") or {}).get("method")
                == "spark.conf.set(spark.lacuna.enabled=false)"]
    assert len(switched) == 1
    assert switched[0]["who"]["user_id"] == "ana"


def test_a_file_whose_name_is_not_utf8_is_read_and_written_through_the_server(
        live, monkeypatch, tmp_path) -> None:
    """``os`` decodes such a name with lone surrogates, which the server refuses (422): the
    read was denied as a failure of the server, its lineage was never recorded, and a copy's
    label could not be signed after the copy was written."""
    import os

    from lacuna.lineage.sidecar import read_sidecar

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    folder = os.fsencode(str(live.root / "governed"))
    name = os.fsdecode(os.path.join(folder, b"r\xe9gions.csv"))
    with open(name, "w", encoding="utf-8") as fh:
        fh.write("region\nsouth-west\ncentral\n")  # content no other test has claimed
    copy = live.root / "governed" / "regions-utf8-copy.csv"
    with lacuna.governed(_plain(live, "ana")):
        frame = pd.read_csv(name)  # before: GovernanceViolation (HTTP 422, fail closed)
        assert frame.lacuna.classification.tier.value == "PUBLIC"
        frame.to_csv(copy, index=False)
        label = read_sidecar(copy)
        assert label is not None
        assert label.trusted  # signed, with the name among its sources
        assert label.sources == (name,)
        back = pd.read_csv(copy)  # its parent, as the server recorded the run
        assert [p.ref.name for p in back.lacuna.lineage.node.parents] == [
            name.encode("utf-8", "backslashreplace").decode()]
    assert copy.read_text(encoding="utf-8") == "region\nsouth-west\ncentral\n"


def test_a_files_retention_clock_is_the_servers_not_its_sidecars(
        live, monkeypatch, tmp_path) -> None:
    """The server records a written file's clock (when its data was first seen) and a client
    takes it, not its sidecar's: the owner deleting the sidecar, or signing one with a later
    first_seen with their own key, restarted the clock retention counts from (the file kept
    past its window). A copy takes its source's clock from the server too."""
    from datetime import UTC, datetime

    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import first_seen, saw
    from lacuna.lineage.sidecar import read_sidecar, sidecar_paths, write_sidecar
    from lacuna.lineage.store import LineageStore
    from lacuna.remote.client import host_name

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    target = live.root / "governed" / "clock-kept.csv"
    copy = live.root / "governed" / "clock-copy.csv"
    frame = pd.DataFrame({"region": ["east", "north"]})
    with lacuna.governed(_plain(live, "ana")):
        frame.to_csv(target, index=False)  # the allowed path: the server records its clock
        label = read_sidecar(target)
        assert label is not None
        assert label.trusted
        recorded = httpx.get(f"{live.url}/api/v1/lineage/known",
                             params={"dataset": str(target)},
                             headers={**live.headers("ana"), "X-Lacuna-Host": host_name()})
        seen = datetime.fromisoformat(recorded.json()["first_seen"])
        assert abs((seen - label.first_seen).total_seconds()) < 1  # the same clock
        old = datetime(2022, 12, 5, tzinfo=UTC)  # as if the data were written in 2022
        store = LineageStore(live.db)
        try:
            saw(store, DatasetRef(f"file://{host_name()}", str(target)), old)  # this host's
        finally:
            store.close()
        for side in sidecar_paths(target):
            side.unlink(missing_ok=True)  # the owner deletes the label, and writes again
        frame.to_csv(target, index=False)
        assert read_sidecar(target).first_seen == old  # before: now (the clock restarted)
        # a sidecar signed by the owner's own key with a later clock says nothing of it
        write_sidecar(target, label.classification, written_by="ana",
                      first_seen=datetime.now(UTC))
        pd.read_csv(target).to_csv(copy, index=False)
        assert read_sidecar(copy).first_seen == old  # a copy is as old as its source
        assert pd.read_csv(target).to_csv(target, index=False) is None
        assert read_sidecar(target).first_seen == old
    assert pd.read_csv(copy).equals(frame)  # written as asked
    store = LineageStore(live.db)
    try:
        # kept by the server, as this host's files (file://<host> + path)
        assert first_seen(store, DatasetRef(f"file://{host_name()}", str(copy))) == old
        assert first_seen(store, DatasetRef(f"file://{host_name()}", str(target))) == old
        assert first_seen(store, DatasetRef.of(str(copy))) is None  # no other host's
    finally:
        store.close()


def test_a_workbook_written_in_parts_is_known_by_its_content(
        live, monkeypatch, tmp_path) -> None:
    """An ExcelWriter's sheets are recorded as runs before the file is complete; on close the
    client gives their outputs the file's fingerprint on the server, so a copy under another
    name is known by its content (it logged 'ServerLineage has no attribute set_fingerprint'
    on every close, and the server never knew the content). Only the run's own user may, and
    only once; a workbook whose every sheet was denied closes without a file."""
    from lacuna.lineage.recording import file_fingerprint
    from lacuna.lineage.records import DatasetRef

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    book = live.root / "governed" / "parts.xlsx"
    denied = live.root / "Downloads" / "parts-denied.xlsx"
    people = pd.DataFrame({"name": ["Ann Lee"], "email": ["ann@example.com"]})
    regions = pd.DataFrame({"region": ["east", "north"]})
    with lacuna.governed(_plain(live, "ana")):
        with pd.ExcelWriter(book, engine="openpyxl") as writer:
            people.to_excel(writer, sheet_name="people", index=False)
            regions.to_excel(writer, sheet_name="regions", index=False)
        back = pd.read_excel(book, sheet_name=None)
        with (pd.ExcelWriter(denied, engine="openpyxl") as writer,
              pytest.raises(GovernanceViolation)):
            people.to_excel(writer, sheet_name="people", index=False)
    assert not denied.exists()
    assert back["people"].equals(people)
    assert back["regions"].equals(regions)
    fp = file_fingerprint(DatasetRef.of(str(book)))
    known = httpx.get(f"{live.url}/api/v1/lineage/known", headers=live.headers("ana"), params={
        "dataset": str(tmp_path / "renamed.xlsx"), "fingerprint": fp}).json()
    assert known["classification"]["tier"] == "PROPRIETARY"  # before: null (not known)
    runs = httpx.get(f"{live.url}/api/v1/lineage/runs", headers=live.headers("carla"),
                     params={"dataset": str(book)}).json()["runs"]
    assert runs
    for user in ("jane", "ana"):  # another's run; the run's own user once it has one
        answer = httpx.post(f"{live.url}/api/v1/lineage/runs/{runs[0]['id']}/fingerprint",
                            headers=live.headers(user),
                            json={"dataset": str(book), "fingerprint": "sha256:0"})
        assert answer.status_code == 404
