"""Periods, feedback and the survey (Python and CLI), workarounds and audit gaps."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.errors import AuditError, ConfigError
from lacuna.governor import current
from lacuna.metrics import (
    DecisionNotFound,
    Flag,
    GovernanceMetrics,
    answer_survey,
    parse_period,
    report_feedback,
    survey_due,
    time_series,
)

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_periods():
    assert parse_period("last_7_days", now=NOW).start == datetime(2026, 11, 25, 12, tzinfo=UTC)
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.end) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1,
                                                                            tzinfo=UTC))
    assert parse_period("2026-02").end == datetime(2026, 3, 1, tzinfo=UTC)
    span = parse_period("2026-10-01..2026-10-31")
    assert span.end == datetime(2026, 11, 1, tzinfo=UTC)  # the last day counts whole
    assert parse_period((date(2026, 10, 1), date(2026, 10, 31))).end == span.end
    assert datetime(2026, 10, 31, 23, 59, tzinfo=UTC) in span
    for bad in ("yesterday", "2026-Q5", "2026-13", "2026-10-05..2026-10-01", "x..y"):
        with pytest.raises(ConfigError, match="metrics period"):
            parse_period(bad)


def _denied(frame: pd.DataFrame, target) -> str:
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        frame.to_csv(target)
    return denied.value.decision.operation_id


def _cli_config(governed) -> None:
    """A lacuna.yaml naming the sandbox's audit trail, for the CLI (which reads its own)."""
    (governed / "lacuna.yaml").write_text(
        f"user:\n  id: analyst_alice\n  role: data_analyst\n"
        f"audit:\n  url: sqlite:///{governed / 'audit.db'}\n")
    lacuna.disable()


