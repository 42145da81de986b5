"""A governed SQL read of a table whose record the lineage store cannot give (unreachable, or a
record it refuses as tampered with) is PROPRIETARY, saying why (fail closed). The values alone
decided before: a table the store knew as PII whose values do not show it was read as what
they showed."""

from __future__ import annotations

from typing import Any

import pytest

import lacuna.sql
from lacuna.errors import LineageError
from lacuna.governor import current
from lacuna.model import Tier


def test_a_table_the_store_cannot_say_is_proprietary(
        make_db: Any, governed_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = governed_engine(make_db("sqlite"))
    before = lacuna.sql.table_classification(engine, "sales")
    assert before.tier is not Tier.PROPRIETARY  # the allowed path: what the values show

    def refuse(*_: Any, **__: Any) -> None:
        raise LineageError("the lineage store refuses sales's record: tampered with (test)")

    monkeypatch.setattr(current().lineage_store, "latest", refuse)
    monkeypatch.setattr(lacuna.sql.tables, "STORE_CHECK_S", 0.0)  # the store is asked again
    after = lacuna.sql.table_classification(engine, "sales")
    assert after.tier is Tier.PROPRIETARY
    assert after.floor is Tier.PROPRIETARY
    assert any("fail closed" in r and "tampered with" in r for r in after.reasoning), (
        after.reasoning)
