"""``GET /api/v1/retention/holds`` and ``POST /api/v1/retention/rule-holds`` on the live server,
and the client a mount in server mode reads them with (:class:`ServerKeeping`)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from lacuna.config import LacunaServerConfig, load_config
from lacuna.errors import LacunaError
from lacuna.remote.client import ServerClient, ServerKeeping, ServerUnavailable
from live_server import free_port

HOLDS = "/api/v1/retention/holds"


@pytest.fixture
def server_gov(live, monkeypatch):
    """A governor on the live server's state store, signing as the server does."""
    from lacuna.governor import Governor

    monkeypatch.setenv("LACUNA_HOME", str(live.root / "home"))
    cfg = load_config(live.config)
    gov = Governor(cfg.model_copy(update={"audit": cfg.audit.model_copy(update={"url": live.db})}))
    yield gov
    gov.close()


def _keeping(live, user="ana"):
    client = ServerClient(LacunaServerConfig(url=live.url, token=live.tokens[user]))
    return ServerKeeping(client, load_config(live.config)), client


def test_holds_are_read_with_a_version_and_each_role_sees_what_it_may(live, server_gov, tmp_path):
    from lacuna.retention import place_hold, release_hold

    data = live.root / "governed" / f"evidence-{tmp_path.name}.csv"
    data.write_text("id\n1\n")
    hold = place_hold(server_gov, str(data), reason="litigation 2026-17")
    try:
        answer = httpx.get(f"{live.url}{HOLDS}", headers=live.headers("ana")).json()
        [mine] = [h for h in answer["holds"] if h["id"] == hold.id]
        assert mine == {**hold.to_dict(), "unrecorded": None}
        assert answer["rule_packages"] == []
        again = httpx.get(
            f"{live.url}{HOLDS}", params={"known": answer["version"]}, headers=live.headers("ana")
        ).json()
        assert again == {"version": answer["version"], "rule_packages": [], "unchanged": True}
        # the client a mount uses: the same holds, kept while the version holds
        keeping, client = _keeping(live)
        try:
            got = {h.id: h for h in keeping.holds()}[hold.id]
            assert got == hold
            assert {h.id: h for h in keeping.holds()}[hold.id] == hold  # unchanged answer
            assert keeping.rule_hold([str(data)]) is None  # no retention rule on the server
        finally:
            client.close()
    finally:
        release_hold(server_gov, hold.id)
    after = httpx.get(
        f"{live.url}{HOLDS}", params={"known": answer["version"]}, headers=live.headers("ana")
    ).json()
    assert after["version"] != answer["version"]
    assert hold.id not in {h["id"] for h in after["holds"]}

    # the history: stewards and compliance officers only; every caller authenticated
    history = httpx.get(
        f"{live.url}{HOLDS}", params={"all": "true"}, headers=live.headers("carla")
    ).json()
    [old] = [h for h in history["holds"] if h["id"] == hold.id]
    assert old["released_by"] == server_gov.config.user.id
    refused = httpx.get(f"{live.url}{HOLDS}", params={"all": "true"}, headers=live.headers("ana"))
    assert refused.status_code == 403
    assert "needs one of data_steward, compliance_officer" in refused.json()["detail"]
    assert httpx.get(f"{live.url}{HOLDS}").status_code == 401
    assert (
        httpx.post(f"{live.url}/api/v1/retention/rule-holds", json={"items": []}).status_code == 401
    )


def test_rule_holds_take_items_as_a_rule_sees_them(live):
    item = {
        "path": "/data/inquiry/a.csv",
        "tier": "INTERNAL",
        "tags": ["PII"],
        "written_at": "2026-01-01T00:00:00+00:00",
        "clock": "2026-01-01T00:00:00+00:00",
    }
    ok = httpx.post(
        f"{live.url}/api/v1/retention/rule-holds",
        json={"items": [item, item]},
        headers=live.headers("ana"),
    )
    assert ok.status_code == 200
    assert ok.json() == {"answers": [None, None]}  # the live server's bundle holds nothing
    for bad in (
        {**item, "tier": None},
        {**item, "kind": "audit"},
        {**item, "mine": 1},
        {**item, "clock": "yesterday"},
    ):
        answer = httpx.post(
            f"{live.url}/api/v1/retention/rule-holds",
            json={"items": [bad]},
            headers=live.headers("ana"),
        )
        assert answer.status_code == 422, bad
    too_many = httpx.post(
        f"{live.url}/api/v1/retention/rule-holds",
        json={"items": [item] * 1001},
        headers=live.headers("ana"),
    )
    assert too_many.status_code in (413, 422)


