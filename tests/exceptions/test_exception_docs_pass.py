"""What a steward sees of a request made from the shell (docs/exceptions.md): the source's
classification, and a warning when an approval's window has already ended."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lacuna.cli import app

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"
runner = CliRunner()


@pytest.fixture
def shell(sandbox, monkeypatch):
    """The sandbox as a project folder: lacuna.yaml with a steward, the analyst as user."""
    (sandbox / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{sandbox / 'audit.db'}'}}\n"
        f"stewards: {{default: [{STEWARD}]}}\n"
        f"destinations: {{unmanaged: ['{sandbox / 'Downloads'}']}}\n"
    )
    monkeypatch.chdir(sandbox)
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    return sandbox


def _request(shell, source: str | None = "customers.csv", hours: str = "2") -> dict:
    args = [
        "exceptions",
        "request",
        str(shell / "Downloads" / "board.csv"),
        "--purpose",
        PURPOSE,
        "--approver",
        STEWARD,
        "--hours",
        hours,
    ]
    out = runner.invoke(app, [*args, *(["--source", source] if source else [])])
    assert out.exit_code == 0, out.output
    listed = runner.invoke(app, ["exceptions", "list", "--json"])
    return json.loads(listed.output.splitlines()[-1])


def test_a_request_from_the_shell_records_the_sources_classification(shell):
    """`lacuna exceptions request DEST --source customers.csv`: the dry run read and classified
    the file to find the policy; the request says what it holds (it said tier UNKNOWN)."""
    filed = _request(shell)
    assert filed["sources"] == ["customers.csv"]
    assert filed["policy_id"] == "P-2024-001"
    assert (filed["tier"], filed["tags"]) == ("PROPRIETARY", ["PII", "GDPR"])
    assert filed["verified"] is True  # signed over the tier it now carries
    shown = runner.invoke(app, ["exceptions", "show", filed["id"]])
    assert shown.exit_code == 0, shown.output
    nothing_read = _request(shell, source=None)  # nothing to read: said so, not guessed
    assert (nothing_read["tier"], nothing_read["tags"]) == ("UNKNOWN", [])


def test_approving_a_window_that_already_ended_warns(shell, monkeypatch):
    first, second = _request(shell), _request(shell)
    monkeypatch.setenv("LACUNA_USER", STEWARD)
    past = runner.invoke(app, ["exceptions", "approve", first["id"], "--start", "2026-01-20T14:00"])
    assert past.exit_code == 0, past.output
    said = " ".join(past.output.split())
    assert (
        "warning: --start 2026-01-20 14:00 UTC plus the requested 2 h ended at "
        "2026-01-20 16:00 UTC: this grant covers nothing"
    ) in said
    now = runner.invoke(app, ["exceptions", "approve", second["id"]])
    assert now.exit_code == 0, now.output
    assert "warning" not in now.output
    listed = [
        json.loads(line)
        for line in runner.invoke(app, ["exceptions", "list", "--json"]).output.splitlines()
    ]
    ends = {e["id"]: e["valid_until"] for e in listed}
    assert ends[first["id"]].startswith("2026-01-20T16:00")
    assert ends[second["id"]] > ends[first["id"]]
