"""Exceptions from a client configured with ``server:`` (the live server): the server takes
each step and audits it once; a revoke is a revoke (not a deny of a pending request)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import LacunaError
from lacuna.governor import Governor, use


def _client(live: Any, user: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Governor:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    gov = Governor(
        config_from_dict(
            {
                "server": {
                    "url": live.url,
                    "token": live.tokens[user],
                    "deadline_ms": 8000,
                    "timeout_ms": 6000,
                },
                "lineage": {"openlineage": {"enabled": False}},
            }
        )
    )
    use(gov)
    return gov


def _events(live: Any, exception_id: str) -> list[str]:
    records = httpx.get(
        f"{live.url}/api/v1/audit", params={"limit": 500}, headers=live.headers("carla")
    ).json()["records"]
    return [
        r["what"]["event"]
        for r in reversed(records)
        if r.get("kind") == "exception" and r["what"].get("exception_id") == exception_id
    ]


def test_request_and_revoke_over_the_server(live, monkeypatch, tmp_path, caplog) -> None:
    gov = _client(live, "ana", monkeypatch, tmp_path)
    frame = pd.DataFrame({"region": ["north", "south"]})
    target = str(live.root / "Downloads" / "regions.csv")
    with caplog.at_level(logging.ERROR, logger="lacuna"):
        first = lacuna.request_exception(
            data=frame,
            destination=target,
            approver="jane",
            purpose="Board Q4 presentation for the CFO",
        )
        second = lacuna.request_exception(
            data=frame,
            destination=target,
            approver="jane",
            purpose="Board Q4 presentation for the CFO",
        )
    # before: the client recorded the step again on a trail it does not have (logged ERROR)
    assert not caplog.records, caplog.text
    assert _events(live, first.id) == ["requested"]  # once: the server's own record
    # a pending request is not revoked, and not denied either (the server's deny would)
    with pytest.raises(LacunaError, match="only an approved exception can be revoked"):
        lacuna.revoke_exception(second.id, comment="not needed")
    assert gov.exceptions.get(second.id).status.value == "pending"
    httpx.post(
        f"{live.url}/api/v1/exceptions/{first.id}/approve",
        json={"comment": "ok"},
        headers=live.headers("jane"),
    ).raise_for_status()
    revoked = lacuna.revoke_exception(first.id, comment="the board met")  # TypeError before
    assert revoked.status.value == "revoked"
    assert gov.exceptions.get(first.id).status.value == "revoked"  # read back
    assert _events(live, first.id) == ["requested", "approved", "revoked"]
    gov.close()


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_write_under_an_exception_is_refused_before_it_is_decided(
        live, monkeypatch, tmp_path, mode) -> None:
    from lacuna.exceptions.authority import ExceptionNotAuthorized

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    frame = pd.DataFrame({"name": ["Ann Lee"], "email": ["ann@example.com"]})
    target = live.root / "Downloads" / f"board-{mode}.csv"
    config = config_from_dict({
        "server": {"url": live.url, "token": live.tokens["ana"], "deadline_ms": 8000,
                   "timeout_ms": 6000},
        "lineage": {"openlineage": {"enabled": False}}, "mode": mode})
    with lacuna.governed(config):
        exc = lacuna.request_exception(data=frame, destination=str(target), approver="jane",
                                       purpose="Board Q4 presentation for the CFO")
        httpx.post(f"{live.url}/api/v1/exceptions/{exc.id}/approve", json={"comment": "ok"},
                   headers=live.headers("jane")).raise_for_status()
        for kwargs in ({}, {"encrypt": True}):
            with pytest.raises(ExceptionNotAuthorized, match=(
                    rf"under exception {exc.id} with server: configured.*server's host")
                               ) as refused:
                frame.to_csv(target, index=False, exception_id=exc.id, **kwargs)
    assert not target.exists()  # warn mode did not run it either
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 200},
                        headers=live.headers("carla")).json()["records"]
    # before: decided and recorded allowed under the grant, then refused (a failed outcome)
    assert not [r for r in records if r["what"].get("destination") == str(target)
                and r.get("kind") != "exception"]
    assert current_status(live, exc.id) == "approved"  # the grant is untouched
    assert "Nothing was decided or written" in str(refused.value)


def current_status(live: Any, exception_id: str) -> str:
    answer = httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", headers=live.headers("ana"))
    return str(answer.json()["status"])
