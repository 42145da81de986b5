"""The exception and outcome routes, tried as a red team did: a deny or revoke in a steward's
capacity needs the data_steward role (as approving does); a requested exception's ``source``
never makes the server open a file on its own disk; an outcome is taken once, for an
operation that was allowed, under the client's own session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

PURPOSE = "Board of Directors quarterly customer metrics presentation"
PII = {"tier": "PROPRIETARY", "tags": ["PII"]}


def _file(c: Any, user: str, name: str, **extra: Any) -> dict[str, Any]:
    root = Path(c.state.governor.config.destinations.unmanaged[0])
    r = c.client.post("/api/v1/exceptions", headers=c.headers(user), json={
        "destination": str(root / name), "purpose": PURPOSE, **extra})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _refused(c: Any, code: int, user: str) -> list[Any]:
    return [r for r in c.state.governor.audit.list(limit=None, user=user)
            if r.policy_id == f"lacuna.server.http_{code}"]


# -- deny and revoke ------------------------------------------------------------------------


def test_deny_and_revoke_as_a_steward_need_the_data_steward_role(idp_client: Any) -> None:
    """carla (compliance officer) and dan (analyst) are on the steward list; neither holds
    data_steward. Approving was refused them; denying and revoking now are too (audited), as
    the console refuses them every verdict. Their own requests they still withdraw; jane
    decides."""
    c = idp_client
    granted, pending = _file(c, "ana", "deny-a.csv"), _file(c, "ana", "deny-b.csv")
    assert c.client.post(f"/api/v1/exceptions/{granted['id']}/approve", json={},
                         headers=c.headers("jane")).status_code == 200
    before = len(_refused(c, 403, "carla"))
    for eid in (granted["id"], pending["id"]):
        r = c.client.post(f"/api/v1/exceptions/{eid}/deny", json={"comment": "compliance"},
                          headers=c.headers("carla"))
        assert r.status_code == 403, r.text
        assert "carla is not a data_steward" in r.json()["detail"]
    refused = _refused(c, 403, "carla")
    assert len(refused) == before + 2
    assert "only stewards deny or revoke" in refused[0].data["decision"]["reasoning"]
    # dan sees only his own requests: another's answers as none (404), audited all the same
    before = len(_refused(c, 404, "dan"))
    r = c.client.post(f"/api/v1/exceptions/{pending['id']}/deny", json={},
                      headers=c.headers("dan"))
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == f"no exception {pending['id']!r} of yours"
    assert len(_refused(c, 404, "dan")) == before + 1
    store = c.state.governor.exceptions
    assert store.get(granted["id"]).status.value == "approved"
    assert store.get(pending["id"]).status.value == "pending"
    # a requester withdraws their own without the role
    for user in ("carla", "dan"):
        own = _file(c, user, f"own-{user}.csv")
        r = c.client.post(f"/api/v1/exceptions/{own['id']}/deny", json={},
                          headers=c.headers(user))
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["decided_role"]) == ("denied", "requester")
    # a data_steward denies and revokes
    for eid, status in ((pending["id"], "denied"), (granted["id"], "revoked")):
        r = c.client.post(f"/api/v1/exceptions/{eid}/deny", json={"comment": "no"},
                          headers=c.headers("jane"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
        assert store.get(eid).status.value == status


# -- a requested exception's source -------------------------------------------------------

_opened: list[str] = []
_watched: set[str] = set()


def _watch_opens(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path in _watched:
            _opened.append(path)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Path]:
    """A folder on the server's disk whose files' every ``open`` in this process is noted in
    ``_opened`` (a Python audit hook: pandas, csv and ``open`` all raise the event)."""
    if not getattr(sys, "_lacuna_test_open_hook", False):
        sys.addaudithook(_watch_opens)  # hooks cannot be removed: it watches only _watched
        sys._lacuna_test_open_hook = True  # type: ignore[attr-defined]
    folder = tmp_path / "server-only"
    folder.mkdir()
    (folder / "hr.csv").write_text("name,email,ssn\nAlice Smith,alice@example.com,123-45-6789\n"
                                   "Bob Jones,bob@example.com,987-65-4321\n", encoding="utf-8")
    (folder / "weather.csv").write_text("city,temp\nParis,12\nOslo,3\n", encoding="utf-8")
    _watched.update(str(folder / n) for n in ("hr.csv", "weather.csv", "missing.csv"))
    _opened.clear()
    yield folder
    _watched.clear()
    _opened.clear()


def _answer(r: httpx.Response) -> tuple[Any, ...]:
    assert r.status_code == 201, r.text
    j = r.json()
    return (j["policy_id"], tuple(j["domains"]), j["policy_steward"], j["tier"],
            tuple(j["tags"]))


def test_a_requested_source_is_never_read_on_the_server(app_client: Any, watched: Path
                                                        ) -> None:
    """A client's ``source`` names a file on the server's disk: the server neither opens nor
    classifies it, and the answer is the same for a file of personal data, a harmless one, one
    that does not exist and /etc/passwd (it said which policy the file's content hit)."""
    answers = {}
    for name in ("hr.csv", "weather.csv", "missing.csv", "/etc/passwd"):
        source = str(watched / name)
        answers[name] = _answer(app_client.client.post(
            "/api/v1/exceptions", headers=app_client.headers("ana"), json={
                "destination": str(watched / "out.csv"), "source": source,
                "purpose": PURPOSE}))
    assert _opened == []
    assert len(set(answers.values())) == 1, answers
    assert answers["hr.csv"] == (None, (), None, "UNKNOWN", ())  # default stewards decide
    listed = app_client.client.get("/api/v1/exceptions", headers=app_client.headers("ana"))
    sources = [e["sources"] for e in listed.json()["exceptions"]][-4:]
    assert sources == [[str(watched / "hr.csv")], [str(watched / "weather.csv")],
                       [str(watched / "missing.csv")], [str(watched / "/etc/passwd")]]


def _claim(c: Any, dataset: Path, run_id: str) -> None:
    """A lineage run (over the API, as a pipeline sends it) whose output ``dataset`` carries a
    PROPRIETARY, PII classification."""
    facet = {"_producer": "https://example.com/etl", "_schemaURL": "https://lacuna.dev/spec/"
             "facets/1-0-0/LacunaClassificationDatasetFacet.json", "tier": "PROPRIETARY",
             "tags": ["PII"], "columns": {}, "fingerprint": None}
    base = {"producer": "https://example.com/etl",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id}, "job": {"namespace": "etl", "name": "customers"},
            "outputs": [{"namespace": "file", "name": str(dataset),
                         "facets": {"lacuna_classification": facet}}]}
    for kind in ("START", "COMPLETE"):
        r = c.client.post("/api/v1/lineage", headers=c.headers("jane"), json={
            **base, "eventType": kind, "eventTime": "2026-12-02T10:00:00Z"})
        assert r.status_code == 201, r.text


