"""The client host travels on the operation (``client_host``, ``host_verified``): the decide
path reads it there for the audit record (``who.host``) and for a write's retention clock,
so every step that rebuilds the operation must keep it. A dbt model's read did not (its
operation is made anew from the manifest): its record named no host."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx

from lacuna.config import config_from_dict
from lacuna.governor import Governor
from lacuna.model import Action, Classification, Operation, User


def _project(root: Path) -> Path:
    """A dbt project of one model (its manifest only, as ``dbt parse`` leaves it)."""
    (root / "target").mkdir(parents=True)
    node = {"resource_type": "model", "name": "orders", "package_name": "shop",
            "path": "gold/orders.sql", "original_file_path": "models/gold/orders.sql",
            "fqn": ["shop", "gold", "orders"], "tags": [], "meta": {},
            "config": {"materialized": "table", "meta": {}}, "depends_on": {"nodes": []},
            "compiled_code": "select 1 as id, 'a@example.com' as email",
            "columns": {"email": {"name": "email", "meta": {}, "config": {"meta": {}}}}}
    (root / "target" / "manifest.json").write_text(json.dumps({
        "metadata": {"project_name": "shop", "adapter_type": "duckdb"},
        "nodes": {"model.shop.orders": node}, "sources": {}}), encoding="utf-8")
    return root


def test_a_dbt_model_read_keeps_the_client_host(tmp_path: Path) -> None:
    from lacuna.dbt.reads import model_read

    gov = Governor(config_from_dict({
        "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
        "dbt": {"project_dir": str(_project(tmp_path / "dbt")), "verify_manifest": False}}))
    for host, verified in (("ana-laptop", True), ("joe-desktop", False), (None, False)):
        asked = Operation(action=Action.READ, user=User(id="ana", role="analyst"),
                          classification=Classification(),
                          destination=gov.destination("dbt://shop/orders"),
                          client_host=host, host_verified=verified)
        governed, denial = model_read(gov, asked)
        assert denial is None
        assert governed is not asked  # the model's own operation
        assert governed.destination == asked.destination
        assert (governed.client_host, governed.host_verified) == (host, verified)


def test_a_write_decided_through_the_worker_thread_keeps_its_host(live: Any) -> None:
    """A write with sources and an exception id is decided on a worker thread (held sources,
    the grant's look-up): its record names the request's host, and its clock is that host's
    file's (the clock read the host from a parameter beside the operation before; now from
    the operation)."""
    path = str(live.root / "governed" / f"s8-hosted-{secrets.token_hex(3)}.csv")
    here = {**live.headers("ana"), "X-Lacuna-Host": "s8-host"}
    answer = httpx.post(f"{live.url}/api/v1/decide", headers=here, json={"operation": {
        "action": "write", "classification": {"tier": "PUBLIC"}, "destination": path,
        "exception_id": "EXC-2099-999",
        "sources": [{"name": "/data/a.csv", "classification": {"tier": "PUBLIC"}}]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"]["allowed"] is True, answer.text
    record = httpx.get(f"{live.url}/api/v1/audit/{answer.json()['audit']['id']}",
                       headers=live.headers("carla")).json()
    assert (record["who"]["host"], record["who"]["host_verified"]) == ("s8-host", False)

    def clock(host: str) -> Any:
        known = httpx.get(f"{live.url}/api/v1/lineage/known", params={"dataset": path},
                          headers={**live.headers("ana"), "X-Lacuna-Host": host})
        assert known.status_code == 200, known.text
        return known.json()["first_seen"]

    assert clock("s8-host") is not None
    assert clock("s8-elsewhere") is None  # another host's file of that path: no clock


def test_a_write_to_a_url_the_lineage_store_cannot_name_is_denied_not_a_500(live: Any) -> None:
    """An allowed write's clock is kept by the server; a destination URL it cannot name as a
    dataset (a port past 65535) made the fast lane's check raise: a 500 with the traceback in
    the log. Now it is denied (fail closed), as the worker thread and the route deny it, and
    the denial is on the trail; a well-formed URL is still allowed."""
    def decide(destination: str) -> Any:
        answer = httpx.post(f"{live.url}/api/v1/decide", headers=live.headers("ana"), json={
            "operation": {"action": "write", "classification": {"tier": "PUBLIC"},
                          "destination": destination}})
        assert answer.status_code == 200, answer.text
        return answer.json()

    # the allowed path first: the token is then known, and its next decide takes the fast lane
    assert decide("postgresql://u@db.example.com:5433/sales")["decision"]["allowed"] is True
    bad = decide("postgresql://u@db.example.com:99999/sales")
    assert bad["decision"]["allowed"] is False
    assert "Port out of range" in str(bad["decision"])
    assert bad["audit"] is not None
