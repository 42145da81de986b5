"""lacuna.yaml's policy.server / decision_log / watch reach the governor (end to end, pandas)."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.config import Config
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.policy import PolicyEngine, RemoteEngine


def test_exports_are_decided_by_the_configured_opa_server(sandbox, sandbox_config, standin):
    server = standin(PolicyEngine.from_config(Config()))  # a stand-in for OPA, default bundle
    lacuna.enable(sandbox_config(policy={"server": {"url": server.url}}))
    assert isinstance(current().engine, RemoteEngine)
    customers = pd.read_csv("customers.csv")
    with pytest.raises(GovernanceViolation) as err:
        customers.to_csv(sandbox / "Downloads" / "c.csv")
    assert err.value.decision.policy_id == "P-2024-001"
    assert any(method == "POST" for method, _ in server.requests)
    assert not (sandbox / "Downloads" / "c.csv").exists()


def test_an_unreachable_opa_server_denies_and_says_so(sandbox, sandbox_config):
    lacuna.enable(sandbox_config(policy={"server": {"url": "http://127.0.0.1:9", "retries": 0,
                                                    "timeout_ms": 200}}))
    with pytest.raises(GovernanceViolation) as err:
        pd.read_csv("sales.csv")
    assert "unreachable" in err.value.decision.engine_error


def test_decision_logs_land_in_the_state_database(sandbox, sandbox_config):
    lacuna.enable(sandbox_config(policy={"decision_log": {"type": "sql"}}))
    pd.read_csv("sales.csv")
    engine = current().engine
    engine.decision_log.flush()
    records = engine.decision_log.records(limit=5)
    assert records[0]["result"]["allowed"] is True
    assert records[0]["bundles"]
    lacuna.disable()
    current().close()


def test_watch_starts_a_watcher_for_a_policy_folder(sandbox, sandbox_config, write_bundle):
    folder = write_bundle({}, base="default")
    lacuna.enable(sandbox_config(policy={"dir": str(folder), "watch": True,
                                         "watch_interval_ms": 100}))
    watcher = current()._watcher
    assert watcher is not None
    assert watcher._thread is not None
    assert watcher._thread.is_alive()
    current().close()
    assert watcher._thread is None
