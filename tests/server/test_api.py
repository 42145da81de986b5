"""The HTTP API in-process: decide as the token's user (never the body's), the same decision
as in-process, classify, exceptions between people, lineage ingest, limits and logs."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from lacuna.classify.bounded import SAMPLE_BYTES
from lacuna.model import Action, Classification, Operation, User
from lacuna.remote.wire import decision_from_wire, decision_to_wire

PII = {"tier": "PROPRIETARY", "tags": ["PII", "GDPR"],
       "columns": {"email": {"classification": "pii", "pii_type": "email",
                             "sensitivity": "high"}}}


def _op(app_client: Any, dest: str, **extra: Any) -> dict[str, Any]:
    root = app_client.state.governor.config.destinations.unmanaged[0]
    return {"action": "export", "classification": PII, "method": "pandas.DataFrame.to_csv",
            "variable": "df", "destination": dest.replace("DOWNLOADS", root), **extra}


def _a_denial_and_a_401(app_client: Any) -> None:
    """What the audit search and /metrics tests read, made by themselves (not left by the tests
    above them: under xdist the order is not the file's): a recorded denial by ana, a request
    without a token."""
    r = app_client.client.post("/api/v1/decide", json={
        "operation": _op(app_client, "DOWNLOADS/seen.csv")}, headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    assert app_client.client.get("/api/v1/audit").status_code == 401


@pytest.mark.parametrize("session", ["lacuna-server", "Lacuna-Users", "lacuna-console",
                                     "\uff2c\uff21\uff23\uff35\uff2e\uff21-server",
                                     "\u200blacuna-server", " lacuna-console"])
def test_a_client_cannot_file_decisions_under_the_servers_own_sessions(
        app_client, session: str) -> None:
    """The server files its refusals under ``lacuna-server`` (and identity events under
    ``lacuna-users``, ``lacuna-console``): a decision a client sends under one of them would
    read as the server's own. Refused (422, saying why); the client's own session is kept."""
    body = {"operation": _op(app_client, "DOWNLOADS/list.csv"), "session": session}
    before = len(app_client.state.governor.audit.list(limit=None))
    r = app_client.client.post("/api/v1/decide", json=body, headers=app_client.headers("ana"))
    assert r.status_code == 422, r.text
    assert "is reserved: names starting 'lacuna-'" in r.text
    assert len(app_client.state.governor.audit.list(limit=None)) == before  # nothing recorded
    body["session"] = "nb-7f3a"
    r = app_client.client.post("/api/v1/decide", json=body, headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    record = app_client.state.governor.audit.get(r.json()["audit"]["id"])
    assert record is not None
    assert record.data["who"]["session"] == "nb-7f3a"


def test_decide_uses_the_token_identity_and_matches_in_process(app_client) -> None:
    state = app_client.state
    body = {"operation": _op(app_client, "DOWNLOADS/list.csv",
                             user={"id": "ceo", "role": "admin"})}
    r = app_client.client.post("/api/v1/decide", json=body, headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    wire = r.json()
    record = state.governor.audit.get(wire["audit"]["id"])
    assert record is not None
    assert record.user_id == "ana"
    assert not record.allowed
    assert record.data["who"]["role"] == "analyst"
    # The same operation decided in-process by the server's governor: the same decision.
    gov = state.governor
    op = Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                   classification=Classification.from_dict(PII),
                   destination=gov.destination(body["operation"]["destination"]),
                   method="pandas.DataFrame.to_csv", variable="df")
    local = decision_to_wire(gov.decide(op))
    remote = decision_from_wire(wire["decision"])
    assert {k: v for k, v in decision_to_wire(remote).items()
            if k not in ("operation_id", "eval_ms", "action", "destination", "classification",
                         "tags")} == {k: v for k, v in local.items() if k not in (
                "operation_id", "eval_ms", "action", "destination", "classification", "tags")}
    assert remote.reasoning.startswith("Cannot export PROPRIETARY")


def test_a_dry_run_is_not_recorded(app_client) -> None:
    before = len(app_client.state.governor.audit.list(limit=None))
    r = app_client.client.post("/api/v1/decide", json={
        "operation": _op(app_client, "DOWNLOADS/a.csv"), "record": False},
        headers=app_client.headers("ana"))
    assert r.status_code == 200
    assert r.json()["audit"] is None
    assert len(app_client.state.governor.audit.list(limit=None)) == before


def test_malformed_operations_are_422(app_client) -> None:
    for bad in ({"action": "teleport"}, {"action": "export", "classification": {"tier": "x"}},
                {"action": "export", "id": "../../etc"}, {"action": "export", "nope": 1}):
        r = app_client.client.post("/api/v1/decide", json={"operation": bad},
                                   headers=app_client.headers("ana"))
        assert r.status_code in (400, 422), (bad, r.status_code, r.text)


def test_a_nan_in_a_rejected_body_is_echoed_as_null_not_500(app_client) -> None:
    """Python's JSON reader takes NaN and Infinity; the 422 that echoes them must still render
    (it failed with 500: "Out of range float values are not JSON compliant")."""
    h = {**app_client.headers("ana"), "Content-Type": "application/json"}
    for number in (b"NaN", b"Infinity", b"-Infinity"):
        r = app_client.client.post(
            "/api/v1/exceptions", headers=h,
            content=b'{"destination": "/tmp/x.csv", "purpose": "Board of Directors Q4 deck", '
                    b'"approver": "jane", "duration_hours": ' + number + b"}")
        assert r.status_code == 422, (number, r.status_code, r.text[:200])
        (error,) = r.json()["detail"]
        assert error["loc"] == ["body", "duration_hours"]
        assert error["input"] is None


def test_a_422_names_a_large_rejected_value_instead_of_repeating_it(app_client) -> None:
    """A rejected 50 kB value is not sent back in full (it was: the 422 echoed the input);
    a small one still is, so the client sees what was wrong."""
    h = app_client.headers("ana")
    big = "x" * 50_000
    r = app_client.client.post("/api/v1/exceptions", headers=h, json={
        "destination": "/tmp/x.csv", "purpose": "Board of Directors Q4 deck",
        "approver": "jane", "duration_hours": big})
    assert r.status_code == 422, r.text[:200]
    assert len(r.content) < 2_000
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "duration_hours"]
    assert error["input"] == "<str of 50,002 bytes, not repeated here>"
    r = app_client.client.post("/api/v1/exceptions", headers=h, json={
        "destination": "/tmp/x.csv", "purpose": "Board of Directors Q4 deck",
        "approver": "jane", "duration_hours": "soon"})
    assert r.json()["detail"][0]["input"] == "soon"


def test_the_exception_list_is_bounded_and_says_when_there_are_older(app_client) -> None:
    """``GET /api/v1/exceptions`` answered every request ever filed; it answers the newest
    ``limit`` (default 1,000, at most 10,000), oldest first, and ``truncated`` says when older
    ones were left out."""
    # a user of this test's own (the module's app is shared): an analyst sees only theirs
    app_client.tokens["lim"] = app_client.state.users.add("lim", roles=["analyst"])
    h = app_client.headers("lim")
    purposes = ["Board of Directors Q4 deck", "Regulator's annual sample", "Auditor's extract"]
    for purpose in purposes:
        r = app_client.client.post("/api/v1/exceptions", headers=h, json={
            "destination": "/tmp/x.csv", "purpose": purpose, "approver": "jane"})
        assert r.status_code in (200, 201), r.text
    every = app_client.client.get("/api/v1/exceptions", headers=h).json()
    assert [e["purpose"] for e in every["exceptions"]] == purposes
    assert every["truncated"] is False
    newest = app_client.client.get("/api/v1/exceptions?limit=2", headers=h).json()
    assert [e["purpose"] for e in newest["exceptions"]] == purposes[1:]
    assert newest["truncated"] is True
    assert app_client.client.get("/api/v1/exceptions?limit=1000000000",
                                 headers=h).status_code == 422


def test_classify_columns_and_files(app_client) -> None:
    h = app_client.headers("ana")
    r = app_client.client.post("/api/v1/classify", json={
        "columns": {"email": ["a@example.com", "b@example.org"], "amount": [1.5, 2.0]}},
        headers=h)
    assert r.status_code == 200
    c = r.json()["classification"]
    assert c["tier"] == "PROPRIETARY"
    assert c["columns"]["email"]["pii_type"] == "email"
    csv = b"customer_id,email,revenue\n1,a@example.com,10\n2,b@example.org,20\n"
    r = app_client.client.post("/api/v1/classify/file", files={"file": ("c.csv", csv)},
                               headers=h)
    assert r.status_code == 200
    assert "PII" in r.json()["classification"]["tags"]
    r = app_client.client.post("/api/v1/classify/file", files={"file": ("c.exe", b"MZ")},
                               headers=h)
    assert r.status_code == 415


def test_a_file_whose_header_holds_addresses_is_answered_by_position(app_client) -> None:
    """The header is read as values: the answer names such a column by its position, never
    by the address (docs/pandas.md, "the header")."""
    h = app_client.headers("ana")
    csv = b"ana@example.org,bo@example.com,region\n1,2,north\n3,4,south\n"
    r = app_client.client.post("/api/v1/classify/file", files={"file": ("w.csv", csv)},
                               headers=h)
    assert r.status_code == 200
    c = r.json()["classification"]
    assert c["columns"]["(column labels)"]["pii_type"] == "email"
    assert {"(column 1)", "(column 2)", "region"} <= set(c["columns"])
    assert "example.org" not in r.text
    assert "example.com" not in r.text


def test_columns_whose_names_are_addresses_are_answered_by_position(app_client) -> None:
    """``/api/v1/classify`` took the mapping's keys for names only: keys that are addresses
    classified PUBLIC, and the answer keyed columns by them. They are read as a header, as
    ``/api/v1/classify/file`` reads a file's (docs/classification.md)."""
    h = app_client.headers("ana")
    r = app_client.client.post("/api/v1/classify", json={"columns": {
        "ana@example.org": ["1", "2"], "bo@example.com": ["3", "4"], "region": ["n", "s"]}},
        headers=h)
    assert r.status_code == 200
    c = r.json()["classification"]
    assert c["tier"] == "PROPRIETARY"
    assert c["columns"]["(column labels)"]["pii_type"] == "email"
    assert "given as the column names" in c["columns"]["(column labels)"]["reasoning"]
    assert list(c["columns"]) == ["(column 1)", "(column 2)", "region", "(column labels)"]
    assert "example.org" not in r.text
    assert "example.com" not in r.text
    r = app_client.client.post("/api/v1/classify", json={"columns": {
        "ward": ["east", "west"], "beds": ["4", "6"]}}, headers=h)  # ordinary names: as before
    assert r.status_code == 200
    assert list(r.json()["classification"]["columns"]) == ["ward", "beds"]
    assert r.json()["classification"]["tier"] == "PUBLIC"


def test_a_decompression_bomb_upload_is_refused_not_parsed(app_client) -> None:
    """A 64 KiB upload that decompresses to 64 MiB of one "row" (at the real ceiling a 2 MB
    upload is 2 GB, which took all memory and killed the server): 400 with the reason, and
    the server answers the next request."""
    import gzip

    h = app_client.headers("ana")
    bomb = gzip.compress(b"0" * (SAMPLE_BYTES + 1), compresslevel=9)
    assert len(bomb) < 1 << 17
    r = app_client.client.post("/api/v1/classify/file", files={"file": ("c.csv.gz", bomb)},
                               headers=h)
    assert r.status_code == 400, r.text[:300]
    assert "decompression bomb" in r.json()["message"]
    assert "cannot classify 'c.csv.gz'" in r.json()["message"]  # the caller's name
    r = app_client.client.post("/api/v1/classify/file",
                               files={"file": ("sales.parquet", b"not parquet")}, headers=h)
    assert r.status_code == 400
    assert "cannot classify 'sales.parquet': it is not a readable parquet file" in r.json()[
        "message"]
    assert "lacuna-upload" not in r.json()["message"]  # nor the server's temporary folder
    small = gzip.compress(b"customer_id,email\n1,a@example.com\n")
    r = app_client.client.post("/api/v1/classify/file", files={"file": ("c.csv.gz", small)},
                               headers=h)
    assert r.status_code == 200
    assert "PII" in r.json()["classification"]["tags"]


def test_exceptions_between_people(app_client) -> None:
    client, h = app_client.client, app_client.headers
    dest = _op(app_client, "DOWNLOADS/board.csv")["destination"]
    r = client.post("/api/v1/exceptions", json={
        "destination": dest, "purpose": "Board Q4 presentation for the CFO",
        "approver": "joe", "duration_hours": 2}, headers=h("jane"))
    assert r.status_code == 201, r.text
    exc = r.json()
    assert exc["id"].startswith("EXC-")
    assert exc["requested_by"] == "jane"
    # Self-approval is refused, even for a steward.
    r = client.post(f"/api/v1/exceptions/{exc['id']}/approve", json={}, headers=h("jane"))
    assert r.status_code == 403
    assert ("own" in r.text.lower() or "requester" in r.text.lower())
    # An analyst cannot approve at all.
    assert client.post(f"/api/v1/exceptions/{exc['id']}/approve", json={},
                       headers=h("ana")).status_code == 403
    r = client.post(f"/api/v1/exceptions/{exc['id']}/approve",
                    json={"comment": "ok", "conditions": ["encrypt the file"]}, headers=h("joe"))
    assert r.status_code == 200
    assert r.json()["status"] == "approved"
    assert (r.json()["comment"], r.json()["approval_conditions"]) == ("ok", ["encrypt the file"])
    allowed = client.post("/api/v1/decide", json={"operation": _op(
        app_client, dest, exception_id=exc["id"])}, headers=h("jane")).json()["decision"]
    assert allowed["allowed"] is True
    assert any("conditions: encrypt the file" in w for w in allowed["why"]), allowed
    # Another destination, or another user, is still denied, saying why.
    other = client.post("/api/v1/decide", json={"operation": _op(
        app_client, "DOWNLOADS/elsewhere.csv", exception_id=exc["id"])},
        headers=h("jane")).json()["decision"]
    assert other["allowed"] is False
    assert any("covers" in w for w in other["why"])
    theirs = client.post("/api/v1/decide", json={"operation": _op(
        app_client, dest, exception_id=exc["id"])}, headers=h("ana")).json()["decision"]
    assert theirs["allowed"] is False
    assert any("granted to jane" in w for w in theirs["why"])
    # Analysts see only their own requests; stewards see all.
    assert client.get("/api/v1/exceptions", headers=h("ana")).json()["exceptions"] == []
    ids = [e["id"] for e in client.get("/api/v1/exceptions", headers=h("joe")).json()[
        "exceptions"]]
    assert exc["id"] in ids
    assert client.get(f"/api/v1/exceptions/{exc['id']}", headers=h("ana")).status_code == 404


def test_a_grant_for_a_source_does_not_cover_an_operation_that_names_none(app_client) -> None:
    """A client that leaves ``sources`` out cannot use a grant given for customers.csv's data:
    data of unknown origin is not data the steward approved."""
    client, h = app_client.client, app_client.headers
    dest = _op(app_client, "DOWNLOADS/sourced.csv")["destination"]
    r = client.post("/api/v1/exceptions", json={
        "destination": dest, "source": "customers.csv", "purpose": "Board Q4 presentation",
        "approver": "joe", "duration_hours": 2}, headers=h("ana"))
    assert r.status_code == 201, r.text
    exc = r.json()
    assert exc["sources"] == ["customers.csv"]
    assert client.post(f"/api/v1/exceptions/{exc['id']}/approve", json={},
                       headers=h("joe")).status_code == 200

    def decide(sources: list[dict[str, Any]]) -> dict[str, Any]:
        op = _op(app_client, dest, exception_id=exc["id"], sources=sources)
        answer = client.post("/api/v1/decide", json={"operation": op}, headers=h("ana"))
        assert answer.status_code == 200, answer.text
        decision: dict[str, Any] = answer.json()["decision"]
        return decision

    assert decide([{"name": "customers.csv"}])["allowed"] is True
    unknown = decide([])
    assert unknown["allowed"] is False
    assert any("origin is unknown" in w for w in unknown["why"]), unknown["why"]


def test_audit_search_and_verify(app_client) -> None:
    _a_denial_and_a_401(app_client)
    client, h = app_client.client, app_client.headers
    r = client.get("/api/v1/audit", params={"user": "ana", "denied": True}, headers=h("carla"))
    assert r.status_code == 200
    records = r.json()["records"]
    assert records
    assert {x["who"]["user_id"] for x in records} == {"ana"}
    one = client.get(f"/api/v1/audit/{records[0]['id']}", headers=h("carla")).json()
    assert one["hash"] == records[0]["hash"]
    verify = client.get("/api/v1/audit/verify", headers=h("carla")).json()
    assert verify["ok"] is True
    assert verify["checked"] >= len(records)
    # a misspelt action matched nothing, as if nobody had exported: a 422 naming the valid ones
    typo = client.get("/api/v1/audit", params={"action": "exprt"}, headers=h("carla"))
    assert typo.status_code == 422
    assert "did you mean export?" in typo.text
    spelt = client.get("/api/v1/audit", params={"action": "Export"}, headers=h("carla"))
    assert spelt.status_code == 200
    assert {x["what"]["action"] for x in spelt.json()["records"]} <= {"export"}



def test_audit_record_lookup_by_any_key_answers_not_500(app_client) -> None:
    """A seq past SQLite's integer range, or digits int() cannot read, is a 404, not a crash;
    a real seq and a real id still find their record."""
    _a_denial_and_a_401(app_client)
    client, h = app_client.client, app_client.headers
    first = client.get("/api/v1/audit/1", headers=h("carla"))
    assert first.status_code == 200
    assert first.json()["seq"] == 1
    assert client.get(f"/api/v1/audit/{first.json()['id']}",
                      headers=h("carla")).json()["seq"] == 1
    for key in ("99999999999999999999999", "\u00b2", "-1", "x" * 300):
        r = client.get(f"/api/v1/audit/{key}", headers=h("carla"))
        assert r.status_code == 404, (key, r.status_code, r.text[:200])
        assert "no audit record" in r.json()["detail"]

def _run_event(run: str, job: str, output: str) -> dict[str, Any]:
    """An OpenLineage run event (its type and time still to add) reading /data/raw.csv."""
    return {"producer": "https://example.com/airflow", "schemaURL":
            "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run}, "job": {"namespace": "airflow", "name": job},
            "inputs": [{"namespace": "file", "name": "/data/raw.csv"}],
            "outputs": [{"namespace": "file", "name": output}]}


def test_openlineage_ingest_records_runs_as_the_caller(app_client) -> None:
    client, h = app_client.client, app_client.headers
    base = _run_event("3f7c2f5e-8f0a-4d63-9a43-5c5b1c1f0a01", "daily_join",
                      "/data/joined.parquet")
    for kind, when in (("START", "2026-12-01T10:00:00Z"), ("COMPLETE", "2026-12-01T10:05:00Z")):
        r = client.post("/api/v1/lineage", json={**base, "eventType": kind, "eventTime": when},
                        headers=h("jane"))
        assert r.status_code == 201, r.text
    up = client.get("/api/v1/lineage/upstream", params={"dataset": "/data/joined.parquet"},
                    headers=h("ana")).json()
    assert "/data/raw.csv" in {n["dataset"] for n in up["nodes"]}
    assert up["truncated"] is False
    one = client.get("/api/v1/lineage/upstream", headers=h("ana"),
                     params={"dataset": "/data/joined.parquet", "limit": 1}).json()
    assert ([n["dataset"] for n in one["nodes"]], one["edges"], one["truncated"]) == (
        ["/data/joined.parquet"], [], True)
    assert client.get("/api/v1/lineage/upstream", headers=h("ana"), params={
        "dataset": "/data/joined.parquet", "limit": 10_001}).status_code == 422
    runs = client.get("/api/v1/lineage/runs", headers=h("carla")).json()["runs"]
    (joined,) = [r for r in runs if "/data/joined.parquet" in r["outputs"]]
    # the caller, as the server authenticated them; the producer the events named, imported
    assert (joined["user"], joined["imported"], joined["producer"]) == (
        "jane", True, "https://example.com/airflow")
    assert client.post("/api/v1/lineage", json={"eventType": "COMPLETE"},
                       headers=h("jane")).status_code == 400
    unknown = client.post("/api/v1/lineage", json={
        **base, "eventType": "DROP_TABLE", "eventTime": "2026-12-01T10:06:00Z"},
        headers=h("jane"))  # was taken (201) as an event of the open run, silently
    assert unknown.status_code == 400, unknown.text
    assert "eventType 'DROP_TABLE' is not one of START, RUNNING" in unknown.json()["detail"]


def test_openlineage_ingest_cannot_rewrite_or_join_another_users_run(app_client) -> None:
    """A run is its user's: another caller who reuses its runId can neither replace the recorded
    run (the record unchanged; the caller's run is recorded apart) nor slip events into it while
    it is still open."""
    client, h = app_client.client, app_client.headers
    run = "9b1d7c1e-2f4a-4c7e-8d55-0e6f3a2b1c0d"
    base = _run_event(run, "stewards_job", "/data/steward.parquet")

    def send(user: str, kind: str, **changes: Any) -> Any:
        return client.post("/api/v1/lineage", json={
            **base, "eventType": kind, "eventTime": "2026-12-01T11:00:00Z", **changes},
            headers=h(user))

    assert send("jane", "START").status_code == 201
    injected = [{"namespace": "file", "name": "/data/ana_injected.csv"}]
    assert send("ana", "RUNNING", outputs=injected).status_code == 201  # ana's own pending run
    assert send("jane", "COMPLETE").status_code == 201
    replaced = send("ana", "COMPLETE", outputs=[{"namespace": "file", "name": "/data/x.csv"}])
    assert replaced.status_code == 201, replaced.text
    apart = replaced.json()["recorded"]
    assert apart != run
    assert "recorded by jane" in replaced.json()["moved"]
    store = app_client.state.governor.lineage_store
    recorded = store.get_run(run)
    assert recorded is not None
    assert recorded.user_id == "jane"
    assert [str(v.dataset.name) for v in recorded.outputs] == ["/data/steward.parquet"]
    anas = store.get_run(apart)
    assert anas is not None
    assert anas.user_id == "ana"
    # the same place for every event of ana's run: she may record it again, never into jane's
    assert send("ana", "COMPLETE").json()["recorded"] == apart
    assert send("jane", "COMPLETE").json() == {"recorded": run, "refused": []}  # jane's own


def test_a_squatted_run_id_does_not_keep_the_producers_run_out(app_client) -> None:
    """An analyst records a producer's predictable runId first (Airflow derives them from the
    task): the producer's run is still recorded (it used to be refused, 409: its lineage lost),
    apart, and the squatter cannot predict where it goes to take that too."""
    from lacuna.server.routes_state import caller_run_id

    client, h = app_client.client, app_client.headers
    run = "5a0c8e2f-3b7d-4e19-a6c4-1f2e3d4c5b6a"
    squat = {**_run_event(run, "nightly", "/data/nothing.csv"), "eventType": "COMPLETE",
             "eventTime": "2026-12-01T01:00:00Z"}
    assert client.post("/api/v1/lineage", json=squat, headers=h("ana")).status_code == 201
    real = {**_run_event(run, "nightly", "/data/nightly.parquet"), "eventType": "COMPLETE",
            "eventTime": "2026-12-01T02:00:00Z"}
    answer = client.post("/api/v1/lineage", json=real, headers=h("jane"))
    assert answer.status_code == 201, answer.text
    where = answer.json()["recorded"]
    assert where == caller_run_id("jane", run) != caller_run_id("ana", run)
    producers = app_client.state.governor.lineage_store.get_run(where)
    assert producers is not None
    assert [str(v.dataset.name) for v in producers.outputs] == ["/data/nightly.parquet"]
    import uuid

    assert where != str(uuid.uuid5(uuid.NAMESPACE_URL, f"jane:{run}"))  # keyed, not derivable


def test_openlineage_ingest_owner_check_is_part_of_the_write(
        app_client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two callers completing one runId at once both passed the "recorded by another user?"
    look-up, made before the raise-only check and the write: the second replaced the first's
    run. The check is now in the write's transaction. Here jane's run is recorded while ana's
    request is between its look-ups and its write."""
    from dataclasses import replace as changed

    from lacuna.lineage import claims

    client, h = app_client.client, app_client.headers
    store = app_client.state.governor.lineage_store
    run = "2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a"
    guard = claims.guard

    def jane_first(held: Any, *args: Any) -> Any:
        out = guard(held, *args)
        if held.id == run:  # jane completes the runId between ana's look-ups and her write
            store.record(changed(held, user_id="jane", role="data_steward"), trusted=False)
        return out

    monkeypatch.setattr(claims, "guard", jane_first)
    raced = client.post("/api/v1/lineage", headers=h("ana"), json={
        **_run_event(run, "raced", "/data/raced.parquet"), "eventType": "COMPLETE",
        "eventTime": "2026-12-01T15:00:00Z"})
    assert raced.status_code == 201, raced.text
    assert "recorded by jane" in raced.json()["moved"]
    recorded = store.get_run(run)
    assert recorded is not None
    assert recorded.user_id == "jane"  # not replaced: ana's run was recorded apart
    anas = store.get_run(raced.json()["recorded"])
    assert anas is not None
    assert anas.user_id == "ana"


@pytest.mark.parametrize("facet", [
    {"libraries": [["pandas", "2.2", "extra"]]}, {"libraries": "ab c"}, {"status": ["x"]},
    {"qualityChecks": 5}, {"extra": [[1]]},
])
def test_openlineage_ingest_answers_a_malformed_run_facet_with_400(app_client,
                                                                  facet: dict[str, Any]) -> None:
    """A ``lacuna_run`` facet is the sender's JSON: one of the wrong shape is a clear 400 (it
    was a 500), and the run is dropped, not kept to fail every later event of it."""
    client, h = app_client.client, app_client.headers
    run = f"bad-facet-{sorted(facet)[0]}-{type(next(iter(facet.values()))).__name__}"
    base = _run_event(run, "facet_job", "/data/facet.parquet")

    def send(kind: str, **run_facets: Any) -> Any:
        return client.post("/api/v1/lineage", headers=h("ana"), json={
            **base, "eventType": kind, "eventTime": "2026-12-01T12:00:00Z",
            "run": {"runId": run, "facets": run_facets}})

    bad = send("COMPLETE", lacuna_run=facet)
    assert bad.status_code == 400, bad.text
    assert "lacuna_run" in bad.json()["detail"]
    assert "nothing of run" in bad.json()["detail"]
    assert app_client.state.governor.lineage_store.get_run(run) is None
    again = send("COMPLETE")  # the malformed facet is gone with its run: this one is recorded
    assert again.status_code == 201, again.text
    assert again.json()["recorded"] == run


def test_openlineage_ingest_merges_nothing_of_a_rejected_event(app_client) -> None:
    """An event refused with 400 leaves its run as it was: the datasets it listed before its
    malformed part are not recorded with the run (they were, half of a rejected event)."""
    client, h = app_client.client, app_client.headers
    run = "5d3c0a9e-1b7f-4e2a-9c8d-7f6e5d4c3b2a"
    base = _run_event(run, "half_job", "/data/first.parquet")

    def send(kind: str, **changes: Any) -> Any:
        return client.post("/api/v1/lineage", headers=h("ana"), json={
            **base, "eventType": kind, "eventTime": "2026-12-01T13:00:00Z", **changes})

    assert send("START").status_code == 201
    rejected = send("RUNNING", outputs=[{"namespace": "file", "name": "/data/half.parquet"},
                                        {"namespace": 5, "name": "/data/bad.parquet"}])
    assert rejected.status_code == 400, rejected.text
    assert "outputs[1].namespace" in rejected.json()["detail"]
    assert send("COMPLETE").status_code == 201
    recorded = app_client.state.governor.lineage_store.get_run(run)
    assert recorded is not None
    assert [v.dataset.name for v in recorded.outputs] == ["/data/first.parquet"]


def test_openlineage_ingest_bounds_a_run_over_its_events_and_all_open_runs(
        app_client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event was bounded (10,000 datasets), but a run's events added up without limit:
    180,000 datasets sent as 20 RUNNING events of one run held the memory, and their COMPLETE
    held the state database's write lock for minutes. A run is bounded like one event, and
    the open runs of all callers together by the datasets and edges they hold."""
    from lacuna.lineage import openlineage
    from lacuna.server import routes_state

    client, h = app_client.client, app_client.headers
    monkeypatch.setattr(openlineage, "MAX_DATASETS", 3)
    run = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"

    def send(user: str, run_id: str, kind: str, names: list[str]) -> Any:
        return client.post("/api/v1/lineage", headers=h(user), json={
            **_run_event(run_id, "many", "/data/many.parquet"), "eventType": kind,
            "eventTime": "2026-12-01T14:00:00Z",
            "outputs": [{"namespace": "file", "name": f"/data/{n}.csv"} for n in names]})

    assert send("ana", run, "RUNNING", ["a", "b"]).status_code == 201
    over = send("ana", run, "RUNNING", ["c", "d"])
    assert over.status_code == 400, over.text
    assert "would have 4 outputs over its events (at most 3)" in over.json()["detail"]
    assert send("ana", run, "COMPLETE", ["c"]).status_code == 201
    recorded = app_client.state.governor.lineage_store.get_run(run)
    assert recorded is not None
    assert sorted(v.dataset.name for v in recorded.outputs) == [
        "/data/a.csv", "/data/b.csv", "/data/c.csv"]

    monkeypatch.setattr(routes_state._Pending, "ITEMS", 6)
    for i in range(4):  # ana floods open runs; jane's one open run is kept
        if i == 1:
            assert send("jane", "jane-open", "START", ["j"]).status_code == 201
        assert send("ana", f"ana-open-{i}", "START", ["x", "y"]).status_code == 201
    held = routes_state._pending.runs
    assert sum(len(p.outputs) for runs in held.values() for p in runs.values()) <= 6
    assert "jane-open" in held["jane"]
    assert "ana-open-3" in held["ana"]
    assert "ana-open-0" not in held["ana"]


def test_pending_runs_are_evicted_in_one_pass_fullest_caller_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One event may push many small runs out; the counts are kept as they go (they were taken
    again for every run evicted, under the lock every producer's ingest waits on)."""
    from types import SimpleNamespace

    from lacuna.server.routes_state import _Pending

    def run(n: int) -> SimpleNamespace:
        return SimpleNamespace(inputs=[0] * n, outputs=[], edges=[])

    pending = _Pending()
    monkeypatch.setattr(_Pending, "ITEMS", 50)
    monkeypatch.setattr(_Pending, "LIMIT", 1000)
    pending.runs = {"flood": {f"f{i}": run(1) for i in range(500)},
                    "jane": {"j": run(10)}}
    pending.evict()
    assert sum(len(r.inputs) for runs in pending.runs.values() for r in runs.values()) == 50
    assert "j" in pending.runs["jane"]  # the flood paid
    assert list(pending.runs["flood"]) == [f"f{i}" for i in range(460, 500)]  # newest kept
    monkeypatch.setattr(_Pending, "LIMIT", 5)
    pending.evict()
    assert sum(len(runs) for runs in pending.runs.values()) == 5
    assert "j" in pending.runs["jane"]


def test_request_size_limit(app_client) -> None:
    big = {"columns": {"c": ["x" * 1000] * 100}}  # ~100 KB > the 64 KiB limit
    r = app_client.client.post("/api/v1/classify", json=big, headers=app_client.headers("ana"))
    assert r.status_code == 413
    assert "max_body_bytes" in r.text

    def chunks() -> Any:  # no content-length: counted as it is read (was a 400 on a route
        yield b'{"columns": {"c": ["'  # of FastAPI's, "There was an error parsing the body")
        yield b"y" * (70 * 1024)
        yield b'"]}}'

    for path in ("/api/v1/classify", "/api/v1/exceptions", "/api/v1/lineage"):
        r = app_client.client.post(path, content=chunks(), headers={
            **app_client.headers("ana"), "content-type": "application/json"})
        assert r.status_code == 413, (path, r.text)
        assert "max_body_bytes" in r.json()["message"]


def test_secrets_never_reach_the_logs(app_client, caplog: pytest.LogCaptureFixture) -> None:
    from lacuna.server.logs import JsonFormatter, scrub

    token = app_client.tokens["ana"]
    with caplog.at_level(logging.DEBUG):
        app_client.client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
        app_client.client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}x"})
        app_client.client.post("/api/v1/decide", json={"operation": _op(
            app_client, "DOWNLOADS/x.csv")}, headers=app_client.headers("ana"))
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "HTTP 403 for GET /api/v1/audit (user ana)" in text
    assert token not in text
    assert token[4:20] not in text
    assert scrub(f"Authorization: Bearer {token}") == "Authorization: Bearer [redacted]"
    assert token not in scrub(f"oops {token} leaked")


@pytest.mark.parametrize(("secret", "shaped"), [
    ("AKIAIOSFODNN7EXAMPLE", True), ("ghp_0123456789abcdefABCDEF0123456789abcd", True),
    ("Zq7-s3cret-VALUE", False)])  # a password has no shape: masked in a URL only
def test_a_credential_in_a_log_line_is_scrubbed_in_json_and_plain_lines(
        secret: str, shaped: bool) -> None:
    from lacuna.server.logs import JsonFormatter, PlainFormatter

    record = logging.LogRecord(
        "lacuna.server", logging.ERROR, __file__, 1, "could not reach %s: %s",
        (f"postgresql://lacuna:{secret}@db/governance",
         f"refused key {secret}" if shaped else "refused"), None)
    for formatter in (JsonFormatter(), PlainFormatter()):
        line = formatter.format(record)
        assert secret not in line, type(formatter).__name__
        assert "could not reach postgresql://lacuna:***@db/governance" in line


def _event(run_id: str, output: str) -> bytes:
    """A COMPLETE OpenLineage event as raw JSON text (escapes written as the client wrote)."""
    return ('{"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", '
            f'"run": {{"runId": "{run_id}"}}, "job": {{"namespace": "nb", "name": "j"}}, '
            f'"inputs": [], "outputs": [{{"namespace": "file", "name": "{output}"}}], '
            '"producer": "https://example.com/p", "schemaURL": '
            '"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}').encode()


def test_a_lone_surrogate_in_free_form_json_is_refused_where_it_arrives(app_client) -> None:
    r"""JSON may escape a lone UTF-16 surrogate (``\ud800``), which no database can store: in an
    operation's sources it made the denial's audit append fail (the denial went unrecorded),
    in an OpenLineage event or in columns to classify it was a 500. Each is refused with the
    reason, nothing recorded; a surrogate *pair* (one character, as ``json.dumps`` escapes
    an emoji) is text and goes through, and reads back as it was sent."""
    client, h = app_client.client, {**app_client.headers("ana"),
                                     "content-type": "application/json"}
    audit = app_client.state.governor.audit
    before = len(audit.list(limit=None))
    op = _op(app_client, "DOWNLOADS/s.csv")
    for name in ("crm\\udfff", "\\ud800"):
        raw = json.dumps({"operation": op})[:-2] + f', "sources": [{{"name": "{name}"}}]}}}}'
        r = client.post("/api/v1/decide", content=raw.encode(), headers=h)
        assert r.status_code == 422, r.text
        assert "lone UTF-16 surrogate" in r.text
    r = client.post("/api/v1/lineage", content=_event("r-\\ud800", "/d/x.csv"), headers=h)
    assert r.status_code == 400, r.text
    assert "lone UTF-16 surrogate" in r.text
    r = client.post("/api/v1/classify", headers=h,
                    content=b'{"columns": {"email": ["a@example.com", "\\udc00"]}}')
    assert r.status_code == 422, r.text
    assert len(audit.list(limit=None)) == before  # nothing recorded, nothing failed to be
    # The allowed path: a surrogate pair is one character (U+1F600), kept as sent.
    raw = json.dumps({"operation": op})[:-2] + ', "sources": [{"name": "crm-\\ud83d\\ude00"}]}}'
    r = client.post("/api/v1/decide", content=raw.encode(), headers=h)
    assert r.status_code == 200, r.text
    record = audit.get(r.json()["audit"]["id"])
    assert record is not None
    assert "crm-\U0001f600" in json.dumps(record.data, ensure_ascii=False)
    r = client.post("/api/v1/lineage", headers=h,
                    content=_event("r-\\ud83d\\ude00", "/d/\\ud83d\\ude00.csv"))
    assert r.status_code == 201, r.text
    run = app_client.state.governor.lineage_store.get_run(r.json()["recorded"])
    assert run is not None
    assert str(run.outputs[0].dataset.name).endswith("/d/\U0001f600.csv")


def test_a_path_cannot_forge_a_plain_log_line(app_client) -> None:
    """Anyone may send ``/api/v1/audit/x%0A<a line of their own>``: the 401 refusal and the
    access line name the path, and with ``log_json: false`` its newline started a forged log
    line. Plain lines write it as ``\\n``; JSON lines were never split; a traceback keeps its
    lines."""
    import io

    from lacuna.server.logs import JsonFormatter, PlainFormatter

    forged = "2026-12-06 05:00:00,000 WARNING lacuna.server.auth: audit trail verified"
    for formatter in (PlainFormatter(), JsonFormatter()):
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        loggers = [logging.getLogger(n) for n in ("lacuna.server.auth", "lacuna.server.access")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.addHandler(handler)
            lg.setLevel(logging.INFO)
        try:
            r = app_client.client.get(f"/api/v1/audit/x%0A{forged}")
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.removeHandler(handler)
                lg.setLevel(level)
        assert r.status_code == 401
        lines = out.getvalue().splitlines()
        assert lines, type(formatter).__name__
        assert not any(line.startswith(forged) for line in lines), lines
        assert any("HTTP 401 for GET /api/v1/audit/x" in line for line in lines)
        assert any("/api/v1/audit/x" in line and forged in line for line in lines), lines
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("lacuna.server", logging.ERROR, __file__, 1, "failed %s",
                                   ("a\nb",), sys.exc_info())
    text = PlainFormatter().format(record)
    assert "failed a\\nb" in text
    assert "Traceback (most recent call last):\n" in text  # the traceback's own lines stay


def test_metrics(app_client) -> None:
    _a_denial_and_a_401(app_client)
    client, h = app_client.client, app_client.headers
    text = client.get("/metrics", headers=h("root")).text
    assert 'lacuna_decisions_total{result="denied"}' in text
    assert "lacuna_decision_seconds_bucket" in text
    assert 'le="+Inf"' in text
    assert 'lacuna_audit_writes_total{result="ok"}' in text
    assert 'lacuna_auth_failures_total{status="401"}' in text
    sink = app_client.state.policy_engine.decision_log
    assert sink is not None  # the decision log's own counts, read at each scrape
    assert sink.flush()
    text = client.get("/metrics", headers=h("root")).text
    assert sink.written >= 1
    assert (f'lacuna_decision_log_records_total{{result="written"}} {sink.written}\n'
            'lacuna_decision_log_records_total{result="dropped"} 0\n') in text
    summary = client.get("/api/v1/metrics", headers=h("carla")).json()
    assert summary["audit"]["records"] >= 1
    assert "governance" in summary


def test_outcomes_are_appended_to_the_callers_own_decisions(app_client) -> None:
    client, h = app_client.client, app_client.headers
    dest = app_client.state.governor.config.destinations.governed[0] + "out.csv"
    wire = client.post("/api/v1/decide", json={"operation": _op(app_client, dest)},
                       headers=h("ana")).json()
    of = wire["audit"]["id"]
    assert client.post("/api/v1/audit/outcomes", json={"of": of},
                       headers=h("jane")).status_code == 404  # not jane's
    r = client.post("/api/v1/audit/outcomes", json={"of": of, "error": "OSError: disk full"},
                    headers=h("ana"))
    assert r.status_code == 201, r.text
    stored = app_client.state.governor.audit.get(r.json()["id"])
    assert stored is not None
    assert stored.kind == "outcome"
    assert stored.outcome_of == of
    assert stored.status == "failed"
    assert stored.user_id == "ana"
    # the client's error type and message, as in-process (error_type was RuntimeError)
    assert stored.data["outcome"]["error_type"] == "OSError"
    assert stored.data["outcome"]["error"] == "disk full"


def test_an_outcome_is_appended_only_to_a_decision_not_to_an_event(app_client) -> None:
    """An event of ana's on the trail (an exception request, a configuration) is no decision:
    AuditRecord.kind said "decision" for every event, so an outcome of one got through to
    reading an operation out of it."""
    from lacuna.audit.record import event_body

    client, h = app_client.client, app_client.headers
    event = app_client.state.governor.audit.record_event(event_body(
        "exception", user=("ana", "analyst"), session="s",
        what={"action": "exception", "event": "requested"}, reasoning="a request"))
    assert event.kind == "exception"
    r = client.post("/api/v1/audit/outcomes", json={"of": event.id}, headers=h("ana"))
    assert r.status_code == 404, r.text
    assert "no decision record" in r.json()["detail"]


def test_fast_lane_answers_like_the_routes(app_client) -> None:
    """The decision routes' fast lane (lacuna.server.fastlane): the same answers, each one
    counted and logged, a cached Data API answer with its own decision id; anything unusual
    (bad JSON, an unknown token) answered by the FastAPI routes as before."""
    from lacuna.policy.inputs import build_input

    state = app_client.state
    h = app_client.headers("ana")
    c = app_client.client
    doc = build_input(Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                                classification=Classification.from_dict(PII)))
    denied_before = state.metrics.decisions["denied"]
    answers = [c.post("/v1/data/lacuna/decision/result", json={"input": doc}, headers=h)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    results = [a.json() for a in answers]
    assert results[0]["result"]["allowed"] is False
    assert results[0]["result"] == results[1]["result"] == results[2]["result"]
    assert len({r["decision_id"] for r in results}) == 3
    assert state.metrics.decisions["denied"] == denied_before + 3  # a cached answer counts too
    expected, _ = state.opa.evaluate("lacuna/decision/result", doc)
    assert results[2]["result"] == expected
    # Undefined paths answer without a result, as OPA does.
    assert c.post("/v1/data/no/such/rule", json={"input": {}}, headers=h).json().keys() == {
        "decision_id"}
    # Not JSON: the route's 400; an unknown token: 401, audited as before.
    bad = c.post("/v1/data/lacuna/decision/result", content=b"{nope", headers=h)
    assert bad.status_code == 400
    deep = b'{"input": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"  # past any JSON parser's depth
    too_deep = c.post("/v1/data/lacuna/decision/result", content=deep, headers=h)
    assert too_deep.status_code == 400, too_deep.text[:200]
    assert too_deep.json()["code"] == "invalid_parameter"
    # JSON Python reads but the engine cannot take (200 levels deep): the caller's error,
    # 400 as OPA answers, on the fast lane and on the route behind it.
    for text in (b'{"input": {"x": ' + b"[" * 200 + b"]" * 200 + b"}}",
                 b'{"input": {"x": ' + b"[" * 600 + b"]" * 600 + b"}}"):
        for path in ("/v1/data/lacuna/decision/result", "/v1/data/governance"):
            odd = c.post(path, content=text, headers=h)
            assert odd.status_code == 400, (path, odd.status_code, odd.text[:200])
            assert odd.json()["code"] == "invalid_parameter"
            assert "input document" in odd.json()["message"]
    refused = c.post("/v1/data/lacuna/decision/result", json={"input": doc},
                     headers={"Authorization": "Bearer lac_not-a-token"})
    assert refused.status_code == 401
    # Recorded decisions through the lane are on the trail before the answer.
    for _ in range(2):
        r = c.post("/api/v1/decide", json={"operation": _op(app_client, "DOWNLOADS/x.csv")},
                   headers=h)
        assert r.status_code == 200, r.text
        assert state.governor.audit.get(r.json()["audit"]["id"]) is not None
    assert c.post("/api/v1/decide", json={"operation": {"action": "fly"}},
                  headers=h).status_code == 422
    assert state.governor.audit.verify().ok


def test_the_data_api_logs_the_authenticated_caller_not_the_inputs_say_so(app_client,
                                                                         monkeypatch) -> None:
    """An analyst who puts ``lacuna_caller: jane`` into the input cannot make the decision log
    name a steward as the caller: the authenticated identity is written over it."""
    from lacuna.policy.decision_log import MemoryDecisionLog
    from lacuna.policy.inputs import build_input

    sink = MemoryDecisionLog()
    monkeypatch.setattr(app_client.state.policy_engine, "decision_log", sink)
    doc = build_input(Operation(action=Action.EXPORT, user=User(id="jane", role="data_steward"),
                                classification=Classification.from_dict(PII)))
    for forged in ({**doc, "lacuna_caller": "jane"}, doc):
        r = app_client.client.post("/v1/data/lacuna/decision/result", json={"input": forged},
                                   headers=app_client.headers("ana"))
        assert r.status_code == 200, r.text
    assert sink.flush()
    assert [rec["input"]["lacuna_caller"] for rec in sink.records] == ["ana", "ana"]
    sink.close()


@pytest.mark.parametrize("path", [
    "lacuna/decision/result", "lacuna//decision/result", "/lacuna/decision/result/", "",
    # packages: OPA answers their document, which holds the decision
    "lacuna/decision", "lacuna",
])
def test_every_spelling_of_the_decision_is_logged_and_counted(app_client, monkeypatch,
                                                               path: str) -> None:
    """The evaluator reads these paths as the decision rule, or (the empty path, a package
    above the rule) the document holding it: each answer is a decision the caller received, so none
    escapes the decision log or the metrics (the log names the decision's path,
    ``lacuna/decision/result``)."""
    from lacuna.policy.decision_log import MemoryDecisionLog
    from lacuna.policy.inputs import build_input

    sink = MemoryDecisionLog()
    monkeypatch.setattr(app_client.state.policy_engine, "decision_log", sink)
    doc = build_input(Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                                classification=Classification.from_dict(PII)))
    before = app_client.state.metrics.render()
    r = app_client.client.post(f"/v1/data/{path}", json={"input": doc},
                               headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    answer = r.json()["result"]
    for key in ("lacuna", "decision", "result")[len([p for p in path.split("/") if p]):]:
        answer = answer[key]
    assert answer["allowed"] is False
    assert sink.flush()
    assert [(rec["path"], rec["result"]["allowed"]) for rec in sink.records] == [
        ("lacuna/decision/result", False)]
    assert app_client.state.metrics.render() != before
    sink.close()


@pytest.mark.parametrize("path", [
    "lacuna/nothing_here", "lacuna/decision/nothing_here", "nothing_here",
    # not Rego names: OPA looks such a key up and finds nothing (they once ran the rule
    # without a decision-log record)
    "lacuna.decision.result", "lacuna/decision.result", "lacuna%0A/decision/result",
    "lacuna/decision/%20result",
])
def test_a_path_that_is_no_decision_is_not_logged(app_client, monkeypatch, path: str) -> None:
    """A path where nothing is (no rule, package or data), or a segment that is not a Rego
    name, is undefined, as OPA answers it: nothing was decided, nothing is logged, on the
    fast lane and the FastAPI route alike."""
    from lacuna.policy.decision_log import MemoryDecisionLog

    sink = MemoryDecisionLog()
    monkeypatch.setattr(app_client.state.policy_engine, "decision_log", sink)
    from lacuna.server import fastlane

    answers = [app_client.client.post(f"/v1/data/{path}", json={"input": {}},
                                      headers=app_client.headers("ana"))]
    with monkeypatch.context() as m:  # the FastAPI route, as the fast lane's fallback
        m.setattr(fastlane, "wants", lambda scope: False)
        answers.append(app_client.client.post(f"/v1/data/{path}", json={"input": {}},
                                              headers=app_client.headers("ana")))
    for r in answers:
        assert r.status_code in (200, 404), r.text  # Starlette's router: no newline in a path
        assert "result" not in r.json()
    assert sink.flush()
    assert sink.records == []
    sink.close()


def test_a_path_with_a_control_character_is_answered_one_way(app_client, monkeypatch) -> None:
    """The fast lane hands such a path to the FastAPI route (whose router reads
    ``…/result%0A`` as ``…/result``), so both lanes give one answer, and a decision answered
    is a decision logged."""
    from lacuna.policy.decision_log import MemoryDecisionLog
    from lacuna.policy.inputs import build_input
    from lacuna.server import fastlane

    sink = MemoryDecisionLog()
    monkeypatch.setattr(app_client.state.policy_engine, "decision_log", sink)
    doc = build_input(Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                                classification=Classification.from_dict(PII)))
    url = "/v1/data/lacuna/decision/result%0A"
    fast = app_client.client.post(url, json={"input": doc}, headers=app_client.headers("ana"))
    with monkeypatch.context() as m:
        m.setattr(fastlane, "wants", lambda scope: False)
        route = app_client.client.post(url, json={"input": doc},
                                       headers=app_client.headers("ana"))
    assert fast.status_code == route.status_code == 200
    assert fast.json()["result"] == route.json()["result"]
    assert sink.flush()
    assert len(sink.records) == 2
    sink.close()


def test_a_steward_settles_a_reported_file_over_http(app_client) -> None:
    """``POST /api/v1/exceptions/{id}/settle``: stewards only (403 for an analyst and for the
    requester), the file's record settled for the sweep, refusals and the settlement audited
    with the authenticated caller."""
    from lacuna.exceptions.sweep import sweep

    client, h = app_client.client, app_client.headers
    gov = app_client.state.governor
    dest = _op(app_client, "DOWNLOADS/settled.csv")["destination"]
    exc = client.post("/api/v1/exceptions", json={
        "destination": dest, "purpose": "Board Q4 presentation for the CFO",
        "approver": "joe", "duration_hours": 2}, headers=h("jane")).json()
    gov.exceptions.record_file(exc["id"], dest, written_by="jane", encrypted=False)
    with gov.exceptions._engine.begin() as conn:  # an edit by hand: the row no longer verifies
        conn.exec_driver_sql("UPDATE lacuna_exception_files SET written_by = 'ana' "
                             "WHERE exception_id = ?", (exc["id"],))
    assert [f for f in sweep(gov).failed if exc["id"] in f]  # reported, every sweep
    url = f"/api/v1/exceptions/{exc['id']}/settle"
    body = {"path": dest, "reason": "checked the copy: deleted by hand"}
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=h("ana")).status_code == 403
    r = client.post(url, json=body, headers=h("jane"))  # the requester, a steward
    assert r.status_code == 403, r.text
    assert "filed exception" in r.text
    assert client.post(url, json={**body, "reason": ""}, headers=h("joe")).status_code == 422
    assert client.post(url, json={**body, "path": dest + ".nope"},
                       headers=h("joe")).status_code == 404
    r = client.post(url, json=body, headers=h("joe"))
    assert r.status_code == 200, r.text
    assert [w["written_by"] for w in r.json()["records_before"]] == ["ana"]
    assert not [f for f in sweep(gov).failed if exc["id"] in f]
    events = [(r.data["what"]["event"], r.user_id) for r in gov.audit.list(limit=50)
              if r.data.get("kind") == "exception" and "settle" in r.data["what"]["event"]]
    assert ("file-settled", "joe") in events
    assert ("settle-refused", "jane") in events


PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.mark.parametrize("hidden", ["\x1b[2K\x1b[1Aapproved by the CISO", "ok\u202egpj.exe",
                                    "bell\x07", "c1\x9b31m"])
def test_exception_text_that_would_steer_a_reviewers_screen_is_refused(app_client,
                                                                       hidden: str) -> None:
    """A terminal escape (``lacuna exceptions show`` would print over the real text) or a
    bidirectional override in a request's or a decision's text is refused and named; tabs
    and line breaks are taken (the store folds whitespace) and the text read back."""
    client, h = app_client.client, app_client.headers
    body = {"operation": _op(app_client, "DOWNLOADS/steer.csv"), "purpose": PURPOSE}
    refused = client.post("/api/v1/exceptions", headers=h("ana"),
                          json={**body, "business_justification": hidden})
    assert refused.status_code == 400, refused.text
    assert "control character U+" in refused.json()["message"]
    plain = "Q4 numbers\n\tfor the board"
    made = client.post("/api/v1/exceptions", headers=h("ana"),
                       json={**body, "business_justification": plain})
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    approve = f"/api/v1/exceptions/{eid}/approve"
    for field in ({"comment": hidden}, {"conditions": [hidden]}):
        no = client.post(approve, headers=h("jane"), json=field)
        assert no.status_code == 400, no.text
    yes = client.post(approve, headers=h("jane"), json={"conditions": ["aggregate only"]})
    assert yes.status_code == 200, yes.text
    back = client.get(f"/api/v1/exceptions/{eid}", headers=h("ana")).json()
    assert back["business_justification"] == " ".join(plain.split())
    assert back["status"] == "approved"
    assert back["approval_conditions"] == ["aggregate only"]


