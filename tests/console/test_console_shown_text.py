"""A request stored before control characters were refused (ESC sequences, CR/LF, a
bidirectional override) is shown safely everywhere: the console's pages, the API's JSON and
the CLI's text and JSON show them as escapes; the stored values stay as written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from tests.console.test_console_pages import app_and_tokens, sign_in
from typer.testing import CliRunner

__all__ = ["app_and_tokens"]  # the fixture, imported for the tests here

PURPOSE = "Churn review\x1b[2K\rAPPROVED BY THE CISO"
JUSTIFICATION = "line one\r\nApproved by: ciso\x1b[31m"
CONDITION = "Encrypt\x1b[8m it"
DESTINATION = "/tmp/out-\u202ecsv.exe"
RAW = ("\x1b", "\r", "\u202e", "\x9b")


@pytest.fixture
def stored(app_and_tokens):
    """The old request, in the store as an older Lacuna filed it (signed, not checked)."""
    from lacuna.exceptions import ExceptionRequest

    app, tokens, _ = app_and_tokens
    request = ExceptionRequest(
        id="", requested_by="alice", requester_role="analyst", action="export",
        destination=DESTINATION, sources=("crm/customers.csv",), tier="PROPRIETARY",
        tags=("PII",), purpose=PURPOSE, business_justification=JUSTIFICATION, approver="sam",
        duration_hours=24.0, conditions=(CONDITION,), created_at=datetime.now(UTC))
    made = app.state.lacuna.governor.exceptions.add(request)
    back = app.state.lacuna.governor.exceptions.get(made.id)
    assert (back.purpose, back.business_justification, back.conditions,
            back.destination) == (PURPOSE, JUSTIFICATION, (CONDITION,), DESTINATION)
    return app, tokens, made.id


def _safe(text: str, *, html: bool = False) -> None:
    for char in RAW:
        if not (html and char == "\r"):  # in HTML a CR is whitespace, as a line feed is
            assert char not in text, repr(char)


def test_console_pages_show_control_characters_as_escapes(stored):
    app, tokens, eid = stored
    for user in ("sam", "alice"):
        client = sign_in(app, tokens[user])
        for path in ("/console/exceptions", f"/console/exceptions/{eid}"):
            page = client.get(path)
            assert page.status_code == 200, (user, path)
            _safe(page.text, html=True)
            assert "Churn review\\x1b[2K\rAPPROVED BY THE CISO" in page.text
            assert "Approved by: ciso\\x1b[31m" in page.text
            assert "/tmp/out-\\u202ecsv.exe" in page.text
    assert "Encrypt\\x1b[8m it" in client.get(f"/console/exceptions/{eid}").text


def test_api_json_escapes_them_and_keeps_the_values(stored):
    app, tokens, eid = stored
    api = TestClient(app)
    for user in ("sam", "alice"):
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        one = api.get(f"/api/v1/exceptions/{eid}", headers=headers)
        listed = api.get("/api/v1/exceptions", headers=headers)
        for answer in (one, listed):
            assert answer.status_code == 200
            _safe(answer.content.decode("utf-8"))
            assert b"\\u001b[2K\\rAPPROVED" in answer.content
            assert b"\\u202e" in answer.content
        item = one.json()
        assert (item["purpose"], item["business_justification"], item["conditions"],
                item["destination"]) == (PURPOSE, JUSTIFICATION, [CONDITION], DESTINATION)
        assert [e["id"] for e in listed.json()["exceptions"]] == [eid]


def test_cli_text_and_json_show_them_as_escapes(stored):
    from lacuna.cli import app as cli

    app, _, eid = stored
    config = str(app.state.lacuna.settings.config)
    runner = CliRunner()
    show = runner.invoke(cli, ["exceptions", "show", eid, "--config", config])
    assert show.exit_code == 0, show.output
    _safe(show.output)
    assert "Purpose: Churn review\\x1b[2K\\rAPPROVED BY THE CISO" in show.output
    # the stored line break: an indented line, not a line that reads as a field
    assert "Justification: line one\\r\n  Approved by: ciso\\x1b[31m" in show.output
    assert "Destination: /tmp/out-\\u202ecsv.exe" in show.output
    listed = runner.invoke(cli, ["exceptions", "list", "--config", config])
    assert listed.exit_code == 0, listed.output
    _safe(listed.output)
    assert "\\x1b[2K" in listed.output
    as_json = runner.invoke(cli, ["exceptions", "list", "--json", "--config", config])
    assert as_json.exit_code == 0, as_json.output
    _safe(as_json.output)
    row = json.loads(as_json.output.splitlines()[0])
    assert (row["purpose"], row["business_justification"], row["destination"]) == (
        PURPOSE, JUSTIFICATION, DESTINATION)
    report = runner.invoke(cli, ["exceptions", "report", "--config", config])
    assert report.exit_code == 0, report.output
    _safe(report.output)
    assert "justification: line one\\r\\nApproved by: ciso\\x1b[31m" in report.output


def test_str_of_an_old_request_is_one_line_per_field(stored):
    """``str(request)`` (a notebook's, the CLI's approve/deny): a stored line break in a field
    cannot start a line that reads as another field."""
    app, _, eid = stored
    request = app.state.lacuna.governor.exceptions.get(eid)
    text = str(request)
    _safe(text)
    assert "Purpose: Churn review\\x1b[2K\\rAPPROVED BY THE CISO" in text.splitlines()
    from lacuna.exceptions.notify import text as notification

    for event in ("requested", "approved"):
        body = notification(request, event)
        _safe(body)
        assert "Purpose: Churn review\\x1b[2K\\rAPPROVED BY THE CISO" in body.splitlines()


def test_audit_page_and_api_show_text_that_is_not_utf8_escaped(app_and_tokens):
    """A record naming a file whose name is not UTF-8 (a lone surrogate, kept escaped in the
    body) made the console's audit page a 500 (the page could not be encoded), and a text
    column holding bytes that are not UTF-8 (written around Lacuna) a 400 'cannot read the
    audit trail' for the page and ``GET /api/v1/audit``. Both are shown, escaped."""
    import dataclasses
    import sqlite3

    from tests.audit.conftest import make_decision, make_operation

    app, tokens, _ = app_and_tokens
    audit = app.state.lacuna.governor.audit
    op = dataclasses.replace(make_operation(destination="/data/b\udcffd.csv"),
                             purpose="Q4 p\udcffurpose")
    audit.record(make_decision(op), op, session="s")
    officer = sign_in(app, tokens["carol"])
    page = officer.get("/console/audit")
    assert page.status_code == 200
    assert "b\\udcffd.csv" in page.text
    with sqlite3.connect(audit.path) as conn:
        conn.execute("UPDATE lacuna_audit SET user_id = CAST(X'62ff6f62' AS TEXT) "
                     "WHERE seq = (SELECT MAX(seq) FROM lacuna_audit)")
    page = officer.get("/console/audit")
    assert page.status_code == 200
    assert "b\\udcffob" in page.text
    api = TestClient(app).get("/api/v1/audit",
                              headers={"Authorization": f"Bearer {tokens['carol']}"})
    assert api.status_code == 200
    newest = api.json()["records"][0]
    assert (newest["what"]["destination"], newest["why"]["purpose"]) == (
        "/data/b\udcffd.csv", "Q4 p\udcffurpose")
