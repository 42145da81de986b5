"""The fast lane answers ``POST /api/v1/decide`` exactly as the FastAPI route does: the same
JSON, field for field and in the same order, for a spread of requests (the operation's id,
its evaluation time and the audit record's id aside), the first time a body is seen and when
its parse is remembered (lacuna.server.bodies); malformed bodies get the route's 422 every
time; a remembered body is bound to each caller, never to the one who sent it first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from lacuna.errors import ConfigError
from lacuna.server import fastlane
from lacuna.server.bodies import MAX_BODY_BYTES, Bodies, DecideBody, parse
from lacuna.server.hosts import HostBindings

PII = {"tier": "PROPRIETARY", "tags": ["PII", "GDPR"],
       "columns": {"email": {"classification": "pii", "pii_type": "email",
                             "sensitivity": "high"}}}
PHI = {"tier": "PROPRIETARY", "tags": ["PHI", "HIPAA"],
       "columns": {"diagnosis": {"classification": "phi", "pii_type": "diagnosis",
                                 "sensitivity": "high"}}}
INTERNAL = {"tier": "INTERNAL", "tags": ["FINANCIAL"]}
PUBLIC = {"tier": "PUBLIC"}


def _spread(app_client: Any) -> list[dict[str, Any]]:
    """Allowed and denied, recorded and dry, every action, odd fields, sources, an id."""
    cfg = app_client.state.governor.config.destinations
    downloads, governed = cfg.unmanaged[0], cfg.governed[0]
    out: list[dict[str, Any]] = []
    for classification in (PII, PHI, INTERNAL, PUBLIC):
        for action, dest in (("export", f"{downloads}/x.csv"), ("write", f"{governed}y.parquet"),
                             ("export", "s3://bucket/key.csv"), ("read", None),
                             ("transform", None)):
            out.append({"operation": {"action": action, "classification": classification,
                                      "destination": dest, "method": "pandas.DataFrame.to_csv",
                                      "variable": "df"}})
    out += [
        {"operation": {"action": "export", "classification": PII, "destination":
                       f"{downloads}/p.csv", "purpose": "quarterly report",
                       "environment": "production", "code_location": "nb.py:3"},
         "record": False},
        {"operation": {"action": "export", "classification": PII, "destination":
                       "postgresql://db.example/crm", "variable": "customers"},
         "session": "s-1"},
        {"operation": {"action": "export", "classification": PHI, "destination":
                       f"{downloads}/q.csv", "user": {"id": "ceo", "role": "admin"}}},
        {"operation": {"action": "write", "classification": PUBLIC, "destination":
                       f"{governed}s.csv", "sources": [{"name": "crm.customers",
                                                        "classification": PII}]}},
        {"operation": {"action": "export", "classification": INTERNAL, "id": "op-fixed-1",
                       "destination": f"{downloads}/i.csv"}, "record": False},
    ]
    return out


def _same(answer: dict[str, Any]) -> str:
    """The answer as JSON text in its own key order, without what differs per request."""
    decision = dict(answer["decision"])
    if not decision["operation_id"].startswith("op-fixed"):
        decision["operation_id"] = "*"
    decision["eval_ms"] = "*"
    audit = answer["audit"]
    return json.dumps({"decision": decision, "audit": sorted(audit) if audit else audit})


def test_the_fast_lane_answers_byte_for_byte_as_the_route(app_client, monkeypatch) -> None:
    client = app_client.client
    for user in ("ana", "jane"):
        h = {**app_client.headers(user), "content-type": "application/json"}
        for body in _spread(app_client):
            raw = json.dumps(body).encode()
            fast = [client.post("/api/v1/decide", content=raw, headers=h) for _ in range(2)]
            with monkeypatch.context() as m:
                m.setattr(fastlane, "wants", lambda scope: False)
                plain = client.post("/api/v1/decide", content=raw, headers=h)
            assert [r.status_code for r in (*fast, plain)] == [200, 200, 200], plain.text
            texts = {_same(r.json()) for r in (*fast, plain)}
            assert len(texts) == 1, (user, body, texts)
            # Not a stale answer: each request is its own operation, recorded on its own.
            if body["operation"].get("id") is None:
                ids = {r.json()["decision"]["operation_id"] for r in (*fast, plain)}
                assert len(ids) == 3
    assert app_client.state.governor.audit.verify().ok


def test_a_remembered_body_acts_as_each_caller(app_client) -> None:
    """ana's and jane's identical bodies: each decision is recorded as its own caller's."""
    audit = app_client.state.governor.audit
    body = _spread(app_client)[0]
    raw = json.dumps(body).encode()
    for user in ("ana", "jane", "ana", "root"):
        r = app_client.client.post("/api/v1/decide", content=raw, headers={
            **app_client.headers(user), "content-type": "application/json"})
        assert r.status_code == 200, r.text
        stored = audit.get(r.json()["audit"]["id"])
        assert stored is not None
        assert stored.user_id == user