def test_a_source_the_lineage_store_knows_is_decided_as_recorded(app_client: Any,
                                                                 watched: Path) -> None:
    """The policy to ask comes from what the server knows of the source (its lineage store),
    as ``/decide`` would hold it, else from the data the request declares; the file at that
    path (harmless weather data) is not opened."""
    c = app_client
    known = watched / "weather.csv"
    _claim(c, known, "0190a5d2-1111-7000-8000-000000000001")
    dest = str(watched / "out.csv")
    answer = _answer(c.client.post("/api/v1/exceptions", headers=c.headers("ana"), json={
        "destination": dest, "source": str(known), "purpose": PURPOSE}))
    decided = c.client.post("/api/v1/decide", headers=c.headers("ana"), json={
        "record": False, "operation": {"action": "export", "destination": dest,
                                       "sources": [{"name": str(known)}]}}).json()["decision"]
    assert decided["allowed"] is False
    assert decided["policy_id"]
    assert answer[0] == decided["policy_id"]
    assert answer[3:] == ("PROPRIETARY", ("PII",))
    # declared data, no source: the same policy for the same classification
    declared = _answer(c.client.post("/api/v1/exceptions", headers=c.headers("ana"), json={
        "operation": {"action": "export", "classification": PII, "destination": dest},
        "purpose": PURPOSE}))
    assert declared[0] == decided["policy_id"]
    assert _opened == []


# -- outcomes -----------------------------------------------------------------------------


def _decide(c: Any, dest: str) -> dict[str, Any]:
    r = c.client.post("/api/v1/decide", headers=c.headers("ana"), json={"operation": {
        "action": "export", "classification": PII, "destination": dest,
        "method": "pandas.DataFrame.to_csv"}})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _outcomes_of(c: Any, of: str) -> list[Any]:
    return [r for r in c.state.governor.audit.list(limit=None, user="ana")
            if r.kind == "outcome" and r.outcome_of == of]