def test_an_exception_for_an_action_lacuna_does_not_decide_is_refused(app_client) -> None:
    """A request's action was stored as sent: 10,000 letters, a bidirectional override or a
    word no grant covers (``ExceptionGrant.covers`` compares it with the operation's) became
    a request stewards were asked to approve, which could cover nothing; so did a
    destination no decide can name (a NUL, an escape, a malformed URL). Refused and named,
    before anything is stored; each action Lacuna decides is taken and read back."""
    client, h = app_client.client, app_client.headers
    store = app_client.state.governor.exceptions
    before = len(store.list(limit=None))
    base = {"destination": "/tmp/x.csv", "purpose": PURPOSE}
    for action in ("x" * 10_000, "export\u202e", "EXPORT", "delete"):
        r = client.post("/api/v1/exceptions", headers=h("ana"), json={**base, "action": action})
        assert r.status_code == 400, (action[:20], r.text[:200])
        assert "is not one Lacuna decides" in r.json()["message"]
        assert len(r.text) < 1000
        r = client.post("/api/v1/exceptions", headers=h("ana"), json={  # as a decide's
            "operation": {"action": action, "destination": "/tmp/x.csv"}, "purpose": PURPOSE})
        assert r.status_code == 422, (action[:20], r.text[:200])
    for destination in ("/tmp/a\x00b.csv", "/tmp/a\x1b[2Kb.csv", "s3://[::1/x.csv"):
        r = client.post("/api/v1/exceptions", headers=h("ana"),  # no decide could name it
                        json={**base, "destination": destination})
        assert r.status_code == 400, (destination, r.text[:200])
        assert r.json()["code"] == "IntegrationError"
    assert len(store.list(limit=None)) == before
    for action in ("read", "write", "export", "transform"):
        r = client.post("/api/v1/exceptions", headers=h("ana"), json={**base, "action": action})
        assert r.status_code == 201, r.text
        back = client.get(f"/api/v1/exceptions/{r.json()['id']}", headers=h("ana")).json()
        assert back["action"] == action


