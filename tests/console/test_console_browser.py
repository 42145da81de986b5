"""The steward console in a real browser (headless Chromium) against a live server.

The story of issue 10: an analyst's export is denied and they request an exception; a steward
signs in and approves it with a condition; the analyst's export with the exception id then
succeeds; the audit page shows all of it; a steward cannot approve their own request.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import lacuna

from .conftest import LAPTOP, PHONE, shrink

PURPOSE = "Board of Directors Q4 customer metrics presentation"
CONDITION = "File is deleted after the board meeting"


def sign_in(browser, server, user, *, viewport=LAPTOP):
    context = browser.new_context(viewport=viewport, base_url=server.url)
    page = context.new_page()
    page.goto("/console/login")
    page.get_by_label("API token").fill(server.tokens[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Sign out").is_visible(), page.content()
    return page


def shoot(page, folder, name):
    """The page's screenshot, tried up to three times: on a loaded machine Chromium's
    compositor can miss the frame (\"Protocol error (Page.captureScreenshot): Unable to capture
    screenshot\", seen once in a full run with other jobs on both cores)."""
    path = folder / f"{name}.png"
    for attempt in range(3):
        try:
            page.screenshot(path=str(path))
            break
        except Exception as exc:  # playwright's Error (playwright may not be installed)
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.wait_for_timeout(500)
    assert path.stat().st_size > 5_000  # a page, not a blank
    shrink(path)


def board_report():
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv")
    return customers.merge(sales, on="customer_id")


def test_denied_export_request_approve_with_condition_export_audit(
        browser, live_server, notebook, screenshots):
    target = live_server.folder / "Downloads" / "board_report.csv"

    # 1. The analyst's export is denied; they request an exception.
    notebook("alice")
    report = board_report()
    with pytest.raises(lacuna.GovernanceViolation):
        report.to_csv(target, index=False)
    assert not target.exists()
    request = lacuna.request_exception(
        data=report, destination=str(target), purpose=PURPOSE,
        business_justification="The board asked for customer growth by region.",
        approver="sam", duration_hours=2)
    exc_id = request.id

    # 2. A steward signs in, finds it in the queue and approves it with a condition.
    page = sign_in(browser, live_server, "sam")
    page.goto("/console/exceptions")
    card = page.locator(f"li#{exc_id}")
    assert card.get_by_text("alice (data_analyst)").is_visible()
    assert card.get_by_text(PURPOSE).is_visible()
    shoot(page, screenshots, "exceptions")
    card.get_by_label("Conditions (one per line)").fill(CONDITION)
    card.get_by_label("Comment").fill("For the board pack only")
    card.get_by_role("button", name=f"Approve {exc_id}").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").get_by_text(f"{exc_id} approved.").is_visible()
    approved = page.locator(f"li#{exc_id}")
    assert approved.locator(".badge").inner_text() == "approved"

    # 3. The analyst's export with the exception id now succeeds.
    notebook("alice")
    report.to_csv(target, index=False, exception_id=exc_id)
    assert target.exists()
    assert len(pd.read_csv(target)) == len(report)

    # 4. The exception's history shows the request, the approval with its condition, the use.
    page.goto(f"/console/exceptions/{exc_id}")
    timeline = page.locator("ol.timeline")
    text = timeline.inner_text()
    assert "requested by alice" in text
    assert "approved by sam" in text, text
    assert CONDITION in page.locator("main").inner_text()
    assert "used: export allowed by alice" in text
    shoot(page, screenshots, "exception-history")

    # 5. The audit page (a compliance officer) shows the denial, the allowed export with the
    #    exception id, and a verified chain.
    auditor = sign_in(browser, live_server, "carol")
    auditor.goto("/console/audit?dataset=board_report.csv")
    assert "Chain verified" in auditor.locator("p.chain").inner_text()
    rows = auditor.locator("table.records tbody tr")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    denied = [t for t in texts if "alice" in t and "\texport\t" in t and "denied" in t]
    used = [t for t in texts if "alice" in t and exc_id in t and "\texport\t" in t
            and "allowed" in t]
    approved = [t for t in texts if "sam" in t and "exception: approved" in t and exc_id in t]
    requested = [t for t in texts if "alice" in t and "exception: requested" in t]
    assert denied, texts
    assert used, texts
    assert approved, texts
    assert requested, texts
    auditor.get_by_label("Decision").select_option("denied")
    auditor.get_by_role("button", name="Search").click()
    auditor.wait_for_load_state()
    shown = auditor.locator("table.records tbody tr")
    assert shown.count() >= 1
    assert all("denied" in shown.nth(i).inner_text() for i in range(shown.count()))
    auditor.goto("/console/audit?user=alice")
    shoot(auditor, screenshots, "audit")

    # The lineage of the report: two sources upstream, tiers and column classes shown.
    auditor.goto(f"/console/lineage?dataset={target}")
    graph = auditor.locator("svg.lineage")
    assert graph.locator("a.node").count() >= 3
    assert "PROPRIETARY" in graph.text_content()
    table = auditor.locator("main table").inner_text()
    assert "customers.csv" in table
    assert "sales.csv" in table
    assert "pii:email" in table
    shoot(auditor, screenshots, "lineage")

    auditor.goto("/console/policies")
    assert "passed" in auditor.locator("section.card p").first.inner_text()
    assert auditor.locator("ul.policies > li").count() >= 1
    shoot(auditor, screenshots, "policies")

    auditor.goto("/console/metrics")
    kpis = auditor.locator("ul.kpis").inner_text()
    assert re.search(r"[1-9]\d*\s+violations", kpis), kpis
    assert auditor.locator("svg.chart").count() == 4
    shoot(auditor, screenshots, "metrics")

    phone = sign_in(browser, live_server, "sam", viewport=PHONE)
    phone.goto("/console/exceptions?status=all")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width}px)"
    shoot(phone, screenshots, "exceptions-phone")
    for p in (page, auditor, phone):
        p.context.close()


