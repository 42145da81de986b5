"""The exact metrics read every record of the period into memory at once (``GET
/api/v1/metrics?period=last_36500_days&exact=true`` read the whole trail: +533 MB for 200,000
records). They now read ``BATCH`` records at a time in (timestamp, seq) order, keep only the
facts, and refuse a period of more than ``EXACT_RECORDS`` records with a ConfigError (a 422
from the API) saying what to ask instead; the numbers are the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from fixtures_postgres import new_postgres_database
from lacuna.audit import AuditStore
from lacuna.audit.record import iso
from lacuna.errors import AuditError, ConfigError
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics, exact
from lacuna.metrics.facts import classify
from lacuna.server.routes_ops import governance

T0 = datetime(2026, 11, 3, 8, tzinfo=UTC)
PERIOD = (T0, T0 + timedelta(hours=3))


def _op(i: int, when: datetime, *, user: str = "u", allowed: bool = False,
        destination: str = "/d/x.csv", sources: tuple[str, ...] = ("/lake/a",)) -> dict[str, Any]:
    return {"id": f"{i:032x}", "seq": 0, "operation_id": f"op-{i}",
            "who": {"user_id": user, "role": "analyst", "session": "t"},
            "what": {"action": "export", "sources": list(sources), "destination": destination,
                     "tier": "INTERNAL", "columns": {"email": {}}},
            "when": iso(when),
            "decision": {"allowed": allowed, "policy_id": "P",
                         "policies": [{"package": "lacuna.hr", "id": "P"}],
                         "engine_error": None},
            "why": {"exception_id": None}}


def _event(i: int, when: datetime, kind: str, section: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{i:032x}", "seq": 0, "kind": kind, kind: section,
            "who": {"user_id": "u", "role": "analyst"}, "what": {"action": kind},
            "when": iso(when), "decision": {"allowed": True, "policy_id": "P"}}


def _bodies() -> list[dict[str, Any]]:
    """Denials, their resolutions and workarounds, five operations at one instant (ties across
    a batch's end), feedback, survey answers, and records just outside the period."""
    same = T0 + timedelta(minutes=30)
    m = timedelta(minutes=1)
    return [
        _op(0, T0 - m), _op(1, T0 + 5 * m),
        _op(2, T0 + 10 * m, allowed=True, destination="/e/x.csv"),  # resolves #1
        _op(3, T0 + 12 * m), _op(4, T0 + 15 * m, allowed=True, destination="/d/y.csv"),  # trick
        *(_op(5 + k, same, user=f"v{k % 2}", allowed=k % 2 == 0) for k in range(5)),
        _op(10, same + m, user="v1", allowed=True, destination="/f/z.csv"),
        _event(11, T0 + 20 * m, "feedback", {"decision_record_id": f"{3:032x}",
                                            "false_positive": True}),
        _event(12, T0 + 21 * m, "survey", {"score": 4}),
        _op(13, T0 + 2 * timedelta(hours=1) + 59 * m, user="w"),
        _op(14, PERIOD[1], user="w"),  # the end is not in the period
    ]


@pytest.fixture
def gov(tmp_path: Path) -> Any:
    with _governed(f"sqlite:///{tmp_path / 'audit.db'}") as g:
        yield g


@contextmanager
def _governed(url: str) -> Iterator[Governor]:
    with AuditStore(url, checkpoint=None) as store:
        store._append_all(_bodies())
    g = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    try:
        yield g
    finally:
        g.close()


def test_metrics5_exact_reads_in_batches_and_counts_the_same(
        gov: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _same_in_batches(gov, monkeypatch)


def test_metrics5_exact_reads_in_batches_postgresql(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batches' (timestamp, seq) order on PostgreSQL's collation and planner."""
    with _governed(new_postgres_database(postgres_url)) as g:
        _same_in_batches(g, monkeypatch)


def _same_in_batches(gov: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = GovernanceMetrics(PERIOD, governor=gov, exact=True)
    reads: list[int] = []
    rows = gov.audit.rows

    def counted(stmt: Any) -> Any:
        found = rows(stmt)
        reads.append(len(found))
        return found

    monkeypatch.setattr(exact, "BATCH", 2)
    monkeypatch.setattr(gov.audit, "rows", counted)
    batched = GovernanceMetrics(PERIOD, governor=gov, exact=True)
    assert max(reads) == 2  # never more than a batch held (the count's one row aside)
    assert batched.to_dict() == whole.to_dict()
    # the facts are those of every record of the period read at once (the old reading)
    period = whole.period
    old = classify([r for r in gov.audit.list(limit=None) if r.timestamp in period])
    new = exact.read_facts(gov, period)
    for before, after in zip(old, new, strict=True):
        assert sorted(before, key=repr) == sorted(after, key=repr)
    counts = batched.counts
    assert counts["avg_resolution_time_minutes"]["resolved"] >= 1  # each path taken
    assert counts["workaround_attempts"]["attempts"] >= 1
    assert counts["false_positive_rate"]["reported_false_positive"] == 1
    assert counts["user_satisfaction"]["respondents"] == 1


def test_metrics5_exact_refuses_a_period_of_more_records_than_it_reads(
        gov: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # the period holds 13 of the 15 records (its read window, a day either side, all 15):
    # at the limit, read (past EXACT_RECORDS a period is streamed: STREAM_RECORDS refuses)
    monkeypatch.setattr(exact, "STREAM_RECORDS", 13)
    assert GovernanceMetrics(PERIOD, governor=gov, exact=True).source == "records"
    monkeypatch.setattr(exact, "STREAM_RECORDS", 12)
    said = r"holds more than 12 audit records.*Leave exact unset.*lacuna metrics rebuild"
    with pytest.raises(ConfigError, match=said):
        GovernanceMetrics(PERIOD, governor=gov, exact=True)
    state = SimpleNamespace(governor=gov)
    with pytest.raises(HTTPException) as refused:  # GET /api/v1/metrics: a 422 saying so
        governance(state, "last_36500_days", domain=None, policy=None, user_group=None,
                   tier=None, exact=True)
    assert refused.value.status_code == 422
    assert "holds more than 12 audit records" in str(refused.value.detail)
    # the compliance report reads the period in bounded memory, without that limit
    # (lacuna.metrics.stream; tests/metrics/test_metrics6_stream.py)
    from lacuna.metrics import compliance_report

    assert compliance_report(PERIOD, governor=gov).metrics["metrics"]["violation_rate"][
        "counts"]["decisions"] > 0


@pytest.mark.parametrize(("field", "value"), [
    ("destination", ["/d/x.csv"]), ("destination", 5), ("tier", ["INTERNAL"]),
    ("sources", "/lake/a"), ("sources", [{"path": "/lake/a"}])])
def test_metrics5_a_hand_edited_body_is_named_not_a_500_or_a_miscount(
        gov: Any, field: str, value: Any) -> None:
    """A destination edited into a list failed with a bare TypeError (the API's 500); sources
    edited into one string counted each character as an asset. Named now, as an edit."""
    import json

    from sqlalchemy import text

    before = GovernanceMetrics(PERIOD, governor=gov, exact=True)  # the allowed path
    assert before.counts["violation_rate"]["decisions"] > 0
    with gov.audit.engine.begin() as conn:
        (body,) = conn.execute(text("SELECT body FROM lacuna_audit WHERE seq = 3")).one()
        edited = json.loads(body)
        edited["what"][field] = value
        conn.execute(text("UPDATE lacuna_audit SET body = :b WHERE seq = 3"),
                     {"b": json.dumps(edited)})
    said = rf"audit record #3 \(id '0+2'\): its body's what\.{field} is not .*lacuna audit verify"
    with pytest.raises(AuditError, match=said):
        GovernanceMetrics(PERIOD, governor=gov, exact=True)