def test_an_unknown_exception_and_anothers_answer_alike(app_client) -> None:
    """404 for an id nobody filed (was 400: ``ExceptionNotFound`` is a LacunaError and a
    LookupError), and to a caller who sees only their own, the same answer for another's
    request as for none, so ids cannot be probed (reading or denying); the requester reads and
    withdraws theirs."""
    client, h = app_client.client, app_client.headers
    made = client.post("/api/v1/exceptions", headers=h("joe"), json={
        "operation": _op(app_client, "DOWNLOADS/probe.csv"), "purpose": PURPOSE})
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    theirs = client.get(f"/api/v1/exceptions/{eid}", headers=h("ana"))
    nobodys = client.get("/api/v1/exceptions/EXC-1999-999", headers=h("ana"))
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json()["detail"].replace(eid, "ID") == nobodys.json()["detail"].replace(
        "EXC-1999-999", "ID")
    for who in ("jane", "root"):  # who sees all: not found is 404 too
        assert client.get("/api/v1/exceptions/EXC-1999-999", headers=h(who)).status_code == 404
    approve = client.post("/api/v1/exceptions/EXC-1999-999/approve", headers=h("jane"), json={})
    assert approve.status_code == 404, approve.text
    deny_theirs = client.post(f"/api/v1/exceptions/{eid}/deny", headers=h("ana"), json={})
    deny_none = client.post("/api/v1/exceptions/EXC-1999-999/deny", headers=h("ana"), json={})
    assert deny_theirs.status_code == deny_none.status_code == 404, deny_theirs.text
    assert deny_theirs.json()["detail"].replace(eid, "ID") == deny_none.json()[
        "detail"].replace("EXC-1999-999", "ID")
    refused = app_client.state.governor.audit.list(limit=20, user="ana")  # still audited
    assert any(eid in str(r.to_dict()) and "deny-refused" in str(r.to_dict()) for r in refused)
    assert client.get(f"/api/v1/exceptions/{eid}", headers=h("joe")).json()["status"] == "pending"
    mine = client.post("/api/v1/exceptions", headers=h("ana"), json={
        "operation": _op(app_client, "DOWNLOADS/probe.csv"), "purpose": PURPOSE}).json()["id"]
    withdrawn = client.post(f"/api/v1/exceptions/{mine}/deny", headers=h("ana"), json={})
    assert withdrawn.status_code == 200, withdrawn.text
    assert client.get(f"/api/v1/exceptions/{mine}", headers=h("ana")).json()["status"] == "denied"