def test_feedback_python_and_cli(governed, monkeypatch):
    from lacuna.cli import app

    customers = pd.read_csv("customers.csv")
    first = _denied(customers, governed / "Downloads" / "a.csv")
    second = _denied(customers, governed / "Downloads" / "b.csv")
    assert GovernanceMetrics().false_positive_rate == 0.0

    report_feedback(first, false_positive=True, comment="only ids leave")
    assert GovernanceMetrics().false_positive_rate == 50.0
    report_feedback(first, false_positive=False, comment="on reflection, right")  # latest wins
    assert GovernanceMetrics().false_positive_rate == 0.0
    with pytest.raises(DecisionNotFound, match="no decision 'nope'"):
        report_feedback("nope", false_positive=True)

    _cli_config(governed)
    runner = CliRunner()
    out = runner.invoke(app, ["feedback", second, "--false-positive", "the file had no PII"])
    assert out.exit_code == 0, out.output
    assert runner.invoke(app, ["feedback", second]).exit_code == 2
    out = runner.invoke(app, ["survey", "2"])
    assert out.exit_code == 0, out.output
    assert runner.invoke(app, ["survey", "9"]).exit_code == 2

    out = runner.invoke(app, ["metrics", "--json", "--period", "last_7_days"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)["metrics"]
    assert doc["false_positive_rate"]["value"] == 50.0
    assert doc["false_positive_rate"]["counts"] == {"reported_false_positive": 1, "denials": 2}
    assert doc["user_satisfaction"] == {"value": 2.0, "target": ">4.0/5", "unit": "/5",
                                        "flag": "missed", "counts": {"respondents": 1}}
    text = runner.invoke(app, ["metrics"])
    assert "Policy violation rate:" in text.output
    assert "missed" in text.output
    assert runner.invoke(app, ["metrics", "--check"]).exit_code == 1
    assert runner.invoke(app, ["metrics", "--period", "soon"]).exit_code == 2
    # a misspelt filter counted nothing and met every target (exit 0): said, and exit 2
    for args, hint in ((["--policy", "P-2024-01"], "did you mean P-2024-001"),
                       (["--user-group", "analist"], "did you mean analyst"),
                       (["--domain", "exprot"], "did you mean export")):
        out = runner.invoke(app, ["metrics", "--check", *args])
        assert out.exit_code == 2, (args, out.output)
        assert "check the spelling" in out.output
        assert hint in out.output
    # a known value with a quiet period is a warning, and the check goes on
    out = runner.invoke(app, ["metrics", "--check", "--policy", "P-2024-001",
                              "--period", "2020-01"])
    assert out.exit_code in (0, 1), out.output
    assert "widen --period" in out.output


def test_survey_once_per_period(governed):
    assert survey_due()
    with pytest.raises(ConfigError, match="from 1"):
        answer_survey(0)
    answer_survey(5)
    assert not survey_due()
    assert GovernanceMetrics().user_satisfaction == 5.0


def test_workarounds_and_resolution(governed):
    customers = pd.read_csv("customers.csv")
    down, work = governed / "Downloads", governed / "governed" / "workspace"
    _denied(customers, down / "c.csv")
    renamed = customers.rename(columns={"email": "contact", "name": "label"})
    denials = 1
    try:  # rename-then-export: denied again (another file) or let through: either is a workaround
        renamed.to_csv(down / "c2.csv")
    except lacuna.GovernanceViolation:
        denials += 1
    customers.to_csv(work / "c.csv")  # the compliant path resolves the denial
    m = GovernanceMetrics()
    assert m.workaround_attempts == 1
    # every denial is followed by the compliant write of the same data by the same user
    assert m.counts["avg_resolution_time_minutes"] == {"resolved": denials, "denials": denials}
    assert m.avg_resolution_time_minutes is not None
    assert m.avg_resolution_time_minutes < 1
    series = time_series("last_7_days")
    assert len(series) == 7
    assert series[-1]["workaround_attempts"] == 1
    assert series[0]["violation_rate"] == 0.0


def test_audit_gap_lowers_audit_completeness(governed, monkeypatch):
    customers = pd.read_csv("customers.csv")
    customers.to_csv(governed / "governed" / "workspace" / "ok.csv")
    assert GovernanceMetrics().audit_completeness == 100.0

    def broken(*_a, **_k):
        raise AuditError("disk full")

    monkeypatch.setattr(current().audit, "record", broken)
    with pytest.raises(lacuna.GovernanceViolation):  # enforce: unrecorded means denied
        customers.to_csv(governed / "governed" / "workspace" / "lost.csv")
    monkeypatch.undo()
    m = GovernanceMetrics()
    audited, intercepted = (m.counts["audit_completeness"][k] for k in ("audited", "intercepted"))
    assert intercepted == audited + 1
    assert m.audit_completeness == round(100 * audited / intercepted, 2) < 100
    assert m.flags["audit_completeness"] is Flag.MISSED
    # an audited operation missing from the decision log (dropped) must not hide the
    # unaudited one: the rollups took the larger of the two counts (100 %), the records
    # their union, as the definition says
    import sqlite3

    current().engine.decision_log.flush()
    conn = sqlite3.connect(governed / "audit.db", isolation_level=None, timeout=30)
    (dropped,) = conn.execute("select operation_id from lacuna_audit where operation_id is not "
                              "null order by seq limit 1").fetchone()
    assert conn.execute("delete from lacuna_decision_log where operation_id = ?",
                        (dropped,)).rowcount == 1
    conn.close()
    exact, rolled = (GovernanceMetrics(exact=e) for e in (True, False))
    assert rolled.source == "rollups"
    assert rolled.counts["audit_completeness"] == exact.counts["audit_completeness"] == {
        "audited": audited, "intercepted": audited + 1}
    assert rolled.audit_completeness == exact.audit_completeness < 100


def test_cli_unknown_decision(governed):
    from lacuna.cli import app

    out = CliRunner().invoke(app, ["feedback", "0123abc", "--correct", "fine"])
    assert out.exit_code == 2
    assert "no decision '0123abc'" in out.output


def test_insights(governed):
    from lacuna.cli import app
    from lacuna.metrics import insights

    customers = pd.read_csv("customers.csv")
    ops = [_denied(customers, governed / "Downloads" / f"{i}.csv") for i in range(3)]
    customers.to_csv(governed / "governed" / "workspace" / "ok.csv")
    report_feedback(ops[0], false_positive=True, comment="email is a work address")
    answer_survey(2)
    found = insights()
    export = next(p for p in found.policies if p.policy_id == "P-2024-001")
    assert (export.denials, export.false_positives) == (3, 1)
    assert export.false_positive_rate == round(100 / 3, 2)
    assert "high violation rate: policies too strict or unclear" in export.diagnoses
    assert "high false positive rate: classification needs tuning" in export.diagnoses
    wrong = current().audit.list(limit=None)
    first = next(r for r in wrong if r.data.get("operation_id") == ops[0])
    assert export.examples[0] == first.id  # the reported decision first
    assert dict(found.columns_reported_wrong) == {c: 1 for c in first.data["what"]["columns"]}
    assert "email" in dict(found.columns_reported_wrong)
    assert found.diagnoses == ("low user satisfaction: friction too high",)
    _cli_config(governed)
    out = CliRunner().invoke(app, ["metrics", "insights", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["policies"][0]["policy_id"] == found.policies[0].policy_id


def test_review_queue_items_verdicts_and_withdrawn_reports(governed):
    from lacuna.metrics.review import ReportNotFound, review_queue, review_report

    customers = pd.read_csv("customers.csv")
    ops = []
    for name in ("a", "b"):
        with pytest.raises(lacuna.GovernanceViolation) as denied:
            customers.to_csv(governed / "Downloads" / f"{name}.csv")
        ops.append(denied.value.decision.decision_id)
    first = report_feedback(ops[0], false_positive=True, comment="ids only")
    report_feedback(ops[1], false_positive=True, comment="oops")
    report_feedback(ops[1], false_positive=False, comment="on reflection, right")  # withdrawn
    queue = review_queue()
    assert [i.operation_id for i in queue] == [ops[0]]
    item = queue[0]
    assert item.status == "open"
    assert item.comment == "ids only"
    assert item.policy_id == "P-2024-001"
    assert "email: public  # was pii:email" in item.candidate_declaration()
    assert item.sensitive_term_suggestion() == ""  # no sensitive term set this tier
    assert review_queue(policy="P-9999-999") == []

    with pytest.raises(ConfigError, match="verdict"):
        review_report(first.id, verdict="maybe", reviewer=("sam", "data_steward"))
    with pytest.raises(ReportNotFound):
        review_report(ops[0], verdict="accept", reviewer=("sam", "data_steward"))  # a decision
    from lacuna.metrics.review import ReviewNotAuthorized

    reporter = first.user_id  # a steward does not review their own report
    with pytest.raises(ReviewNotAuthorized, match="cannot review it"):
        review_report(first.id, verdict="accept", reviewer=(f" {reporter.upper()}", "x"))
    [refused] = current().audit.list(limit=None, action="feedback_review_refused")
    assert not refused.allowed
    assert refused.data["feedback_review_refused"] == {"feedback_id": first.id,
                                                      "verdict": "accepted"}
    assert [i.status for i in review_queue()] == ["open"]  # a refusal is not a review
    # nor does the person denied review another's report on their denial (an accomplice's)
    other = report_feedback(ops[0], false_positive=True, comment="ids only",
                            reporter=("bob", "data_analyst"))
    with pytest.raises(ReviewNotAuthorized, match=f"was denied decision .* {other.id}"):
        review_report(other.id, verdict="accept", reviewer=(reporter.upper(), "data_steward"))
    refusals = current().audit.list(limit=None, action="feedback_review_refused")
    assert len(refusals) == 2
    assert {"feedback_id": other.id, "verdict": "accepted"} in [
        r.data["feedback_review_refused"] for r in refusals]
    review_report(other.id, verdict="reject", comment="bob is wrong", reviewer=("sam", "x"))
    review_report(first.id, verdict="reject", comment="policy is right", reviewer=("sam", "x"))
    review_report(first.id, verdict="accept", comment="on second look", reviewer=("sue", "x"))
    assert review_queue() == []  # no open report left
    [done] = review_queue(status="accepted")
    assert (done.review.by, done.review.comment) == ("sue", "on second look")
    assert [i.feedback_id for i in review_queue(status="rejected")] == [other.id]
    assert current().audit.verify().ok  # reviews are chained like everything else


def test_metrics_tier_filter_is_a_tier(governed):
    """`lacuna metrics --tier secret` counted nothing and reported every target met; a tier
    that is not one is a usage error naming the tiers, and the spelling does not matter."""
    from lacuna.cli import app

    customers = pd.read_csv("customers.csv")
    _denied(customers, governed / "Downloads" / "a.csv")
    _cli_config(governed)
    runner = CliRunner()
    out = runner.invoke(app, ["metrics", "--tier", "secret", "--json"])
    assert out.exit_code == 2
    assert "unknown tier 'secret'; expected one of: PUBLIC, INTERNAL, PROPRIETARY" in out.output
    out = runner.invoke(app, ["metrics", "--tier", "proprietary", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["filters"] == {"tier": "PROPRIETARY"}
    assert doc["metrics"]["violation_rate"]["counts"]["denied"] == 1
