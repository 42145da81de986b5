"""The console's audit page shows the client host a record names (``who.host``) and whether
the server vouched for it (``who.host_verified``): it showed neither, so a reader could not
tell a host the settings bind the caller to from one an unbound caller only named."""

from __future__ import annotations

import dataclasses

from tests.console.test_console_pages import app_and_tokens, sign_in  # noqa: F401


def _cells(page: str, marker: str) -> str:
    """The table row of the page that holds ``marker``."""
    start = page.rindex("<tr", 0, page.index(marker))
    return page[start:page.index("</tr>", start)]


def test_the_audit_page_shows_each_records_host_and_whether_it_was_verified(
        app_and_tokens) -> None:  # noqa: F811
    from tests.audit.conftest import make_decision, make_operation

    app, tokens, _ = app_and_tokens
    audit = app.state.lacuna.governor.audit
    for name, host, verified in (("bound", "ana-laptop", True), ("word", "joe-desktop", False),
                                 ("none", None, False)):
        op = dataclasses.replace(make_operation(destination=f"/data/{name}-host.csv"),
                                 client_host=host, host_verified=verified)
        audit.record(make_decision(op), op, session="s")
    page = sign_in(app, tokens["carol"]).get("/console/audit")
    assert page.status_code == 200
    assert '<th scope="col">Host</th>' in page.text
    bound = _cells(page.text, "bound-host.csv")
    assert "<code>ana-laptop</code> <small>verified</small>" in bound
    word = _cells(page.text, "word-host.csv")
    assert "<code>joe-desktop</code> <small>unverified (the client&#39;s word)</small>" in word
    none = _cells(page.text, "none-host.csv")
    assert '<td class="host">—</td>' in none
    assert "verified" not in none


def test_an_exceptions_history_says_from_which_host_its_grant_was_used(
        app_and_tokens) -> None:  # noqa: F811
    """A grant names a path, not a machine: the exception's history says from which client
    host each use was decided, and whether the server vouched for that host."""
    from tests.audit.conftest import make_decision, make_operation
    from tests.console.test_console_pages import _file

    app, tokens, _ = app_and_tokens
    state = app.state.lacuna
    [exception_id] = _file(state.governor.exceptions, 1)
    for name, host, verified in (("bound", "ana-laptop", True), ("word", "joe-desktop", False),
                                 ("none", None, False)):
        op = dataclasses.replace(make_operation(destination=f"/data/{name}-use.csv"),
                                 exception_id=exception_id, client_host=host,
                                 host_verified=verified)
        state.governor.audit.record(make_decision(op), op, session="s")
    page = sign_in(app, tokens["sam"]).get(f"/console/exceptions/{exception_id}")
    assert page.status_code == 200, page.text
    assert "bound-use.csv (audit #" in page.text
    assert ", from host ana-laptop (verified)" in page.text
    assert ", from host joe-desktop (unverified: the client’s word)" in page.text
    none = page.text.split("none-use.csv (audit #", 1)[1].split("</li>", 1)[0]
    assert "from host" not in none
