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


@pytest.fixture
def customers(governed):
    return pd.read_csv("customers.csv")


def test_request_approve_use(customers, governed):
    target = governed / "Downloads" / "board_report.csv"
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_csv(target)
    exc = lacuna.request_exception(
        data=customers,
        destination=str(target),
        purpose="Board of Directors Q4 customer metrics presentation",
        business_justification="Board requested customer growth metrics.",
        approver="data-steward@example.com",
        duration_hours=2,
        conditions=["File will be encrypted", "File will be deleted after presentation"],
    )
    assert exc.id == f"EXC-{utcnow():%Y}-001"
    assert exc.status is Status.PENDING
    assert exc.sources == ("customers.csv",)
    assert exc.tier == "PROPRIETARY"
    assert "lacuna exceptions approve" in str(exc)

    with pytest.raises(lacuna.GovernanceViolation) as pending:  # pending: still denied
        customers.to_csv(target, exception_id=exc.id)
    assert f"exception {exc.id} is pending, not approved" in pending.value.decision.why
    assert not target.exists()

    granted = lacuna.approve_exception(exc.id, by="jane.smith@example.com")
    assert granted.valid_until - granted.valid_from == timedelta(hours=2)
    text = str(granted)
    assert text.startswith("✓ Exception Approved")
    assert "Approved by: jane.smith@example.com (Data Steward)" in text
    assert "• File will be encrypted" in text

    customers.to_csv(target, exception_id=exc.id)
    assert target.exists()
    from lacuna.governor import current

    assert current().audit.list(limit=1)[0].allowed


def test_grant_covers_only_its_destination_user_and_time(customers, governed, sandbox_config):
    target = governed / "Downloads" / "a.csv"
    exc = lacuna.request_exception(
        data=customers,
        destination=str(target),
        purpose="p",
        approver="s@example.com",
        duration_hours=1,
    )
    lacuna.approve_exception(exc.id, by="s@example.com", start=utcnow() - timedelta(hours=2))
    with pytest.raises(lacuna.GovernanceViolation) as expired:
        customers.to_csv(target, exception_id=exc.id)
    assert any("expired" in w for w in expired.value.decision.why)

    exc2 = lacuna.request_exception(
        data=customers, destination=str(target), purpose="p", approver="s@example.com"
    )
    lacuna.approve_exception(exc2.id, by="s@example.com")
    with pytest.raises(lacuna.GovernanceViolation) as other:
        customers.to_csv(governed / "Downloads" / "b.csv", exception_id=exc2.id)
    assert any("covers" in w for w in other.value.decision.why)
    lacuna.enable(sandbox_config(user={"id": "mallory"}))
    with pytest.raises(lacuna.GovernanceViolation) as user:
        customers.to_csv(target, exception_id=exc2.id)
    assert any("granted to analyst_alice, not mallory" in w for w in user.value.decision.why)


def test_only_a_data_steward_approval_satisfies_the_default_policy(customers, governed):
    target = governed / "Downloads" / "c.csv"
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose="p", approver="boss@example.com"
    )
    lacuna.approve_exception(exc.id, by="boss@example.com", role="manager")
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_csv(target, exception_id=exc.id)


def test_deny_revoke_and_unknown(customers, governed):
    exc = lacuna.request_exception(data=customers, destination="x.csv", purpose="p", approver="s")
    denied = lacuna.deny_exception(exc.id, by="s@example.com", comment="use the aggregate")
    assert denied.status is Status.DENIED
    assert "use the aggregate" in str(denied)
    with pytest.raises(LacunaError, match="only a pending request"):
        lacuna.approve_exception(exc.id, by="s")
    exc2 = lacuna.request_exception(data=customers, destination="x.csv", purpose="p", approver="s")
    lacuna.approve_exception(exc2.id, by="s")
    assert lacuna.deny_exception(exc2.id, by="s").status is Status.REVOKED
    with pytest.raises(ExceptionNotFound, match="lacuna exceptions list"):
        lacuna.approve_exception("EXC-1999-001", by="s")
    with pytest.raises(lacuna.GovernanceViolation) as unknown:
        customers.to_csv(governed / "Downloads" / "z.csv", exception_id="EXC-1999-001")
    assert "exception EXC-1999-001 does not exist" in unknown.value.decision.why


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination": None, "purpose": "p"}, "needs a destination"),
        ({"destination": "x", "purpose": "  "}, "needs a purpose"),
        ({"destination": "x", "purpose": "p", "duration_hours": 0}, "must be positive"),
    ],
)
def test_bad_requests_fail_clearly(governed, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        lacuna.request_exception(approver="s", **kwargs)


def test_seed_operation_dict_spelling(governed):
    exc = lacuna.request_exception(
        operation={
            "action": "export",
            "source": "customers.csv",
            "destination": "~/Downloads/board_report.csv",
        },
        purpose="Board",
        approver="data-steward@example.com",
        duration_hours=2,
    )
    assert exc.sources == ("customers.csv",)
    assert exc.destination.endswith("/Downloads/board_report.csv")


def test_cli_request_list_approve(governed):
    from lacuna.cli import app

    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "exceptions",
            "request",
            "~/Downloads/r.csv",
            "--purpose",
            "Board",
            "--approver",
            "s@example.com",
            "--condition",
            "Encrypt it",
        ],
    )
    assert out.exit_code == 0, out.output
    exc_id = out.output.split("Exception ID: ")[1].split()[0]
    listed = runner.invoke(app, ["exceptions", "list", "--status", "pending"])
    assert exc_id in listed.output
    approved = runner.invoke(app, ["exceptions", "approve", exc_id, "--by", "jane@example.com"])
    assert "✓ Exception Approved" in approved.output
    shown = runner.invoke(app, ["exceptions", "show", exc_id])
    assert "Encrypt it" in shown.output
    bad = runner.invoke(app, ["exceptions", "list", "--status", "maybe"])
    assert bad.exit_code == 2
