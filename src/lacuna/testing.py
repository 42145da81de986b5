"""Fakes for testing code that runs under Lacuna (named as fakes; never used in production).

    from lacuna.testing import fake_governor

    def test_my_pipeline_exports(tmp_path):
        gov = fake_governor(allowed=False, reasoning="exports are off in tests")
        lacuna.enable()
        ...                      # a GovernanceViolation is raised by every export
        assert gov.audit.records[-1].allowed is False

``StaticEngine`` answers every operation the same way; ``MemoryAudit`` keeps decisions in a list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from lacuna.model import Alternative, Decision, Operation


@dataclass(slots=True)
class StaticEngine:
    """A fake policy engine: the same decision for every operation."""

    allowed: bool = True
    reasoning: str = "allowed by lacuna.testing.StaticEngine"
    policy_id: str = "TEST"
    alternatives: tuple[Alternative, ...] = ()
    decided: list[Operation] = field(default_factory=list)
    revision: str = "static"

    def decide(self, operation: Operation, **_: Any) -> Decision:
        self.decided.append(operation)
        return Decision(allowed=self.allowed, operation_id=operation.id,
                        reasoning=self.reasoning, policy_id=self.policy_id,
                        alternatives=self.alternatives, bundle_revision=self.revision,
                        operation=operation)


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    allowed: bool
    action: str
    destination: str | None
    tier: str
    decision: Decision
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = "decision"  # or "outcome", as in lacuna.audit.AuditRecord
    outcome_of: str | None = None
    status: str | None = None  # outcomes: "succeeded" or "failed"
    error: str | None = None  # failed outcomes: "ErrorType: message"


@dataclass(slots=True)
class MemoryAudit:
    """A fake audit trail: decisions (and outcomes) in a list, newest last."""

    records: list[MemoryRecord] = field(default_factory=list)

    def record(self, decision: Decision, operation: Operation, *, session: str) -> MemoryRecord:
        del session
        rec = MemoryRecord(allowed=decision.allowed, action=operation.action.value,
                           destination=operation.destination.uri if operation.destination else None,
                           tier=operation.classification.tier.value, decision=decision)
        self.records.append(rec)
        return rec

    def record_outcome(self, decision: Decision, operation: Operation, *, session: str, of: str,
                       error: BaseException | None = None, mode: str | None = None
                       ) -> MemoryRecord:
        del session, mode
        rec = MemoryRecord(allowed=decision.allowed, action=operation.action.value,
                           destination=operation.destination.uri if operation.destination else None,
                           tier=operation.classification.tier.value, decision=decision,
                           kind="outcome", outcome_of=of,
                           status="succeeded" if error is None else "failed",
                           error=None if error is None else f"{type(error).__name__}: {error}")
        self.records.append(rec)
        return rec

    def list(self, *, limit: int = 50, **_: Any) -> list[MemoryRecord]:
        return list(reversed(self.records))[:limit]

    def close(self) -> None:
        pass


def fake_governor(allowed: bool = True, **engine: Any) -> Any:
    """Install a process-wide governor with a :class:`StaticEngine` and a :class:`MemoryAudit`.

    Args:
        allowed: the answer to every operation.
        **engine: more :class:`StaticEngine` fields (``reasoning``, ``policy_id``, ...).

    Returns:
        The :class:`~lacuna.governor.Governor`; ``.engine`` and ``.audit`` are the fakes.

    Example:
        >>> import lacuna
        >>> from lacuna.testing import fake_governor
        >>> gov = fake_governor(allowed=False)
        >>> lacuna.check(["email"], "/tmp/x.csv").allowed
        False
    """
    from lacuna import governor
    from lacuna.config import Config

    gov = governor.Governor(Config(), engine=StaticEngine(allowed=allowed, **engine),
                            audit=MemoryAudit())  # type: ignore[arg-type]
    governor.use(gov)
    return gov