def test_an_outcome_is_taken_once_and_only_for_an_operation_that_ran(app_client: Any) -> None:
    """As in-process, an operation that ran has one outcome and a denied one none unless it
    ran anyway in warn or observe mode, which the outcome says: an outcome of a denial without
    that, or a second one, is refused (409) and nothing is appended."""
    c = app_client
    denied = _decide(c, c.state.governor.config.destinations.unmanaged[0] + "/o.csv")
    assert denied["decision"]["allowed"] is False
    of = denied["audit"]["id"]
    for body in ({"of": of}, {"of": of, "error": "OSError: disk full"}):
        r = c.client.post("/api/v1/audit/outcomes", json=body, headers=c.headers("ana"))
        assert r.status_code == 409, r.text
        assert "denied the operation: in enforce mode it did not run" in r.json()["detail"]
    assert _outcomes_of(c, of) == []
    r = c.client.post("/api/v1/audit/outcomes", json={"of": of, "mode": "enforce"},
                      headers=c.headers("ana"))
    assert r.status_code == 422, r.text  # only a mode that runs a denied operation
    r = c.client.post("/api/v1/audit/outcomes", json={"of": of, "mode": "warn"},
                      headers=c.headers("ana"))
    assert r.status_code == 201, r.text  # ran anyway, and the trail says so
    again = c.client.post("/api/v1/audit/outcomes", json={"of": of, "mode": "observe"},
                          headers=c.headers("ana"))
    assert again.status_code == 409, again.text
    [ran] = _outcomes_of(c, of)
    assert (ran.status, ran.allowed, ran.data["outcome"]["mode"]) == ("succeeded", False, "warn")
    allowed = _decide(c, c.state.governor.config.destinations.governed[0] + "o.csv")
    assert allowed["decision"]["allowed"] is True
    of = allowed["audit"]["id"]
    r = c.client.post("/api/v1/audit/outcomes", json={"of": of}, headers=c.headers("ana"))
    assert r.status_code == 201, r.text
    for body in ({"of": of}, {"of": of, "error": "OSError: disk full"}):
        again = c.client.post("/api/v1/audit/outcomes", json=body, headers=c.headers("ana"))
        assert again.status_code == 409, again.text
        assert "already has its outcome" in again.json()["detail"]
    [stored] = _outcomes_of(c, of)
    assert (stored.id, stored.status) == (r.json()["id"], "succeeded")
    assert c.state.governor.audit.verify().ok


@pytest.mark.parametrize("session", ["lacuna-server", "Lacuna-Users", "lacuna-console"])
def test_an_outcome_cannot_be_filed_under_the_servers_own_sessions(app_client: Any,
                                                                    session: str) -> None:
    c = app_client
    of = _decide(c, c.state.governor.config.destinations.governed[0] + f"{session}.csv"
                 )["audit"]["id"]
    r = c.client.post("/api/v1/audit/outcomes", json={"of": of, "session": session},
                      headers=c.headers("ana"))
    assert r.status_code == 422, r.text
    assert "is reserved: names starting 'lacuna-'" in r.text
    assert _outcomes_of(c, of) == []
    r = c.client.post("/api/v1/audit/outcomes", json={"of": of, "session": "nb-7f3a"},
                      headers=c.headers("ana"))
    assert r.status_code == 201, r.text
    [stored] = _outcomes_of(c, of)
    assert stored.data["who"]["session"] == "nb-7f3a"


WARN_CLIENT = """
import json, sys, warnings
import pandas as pd
import lacuna
lacuna.enable()
df = pd.DataFrame({"email": ["a@example.com", "b@example.com"], "name": ["Ann", "Bob"]})
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    df.to_csv(sys.argv[1], index=False)
print(json.dumps([f"{w.category.__name__}: {w.message}" for w in seen]), flush=True)
"""


def test_a_warn_mode_client_records_that_a_denied_export_ran(live: Any) -> None:
    """A client in ``warn`` mode runs a denied export: the server's trail holds the denial and
    its outcome, which says it ran in warn mode (as in-process), and nothing warns that an
    outcome went unrecorded."""
    work = live.root / "warn-client"
    work.mkdir()
    target = live.root / "Downloads" / "warned.csv"  # unmanaged, as the server classifies it
    config = work / "lacuna.yaml"
    config.write_text(yaml.safe_dump({
        "mode": "warn", "server": {"url": live.url, "deadline_ms": 4000, "timeout_ms": 3000},
        "lineage": {"openlineage": {"enabled": False}}}), encoding="utf-8")
    env = {**live.env, "LACUNA_CONFIG": str(config), "LACUNA_TOKEN": live.tokens["ana"],
           "LACUNA_HOME": str(work / "home")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(WARN_CLIENT), str(target)],
                          cwd=work,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert any(w.startswith("GovernanceWarning") for w in seen), seen
    assert not [w for w in seen if "outcome" in w], seen
    assert target.exists()  # warn: it ran
    records = httpx.get(f"{live.url}/api/v1/audit", params={"user": "ana", "limit": 200},
                        headers=live.headers("carla")).json()["records"]
    mine = [r for r in records if "warned.csv" in str(r["what"].get("destination"))]
    denials = [r for r in mine if r.get("kind") is None and not r["decision"]["allowed"]]
    assert denials, mine
    [ran] = [r for r in mine if r.get("kind") == "outcome"]
    assert ran["outcome"]["of"] == denials[0]["id"]
    assert (ran["outcome"]["status"], ran["outcome"]["mode"]) == ("succeeded", "warn")


