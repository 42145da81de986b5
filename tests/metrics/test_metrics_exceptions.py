"""Exception requests in the governance metrics: the filters select them as they select the
decisions (red-team round: a domain filter counted none of the requests its denials led to)."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.metrics import GovernanceMetrics

PURPOSE = "Board of Directors Q4 customer metrics presentation"


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
