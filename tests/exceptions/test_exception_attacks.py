"""Exceptions tried as an attacker: self-approval, a non-steward, rows forged or edited in the
state database, a signature replayed onto another grant, another installation's key. None is
honoured, and each says why."""

from __future__ import annotations

import gc
import json
import sqlite3
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.exceptions import ExceptionNotAuthorized, Status
from lacuna.model import utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.fixture
def customers(governed):
    return pd.read_csv("customers.csv")


@pytest.fixture
def as_user(sandbox_config):
    def switch(user_id: str, stewards: dict | None = None) -> None:
        chosen = {"default": [STEWARD]} if stewards is None else stewards
        gc.collect()  # drop the previous governor's Rego engine here, on its own thread
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards=chosen))

    switch("analyst_alice")
    return switch


@pytest.fixture
def target(governed):
    return governed / "Downloads" / "board_report.csv"


@pytest.fixture
def request_(customers, target):
    return lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD,
        duration_hours=1,
    )


def db(governed) -> sqlite3.Connection:
    return sqlite3.connect(governed / "audit.db", isolation_level=None)


def body_of(governed, exception_id: str) -> dict:
    with db(governed) as conn:
        (body,) = conn.execute(
            "select body from lacuna_exceptions where id = ?", (exception_id,)
        ).fetchone()
    return json.loads(body)


def write_body(governed, exception_id: str, body: dict) -> None:
    conn = db(governed)
    conn.execute(
        "update lacuna_exceptions set body = ?, status = ? where id = ?",
        (json.dumps(body), body["status"], exception_id),
    )
    conn.close()


def denied_why(customers, target, exception_id: str) -> tuple[str, ...]:
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exception_id)
    assert not target.exists()
    return err.value.decision.why


def test_requester_cannot_approve_their_own_even_as_a_steward(as_user, request_, customers,
                                                              target):
    as_user("analyst_alice", stewards={"default": ["analyst_alice", STEWARD]})
    with pytest.raises(ExceptionNotAuthorized, match="cannot approve it"):
        lacuna.approve_exception(request_.id)
    from lacuna.governor import current

    assert current().exceptions.get(request_.id).status is Status.PENDING
    denied_why(customers, target, request_.id)


def test_cli_by_anyone_is_refused(as_user, request_, governed, monkeypatch):
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\nstewards: {{default: [{STEWARD}]}}\n"
    )
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    runner = CliRunner()

    def approve(*extra: str) -> str:
        out = runner.invoke(app, ["exceptions", "approve", request_.id, *extra])
        assert out.exit_code == 1
        return " ".join(out.output.split())

    assert "not as 'anyone'" in approve("--by", "anyone")
    assert "analyst_alice filed exception" in approve()
    monkeypatch.setenv("LACUNA_USER", "anyone")
    refused = approve("--by", "anyone")
    assert "anyone is not entitled" in refused
    assert STEWARD in refused  # says who is


def test_non_steward_cannot_approve(as_user, request_, customers, target):
    as_user("bob@example.com")
    with pytest.raises(ExceptionNotAuthorized, match="not entitled") as err:
        lacuna.approve_exception(request_.id)
    assert STEWARD in str(err.value)
    assert "stewards:" in str(err.value)
    as_user("analyst_alice")
    assert any("pending" in w for w in denied_why(customers, target, request_.id))


def test_without_stewards_only_the_policy_steward_may_approve(as_user, request_, customers,
                                                             target):
    as_user(STEWARD, stewards={})
    with pytest.raises(ExceptionNotAuthorized) as err:
        lacuna.approve_exception(request_.id)
    owner = request_.policy_steward
    assert owner == "data-governance@example.com"  # P-2024-001's metadata
    assert owner in str(err.value)
    as_user(owner, stewards={})
    lacuna.approve_exception(request_.id)
    as_user("analyst_alice", stewards={})
    customers.to_csv(target, exception_id=request_.id)
    assert target.exists()


def test_policy_and_domain_stewards(as_user, request_):
    from dataclasses import replace

    from lacuna.config import StewardsConfig
    from lacuna.exceptions import approvers

    stewards = StewardsConfig(policies={"P-2024-001": ("pii-lead@example.com",)},
                              domains={"marketing": ("mkt@example.com", "analyst_alice")})
    assert "mkt@example.com" not in approvers(request_, stewards)
    in_domain = replace(request_, domains=("marketing",))
    assert "mkt@example.com" in approvers(in_domain, stewards)
    assert "analyst_alice" not in approvers(in_domain, stewards)  # the requester, never
    lead = "pii-lead@example.com"
    as_user(lead, stewards={"policies": {"P-2024-001": [lead]}})
    assert lacuna.approve_exception(request_.id).decided_role == "data_steward"


def test_a_steward_removed_from_the_config_no_longer_grants(as_user, request_, customers, target):
    as_user(STEWARD)
    lacuna.approve_exception(request_.id)
    as_user("analyst_alice", stewards={"default": ["someone.else@example.com"]})
    why = denied_why(customers, target, request_.id)
    assert any("not (or no longer) a steward" in w for w in why)


