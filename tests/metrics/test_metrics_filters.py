"""Every filter the metrics offer (user group, policy, tier, domain and their combinations),
answered from the rollups, against the full computation over the records (``exact=True``) on a
random month of activity: users who change group, several policies and packages, tiers,
denials followed by resolutions, retries and other routes, feedback, engine errors; periods
cut inside hours, with activity on both sides of each edge."""

from __future__ import annotations

import itertools
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit.record import iso
from lacuna.errors import ConfigError
from lacuna.governor import Governor, build_config
from lacuna.metrics import GovernanceMetrics, rollup

START = datetime(2026, 10, 31, 20, tzinfo=UTC)
END = datetime(2026, 12, 1, 4, tzinfo=UTC)
ROLES = ("data_analyst", "data_scientist", "finance")
DATA = ("/lake/crm/customers", "/lake/crm/orders", "/lake/hr/payroll", "/lake/ops/events")
PACKAGES = (["lacuna.export"], ["corp.pii", "lacuna.export"], ["corp.pii"], [])
TIERS = ("INTERNAL", "confidential", None)


def _body(rng: random.Random, user: str, role: str, when: datetime, *, allowed: bool,
          action: str, sources: list[str], dest: str | None) -> dict[str, Any]:
    packages = rng.choice(PACKAGES)
    if allowed:
        policy = rng.choice(("P-ALLOW", "P-EXPORT", None))
    else:
        policy = rng.choice(("P-EXPORT", "P-PII"))
    error = "engine down" if rng.random() < 0.03 else None
    return {"who": {"user_id": user, "role": role, "session": "t"},
            "what": {"action": action, "sources": sources, "destination": dest,
                     "tier": rng.choice(TIERS), "columns": {}},
            "when": iso(when),
            "decision": {"allowed": allowed, "policy_id": policy,
                         "policies": [{"package": p, "id": policy} for p in packages],
                         "engine_error": error},
            "why": {"exception_id": None}}


def _burst(rng: random.Random, bodies: list[dict[str, Any]], user: str, role: str,
           t: datetime, follow: range = range(4)) -> datetime:
    """A denied export, then (maybe) the compliant path, a retry to another folder, the same
    folder by another route, or something unrelated; returns when it ended."""
    sources = rng.sample(DATA, rng.choice((1, 1, 2)))
    dest = f"/home/{user}/Downloads/{len(bodies)}.csv"
    bodies.append(_body(rng, user, role, t, allowed=False, action="export", sources=sources,
                        dest=dest))
    for _ in range(rng.choice(follow)):
        t += timedelta(minutes=rng.choice((1, 3, 7, 20, 45, 70)))
        kind = rng.random()
        if kind < 0.3:
            bodies.append(_body(rng, user, role, t, allowed=True, action="write",
                                sources=sources, dest="/governed/ws/fixed.csv"))
        elif kind < 0.55:
            bodies.append(_body(rng, user, role, t, allowed=False, action="export",
                                sources=sources, dest=dest + f".v{rng.random()}"))
        elif kind < 0.75:
            bodies.append(_body(rng, user, role, t, allowed=True, action="copy",
                                sources=sources[:1], dest=f"/home/{user}/Downloads/r.zip"))
        else:
            bodies.append(_body(rng, user, role, t, allowed=True, action="read",
                                sources=rng.sample(DATA, 1), dest=None))
    return t


def _month(rng: random.Random, edges: list[datetime]) -> list[dict[str, Any]]:
    """Each user's work over the month, in bursts; and bursts that straddle each of
    ``edges`` (the periods' ends), so pairs cross them."""
    bodies: list[dict[str, Any]] = []
    users = {f"u{i}": ROLES[i % len(ROLES)] for i in range(7)}
    for user in users:
        t = START + timedelta(minutes=rng.randrange(180))
        while t < END:
            if rng.random() < 0.15:  # a user now and then works in another group
                users[user] = rng.choice(ROLES)
            if rng.random() < 0.35:
                t = _burst(rng, bodies, user, users[user], t)
            else:
                bodies.append(_body(rng, user, users[user], t, allowed=True, action="read",
                                    sources=rng.sample(DATA, 1), dest=None))
            t += timedelta(minutes=rng.randrange(5, 400))
    for edge in edges:
        for user in rng.sample(sorted(users), 5):
            _burst(rng, bodies, user, users[user], edge - timedelta(minutes=rng.randrange(1, 70)),
                   range(2, 6))
    return sorted(bodies, key=lambda b: b["when"])


def _periods(seed: int) -> list[Any]:
    rng = random.Random(seed)
    cut = datetime(2026, 11, 3, 7, 13, tzinfo=UTC) + timedelta(minutes=rng.randrange(600))
    return [
        "2026-11",  # activity before and after it: both edges read their extra hour
        (cut, cut + timedelta(days=9, hours=rng.randrange(24), minutes=rng.randrange(60))),
        (cut, cut + timedelta(hours=4, minutes=11)),  # just room for one whole hour
    ]


def _edges(periods: list[Any]) -> list[datetime]:
    out = [datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)]
    return out + [t for p in periods if isinstance(p, tuple) for t in p]


