"""The audit trail on SQLite and live PostgreSQL: the same chain, the same checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text, update

from lacuna.audit import AuditStore
from lacuna.audit.schema import head, records
from lacuna.errors import AuditError
from lacuna.model import Action, Classification, Decision, Operation, User


def _record(store: AuditStore, user: str, *, allowed: bool = True) -> None:
    op = Operation(action=Action.EXPORT, user=User(id=user), classification=Classification())
    store.record(Decision(allowed=allowed, operation_id=op.id, reasoning="r",
                          policy_id=None if allowed else "P-1"), op, session="s")


def test_record_list_get_verify(state_url: str, home: Path) -> None:
    with AuditStore(state_url) as store:
        for i in range(6):
            _record(store, f"u{i % 2}", allowed=i % 3 != 0)
        found = store.list(limit=None)
        assert [r.seq for r in found] == [6, 5, 4, 3, 2, 1]
        assert [r.seq for r in store.list(denied_only=True)] == [4, 1]
        assert [r.seq for r in store.list(user="u1")] == [6, 4, 2]
        assert store.get(3) is not None
        assert store.get(found[0].id) == found[0]
        report = store.verify()
        assert (report.ok, report.checked) == (True, 6), report.problem
    with AuditStore(state_url) as again:  # reopened: the chain continues where it stopped
        _record(again, "u2")
        assert again.verify().checked == 7
        assert again.list(limit=1)[0].prev_hash == found[0].hash


def test_edits_outside_lacuna_are_detected(state_url: str, home: Path) -> None:
    with AuditStore(state_url) as store:
        for i in range(5):
            _record(store, f"u{i}")
    engine = create_engine(state_url)
    try:
        with engine.begin() as conn:  # an attacker with database access edits a body
            conn.execute(update(records).where(records.c.seq == 3).values(
                body=text("replace(body, 'u2', 'u9')")))
        with AuditStore(state_url) as store:
            report = store.verify()
            assert not report.ok
            assert report.first_bad == 3
        with engine.begin() as conn:  # ... and then drops the newest records and the head
            conn.execute(delete(records).where(records.c.seq >= 3))
        with AuditStore(state_url) as store:
            report = store.verify()
            assert not report.ok
            assert "head" in (report.problem or "")
    finally:
        engine.dispose()


def test_read_only_store_cannot_write(state_url: str, home: Path) -> None:
    with AuditStore(state_url) as store:
        _record(store, "u1")
    with AuditStore(state_url, read_only=True) as reader:
        assert reader.verify().ok
        with pytest.raises(AuditError, match="read-only"):
            _record(reader, "u2")
        # The database refuses too: SQLite opened with mode=ro, PostgreSQL in a READ ONLY
        # transaction, so not even a bug in Lacuna could write through a reader.
        with pytest.raises(AuditError, match="read"), reader.snapshot() as conn:
            conn.execute(update(head).values(seq=99))
    with AuditStore(state_url) as store:
        assert store.verify().checked == 1


def test_counts_and_a_decision_by_its_operation_id_without_reading_the_trail(
        state_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``counts`` is counted by the database, ``of_operation`` reads only the decision records
    the ``operation_id`` index names: neither loads the trail (the metrics endpoint and the
    feedback page call them on every request)."""
    import lacuna.audit.store as store_module

    with AuditStore(state_url) as store:
        ops = []
        for i in range(40):
            op = Operation(action=Action.EXPORT, user=User(id=f"u{i % 3}"),
                           classification=Classification())
            decision = Decision(allowed=i % 4 != 0, operation_id=op.id, reasoning="r",
                                policy_id=None if i % 4 else "P-1", operation=op)
            store.record(decision, op, session="s")
            ops.append((op, decision))
        op, decision = ops[17]
        outcome = store.record_outcome(decision, op, session="s", of=store.list(limit=1)[0].id)
        # an id with LIKE's wildcards in it matches only itself
        odd = Operation(action=Action.EXPORT, user=User(id="u"), classification=Classification(),
                        id="a%b_c")
        store.record(Decision(allowed=True, operation_id=odd.id, reasoning="r", operation=odd),
                     odd, session="s")

        parsed: list[object] = []
        real = store_module._to_record
        monkeypatch.setattr(store_module, "_to_record",
                            lambda row: parsed.append(row) or real(row))
        assert store.counts() == {"records": 42, "allowed": 32, "denied": 10}
        assert parsed == []
        found = store.of_operation(op.id)
        assert found is not None
        assert found.kind == "decision"
        assert found.id != outcome.id
        assert found.data["operation_id"] == op.id
        assert len(parsed) == 1  # the decision (by its indexed operation id), not its outcome
        assert store.of_operation("a%b_c") is not None
        assert store.of_operation("a%") is None
        assert store.of_operation("no-such-operation") is None