def test_a_sealed_files_decryption_is_not_taken_by_deciding_a_write_to_its_path(
        app_client) -> None:
    """``POST /api/v1/decrypt``: the writer of a sealed file is the user of the decision its
    header names (``operation_id``), as this server's trail records it. A decision is only
    asked for, not proof of a write: an analyst who decided a write to another's path
    (writing nothing) was allowed to decrypt that file, and, later, its writer refused (two
    users' writes of the path). Now the file's own decision answers: its writer is allowed
    whoever else decided a write there, others refused, either way audited."""
    import secrets

    governed = app_client.state.governor.config.destinations.governed[0]
    path = f"{governed}sealed-{secrets.token_hex(3)}.csv"
    mallory = app_client.state.users.add(f"mallory-{secrets.token_hex(3)}", roles=("analyst",))
    hm = {"Authorization": f"Bearer {mallory}"}

    def decide(headers: dict[str, str]) -> str:
        answer = app_client.client.post("/api/v1/decide", headers=headers, json={"operation": {
            "action": "write", "classification": {"tier": "PUBLIC"}, "destination": path}})
        assert answer.json()["decision"]["allowed"] is True, answer.text
        return str(answer.json()["decision"]["operation_id"])

    def may(headers: dict[str, str], sealed_by: str) -> dict[str, Any]:
        answer = app_client.client.post("/api/v1/decrypt", headers=headers, json={
            "path": path, "written_by": "ana", "host": "ana-laptop",
            "operation_id": sealed_by})
        assert answer.status_code == 200, answer.text
        return answer.json()

    anas = decide(app_client.headers("ana"))
    assert may(app_client.headers("ana"), anas) == {"allowed": True}
    assert may(hm, anas)["allowed"] is False
    decide(hm)  # mallory asks to write ana's path (and writes nothing)
    taken = may(hm, anas)  # ana's file, as its header says
    assert taken["allowed"] is False
    assert "written by ana" in taken["refused"]
    assert may(app_client.headers("ana"), anas) == {"allowed": True}
    assert may(app_client.headers("jane"), anas) == {"allowed": True}  # a default steward


def test_a_sealed_files_writer_is_asked_on_its_host(app_client) -> None:
    """A path is a file on one host (as its clock is): ana's ``P`` on ana-laptop and
    mallory's ``P`` on mallory-pc are two files, each its writer's to decrypt, and neither
    is the other's, whichever host she names (before, the path alone was asked: two writers
    made both files a steward's, and a client on one host was judged by writes on another).
    A write decided without a host counts on every host."""
    import secrets

    governed = app_client.state.governor.config.destinations.governed[0]
    path = f"{governed}hosted-{secrets.token_hex(3)}.csv"
    mallory = app_client.state.users.add(f"mallory-{secrets.token_hex(3)}", roles=("analyst",))
    hm = {"Authorization": f"Bearer {mallory}"}
    ha = app_client.headers("ana")

    def decide(headers: dict[str, str], host: str | None) -> str:
        named = headers if host is None else {**headers, "X-Lacuna-Host": host}
        answer = app_client.client.post("/api/v1/decide", headers=named, json={"operation": {
            "action": "write", "classification": {"tier": "PUBLIC"}, "destination": path}})
        assert answer.json()["decision"]["allowed"] is True, answer.text
        return str(answer.json()["decision"]["operation_id"])

    def may(headers: dict[str, str], host: str, sealed_by: str) -> bool:
        answer = app_client.client.post("/api/v1/decrypt", headers=headers, json={
            "path": path, "written_by": "ana", "host": host, "operation_id": sealed_by})
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["allowed"])

    anas = decide(ha, "ana-laptop")
    mallorys = decide(hm, "mallory-pc")
    assert may(ha, "ana-laptop", anas) is True
    assert may(ha, "ANA-LAPTOP", anas) is True  # host names compare without case
    assert may(hm, "mallory-pc", mallorys) is True
    assert may(hm, "ana-laptop", anas) is False  # ana's file, whoever holds a copy
    assert may(hm, "ana-laptop", mallorys) is False  # her decision sealed a file elsewhere
    assert may(ha, "mallory-pc", anas) is False
    assert may(hm, "other-host", mallorys) is False  # no write of it there
    carlas = decide(app_client.headers("carla"), None)  # from no named host: any host's
    assert may(app_client.headers("carla"), "ana-laptop", carlas) is True
    assert may(ha, "ana-laptop", carlas) is False
    assert may(app_client.headers("jane"), "ana-laptop", anas) is True  # a default steward
