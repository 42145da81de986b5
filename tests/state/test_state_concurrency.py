"""Several processes write every chained or numbered store of one PostgreSQL database at once.

SQLite's side of the same guarantees is tested where each store lives (tests/audit,
tests/exceptions, tests/policy); here the writers share one live PostgreSQL database, where
writers take turns by row locks (``SELECT ... FOR UPDATE`` on the audit head) and
transaction-level advisory locks (exception numbers, the decision log's first head row).
One set of processes writes all three, so the processes start once.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from sqlalchemy import select

from fixtures_postgres import new_postgres_database
from lacuna.audit import AuditStore, ledger
from lacuna.audit.schema import head
from lacuna.exceptions import ExceptionStore
from lacuna.policy import log_sinks
from lacuna.signing import default_keyring

from .conftest import start_together

WORKERS, EACH = 3, 30

WRITER = """
import sys
from lacuna.audit import AuditStore
from lacuna.exceptions import ExceptionRequest, ExceptionStore
from lacuna.model import Action, Classification, Decision, Operation, User, utcnow
from lacuna.policy.log_sinks import SqlDecisionLog

url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
audit, exceptions = AuditStore(url), ExceptionStore(url)
log = SqlDecisionLog(url)
exceptions.keyring
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    op = Operation(action=Action.WRITE, user=User(id=name), classification=Classification())
    audit.record(Decision(allowed=True, operation_id=op.id, reasoning="ok"), op, session=name)
    if i % 3 == 0:
        made = exceptions.add(ExceptionRequest(
            id="", requested_by=name, requester_role="analyst", action="export",
            destination=f"/tmp/{name}-{i}.csv", sources=(), tier="PUBLIC", tags=(),
            purpose="Quarterly board presentation", business_justification="",
            approver="steward@example.com", duration_hours=1.0, conditions=(),
            created_at=utcnow()))
        print(made.id, flush=True)
    log.write([{"decision_id": f"{name}-{i}-{k}", "timestamp": utcnow().isoformat(),
                "path": "lacuna/decision", "result": {"operation_id": op.id, "allowed": True},
                "bundles": {"lacuna": {"revision": "r1"}}} for k in range(2)])
audit.close(); exceptions.close(); log.close()
"""


def test_writers_in_several_processes_keep_every_store_consistent(
    postgres_url: str, home: Path
) -> None:
    url = new_postgres_database(postgres_url)
    default_keyring()  # the signing key exists before the children start
    outs = start_together(WRITER, [[url, f"proc{w}", str(EACH)] for w in range(WORKERS)], home)

    with AuditStore(url) as store:  # the audit trail: one chain, every record once
        report = store.verify()
        assert (report.ok, report.checked) == (True, WORKERS * EACH), report.problem
        found = list(reversed(store.list(limit=None)))
        users = [r.user_id for r in found]
        assert all(users.count(f"proc{w}") == EACH for w in range(WORKERS))
        assert sum(a != b for a, b in itertools.pairwise(users)) >= WORKERS  # interleaved
        with store.snapshot() as conn:
            top = conn.execute(select(head.c.seq, head.c.hash)).one()
        assert (top.seq, top.hash) == (found[-1].seq, found[-1].hash)

    ids = [line for out in outs for line in out.split()]  # exceptions: distinct, consecutive
    year = time.strftime("%Y", time.gmtime())
    filed = WORKERS * len(range(0, EACH, 3))
    assert sorted(ids) == [f"EXC-{year}-{n:03d}" for n in range(1, filed + 1)]
    exceptions = ExceptionStore(url)
    try:
        assert all(exceptions.verified(r) for r in exceptions.list())
    finally:
        exceptions.close()

    sink = log_sinks.SqlDecisionLog(url)  # the decision log: one chain of every batch
    try:
        with sink._engine.connect() as conn:
            report = ledger.verify_ledger(conn, log_sinks.table, log_sinks.heads,
                                          default_keyring(), None)
        assert (report.ok, report.checked) == (True, WORKERS * EACH * 2), report.problem
    finally:
        sink.close()
