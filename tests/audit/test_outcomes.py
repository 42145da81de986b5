"""Outcomes: the audit trail records what happened, not only what was intended.

``Governor.execute`` commits the decision before the operation runs and appends its outcome
after it, as a second, chained record that names the decision's record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lacuna import _bypass
from lacuna.audit import AuditStore
from lacuna.cli.audit import app
from lacuna.errors import GovernanceViolation
from lacuna.governor import GovernanceFailureWarning, Governor
from lacuna.model import Action

runner = CliRunner(env={"COLUMNS": "220", "NO_COLOR": "1"})
FRAME = pd.DataFrame({"email": ["ann@example.com", "bob@example.org"], "n": [1, 2]})


def _export(gov: Governor, target: Path):
    """An export of FRAME to ``target`` as the pandas integration builds it."""
    classification = gov.operation(Action.EXPORT, _classify(gov)).classification
    return gov.operation(Action.EXPORT, classification, destination=gov.destination(str(target)),
                         method="pandas.DataFrame.to_csv")


def _classify(gov: Governor):
    from lacuna.classify import classify_frame

    return classify_frame(FRAME, config=gov.config.classification)


def _write(target: Path):
    def run() -> None:
        with _bypass.bypass():
            FRAME.to_csv(target, index=False)

    return run


def _records(gov: Governor):
    """The trail oldest first, after the sandbox's configuration event (its destinations are
    not the defaults: lacuna.audit.configuration), which comes first."""
    found = list(reversed(gov.audit.list(limit=None)))
    assert found[0].data["kind"] == "config"
    return found[1:]


def test_allowed_write_records_decision_then_success(sandbox, sandbox_config):
    gov = Governor(sandbox_config())
    target = sandbox / "governed" / "workspace" / "ok.csv"
    gov.execute(_export(gov, target), _write(target))
    assert target.exists()
    decision, outcome = _records(gov)
    assert decision.kind == "decision"
    assert decision.allowed
    assert outcome.kind == "outcome"
    assert outcome.status == "succeeded"
    assert outcome.outcome_of == decision.id
    assert outcome.data["operation_id"] == decision.data["operation_id"]
    assert outcome.seq == decision.seq + 1
    assert outcome.prev_hash == decision.hash
    assert gov.audit.verify().ok


def test_allowed_write_that_fails_is_recorded_as_failed(sandbox, sandbox_config):
    gov = Governor(sandbox_config())
    target = sandbox / "governed" / "workspace" / "no-such-folder" / "x.csv"
    with pytest.raises(OSError, match="no-such-folder") as err:
        gov.execute(_export(gov, target), _write(target))
    decision, outcome = _records(gov)
    assert decision.allowed  # the policy allowed it ...
    assert outcome.status == "failed"  # ... and the trail says it did not happen
    assert outcome.error is not None
    assert outcome.error.startswith(type(err.value).__name__)
    assert "no-such-folder" in outcome.error
    assert "ann@example.com" not in outcome.body  # never data values
    assert gov.audit.verify().ok


def test_audit_list_shows_outcomes(sandbox, sandbox_config):
    gov = Governor(sandbox_config())
    good = sandbox / "governed" / "workspace" / "ok.csv"
    bad = sandbox / "governed" / "workspace" / "missing" / "x.csv"
    gov.execute(_export(gov, good), _write(good))
    with pytest.raises(OSError, match="missing"):
        gov.execute(_export(gov, bad), _write(bad))
    url = gov.config.audit_url
    gov.close()
    table = runner.invoke(app, ["list", "--db", url])
    assert table.exit_code == 0, table.output
    assert "succeeded (#3)" in table.output  # #1: the sandbox's configuration event
    assert "outcome of #2" in table.output
    assert "FAILED" in table.output
    assert "outcome of #4" in table.output
    lines = runner.invoke(app, ["list", "--db", url, "--json"]).output.splitlines()
    kinds = [json.loads(line).get("kind", "decision") for line in lines]
    assert kinds == ["outcome", "decision", "outcome", "decision", "config"]
    assert runner.invoke(app, ["verify", "--db", url]).exit_code == 0


def test_denied_in_observe_runs_and_records_its_outcome(sandbox, sandbox_config):
    gov = Governor(sandbox_config(mode="observe"))
    target = sandbox / "Downloads" / "observed.csv"
    gov.execute(_export(gov, target), _write(target))
    decision, outcome = _records(gov)
    assert not decision.allowed
    assert target.exists()
    assert outcome.status == "succeeded"
    assert not outcome.allowed
    assert outcome.data["outcome"]["mode"] == "observe"  # why a denied operation ran
    assert gov.audit.verify().ok


def test_enforced_denial_runs_nothing_and_has_no_outcome(sandbox, sandbox_config):
    gov = Governor(sandbox_config())
    target = sandbox / "Downloads" / "denied.csv"
    with pytest.raises(GovernanceViolation):
        gov.execute(_export(gov, target), _write(target))
    assert not target.exists()
    assert [r.kind for r in _records(gov)] == ["decision"]


def _unwritable(sandbox: Path) -> dict[str, object]:
    """Settings whose audit trail cannot be created (a file stands where its folder goes)."""
    blocker = sandbox / "not-a-folder"
    blocker.write_text("a file where the audit folder should be")
    return {"audit": {"url": f"sqlite:///{blocker / 'audit.db'}"},
            "policy": {"decision_log": {"type": "none"}}}  # only the audit trail is broken


def test_unwritable_audit_trail_stops_the_write_in_enforce(sandbox, sandbox_config):
    gov = Governor(sandbox_config(**_unwritable(sandbox)))
    target = sandbox / "governed" / "workspace" / "ok.csv"
    with pytest.raises(GovernanceViolation) as err:
        gov.execute(_export(gov, target), _write(target))
    assert not target.exists()
    message = str(err.value)
    assert "audit trail could not record" in message
    assert "not-a-folder" in message
    assert "audit.url" in message


@pytest.mark.parametrize("mode", ["warn", "observe"])
def test_unwritable_audit_trail_warns_and_runs_in_warn_and_observe(sandbox, sandbox_config, mode):
    gov = Governor(sandbox_config(mode=mode, **_unwritable(sandbox)))
    target = sandbox / "governed" / "workspace" / "ok.csv"
    with pytest.warns(GovernanceFailureWarning, match="runs unrecorded"):
        gov.execute(_export(gov, target), _write(target))
    assert target.exists()


def test_outcome_failure_warns_but_never_undoes_the_operation(sandbox, sandbox_config):
    gov = Governor(sandbox_config())

    def broken(*_a, **_k):
        raise OSError("disk full")

    gov.audit.record_outcome = broken  # type: ignore[method-assign]
    target = sandbox / "governed" / "workspace" / "ok.csv"
    with pytest.warns(GovernanceFailureWarning, match="stays without an outcome"):
        gov.execute(_export(gov, target), _write(target))
    assert target.exists()
    assert [r.kind for r in _records(gov)] == ["decision"]


KILLED = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    from lacuna import _bypass
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor
    from lacuna.model import Action, Classification, Tier

    target = sys.argv[2]
    gov = Governor(config_from_dict({"audit": {"url": sys.argv[1]},
                                     "destinations": {"governed": [sys.argv[3]]}}))
    op = gov.operation(Action.EXPORT, Classification(tier=Tier.PUBLIC),
                       destination=gov.destination(target), method="pandas.DataFrame.to_csv")

    def run():
        with _bypass.bypass():
            pd.DataFrame({"n": [1, 2]}).to_csv(target)
        os.kill(os.getpid(), signal.SIGKILL)  # dies mid-operation, before any outcome

    gov.execute(op, run)
""")


def test_kill_9_during_the_operation_leaves_the_decision_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    target = tmp_path / "governed" / "out.csv"
    target.parent.mkdir()
    env = dict(os.environ)  # the same LACUNA_HOME (and signing key) as this test's store
    proc = subprocess.run([sys.executable, "-c", KILLED, url, str(target), f"{target.parent}/"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert target.exists()  # the operation ran ...
    with AuditStore(url, create=False) as store:
        found = [r for r in store.list(limit=None) if r.data.get("kind") != "config"]
        assert [r.kind for r in found] == ["decision"]  # ... its decision survived the kill,
        assert found[0].allowed
        assert found[0].action == "export"
        assert store.verify().ok
