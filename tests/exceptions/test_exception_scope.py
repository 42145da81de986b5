"""An exception covers the data the steward approved, not more: red-team round on its scope
(the tier of the data a grant lets leave, ...)."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.exceptions import Status

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer counts per region"


@pytest.fixture
def as_user(sandbox_config):
    def switch(user_id: str) -> None:
        lacuna.enable(
            sandbox_config(
                user={"id": user_id, "role": "data_analyst"}, stewards={"default": [STEWARD]}
            )
        )

    switch("analyst_alice")
    return switch


def _approved_for_counts(as_user, governed):
    """A grant for the per-region counts of customers.csv (INTERNAL) to Downloads."""
    target = governed / "Downloads" / "regions.csv"
    counts = pd.read_csv("customers.csv").groupby("region").size().reset_index(name="n")
    with pytest.raises(lacuna.GovernanceViolation):
        counts.to_csv(target)
    exc = lacuna.request_exception(
        data=counts, destination=str(target), purpose=PURPOSE, approver=STEWARD, duration_hours=1
    )
    assert (exc.tier, exc.sources) == ("INTERNAL", ("customers.csv",))
    as_user(STEWARD)
    assert lacuna.approve_exception(exc.id).status is Status.APPROVED
    as_user("analyst_alice")
    return exc, target


def test_a_grant_for_an_aggregate_does_not_let_the_raw_rows_leave(as_user, governed):
    exc, target = _approved_for_counts(as_user, governed)
    raw = pd.read_csv("customers.csv")  # the same source, PROPRIETARY: names, e-mails
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        raw.to_csv(target, exception_id=exc.id)
    why = " ".join(denied.value.decision.why)
    assert f"exception {exc.id} was requested for INTERNAL data; this data is PROPRIETARY" in why
    assert not target.exists()
    # what was approved still goes (and a narrower frame of it too)
    counts = pd.read_csv("customers.csv").groupby("region").size().reset_index(name="n")
    counts.to_csv(target, exception_id=exc.id, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), counts)


def test_an_approval_with_a_naive_start_is_utc_and_the_sweep_goes_on(as_user, governed):
    """``approve_exception(start=datetime(...))`` without a time zone is a UTC start (as the
    CLI's --start): it was stored naive, never covered a use ('cannot read exception') and
    stopped every sweep with a TypeError, so no ended exception's files were deleted."""
    from datetime import UTC, datetime, timedelta

    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD, duration_hours=1
    )
    naive = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
    as_user(STEWARD)
    granted = lacuna.approve_exception(exc.id, start=naive)
    assert granted.valid_from == naive.replace(tzinfo=UTC)
    from lacuna.governor import current

    stored = current().exceptions.get(exc.id)  # read back, signed as stored
    assert (stored.valid_from, stored.valid_until) == (granted.valid_from, granted.valid_until)
    assert current().exceptions.verified(stored)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), customers)
    report = lacuna.sweep_exceptions(now=granted.valid_until + timedelta(seconds=1))
    assert report.deleted == (str(target),)
    assert not target.exists()


def test_a_stored_naive_window_does_not_stop_the_sweep(as_user, governed):
    """A grant stored with a naive window (by the approval above before it was fixed) is not
    honoured and is reported; the sweep still deletes the files of the other exceptions."""
    import json
    import sqlite3
    from dataclasses import replace
    from datetime import timedelta

    from lacuna.exceptions import authority
    from lacuna.governor import current

    customers = pd.read_csv("customers.csv")
    ok, naive = governed / "Downloads" / "ok.csv", governed / "Downloads" / "naive.csv"
    ids = [
        lacuna.request_exception(
            data=customers, destination=str(t), purpose=PURPOSE, approver=STEWARD, duration_hours=1
        ).id
        for t in (ok, naive)
    ]
    as_user(STEWARD)
    granted = [lacuna.approve_exception(i) for i in ids]
    as_user("analyst_alice")
    for t, i in zip((ok, naive), ids, strict=True):
        customers.to_csv(t, exception_id=i)
    store = current().exceptions
    old = authority.sign(
        replace(
            granted[1],
            valid_from=granted[1].valid_from.replace(tzinfo=None),
            valid_until=granted[1].valid_until.replace(tzinfo=None),
        ),
        store.keyring,
    )
    with sqlite3.connect(governed / "audit.db", timeout=30) as conn:
        conn.execute(
            "update lacuna_exceptions set body = ? where id = ?",
            (json.dumps(old.to_dict()), ids[1]),
        )
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        customers.to_csv(naive, exception_id=ids[1])
    assert any("has no time zone" in w for w in denied.value.decision.why)
    report = lacuna.sweep_exceptions(now=granted[0].valid_until + timedelta(hours=1))
    assert report.deleted == (str(ok),)
    assert not ok.exists()
    assert naive.exists()  # not deleted on the word of a record that cannot be read
    assert [f.split(": ", 1)[0] for f in report.failed] == [str(naive)]