def test_impact_walks_a_bounded_graph_and_says_when_there_is_more(app_client) -> None:
    """``/lineage/impact`` walked the whole downstream graph for every request (any caller,
    any dataset): now the nearest ``limit`` datasets, as ``/downstream``, ``truncated`` when
    there are more; within the bound it finds what the in-process ``impact`` finds."""
    from datetime import UTC, datetime, timedelta

    from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
    from lacuna.model import Tier

    def version(name: str, personal: bool) -> DatasetVersion:
        c = Classification(tier=Tier.PROPRIETARY if personal else Tier.INTERNAL,
                           tags=("PII",) if personal else ())
        return DatasetVersion(dataset=DatasetRef("file", f"/impact/{name}"), classification=c)

    store = app_client.state.governor.lineage_store
    at = datetime(2026, 12, 1, tzinfo=UTC)
    store.record(Run(id="impact-wide", operation="export", status=RunStatus.SUCCEEDED,
                     inputs=(version("root.csv", False),),
                     outputs=tuple(version(f"out{i:02}.csv", i % 2 == 0) for i in range(20)),
                     started_at=at, ended_at=at + timedelta(seconds=1)))
    client, h = app_client.client, app_client.headers
    everything = store.impact(DatasetRef("file", "/impact/root.csv"))
    full = client.get("/api/v1/lineage/impact", headers=h("ana"),
                      params={"dataset": "/impact/root.csv"}).json()
    assert full["truncated"] is False
    assert [d["dataset"] for d in full["datasets"]] == [str(v.dataset) for v in everything]
    assert len(full["datasets"]) == 10
    cut = client.get("/api/v1/lineage/impact", headers=h("ana"),
                     params={"dataset": "/impact/root.csv", "limit": 5}).json()
    assert cut["truncated"] is True
    assert 0 < len(cut["datasets"]) < len(full["datasets"])
    assert {d["dataset"] for d in cut["datasets"]} <= {d["dataset"] for d in full["datasets"]}
    assert client.get("/api/v1/lineage/impact", headers=h("ana"), params={
        "dataset": "/impact/root.csv", "limit": 10**9}).status_code == 422


