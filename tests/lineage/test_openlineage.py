"""OpenLineage out (events that validate against the official schemas, through file, console and
HTTP transports) and in (``lacuna lineage import``: openlineage-python's client, dbt-ol and Spark
shapes, hostile input), and the emitted-then-imported round trip."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from typer.testing import CliRunner

from forking import in_child
from lacuna.cli import app
from lacuna.config import config_from_dict
from lacuna.lineage import ol_emit, ol_import
from lacuna.lineage.ol_import import import_events, read_runs
from lacuna.lineage.openlineage import (
    EventError,
    event_to_dict,
    events_to_runs,
    ol_run_id,
    run_to_events,
)
from lacuna.lineage.records import (
    ColumnEdge,
    DatasetRef,
    DatasetVersion,
    EdgeKind,
    Run,
    RunStatus,
)
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, ColumnKind, Layer, Sensitivity, Tier

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

# -- validation against the official schemas ---------------------------------------------------

# The official schemas live beside the checkout, in the team's shared folder (not copied here).
SPEC = Path(os.environ.get("LACUNA_OPENLINEAGE_SPEC")
            or Path(__file__).resolve().parents[3] / "shared" / "openlineage-spec")
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    if not (SPEC / "OpenLineage.json").is_file():
        pytest.skip(f"the official OpenLineage schemas are not at {SPEC} "
                    "(../shared/openlineage-spec beside the checkout, or LACUNA_OPENLINEAGE_SPEC)")
    docs = [json.loads(p.read_text()) for p in (SPEC / "OpenLineage.json",
                                                 *sorted((SPEC / "facets").glob("*.json")))]
    shipped = resources.files("lacuna") / "lineage" / "schemas"
    docs += [json.loads(f.read_text()) for f in shipped.iterdir() if f.name.endswith(".json")]
    return {d["$id"]: d for d in docs}


@cache
def _registry() -> Registry:  # type: ignore[type-arg]
    return Registry().with_resources(
        (sid, Resource.from_contents(doc)) for sid, doc in _schemas().items())


def _validator(uri: str, definition: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{uri}#/$defs/{definition}"}, registry=_registry(),
                                format_checker=FormatChecker())


def problems(event: dict[str, Any]) -> list[str]:
    """Everything wrong with ``event``: as a RunEvent, and each facet against its own schema."""
    out = [f"RunEvent: {e.message} at {list(e.absolute_path)}"
           for e in _validator(CORE, "RunEvent").iter_errors(event)]
    groups = [event.get("run", {}).get("facets", {}), event.get("job", {}).get("facets", {})]
    groups += [ds.get("facets", {}) for ds in (*event.get("inputs", []),
                                               *event.get("outputs", []))]
    names = {sid.rsplit("/", 1)[-1].removesuffix(".json"): sid for sid in _schemas()}
    for group in groups:
        for key, facet in group.items():
            url = facet.get("_schemaURL", "")
            name = ("FloeClassificationDatasetFacet" if "floe.dev" in url
                    else url.rsplit("/", 1)[-1])
            if name not in names:
                out.append(f"facet {key}: no schema known for {url!r}")
                continue
            out += [f"facet {key}: {e.message} at {list(e.absolute_path)}"
                    for e in _validator(names[name], name).iter_errors(facet)]
    return out


def test_the_validator_rejects_a_broken_event() -> None:
    event = event_to_dict(run_to_events(_run())[1])
    assert problems(event) == []
    del event["run"]["runId"]
    event["outputs"][0]["facets"]["lacuna_classification"]["tier"] = "SECRET"
    event["outputs"][0]["facets"]["tags"]["tags"].append({"key": "pii"})
    found = "\n".join(problems(event))
    assert "runId" in found
    assert "SECRET" in found
    assert "'value' is a required property" in found


# -- fixtures ----------------------------------------------------------------------------------

SRC = DatasetRef.of("/data/customers.csv")
SALES = DatasetRef.of("s3://lake/raw/sales.csv")
DST = DatasetRef.of("postgresql://db.internal:5432/crm#report")


def _pii() -> Classification:
    return Classification(
        tier=Tier.PROPRIETARY, tags=("PII", "GDPR"), floor=Tier.INTERNAL, table_tags=("GDPR",),
        confidence=0.93, reasoning=("PROPRIETARY because of column(s): email",),
        columns={"email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                                      sensitivity=Sensitivity.HIGH, confidence=0.93,
                                      reasoning="name and values", layer=Layer.HEURISTIC),
                 "customer_id": ColumnClass(classification=ColumnKind.IDENTIFIER,
                                            sensitivity=Sensitivity.MEDIUM)})


def _run(status: RunStatus = RunStatus.SUCCEEDED, run_id: str = "3f1c0a7e9b2d4c6e8a0b1c2d3e4f5a6b"
         ) -> Run:
    fin = Classification(tier=Tier.INTERNAL, tags=("FINANCIAL",), columns={
        "amount": ColumnClass(classification=ColumnKind.FINANCIAL, sensitivity=Sensitivity.MEDIUM)})
    out = Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR", "FINANCIAL"), columns={
        "email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                             sensitivity=Sensitivity.HIGH, layer=Layer.INHERITED),
        "total": ColumnClass(classification=ColumnKind.FINANCIAL, layer=Layer.INHERITED)},
        layer=Layer.INHERITED)
    import datetime as dt

    started = dt.datetime(2026, 11, 30, 9, 15, 2, 123456, tzinfo=dt.UTC)
    return Run(
        id=run_id, operation="export", status=status,
        inputs=(DatasetVersion(dataset=SRC, classification=_pii(), fingerprint="fp:abc",
                               columns=("customer_id", "email")),
                DatasetVersion(dataset=SALES, classification=fin, columns=("customer_id",
                                                                           "amount"))),
        outputs=(DatasetVersion(dataset=DST, classification=out, fingerprint="fp:def",
                                columns=("email", "email_hash", "total")),),
        column_edges=(
            ColumnEdge(source=SRC, source_column="email", target=DST, target_column="email"),
            ColumnEdge(source=SRC, source_column="email", target=DST, target_column="email_hash",
                       kind=EdgeKind.MASKING, description="sha256(email || key)"),
            ColumnEdge(source=SALES, source_column="amount", target=DST, target_column="total",
                       kind=EdgeKind.AGGREGATION, description="sum"),
        ),
        user_id="alice", role="analyst", session="s-1", started_at=started,
        ended_at=started + dt.timedelta(seconds=2) if status is RunStatus.SUCCEEDED else None,
        purpose="quarterly report", exception_id=None, method="pandas.DataFrame.to_sql",
        code_location="report.py:42", code_hash="ab12", code_text="df.to_sql('report', con)",
        libraries=(("pandas", "2.2.3"), ("lacuna", "0.1")), quality_checks=("not_null:email",),
        decision_id="d-9", policy_id="lacuna.export" if status is RunStatus.DENIED else None,
        error="OperationalError: disk full" if status is RunStatus.FAILED else None,
        extra=(("ticket", "GOV-7"),),
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[LineageStore]:
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        yield store


def _config(tmp_path: Path, **transport: Any) -> Any:
    return config_from_dict({"lineage": {"openlineage": {"transport": transport}}},
                            source=tmp_path / "lacuna.yaml")


# -- out ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(RunStatus))
def test_emitted_events_validate_and_carry_the_facets(status: RunStatus) -> None:
    start, end = (event_to_dict(e) for e in run_to_events(_run(status)))
    for event in (start, end):
        assert problems(event) == [], event
    assert start["eventType"] == "START"
    assert end["eventType"] == ("COMPLETE" if status is RunStatus.SUCCEEDED else "FAIL")
    assert start["run"]["runId"] == end["run"]["runId"] == "3f1c0a7e-9b2d-4c6e-8a0b-1c2d3e4f5a6b"
    out = end["outputs"][0]
    assert (out["namespace"], out["name"]) == ("postgres://db.internal:5432", "crm.report")
    facets = out["facets"]
    assert [f["name"] for f in facets["schema"]["fields"]] == ["email", "email_hash", "total"]
    lineage = facets["columnLineage"]["fields"]
    hashed = lineage["email_hash"]["inputFields"][0]
    assert (hashed["name"], hashed["field"]) == ("/data/customers.csv", "email")
    assert hashed["transformations"][0]["masking"] is True
    assert lineage["email"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    assert lineage["total"]["inputFields"][0]["transformations"][0]["subtype"] == "AGGREGATION"
    tags = facets["tags"]["tags"]
    assert {"key": "pii", "value": "email", "source": "LACUNA", "field": "email"} in tags
    assert {"key": "tier", "value": "PROPRIETARY", "source": "LACUNA"} in tags
    lacuna = facets["lacuna_classification"]
    assert lacuna["_producer"].startswith("https://")
    assert lacuna["_schemaURL"].startswith("https://lacuna.dev/spec/facets/1-0-0/")
    assert lacuna["tier"] == "PROPRIETARY"
    assert lacuna["fingerprint"] == "fp:def"
    assert facets["floe_classification"]["columns"]["email"] == {
        "classification": "pii", "pii_type": "email", "sensitivity": "high"}
    assert end["run"]["facets"]["lacuna_run"]["userId"] == "alice"
    if status is not RunStatus.SUCCEEDED:
        message = end["run"]["facets"]["errorMessage"]["message"]
        assert ("lacuna.export" in message) if status is RunStatus.DENIED else ("disk full"
                                                                              in message)


def test_an_extra_value_of_null_validates_and_comes_back() -> None:
    """openlineage-python's serialiser leaves a null out of a list: ``extra`` [name, None]
    went out as [name], which the facet's schema refused and the import rejected (the whole
    run left out)."""
    from dataclasses import replace

    run = replace(_run(), extra=(("ticket", "GOV-7"), ("location", None), ("n", {"a": [1]})))
    events = [json.loads(json.dumps(event_to_dict(e))) for e in run_to_events(run)]
    assert all(problems(e) == [] for e in events)
    (back,) = events_to_runs(events)
    assert back.extra == run.extra
    events[1]["run"]["facets"]["lacuna_run"]["extra"] = [["a", 1, 2]]
    with pytest.raises(EventError, match="malformed"):
        events_to_runs(events)


def test_the_facet_schemas_ship_in_the_package() -> None:
    folder = resources.files("lacuna") / "lineage" / "schemas"
    ids = {json.loads(f.read_text())["$id"] for f in folder.iterdir() if f.name.endswith(".json")}
    event = event_to_dict(run_to_events(_run())[1])
    urls = [event["outputs"][0]["facets"]["lacuna_classification"]["_schemaURL"],
            event["run"]["facets"]["lacuna_run"]["_schemaURL"]]
    assert {u.split("#")[0] for u in urls} <= ids


def test_a_non_uuid_run_id_becomes_a_stable_uuid() -> None:
    assert ol_run_id("export-42") == ol_run_id("export-42") != ol_run_id("export-43")
    run = _run(run_id="export-42")
    events = [event_to_dict(e) for e in run_to_events(run)]
    assert all(problems(e) == [] for e in events)
    assert events_to_runs(events)[0].id == "export-42"


def test_file_transport_appends_json_lines_and_round_trips_through_the_cli(
        tmp_path: Path, store_url: str) -> None:
    """Emit through the configured file transport, import with the CLI: nothing is lost."""
    config = _config(tmp_path, type="file", path="events/ol.jsonl")
    original = _run()
    denied = _run(RunStatus.DENIED, run_id="7" * 32)
    with LineageStore(f"sqlite:///{tmp_path / 'a.db'}") as a:
        a.record(original)
        a.record(denied)
        stored = [a.get_run(original.id), a.get_run(denied.id)]
    ol_emit.emit_run(original, config)
    ol_emit.emit_run(denied, config)
    assert ol_emit.emitter_for(config).flush(10)  # type: ignore[union-attr]
    path = tmp_path / "events" / "ol.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert all(problems(json.loads(line)) == [] for line in lines)
    result = runner.invoke(app, ["lineage", "import", str(path), "--db", store_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["runs"] == 2
    with LineageStore(store_url) as b:
        assert [b.get_run(original.id), b.get_run(denied.id)] == stored
        assert b.get_run(original.id) == original
        assert b.upstream(DST).parents(DST)  # the edges joined the graph


def test_console_transport_prints_one_line_per_event(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, type="console")
    ol_emit.emit_run(_run(), config)
    assert ol_emit.emitter_for(config).flush(10)  # type: ignore[union-attr]
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(x)["eventType"] for x in lines] == ["START", "COMPLETE"]


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    delay = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        type(self).received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                     "event": json.loads(body)})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "delay": 0.3})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_http_transport_posts_off_the_hot_path(tmp_path: Path, receiver: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = receiver
    monkeypatch.setenv("MARQUEZ_TOKEN", "t0k3n")
    config = _config(tmp_path, type="http", url=url, api_key_env="MARQUEZ_TOKEN")
    began = time.perf_counter()
    ol_emit.emit_run(_run(), config)
    elapsed = time.perf_counter() - began
    assert elapsed < 0.2  # the receiver takes 0.3 s per event: the caller did not wait
    assert ol_emit.emitter_for(config).flush(10)  # type: ignore[union-attr]
    assert [r["path"] for r in handler.received] == ["/api/v1/lineage"] * 2
    assert handler.received[0]["auth"] == "Bearer t0k3n"
    assert [r["event"]["eventType"] for r in handler.received] == ["START", "COMPLETE"]
    assert all(problems(r["event"]) == [] for r in handler.received)


def test_emission_failures_are_logged_never_raised(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "taken").mkdir()
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.openlineage"):
        taken = _config(tmp_path, type="file", path="taken")  # a directory
        ol_emit.emit_run(_run(), taken)
        ol_emit.emitter_for(taken).flush(10)  # type: ignore[union-attr]
        # Emitting hands the event to a background sender: it must not wait for the transport,
        # whose timeout is set long so that waiting cannot pass for a busy host's slowness.
        dead = _config(tmp_path, type="http", url="http://127.0.0.1:9", timeout=5)
        began = time.perf_counter()
        ol_emit.emit_run(_run(), dead)
        assert time.perf_counter() - began < 2.0
        ol_emit.emitter_for(dead).flush(20)  # type: ignore[union-attr]
    text = caplog.text
    assert "could not emit a START event" in text
    assert "through file" in text
    assert "through http" in text


class _Held:
    """A transport that sends nothing until released (an endpoint that does not answer)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[Any] = []

    def emit(self, event: Any) -> None:
        self.release.wait(10)
        self.sent.append(event)


