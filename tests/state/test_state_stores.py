"""The other stores of the state database on SQLite and live PostgreSQL: exceptions, the
decision log, the token vault, the dataset registry and server identities."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from lacuna.anonymize.vault import UnknownTokenError, Vault
from lacuna.audit import ledger
from lacuna.config import StewardsConfig
from lacuna.datasets.registry import Dataset, DatasetNotFound, Transform
from lacuna.datasets.store import DatasetStore
from lacuna.exceptions import ExceptionRequest, ExceptionStore, Status
from lacuna.exceptions import store as exceptions_store
from lacuna.identity import AuthenticationError, UserStore
from lacuna.keystore import FileKeyBackend, KeyStore
from lacuna.model import utcnow
from lacuna.policy import log_sinks
from lacuna.signing import default_keyring

STEWARD = "steward@example.com"


def _request(user: str = "alice") -> ExceptionRequest:
    return ExceptionRequest(
        id="", requested_by=user, requester_role="analyst", action="export",
        destination="/tmp/board.csv", sources=(), tier="PUBLIC", tags=(),
        purpose="Quarterly board presentation", business_justification="board asks",
        approver=STEWARD, duration_hours=2.0, conditions=("aggregate only",),
        created_at=utcnow())


def test_exceptions_lifecycle_and_tampering(state_url: str, home: Path) -> None:
    store = ExceptionStore(state_url)
    try:
        first, second = store.add(_request()), store.add(_request("bob"))
        assert first.id.endswith("-001")
        assert second.id.endswith("-002")
        stewards = StewardsConfig(default=(STEWARD,))
        approved = store.decide(first.id, approve=True, by=STEWARD, stewards=stewards,
                                comment="ok for the board")
        assert approved.status is Status.APPROVED
        assert store.get(first.id) == approved
        assert store.verified(store.get(first.id))
        assert [r.id for r in store.list(status=Status.PENDING)] == [second.id]
        store.record_file(first.id, "/tmp/board.csv", written_by="alice", encrypted=True)
        assert [f.path for f in store.files(first.id, pending_only=True)] == ["/tmp/board.csv"]
        with store._engine.begin() as conn:  # widen the grant outside Lacuna
            body = conn.execute(exceptions_store.table.select().where(
                exceptions_store.table.c.id == first.id)).one().body
            conn.execute(update(exceptions_store.table).where(
                exceptions_store.table.c.id == first.id).values(
                    body=body.replace("/tmp/board.csv", "/tmp/everything.csv")))
        assert not store.verified(store.get(first.id))
    finally:
        store.close()


def test_decision_log_chain(state_url: str, home: Path) -> None:
    sink = log_sinks.SqlDecisionLog(state_url)
    try:
        for batch in range(3):
            sink.write([{"decision_id": f"d-{batch}-{k}", "timestamp": utcnow().isoformat(),
                         "path": "lacuna/decision",
                         "result": {"operation_id": f"op-{batch}", "allowed": k % 2 == 0},
                         "bundles": {"lacuna": {"revision": "r1"}}} for k in range(4)])
        assert {r["decision_id"] for r in sink.records(operation_id="op-1")} == {
            f"d-1-{k}" for k in range(4)}
        checkpoint = ledger.checkpoint_path(log_sinks.sqlite_file(
            log_sinks.parse_url(state_url)))

        def verify() -> tuple[bool, int]:
            with sink._engine.connect() as conn:
                report = ledger.verify_ledger(conn, log_sinks.table, log_sinks.heads,
                                              default_keyring(), checkpoint)
            return report.ok, report.checked

        assert verify() == (True, 12)
        with sink._engine.begin() as conn:
            conn.execute(update(log_sinks.table).where(log_sinks.table.c.seq == 5)
                         .values(allowed=True, body='{"forged": true}'))
        assert verify() == (False, 4)
    finally:
        sink.close()


def test_token_vault_round_trip(state_url: str, home: Path) -> None:
    vault = Vault(state_url, KeyStore(FileKeyBackend(home / "keys")))
    tokens, _key = vault.tokenize(["a@example.com", "b@example.com", "a@example.com"], "pii:email")
    assert tokens[0] == tokens[2] != tokens[1]
    again, _ = vault.tokenize(["b@example.com"], "pii:email")
    assert again == [tokens[1]]  # one token per value, across calls
    resolved = vault.resolve(tokens, column="email")
    assert resolved.values == {tokens[0]: "a@example.com", tokens[1]: "b@example.com"}
    with pytest.raises(UnknownTokenError, match="not in the vault"):
        vault.resolve(["tok_0000000000000000"], column="email")


def test_dataset_registry_round_trip(state_url: str, home: Path) -> None:
    store = DatasetStore(state_url)
    try:
        made = Dataset(name="customers_safe", source="/data/customers.csv",
                       transform=Transform(kind="anonymize"), owner="alice",
                       approved_by=STEWARD, approval="steward", refresh="manual",
                       location="/governed/customers_safe.parquet", registered_by="alice",
                       registered_at=datetime(2026, 11, 30, 9, tzinfo=UTC), columns=("id",))
        store.put(made)
        assert store.get("customers_safe") == made
        assert [d.name for d in store.list()] == ["customers_safe"]
        assert store.delete("customers_safe")
        with pytest.raises(DatasetNotFound):
            store.get("customers_safe")
    finally:
        store.close()


def test_server_identities(state_url: str, home: Path) -> None:
    users = UserStore(state_url)
    try:
        token = users.add("sam", roles=["data_steward"])
        assert users.authenticate(token).name == "sam"
        users.disable("sam")
        with pytest.raises(AuthenticationError):
            users.authenticate(token)
    finally:
        users.close()


def test_exception_end_marks_and_file_identity(state_url: str, home: Path) -> None:
    from lacuna.audit import AuditStore
    from lacuna.exceptions.events import event_body

    store, trail = ExceptionStore(state_url), AuditStore(state_url, checkpoint=None)
    try:
        request = store.add(_request())
        stewards = StewardsConfig(default=(STEWARD,))
        store.decide(request.id, approve=True, by=STEWARD, stewards=stewards)
        store.decide(request.id, approve=False, by=STEWARD, stewards=stewards, revoke=True)
        assert [r.id for r in store.unseen_ends()] == [request.id]  # not on the trail yet
        trail.record_event(event_body("revoked", user_id=STEWARD, role="steward",
                                      session="t", exception_id=request.id))
        assert store.ended_on_trail(request.id) == "revoked"
        store.mark_end_seen(request.id, "revoked")
        assert store.unseen_ends() == []
        with store._engine.begin() as conn:  # a mark edited outside Lacuna hides nothing
            conn.execute(update(exceptions_store.ends_table).values(event="denied"))
        assert [r.id for r in store.unseen_ends()] == [request.id]

        written = store.record_file(request.id, "/tmp/board.csv", written_by="alice",
                                    encrypted=False)
        store.record_identity(written, "file:1:2:3:4")
        (stored,) = store.files(request.id)
        assert (stored.identity, store.file_verified(stored)) == ("file:1:2:3:4", True)
    finally:
        store.close()
        trail.close()