def test_the_exception_verbs_act_as_the_caller_a_decide_acts_as(app_client, tmp_path) -> None:
    """The verbs (a request's dry run among them) acted with the server's own ``user:``
    section (lacuna.yaml) under the caller's name: its department and attributes, which
    policies read, were every requester's, while a decide gives the caller none of them. Both
    act as :func:`caller` now: the caller's name and roles, and the clearance ``clearances:``
    gives them. The server's own ``user.clearance`` was every caller's clearance (so one
    PROPRIETARY there let every analyst through a dbt ``restrict`` rule); it is no one's now."""
    from types import SimpleNamespace

    from lacuna.governor import Governor
    from lacuna.identity import Principal
    from lacuna.model import Tier
    from lacuna.remote.wire import parse_operation
    from lacuna.server.routes_api import bound
    from lacuna.server.routes_state import acting_as

    gov = app_client.state.governor
    ana = Principal("ana", ("analyst", "data_steward"))
    bob = Principal("bob", ("analyst",))
    cases = [  # (the server's user.clearance, clearances:, ana's clearance, bob's)
        (Tier.PROPRIETARY, {}, Tier.INTERNAL, Tier.INTERNAL),
        (Tier.PUBLIC, {}, Tier.INTERNAL, Tier.INTERNAL),
        (Tier.INTERNAL, {"PROPRIETARY": ["data_steward"]}, Tier.PROPRIETARY, Tier.INTERNAL),
        (Tier.INTERNAL, {"proprietary": ["bob"], "PUBLIC": ["analyst"]}, Tier.PUBLIC,
         Tier.PROPRIETARY),  # the highest that lists them; a tier in any case
    ]
    for server_clearance, clearances, ana_has, bob_has in cases:
        user = gov.config.user.model_copy(update={
            "clearance": server_clearance, "department": "board",
            "attributes": {"level": "exec"}})
        config = gov.config.model_validate({  # a trail of its own: other settings
            **gov.config.model_dump(exclude={"source"}), "clearances": clearances,
            "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"}})
        state = SimpleNamespace(
            governor=Governor(config.model_copy(update={"user": user}), engine=gov.engine),
            destination=app_client.state.destination)
        for who, has in ((ana, ana_has), (bob, bob_has)):
            op = bound(state, parse_operation({"action": "read"}), who)
            assert (op.user.id, op.user.role, op.user.clearance, op.user.department,
                    dict(op.user.attributes)) == (
                who.name, "analyst", has, None, {"roles": list(who.roles)}), clearances
            with acting_as(state, who) as acting:
                acted = acting.config.user.to_user()
            assert acted == op.user, clearances
        state.governor.close()