def test_runs_left_unsent_at_exit_are_said_not_dropped_silently(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At interpreter exit, flush_all gave queued runs 5 s per emitter and then let them go
    without a word (an HTTP collector that hangs lost every event, unsaid). What is left is
    now named in a warning, within one deadline for all emitters; what was sent is not."""
    held, fine = _config(tmp_path, type="file", path="held.jsonl"), _config(
        tmp_path, type="file", path="fine.jsonl")
    stuck = ol_emit.emitter_for(held)
    assert stuck is not None
    transport = _Held()
    stuck.transport = transport  # type: ignore[assignment]
    try:
        ol_emit.emit_run(_run(), held)
        ol_emit.emit_run(_run(run_id="8" * 32), fine)
        with caplog.at_level(logging.WARNING, logger="lacuna.lineage.openlineage"):
            began = time.perf_counter()
            assert ol_emit.flush_all(0.3) is False
            assert time.perf_counter() - began < 2.0
        assert "1 run(s) not yet sent through the file transport" in caplog.text
        assert str(tmp_path / "held.jsonl") in caplog.text
        assert str(tmp_path / "fine.jsonl") not in caplog.text
        assert len((tmp_path / "fine.jsonl").read_text().splitlines()) == 2  # sent, read back
    finally:
        transport.release.set()
    assert stuck.flush(10)
    assert [e.eventType.value for e in transport.sent] == ["START", "COMPLETE"]
    assert stuck.pending == 0


def test_a_forked_child_emits_even_if_the_parent_was_sending(tmp_path: Path) -> None:
    """multiprocessing forks on Linux: a child forked while the parent's sender held the
    emitter's lock (a slow collector) waited for ever on its first governed run. The child
    starts afresh, sends its own run, and does not send the parent's again."""
    config = _config(tmp_path, type="file", path="forked.jsonl")
    emitter = ol_emit.emitter_for(config)
    assert emitter is not None
    held = _Held()
    emitter.transport = held  # type: ignore[assignment]
    ol_emit.emit_run(_run(), config)
    deadline = time.monotonic() + 5
    while not emitter._lock.locked() and time.monotonic() < deadline:  # the send is under way
        time.sleep(0.01)
    def child() -> Any:  # emit one run, report what was sent
        held.release.set()  # the child's own copy: its sends go through at once
        ol_emit.emit_run(_run(run_id="9" * 32), config)
        done = ol_emit.emitter_for(config).flush(3)  # type: ignore[union-attr]
        return [done, sorted({e.run.runId for e in held.sent})]

    try:
        answer = in_child(child, timeout=5)  # None: the child hung, it never answered
    finally:
        held.release.set()
    assert isinstance(answer, list), answer
    done, ids = answer
    assert done is True
    assert ids == [ol_run_id("9" * 32)]
    assert emitter.flush(10)
    assert {e.run.runId for e in held.sent} == {ol_run_id(_run().id)}


def test_transport_configuration_is_validated(tmp_path: Path) -> None:
    from lacuna.errors import ConfigError

    with pytest.raises(ConfigError, match="type http needs a url"):
        _config(tmp_path, type="http")
    with pytest.raises(ConfigError, match=r"transport\.type"):
        _config(tmp_path, type="kafka")
    config = _config(tmp_path, type="file", path="rel/ol.jsonl")
    assert ol_emit.events_path(config.lineage.openlineage) == tmp_path / "rel" / "ol.jsonl"
    disabled = config_from_dict({"lineage": {"openlineage": {"enabled": False}}})
    assert ol_emit.emitter_for(disabled) is None


def test_register_lineage_emits_to_the_default_file(tmp_path: Path) -> None:
    import hashlib
    import os

    import lacuna
    from lacuna.lineage import current_store

    (tmp_path / "raw.csv").write_text("email,amount\na@example.com,3\n")
    # the seed's code=open("transform.py").read(): a script holds its connection string
    code = ('engine = create_engine("postgresql://etl:Sup3rSecret@db.internal/crm")\n'
            'AWS_KEY = "AKIAIOSFODNN7EXAMPLE"\n')
    run = lacuna.register_lineage(source=["raw.csv"], destination="processed.csv",
                                  operation="custom_transformation", code=code)
    ol_emit.flush_all(10)
    path = Path(os.environ["LACUNA_HOME"]) / "openlineage.jsonl"
    events = [json.loads(x) for x in path.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert all(problems(e) == [] for e in events)
    assert events[1]["outputs"][0]["name"] == str(tmp_path / "processed.csv")
    # the script's password and key were stored, and sent to the collector, as written
    sent = events[1]["job"]["facets"]["sourceCode"]["sourceCode"]
    stored = current_store().get_run(run.id)
    assert stored is not None
    for text in (sent, stored.code_text, path.read_text()):
        assert "Sup3rSecret" not in text
        assert "AKIAIOSFODNN7EXAMPLE" not in text
    assert "create_engine(\"postgresql://etl:***@db.internal/crm\")" in sent
    assert stored.code_hash == hashlib.sha256(code.encode()).hexdigest()  # the code's own


def test_a_failed_runs_error_is_redacted_when_sent() -> None:
    """A run's error is the exception's text: a connection string in it went out verbatim in
    the FAIL event's errorMessage (runs recorded, or ingested, before errors were redacted)."""
    from dataclasses import replace

    run = replace(_run(RunStatus.FAILED),
                  error="OperationalError: cannot reach postgresql://etl:Sup3rSecret@db/crm",
                  code_text="con = connect('postgresql://etl:Sup3rSecret@db/crm')")
    end = event_to_dict(run_to_events(run)[1])
    assert "Sup3rSecret" not in end["run"]["facets"]["errorMessage"]["message"]
    assert "Sup3rSecret" not in end["job"]["facets"]["sourceCode"]["sourceCode"]
    assert problems(end) == []


# -- in ----------------------------------------------------------------------------------------


def _client_events(path: Path) -> None:
    """Events written by openlineage-python's own client and file transport (another producer)."""
    from openlineage.client import OpenLineageClient, event_v2, facet_v2
    from openlineage.client.transport.file import FileConfig, FileTransport

    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path),
                                                                  append=True)))
    producer = "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"
    tags = facet_v2.tags_dataset
    cl = facet_v2.column_lineage_dataset
    users = event_v2.InputDataset(namespace="postgres://warehouse:5432", name="crm.public.users",
                                  facets={
        "schema": facet_v2.schema_dataset.SchemaDatasetFacet(fields=[
            facet_v2.schema_dataset.SchemaDatasetFacetFields(name=n, type="VARCHAR")
            for n in ("user_id", "email", "phone")]),
        "tags": tags.TagsDatasetFacet(tags=[
            tags.TagsDatasetFacetFields(key="pii", value="email", field="email", source="USER"),
            tags.TagsDatasetFacetFields(key="pii", value="true", field="phone", source="USER"),
            tags.TagsDatasetFacetFields(key="sensitivity", value="critical", field="phone"),
            tags.TagsDatasetFacetFields(key="gdpr", value="true", source="USER")])})
    out_facets = {
        "schema": facet_v2.schema_dataset.SchemaDatasetFacet(fields=[
            facet_v2.schema_dataset.SchemaDatasetFacetFields(name=n)
            for n in ("user_id", "contact")]),
        "columnLineage": cl.ColumnLineageDatasetFacet(fields={
            "contact": cl.Fields(inputFields=[cl.InputField(
                namespace="postgres://warehouse:5432", name="crm.public.users", field="email",
                transformations=[cl.Transformation(type="DIRECT", subtype="IDENTITY")])]),
            "user_id": cl.Fields(inputFields=[cl.InputField(
                namespace="postgres://warehouse:5432", name="crm.public.users", field="user_id",
                transformations=[cl.Transformation(type="INDIRECT", subtype="FILTER")])]),
        })}
    contacts = event_v2.OutputDataset(namespace="s3://exports", name="contacts/2026-11.csv",
                                      facets=out_facets)
    job = event_v2.Job(namespace="airflow", name="crm_export.extract")
    run_id = "0192f2b4-6f4e-7c1a-9d3b-2a4c6e8f0a1b"
    for state in (event_v2.RunState.START, event_v2.RunState.COMPLETE):
        client.emit(event_v2.RunEvent(
            eventType=state, eventTime=f"2026-11-30T10:0{int(state is not event_v2.RunState.START)}"
                                       ":00.000Z",
            run=event_v2.Run(runId=run_id), job=job, producer=producer, inputs=[users],
            outputs=[contacts] if state is event_v2.RunState.COMPLETE else []))


