"""Exception requests in the governance metrics: the filters select them as they select the
decisions (red-team round: a domain filter counted none of the requests its denials led to)."""

from __future__ import annotations

import contextlib

import pandas as pd
import pytest

import lacuna
from lacuna.metrics import GovernanceMetrics

PURPOSE = "Board of Directors Q4 customer metrics presentation"
STEWARD = "jane.smith@example.com"


def _switcher(sandbox_config):
    """``as_user(id)``: enable Lacuna as that user, an analyst, with STEWARD the steward."""

    def as_user(user_id: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]}))

    return as_user


def test_the_domain_filter_counts_the_requests_of_its_denials(governed):
    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        customers.to_csv(target)
    packages = [p.package for p in denied.value.decision.policies]
    assert packages == ["governance.export"]
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver="jane.smith@example.com"
    )
    for exact in (True, None):
        for domain in ("export", "governance.export", None):
            m = GovernanceMetrics("last_7_days", domain=domain, exact=exact)
            assert m.counts["exception_rate"]["exception_requests"] == 1, (domain, exact)
            assert m.counts["violation_rate"]["denied"] == 1
        other = GovernanceMetrics("last_7_days", domain="baseline", exact=exact)
        assert other.counts["exception_rate"]["exception_requests"] == 0
        assert other.counts["violation_rate"]["denied"] == 0
    from lacuna.governor import current

    stored = current().exceptions.get(exc.id)  # read back: recorded and signed
    assert stored.packages == ("governance.export",)
    assert current().exceptions.verified(stored)


def test_a_request_deleted_from_the_state_database_still_counts(governed):
    """The exception rate counted the exceptions table's rows: the requester, who owns the
    state database, deleted theirs and the rate went down with nothing to say so. The audit
    trail's ``requested`` event (hash-chained, verified) counts it, filters included; the
    insights count it for its policy too."""
    import sqlite3

    from lacuna.audit import AuditStore
    from lacuna.metrics import insights

    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_csv(target)
    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver="jane.smith@example.com")
    store = AuditStore(f"sqlite:///{governed / 'audit.db'}")
    try:
        (event,) = [r for r in store.list(limit=None, action="exception")]
    finally:
        store.close()
    assert event.data["exception"]["tier"] == exc.tier  # what the filters select it by
    assert event.data["exception"]["packages"] == ["governance.export"]

    def counted(**filters: str) -> list[int]:
        return [GovernanceMetrics("last_7_days", exact=exact, **filters)
                .counts["exception_rate"]["exception_requests"] for exact in (True, None)]

    before = {k: counted(**v) for k, v in (("all", {}), ("domain", {"domain": "export"}),
                                           ("tier", {"tier": exc.tier}))}
    assert before == {"all": [1, 1], "domain": [1, 1], "tier": [1, 1]}
    with sqlite3.connect(governed / "audit.db") as conn:
        conn.execute("delete from lacuna_exceptions where id = ?", (exc.id,))
    assert {k: counted(**v) for k, v in (("all", {}), ("domain", {"domain": "export"}),
                                         ("tier", {"tier": exc.tier}))} == before
    assert counted(domain="baseline") == [0, 0]
    (policy,) = [p for p in insights("last_7_days").policies if p.policy_id == exc.policy_id]
    assert policy.exception_requests == 1


def test_the_compliance_report_shows_a_hostile_destination_as_escapes(governed, monkeypatch):
    """A request's destination with control characters (stored before requests were held to
    what a decide accepts, or by an older Lacuna): the text and HTML reports show them as
    escapes instead of handing them to the auditor's terminal (ESC, CR) or page (U+202E); the
    data keeps them as written."""
    import lacuna.exceptions
    from lacuna.metrics import compliance_report

    customers = pd.read_csv("customers.csv")
    name = "x\x1b[2K\rapproved by the CISO\u202e.csv"
    monkeypatch.setattr(lacuna.exceptions, "classify_destination", lambda *_: None)
    exc = lacuna.request_exception(
        data=customers,
        destination=str(governed / "Downloads" / name),
        purpose=PURPOSE,
        approver="jane.smith@example.com",
    )
    report = compliance_report("last_7_days")
    for text in (report.to_text(), report.to_html()):
        assert exc.id in text
        assert not any(c in text for c in "\x1b\r\u202e")
        assert "x\\x1b[2K\\rapproved by the CISO\\u202e.csv" in text
    assert report.to_dict()["exceptions"][0]["destination"].endswith(name)  # as recorded
    assert "\x1b" not in report.to_json()


def test_insights_show_a_hostile_column_name_as_escapes():
    from datetime import UTC, datetime

    from lacuna.metrics.insights import Insights
    from lacuna.metrics.period import Period

    period = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "2026-11")
    found = Insights(
        period=period,
        policies=(),
        user_satisfaction=None,
        diagnoses=(),
        columns_reported_wrong=(("e\x1b]8;;http://x\x07mail", 2), ("phone", 1)),
    )
    text = str(found)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "  e\\x1b]8;;http://x\\x07mail: 2" in text
    assert "  phone: 1" in text