def test_a_steward_cannot_approve_their_own_request(browser, live_server, notebook):
    target = live_server.folder / "Downloads" / "sue_extract.csv"
    notebook("sue", role="data_steward")
    request = lacuna.request_exception(
        data=pd.read_csv("customers.csv"), destination=str(target),
        purpose="Quarterly churn review with the retention team", approver="sue",
        duration_hours=1)
    page = sign_in(browser, live_server, "sue")
    page.goto("/console/exceptions")
    card = page.locator(f"li#{request.id}")
    assert card.get_by_text("you filed this request").is_visible()
    assert card.get_by_role("button", name=f"Approve {request.id}").count() == 0
    # A hand-made POST with a valid CSRF token is refused too, by the exception store's rule.
    csrf = page.locator("form.signout input[name=csrf_token]").get_attribute("value")
    answer = page.request.post(f"/console/exceptions/{request.id}/decide",
                               form={"csrf_token": csrf, "decision": "approve"},
                               max_redirects=0)
    assert answer.status == 403
    assert "cannot approve" in answer.text()
    notebook("sue", role="data_steward")
    assert lacuna.governor.current().exceptions.get(request.id).status.value == "pending"
    page.context.close()


def test_roles_and_csrf_are_enforced(browser, live_server):
    anonymous = browser.new_context(base_url=live_server.url)
    page = anonymous.new_page()
    answer = page.goto("/console/audit")
    assert answer.status == 401  # the sign-in form, which returns to the page asked for
    page.get_by_label("API token").fill(live_server.tokens["carol"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/console/audit"
    assert "Chain verified" in page.locator("p.chain").inner_text()
    anonymous.close()

    analyst = sign_in(browser, live_server, "alice")
    for path in ("/console/audit", "/console/metrics"):
        answer = analyst.goto(path)
        assert answer.status == 403
        assert "lacks the role" in analyst.locator("main").inner_text()
    nav = analyst.get_by_role("navigation").inner_text()
    assert "Audit" not in nav
    assert "Exceptions" in nav
    answer = analyst.request.post("/console/exceptions/EXC-2026-999/decide",
                                  form={"decision": "approve"}, max_redirects=0)
    assert answer.status == 403
    analyst.context.close()

    steward = sign_in(browser, live_server, "sam")
    no_token = steward.request.post("/console/policies/test", form={}, max_redirects=0)
    assert no_token.status == 403
    assert "CSRF" in no_token.text()
    cookie = next(c for c in steward.context.cookies() if c["name"] == "lacuna_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    steward.context.close()


def test_keyboard_and_labels(browser, live_server):
    page = sign_in(browser, live_server, "carol")
    page.goto("/console/audit")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-user"
    unlabeled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')].filter(
        e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabeled == []
    page.context.close()