def test_events_from_openlineage_pythons_client_ingest_with_their_facets(
        tmp_path: Path, sqlite_store: LineageStore) -> None:
    path = tmp_path / "airflow.jsonl"
    _client_events(path)
    report = import_events(path, sqlite_store)
    assert (report.events, len(report.runs), report.errors) == (2, 1, [])
    run = sqlite_store.get_run("0192f2b4-6f4e-7c1a-9d3b-2a4c6e8f0a1b")
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert run.operation == "crm_export.extract"
    assert "airflow" in run.producer
    users = sqlite_store.latest(DatasetRef("postgres://warehouse:5432", "crm.public.users"))
    assert users is not None
    c = users.classification
    assert users.columns == ("user_id", "email", "phone")
    assert c.columns["email"].classification is ColumnKind.PII
    assert c.columns["email"].pii_type == "email"
    assert c.columns["phone"].sensitivity is Sensitivity.CRITICAL
    assert c.tier is Tier.PROPRIETARY
    assert "PII" in c.tags
    assert "GDPR" in c.tags
    assert c.layer is Layer.DECLARED
    edges = {(e.source_column, e.target_column, e.kind) for e in run.column_edges}
    assert edges == {("email", "contact", EdgeKind.IDENTITY)}  # INDIRECT: no values flow
    target = DatasetRef("s3://exports", "contacts/2026-11.csv")
    assert list(sqlite_store.upstream(target).parents(target)) == [users.dataset]


def _dbt_ol_events() -> list[dict[str, Any]]:
    """The shape dbt-ol (openlineage-dbt) emits for one model: START and COMPLETE, datasets
    named by the adapter (duckdb/postgres namespace, db.schema.table), columnLineage with
    transformations, dbt's column meta surfaced as field tags."""
    run_id = "01930a1e-2b3c-7d4e-8f5a-6b7c8d9e0f1a"
    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/dbt"
    ns = "postgres://warehouse:5432"
    stg = {"namespace": ns, "name": "analytics.staging.stg_customers", "facets": {
        "dataSource": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/"
                       "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
                       "name": ns, "uri": ns},
        "schema": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/"
                   "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                   "fields": [{"name": "customer_id", "type": "integer"},
                              {"name": "email", "type": "text",
                               "description": "customer e-mail"}]},
        "tags": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/"
                 "TagsDatasetFacet.json#/$defs/TagsDatasetFacet",
                 "tags": [{"key": "classification", "value": "pii", "field": "email",
                           "source": "DBT_CORE"},
                          {"key": "sensitivity", "value": "high", "field": "email",
                           "source": "DBT_CORE"}]}}}
    out = {"namespace": ns, "name": "analytics.marts.dim_customers", "facets": {
        "schema": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/"
                   "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                   "fields": [{"name": "customer_id"}, {"name": "email_hash"}]},
        "columnLineage": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/"
                          "facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/"
                          "ColumnLineageDatasetFacet", "fields": {
            "customer_id": {"inputFields": [{"namespace": ns, "name":
                                             "analytics.staging.stg_customers",
                                             "field": "customer_id", "transformations": [
                {"type": "DIRECT", "subtype": "IDENTITY", "description": "", "masking": False}]}]},
            "email_hash": {"inputFields": [{"namespace": ns, "name":
                                            "analytics.staging.stg_customers",
                                            "field": "email", "transformations": [
                {"type": "DIRECT", "subtype": "TRANSFORMATION",
                 "description": "md5(email)", "masking": True}]}]}}}}}
    job = {"namespace": "dbt", "name": "analytics.marts.dim_customers", "facets": {
        "sql": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/"
                "SQLJobFacet.json#/$defs/SQLJobFacet",
                "query": "select customer_id, md5(email) as email_hash from stg_customers"}}}
    parent = {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/"
              "ParentRunFacet.json#/$defs/ParentRunFacet",
              "run": {"runId": "01930a1e-0000-7000-8000-000000000001"},
              "job": {"namespace": "dbt", "name": "dbt-run-analytics"}}
    base = {"producer": producer, "schemaURL": "https://openlineage.io/spec/2-0-2/"
            "OpenLineage.json#/$defs/RunEvent", "job": job, "inputs": [stg]}
    return [
        {**base, "eventType": "START", "eventTime": "2026-11-30T11:00:00.000000+00:00",
         "run": {"runId": run_id, "facets": {"parent": parent}}, "outputs": [out]},
        {**base, "eventType": "COMPLETE", "eventTime": "2026-11-30T11:00:04.500000+00:00",
         "run": {"runId": run_id, "facets": {"parent": parent}}, "outputs": [out]},
    ]