def test_list_holds_through_the_server(live, server_gov, tmp_path, monkeypatch):
    from lacuna.retention import place_hold, release_hold

    data = live.root / "governed" / f"listed-{tmp_path.name}.csv"
    data.write_text("id\n1\n")
    hold = place_hold(server_gov, str(data), reason="audit 2026")
    client_config = tmp_path / "lacuna.yaml"
    client_config.write_text(f"server: {{url: '{live.url}', token: '{live.tokens['ana']}'}}\n")
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    from lacuna.cli import app

    try:
        out = CliRunner().invoke(
            app, ["retention", "list-holds", "--json", "--config", str(client_config)]
        )
        assert out.exit_code == 0, out.output
        assert hold.id in {h["id"] for h in json.loads(out.output)}
        refused = CliRunner().invoke(
            app, ["retention", "list-holds", "--all", "--config", str(client_config)]
        )
        assert refused.exit_code != 0
        assert "HTTP 403" in str(refused.exception) + refused.output
    finally:
        release_hold(server_gov, hold.id)


def test_a_server_that_does_not_answer_is_an_error_never_no_holds():
    client = ServerClient(
        LacunaServerConfig(url=f"http://127.0.0.1:{free_port()}", token="t", deadline_ms=300)
    )
    keeping = ServerKeeping(client, load_config(None))
    try:
        with pytest.raises(ServerUnavailable, match="unreachable"):
            keeping.holds()
        with pytest.raises(ServerUnavailable):
            keeping.rule_hold(["/nowhere"])
    finally:
        client.close()
    assert issubclass(ServerUnavailable, LacunaError)


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"holds": []},
        {"version": "v", "rule_packages": [], "holds": [{"id": 1}]},
        {"version": "v", "rule_packages": "x", "holds": []},
        {
            "version": "v",
            "rule_packages": [],
            "holds": [
                {"id": "a", "dataset": "/d", "reason": "r", "placed_by": "p", "placed_at": "never"}
            ],
        },
    ],
)
def test_an_answer_that_is_not_holds_is_an_error(answer, monkeypatch):
    client = ServerClient(LacunaServerConfig(url="http://127.0.0.1:9", token="t"))
    monkeypatch.setattr(client, "call", lambda *_a, **_k: answer)
    with pytest.raises(ServerUnavailable, match="is not the legal holds"):
        ServerKeeping(client, load_config(None)).holds()
    client.close()


def test_a_rule_sees_the_servers_clock_not_the_owners_sidecar(tmp_path, monkeypatch):
    """A retention rule's input for a file the mount is asked to delete carries the clock the
    server keeps for it: a sidecar the owner signed with their own key saying the data is
    years old took it out of a rule holding recent data (before: its clock was sent as
    the rule's ``clock``). Without a server clock the sidecar's stands; a server that does
    not answer the clock is an error (the mount refuses: fail closed). The tier and tags a
    rule sees are at least what the server knows of the file (a sidecar saying INTERNAL
    took PII data out of a rule holding personal data)."""
    from datetime import UTC, datetime

    from lacuna.errors import LineageError
    from lacuna.lineage.sidecar import write_sidecar
    from lacuna.model import Classification, Tier

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    data = tmp_path / "recent.csv"
    data.write_text("id\n1\n", encoding="utf-8")
    forged = datetime(2019, 1, 1, tzinfo=UTC)
    write_sidecar(data, Classification(tier=Tier.INTERNAL), written_by="ana", first_seen=forged)
    server_clock = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    known: dict[str, Any] = {"classification": None, "first_seen": server_clock.isoformat()}
    sent: list[dict[str, Any]] = []

    def call(method: str, path: str, body: Any = None) -> Any:
        if path.startswith(HOLDS):
            return {"version": "v", "rule_packages": ["governance.recent"], "holds": []}
        if path.startswith("/api/v1/lineage/known"):
            if known.get("down"):
                raise ServerUnavailable("unreachable")
            return known
        assert (method, path) == ("POST", "/api/v1/retention/rule-holds")
        sent.extend(body["items"])
        return {"answers": [None] * len(body["items"])}

    client = ServerClient(LacunaServerConfig(url="http://127.0.0.1:9", token="t"))
    monkeypatch.setattr(client, "call", call)
    keeping = ServerKeeping(client, load_config(None))
    try:
        assert keeping.rule_hold([str(data)]) is None
        assert datetime.fromisoformat(sent[-1]["clock"]) == server_clock
        assert (sent[-1]["tier"], sent[-1]["tags"]) == ("INTERNAL", [])
        known["first_seen"] = None  # the server keeps none: the sidecar's is all there is
        keeping.rule_hold([str(data)])
        assert datetime.fromisoformat(sent[-1]["clock"]) == forged
        # the server knows the data is personal: the sidecar's INTERNAL is not what is sent
        known["classification"] = {"tier": "PROPRIETARY", "tags": ["PII"]}
        keeping.rule_hold([str(data)])
        assert (sent[-1]["tier"], sent[-1]["tags"]) == ("PROPRIETARY", ["PII"])
        known["down"] = True
        with pytest.raises(LineageError, match="could not ask the Lacuna server"):
            keeping.rule_hold([str(data)])
    finally:
        client.close()