@pytest.mark.parametrize("body", [
    b'{"operation": {"action": "fly"}}',
    b'{"operation": {"action": "export", "classification": {"tier": "x"}}}',
    b'{"operation": {"action": "export", "id": "no spaces allowed"}}',
    # shapes that once escaped as a plain-text 500 (an AttributeError deep in the model)
    b'{"operation": {"action": "export", "classification": {"columns": "email"}}}',
    b'{"operation": {"action": "export", "classification": {"columns": {"email": "pii"}}}}',
    b'{"operation": {"action": "export", "classification": "PUBLIC"}}',
    b'{"operation": {"action": "export", "classification": {"tags": "PII"}}}',
    b'{"operation": {"action": "read", "sources": [{"name": "t", "classification": "x"}]}}',
    b'{"operation": {"action": "export"}, "extra": 1}',
    b'{"operation": {"action": "export"}, "record": "maybe"}',
    b'[1, 2]',
    b'{nope',
])
def test_malformed_bodies_are_refused_every_time(app_client, body: bytes) -> None:
    h = {**app_client.headers("ana"), "content-type": "application/json"}
    codes = [app_client.client.post("/api/v1/decide", content=body, headers=h).status_code
             for _ in range(2)]
    assert codes[0] == codes[1]
    assert codes[0] in (400, 422), codes
    assert app_client.state.bodies.get("ana", body) is None


def test_bodies_are_remembered_by_caller_and_bytes_for_a_while(monkeypatch) -> None:
    import lacuna.server.bodies as bodies_module

    now = [100.0]
    monkeypatch.setattr(bodies_module.time, "monotonic", lambda: now[0])
    parsed = parse({"operation": {"action": "export", "classification": PII}})
    assert isinstance(parsed, DecideBody)
    assert parsed.record is True
    assert parse({"operation": {"action": "export"}, "record": 3}) is None
    memo = Bodies(size=2, ttl_s=5.0)
    memo.put("ana", b"a", parsed)
    assert memo.get("ana", b"a") is parsed
    assert memo.get("jane", b"a") is None  # another caller: parsed afresh
    now[0] += 5.0
    assert memo.get("ana", b"a") is None  # expired
    for key in (b"1", b"2", b"3"):
        memo.put("ana", key, parsed)
    assert memo.get("ana", b"1") is None  # the least recently used went first
    assert memo.get("ana", b"3") is parsed
    big = b" " * (MAX_BODY_BYTES + 1)
    memo.put("ana", big, parsed)
    assert memo.get("ana", big) is None


def _old_wire(decision: Any) -> dict[str, Any]:
    """decision_to_wire as it was written before it rendered each list once."""
    out = decision.to_dict()
    out["alternatives"] = [
        {"title": a.title, "code": a.code, "note": a.note, "kind": a.kind,
         "params": dict(a.params)} for a in decision.alternatives]
    out["policies"] = [
        {"package": p.package, "id": p.id, "title": p.title, "owner": p.owner,
         "version": p.version, "compliance": list(p.compliance), "effect": p.effect}
        for p in decision.policies]
    out["eval_ms"] = decision.eval_ms
    return out


def _old_key(decision: Any, ctx: Any, revision: str) -> str | None:
    """Memo.key as it was written before it set the input's code location in place."""
    from dataclasses import replace

    from lacuna.alternatives import host_for
    from lacuna.policy.inputs import build_input
    from lacuna.policy.jsontext import dumps_sorted

    op = ctx.operation
    if op.exception_id:
        return None
    doc = build_input(replace(op, id="", code_location=None))
    doc.pop("time", None)
    return dumps_sorted({
        "revision": revision, "policy": decision.policy_id, "input": doc,
        "kinds": [[a.kind, a.title, a.code, a.note, dict(a.params)]
                  for a in decision.alternatives],
        "variable": op.variable, "method": op.method, "lacuna": ctx.lacuna,
        "import": ctx.import_line, "target": ctx.target,
        "host": host.key() if (host := host_for(op)) is not None else None})


