"""GET /api/v1/metrics answers the seed's governance metrics of a period (what ``lacuna
metrics`` computes on the same state), to data stewards and compliance officers only, and a
client's ``GovernanceMetrics`` in server mode reads them there, checking the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from lacuna.governor import Governor
from lacuna.metrics import GovernanceMetrics
from lacuna.metrics.api import METRICS
from lacuna.remote.client import ServerUnavailable

PII = {"tier": "PROPRIETARY", "tags": ["PII", "GDPR"],
       "columns": {"email": {"classification": "pii", "pii_type": "email",
                             "sensitivity": "high"}}}


def _decide(app_client: Any, user: str, where: str) -> None:
    """A recorded decision by ``user``: ``where`` is "unmanaged" (denied) or "governed"."""
    root = getattr(app_client.state.governor.config.destinations, where)[0]
    op = {"action": "export", "classification": PII, "method": "pandas.DataFrame.to_csv",
          "variable": "df", "destination": root.rstrip("/") + "/m4.csv"}
    r = app_client.client.post("/api/v1/decide", json={"operation": op},
                               headers=app_client.headers(user))
    assert r.status_code == 200, r.text


def _window() -> str:
    now = datetime.now(UTC)
    return f"{(now - timedelta(days=2)).date()}..{(now + timedelta(days=1)).date()}"


class _Client:
    """What ``GovernanceMetrics`` calls on a server's client, answered by the in-process app
    (as ``ServerClient.call``: an HTTP error is a ServerUnavailable)."""

    shown = "http://testserver"

    def __init__(self, app_client: Any, user: str, rewrite: Any = None) -> None:
        self.app_client, self.user, self.rewrite, self.paths = app_client, user, rewrite, []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        assert (method, body) == ("GET", None)
        self.paths.append(path)
        r = self.app_client.client.get(path, headers=self.app_client.headers(self.user))
        if r.status_code >= 400:
            msg = f"answered HTTP {r.status_code} for GET {path}: {r.text}"
            raise ServerUnavailable(msg)
        answer = r.json()
        return answer if self.rewrite is None else self.rewrite(answer)


def _server_mode(client: _Client) -> Any:
    """A governor configured with ``server:`` (only what GovernanceMetrics reads of one)."""
    return SimpleNamespace(config=SimpleNamespace(server=SimpleNamespace(url=client.shown)),
                           engine=SimpleNamespace(client=client))


def test_metrics4_api_governance_equals_local_metrics_on_the_same_state(app_client) -> None:
    _decide(app_client, "ana", "unmanaged")
    _decide(app_client, "ana", "unmanaged")
    _decide(app_client, "jane", "governed")
    period = _window()
    local_gov = Governor(app_client.state.governor.config)  # what `lacuna metrics` opens
    try:
        for filters in ({}, {"user_group": "analyst"}, {"tier": "proprietary"}):
            query = "&".join(f"{k}={v}" for k, v in {"period": period, **filters}.items())
            answer = app_client.client.get(f"/api/v1/metrics?{query}",
                                           headers=app_client.headers("carla"))
            assert answer.status_code == 200, answer.text
            got = answer.json()["governance"]
            if "tier" in filters:
                filters = {"tier": "PROPRIETARY"}
            local = GovernanceMetrics(period, governor=local_gov, **filters)
            assert got == {**local.to_dict(), "source": local.source}
        assert got["metrics"]["violation_rate"]["counts"]["denied"] >= 2  # not all empty
    finally:
        local_gov.close()


def test_metrics4_governance_metrics_in_server_mode_read_the_server(app_client) -> None:
    _decide(app_client, "ana", "unmanaged")
    period = _window()
    client = _Client(app_client, "jane")
    remote = GovernanceMetrics(period, governor=_server_mode(client), user_group="analyst")
    local = GovernanceMetrics(period, governor=app_client.state.governor, user_group="analyst")
    assert {n: getattr(remote, n) for n in METRICS} == {n: getattr(local, n) for n in METRICS}
    assert remote.to_dict() == local.to_dict()
    assert remote.counts["violation_rate"]["denied"] >= 1
    assert remote.source == f"server:{local.source}"
    assert "user_group=analyst" in client.paths[0]
    # a tier in any spelling (the server's answer names it PROPRIETARY: not another filter)
    lower = GovernanceMetrics(period, governor=_server_mode(client), tier="proprietary")
    assert lower.to_dict() == GovernanceMetrics(
        period, governor=app_client.state.governor, tier="proprietary").to_dict()
    assert lower.counts["violation_rate"]["denied"] >= 1
    # an empty filter counts nothing and says so (it was dropped: read as unfiltered)
    empty = GovernanceMetrics(period, governor=_server_mode(client), domain="")
    assert empty.to_dict()["filters"] == {"domain": ""}
    assert empty.counts["violation_rate"] == {"denied": 0, "decisions": 0}
    assert empty.to_dict() == GovernanceMetrics(
        period, governor=app_client.state.governor, domain="").to_dict()
    # a token that is neither a steward's nor a compliance officer's: the server's 403, loudly
    with pytest.raises(ServerUnavailable, match="403"):
        GovernanceMetrics(period, governor=_server_mode(_Client(app_client, "ana")))


def test_metrics4_api_metrics_are_for_stewards_and_compliance_only(app_client) -> None:
    r = app_client.client.get("/api/v1/metrics", headers=app_client.headers("ana"))
    assert r.status_code == 403, r.text
    assert "governance" not in r.text
    for user in ("jane", "carla", "root"):  # as the console's page (admin holds every role)
        ok = app_client.client.get("/api/v1/metrics", headers=app_client.headers(user))
        assert ok.status_code == 200, (user, ok.text)
        assert ok.json()["governance"]["period"]["label"] == "last_30_days"


@pytest.mark.parametrize(("query", "says"), [
    ("period=last_month", "not understood"),
    ("period=2026-13", "no month 13"),
    ("period=2026-12-01..2026-11-01", "end is not after the start"),
    ("period=last_99999999_days", "calendar"),
    ("tier=secret", "unknown tier 'secret'"),
    ("period=" + "9" * 5000, "5000 characters"),
])
def test_metrics4_api_a_bad_period_or_filter_is_a_422(app_client, query: str,
                                                      says: str) -> None:
    r = app_client.client.get(f"/api/v1/metrics?{query}", headers=app_client.headers("carla"))
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]


def _moved(answer: dict[str, Any]) -> dict[str, Any]:
    answer["governance"]["period"]["start"] = "2020-01-01T00:00:00+00:00"
    return answer


def _unfiltered(answer: dict[str, Any]) -> dict[str, Any]:
    answer["governance"]["filters"] = {}
    return answer


def _text(answer: dict[str, Any]) -> dict[str, Any]:
    answer["governance"]["metrics"]["violation_rate"]["value"] = "0.0"
    return answer


def _nan(answer: dict[str, Any]) -> dict[str, Any]:
    answer["governance"]["metrics"]["audit_completeness"]["value"] = float("nan")
    return answer


def _missing(answer: dict[str, Any]) -> dict[str, Any]:
    del answer["governance"]["metrics"]["exception_rate"]
    return answer


def _null(answer: dict[str, Any]) -> dict[str, Any]:
    answer["governance"] = None
    return answer


@pytest.mark.parametrize(("rewrite", "says"), [
    (_moved, "not of the period asked for"), (_unfiltered, "not by"),
    (_text, "not a number"), (_nan, "not a number"), (_missing, "exception_rate"),
    (_null, "no governance metrics"),
])
def test_metrics4_a_server_answer_that_is_not_the_metrics_asked_for_is_refused(
        app_client, rewrite: Any, says: str) -> None:
    client = _Client(app_client, "carla", rewrite)
    with pytest.raises(ServerUnavailable, match=says):
        GovernanceMetrics(_window(), governor=_server_mode(client), user_group="analyst")


def test_metrics4_report_and_insights_still_refuse_in_server_mode(app_client) -> None:
    """They break the period down by the decisions, which the server does not send: they
    refuse naming the server (before: the report went on past the server's numbers to an
    AttributeError on the client's audit trail)."""
    from lacuna.metrics import compliance_report
    from lacuna.metrics.insights import insights
    from lacuna.remote.client import NotOnThisHost

    client = _Client(app_client, "carla")
    for verb in (compliance_report, insights):
        with pytest.raises(NotOnThisHost, match=r"http://testserver.*server's host"):
            verb(_window(), governor=_server_mode(client))
    assert client.paths == []  # nothing asked
