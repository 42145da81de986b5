"""An exception covers the data the steward approved, not more: red-team round on its scope
(the tier of the data a grant lets leave, ...)."""

from __future__ import annotations

import gc

import pandas as pd
import pytest

import lacuna
from lacuna.exceptions import Status

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer counts per region"


@pytest.fixture
def as_user(sandbox_config):
    def switch(user_id: str) -> None:
        gc.collect()  # drop the previous governor's Rego engine here, on its own thread
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