def test_clearances_name_tiers_and_the_server_says_an_unused_user_clearance(caplog) -> None:
    from lacuna.config import config_from_dict
    from lacuna.errors import ConfigError
    from lacuna.server.state import warn_unused_clearance

    with pytest.raises(ConfigError, match="clearances"):
        config_from_dict({"clearances": {"SECRET": ["ana"]}})
    with caplog.at_level("WARNING", logger="lacuna.server"):
        warn_unused_clearance(config_from_dict({"user": {"clearance": "INTERNAL"}}))
        assert not caplog.records
        warn_unused_clearance(config_from_dict({"user": {"clearance": "PROPRIETARY"}}))
    assert "is not a caller's clearance" in caplog.text
    assert "clearances: {PROPRIETARY: [data_steward]}" in caplog.text


@pytest.mark.parametrize("environment", ["bogus", "PRODUCTION", "prod", " production"])
def test_an_unknown_environment_is_refused_not_decided_as_an_engine_failure(
        app_client, environment: str) -> None:
    """An environment Lacuna does not know reached the policy input's category, which failed
    the decision as a policy engine error: recorded on the trail and counted as one. It is the
    request that is wrong (422, nothing recorded), on the route and the fast lane alike."""
    audit = app_client.state.governor.audit
    before = len(audit.list(limit=None))
    for _ in range(2):  # the second is the fast lane's (the token is cached by the first)
        r = app_client.client.post("/api/v1/decide", json={"operation": _op(
            app_client, "DOWNLOADS/env.csv", environment=environment)},
            headers=app_client.headers("ana"))
        assert r.status_code == 422, r.text
        assert "operation.environment" in r.text
        assert "production" in r.text
    assert len(audit.list(limit=None)) == before
    for known in ("production", "staging", "development"):
        r = app_client.client.post("/api/v1/decide", json={"operation": _op(
            app_client, "DOWNLOADS/env.csv", environment=known)},
            headers=app_client.headers("ana"))
        assert r.status_code == 200, r.text
        decision = r.json()["decision"]
        assert decision["engine_error"] is None, decision
        assert decision["reasoning"].startswith("Cannot export PROPRIETARY")
        record = audit.get(r.json()["audit"]["id"])
        assert record is not None
        assert record.data["what"]["environment"] == known


def test_an_audit_search_beyond_the_calendar_in_utc_is_answered_not_500(app_client) -> None:
    _a_denial_and_a_401(app_client)
    jane = app_client.headers("jane")
    everything = app_client.client.get("/api/v1/audit", headers=jane,
                                       params={"since": "0001-01-01T00:00:00+01:00"})
    assert everything.status_code == 200, everything.text
    assert everything.json()["records"]
    assert everything.json() == app_client.client.get("/api/v1/audit", headers=jane).json()
    later = app_client.client.get("/api/v1/audit", headers=jane,
                                  params={"since": "9999-12-31T23:59:59-01:00"})
    assert later.status_code == 200, later.text
    assert later.json() == {"records": [], "truncated": False}


def test_a_deny_keeps_the_stewards_conditions_in_its_comment(app_client) -> None:
    r = app_client.client.post("/api/v1/exceptions", json={
        "destination": _op(app_client, "DOWNLOADS/cond.csv")["destination"],
        "purpose": "Board of Directors Q4 customer metrics presentation",
        "business_justification": "The board meets on Thursday"},
        headers=app_client.headers("ana"))
    assert r.status_code == 201, r.text
    r = app_client.client.post(f"/api/v1/exceptions/{r.json()['id']}/deny", json={
        "comment": "Not like this", "conditions": ["Aggregate it first"]},
        headers=app_client.headers("jane"))
    assert r.status_code == 200, r.text
    assert r.json()["comment"] == "Not like this. Conditions: Aggregate it first"


def test_an_uploads_name_is_read_for_its_kind_only(app_client) -> None:
    """The server's copy was named by the upload's last two suffixes: a long one in the
    middle (``a.<300 letters>.csv``) made a name the disk refused, a 500. Only the kind is
    kept now, gzip's inner kind included, in any case."""
    import gzip

    h = app_client.headers("ana")
    csv = b"customer_id,email\n1,a@example.com\n2,b@example.org\n"
    for name, body in ((f"a.{'b' * 300}.csv", csv), ("Q4.Export.CSV", csv),
                       (f"a.{'b' * 300}.csv.gz", gzip.compress(csv)),
                       ("customers.TSV.GZ", gzip.compress(csv.replace(b",", b"\t")))):
        r = app_client.client.post("/api/v1/classify/file", files={"file": (name, body)},
                                   headers=h)
        assert r.status_code == 200, (name[:20], r.text)
        assert r.json()["name"] == name
        assert r.json()["classification"]["columns"]["email"]["pii_type"] == "email", name[:20]
    for name in ("notes.txt", "a.csv.txt", "archive.tar"):
        r = app_client.client.post("/api/v1/classify/file", files={"file": (name, csv)},
                                   headers=h)
        assert r.status_code == 415, (name, r.text)


