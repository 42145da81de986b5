"""Feedback on a decision and the review queue, in a real browser against the live server.

An analyst's export is denied; the violation links to the console's feedback page for that
decision; she reports a false positive there; a data steward finds it in the review queue (with
the decision behind it and a candidate declaration), filters by policy and accepts it; a
compliance officer may read the queue but not decide; an analyst may not open it; forms need
their CSRF token.
"""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.feedback import feedback_link

from .conftest import shrink
from .test_console_browser import sign_in

WHY = "customer_id is an internal surrogate key, not personal data"


def test_feedback_from_the_violation_to_the_review_queue(browser, live_server, notebook,
                                                        screenshots):
    notebook("alice")
    target = live_server.folder / "Downloads" / "churn_by_region.csv"
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        pd.read_csv("customers.csv").to_csv(target, index=False)
    decision_id = denied.value.decision.decision_id
    link = feedback_link(denied.value.decision, live_server.url)
    assert link is not None
    assert link.console_url == f"{live_server.url}/console/feedback/{decision_id}"
    assert f"lacuna feedback {decision_id} --false-positive" in str(denied.value)

    # 1. The analyst opens the link, sees her decision and reports a false positive.
    page = sign_in(browser, live_server, "alice")
    page.goto(link.console_url)
    facts = page.locator("#decision").inner_text()
    assert "denied" in facts
    assert str(target) in facts
    assert "PROPRIETARY" in facts
    page.get_by_label("This was a false positive").check()
    page.get_by_label("Comment").fill(WHY)
    page.get_by_role("button", name="Send feedback").click()
    page.wait_for_load_state()
    assert "reported as a false positive" in page.get_by_role("status").inner_text()
    # ... but not on a decision of someone else, nor into the review queue.
    assert page.goto("/console/review").status == 403
    page.context.close()

    # 2. A steward finds it in the review queue, with the decision and a candidate declaration.
    steward = sign_in(browser, live_server, "sam")
    steward.goto("/console/review")
    cards = steward.locator("ul.queue > li")
    card = cards.filter(has_text=WHY)
    assert card.count() == 1
    text = card.inner_text()
    assert "reported by".lower() in text.lower()
    assert "alice" in text
    assert decision_id in text
    assert str(target) in text
    policy = card.locator("h2").inner_text().split(":", 1)[0]
    card.locator("summary").click()
    declaration = card.locator("pre").inner_text()
    assert "declared:" in declaration
    assert "email: public  # was pii:email" in declaration
    steward.get_by_label("Policy").select_option(policy)
    steward.get_by_role("button", name="Filter").click()
    steward.wait_for_load_state()
    assert f"policy={policy}" in steward.url
    shown = steward.locator("ul.queue > li h2").all_inner_texts()
    assert shown
    assert all(h.startswith(f"{policy}:") for h in shown)
    steward.locator("ul.queue > li").filter(has_text=WHY).locator("summary").click()
    path = screenshots / "review-queue.png"
    steward.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000
    shrink(path)
    card = steward.locator("ul.queue > li").filter(has_text=WHY)
    card.get_by_label("Comment").fill("Declare customer_id internal in the CRM model")
    card.get_by_role("button", name="Accept (policy needs change)").click()
    steward.wait_for_load_state()
    assert "Report accepted" in steward.get_by_role("status").inner_text()
    done = steward.locator("ul.queue > li").filter(has_text=WHY)
    assert done.locator(".badge").inner_text() == "accepted"
    assert "accepted by sam: Declare customer_id internal" in done.inner_text()
    steward.goto("/console/review")  # open reports only: it has left the queue
    assert steward.locator("ul.queue > li").filter(has_text=WHY).count() == 0
    # A form without its CSRF token is refused.
    forged = steward.request.post("/console/review/0123", form={"verdict": "reject"},
                                  max_redirects=0)
    assert forged.status == 403
    steward.context.close()

    # 3. A compliance officer reads the queue but has no buttons; the trail has it all.
    auditor = sign_in(browser, live_server, "carol")
    auditor.goto("/console/review?status=all")
    assert auditor.locator("ul.queue > li").filter(has_text=WHY).count() == 1
    assert auditor.get_by_role("button", name="Reject").count() == 0
    auditor.context.close()
    notebook("alice")
    kinds = [r.data.get("kind") for r in lacuna.governor.current().audit.list(limit=20)]
    assert "feedback" in kinds
    assert "feedback_review" in kinds