def _trail(path: Path, seed: int) -> tuple[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    bodies = _month(rng, _edges(_periods(seed)))
    url = f"sqlite:///{path}"
    with AuditStore(url) as store:
        kept = []
        i = 0
        while i < len(bodies):  # single appends and group commits, like the server
            size = rng.choice((1, 1, 7))
            kept += store._append_all([{**b, "id": f"{i + j:032x}", "seq": 0}
                                       for j, b in enumerate(bodies[i:i + size])])
            i += size
        for rec in rng.sample([r for r in kept if not r.allowed], 25):  # feedback, later
            store.record_event({
                "kind": "feedback", "who": {"user_id": rec.user_id, "role": ""},
                "what": {"action": "feedback"}, "when": iso(rec.timestamp + timedelta(hours=2)),
                "decision": {"allowed": True, "policy_id": rec.policy_id},
                "feedback": {"decision_record_id": rec.id, "false_positive": rng.random() < .6,
                             "comment": "t"}})
    return url, bodies


FILTERS = {"user_group": (None, "data_analyst", "finance"),
           "policy": (None, "P-EXPORT", "P-ALLOW"),
           "tier": (None, "confidential", "internal"),
           "domain": (None, "export", "corp.pii", "lacuna")}


def _every_filter() -> list[dict[str, str]]:
    out = []
    for values in itertools.product(*FILTERS.values()):
        out.append({k: v for k, v in zip(FILTERS, values, strict=True) if v is not None})
    return out


def _filters(rng: random.Random) -> list[dict[str, str]]:
    """None and each filter alone, then 30 of the 98 combinations (a different draw per
    period and seed: the two seeds together cover most of them)."""
    every = _every_filter()
    few = [f for f in every if len(f) <= 1]
    return few + rng.sample([f for f in every if len(f) > 1], 30)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_filter_from_the_rollups_equals_the_records(tmp_path: Path, seed: int) -> None:
    url, bodies = _trail(tmp_path / "audit.db", seed)
    rng = random.Random(seed + 100)
    periods = _periods(seed)
    gov = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    compared = nonzero = 0
    asked = [(period, _filters(rng)) for period in periods]
    differs_from_unfiltered = False
    try:
        for period, cases in asked:
            every = GovernanceMetrics(period, governor=gov)
            for filters in cases:
                fast = GovernanceMetrics(period, governor=gov, **filters)
                exact = GovernanceMetrics(period, governor=gov, exact=True, **filters)
                assert fast.source == "rollups", (period, filters)
                assert exact.source == "records"
                assert fast.to_dict() == exact.to_dict(), (period, filters)
                compared += 1
                counts = fast.counts
                if counts["avg_resolution_time_minutes"]["resolved"] and \
                        counts["workaround_attempts"]["attempts"]:
                    nonzero += 1
                if filters and fast.workaround_attempts != every.workaround_attempts and \
                        counts["violation_rate"]["decisions"]:
                    differs_from_unfiltered = True
    finally:
        gov.close()
    assert compared == sum(len(cases) for _, cases in asked) == 3 * 40
    assert nonzero > 30  # the pair metrics were exercised, not just zeros compared
    assert differs_from_unfiltered
    assert len(bodies) > 1500


def test_rebuild_gives_the_tables_the_appends_kept(tmp_path: Path) -> None:
    url, _ = _trail(tmp_path / "audit.db", 3)
    names = ("lacuna_metrics_hourly", "lacuna_metrics_assets", "lacuna_metrics_pairs",
             "lacuna_metrics_recent", "lacuna_metrics_rollup")

    def tables() -> list[list[Any]]:
        with sqlite3.connect(tmp_path / "audit.db") as conn:
            return [sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in names]

    kept = tables()
    assert all(kept[:3])
    with AuditStore(url) as store:
        assert rollup.rebuild(store) > 1500
    rebuilt = tables()
    for name, a, b in zip(names, kept, rebuilt, strict=True):
        if name == "lacuna_metrics_pairs":  # minutes are float sums: added in another order
            a = [(*r[:6], r[6], round(r[7], 6), r[8]) for r in a]
            b = [(*r[:6], r[6], round(r[7], 6), r[8]) for r in b]
        assert a == b, name


def test_what_the_rollups_cannot_tell_apart_reads_the_records(tmp_path: Path) -> None:
    url, _ = _trail(tmp_path / "audit.db", 4)
    gov = Governor(build_config(None, audit={"url": url}, user={"id": "t", "role": "x"}))
    try:
        for filters in ({"policy": ""}, {"domain": ""}, {"domain": "a|b"}):
            m = GovernanceMetrics("2026-11", governor=gov, **filters)
            assert m.source == "records"
            assert m.to_dict() == GovernanceMetrics("2026-11", governor=gov, exact=True,
                                                    **filters).to_dict()
            with pytest.raises(ConfigError, match="rollups cannot answer"):
                GovernanceMetrics("2026-11", governor=gov, exact=False, **filters)
        short = (datetime(2026, 11, 9, 10, 5, tzinfo=UTC), datetime(2026, 11, 9, 11, 55,
                                                                    tzinfo=UTC))
        assert GovernanceMetrics(short, governor=gov, policy="P-EXPORT").to_dict() == \
            GovernanceMetrics(short, governor=gov, policy="P-EXPORT", exact=True).to_dict()
    finally:
        gov.close()