def test_an_operation_id_taken_by_another_caller_does_not_take_the_feedback_link(
        app_client) -> None:
    """A violation's feedback link names the operation id, which a client chooses
    (``operation.id``). Another caller who learnt one (a pasted violation message) and decided
    an operation under it had the newest decision of that id: the link then showed theirs,
    and its owner was refused feedback on their own denial (403). The caller's own decision of
    that id is the one shown and reported."""
    import uuid

    victim, other = app_client.headers("carla"), app_client.headers("ana")
    op_id = uuid.uuid4().hex
    for h in (victim, other):
        r = app_client.client.post("/api/v1/decide", json={"operation": _op(
            app_client, "DOWNLOADS/taken.csv", id=op_id)}, headers=h)
        assert r.status_code == 200, r.text
    page = app_client.client.get(f"/console/feedback/{op_id}", headers=victim)
    assert page.status_code == 200, page.text[:300]
    assert "carla" in page.text
    answer = app_client.client.post(f"/console/feedback/{op_id}", headers=victim,
                                    data={"verdict": "false_positive", "comment": "mine"},
                                    follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    audit = app_client.state.governor.audit
    reported = audit.get(answer.headers["location"].split("/")[-1].split("?")[0])
    assert reported is not None
    assert reported.user_id == "carla"
    assert reported.data["operation_id"] == op_id
    # the other caller still finds their own; a steward, who owns neither, the newest
    mine = app_client.client.get(f"/console/feedback/{op_id}", headers=other)
    assert mine.status_code == 200
    assert "carla" not in mine.text


def test_an_audit_search_for_a_person_finds_every_spelling_of_their_name(app_client) -> None:
    """The trail keeps a name as it was authenticated or declared (a notebook's LACUNA_USER
    ``Jane``, the server's token user ``jane``), and Lacuna takes them for one person
    (docs/server.md, "One name, one person"): a search by exact name left the others out.
    A look-alike of another script is another person and stays out."""
    import uuid

    audit = app_client.state.governor.audit
    tag = uuid.uuid4().hex[:8]
    spellings = [f"jane.{tag}", f"Jane.{tag}", f"\uff4a\uff41\uff4e\uff45.{tag}"]
    other = f"\u0458ane.{tag}"  # a Cyrillic je: another person
    for name in (*spellings, other):
        op = Operation(action=Action.EXPORT, user=User(id=name, role="analyst"),
                       classification=Classification())
        audit.record(app_client.state.governor.decide(op), op, session="test")
    for asked in (spellings[0], spellings[1], f" JANE.{tag.upper()} "):
        r = app_client.client.get("/api/v1/audit", params={"user": asked},
                                  headers=app_client.headers("carla"))
        assert r.status_code == 200, r.text
        assert sorted(x["who"]["user_id"] for x in r.json()["records"]) == sorted(spellings)
    page = app_client.client.get("/console/audit", params={"user": spellings[1]},
                                 headers=app_client.headers("carla"))
    assert page.status_code == 200
    rows = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    for name in spellings:
        assert name in rows
    assert other not in rows
    r = app_client.client.get("/api/v1/audit", params={"user": other},
                              headers=app_client.headers("carla"))
    assert [x["who"]["user_id"] for x in r.json()["records"]] == [other]


@pytest.mark.parametrize("path", ["upstream", "downstream", "impact", "known", "runs"])
def test_a_lineage_query_does_not_read_a_name_against_the_servers_folders(
        app_client, path: str) -> None:
    """``?dataset=~`` answered with the server's home folder as the graph's root, and a
    relative path with the server's working folder: any caller learnt where those are, and
    neither names a file a client recorded (clients record absolute paths). A URL Python
    cannot split (a port that is not a number, an unclosed IPv6 bracket) was a 500."""
    import os

    who = app_client.headers("carla" if path == "runs" else "ana")  # runs: auditors'
    bad = ("~", "~/x.csv", "data/x.csv", ".", *([""] if path != "runs" else []),
           "postgresql://db:abc/crm#customers", "s3://[::1/x.csv", "postgres://db:99999/crm")
    for dataset in bad:
        r = app_client.client.get(f"/api/v1/lineage/{path}", params={"dataset": dataset},
                                  headers=who)
        assert r.status_code == 422, (dataset, r.text)
        assert os.path.expanduser("~") not in r.text
        assert os.getcwd() not in r.text
    for dataset in ("/data/x.csv", "s3://bucket/x.csv", "postgresql://db/crm#customers",
                    "postgresql://db:5433/crm#customers"):
        r = app_client.client.get(f"/api/v1/lineage/{path}", params={"dataset": dataset},
                                  headers=who)
        assert r.status_code == 200, (dataset, r.text)


def test_audit_records_naming_a_file_that_is_not_utf8_are_served(app_client) -> None:
    """A file name byte that is not UTF-8 (``os`` decodes it as a lone surrogate) recorded in
    a decision made every audit page that held the record a 500 (UnicodeEncodeError in the
    JSON response). It is served escaped, and reads back as the same string."""
    from lacuna.model import Action, Classification, Decision, Operation, Source, User

    name = "/governed/b\udcffd\u202e.csv"
    op = Operation(action=Action.READ, user=User(id="ana", role="data_analyst"),
                   classification=Classification(),
                   sources=(Source(name=name, classification=Classification()),))
    stored = app_client.state.governor.audit.record(
        Decision(allowed=True, operation_id=op.id, reasoning="ok", operation=op), op,
        session="s")
    client, h = app_client.client, app_client.headers
    one = client.get(f"/api/v1/audit/{stored.id}", headers=h("carla"))
    assert one.status_code == 200, one.text
    assert "\\udcff" in one.text
    assert "\\u202e" in one.text  # shown escaped: it would reorder what curl prints
    assert one.json()["what"]["sources"] == [name]
    page = client.get("/api/v1/audit", params={"user": "ana"}, headers=h("carla"))
    assert page.status_code == 200, page.text
    # (other tests' records of ana share the trail: events carry no sources)
    assert name in [s for r in page.json()["records"] for s in r["what"].get("sources", ())]


@pytest.mark.parametrize(("policy_id", "status"), [
    ("lacuna.mount", 201), ("retention.hold.H-7", 201), ("P-2024-001", 422),
    ("retention.hold.", 422), ("lacuna.server.http_401", 422)])
def test_a_client_records_only_its_own_rules_refusals(app_client, policy_id, status) -> None:
    """``POST /api/v1/audit/refusals``: a denial a client made by its own rule (the mount's, a
    legal hold's) is recorded as the caller's, denied and named so; a denial of another
    policy (the server's own, its refusals) is a 422 with nothing recorded."""
    store = app_client.state.governor.audit
    before = len(store.list(limit=None))
    body = {"operation": _op(app_client, "DOWNLOADS/held.csv", action="write", user="jane"),
            "reasoning": "Cannot remove /held.csv: legal hold", "policy_id": policy_id,
            "policy_title": "Legal hold", "session": "mnt-1"}
    r = app_client.client.post("/api/v1/audit/refusals", json=body,
                               headers=app_client.headers("ana"))
    assert r.status_code == status, r.text
    if status == 422:
        assert len(store.list(limit=None)) == before
        return
    decision = decision_from_wire(r.json()["decision"])
    assert not decision.allowed
    record = store.get(r.json()["audit"]["id"])  # read back
    assert record is not None
    assert record.user_id == "ana"  # the token's, not the body's
    assert record.allowed is False
    assert record.policy_id == policy_id
    assert record.data["who"]["session"] == "mnt-1"
    assert record.data["decision"]["reasoning"] == (
        f"Cannot remove /held.csv: legal hold [refused on the client by its own rule "
        f"{policy_id}; recorded as the client reported it]")


def test_an_unreadable_row_in_the_exception_list_is_named_and_does_not_hide_older_ones(
        app_client) -> None:
    """A row that is not a request Lacuna wrote is left out of ``GET /api/v1/exceptions``; it
    still counts against ``limit``, so ``truncated`` says older ones exist, and its id is
    listed under ``unreadable`` for the auditor."""
    from sqlalchemy import update

    from lacuna.exceptions.store import table

    app_client.tokens["unr"] = app_client.state.users.add("unr", roles=["analyst"])
    h = app_client.headers("unr")
    ids = []
    for purpose in ["Board of Directors Q4 deck", "Regulator's annual sample",
                    "Auditor's extract"]:
        r = app_client.client.post("/api/v1/exceptions", headers=h, json={
            "destination": "/tmp/x.csv", "purpose": purpose, "approver": "jane"})
        assert r.status_code in (200, 201), r.text
        ids.append(r.json()["id"])
    store = app_client.state.governor.exceptions
    with store._engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == ids[-1]).values(body="garbage"))
    one = app_client.client.get("/api/v1/exceptions?limit=1", headers=h).json()
    assert [e["id"] for e in one["exceptions"]] == [ids[1]]
    assert one["unreadable"] == [ids[-1]]
    assert one["truncated"] is True  # the oldest was not shown
    every = app_client.client.get("/api/v1/exceptions", headers=h).json()
    assert [e["id"] for e in every["exceptions"]] == ids[:2]
    assert (every["unreadable"], every["truncated"]) == ([ids[-1]], False)


def test_an_unrecorded_decision_never_tells_the_caller_where_the_state_database_is(
        app_client, monkeypatch) -> None:
    """An allowed decision the trail could not take is denied (fail closed), and its ``why``
    and ``engine_error`` repeated the store's error, which names the state database's file or
    URL, to any caller; so did a client refusal's 503."""
    import asyncio

    from lacuna.errors import AuditError

    state = app_client.state
    where = state.governor.audit.where
    public = {**_op(app_client, "DOWNLOADS/open.csv"), "classification": {"tier": "PUBLIC"}}
    ok = app_client.client.post("/api/v1/decide", json={"operation": public},
                                headers=app_client.headers("ana"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["decision"]["allowed"] is True  # recorded: allowed
    locked = (f"cannot append to the audit trail {where}: another process held its lock for "
              "too long (database is locked). Retry; if it persists, look for a stuck process.")

    def fail(*_: Any, **__: Any) -> Any:
        raise AuditError(locked)

    def fail_async(*_: Any, **__: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(AuditError(locked))
        return future

    monkeypatch.setattr(state.audit_writer, "record", fail)
    monkeypatch.setattr(state.audit_writer, "submit_async", fail_async)
    monkeypatch.setattr(state.governor.audit, "record", fail)
    answer = app_client.client.post("/api/v1/decide", json={"operation": public},
                                    headers=app_client.headers("ana"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"]["allowed"] is False  # unrecorded: denied
    assert "the server's state database" in answer.text
    assert where not in answer.text
    refusal = app_client.client.post("/api/v1/audit/refusals", json={
        "operation": public, "policy_id": "lacuna.mount", "reasoning": "not mounted"},
        headers=app_client.headers("ana"))
    assert refusal.status_code == 503, refusal.text
    assert where not in refusal.text