def test_periods_past_the_calendar_or_empty_are_config_errors():
    """`lacuna metrics --period` with a window past the calendar, or none at all, is a usage
    error (exit 2), not a traceback; a compact end date still counts its whole day."""
    from datetime import UTC, date, datetime

    from lacuna.errors import ConfigError
    from lacuna.metrics.period import parse_period

    for bad in (
        "last_0_days",
        "last_1000000_days",
        "last_99999999999_days",
        "9999-Q4",
        "9999-12",
        (date(2026, 1, 1), date.max),
    ):
        with pytest.raises(ConfigError, match="metrics period"):
            parse_period(bad)
    assert parse_period("2026-10-01..20261031").end == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_period("last_1_day").label == "last_1_day"


@pytest.mark.parametrize("bucket_days", [0, -1, 0.5, True, "7"])
def test_a_time_series_bucket_that_never_moves_on_is_a_config_error(bucket_days):
    """``time_series(bucket_days=0)`` (or less) never left the period's start: it ran
    forever. A bucket is a whole number of days, at least one."""
    from lacuna.errors import ConfigError
    from lacuna.metrics import time_series

    with pytest.raises(ConfigError, match="bucket_days must be a whole number"):
        time_series("last_7_days", bucket_days=bucket_days, governor=object())  # type: ignore


def test_cli_period_past_the_calendar_is_a_usage_error(governed):
    from typer.testing import CliRunner

    from lacuna.cli import app

    out = CliRunner().invoke(app, ["metrics", "--period", "last_1000000_days"])
    assert out.exit_code == 2, out.output
    assert "reaches past the dates a calendar holds" in out.output


def test_an_approved_exceptions_write_is_not_a_workaround(governed, sandbox_config):
    """Denied, requested, approved, then written where the denial refused, under the grant:
    the compliant path. It was counted as a workaround attempt (the record kept only the id
    the user named, not whether a grant covered the write); the record says so now
    (``why.exception_approved``), and both the records and the rollups read it. A write that
    names an id no grant honours still counts, in both."""

    from lacuna.audit import AuditStore

    steward = STEWARD
    as_user = _switcher(sandbox_config)
    as_user("analyst_alice")
    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_csv(target)
    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=steward, duration_hours=1)
    as_user(steward)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id)
    assert pd.read_csv(target).shape[0] == customers.shape[0]  # written, read back
    for exact in (True, None):
        m = GovernanceMetrics("last_7_days", exact=exact)
        assert m.workaround_attempts == 0, exact
        assert m.counts["avg_resolution_time_minutes"]["resolved"] == 1, exact
    trail = AuditStore(f"sqlite:///{governed / 'audit.db'}").list(limit=None, action="export")
    bodies = [r.data for r in reversed(trail) if r.data.get("kind") is None]
    assert [(b["decision"]["allowed"], b["why"]["exception_approved"]) for b in bodies] == [
        (False, False), (True, True)]
    # the same data renamed, to the same place, naming the grant it is not covered by (another
    # file): allowed or not, the id is not honoured, so it is a workaround attempt
    renamed = customers.rename(columns={"email": "contact"})
    with contextlib.suppress(lacuna.GovernanceViolation):
        renamed.to_csv(governed / "Downloads" / "other.csv", exception_id=exc.id)
    for exact in (True, None):
        assert GovernanceMetrics("last_7_days", exact=exact).workaround_attempts == 1, exact


