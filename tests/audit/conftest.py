"""Fixtures of the audit tests: a store in a temporary folder and builders of operations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Decision,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Source,
    Tier,
    User,
)


def make_operation(
    *,
    user: str = "analyst_alice",
    action: Action = Action.EXPORT,
    destination: str | None = "~/Downloads/export.csv",
    timestamp: datetime | None = None,
) -> Operation:
    cls = Classification(
        tier=Tier.PROPRIETARY,
        tags=("PII", "GDPR"),
        columns={
            "email": ColumnClass(classification=ColumnKind.PII, pii_type="email"),
            "revenue": ColumnClass(classification=ColumnKind.FINANCIAL),
            "region": ColumnClass(),
        },
    )
    extra: dict[str, Any] = {}
    if timestamp is not None:
        extra["timestamp"] = timestamp
    return Operation(
        action=action,
        user=User(id=user, role="data_analyst"),
        classification=cls,
        sources=(Source(name="customers.csv", classification=cls),),
        destination=(
            Destination(uri=destination, type=DestinationType.FILE, scope=Scope.EXTERNAL)
            if destination
            else None
        ),
        purpose="Q4 board report",
        method="pandas.DataFrame.to_csv",
        code_location="analysis.py:42",
        **extra,
    )


def make_decision(op: Operation, *, allowed: bool = False) -> Decision:
    return Decision(
        allowed=allowed,
        operation_id=op.id,
        reasoning="Cannot export PROPRIETARY data" if not allowed else "allowed",
        policy_id=None if allowed else "P-2024-001",
        policy_title=None if allowed else "PII Export Restrictions",
        bundle_revision="rev-1",
        eval_ms=0.1234,
        operation=op,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class Builders:
    """What the tests build records from: ``mk.op()``, ``mk.decision(op)``, ``mk.utc(...)``."""

    op = staticmethod(make_operation)
    decision = staticmethod(make_decision)
    utc = staticmethod(utc)


@pytest.fixture
def mk() -> type[Builders]:
    return Builders


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("LACUNA_HOME", str(path))
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'audit.db'}"


@pytest.fixture
def store(db_url: str, home: Path) -> Iterator[AuditStore]:
    s = AuditStore(db_url)
    yield s
    s.close()


@pytest.fixture
def fill(store: AuditStore) -> Callable[[int], None]:
    def _fill(n: int) -> None:
        for i in range(n):
            op = make_operation(user=f"user{i % 3}")
            store.record(make_decision(op, allowed=i % 2 == 0), op, session="s1")

    return _fill
