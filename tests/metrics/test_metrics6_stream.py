"""The compliance report reads its period once, in bounded memory (lacuna.metrics.stream), where
it held every decision (``GovernanceMetrics(exact=True)``) and refused a period of more than
``EXACT_RECORDS`` records: a yearly report of a busy deployment was impossible. Its numbers
must be the exact path's: compared here on a month of random activity (denials, resolutions,
retries, other routes, engine errors, feedback) with survey answers, exception-covered
operations, an operation decided twice and hand-edited rows added."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.metrics.test_metrics_filters import _periods, _trail

from lacuna.audit.record import iso
from lacuna.errors import ConfigError
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics, Period, compliance_report, exact, stream
from lacuna.metrics.api import Filters
from lacuna.metrics.facts import DecisionFact

SEED = 4


def _old_breakdown(decisions: tuple[DecisionFact, ...]) -> tuple[Any, Any]:
    """The report's breakdown as it was computed from every decision held at once."""
    policies: Counter[str] = Counter()
    policy_denials: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    action_denials: Counter[str] = Counter()
    for d in decisions:
        for pid in d.policy_ids or ((d.policy_id,) if d.policy_id else ()):
            policies[pid] += 1
        if not d.allowed:
            policy_denials[d.policy_id or "(no policy)"] += 1
            action_denials[d.action] += 1
        actions[d.action] += 1
    by_policy = tuple(sorted(((p, max(policies[p], policy_denials[p]), policy_denials[p])
                              for p in set(policies) | set(policy_denials)),
                             key=lambda r: (-r[2], -r[1], r[0])))
    by_action = tuple(sorted(((a, actions[a], action_denials[a]) for a in actions),
                             key=lambda r: (-r[2], -r[1], r[0])))
    return by_policy, by_action


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The filters test's month (seed 4), plus: survey answers (one user twice), operations an
    approved exception covered (right after a denial to the same place: not workarounds), one
    operation decided twice, a decision without sources, and hand-edited rows (an ``allowed``
    column flipped, a ``user_id`` and a ``policy_id`` column changed: the exact path reads
    those columns, so the report must too)."""
    path = tmp_path_factory.mktemp("stream") / "audit.db"
    url, _ = _trail(path, SEED)
    from lacuna.audit import AuditStore

    rng = random.Random(SEED)
    t = datetime(2026, 11, 12, 10, 7, tzinfo=UTC)
    with AuditStore(url) as store:
        for k, (user, score) in enumerate((("u1", 2), ("u2", 5), ("u1", 4))):
            store.record_event({"kind": "survey", "who": {"user_id": user, "role": ""},
                                "what": {"action": "survey"},
                                "when": iso(t + timedelta(minutes=k)),
                                "decision": {"allowed": True, "policy_id": None},
                                "survey": {"score": score}})
        bodies = []
        for k in range(6):
            at = t + timedelta(hours=k, minutes=3)
            sources = ["/lake/crm/customers"]
            bodies.append(_decision(at, "u3", allowed=False, sources=sources,
                                    dest=f"/home/u3/Downloads/{k}.csv", operation=f"x{k}"))
            bodies.append(_decision(at + timedelta(minutes=4), "u3", allowed=True,
                                    sources=sources, dest=f"/home/u3/Downloads/ok{k}.csv",
                                    operation=f"y{k}", approved=k % 2 == 0))
        bodies.append(_decision(t + timedelta(days=1), "u4", allowed=True, sources=[],
                                dest=None, operation="twice"))
        bodies.append(_decision(t + timedelta(days=1, minutes=1), "u4", allowed=False,
                                sources=["/lake/a"], dest="/x", operation="twice"))
        store._append_all([{**b, "id": f"{0xE000 + i:032x}", "seq": 0}
                           for i, b in enumerate(bodies)])
    with sqlite3.connect(path) as conn:
        seqs = [s for (s,) in conn.execute(
            "SELECT seq FROM lacuna_audit WHERE body NOT LIKE '%\"kind\"%' ORDER BY seq")]
        for seq in rng.sample(seqs, 12):
            conn.execute("UPDATE lacuna_audit SET allowed = NOT allowed WHERE seq = ?", (seq,))
        for seq in rng.sample(seqs, 6):
            conn.execute("UPDATE lacuna_audit SET user_id = 'mallory' WHERE seq = ?", (seq,))
        for seq in rng.sample(seqs, 6):
            conn.execute("UPDATE lacuna_audit SET policy_id = 'P-EDITED' WHERE seq = ?", (seq,))
    return url


def _decision(when: datetime, user: str, *, allowed: bool, sources: list[str],
              dest: str | None, operation: str, approved: bool = False) -> dict[str, Any]:
    return {"operation_id": operation, "who": {"user_id": user, "role": "data_analyst"},
            "what": {"action": "export", "sources": sources, "destination": dest,
                     "tier": "INTERNAL", "columns": {}},
            "when": iso(when),
            "decision": {"allowed": allowed, "policy_id": "P-EXPORT",
                         "policies": [{"package": "lacuna.export", "id": "P-EXPORT"}],
                         "engine_error": None},
            "why": {"exception_id": "e1" if approved else None,
                    "exception_approved": approved}}


@pytest.fixture
def gov(trail: str) -> Any:
    g = Governor(build_config(None, audit={"url": trail}, user={"id": "t", "role": "x"}))
    yield g
    g.close()


PERIODS = [_periods(SEED)[1], "2026-Q4", (datetime(2026, 11, 12, 10, 9, tzinfo=UTC),
                                          datetime(2026, 11, 12, 13, 5, tzinfo=UTC))]


@pytest.mark.parametrize("period", PERIODS)
def test_metrics6_report_equals_the_exact_path(gov: Governor, period: Any) -> None:
    report = compliance_report(period, governor=gov)
    held = GovernanceMetrics(period, governor=gov, exact=True)
    assert report.metrics == held.to_dict()
    assert (report.by_policy, report.by_action) == _old_breakdown(held.decisions)
    counts = report.metrics["metrics"]
    if period == "2026-Q4":  # the comparison is of real numbers, not of zeros
        assert counts["avg_resolution_time_minutes"]["counts"]["resolved"] > 20
        assert counts["workaround_attempts"]["value"] > 20
        assert counts["false_positive_rate"]["counts"]["reported_false_positive"] > 0
        assert counts["user_satisfaction"]["value"] == 4.5  # u1's latest answer, and u2's
        assert counts["audit_completeness"]["counts"]["audited"] < \
            counts["violation_rate"]["counts"]["decisions"]  # "twice" is one operation
        assert any(p == "P-EDITED" for p, _, _ in report.by_policy)


@pytest.mark.parametrize("filters", [{"user_group": "data_analyst", "policy": "P-EXPORT"},
                                     {"tier": "confidential", "domain": "export"}])
def test_metrics6_tally_equals_the_exact_path_filtered(gov: Governor,
                                                       filters: dict[str, str]) -> None:
    period = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "m")
    numbers, _ = stream.tally(gov, period, Filters(**filters))
    held = GovernanceMetrics(period, governor=gov, exact=True, **filters)
    assert GovernanceMetrics._of_numbers(period, gov, numbers, "records").counts == held.counts


def test_metrics6_report_past_the_exact_limit(gov: Governor,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact path refuses the period (its limit lowered below the period's records); the
    report still gives its numbers, the ones the exact path gave under the limit."""
    before = compliance_report("2026-11", governor=gov)
    monkeypatch.setattr(exact, "EXACT_RECORDS", 100)  # past it the exact path streams too,
    monkeypatch.setattr(exact, "STREAM_RECORDS", 100)  # and past this it refuses
    with pytest.raises(exact.TooManyRecords):
        GovernanceMetrics("2026-11", governor=gov, exact=True)
    after = compliance_report("2026-11", governor=gov)
    assert after.metrics == before.metrics
    assert (after.by_policy, after.by_action) == (before.by_policy, before.by_action)