def _spark_events() -> list[dict[str, Any]]:
    """The Spark listener's shape: START, RUNNING, COMPLETE; the output and its column lineage
    (the deprecated transformationType form still sent by older listeners) only on COMPLETE."""
    run_id = "01930a1f-aaaa-7bbb-8ccc-dddddddddddd"
    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.20.5/integration/spark"
    src = {"namespace": "file", "name": "/lake/raw/patients.parquet", "facets": {
        "schema": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/"
                   "1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                   "fields": [{"name": "patient_id", "type": "long"},
                              {"name": "diagnosis", "type": "string"}]},
        "floe_classification": {"_producer": "https://floe.dev", "_schemaURL":
                                "https://floe.dev/spec/facets/ClassificationFacet.json",
                                "columns": {"diagnosis": {"classification": "phi",
                                                          "pii_type": None,
                                                          "sensitivity": "critical"}}}}}
    out = {"namespace": "file", "name": "/lake/marts/diagnosis_counts", "facets": {
        "schema": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/facets/"
                   "1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                   "fields": [{"name": "diagnosis"}, {"name": "n"}]},
        "columnLineage": {"_producer": producer, "_schemaURL": "https://openlineage.io/spec/"
                          "facets/1-0-2/ColumnLineageDatasetFacet.json#/$defs/"
                          "ColumnLineageDatasetFacet", "fields": {
            "diagnosis": {"inputFields": [{"namespace": "file",
                                           "name": "/lake/raw/patients.parquet",
                                           "field": "diagnosis"}],
                          "transformationType": "IDENTITY", "transformationDescription": ""},
            "n": {"inputFields": [{"namespace": "file", "name": "/lake/raw/patients.parquet",
                                   "field": "patient_id"}],
                  "transformationType": "", "transformationDescription": "count"}}}}}
    job = {"namespace": "spark", "name": "diagnosis_app.execute_insert_into_hadoop_fs_relation"}

    def event(state: str, second: int, outputs: list[Any]) -> dict[str, Any]:
        return {"eventType": state, "eventTime": f"2026-11-30T12:00:0{second}.000Z",
                "producer": producer, "schemaURL": "https://openlineage.io/spec/2-0-2/"
                "OpenLineage.json#/$defs/RunEvent", "run": {"runId": run_id, "facets": {
                    "processing_engine": {"_producer": producer, "_schemaURL":
                                          "https://openlineage.io/spec/facets/1-1-1/"
                                          "ProcessingEngineRunFacet.json#/$defs/"
                                          "ProcessingEngineRunFacet", "version": "3.5.1",
                                          "name": "spark"}}},
                "job": job, "inputs": [src], "outputs": outputs}

    return [event("START", 0, []), event("RUNNING", 1, []), event("COMPLETE", 3, [out])]


