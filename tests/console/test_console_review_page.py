"""The console's review queue reads a page, not the whole queue: the same reports in the same
order as the queue cut to a page (``lacuna.metrics.review.review_queue``), from a bounded read
of the audit trail."""

from __future__ import annotations

import re

import pytest
from tests.console.test_console_pages import app_and_tokens, sign_in

from lacuna.metrics.review import review_queue, review_report

__all__ = ["app_and_tokens"]  # the fixture, imported for the tests here

REPORTS = 300  # with the withdrawals, more feedback records than one read (PAGE_READ, 200)


class Reads:
    """The audit store's reads, counted (the real store answers every one)."""

    def __init__(self, store) -> None:
        self.store, self.feedback_rows, self.unbounded = store, 0, []
        self.real_list = store.list

    def list(self, **kw):
        got = self.real_list(**kw)
        if kw.get("action") == "feedback":
            self.feedback_rows += len(got)
        if kw.get("limit", 50) is None and "naming" not in kw:
            self.unbounded.append(kw.get("action"))
        return got


@pytest.fixture
def big_queue(app_and_tokens):
    """REPORTS decisions under two policies, each reported a false positive by alice or bob;
    some withdrawn ("this was right" later), some reviewed (one twice), one review's comment
    naming another report's id."""
    from lacuna.metrics.feedback import report_feedback
    from lacuna.model import Action, Classification, Decision, Operation, Tier, User

    app, tokens, _ = app_and_tokens
    gov = app.state.lacuna.governor
    pairs = []
    for i in range(REPORTS):
        op = Operation(action=Action.EXPORT, user=User(id="alice", role="data_analyst"),
                       classification=Classification(tier=Tier.PROPRIETARY), method="test",
                       purpose=f"report {i}")
        policy = "P-2024-001" if i % 3 else "P-2024-009"
        pairs.append((Decision(allowed=False, operation_id=op.id, reasoning="denied",
                               policy_id=policy, operation=op), op, "nb"))
    reports = []
    for i, record in enumerate(gov.audit.record_many(pairs)):
        who = ("alice", "analyst") if i % 2 else ("bob", "analyst")
        reports.append(report_feedback(record.id, false_positive=True, comment=f"wrong {i}",
                                       governor=gov, reporter=who))
        if i % 11 == 0:  # withdrawn: the reporter's later word counts
            report_feedback(record.id, false_positive=False, governor=gov, reporter=who)
    sam = ("sam", "data_steward")
    for i in range(0, REPORTS, 4):
        verdict = "accept" if i % 8 else "reject"
        review_report(reports[i].id, verdict=verdict, reviewer=sam, governor=gov,
                      comment=f'not "feedback_id":"{reports[i + 1].id}"')
    review_report(reports[8].id, verdict="accept", reviewer=sam, governor=gov)  # changed
    return app, tokens, gov, reports


def test_a_review_page_is_the_queue_cut_to_a_page_from_a_bounded_read(big_queue, monkeypatch):
    from lacuna.metrics.review import PAGE_READ, review_page

    _, _, gov, reports = big_queue
    cases = [(None, "open", 1), (None, "all", 1000), (None, "accepted", 7),
             (None, "rejected", 100), ("P-2024-009", "open", 7), ("P-2024-001", "all", 100),
             ("P-none", "all", 7)]
    whole = {(policy, status): review_queue(governor=gov, policy=policy, status=status)
             for policy, status, _ in cases}
    every = review_queue(governor=gov, status="all")
    assert len(every) == REPORTS - len(range(0, REPORTS, 11))
    assert {i.status for i in every} == {"open", "accepted", "rejected"}
    assert reports[9].id in {i.feedback_id for i in every if i.status == "open"}  # named only
    assert next(i for i in every if i.feedback_id == reports[8].id).status == "accepted"
    reads = Reads(gov.audit)
    monkeypatch.setattr(gov.audit, "list", reads.list)
    for policy, status, limit in cases:
        queue = whole[policy, status]
        reads.feedback_rows = 0
        items, more = review_page(governor=gov, policy=policy, status=status, limit=limit)
        assert items == queue[:limit], (policy, status, limit)
        assert more == (len(queue) > limit), (policy, status, limit)
        if limit < 100 and status in ("open", "all"):  # a page met early: one read
            assert reads.feedback_rows <= PAGE_READ, (policy, status, limit)
        if limit == 1000:  # the whole queue: every batch, to the trail's first feedback
            assert reads.feedback_rows == REPORTS + len(range(0, REPORTS, 11)) > PAGE_READ
    assert reads.unbounded == []


def test_the_console_review_page_reads_a_page_not_the_queue(big_queue, monkeypatch):
    """The page computed the whole queue (every feedback and review record) per request."""
    app, tokens, gov, _ = big_queue
    officer = sign_in(app, tokens["carol"])
    reads = Reads(gov.audit)
    monkeypatch.setattr(gov.audit, "list", reads.list)
    for params in ({}, {"limit": 5}, {"status": "all", "limit": 20},
                   {"policy": "P-2024-009", "status": "accepted", "limit": 3}):
        expected = review_queue(governor=gov, policy=params.get("policy"),
                                status=params.get("status", "open"))
        limit = params.get("limit", 100)
        reads.feedback_rows, reads.unbounded = 0, []
        page = officer.get("/console/review", params=params)
        assert page.status_code == 200
        shown = re.findall(r'<li class="card" id="report-([0-9a-f]+)"', page.text)
        assert shown == [i.feedback_id for i in expected[:limit]], params
        assert ("older ones are not shown" in page.text) == (len(expected) > limit)
        assert reads.unbounded == [], params
        assert reads.feedback_rows <= 400, params  # two reads of review.PAGE_READ (200)
        assert '<option value="P-2024-009"' in page.text
        assert '<option value="P-2024-001"' in page.text
