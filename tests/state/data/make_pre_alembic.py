"""How pre_alembic.sql was made: Lacuna at main fa463bd (before Alembic), run as

    LACUNA_SIGNING_KEY=$(python -c "print('5a' * 32)") python make_pre_alembic.py pre_alembic.db

then dumped to SQL text (``sqlite3.connect("pre_alembic.db").iterdump()``), which the test loads
into a fresh file; the decision log's checkpoint file sits beside it.
"""

import sys
from datetime import UTC, datetime, timedelta

from lacuna.audit import AuditStore
from lacuna.exceptions import ExceptionRequest, ExceptionStore
from lacuna.identity import UserStore
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Action, Classification, Decision, Operation, Tier, User
from lacuna.policy.log_sinks import SqlDecisionLog

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)


def version(name: str) -> DatasetVersion:
    return DatasetVersion(dataset=DatasetRef("file", f"/data/{name}"),
                          classification=Classification(tier=Tier.INTERNAL), columns=("id",))


def main(url: str) -> None:
    with AuditStore(url, checkpoint=None) as audit:
        for i in range(3):
            op = Operation(action=Action.EXPORT, user=User(id=f"user{i}"),
                           classification=Classification())
            audit.record(Decision(allowed=i != 1, operation_id=op.id, reasoning="r",
                                  policy_id=None if i != 1 else "P-1"), op, session="s")
    exceptions = ExceptionStore(url)
    exceptions.add(ExceptionRequest(
        id="", requested_by="alice", requester_role="analyst", action="export",
        destination="/tmp/board.csv", sources=(), tier="PUBLIC", tags=(),
        purpose="Quarterly board presentation", business_justification="",
        approver="steward@example.com", duration_hours=1.0, conditions=(), created_at=T0))
    exceptions.close()
    with LineageStore(url) as lineage:
        lineage.record(Run(id="run-1", operation="export", status=RunStatus.SUCCEEDED,
                           inputs=(version("a.csv"),), outputs=(version("b.csv"),),
                           started_at=T0, ended_at=T0 + timedelta(seconds=1)))
    log = SqlDecisionLog(url)
    log.write([{"decision_id": "d-1", "timestamp": T0.isoformat(), "path": "lacuna/decision",
                "result": {"operation_id": "op-1", "allowed": True},
                "bundles": {"lacuna": {"revision": "r1"}}}])
    log.close()
    users = UserStore(url)
    users.add("steward_sam", roles=["data_steward"])
    users.close()


if __name__ == "__main__":
    main(f"sqlite:///{sys.argv[1]}")
