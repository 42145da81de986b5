"""The seed's exception workflow: denied → request → steward approves → allowed, until expiry."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.errors import ConfigError, LacunaError
from lacuna.exceptions import ExceptionNotFound, Status
from lacuna.model import utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.fixture
def customers(governed):
    return pd.read_csv("customers.csv")


@pytest.fixture
def as_user(sandbox_config):
    """Switch the process to another identity (same state database, same stewards)."""

    def switch(user_id: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]}))

    switch("analyst_alice")
    return switch


def test_request_approve_use(customers, governed, as_user):
    target = governed / "Downloads" / "board_report.csv"
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_csv(target)
    exc = lacuna.request_exception(
        data=customers,
        destination=str(target),
        purpose=PURPOSE,
        business_justification="Board requested customer growth metrics.",
        approver="data-steward@example.com",
        duration_hours=2,
        conditions=["File will be encrypted", "File will be deleted after presentation"],
    )
    assert exc.id == f"EXC-{utcnow():%Y}-001"
    assert exc.status is Status.PENDING
    assert exc.sources == ("customers.csv",)
    assert exc.tier == "PROPRIETARY"
    assert exc.policy_id == "P-2024-001"  # found by a dry run: it names the policy to ask
    assert exc.signature
    assert "lacuna exceptions approve" in str(exc)

    with pytest.raises(lacuna.GovernanceViolation) as pending:  # pending: still denied
        customers.to_csv(target, exception_id=exc.id)
    assert f"exception {exc.id} is pending, not approved" in pending.value.decision.why
    assert not target.exists()

    as_user(STEWARD)
    granted = lacuna.approve_exception(exc.id, by=STEWARD)
    assert granted.valid_until - granted.valid_from == timedelta(hours=2)
    text = str(granted)
    assert text.startswith("✓ Exception Approved")
    assert f"Approved by: {STEWARD} (Data Steward)" in text
    start, end = granted.valid_from, granted.valid_until
    assert f"Valid: {start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC" in text
    assert "• File will be encrypted" in text

    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id)
    assert target.exists()
    from lacuna.governor import current

    assert current().audit.list(limit=1)[0].allowed


def test_grant_covers_only_its_destination_user_and_time(customers, governed, as_user):
    target = governed / "Downloads" / "a.csv"
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD,
        duration_hours=1,
    )
    exc2 = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD
    )
    as_user(STEWARD)
    lacuna.approve_exception(exc.id, start=utcnow() - timedelta(hours=2))
    lacuna.approve_exception(exc2.id)
    as_user("analyst_alice")
    with pytest.raises(lacuna.GovernanceViolation) as expired:
        customers.to_csv(target, exception_id=exc.id)
    assert any("expired" in w for w in expired.value.decision.why)
    with pytest.raises(lacuna.GovernanceViolation) as other:  # replay: another destination
        customers.to_csv(governed / "Downloads" / "b.csv", exception_id=exc2.id)
    assert any("covers" in w for w in other.value.decision.why)
    as_user("mallory")  # replay: another user
    with pytest.raises(lacuna.GovernanceViolation) as user:
        customers.to_csv(target, exception_id=exc2.id)
    assert any("granted to analyst_alice, not mallory" in w for w in user.value.decision.why)


def test_deny_revoke_and_unknown(customers, governed, as_user):
    exc = lacuna.request_exception(
        data=customers, destination="x.csv", purpose=PURPOSE, approver=STEWARD
    )
    exc2 = lacuna.request_exception(
        data=customers, destination="x.csv", purpose=PURPOSE, approver=STEWARD
    )
    as_user(STEWARD)
    denied = lacuna.deny_exception(exc.id, comment="use the aggregate")
    assert denied.status is Status.DENIED
    assert "use the aggregate" in str(denied)
    with pytest.raises(LacunaError, match="only a pending request"):
        lacuna.approve_exception(exc.id)
    lacuna.approve_exception(exc2.id)
    assert lacuna.deny_exception(exc2.id).status is Status.REVOKED
    with pytest.raises(ExceptionNotFound, match="lacuna exceptions list"):
        lacuna.approve_exception("EXC-1999-001")
    as_user("analyst_alice")
    with pytest.raises(lacuna.GovernanceViolation) as unknown:
        customers.to_csv(governed / "Downloads" / "z.csv", exception_id="EXC-1999-001")
    assert "exception EXC-1999-001 does not exist" in unknown.value.decision.why
    # ids are case-sensitive; the id meant is named (the decision still denies)
    as_user(STEWARD)
    with pytest.raises(ExceptionNotFound, match=f"Did you mean '{exc2.id}'"):
        lacuna.approve_exception(f" {exc2.id.lower()}")
    as_user("analyst_alice")
    with pytest.raises(lacuna.GovernanceViolation) as typed:
        customers.to_csv(governed / "Downloads" / "z.csv", exception_id=exc2.id.lower())
    assert (f"exception {exc2.id.lower()} does not exist; did you mean '{exc2.id}'? Exception "
            "ids are case-sensitive.") in typed.value.decision.why


def test_requester_may_withdraw_their_own(customers, governed, as_user):
    exc = lacuna.request_exception(
        data=customers, destination="x.csv", purpose=PURPOSE, approver=STEWARD
    )
    withdrawn = lacuna.deny_exception(exc.id, comment="no longer needed")
    assert (withdrawn.status, withdrawn.decided_role) == (Status.DENIED, "requester")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination": None, "purpose": PURPOSE}, "needs a destination"),
        ({"destination": "x", "purpose": "  "}, "needs a purpose"),
        ({"destination": "x", "purpose": PURPOSE, "duration_hours": 0}, "must be between"),
        ({"destination": "x", "purpose": PURPOSE, "duration_hours": float("nan")},
         "must be between"),
        # a window of no time at all, and one that overflows a date: neither is an exception
        ({"destination": "x", "purpose": PURPOSE, "duration_hours": 1e-300}, "one minute"),
        ({"destination": "x", "purpose": PURPOSE, "duration_hours": 1e300}, "a year"),
    ],
)
def test_bad_requests_fail_clearly(governed, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        lacuna.request_exception(approver="s", **kwargs)


@pytest.mark.parametrize(
    "purpose",
    ["test", "asdf", "n/a", "N/A", "tbd", "TBD.", "...", "x", "Board", "aaaaaaaaaaaaaaa",
     "todo", "placeholder", "ababababababab", "-- n/a --"],
)
def test_placeholder_purposes_are_refused(governed, purpose):
    with pytest.raises(ConfigError, match="placeholder or too short"):
        lacuna.request_exception(destination="x.csv", purpose=purpose, approver="s")


def test_seed_operation_dict_spelling(governed):
    exc = lacuna.request_exception(
        operation={
            "action": "export",
            "source": "customers.csv",
            "destination": "~/Downloads/board_report.csv",
        },
        purpose=PURPOSE,
        approver="data-steward@example.com",
        duration_hours=2,
    )
    assert exc.sources == ("customers.csv",)
    assert exc.destination.endswith("/Downloads/board_report.csv")
    assert exc.policy_id == "P-2024-001"  # the source file was classified for the dry run


def test_cli_request_list_approve(governed, monkeypatch):
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(f"stewards:\n  default: [{STEWARD}]\n")
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["exceptions", "request", "~/Downloads/r.csv", "--purpose", PURPOSE,
         "--approver", STEWARD, "--condition", "Encrypt it"],
    )
    assert out.exit_code == 0, out.output
    exc_id = out.output.split("Exception ID: ")[1].split()[0]
    listed = runner.invoke(app, ["exceptions", "list", "--status", "pending", "--json"])
    assert exc_id in listed.output
    self_approved = runner.invoke(app, ["exceptions", "approve", exc_id])
    assert self_approved.exit_code == 1
    assert "analyst_alice filed exception" in self_approved.output
    monkeypatch.setenv("LACUNA_USER", STEWARD)
    approved = runner.invoke(app, ["exceptions", "approve", exc_id, "--by", STEWARD])
    assert approved.exit_code == 0, approved.output
    assert "✓ Exception Approved" in approved.output
    shown = runner.invoke(app, ["exceptions", "show", exc_id])
    assert "Encrypt it" in shown.output
    bad = runner.invoke(app, ["exceptions", "list", "--status", "maybe"])
    assert bad.exit_code == 2