def test_a_sweep_with_a_naive_now_is_utc(as_user, governed):
    from datetime import timedelta

    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD, duration_hours=1
    )
    as_user(STEWARD)
    granted = lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id)
    later = (granted.valid_until + timedelta(minutes=1)).replace(tzinfo=None)
    report = lacuna.sweep_exceptions(now=later)
    assert report.deleted == (str(target),)
    assert report.expired == (exc.id,)


def test_the_report_counts_the_uses_a_grant_covered_not_every_id_named(as_user, governed):
    """``lacuna exceptions report`` says how often a grant was used: an operation another user
    had allowed on its own merits (a governed destination) while naming the id is no use."""
    from lacuna.exceptions.report import build
    from lacuna.governor import current

    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD, duration_hours=1
    )
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    for _ in range(2):
        customers.to_csv(target, exception_id=exc.id)
    as_user("mallory")
    workspace = governed / "governed" / "workspace"
    for n in range(3):
        pd.read_csv("customers.csv").to_csv(workspace / f"{n}.csv", exception_id=exc.id)
    named = [
        r
        for r in current().audit.list(limit=None)
        if r.allowed
        and "kind" not in r.data
        and (r.data.get("why") or {}).get("exception_id") == exc.id
    ]
    assert len(named) == 5  # the trail keeps what each named
    (item,) = build(current()).to_dict()["exceptions"]
    assert item["uses"] == 2


def test_an_approval_starting_more_than_a_year_away_is_refused(as_user, governed):
    """``--start 2062-...`` (for 2026) made a grant that waited decades for its use, and a
    start of 9999-12-31 stopped with an OverflowError traceback: both are refused, audited,
    and the request stays pending; a start within the year is taken as given."""
    from datetime import UTC, datetime, timedelta

    from lacuna.errors import ConfigError
    from lacuna.exceptions import Status
    from lacuna.governor import current
    from lacuna.model import utcnow

    exc = lacuna.request_exception(destination=str(governed / "Downloads" / "later.csv"),
                                   purpose=PURPOSE, approver=STEWARD, duration_hours=2)
    as_user(STEWARD)
    for start in (utcnow() + timedelta(days=366), datetime(9999, 12, 31, 23, tzinfo=UTC)):
        with pytest.raises(ConfigError, match="more than a year away"):
            lacuna.approve_exception(exc.id, start=start)
    assert current().exceptions.get(exc.id).status is Status.PENDING
    refused = [r for r in current().audit.list(limit=None)
               if r.data.get("kind") == "exception"
               and r.data["what"]["event"] == "approve-refused"]
    assert len(refused) == 2
    start = (utcnow() + timedelta(days=364)).replace(microsecond=0)
    granted = lacuna.approve_exception(exc.id, start=start)
    stored = current().exceptions.get(exc.id)
    assert (stored.valid_from, stored.valid_until) == (start, start + timedelta(hours=2))
    assert (granted.valid_from, granted.valid_until) == (stored.valid_from, stored.valid_until)


def test_a_grant_for_personal_data_does_not_let_health_data_of_the_same_tier_leave(
        as_user, governed):
    """The tier alone was compared: a grant for customers.csv's PII (PROPRIETARY: PII, GDPR)
    let a diagnosis column added to the same rows (PROPRIETARY too: PHI, HIPAA) leave under
    it. A tag the request did not record is data the steward never approved."""
    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "board.csv"
    exc = lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD, duration_hours=1
    )
    assert "PHI" not in exc.tags
    as_user(STEWARD)
    assert lacuna.approve_exception(exc.id).status is Status.APPROVED
    as_user("analyst_alice")
    customers = pd.read_csv("customers.csv")
    health = customers.copy()
    health["diagnosis"] = (["HIV positive", "asthma", "diabetes", "depression"]
                           * len(customers))[: len(customers)]
    assert health.lacuna_classification.tier.value == exc.tier  # the same tier
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        health.to_csv(target, exception_id=exc.id, index=False)
    why = " ".join(denied.value.decision.why)
    assert f"exception {exc.id} was requested for data tagged {', '.join(exc.tags)}" in why
    assert "this data is also PHI" in why
    assert not target.exists()
    # what was approved still goes, and a narrower frame of it too
    customers.to_csv(target, exception_id=exc.id, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), customers)
    customers[["customer_id", "email"]].to_csv(target, exception_id=exc.id, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), customers[["customer_id", "email"]])
