"""The fast lane waits for its group commit with a deadline: a commit that does not answer in
time leaves the decision unrecorded (an allowed one is then denied), and the writer carries on."""

from __future__ import annotations

from pathlib import Path

import pytest

import loops
from lacuna.audit.turn import Turn
from lacuna.errors import AuditError
from lacuna.model import Action, Classification, Operation, User
from lacuna.server import fastlane


def test_a_commit_past_its_deadline_is_unrecorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacuna.server.settings import ServerSettings
    from lacuna.server.state import build_state

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    state = build_state(ServerSettings(db=f"sqlite:///{tmp_path / 'state.db'}",
                                       scheduler=False))
    writer = state.audit_writer
    assert writer is not None
    store = writer.store
    assert store.path is not None
    op = Operation(action=Action.READ, user=User(id="ana", role="analyst"),
                   classification=Classification())
    decision = state.governor.decide(op)

    async def answer() -> tuple[object, Exception | None]:
        return await fastlane._recorded(state, writer, decision, "s")

    def recorded() -> tuple[object, Exception | None]:
        return loops.run(answer())

    try:
        before = len(store.list(limit=None))  # the server's start-up records (legacy users)
        stored, failure = recorded()  # the allowed path: committed, answered
        assert failure is None
        assert store.get(stored.id) is not None  # type: ignore[attr-defined]
        monkeypatch.setattr(fastlane, "_COMMIT_TIMEOUT_S", 0.2)
        other = Turn(store.path)  # another worker holds the trail past the deadline
        with other.hold():
            stored, failure = recorded()
        other.close()
        assert stored is None
        assert isinstance(failure, AuditError)
        assert "did not commit within" in str(failure)
        writer.close()  # what was queued is committed once the turn is free
        assert [r.seq for r in store.list(limit=None)] == [before + 2, before + 1, *range(
            before, 0, -1)]
        assert store.verify().ok
        assert state.metrics.audit_writes["failed"] == 1
    finally:
        state.close()
