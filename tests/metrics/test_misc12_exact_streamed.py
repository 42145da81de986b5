"""``GovernanceMetrics(exact=True)`` (and ``GET /api/v1/metrics?exact=true``) refused a period
of more than ``EXACT_RECORDS`` records (``TooManyRecords``) while the compliance report read
the same period in bounded memory (lacuna.metrics.stream). Past that limit the exact metrics
are now streamed: the same numbers as holding every decision (compared on the stream test's
month of activity with hand-edited rows), ``decisions`` left empty, and a period past
``STREAM_RECORDS`` (the bound on one request's time) refused."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException
from tests.metrics.test_metrics6_stream import PERIODS, trail  # noqa: F401 - the fixture

from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics, exact, stream
from lacuna.server.routes_ops import governance


@pytest.fixture
def gov(trail: str) -> Any:  # noqa: F811 - the fixture imported above, used here
    g = Governor(build_config(None, audit={"url": trail}, user={"id": "t", "role": "x"}))
    yield g
    g.close()


def _held_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower the holding limit below every period tested; holding is then not an option."""
    monkeypatch.setattr(exact, "EXACT_RECORDS", 2)

    def held(*_: Any) -> Any:
        raise AssertionError("the period was held in memory, not streamed")

    monkeypatch.setattr(exact, "read_facts", held)


@pytest.mark.parametrize(("period", "filters"), [
    (PERIODS[0], {}), ("2026-Q4", {}), (PERIODS[2], {}),
    ("2026-11", {"user_group": "data_analyst", "policy": "P-EXPORT"}),
    ("2026-11", {"tier": "confidential", "domain": "export"}),
])
def test_misc12_exact_past_the_limit_streams_the_same_numbers(
        gov: Governor, monkeypatch: pytest.MonkeyPatch, period: Any,
        filters: dict[str, str]) -> None:
    held = GovernanceMetrics(period, governor=gov, exact=True, **filters)
    assert held.decisions  # under the limit: held, as before
    _held_apart(monkeypatch)
    streamed = GovernanceMetrics(period, governor=gov, exact=True, **filters)
    assert streamed.to_dict() == held.to_dict()
    assert (streamed.source, streamed.decisions) == ("records", ())
    if period == "2026-Q4":  # real numbers compared, not zeros
        counts = streamed.counts
        assert counts["violation_rate"]["decisions"] > 50
        assert counts["avg_resolution_time_minutes"]["resolved"] > 20
        assert counts["false_positive_rate"]["reported_false_positive"] > 0


def test_misc12_api_exact_past_the_old_limit_answers(gov: Governor,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``GET /api/v1/metrics?exact=true`` (its handler, on the server's governor): a 422
    before, the held path's numbers now."""
    state = SimpleNamespace(governor=gov)
    ask = {"domain": None, "policy": None, "user_group": None, "tier": None, "exact": True}
    before = governance(state, "2026-11", **ask)
    _held_apart(monkeypatch)
    assert governance(state, "2026-11", **ask) == before
    assert before["metrics"]["violation_rate"]["counts"]["decisions"] > 50


def test_misc12_exact_past_the_stream_bound_is_refused(gov: Governor,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound on one request's time: counted before any record is read, a 422 saying
    what to ask instead; at the bound, answered."""
    _held_apart(monkeypatch)
    size = exact.check_size(gov, GovernanceMetrics("2026-11", governor=gov).period)
    monkeypatch.setattr(exact, "STREAM_RECORDS", size)
    assert GovernanceMetrics("2026-11", governor=gov, exact=True).counts[
        "violation_rate"]["decisions"] > 0
    monkeypatch.setattr(exact, "STREAM_RECORDS", size - 1)

    def read(*_: Any) -> Any:
        raise AssertionError("a record was read past the bound")

    monkeypatch.setattr(exact, "iter_facts", read)
    said = rf"holds more than {size - 1:,} audit records.*Leave exact unset"
    with pytest.raises(exact.TooManyRecords, match=said):
        GovernanceMetrics("2026-11", governor=gov, exact=True)
    with pytest.raises(HTTPException) as refused:
        governance(SimpleNamespace(governor=gov), "2026-11", domain=None, policy=None,
                   user_group=None, tier=None, exact=True)
    assert refused.value.status_code == 422
    assert f"holds more than {size - 1:,} audit records" in str(refused.value.detail)


def test_misc12_exact_past_the_limit_on_an_unordered_trail_is_refused(
        gov: Governor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trail not in time order cannot be streamed (pairs would differ): refused, saying
    why, never a different number."""
    _held_apart(monkeypatch)

    def unordered(*_: Any) -> Any:
        raise stream.Unordered

    monkeypatch.setattr(stream, "tally", unordered)
    period = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    with pytest.raises(exact.TooManyRecords, match=r"not in time order.*more than 2 records"):
        GovernanceMetrics(period, governor=gov, exact=True)