def test_dbt_ol_and_spark_shapes_join_the_graph(tmp_path: Path,
                                                sqlite_store: LineageStore) -> None:
    path = tmp_path / "events.jsonl"
    events = _dbt_ol_events() + _spark_events()
    assert all(problems(e) == [] for e in events)  # the hand-written shapes are themselves valid
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    result = runner.invoke(app, ["lineage", "import", str(path), "--db",
                                 sqlite_store.engine.url.render_as_string(hide_password=False)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 runs (5 events" in result.output
    dbt = sqlite_store.get_run("01930a1e-2b3c-7d4e-8f5a-6b7c8d9e0f1a")
    assert dbt is not None
    assert dbt.code_text is not None
    assert "md5(email)" in dbt.code_text
    assert {(e.source_column, e.target_column, e.kind) for e in dbt.column_edges} == {
        ("customer_id", "customer_id", EdgeKind.IDENTITY),
        ("email", "email_hash", EdgeKind.MASKING)}
    stg = sqlite_store.latest(DatasetRef("postgres://warehouse:5432",
                                         "analytics.staging.stg_customers"))
    assert stg is not None
    assert stg.classification.columns["email"].classification is ColumnKind.PII
    assert stg.classification.tier is Tier.PROPRIETARY
    spark = sqlite_store.get_run("01930a1f-aaaa-7bbb-8ccc-dddddddddddd")
    assert spark is not None
    assert spark.started_at.second == 0
    assert spark.ended_at is not None
    assert {(e.source_column, e.target_column, e.kind) for e in spark.column_edges} == {
        ("diagnosis", "diagnosis", EdgeKind.IDENTITY),
        ("patient_id", "n", EdgeKind.TRANSFORMATION)}
    patients = sqlite_store.latest(DatasetRef("file", "/lake/raw/patients.parquet"))
    assert patients is not None
    assert patients.classification.columns["diagnosis"].classification is ColumnKind.PHI
    assert "PHI" in patients.classification.tags
    out = DatasetRef("file", "/lake/marts/diagnosis_counts")
    assert patients.dataset in sqlite_store.upstream(out).nodes


def test_a_dataset_without_any_classification_is_not_passed_off_as_checked() -> None:
    event = _spark_events()[2]
    event["outputs"][0]["facets"].pop("schema")
    runs = events_to_runs([*_spark_events()[:2], event])
    out = runs[0].outputs[0].classification
    assert out.confidence == 0.0
    assert "no classification facet" in out.reasoning[0]


def _people(facets: dict[str, Any]) -> Classification:
    (run,) = events_to_runs([{
        "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", "producer": "floe",
        "run": {"runId": "11111111-1111-4111-8111-111111111111"},
        "job": {"namespace": "floe", "name": "people"},
        "outputs": [{"namespace": "warehouse", "name": "crm.people", "facets": facets}]}])
    return run.outputs[0].classification


def test_every_classification_an_event_carries_counts_the_strictest_kept() -> None:
    """The first of Lacuna's facet, Floe's facet and the tags was taken and the others
    dropped: an ``ssn`` tagged PII beside a Floe facet that calls it public, a ``diag`` tagged
    PHI that Floe's facet leaves out, a Floe facet's e-mail beside a Lacuna facet saying
    PUBLIC, were all lost, and the claim said less than the event."""
    floe = {"_schemaURL": "https://floe.dev/spec/facets/ClassificationFacet.json",
            "columns": {"email": {"classification": "pii", "pii_type": "email",
                                  "sensitivity": "high"},
                        "ssn": {"classification": "public", "sensitivity": "low"}}}
    tags = {"tags": [{"key": "pii", "value": "ssn", "field": "ssn"},
                     {"key": "phi", "value": "true", "field": "diag"},
                     {"key": "tier", "value": "PROPRIETARY"}, {"key": "sox", "value": "true"}]}
    public = {"tier": "PUBLIC", "tags": [], "columns": {}}

    both = _people({"floe_classification": floe, "tags": tags})
    assert {n: (c.classification.value, c.pii_type) for n, c in both.columns.items()} == {
        "email": ("pii", "email"), "ssn": ("pii", "ssn"), "diag": ("phi", None)}
    assert both.tier is Tier.PROPRIETARY
    assert {"PII", "PHI", "SOX"} <= set(both.tags) | set(both.table_tags)
    over_lacuna = _people({"lacuna_classification": public, "floe_classification": floe})
    assert over_lacuna.tier is Tier.PROPRIETARY
    assert over_lacuna.columns["email"].classification is ColumnKind.PII
    assert "raised by the event's other" in " ".join(over_lacuna.reasoning)
    tier_only = _people({"lacuna_classification": public,
                         "tags": {"tags": [{"key": "tier", "value": "INTERNAL"}]}})
    assert (tier_only.tier, tier_only.floor) == (Tier.INTERNAL, Tier.INTERNAL)
    # a tag or Floe entry below what Lacuna's facet says lowers nothing
    known = _pii().to_dict()
    facet = {"tier": known["tier"], "tags": known["tags"], "floor": known["floor"],
             "tableTags": known["table_tags"], "columns": known["columns"]}
    low = _people({"lacuna_classification": facet, "floe_classification": {
        "columns": {"email": {"classification": "public", "sensitivity": "low"}}},
        "tags": {"tags": [{"key": "tier", "value": "PUBLIC"},
                          {"key": "classification", "value": "public", "field": "email"}]}})
    assert low == _people({"lacuna_classification": facet})


@pytest.mark.parametrize(("first", "then", "kept"), [
    ("pii", "public", "pii"),        # a later event of the run lowered it: the earlier stands
    ("public", "pii", "pii"),        # the allowed direction: a later event raises
    ("financial", "financial", "financial"),
])
def test_an_earlier_event_of_the_run_still_counts(first: str, then: str, kept: str) -> None:
    """A run's events were merged dataset by dataset, the later replacing the earlier: a
    START saying the column is pii and a COMPLETE saying public made a public claim (recorded
    as such where the store knew nothing). Every event of the run counts; later ones raise."""
    def event(state: str, second: int, kind: str) -> dict[str, Any]:
        column = {"classification": kind, "sensitivity": "high" if kind == "pii" else "low"}
        tier = {"pii": "PROPRIETARY", "financial": "INTERNAL"}.get(kind, "PUBLIC")
        return {"eventType": state, "eventTime": f"2026-01-01T00:00:0{second}Z",
                "producer": "other", "run": {"runId": "22222222-2222-4222-8222-222222222222"},
                "job": {"namespace": "other", "name": "load"},
                "outputs": [{"namespace": "s3://lake", "name": "people.csv", "facets": {
                    "lacuna_classification": {"tier": tier, "columns": {"id": column}}}}]}

    (run,) = events_to_runs([event("START", 1, first), event("COMPLETE", 2, then)])
    got = run.outputs[0].classification
    assert got.columns["id"].classification.value == kept
    assert got.tier is (Tier.PROPRIETARY if kept == "pii" else
                        Tier.INTERNAL if kept == "financial" else Tier.PUBLIC)
    with LineageStore("sqlite://") as store:  # read back as stored
        store.record(run, trusted=False)
        stored = store.latest(DatasetRef("s3://lake", "people.csv"))
    assert stored is not None
    assert stored.classification.columns["id"].classification.value == kept


@pytest.mark.parametrize(("first", "then", "tier", "columns"), [
    # a later event saying confidence 0 (or nothing) does not lower what an earlier one said
    ({"tier": "PROPRIETARY", "tags": ["PII"]}, {"tier": "PUBLIC", "confidence": 0},
     "PROPRIETARY", ()),
    ({"tier": "PROPRIETARY", "tags": ["PII"], "confidence": 0}, {"tier": "PUBLIC"},
     "PROPRIETARY", ()),
    ({"tier": "PROPRIETARY", "tags": ["PII"]}, None, "PROPRIETARY", ("id",)),
    # the allowed paths: an earlier event that said nothing, a later one that raises
    (None, {"tier": "PUBLIC"}, "PUBLIC", ()),
    ({"tier": "PUBLIC", "confidence": 0}, {"tier": "INTERNAL"}, "INTERNAL", ()),
    ({"tier": "INTERNAL", "confidence": 0}, {"tier": "PROPRIETARY", "confidence": 0},
     "PROPRIETARY", ()),
])
def test_an_earlier_event_counts_whatever_confidence_the_later_one_says(
        first: dict[str, Any] | None, then: dict[str, Any] | None, tier: str,
        columns: tuple[str, ...]) -> None:
    """A run's events were merged by confidence: only where both said more than 0 did the
    earlier raise the later, so a COMPLETE with ``confidence: 0`` (or without any facet) after
    a START saying PROPRIETARY/PII, or a START with confidence 0, left a PUBLIC claim."""
    def event(state: str, second: int, facet: dict[str, Any] | None) -> dict[str, Any]:
        facets: dict[str, Any] = {} if facet is None else {"lacuna_classification": facet}
        if facet is None:
            facets["schema"] = {"fields": [{"name": "id"}]}
        return {"eventType": state, "eventTime": f"2026-01-01T00:00:0{second}Z",
                "producer": "other", "run": {"runId": "22222222-2222-4222-8222-222222222222"},
                "job": {"namespace": "other", "name": "load"},
                "outputs": [{"namespace": "s3://lake", "name": "people.csv", "facets": facets}]}

    (run,) = events_to_runs([event("START", 1, first), event("COMPLETE", 2, then)])
    (got,) = run.outputs
    assert got.classification.tier.value == tier
    assert ("PII" in got.classification.tags) == ("PII" in (first or {}).get("tags", ()))
    assert got.columns == columns


def test_a_lacuna_facets_tier_is_at_least_what_its_columns_give() -> None:
    """docs/lineage.md: the tier and tags follow from the columns. A lacuna_classification
    facet saying tier PUBLIC beside an ssn column of class pii was taken as PUBLIC, without
    the PII tag; a facet that agrees with its columns is kept as it is."""
    ssn = {"classification": "pii", "pii_type": "ssn", "sensitivity": "high"}
    said = _people({"lacuna_classification": {"tier": "PUBLIC", "columns": {"ssn": ssn}}})
    assert said.tier is Tier.PROPRIETARY
    assert "PII" in said.tags
    assert "raised to what its columns give" in " ".join(said.reasoning)
    region = {"classification": "public", "sensitivity": "low"}
    fine = {"tier": "PUBLIC", "tags": [], "reasoning": ["checked"], "columns": {"region": region}}
    kept = _people({"lacuna_classification": fine})
    assert (kept.tier, kept.tags, kept.reasoning) == (Tier.PUBLIC, (), ("checked",))


def test_a_job_namespace_holding_a_slash_keeps_the_job_name_whole() -> None:
    """Spark's listener names its job namespace spark://host:7077: the job was split at the
    first "/", so the run's operation became '/cluster-a:7077/etl.load' and, without a
    producer, its producer 'spark:'."""
    (run,) = events_to_runs([{
        "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": "11111111-1111-4111-8111-111111111111"},
        "job": {"namespace": "spark://cluster-a:7077", "name": "etl.load"},
        "outputs": [{"namespace": "file", "name": "/lake/out"}]}])
    assert (run.operation, run.producer) == ("etl.load", "spark://cluster-a:7077")


def test_a_runs_dataset_edges_are_bounded_like_its_column_edges(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input of a succeeded run is an edge to every output: an event of 10,000 inputs and
    10,000 outputs (within the per-event bounds) made 100,000,000 edge rows, one of 1,000 x
    1,000 (82 kB) held the state database's write lock for 40 s. Bounded at MAX_EDGES, over
    the run's events together; a run within it is merged."""
    from lacuna.config import ClassificationConfig
    from lacuna.lineage import openlineage
    from lacuna.lineage.openlineage import merge_event

    monkeypatch.setattr(openlineage, "MAX_EDGES", 12)
    config = ClassificationConfig()

    def event(state: str, run_id: str, inputs: int, outputs: int) -> dict[str, Any]:
        return {"eventType": state, "eventTime": "2026-01-01T00:00:00Z", "producer": "p",
                "run": {"runId": run_id}, "job": {"namespace": "j", "name": "j"},
                "inputs": [{"namespace": "s3://b", "name": f"i{i}"} for i in range(inputs)],
                "outputs": [{"namespace": "s3://b", "name": f"o{i}"} for i in range(outputs)]}

    (run,) = events_to_runs([event("COMPLETE", "ok", 4, 3)])  # 12: the most
    assert (len(run.inputs), len(run.outputs)) == (4, 3)
    with pytest.raises(EventError, match=r"16 dataset edges \(inputs x outputs\).*at most 12"):
        events_to_runs([event("COMPLETE", "wide", 4, 4)])
    pending: dict[str, Any] = {}
    merge_event(pending, event("START", "split", 4, 0), config)
    with pytest.raises(EventError, match="split the job"):  # its events together
        merge_event(pending, event("COMPLETE", "split", 0, 4), config)
    assert len(pending["split"].outputs) == 0  # the rejected event left the run as it was


def test_hostile_input_is_reported_by_file_and_line(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   sqlite_store: LineageStore) -> None:
    monkeypatch.setattr(ol_import, "MAX_LINE", 4096)
    good = _spark_events()
    bad_dbt = _dbt_ol_events()
    bad_dbt[1]["inputs"] = "everything"  # the run's COMPLETE is malformed: the run is left out
    lines = [
        json.dumps(good[0]),
        "{not json",
        "",
        json.dumps({"eventType": "COMPLETE", "eventTime": "yesterday", "run": {"runId": "x"},
                    "job": {"namespace": "a", "name": "b"}}),
        "x" * 10_000,
        json.dumps(bad_dbt[0]),
        json.dumps(bad_dbt[1]),
        "[" * 100_000 + "]" * 100_000,
        json.dumps({**good[1], "run": {"runId": ["not", "a", "string"]}}),
        json.dumps({**good[1], "inputs": [{"namespace": "file", "name": "/x", "facets": {
            "floe_classification": {"columns": {"c": {"classification": "secret",
                                                      "sensitivity": "low"}}}}}]}),
        json.dumps(good[2]),
        json.dumps({**good[0], "run": {"runId": "01930a1f-0000-7000-8000-00000000dead"}}),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["lineage", "import", str(path), "--db",
                                 sqlite_store.engine.url.render_as_string(hide_password=False),
                                 "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    errors = "\n".join(report["errors"])
    assert f"{path}:2: not JSON" in errors
    assert f"{path}:4: eventTime 'yesterday' is not an ISO 8601 date-time" in errors
    assert f"{path}:5: line longer than 4096 bytes" in errors
    assert f"{path}:7: inputs must be a list" in errors
    assert f"{path}:8:" in errors
    assert f"{path}:9: run.runId must be a non-empty string" in errors
    assert f"{path}:10:" in errors
    assert "secret" in errors
    assert "run 01930a1e-2b3c-7d4e-8f5a-6b7c8d9e0f1a left out" in errors
    assert report["runs"] == 0  # the Spark run had a malformed RUNNING event (line 10)
    assert report["incomplete_runs"] == ["01930a1f-0000-7000-8000-00000000dead"]
    assert sqlite_store.get_run("01930a1e-2b3c-7d4e-8f5a-6b7c8d9e0f1a") is None


def test_texts_the_store_cannot_hold_are_rejected_as_the_event_they_are(
        tmp_path: Path, store_url: str) -> None:
    """PostgreSQL refuses a text longer than its column and any NUL character (SQLite stores
    both): such an event failed at the database as "cannot write to the lineage store", which
    stopped the whole import (and, on the server, answered with the database's URL). It is a
    malformed event, rejected on both databases, and the other runs are imported."""
    def event(run_id: str, name: str, **changes: Any) -> str:
        return json.dumps({
            "eventType": "COMPLETE", "eventTime": "2026-12-01T10:00:00Z", "producer": "x",
            "run": {"runId": run_id}, "job": {"namespace": "j", "name": "n"},
            "outputs": [{"namespace": "file", "name": name}], **changes})

    path = tmp_path / "long.jsonl"
    path.write_text("\n".join([
        event("long-name", "/data/" + "x" * 3000),
        event("nul-name", "/data/a\x00b.csv"),
        event("long-job", "/data/b.csv", job={"namespace": "j", "name": "n" * 300}),
        event("long-session", "/data/c.csv", run={"runId": "long-session", "facets": {
            "lacuna_run": {"session": "s" * 300}}}),
        event("good", "/data/good.csv"),
    ]) + "\n")
    with LineageStore(store_url) as store:
        report = import_events(path, store)
        assert [r.id for r in report.runs] == ["good"]
        errors = "\n".join(report.errors)
        assert "a dataset name is 3006 characters long (at most 2048)" in errors
        assert "a dataset name holds a NUL character" in errors
        assert "the operation (job name) is 300 characters long (at most 255)" in errors
        assert "lacuna_run.session is 300 characters long (at most 255)" in errors
        assert store.get_run("good") is not None
        assert store.get_run("long-name") is None


@pytest.mark.parametrize("confidence", ["NaN", "Infinity", "-1", "7"])
def test_a_confidence_outside_0_to_1_is_a_malformed_facet(confidence: str) -> None:
    """Python's JSON reader takes NaN and Infinity: such a confidence was stored, and emitted
    again as JSON that strict readers (Marquez) refuse."""
    value = json.loads(confidence)
    for facet in ({"tier": "PUBLIC", "confidence": value},
                  {"tier": "PUBLIC", "columns": {"c": {"classification": "public",
                                                       "confidence": value}}}):
        event = {"eventType": "COMPLETE", "eventTime": "2026-12-01T10:00:00Z", "producer": "x",
                 "run": {"runId": "r"}, "job": {"namespace": "j", "name": "n"},
                 "outputs": [{"namespace": "file", "name": "/data/c.csv",
                              "facets": {"lacuna_classification": facet}}]}
        with pytest.raises(EventError, match=r"confidence is .*, not from 0 to 1"):
            events_to_runs([event])


def test_a_pretty_printed_document_and_a_missing_file(tmp_path: Path,
                                                      sqlite_store: LineageStore) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_dbt_ol_events(), indent=2))
    report = read_runs(path)
    assert (report.events, len(report.runs), report.errors) == (2, 1, [])
    result = runner.invoke(app, ["lineage", "import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "cannot read" in result.output
    assert "nope.jsonl" in result.output


def test_a_failed_runs_error_is_stored_redacted() -> None:
    """run_for kept the exception's text as it was: a connection string's password was
    stored in the run (and shown by lacuna lineage runs, the API, the emitted event)."""
    from lacuna.governor import current
    from lacuna.lineage.recording import Produced, run_for
    from lacuna.model import Action

    gov = current()
    produced = Produced(operation="to_sql", inputs=(), outputs=(DST,),
                        classification=Classification(tier=Tier.INTERNAL))
    op = gov.operation(Action.EXPORT, produced.classification, method="test")
    error = OSError("cannot reach postgresql://etl:Sup3rSecret@db.internal/crm")
    run = run_for(produced, op, None, status=RunStatus.FAILED, error=error)
    assert run.error is not None
    assert "Sup3rSecret" not in run.error
    assert run.error.startswith("OSError: cannot reach postgresql://etl:***@db.internal/crm")


def test_every_recorded_runs_code_and_error_are_stored_with_secrets_masked(
        sqlite_store: LineageStore) -> None:
    """The store masks secrets in the code text and the error of every run it records,
    whoever made the run: ``lacuna dbt record`` kept a model's compiled SQL as written, with the
    password ``env_var()`` put into an ATTACH. The hash is the code's own; the rest of the text,
    and a run without secrets, read back as written."""
    from dataclasses import replace

    sql = ("ATTACH 'postgresql://etl:Sup3rSecret@db.internal/crm' AS crm;\n"
           "select customer_id, sum(amount) as total from crm.orders group by 1")
    secret = replace(_run(RunStatus.FAILED, run_id="dbt-model"), code_text=sql,
                     error="cannot reach postgresql://etl:Sup3rSecret@db.internal/crm",
                     operation="dbt.model", method="dbt model (table)")
    sqlite_store.record(secret)
    plain = _run(run_id="plain")
    sqlite_store.record(plain)
    back = sqlite_store.get_run("dbt-model")
    assert back is not None
    assert back.code_text is not None
    assert back.error is not None
    assert "Sup3rSecret" not in back.code_text + back.error
    assert back.code_text == sql.replace("Sup3rSecret", "***")
    assert back.error == "cannot reach postgresql://etl:***@db.internal/crm"
    assert back.code_hash == secret.code_hash
    kept = sqlite_store.get_run("plain")
    assert kept is not None
    assert (kept.code_text, kept.error) == (plain.code_text, plain.error)


# -- the outbox: runs of a process that died before sending them -------------------------------


def _forked(child: Any, timeout: float = 10) -> Any:
    """Run ``child()`` in a forked process; the JSON it returns once it has done its part, then
    the child is SIGKILLed (a process killed, or OOM-killed, before its sender got to its runs)."""
    import select
    import signal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, json.dumps(child()).encode() + b"\n")
            time.sleep(60)  # killed here
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read) as answer:
            ready = select.select([answer], [], [], timeout)[0]
            return json.loads(answer.readline()) if ready else None
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _yaml(tmp_path: Path, **transport: Any) -> Path:
    import yaml

    path = tmp_path / "lacuna.yaml"
    path.write_text(yaml.safe_dump({"lineage": {"openlineage": {"transport": transport}}}))
    return path


def test_a_killed_processes_runs_are_sent_by_the_next_once(tmp_path: Path) -> None:
    """The sender is a thread fed from memory: a process SIGKILLed after recording a run but
    before its sender sent it lost the run's events for good (the run stayed in the store).
    It is pending in the outbox; `lacuna lineage flush` (or the next governed process) sends
    it, the file transport never twice, nor an event the file already holds."""
    events = tmp_path / "ol.jsonl"
    config_path = _yaml(tmp_path, type="file", path=str(events))
    config = _config(tmp_path, type="file", path=str(events))
    url = f"sqlite:///{tmp_path / 'state.db'}"

    def child() -> list[str]:
        emitter = ol_emit.emitter_for(config)
        assert emitter is not None
        emitter.transport = _Held()  # type: ignore[assignment]  # a collector that hangs
        ids = []
        with LineageStore(url) as store:
            for run_id in ("1" * 32, "2" * 32):
                run = _run(run_id=run_id)
                store.record(run, **ol_emit.pending(store, config))
                ol_emit.after_run_recorded(run, config, store)
                ids.append(run.id)
        return ids

    assert _forked(child) == ["1" * 32, "2" * 32]
    assert not events.exists()  # nothing was sent before the kill
    # the second run's START reached the file before the kill
    start = event_to_dict(run_to_events(_run(run_id="2" * 32))[0])
    events.write_text(json.dumps(start) + "\n")
    with LineageStore(url) as store:  # another transport's row is not this one's to send
        store.record(_run(run_id="3" * 32), pending=("f" * 32, None))
    result = runner.invoke(app, ["lineage", "flush", "--db", url, "--config", str(config_path),
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"sent": 2, "failed": 0, "timed_out": False,
                                         "pending": 0, "pending_other_transports": 1}
    sent = [json.loads(x) for x in events.read_text().splitlines()]
    assert sorted((e["run"]["runId"], e["eventType"]) for e in sent) == sorted(
        (ol_run_id(i * 32), t) for i in "12" for t in ("START", "COMPLETE"))
    assert all(problems(e) == [] for e in sent)
    again = runner.invoke(app, ["lineage", "flush", "--db", url, "--config", str(config_path)])
    assert again.exit_code == 0, again.output
    assert "sent 0 pending run(s) through the file transport" in again.output
    assert "1 pending for other transports" in again.output
    assert len(events.read_text().splitlines()) == 4  # nothing sent twice


def test_a_live_processes_pending_runs_are_its_own(tmp_path: Path, store_url: str) -> None:
    """Two live processes never both send a run: one recording with a collector that hangs
    holds its runs; another's re-send leaves them; once sent, the outbox is empty."""
    from lacuna.lineage import outbox

    config = _config(tmp_path, type="file", path=str(tmp_path / "live.jsonl"))
    emitter = ol_emit.emitter_for(config)
    assert emitter is not None
    held = _Held()
    emitter.transport = held  # type: ignore[assignment]
    with LineageStore(store_url) as store:
        run = _run(run_id="4" * 32)
        store.record(run, **ol_emit.pending(store, config))
        ol_emit.after_run_recorded(run, config, store)
        deadline = time.monotonic() + 10  # this store's first run started a re-send: done
        while time.monotonic() < deadline and any(
                t.name == "lacuna-openlineage-resend" for t in threading.enumerate()):
            time.sleep(0.01)
        try:
            def other() -> list[Any]:
                with LineageStore(store_url) as mine:
                    done = ol_emit.emitter_for(config).resend(mine)  # type: ignore[union-attr]
                    return [done.sent, done.failed, outbox.counts(mine)]

            assert _forked(other) == [0, 0, {emitter.destination: 1}]
        finally:
            held.release.set()
        assert emitter.flush(10)
        assert [e.eventType.value for e in held.sent] == ["START", "COMPLETE"]
        assert outbox.counts(store) == {}  # cleared once the transport took them


def test_who_may_take_a_pending_run(tmp_path: Path) -> None:
    """A row is claimable when nobody holds it, when its process is gone (here or a malformed
    token), or when another host's claim is older than the lease; never this process's own
    or a live one's. A failed send keeps it pending (released, counted); a row naming no
    recorded run is dropped, nothing sent."""
    import socket
    from datetime import timedelta

    from lacuna.lineage import outbox
    from lacuna.model import utcnow

    now = utcnow()
    fresh, stale = (now - timedelta(seconds=5)).isoformat(), (
        now - timedelta(seconds=outbox.LEASE + 5)).isoformat()
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    host = socket.gethostname()
    assert outbox.claimable(None, None, now)
    assert not outbox.claimable(outbox.owner(), fresh, now)
    assert not outbox.claimable(f"{host}:1:{outbox._started(1)}:x", fresh, now)  # init lives
    assert outbox.claimable(f"{host}:{gone}::x", fresh, now)
    assert outbox.claimable(f"{host}:1:not-its-start:x", fresh, now)  # pid reused
    assert outbox.claimable(f"{host}:nope", fresh, now)
    assert outbox.claimable(f"{host}:0::x", fresh, now)  # kill(0) would find a group alive
    assert outbox.claimable(f"{host}:-1::x", fresh, now)
    assert not outbox.claimable("elsewhere:12:34:x", fresh, now)
    assert outbox.claimable("elsewhere:12:34:x", stale, now)

    (tmp_path / "taken").mkdir()  # the file transport's path is a directory: sends fail
    config = _config(tmp_path, type="file", path="taken")
    emitter = ol_emit.emitter_for(config)
    assert emitter is not None
    assert emitter.destination is not None
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        run = _run(run_id="5" * 32)
        store.record(run, **ol_emit.pending(store, config))
        ol_emit.after_run_recorded(run, config, store)
        assert emitter.flush(10)
        with store._transaction(write=False) as conn:
            row = conn.execute(outbox.outbox.select()).one()
        assert (row.run_id, row.claimed_by, row.attempts) == (run.id, None, 1)
        with store._transaction(write=True) as conn:  # forged: no such run recorded
            conn.execute(outbox.outbox.insert().values(
                run_id="no-such-run", destination=emitter.destination, created=fresh,
                attempts=0))
        done = emitter.resend(store, max_attempts=None)
        assert (done.sent, done.failed) == (0, 1)
        assert outbox.counts(store) == {emitter.destination: 1}  # the failed one, kept


def test_a_pending_run_the_store_cannot_read_holds_up_no_other(tmp_path: Path) -> None:
    """A pending run whose stored row does not load (edited by hand) stopped the re-send at
    that row, for every process: it is counted failed and the rest are sent."""
    from sqlalchemy import update

    from lacuna.lineage import outbox
    from lacuna.lineage.schema import runs

    config = _config(tmp_path, type="file", path=str(tmp_path / "good.jsonl"))
    sender = ol_emit.emitter_for(config)
    assert sender is not None
    assert sender.destination is not None
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        for run_id in ("0" * 32, "6" * 32):
            store.record(_run(run_id=run_id), pending=(sender.destination, 0))
        with store._transaction(write=True) as conn:  # left by a process that is gone
            conn.execute(update(outbox.outbox).values(claimed_by=None))
            conn.execute(update(runs).where(runs.c.id == "0" * 32).values(provenance="{"))
        done = sender.resend(store)
        assert (done.sent, done.failed) == (1, 1)
        assert outbox.counts(store) == {sender.destination: 1}
    sent = [json.loads(x) for x in (tmp_path / "good.jsonl").read_text().splitlines()]
    assert [(e["run"]["runId"], e["eventType"]) for e in sent] == [
        (ol_run_id("6" * 32), "START"), (ol_run_id("6" * 32), "COMPLETE")]


def test_a_run_dropped_from_a_full_queue_stays_pending(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A full queue dropped a run and its events for good; now it is dropped from memory
    only: released in the outbox, and a re-send sends it (read back from the file)."""
    from lacuna.lineage import outbox

    monkeypatch.setattr(ol_emit, "QUEUE_SIZE", 1)
    events = tmp_path / "full.jsonl"
    config = _config(tmp_path, type="file", path=str(events))
    emitter = ol_emit.emitter_for(config)
    assert emitter is not None
    real, held = emitter.transport, _Held()
    emitter.transport = held  # type: ignore[assignment]
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        try:
            for n, run_id in enumerate(("a" * 32, "b" * 32, "c" * 32)):
                run = _run(run_id=run_id)
                store.record(run, **ol_emit.pending(store, config))
                ol_emit.after_run_recorded(run, config, store)
                deadline = time.monotonic() + 5
                while n == 0 and not emitter._lock.locked() and time.monotonic() < deadline:
                    time.sleep(0.01)  # the first is being sent: the queue holds one more
        finally:
            held.release.set()
        assert emitter.flush(10)
        assert emitter.dropped == 1
        assert outbox.counts(store) == {emitter.destination: 1}
        emitter.transport = real
        assert emitter.resend(store).sent == 1
        assert outbox.counts(store) == {}
    assert [json.loads(x)["run"]["runId"] for x in events.read_text().splitlines()] == [
        ol_run_id("c" * 32)] * 2


def test_a_process_that_only_reads_sends_what_a_killed_one_left(
        tmp_path: Path, sandbox_config: Any) -> None:
    """A process that never recorded a run never started the re-send: what a killed process
    left pending waited for the next writer or a manual flush. Its first governed operation of
    any kind (a read's decision here) starts it, in the background; a run a live process holds
    (init, here) is still left to it, and nothing is sent twice."""
    import socket

    from sqlalchemy import update

    from lacuna.governor import Governor
    from lacuna.lineage import outbox
    from lacuna.model import Action

    events = tmp_path / "reader.jsonl"
    config = sandbox_config(lineage={"openlineage": {"transport": {
        "type": "file", "path": str(events)}}})
    dest = ol_emit.destination(config.lineage.openlineage)
    assert dest is not None
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    host = socket.gethostname()
    with LineageStore(config.audit_url) as store:
        for run_id, holder in (("7" * 32, f"{host}:{gone}::x"),
                               ("8" * 32, f"{host}:1:{outbox._started(1)}:x")):
            store.record(_run(run_id=run_id), pending=(dest, 0))
            with store._transaction(write=True) as conn:
                conn.execute(update(outbox.outbox).where(outbox.outbox.c.run_id == run_id)
                             .values(claimed_by=holder))
        gov = Governor(config)
        for _ in range(2):  # started once, however many operations follow
            gov.govern(gov.operation(Action.READ, Classification(tier=Tier.PUBLIC)))
        deadline = time.monotonic() + 10
        while outbox.counts(store) != {dest: 1} and time.monotonic() < deadline:
            time.sleep(0.01)
        assert outbox.counts(store) == {dest: 1}  # the live process's run stays its own
    sent = [json.loads(x) for x in events.read_text().splitlines()]
    assert [(e["run"]["runId"], e["eventType"]) for e in sent] == [
        (ol_run_id("7" * 32), "START"), (ol_run_id("7" * 32), "COMPLETE")]
    assert all(problems(e) == [] for e in sent)


# -- what an event cannot carry as the run says it ------------------------------------------


def test_a_column_edge_into_a_dataset_not_among_the_outputs_is_refused_not_dropped(
        sqlite_store: LineageStore) -> None:
    """The columnLineage facet sits on the output it describes: an edge into any other dataset
    had nowhere to go and was left out of the event without a word (the store kept it)."""
    from dataclasses import replace

    from lacuna.errors import LineageError

    other = DatasetRef.of("/data/elsewhere.csv")
    # allowed: an edge into an output's column its schema does not list is still carried
    unlisted = ColumnEdge(source=SRC, source_column="email", target=DST, target_column="mail2")
    run = replace(_run(), column_edges=(*_run().column_edges, unlisted))
    end = event_to_dict(run_to_events(run)[1])
    assert problems(end) == []
    carried = end["outputs"][0]["facets"]["columnLineage"]["fields"]["mail2"]
    assert carried["inputFields"][0]["field"] == "email"
    (back,) = events_to_runs([event_to_dict(e) for e in run_to_events(run)])
    assert unlisted in back.column_edges
    sqlite_store.record(run)
    # denied: an edge into a dataset that is not an output, by the events and by the store
    stray = replace(_run(run_id="stray"), column_edges=(
        *_run().column_edges, ColumnEdge(source=SRC, source_column="email", target=other,
                                         target_column="email")))
    with pytest.raises(LineageError, match=r"run stray: 1 column edge\(s\) lead into a dataset "
                                           r"that is not one of the run's outputs \(first: "
                                           r"/data/customers.csv.'email' -> "
                                           r"/data/elsewhere.csv.'email'\)"):
        run_to_events(stray)
    with pytest.raises(LineageError, match=r"/data/elsewhere\.csv\.'email' leads into a dataset "
                                           r"that is not one of the run's outputs"):
        sqlite_store.record(stray)
    assert sqlite_store.get_run("stray") is None


@pytest.mark.parametrize("where", ["table", "column"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, 1.5])
def test_a_confidence_that_is_not_from_0_to_1_is_refused_when_emitted(
        where: str, value: float, caplog: pytest.LogCaptureFixture) -> None:
    """A classification built in code with a NaN confidence went out as ``NaN``: not JSON, so
    strict readers refused the event whole, and Lacuna's own import refused it too."""
    from dataclasses import replace

    from lacuna.errors import LineageError

    run = _run()
    c = run.outputs[0].classification
    c = (replace(c, confidence=value) if where == "table" else replace(c, columns={
        **c.columns, "email": replace(c.columns["email"], confidence=value)}))
    bad = replace(run, outputs=(replace(run.outputs[0], classification=c),))
    what = "confidence" if where == "table" else "column 'email' confidence"
    with pytest.raises(LineageError, match=rf"run {run.id}: the classification of "
                                           rf"postgres://db.internal:5432/crm.report has "
                                           rf"{what} {value!r}, not a number from 0 to 1"):
        run_to_events(bad)
    emitter = ol_emit.Emitter(config_from_dict({}).lineage.openlineage)
    emitter.transport = _Held()  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.openlineage"):
        assert emitter._emit_now(bad) is False
    assert f"run {run.id} not sent: run {run.id}: the classification of" in caplog.text
    # allowed: the edges of the range, and a confidence that rounds into it
    ok = replace(c, confidence=1.00001) if where == "table" else replace(c, columns={
        **c.columns, "email": replace(c.columns["email"], confidence=0.0)})
    events = [json.loads(json.dumps(event_to_dict(e), allow_nan=False)) for e in run_to_events(
        replace(run, outputs=(replace(run.outputs[0], classification=ok),)))]
    assert all(problems(e) == [] for e in events)
    assert events_to_runs(events)[0].outputs[0].classification.columns.keys() == c.columns.keys()


def _tagged(tags: list[dict[str, Any]], lineage: dict[str, Any] | None = None) -> dict[str, Any]:
    facets: dict[str, Any] = {"tags": {"tags": tags}}
    if lineage is not None:
        facets["columnLineage"] = {"fields": lineage}
    return {"eventType": "COMPLETE", "eventTime": "2026-12-01T10:00:00Z", "producer": "x",
            "run": {"runId": "r"}, "job": {"namespace": "j", "name": "n"},
            "outputs": [{"namespace": "file", "name": "/data/c.csv", "facets": facets}]}


def test_a_column_named_empty_is_a_column_not_the_table() -> None:
    """A tag whose field is "" was read as a table tag: PII on the dataset with its tier left
    PUBLIC. A column can be named "" (a frame's can; Lacuna classifies and emits it), so it is
    a column wherever an event names it; a field that is not a string is refused."""
    from dataclasses import replace

    (run,) = events_to_runs([_tagged(
        [{"key": "pii", "value": "email", "field": ""}],
        {"": {"inputFields": [{"namespace": "file", "name": "/data/a.csv", "field": ""}]}})])
    c = run.outputs[0].classification
    assert (c.tier, c.tags, c.table_tags) == (Tier.PROPRIETARY, ("PII", "GDPR"), ())
    assert c.columns[""].classification is ColumnKind.PII
    assert c.columns[""].pii_type == "email"
    assert [(e.source_column, e.target_column) for e in run.column_edges] == [("", "")]
    # a table tag is still one (no field, or a null one)
    (run,) = events_to_runs([_tagged([{"key": "pii", "value": "true"},
                                      {"key": "pii", "value": "true", "field": None}])])
    assert run.outputs[0].classification.table_tags == ("PII",)
    assert run.outputs[0].classification.columns == {}
    for field in (0, False, ["email"]):
        with pytest.raises(EventError, match=r"facet tags: a tag's field names a column: a "
                                             r"string, not "):
            events_to_runs([_tagged([{"key": "pii", "value": "true", "field": field}])])
    for src in ({"namespace": "file", "name": "/a"}, {"namespace": "file", "name": "/a",
                                                       "field": 7}):
        with pytest.raises(EventError, match="inputField of 'x': field must be a string"):
            events_to_runs([_tagged([], {"x": {"inputFields": [src]}})])
    # Lacuna's own events of such a column come back with it, by the tags alone too
    col = replace(_run().outputs[0].classification.columns["email"])
    out = replace(_run().outputs[0], classification=replace(
        _run().outputs[0].classification, columns={"": col}), columns=("",))
    emitted = replace(_run(), outputs=(out,), column_edges=(
        ColumnEdge(source=SRC, source_column="", target=DST, target_column=""),))
    events = [event_to_dict(e) for e in run_to_events(emitted)]
    assert all(problems(e) == [] for e in events)
    for e in events:
        for ds in (*e.get("inputs", []), *e.get("outputs", [])):
            del ds["facets"]["lacuna_classification"], ds["facets"]["floe_classification"]
    back = events_to_runs(events)[0]
    assert back.outputs[0].classification.columns[""].classification is ColumnKind.PII
    assert list(back.outputs[0].classification.columns) == [""]
    assert back.column_edges == emitted.column_edges