def test_a_row_lacuna_did_not_write_is_said_not_fatal_to_metrics_and_reports(governed):
    """One row of the exceptions table that is not a request Lacuna wrote (garbage, or another
    request's signed body under its id) stopped ``lacuna metrics``, insights, the compliance
    report, ``lacuna exceptions list`` and ``report`` with a traceback ("it is ignored", the
    message said). Now the others are counted and listed, and the broken rows are said."""
    import json
    import sqlite3

    from typer.testing import CliRunner

    from lacuna.cli import app
    from lacuna.exceptions.report import build
    from lacuna.governor import current
    from lacuna.metrics import compliance_report, insights

    customers = pd.read_csv("customers.csv")
    filed = [lacuna.request_exception(data=customers, destination=str(governed / f"d{i}.csv"),
                                      purpose=PURPOSE, approver="jane.smith@example.com")
             for i in range(3)]
    conn = sqlite3.connect(governed / "audit.db", isolation_level=None, timeout=30)
    conn.execute("update lacuna_exceptions set body = 'garbage' where id = ?", (filed[0].id,))
    (copied,) = conn.execute("select body from lacuna_exceptions where id = ?",
                             (filed[2].id,)).fetchone()
    conn.execute("update lacuna_exceptions set body = ? where id = ?", (copied, filed[1].id))
    conn.close()
    for exact in (True, None):
        counts = GovernanceMetrics("last_7_days", exact=exact).counts["exception_rate"]
        assert counts["exception_requests"] == 3  # the trail holds all three requests
        assert counts["unreadable_requests"] == 2
    assert insights("last_7_days") is not None
    assert filed[2].id in compliance_report("last_7_days").to_text()
    report = build(current())
    assert [i["id"] for i in report.items] == [filed[2].id]
    assert len(report.unreadable) == 2
    assert filed[1].id in report.unreadable[1]
    assert f"UNREADABLE: exception {filed[0].id}" in report.text()
    assert json.loads(report.to_json())["unreadable"] == list(report.unreadable)
    (governed / "lacuna.yaml").write_text(f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n")
    runner = CliRunner()
    listed = runner.invoke(app, ["exceptions", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    lines = [json.loads(line) for line in listed.output.splitlines()]
    assert [line.get("id") for line in lines] == [filed[2].id, None, None]
    assert filed[1].id in lines[2]["error"]
    assert lines[2]["verified"] is False
    table = runner.invoke(app, ["exceptions", "list"])
    assert table.exit_code == 0, table.output
    assert " ".join(table.output.split()).count("NOT HONOURED: exception") == 2
    # the console's queue, a page at a time: the broken rows neither end the pages early
    # nor stop them moving on (a page of broken rows alone read the same page forever)
    from lacuna.model import utcnow
    from lacuna.server.console.exceptions_view import queue

    older = lacuna.request_exception(data=customers, destination=str(governed / "old.csv"),
                                     purpose=PURPOSE, approver="jane.smith@example.com")
    conn = sqlite3.connect(governed / "audit.db", isolation_level=None, timeout=30)
    for i in range(2):  # two more broken rows, newer than every other
        conn.execute("insert into lacuna_exceptions (id, year, requested_by, status, "
                     "duration_hours, body) values (?, '2026', 'x', 'pending', 1.0, 'garbage')",
                     (f"EXC-2026-{900 + i}",))
    conn.close()
    store, stewards = current().exceptions, current().config.stewards
    for limit in (1, 2, 5):
        page = queue(store, identity="jane.smith@example.com", stewards=stewards,
                     now=utcnow(), status="all", limit=limit)
        assert [i.request.id for i in page.items] == [older.id, filed[2].id][:limit]
        assert page.more is (limit < 2)


def test_the_compliance_report_marks_rows_lacuna_did_not_decide(governed, sandbox_config):
    """The compliance report listed every row of the exceptions table as decided: a row
    inserted by hand ("approved by the CISO", no signature) and an approved body written back
    over its revocation read to the auditor as approved grants. Each says now that it is not
    verified and not honoured, in text, HTML and JSON; a real grant stays verified."""
    import json
    import sqlite3
    from datetime import timedelta

    from lacuna.metrics import compliance_report
    from lacuna.model import utcnow

    steward = STEWARD
    as_user = _switcher(sandbox_config)
    as_user("analyst_alice")
    customers = pd.read_csv("customers.csv")
    kept, revoked = (lacuna.request_exception(
        data=customers, destination=str(governed / "Downloads" / name), purpose=PURPOSE,
        approver=steward) for name in ("kept.csv", "revoked.csv"))
    as_user(steward)
    lacuna.approve_exception(kept.id)
    lacuna.approve_exception(revoked.id)
    conn = sqlite3.connect(governed / "audit.db", isolation_level=None, timeout=30)
    (granted,) = conn.execute("select body from lacuna_exceptions where id = ?",
                              (revoked.id,)).fetchone()
    lacuna.revoke_exception(revoked.id)
    conn.execute("update lacuna_exceptions set body = ?, status = 'approved' where id = ?",
                 (granted, revoked.id))
    now = utcnow()
    forged = {**json.loads(granted), "id": "EXC-2026-900", "decided_by": "ciso@example.com",
              "created_at": now.isoformat(), "signature": None,
              "valid_until": (now + timedelta(days=30)).isoformat()}
    conn.execute("insert into lacuna_exceptions (id, year, requested_by, status, "
                 "duration_hours, body) values (?, ?, ?, ?, ?, ?)",
                 ("EXC-2026-900", "2026", "analyst_alice", "approved", 24.0, json.dumps(forged)))
    conn.close()
    report = compliance_report("last_7_days")
    rows = {x["id"]: x for x in json.loads(report.to_json())["exceptions"]}
    assert rows[kept.id]["verified"] is True
    assert rows[kept.id]["untrusted"] is None
    assert rows[revoked.id]["verified"] is False
    assert "revoked (the audit trail records it)" in rows[revoked.id]["untrusted"]
    assert rows["EXC-2026-900"]["verified"] is False
    assert "carries no Lacuna signature" in rows["EXC-2026-900"]["untrusted"]
    text, page = report.to_text(), report.to_html()
    assert text.count("NOT VERIFIED, not honoured") == 2
    assert page.count("NOT VERIFIED, not honoured") == 2