def test_the_wire_answer_and_the_memo_key_are_the_same_text_as_before(app_client) -> None:
    from lacuna.alternatives import Memo, context_for
    from lacuna.identity import Principal
    from lacuna.remote.wire import decision_to_wire
    from lacuna.server.routes_api import bound

    state = app_client.state
    gov = state.governor
    seen = 0
    for body in _spread(app_client):
        parsed = parse(body)
        assert parsed is not None
        for code_location in (None, "nb.py:7"):
            op = bound(state, parsed.operation, Principal("ana", ("analyst",)))
            op = type(op)(**{**{f: getattr(op, f) for f in op.__slots__},
                             "code_location": code_location})
            decision = gov.decide(op)
            assert json.dumps(decision_to_wire(decision)) == json.dumps(_old_wire(decision))
            ctx = context_for(op, gov.config, gov.engine.decide, gov.destination)
            assert Memo.key(decision, ctx, "r1") == _old_key(decision, ctx, "r1")
            seen += bool(decision.alternatives) and bool(decision.policies)
    assert seen >= 4  # denials with alternatives and policies were compared


def test_the_server_names_lacuna_without_walking_its_own_stack(app_client, monkeypatch) -> None:
    """The callers' code is on the clients: the server's alternatives say ``import lacuna``
    and ``lacuna.``, as its own frames (uvicorn, asyncio, anyio) always made them say."""
    import lacuna.alternatives as alternatives

    def walked(*_: Any) -> None:
        raise AssertionError("the server walked its stack for the caller's name")

    monkeypatch.setattr(alternatives, "caller_frame", walked)
    assert app_client.state.governor.local_callers is False
    body = {"operation": {**_spread(app_client)[0]["operation"], "variable": "frame_1"},
            "record": False}
    r = app_client.client.post("/api/v1/decide", json=body, headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    codes = [a["code"] for a in r.json()["decision"]["alternatives"] if a["code"]]
    assert codes
    assert any("import lacuna" in c for c in codes)
    assert all("import lacuna" in c for c in codes if "lacuna." in c)


@pytest.mark.parametrize("kind", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_said_to_be_json_is_refused_every_time(app_client, kind) -> None:
    """The decide route reads only a body said to be JSON; the fast lane (which answers a
    caller whose token is cached, so from its second request on) must not read others either:
    the first and the later identical requests get the same 422."""
    body = json.dumps(_spread(app_client)[0]).encode()
    h = app_client.headers("ana")
    if kind is not None:
        h = {**h, "content-type": kind}
    codes = [app_client.client.post("/api/v1/decide", content=body, headers=h).status_code
             for _ in range(3)]
    assert codes == [422, 422, 422]
    ok = {**h, "content-type": "application/json; charset=utf-8"}
    assert app_client.client.post("/api/v1/decide", content=body, headers=ok).status_code == 200


def test_an_allowed_write_records_its_destinations_retention_clock(app_client) -> None:
    """The server keeps a written file's clock (lacuna.lineage.seen), on the fast lane too:
    the first allowed write starts it, a later write keeps it, a copy takes its source's, and
    a denial or a dry run records none."""
    from datetime import datetime

    governed = app_client.state.governor.config.destinations.governed[0]
    downloads = app_client.state.governor.config.destinations.unmanaged[0]
    first, copy = f"{governed}clock-a.csv", f"{governed}clock-b.csv"

    def decide(body: dict[str, Any]) -> bool:
        answer = app_client.client.post("/api/v1/decide", json=body,
                                        headers=app_client.headers("ana"))
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["decision"]["allowed"])

    def seen(path: str) -> str | None:
        answer = app_client.client.get("/api/v1/lineage/known", params={"dataset": path},
                                       headers=app_client.headers("ana"))
        return answer.json()["first_seen"]

    assert decide({"operation": {"action": "write", "classification": PUBLIC,
                                 "destination": first}})  # no sources: the fast lane's case
    started = seen(first)
    assert started is not None
    assert decide({"operation": {"action": "write", "classification": PUBLIC,
                                 "destination": first}})
    assert seen(first) == started  # written again: the clock does not restart
    assert decide({"operation": {"action": "write", "classification": PUBLIC,
                                 "destination": copy, "sources": [
                                     {"name": first, "classification": PUBLIC}]}})
    assert seen(copy) == started  # a copy is as old as its source
    assert not decide({"operation": {"action": "export", "classification": PII,
                                     "destination": f"{downloads}/clock-c.csv"}})
    assert decide({"operation": {"action": "write", "classification": PUBLIC,
                                 "destination": f"{governed}clock-d.csv"}, "record": False})
    assert seen(f"{downloads}/clock-c.csv") is None  # denied: nothing written
    assert seen(f"{governed}clock-d.csv") is None  # a dry run writes nothing
    assert datetime.fromisoformat(started).tzinfo is not None


def test_a_write_whose_clock_cannot_be_recorded_is_denied(app_client, monkeypatch) -> None:
    """Fail closed: a file whose retention clock the server cannot keep could outlive its
    window, so its write is denied, and said so."""
    from lacuna.lineage import seen

    def broken(*_: Any, **__: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(seen, "record_write", broken)
    governed = app_client.state.governor.config.destinations.governed[0]
    answer = app_client.client.post("/api/v1/decide", headers=app_client.headers("ana"), json={
        "operation": {"action": "write", "classification": PUBLIC,
                      "destination": f"{governed}clock-broken.csv"}}).json()["decision"]
    assert answer["allowed"] is False
    assert "retention clock is kept by the server" in answer["reasoning"]


def test_a_denied_write_is_decided_and_recorded_on_the_event_loop(app_client, monkeypatch
                                                                   ) -> None:
    """Only an allowed write of a local file hops to a worker thread (to keep its retention
    clock). Sending every recorded write there, denied ones too (the seed's export to
    ~/Downloads), lost the event loop's inline group commits: twice the CPU per decision and
    half the decisions/s in benchmarks/bench_server.py."""
    hops: list[str] = []
    real = fastlane.to_thread.run_sync

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(fastlane.to_thread, "run_sync", counted)
    cfg = app_client.state.governor.config.destinations
    for body, allowed in (
            ({"action": "export", "classification": PII,
              "destination": f"{cfg.unmanaged[0]}/denied.csv"}, False),
            ({"action": "write", "classification": PUBLIC,
              "destination": f"{cfg.governed[0]}allowed.csv"}, True)):
        answer = app_client.client.post("/api/v1/decide", json={"operation": body},
                                        headers=app_client.headers("ana"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"]["allowed"] is allowed
        assert answer.json()["audit"] is not None  # recorded either way
        assert hops == ([] if not allowed else ["clocked"]), hops


def _clock_of(app_client: Any, path: str, host: str | None, fingerprint: str | None = None
              ) -> str | None:
    """The clock ``GET /api/v1/lineage/known`` answers for ``path`` asked from ``host``."""
    h = app_client.headers("ana")
    if host is not None:
        h = {**h, "X-Lacuna-Host": host}
    params = {"dataset": path, **({"fingerprint": fingerprint} if fingerprint else {})}
    answer = app_client.client.get("/api/v1/lineage/known", params=params, headers=h)
    assert answer.status_code == 200, answer.text
    return answer.json()["first_seen"]


@pytest.mark.parametrize("sources", [False, True], ids=["event-loop", "worker-thread"])
def test_two_hosts_writing_one_path_keep_two_clocks(app_client, sources) -> None:
    """The server keys a file's retention clock by the client's host (X-Lacuna-Host) and its
    path: host-b writing /…/report.csv does not take the (older) clock of host-a's file of
    that name, and host-a's keeps its own (before: one clock per path, shared). On the fast
    lane's event loop and on its worker thread (a write with sources) alike."""
    from datetime import UTC, datetime

    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import saw

    governed = app_client.state.governor.config.destinations.governed[0]
    path = f"{governed}hosts-{sources}/report.csv"
    src = f"{governed}hosts-{sources}/input.csv"
    store = app_client.state.governor.lineage_store
    old = datetime(2021, 3, 4, tzinfo=UTC)

    def write(host: str) -> None:
        op: dict[str, Any] = {"action": "write", "classification": PUBLIC, "destination": path}
        if sources:
            op["sources"] = [{"name": src, "classification": PUBLIC}]
        answer = app_client.client.post("/api/v1/decide", json={"operation": op}, headers={
            **app_client.headers("ana"), "X-Lacuna-Host": host})
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"]["allowed"] is True

    write("host-a")
    # host-a's file holds data from 2021 (the dataset file://host-a + path)
    saw(store, DatasetRef("file://host-a", path), old)
    assert _clock_of(app_client, path, "host-a") == old.isoformat()
    assert _clock_of(app_client, path, "host-b") is None  # nothing written there yet
    write("host-b")
    b = _clock_of(app_client, path, "host-b")
    assert b is not None
    assert datetime.fromisoformat(b) > old  # its own clock, started now
    assert _clock_of(app_client, path, "host-a") == old.isoformat()
    # a host's source is its own: host-b's input.csv is not host-a's
    saw(store, DatasetRef("file://host-a", src), old)
    write("host-b")
    assert _clock_of(app_client, path, "host-b") == b


def test_a_clock_recorded_without_a_host_still_counts_for_the_path(app_client) -> None:
    """A clock recorded before clients named their host (or by one that names none) is the
    path's on every host: an upgrade never makes a clock later. A header that is not a host
    name is refused (422) on both lanes, and nothing is recorded."""
    from datetime import UTC, datetime

    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import saw

    governed = app_client.state.governor.config.destinations.governed[0]
    path = f"{governed}legacy/report.csv"
    old = datetime(2020, 1, 1, tzinfo=UTC)
    saw(app_client.state.governor.lineage_store, DatasetRef.of(path), old)
    assert _clock_of(app_client, path, "host-c") == old.isoformat()
    assert _clock_of(app_client, path, None) == old.isoformat()
    bad = {**app_client.headers("ana"), "X-Lacuna-Host": "a/b"}
    answer = app_client.client.post("/api/v1/decide", headers=bad, json={"operation": {
        "action": "write", "classification": PUBLIC, "destination": f"{governed}legacy/x.csv"}})
    assert answer.status_code == 422
    assert "X-Lacuna-Host" in answer.json()["detail"]
    assert _clock_of(app_client, f"{governed}legacy/x.csv", None) is None
    assert app_client.client.get("/api/v1/lineage/known", headers=bad, params={
        "dataset": path}).status_code == 422


def test_a_copy_by_hand_takes_the_clock_of_its_content(app_client) -> None:
    """``cp a.csv b.csv`` is no governed write, so the server saw no write of b.csv: asked
    with b.csv's content fingerprint, it answers the clock of that content (recorded when a
    run's output was recorded with it), and b.csv keeps it, so a write derived from b.csv
    takes it too (before: null, and the derived file's clock started at its write). Other
    content, or no fingerprint, is not that clock."""
    from datetime import UTC, datetime

    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import saw

    governed = app_client.state.governor.config.destinations.governed[0]
    original, copy, derived = (f"{governed}hand/{n}.csv" for n in ("a", "b", "c"))
    store = app_client.state.governor.lineage_store
    fp = "sha256:" + "ab" * 32
    h = {**app_client.headers("ana"), "X-Lacuna-Host": "host-a"}
    old = datetime(2022, 5, 6, tzinfo=UTC)

    def decide(destination: str, sources: list[str]) -> None:
        answer = app_client.client.post("/api/v1/decide", headers=h, json={"operation": {
            "action": "write", "classification": PUBLIC, "destination": destination,
            "sources": [{"name": s, "classification": PUBLIC} for s in sources]}})
        assert answer.json()["decision"]["allowed"] is True, answer.text

    decide(original, [])
    saw(store, DatasetRef("file://host-a", original), old)
    _post_written(app_client, "6d1c7a52-0f43-4b8e-9a71-3c2d1e0f9a8b", original, fp, h)
    assert _clock_of(app_client, copy, "host-a") is None  # by name: never written
    assert _clock_of(app_client, copy, "host-a", "sha256:" + "cd" * 32) is None
    assert _clock_of(app_client, copy, "host-a", fp) == old.isoformat()  # by its content
    decide(derived, [copy])  # derived from the copy: as old as it
    assert _clock_of(app_client, derived, "host-a") == old.isoformat()


# -- which client hosts a caller may speak for (client_hosts, lacuna.server.hosts) -------------

@pytest.fixture
def bound(app_client: Any) -> Iterator[Any]:
    """``app_client`` with ana bound to ``ana-laptop`` and jane to ``j-1`` and ``j-2``; joe
    (like everyone else) unbound."""
    state = app_client.state
    before = state._hosts
    state._hosts = HostBindings({"ana": ["ana-laptop"], "Jane": ["j-1", "j-2"]})
    try:
        yield app_client
    finally:
        state._hosts = before


def _post_written(app: Any, run_id: str, path: str, fingerprint: str,
                  headers: dict[str, str]) -> None:
    """ana's succeeded export run that wrote ``path`` with content ``fingerprint``, sent to
    the server as OpenLineage events."""
    from openlineage.client.serde import Serde

    from lacuna.lineage.openlineage import run_to_events
    from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
    from lacuna.model import Classification

    run = Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED, user_id="ana",
              outputs=(DatasetVersion(dataset=DatasetRef.of(path),
                                      classification=Classification(),
                                      fingerprint=fingerprint),))
    for event in run_to_events(run):
        assert app.client.post("/api/v1/lineage", headers=headers, json=json.loads(
            Serde.to_json(event))).status_code == 201


def _headers(app: Any, user: str, host: str | None) -> dict[str, str]:
    h = app.headers(user)
    return h if host is None else {**h, "X-Lacuna-Host": host}


def _decide_write(app: Any, user: str, host: str | None, path: str) -> Any:
    return app.client.post("/api/v1/decide", headers=_headers(app, user, host), json={
        "operation": {"action": "write", "classification": PUBLIC, "destination": path}})


def _known(app: Any, user: str, host: str | None, path: str) -> Any:
    return app.client.get("/api/v1/lineage/known", params={"dataset": path},
                          headers=_headers(app, user, host))


def _refused_403(app: Any, user: str, path: str) -> int:
    return sum(1 for r in app.state.governor.audit.list(limit=200)
               if r.policy_id == "lacuna.server.http_403" and r.user_id == user
               and path in (r.data.get("how") or {}).get("method", ""))


def test_a_bound_user_speaks_only_for_their_hosts(bound) -> None:
    """ana, bound to ana-laptop: her writes' clocks are kept under that host whatever case
    she spells it in, or when she names none; naming another host is a 403, audited, on the
    fast lane (her token seen) and the route alike, and nothing is recorded for that host
    (before: any host was taken on her word, so she could read or move its clocks)."""
    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import first_seen, saw

    store = bound.state.governor.lineage_store
    path = f"{bound.state.governor.config.destinations.governed[0]}bound/out.csv"
    old = datetime(2021, 1, 2, tzinfo=UTC)
    assert _decide_write(bound, "ana", "ana-laptop", path).json()["decision"]["allowed"] is True
    saw(store, DatasetRef("file://ana-laptop", path), old)
    for host in ("ana-laptop", "ANA-Laptop", None):  # one host, one clock
        answer = _known(bound, "ana", host, path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["first_seen"] == old.isoformat()
    before = _refused_403(bound, "ana", "/api/v1/decide")
    for _ in range(2):  # the first and a cached token's request (the fast lane) alike
        answer = _decide_write(bound, "ana", "joe-desktop", path)
        assert answer.status_code == 403, answer.text
        assert "ana-laptop" in answer.json()["detail"]
    assert _refused_403(bound, "ana", "/api/v1/decide") == before + 2
    assert first_seen(store, DatasetRef("file://joe-desktop", path)) is None
    assert _known(bound, "ana", "joe-desktop", path).status_code == 403
    unnamed = path.replace("out.csv", "unnamed.csv")  # no header, fast lane: her one host
    assert _decide_write(bound, "ana", None, unnamed).json()["decision"]["allowed"] is True
    assert first_seen(store, DatasetRef("file://ana-laptop", unnamed)) is not None
    assert first_seen(store, DatasetRef.of(unnamed)) is None  # no host-less clock
    due = bound.client.get("/api/v1/exceptions/files/due", params={"host": "joe-desktop"},
                           headers=bound.headers("ana"))
    assert due.status_code == 403, due.text
    due = bound.client.get("/api/v1/exceptions/files/due", params={"host": "ana-laptop"},
                           headers=bound.headers("ana"))
    assert due.status_code == 200, due.text


def test_a_bound_host_is_its_users_alone_and_the_unbound_are_believed(bound) -> None:
    """joe is bound to nothing: a host the setting binds to ana (any spelling) is a 403 to
    him, any other host he names is his word, as before the setting."""
    path = f"{bound.state.governor.config.destinations.governed[0]}bound/joe.csv"
    for host in ("ana-laptop", "ANA-LAPTOP"):
        assert _decide_write(bound, "joe", host, path).status_code == 403
        assert _known(bound, "joe", host, path).status_code == 403
    # nor by naming the host in the dataset, as the server keys its clocks
    named = f"file://ana-laptop{path}"
    assert _known(bound, "joe", None, named).status_code == 403
    assert bound.client.post("/api/v1/lineage/runs/any-run/fingerprint", headers=_headers(
        bound, "joe", None), json={"dataset": named, "fingerprint": "sha256:" + "0" * 64}
    ).status_code == 403
    assert _known(bound, "ana", None, named).status_code == 200
    assert _known(bound, "ana", None, f"file://joe-desktop{path}").status_code == 403
    answer = _decide_write(bound, "joe", "joe-desktop", path)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"]["allowed"] is True
    assert _known(bound, "joe", "joe-desktop", path).json()["first_seen"] is not None
    assert _known(bound, "joe", None, path).json()["first_seen"] is None  # host-less: none


def test_a_user_bound_to_several_hosts_names_one(bound) -> None:
    """jane (bound as Jane: names compare canonically) speaks for j-1 and j-2: either is
    taken, none is a 422 (no host-less clock, which would count on every host), another a
    403."""
    path = f"{bound.state.governor.config.destinations.governed[0]}bound/jane.csv"
    for host in ("j-1", "j-2"):
        assert _known(bound, "jane", host, path).status_code == 200
    answer = _known(bound, "jane", None, path)
    assert answer.status_code == 422
    assert "j-1, j-2" in answer.json()["detail"]
    assert _decide_write(bound, "jane", None, path).status_code == 422
    assert _decide_write(bound, "jane", "j-3", path).status_code == 403


def test_the_audit_record_says_whether_the_server_vouches_for_the_host(bound) -> None:
    """Each recorded decision names the host its request spoke for and whether the server
    vouches for it: a bound user's (named in any case, or not named) is verified, an unbound
    user's named host is their word (``host_verified`` false), on the route (a first token)
    and the fast lane (a cached one) alike; a request naming none from an unbound user names
    none. The chain verifies, and ``lacuna audit list`` marks the unverified host (before,
    the record said nothing of the host: one taken on an unbound caller's word looked like
    any other)."""
    from typer.testing import CliRunner

    from lacuna.cli import app as cli

    audit = bound.state.governor.audit
    path = f"{bound.state.governor.config.destinations.governed[0]}bound/said.csv"
    seen = []
    for user, host in (("joe", "joe-desktop"), ("joe", "joe-desktop"), ("ana", "ANA-Laptop"),
                       ("ana", None), ("joe", None)):
        answer = _decide_write(bound, user, host, path)
        assert answer.status_code == 200, answer.text
        who = audit.get(answer.json()["audit"]["id"]).data["who"]
        seen.append((who.get("host"), who.get("host_verified")))
    assert seen == [("joe-desktop", False), ("joe-desktop", False), ("ana-laptop", True),
                    ("ana-laptop", True), (None, None)]
    refused = bound.client.post("/api/v1/audit/refusals", headers=_headers(
        bound, "joe", "joe-desktop"), json={"operation": {"action": "write", "destination":
                                                          path}, "reasoning": "held",
                                            "policy_id": "lacuna.mount"})
    assert refused.status_code == 201, refused.text
    who = audit.get(refused.json()["audit"]["id"]).data["who"]
    assert (who["host"], who["host_verified"]) == ("joe-desktop", False)
    assert audit.verify().ok
    listed = CliRunner().invoke(cli, ["audit", "list", "--dataset", path, "--db",
                                      str(audit.url)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("joe @joe-desktop (host not verified)") == 3
    assert listed.output.count("ana @ana-laptop ") == 2
    assert listed.output.count("not verified") == 3


def test_a_hostless_clock_only_ever_makes_a_hosts_clock_earlier(app_client) -> None:
    """A clock recorded without a host (an unbound ``curl`` naming none) counts for that path
    on every host, and only ever earlier (docs/server.md, "Whose host"): earlier than a host's
    own, it is that host's, by name, by content and for a write there, and the host's write
    records nothing later beside it; later than a host's own, it changes nothing there, and
    neither does a later host-less write. So it can make a host's file due sooner, never
    later, and no host's clock is lost behind it (rows are never removed)."""
    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import first_seen_of, saw

    store = app_client.state.governor.lineage_store
    governed = app_client.state.governor.config.destinations.governed[0]
    early, late = datetime(2020, 3, 4, tzinfo=UTC), datetime(2022, 5, 6, tzinfo=UTC)
    fp = "sha256:" + "5e" * 32
    p, q = f"{governed}hostless/p.csv", f"{governed}hostless/q.csv"
    saw(store, DatasetRef("file://host-a", p), late)
    saw(store, DatasetRef.of(p), early)  # host-less, earlier than host-a's own
    assert _clock_of(app_client, p, "host-a") == early.isoformat()
    assert _clock_of(app_client, p, "host-b") == early.isoformat()  # on every host
    assert _clock_of(app_client, p, "host-a", fp) == early.isoformat()
    assert _known(app_client, "joe", "host-a", p).status_code == 200
    assert _decide_write(app_client, "joe", "host-a", p).json()["decision"]["allowed"]
    assert first_seen_of(store, [DatasetRef("file://host-a", p)]) == {
        DatasetRef("file://host-a", p): early}
    assert _clock_of(app_client, p, "host-a") == early.isoformat()
    saw(store, DatasetRef("file://host-a", q), early)
    saw(store, DatasetRef.of(q), late)  # host-less, later than host-a's own
    assert _decide_write(app_client, "joe", None, q).json()["decision"]["allowed"]
    assert _clock_of(app_client, q, "host-a") == early.isoformat()
    assert _clock_of(app_client, q, None) == late.isoformat()
    assert _clock_of(app_client, q, "host-b") == late.isoformat()


def test_a_bound_users_exception_file_is_kept_under_the_hosts_one_spelling(bound) -> None:
    """ana (bound to ana-laptop) reports a file written under her exception as on
    ``ANA-LAPTOP``: it is recorded under the settings' spelling, so once the exception ends it
    is due on ana-laptop (in any case) and her sweep closes it there (before, it was recorded
    as spelt and never among the files due on ana-laptop: that host's sweep never deleted
    it)."""
    from lacuna.exceptions.files import on_client

    app = bound
    target = f"{app.state.governor.config.destinations.unmanaged[0]}/spelt.csv"
    pii = {"action": "export", "classification": PII, "destination": target}
    filed = app.client.post("/api/v1/exceptions", headers=app.headers("ana"), json={
        "operation": pii, "purpose": "Board of Directors Q4 customer metrics presentation",
        "business_justification": "The board needs per-customer numbers for its review"})
    assert filed.status_code == 201, filed.text
    exc = filed.json()["id"]
    approved = app.client.post(f"/api/v1/exceptions/{exc}/approve",
                               headers=app.headers("jane"), json={})
    assert approved.status_code == 200, approved.text
    decided = app.client.post("/api/v1/decide", headers=_headers(app, "ana", "ana-laptop"),
                              json={"operation": {**pii, "exception_id": exc}})
    assert decided.json()["decision"]["allowed"] is True, decided.text
    reported = app.client.post(f"/api/v1/exceptions/{exc}/files", headers=app.headers("ana"),
                               json={"operation_id": decided.json()["decision"]["operation_id"],
                                     "host": "ANA-LAPTOP", "path": target})
    assert reported.status_code == 201, reported.text
    assert on_client(reported.json()["path"]) == ("ana-laptop", target)
    assert app.client.post(f"/api/v1/exceptions/{exc}/deny", headers=app.headers("jane"),
                           json={"comment": "the board met"}).status_code == 200
    for host in ("ana-laptop", "Ana-Laptop"):
        due = app.client.get("/api/v1/exceptions/files/due", params={"host": host},
                             headers=app.headers("ana"))
        assert [f["path"] for f in due.json()["files"] if f["exception_id"] == exc] == [target]
    swept = app.client.post(f"/api/v1/exceptions/{exc}/files/swept", headers=app.headers("ana"),
                            json={"host": "ana-LAPTOP", "path": target, "step": "file-deleted"})
    assert swept.status_code == 200, swept.text
    due = app.client.get("/api/v1/exceptions/files/due", params={"host": "ana-laptop"},
                         headers=app.headers("ana"))
    assert [f for f in due.json()["files"] if f["exception_id"] == exc] == []


def test_client_hosts_settings_are_checked_at_start() -> None:
    """A user bound to no host, or a host no client can send, stops the start, named."""
    from lacuna.server.settings import load_settings

    settings = load_settings(environ={}, client_hosts={"ana": ["ana-laptop", "büro 1"]})
    assert HostBindings(settings.client_hosts).hosts_of("ANA") == ("ana-laptop",
                                                                   "b%C3%BCro%201")
    for bad in ({"ana": []}, {"ana": [""]}, {"ana": ["x" * 300]}):
        with pytest.raises(ConfigError, match="client_hosts"):
            load_settings(environ={}, client_hosts=bad)


def test_a_host_renamed_keeps_its_files_clocks_by_their_content(app_client) -> None:
    """A host renamed (old-name -> new-name) names paths the server keeps no clock for under
    the new name; asked with the file's fingerprint, as a client asks, the server answers the
    clock of that content (recorded with the write's run) and keeps it for the new name, so a
    write there afterwards does not start it again: the earlier clock wins. Without the
    fingerprint nothing is known of the new name (the client then takes its sidecar's, when
    trusted: tests/server/test_client_local_state.py)."""

    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import saw

    path = f"{app_client.state.governor.config.destinations.governed[0]}renamed/out.csv"
    store = app_client.state.governor.lineage_store
    fp = "sha256:" + "5e" * 32
    old = datetime(2021, 7, 8, tzinfo=UTC)
    assert _decide_write(app_client, "ana", "old-name", path).json()["decision"]["allowed"]
    saw(store, DatasetRef("file://old-name", path), old)
    _post_written(app_client, "0b5d1e1c-56b5-4c4e-a0a1-7d3f1d2c9e10", path, fp,
                  _headers(app_client, "ana", "old-name"))
    assert _known(app_client, "ana", "new-name", path).json()["first_seen"] is None
    answer = app_client.client.get("/api/v1/lineage/known", params={
        "dataset": path, "fingerprint": fp}, headers=_headers(app_client, "ana", "new-name"))
    assert answer.json()["first_seen"] == old.isoformat()
    assert _decide_write(app_client, "ana", "new-name", path).json()["decision"]["allowed"]
    assert _known(app_client, "ana", "new-name", path).json()["first_seen"] == old.isoformat()