def test_row_inserted_by_hand_is_not_honoured(as_user, customers, target, governed):
    now = utcnow()
    body = {
        "id": "EXC-2026-900", "requested_by": "analyst_alice", "requester_role": "data_analyst",
        "action": "export", "destination": str(target), "sources": [], "tier": "PROPRIETARY",
        "tags": [], "purpose": PURPOSE, "business_justification": "", "approver": STEWARD,
        "duration_hours": 1.0, "conditions": [], "created_at": now.isoformat(),
        "status": "approved", "decided_by": STEWARD, "decided_role": "data_steward",
        "decided_at": now.isoformat(), "comment": None,
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_until": (now + timedelta(hours=1)).isoformat(),
    }
    lacuna.request_exception(destination="y.csv", purpose=PURPOSE, approver=STEWARD)  # table
    conn = db(governed)
    conn.execute(
        "insert into lacuna_exceptions (id, year, requested_by, status, duration_hours, body) "
        "values (?, ?, ?, ?, ?, ?)",
        (body["id"], "2026", "analyst_alice", "approved", 1.0, json.dumps(body)),
    )
    conn.close()
    why = denied_why(customers, target, "EXC-2026-900")
    assert any("carries no Lacuna signature" in w for w in why)
    body["signature"] = "hmac-sha256:000000000000:" + "0" * 64
    write_body(governed, "EXC-2026-900", body)
    why = denied_why(customers, target, "EXC-2026-900")
    assert any("does not match its signature" in w for w in why)


def test_garbage_row_is_not_honoured(as_user, customers, target, governed, request_):
    conn = db(governed)
    conn.execute("update lacuna_exceptions set body = '{\"status\": 1, \"x\": [' where id = ?",
                 (request_.id,))
    conn.close()
    why = denied_why(customers, target, request_.id)
    assert any("not a request Lacuna wrote" in w for w in why)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda b: b.update(valid_until=(utcnow() + timedelta(days=365)).isoformat()),
                     id="extended-expiry"),
        pytest.param(lambda b: b.update(requested_by="mallory"), id="other-user"),
        pytest.param(lambda b: b.update(destination="/tmp/elsewhere.csv"), id="other-destination"),
        pytest.param(lambda b: b.update(decided_by="x"), id="approver"),
    ],
)
def test_edited_grant_is_not_honoured(as_user, request_, customers, target, governed, edit):
    as_user(STEWARD)
    lacuna.approve_exception(request_.id, start=utcnow() - timedelta(hours=2))  # expired
    body = body_of(governed, request_.id)
    edit(body)
    body["valid_from"] = (utcnow() - timedelta(minutes=5)).isoformat()
    write_body(governed, request_.id, body)
    as_user(body["requested_by"])
    why = denied_why(customers, target, request_.id)
    assert any("does not match its signature" in w for w in why)


def test_edited_pending_or_denied_row_cannot_be_approved_or_used(as_user, request_, customers,
                                                                target, governed):
    body = body_of(governed, request_.id)
    body["policy_steward"] = "mallory@example.com"  # try to make an accomplice entitled
    write_body(governed, request_.id, body)
    as_user("mallory@example.com")
    with pytest.raises(ExceptionNotAuthorized, match="changed outside Lacuna"):
        lacuna.approve_exception(request_.id)
    body.update(status="approved", decided_by=STEWARD, decided_role="data_steward",
                valid_from=utcnow().isoformat(),
                valid_until=(utcnow() + timedelta(hours=1)).isoformat())
    write_body(governed, request_.id, body)
    as_user("analyst_alice")
    assert any("does not match its signature" in w
               for w in denied_why(customers, target, request_.id))


def test_signature_replayed_onto_another_grant(as_user, customers, target, governed):
    mine = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                    approver=STEWARD)
    elsewhere = lacuna.request_exception(data=customers, destination="/tmp/elsewhere.csv",
                                         purpose=PURPOSE, approver=STEWARD)
    as_user(STEWARD)
    lacuna.approve_exception(elsewhere.id)
    granted = body_of(governed, elsewhere.id)
    forged = {**granted, "id": mine.id, "destination": str(target)}
    write_body(governed, mine.id, forged)
    as_user("analyst_alice")
    assert any("does not match its signature" in w for w in denied_why(customers, target, mine.id))
    whole = {**granted, "id": mine.id}  # the whole signed body under another id
    write_body(governed, mine.id, whole)
    assert any("does not match its signature" in w for w in denied_why(customers, target, mine.id))


def test_grant_signed_with_another_key_is_not_honoured(as_user, request_, customers, target,
                                                      monkeypatch):
    as_user(STEWARD)
    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ab" * 32)  # another installation's key
    with pytest.raises(ExceptionNotAuthorized, match="changed outside Lacuna"):
        lacuna.approve_exception(request_.id)  # the request itself was signed with ours
    from lacuna.governor import current

    gov = current()
    store = type(gov.exceptions)(gov.config.audit_url)
    assert not store.verified(store.get(request_.id))
    monkeypatch.delenv("LACUNA_SIGNING_KEY")
    assert store.verified(store.get(request_.id)) is False  # keyring cached per store
    assert type(gov.exceptions)(gov.config.audit_url).verified(store.get(request_.id))


def test_cli_shows_what_is_not_honoured(as_user, request_, governed, monkeypatch):
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n")
    runner = CliRunner()
    listed = runner.invoke(app, ["exceptions", "list", "--json"])
    assert json.loads(listed.output)["verified"] is True
    body = body_of(governed, request_.id)
    body["status"] = "approved"
    write_body(governed, request_.id, body)
    listed = runner.invoke(app, ["exceptions", "list", "--json"])
    assert json.loads(listed.output)["verified"] is False
    shown = runner.invoke(app, ["exceptions", "show", request_.id])
    assert "does not match its signature" in " ".join(shown.output.split())
    conn = db(governed)
    conn.execute("update lacuna_exceptions set body = 'garbage' where id = ?", (request_.id,))
    conn.close()
    broken = runner.invoke(app, ["exceptions", "show", request_.id])
    assert broken.exit_code == 1
    assert "not a request Lacuna wrote" in " ".join(broken.output.split())
    missing = runner.invoke(app, ["exceptions", "show", "EXC-1999-001"])
    assert missing.exit_code == 1
