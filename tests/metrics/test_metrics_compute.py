"""The metric definitions over facts: what they count, checked against the definitions
written out the slow way (every operation against every denial)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from lacuna.metrics import compute
from lacuna.metrics.facts import DecisionFact

START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _facts(rng: random.Random, n: int) -> list[DecisionFact]:
    """Decisions of four users on three datasets over a day, a third of them denials, some
    minutes apart (so windows overlap), some to the same places, some with engine errors."""
    out = []
    for i in range(n):
        allowed = rng.random() > 0.35
        out.append(DecisionFact(
            record_id=f"r{i}", operation_id=f"o{i}",
            when=START + timedelta(minutes=rng.randrange(0, 24 * 60)),
            user=rng.choice(("ana", "bob", "cy", "dee")), role="analyst",
            action=rng.choice(("export", "write")),
            sources=tuple(rng.sample(("crm", "hr", "web"), rng.randint(1, 2))),
            destination=rng.choice((None, "/tmp/out/a.csv", "/tmp/out/b.csv", "/home/x/c.csv",
                                    "s3://bucket/k", "https://api.example.com/v1")),
            tier="confidential", allowed=allowed, policy_id=None if allowed else "P-EXPORT",
            packages=("lacuna.export",), policy_ids=("P-EXPORT",), columns=("email",),
            engine_error="timeout" if rng.random() < 0.03 else None, exception_id=None,
        ))
    return out


def test_workarounds_are_every_operation_that_gets_round_a_denial() -> None:
    """The bisected search finds exactly what holding every operation against every denial
    finds, in the same order, on ten random days of 600 decisions."""
    for seed in range(10):
        facts = _facts(random.Random(seed), 600)
        denials = [d for d in facts if not d.allowed and not d.engine_error]
        slow = [op for op in facts if any(compute.is_workaround(d, op) for d in denials)]
        assert compute.workarounds(facts) == slow
        assert slow, "the draw exercises some workarounds"


def test_workarounds_at_the_window_edges() -> None:
    """A denial exactly the window before counts; one at the same instant, or a moment
    before the window, does not."""
    base = _facts(random.Random(0), 1)[0]

    def at(minutes: float, *, allowed: bool, rid: str) -> DecisionFact:
        from dataclasses import replace

        return replace(base, record_id=rid, when=START + timedelta(minutes=minutes),
                       user="ana", sources=("crm",), destination="/tmp/out/a.csv",
                       allowed=allowed, engine_error=None)

    denial = at(0, allowed=False, rid="d")
    cases = {"same instant": at(0, allowed=True, rid="s"),
             "at the window": at(60, allowed=True, rid="w"),
             "after the window": at(60.001, allowed=True, rid="late")}
    found = {f.record_id for f in compute.workarounds([denial, *cases.values()])}
    assert found == {"w"}


def test_resolutions_are_the_first_allowed_operation_on_the_same_data() -> None:
    """Held against each user's own later decisions, the resolutions are what holding each
    denial against every later decision finds, in the same order."""
    for seed in range(10):
        facts = _facts(random.Random(seed), 600)
        ordered = sorted(facts, key=lambda d: d.when)
        tricks = {d.record_id for d in compute.workarounds(ordered)}
        slow = []
        for i, denial in enumerate(ordered):
            if denial.allowed or denial.engine_error:
                continue
            for later in ordered[i + 1:]:
                if later.when - denial.when > compute.RESOLUTION_WINDOW:
                    break
                if (later.allowed and later.user == denial.user
                        and set(later.sources) & set(denial.sources)
                        and later.record_id not in tricks):
                    slow.append((denial.record_id, later.record_id))
                    break
        got = [(r.denial.record_id, r.by.record_id) for r in compute.resolutions(facts)]
        assert got == slow
        assert slow, "the draw exercises some resolutions"