def test_metrics6_unordered_trail_falls_back_to_the_exact_path(
        gov: Governor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trail whose column is not in time order is read the exact way, with its limit."""
    streamed = compliance_report("2026-11", governor=gov)

    def unordered(*_: Any) -> Any:
        raise stream.Unordered

    monkeypatch.setattr(stream, "tally", unordered)
    again = compliance_report("2026-11", governor=gov)
    assert (again.metrics, again.by_policy, again.by_action) == (
        streamed.metrics, streamed.by_policy, streamed.by_action)
    monkeypatch.setattr(exact, "EXACT_RECORDS", 100)
    with pytest.raises(ConfigError, match="not in time order"):
        compliance_report("2026-11", governor=gov)


def test_metrics6_tally_refuses_a_fact_out_of_time_order() -> None:
    tally = stream.Tally(keep=lambda _: True)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    tally.add(_fact("a", t))
    tally.add(_fact("b", t))  # the same instant: in order
    with pytest.raises(stream.Unordered):
        tally.add(_fact("c", t - timedelta(microseconds=1)))


def _fact(rid: str, when: datetime) -> DecisionFact:
    return DecisionFact(record_id=rid, operation_id=rid, when=when, user="u", role="r",
                        action="read", sources=("/a",), destination=None, tier=None,
                        allowed=True, policy_id=None, packages=(), policy_ids=(), columns=(),
                        engine_error=None, exception_id=None)


def test_metrics6_report_equals_the_exact_path_postgresql(postgres_url: str) -> None:
    """The stream's time order on PostgreSQL's collation and planner (the exact path's
    records: denials, resolutions, workarounds, ties at one instant, feedback, survey)."""
    from tests.metrics.test_metrics5_exact_bounded import PERIOD, _governed

    from fixtures_postgres import new_postgres_database

    with _governed(new_postgres_database(postgres_url)) as g:
        report = compliance_report(PERIOD, governor=g)
        held = GovernanceMetrics(PERIOD, governor=g, exact=True)
        assert report.metrics == held.to_dict()
        assert (report.by_policy, report.by_action) == _old_breakdown(held.decisions)
        assert report.metrics["metrics"]["workaround_attempts"]["value"] >= 1


def test_metrics6_report_shows_policy_and_action_names_escaped(tmp_path) -> None:
    """A policy id or an action holding an ESC sequence, a carriage return or U+202E (a
    server's client names its action; an edited row holds anything) was printed as it is:
    the auditor's terminal line rewritten, the page's text reordered. The allowed name
    beside it is shown as it is."""
    from lacuna.audit import AuditStore

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    t = datetime(2026, 11, 12, 10, tzinfo=UTC)
    bad = _decision(t, "u", allowed=False, sources=["/a"], dest="/d", operation="o1")
    bad["what"]["action"] = "export\x1b[2K\rread"
    bad["decision"]["policy_id"] = "P-\u202eDENY"
    with AuditStore(url) as store:
        store._append_all([{**bad, "id": f"{1:032x}", "seq": 0},
                           {**_decision(t, "u", allowed=True, sources=["/a"], dest=None,
                                        operation="o2"), "id": f"{2:032x}", "seq": 0}])
    g = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    try:
        report = compliance_report("2026-11", governor=g)
    finally:
        g.close()
    text, page = report.to_text(), report.to_html()
    for shown in (text, page):
        assert "\x1b" not in shown
        assert "\u202e" not in shown
        assert "\r" not in shown
    assert "export\\x1b[2K\\rread" in text
    assert "P-\\u202eDENY" in text
    assert "P-EXPORT" in text
    assert ("export\x1b[2K\rread", 1, 1) in report.by_action  # the JSON keeps the text
