"""The Governor's guarantees: fail closed, audit failures isolated, modes applied."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation, PolicyError
from lacuna.governor import Governor
from lacuna.model import Action, Classification, Tier


def test_broken_policy_fails_at_enable_with_file_and_line(tmp_path, sandbox_config):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "broken.rego").write_text("package governance.x\nimport rego.v1\n"
                                          "allow if {\n  input.x ==\n}\n")
    with pytest.raises(PolicyError) as err:
        lacuna.enable(sandbox_config(policy={"dir": str(policies)}))
    assert "broken.rego:5" in str(err.value) or "broken.rego:4" in str(err.value)


_BROKEN_REGO = "package governance.x\nimport rego.v1\nallow if {\n  input.x ==\n}\n"


@pytest.mark.parametrize(("yaml", "files", "expected"), [
    ("classification:\n  k_anonymty: 5\n", {}, ("lacuna.yaml:3", "did you mean 'k_anonymity'")),
    ("policy: {dir: nope/}\n", {}, ("lacuna.yaml:2", "is not a folder")),
    ("policy: {dir: p/}\n", {"p/broken.rego": _BROKEN_REGO}, ("broken.rego:",)),
    ("policy: {dir: p/}\n", {"p/README.md": "no rego"}, ("holds no .rego policy files",)),
], ids=["typo", "missing-dir", "broken-rego", "no-rego"])
def test_enable_without_arguments_checks_lacuna_yaml_and_the_bundle(sandbox, yaml, files, expected):
    """``lacuna.enable()`` reads ``lacuna.yaml`` from the current folder and compiles its bundle
    at once: a mistake in either is raised there, naming the file (and line), and nothing is
    governed; it was reported only at the first governed operation, as a fail-closed denial."""
    from lacuna.errors import ConfigError

    (sandbox / "lacuna.yaml").write_text(f"audit: {{url: 'sqlite:///audit.db'}}\n{yaml}")
    for name, text in files.items():
        (sandbox / name).parent.mkdir(exist_ok=True)
        (sandbox / name).write_text(text)
    with pytest.raises((ConfigError, PolicyError)) as err:
        lacuna.enable()
    for part in expected:
        assert part in str(err.value)
    assert not lacuna.enabled()
    with pytest.raises((ConfigError, PolicyError)), lacuna.governed():  # so does governed()
        pass


def test_enable_without_arguments_governs_under_a_valid_lacuna_yaml(sandbox):
    policies = sandbox / "p"
    policies.mkdir()
    (policies / "ok.rego").write_text("package governance.base\nimport rego.v1\n"
                                      "metadata := {\"id\": \"BASE\"}\nallow := true\n")
    (sandbox / "lacuna.yaml").write_text("audit: {url: 'sqlite:///audit.db'}\n"
                                         "user: {id: ann, role: data_analyst}\npolicy: {dir: p/}\n")
    lacuna.enable()
    from lacuna.governor import current

    assert current()._engine is not None  # compiled by enable(), not at the first read
    assert len(pd.read_csv("sales.csv")) == 240
    record = current().audit.list(limit=1)[0]
    assert (record.allowed, record.user_id, record.policy_id) == (True, "ann", "BASE")


class _ExplodingEngine:
    revision = "test"

    def decide(self, operation, **_):
        raise RuntimeError("engine exploded")


def test_engine_failure_denies_loudly(sandbox_config, caplog):
    gov = Governor(sandbox_config(), engine=_ExplodingEngine())
    op = gov.operation(Action.READ, Classification(tier=Tier.PUBLIC))
    with caplog.at_level(logging.ERROR, logger="lacuna.governor"):
        decision = gov.decide(op)
    assert decision.allowed is False
    assert decision.engine_error == "RuntimeError: engine exploded"
    assert "fail closed" in decision.reasoning
    assert "engine exploded" in caplog.text
    with pytest.raises(GovernanceViolation, match="could not decide"):
        gov.govern(op)


def test_broken_policy_changed_after_start_denies_reads(sandbox, sandbox_config, tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "ok.rego").write_text("package governance.base\nimport rego.v1\n"
                                      "metadata := {\"id\": \"BASE\"}\nallow := true\n")
    lacuna.enable(sandbox_config(policy={"dir": str(policies)}))
    assert len(pd.read_csv("sales.csv")) == 240
    from lacuna.governor import current

    current()._engine = None  # as after a restart with a broken bundle on disk
    (policies / "ok.rego").write_text("package governance.base\nallow if {\n")
    with pytest.raises(GovernanceViolation) as err:
        pd.read_csv("sales.csv")
    assert "ok.rego" in err.value.decision.engine_error


class _BrokenAudit:
    def record(self, *a, **k):
        raise OSError("disk full")

    def close(self):
        pass


def test_audit_failure_denies_in_enforce_mode(sandbox_config, caplog):
    gov = Governor(sandbox_config(), audit=_BrokenAudit())
    op = gov.operation(Action.READ, Classification(tier=Tier.PUBLIC))
    with (
        caplog.at_level(logging.ERROR, logger="lacuna.governor"),
        pytest.raises(GovernanceViolation, match="audit trail could not record") as err,
    ):
        gov.govern(op)
    assert "disk full" in caplog.text
    assert "disk full" in str(err.value)
    assert "Fix the audit trail" in str(err.value)
    ran = []
    with pytest.raises(GovernanceViolation):
        gov.execute(op, lambda: ran.append(1))
    assert ran == []  # fail closed: nothing runs unrecorded


@pytest.mark.parametrize("mode", ["warn", "observe"])
def test_audit_failure_never_breaks_the_job_in_warn_and_observe(sandbox_config, mode):
    from lacuna.governor import GovernanceFailureWarning

    gov = Governor(sandbox_config(mode=mode), audit=_BrokenAudit())
    op = gov.operation(Action.READ, Classification(tier=Tier.PUBLIC))
    with pytest.warns(GovernanceFailureWarning, match="disk full"):
        assert gov.execute(op, lambda: 42) == 42


def test_observe_mode_records_denials_without_blocking(sandbox, sandbox_config):
    lacuna.enable(sandbox_config(mode="observe"))
    customers = pd.read_csv("customers.csv")
    customers.to_csv(sandbox / "Downloads" / "observed.csv")
    assert (sandbox / "Downloads" / "observed.csv").exists()
    from lacuna.governor import current

    assert current().audit.list(limit=1)[0].allowed is False


def test_configure_overrides_merge_nested_settings(sandbox_config):
    from lacuna.governor import configure

    gov = configure(sandbox_config(), user={"role": "data_steward"})
    assert gov.config.user.id == "analyst_alice"
    assert gov.config.user.role == "data_steward"


def test_check_is_a_dry_run(governed):
    decision = lacuna.check("customers.csv", str(governed / "Downloads" / "c.csv"))
    assert decision.allowed is False
    assert decision.policy_id == "P-2024-001"
    assert not (governed / "Downloads" / "c.csv").exists()
    from lacuna.governor import current

    assert all(r.action == "read" for r in current().audit.list())


def _break_classification(monkeypatch):
    """Make the classifier fail as an internal bug would (not the user's call)."""
    import importlib

    calls = []

    def broken(*_a, **_k):
        calls.append(1)
        raise AttributeError("'NoneType' object has no attribute 'dtype'")

    monkeypatch.setattr(importlib.import_module("lacuna.classify"), "classify_frame", broken)
    return calls


def test_internal_error_in_enforce_is_a_denial_that_names_it(sandbox, sandbox_config, monkeypatch):
    import importlib

    classify = importlib.import_module("lacuna.classify")
    original = classify.classify_frame
    lacuna.enable(sandbox_config())
    calls = _break_classification(monkeypatch)
    with pytest.raises(GovernanceViolation) as err:
        pd.read_csv("customers.csv")
    assert calls
    message = str(err.value)
    assert "Lacuna failed while governing pandas.read_csv" in message
    assert "AttributeError" in message
    assert "To report it" in message
    # the class is a fail-closed guess, and says so: it read 'Classification: PROPRIETARY',
    # 'Tags: (none)', as if the data had been found proprietary
    assert "Classification: PROPRIETARY\n" not in message
    assert ("Classification: PROPRIETARY assumed (fail closed: Lacuna could not decide; the "
            "data was not found to be PROPRIETARY)") in message
    assert "Tags: (unknown)" in message
    assert "How Lacuna classified it" not in message
    assert err.value.decision.to_dict()["classification_assumed"].startswith(
        "the data's class is unknown: Lacuna failed before it could decide (AttributeError")
    from lacuna.governor import current

    denial = current().audit.list(limit=1)[0]  # the denial is on the record too
    assert denial.allowed is False
    assert "AttributeError" in denial.reasoning
    assert denial.tier == "PROPRIETARY"
    assert "was not found to be PROPRIETARY" in (denial.tier_assumed or "")
    assert "AttributeError" in (denial.tier_assumed or "")
    assert current().audit.verify().ok  # the added field is hashed like the rest
    from typer.testing import CliRunner

    from lacuna.cli import app

    listed = CliRunner().invoke(app, ["audit", "list", "--db", f"sqlite:///{sandbox / 'audit.db'}"],
                                env={"COLUMNS": "200"})
    assert "PROPRIETARY (assumed)" in listed.output
    # a denial whose class was found carries no such mark, in the message or on the record
    monkeypatch.setattr(classify, "classify_frame", original)
    with pytest.raises(GovernanceViolation) as found:
        pd.read_csv("customers.csv").to_csv(sandbox / "Downloads" / "c.csv")
    assert "Classification: PROPRIETARY\n" in str(found.value)
    assert "classification_assumed" not in found.value.decision.to_dict()
    assert current().audit.list(limit=1, denied_only=True)[0].tier_assumed is None


@pytest.mark.parametrize("mode", ["warn", "observe"])
def test_internal_error_in_warn_and_observe_runs_the_call_once(
    sandbox, sandbox_config, monkeypatch, mode
):
    from lacuna.governor import GovernanceFailureWarning

    lacuna.enable(sandbox_config(mode=mode))
    _break_classification(monkeypatch)
    reads = []
    original = pd.io.parsers.readers.TextFileReader.read

    def counting(self, *a, **k):
        reads.append(1)
        return original(self, *a, **k)

    monkeypatch.setattr(pd.io.parsers.readers.TextFileReader, "read", counting)
    with pytest.warns(GovernanceFailureWarning, match="AttributeError"):
        frame = pd.read_csv("customers.csv")
    assert len(frame) > 0
    assert len(reads) == 1  # the user's read ran once, not again after the failure


def test_the_users_own_errors_come_out_unchanged(sandbox, sandbox_config):
    lacuna.enable(sandbox_config())
    with pytest.raises(FileNotFoundError):
        pd.read_csv("no-such-file.csv")
    frame = pd.read_csv("customers.csv")
    with pytest.raises(KeyError):
        frame.merge(frame, on="no-such-column")


def test_check_answers_an_internal_error_with_a_denial(sandbox, sandbox_config, monkeypatch):
    lacuna.enable(sandbox_config(mode="observe"))
    frame = pd.read_csv("customers.csv")
    import importlib

    def broken(*_args, **_kwargs):
        raise RuntimeError("lineage exploded")

    frames = importlib.import_module("lacuna.lineage.frames")
    monkeypatch.setattr(frames, "effective_state", broken)
    decision = lacuna.check(frame, str(sandbox / "governed" / "workspace" / "x.csv"))
    assert decision.allowed is False
    assert "lineage exploded" in (decision.engine_error or "")


def test_disable_writes_the_decision_log_before_it_returns(sandbox, sandbox_config):
    """Decision-log records are written in the background, a batch at a time; ``disable``
    waits for what was queued, so a notebook that disables Lacuna and reads its decision log
    (or exits abruptly) has every decision made so far."""
    from lacuna.policy.log_sinks import SqlDecisionLog

    lacuna.enable(sandbox_config(policy={"decision_log": {
        "type": "sql", "batch_size": 1000, "flush_interval_ms": 600_000}}))
    customers = pd.read_csv(sandbox / "customers.csv")
    with pytest.raises(GovernanceViolation):
        customers.to_csv(sandbox / "Downloads" / "out.csv")
    lacuna.disable()
    log = SqlDecisionLog(f"sqlite:///{sandbox / 'audit.db'}")
    try:
        records = log.records(limit=100)
    finally:
        log.close()
    assert any(not r["result"]["allowed"] for r in records), records
    assert len(records) >= 2  # the read and the denied export


@pytest.mark.parametrize("attr", ["audit", "exceptions"])
def test_a_server_clients_stores_do_not_deadlock_before_its_engine_is_built(attr: str) -> None:
    """With ``server:`` set, the audit and exception stores are the server's, reached through
    its engine; asked for first, they built the engine inside the non-reentrant lock that was
    building them: the process hung for ever."""
    import threading

    from lacuna.config import config_from_dict

    gov = Governor(config_from_dict({"server": {"url": "http://127.0.0.1:9", "token": "x"}}))
    found: list[str] = []
    worker = threading.Thread(target=lambda: found.append(type(getattr(gov, attr)).__name__),
                              daemon=True)
    worker.start()
    worker.join(10)
    assert found == [{"audit": "ServerAudit", "exceptions": "ServerExceptions"}[attr]]
