"""An engine that cannot be built (a component not installed, a broken configuration) makes
``Governor.decide`` a fail-closed denial that says why, as a failing engine does: it raised out
of ``lacuna.check(operation)`` before, though ``decide`` promises never to raise."""

from __future__ import annotations

from typing import Any

import pytest

import lacuna
from lacuna.errors import ComponentImportError
from lacuna.governor import Governor, current
from lacuna.model import Action, Classification, Operation, Tier, User


def _operation() -> Operation:
    return Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                     classification=Classification(tier=Tier.PUBLIC))


def test_an_engine_that_cannot_be_built_denies_saying_why(
        sandbox_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lacuna.configure(sandbox_config())

    def unbuilt(self: Governor) -> Any:
        cause = ModuleNotFoundError("No module named 'regorus' (test)", name="regorus")
        raise ComponentImportError("Lacuna's policy engine (lacuna.policy; regorus)",
                                   "No operation is decided until it imports", cause)

    with monkeypatch.context() as patch:
        patch.setattr(Governor, "_build_engine", unbuilt)
        gov = Governor(current().config)
        decision = gov.decide(_operation())
        assert decision.denied
        assert "could not be started" in decision.reasoning
        assert "regorus" in (decision.engine_error or "")
        assert "Fix:" in (decision.engine_error or "")
        assert decision.operation is not None
    allowed = Governor(current().config).decide(_operation())  # the engine builds: decided
    assert allowed.allowed, allowed.reasoning


def test_an_engine_that_fails_while_deciding_denies_the_same_way(
        sandbox_config: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Built, then failing in ``decide``: the same fail-closed denial, said as such and logged
    as an error, with the engine's error and the operation on the decision."""
    lacuna.configure(sandbox_config())
    operation = _operation()

    class Broken:
        complete_decisions = False

        def decide(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the engine broke (test)")

    gov = Governor(current().config, engine=Broken())  # type: ignore[arg-type]
    with caplog.at_level("ERROR", logger="lacuna.governor"):
        decision = gov.decide(operation)
    assert decision.denied
    assert decision.reasoning == ("Denied because the policy engine could not decide "
                                  "(fail closed)")
    assert decision.engine_error == "RuntimeError: the engine broke (test)"
    assert decision.operation is operation
    assert any("could not decide" in r.getMessage() and operation.id in r.getMessage()
               for r in caplog.records)
