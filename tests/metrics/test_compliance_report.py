"""The compliance report from real records: text, JSON and HTML (parsed), through the CLI."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.cli import app


class _Tables(HTMLParser):
    """Collects the text of every table cell, and checks tags are balanced."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.stack: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "rect", "br"):
            self.stack.append(tag)
        self._in_cell = tag == "td"

    def handle_endtag(self, tag):
        if tag in ("rect",):
            return
        assert self.stack.pop() == tag
        self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


def test_compliance_report(governed):
    customers = pd.read_csv("customers.csv")
    for name in ("a", "b"):
        with pytest.raises(lacuna.GovernanceViolation):
            customers.to_csv(governed / "Downloads" / f"{name}.csv")
    customers.to_csv(governed / "governed" / "workspace" / "ok.csv")
    exc = lacuna.request_exception(
        data=customers, destination=str(governed / "Downloads" / "board.csv"),
        purpose="Board of Directors customer metrics", approver="steward@example.com",
        business_justification="The board asked for growth <figures> & examples.")
    (governed / "lacuna.yaml").write_text(
        f"user:\n  id: analyst_alice\n  role: data_analyst\n"
        f"audit:\n  url: sqlite:///{governed / 'audit.db'}\n")
    lacuna.disable()
    runner = CliRunner()

    out = runner.invoke(app, ["report", "compliance", "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["audit_chain"]["verified"] is True
    export = next(r for r in doc["denials_by_policy"] if r["policy"] == "P-2024-001")
    assert export == {"policy": "P-2024-001", "decisions": 3, "denials": 2}
    assert [e["id"] for e in doc["exceptions"]] == [exc.id]
    assert doc["exceptions"][0]["approver"] == "steward@example.com"
    assert doc["metrics"]["metrics"]["violation_rate"]["counts"]["denied"] == 2

    target = governed / "report.html"
    out = runner.invoke(app, ["report", "compliance", "-f", "html", "-o", str(target)])
    assert out.exit_code == 0, out.output
    page = target.read_text()
    parser = _Tables()
    parser.feed(page)
    parser.close()
    assert parser.stack == []  # every tag closed
    assert exc.id in parser.cells
    assert "The board asked for growth <figures> & examples." in parser.cells  # escaped
    assert "<figures>" not in page
    assert "<svg" in page
    assert "<script" not in page

    text = runner.invoke(app, ["report", "compliance", "--period", "2026-Q4"])
    assert text.exit_code == 0, text.output
    assert "Audit chain: verified" in text.output
    assert runner.invoke(app, ["report", "compliance", "--period", "Q9"]).exit_code == 2
