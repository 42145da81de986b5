"""``lacuna metrics insights`` held every record of its period at once, with its body
(``AuditStore.list(limit=None)``: +474 MB for 200,000 records). It now reads the period's facts
a batch at a time (``lacuna.metrics.exact.read_facts``), and ranks the same policies with the
same numbers, examples and columns."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from tests.metrics.test_metrics5_exact_bounded import PERIOD, _governed

from lacuna.metrics import exact, insights
from lacuna.metrics.facts import classify


def _held(gov: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """insights computed as before: from every record of the period, held at once."""
    module = importlib.import_module("lacuna.metrics.insights")  # (the name is the function)

    def every(g: Any, window: Any) -> Any:
        return classify([r for r in g.audit.list(limit=None) if r.timestamp in window])

    with monkeypatch.context() as m:
        m.setattr(module, "read_facts", every, raising=False)
        return insights(PERIOD, governor=gov)


def test_metrics6_insights_read_in_batches_and_rank_the_same(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with _governed(f"sqlite:///{tmp_path / 'audit.db'}") as gov:
        before = _held(gov, monkeypatch)
        reads: list[int] = []
        rows = gov.audit.rows

        def counted(stmt: Any) -> Any:
            found = rows(stmt)
            reads.append(len(found))
            return found

        monkeypatch.setattr(exact, "BATCH", 2)
        monkeypatch.setattr(gov.audit, "rows", counted)
        after = insights(PERIOD, governor=gov)
    assert after == before
    assert after.policies[0].false_positives == 1  # the reported denial is among them
    assert after.policies[0].examples  # and the examples
    assert max(reads) <= 2  # never more than a batch of records held
