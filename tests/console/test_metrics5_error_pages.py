"""A console page that met one of Lacuna's errors (an audit record whose ``timestamp`` column is
no time) answered the API's JSON 400: a browser showed raw JSON, the console gone. Console
pages now answer the console's HTML error page (same status, the message naming the record
and ``lacuna audit verify``); the API keeps its JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from audit_rows import denial_body
from lacuna.audit.record import iso

BAD = "2026-0X-01T00:00:00.000000+00:00"  # a time's shape, no time


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from lacuna.identity import UserStore
    from lacuna.server.app import create_app
    from lacuna.server.settings import load_settings

    monkeypatch.setenv("LACUNA_SIGNING_KEY", "cd" * 32)
    db = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "lacuna.yaml"
    config.write_text(f"stewards:\n  default: [sam]\naudit:\n  url: {db!r}\n", encoding="utf-8")
    users = UserStore(db)
    token = users.add("sam", roles=("data_steward",))
    app = create_app(load_settings(None, environ={}, db=db, config=str(config)))
    now = datetime.now(UTC)
    app.state.lacuna.governor.audit._append_all(
        [denial_body(i, iso(now - timedelta(hours=i + 1)), tier="INTERNAL") for i in range(3)])
    client = TestClient(app)
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    signed = client.post("/console/login", data={"csrf_token": csrf.group(1), "token": token},
                         follow_redirects=False)
    assert signed.status_code == 303, signed.text
    yield client, db, {"Authorization": f"Bearer {token}"}
    users.close()


def _break(db: str) -> None:
    engine = create_engine(db)
    with engine.begin() as conn:
        conn.execute(text("UPDATE lacuna_audit SET timestamp = :t WHERE seq = 2"), {"t": BAD})
    engine.dispose()


PAGES = ("/console/metrics", "/console/audit", "/console/audit?since=2020-01-01")


def test_metrics5_console_pages_that_meet_a_bad_record_answer_html(console: Any) -> None:
    client, db, bearer = console
    for page in PAGES:  # the allowed path: the pages as they are
        assert client.get(page).status_code == 200, page
    _break(db)
    for page in PAGES:
        answer = client.get(page)
        assert (answer.status_code, answer.headers["content-type"]) == (
            400, "text/html; charset=utf-8"), page
        assert "<h1>This page cannot be shown</h1>" in answer.text
        assert "<p>audit record #2 (id &#39;" in answer.text  # named, escaped as text
        assert "2026-0X-01T00:00:00.000000+00:00&#39; is not an ISO-8601 time" in answer.text
        assert "lacuna audit verify" in answer.text
        assert "Back to the console" in answer.text  # the signed-in layout, not sign-in
    api = client.get("/api/v1/metrics?exact=true", headers=bearer)
    assert api.status_code == 400
    assert api.json()["code"] == "AuditError"
    assert "audit record #2" in api.json()["message"]
