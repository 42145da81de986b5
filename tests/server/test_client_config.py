"""Naming a Lacuna server: lacuna.yaml's ``server:`` and ``%lacuna config``; fail closed."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import ConfigError, GovernanceViolation
from lacuna.governor import Governor, current
from lacuna.integrations.jupyter import lacuna_magic
from lacuna.remote.client import ServerEngine


def test_the_magic_names_a_lacuna_server_when_a_token_is_set(monkeypatch) -> None:
    monkeypatch.setenv("LACUNA_TOKEN", "lac_example")
    out = lacuna_magic("config --policy-server http://127.0.0.1:9")
    assert "Lacuna server http://127.0.0.1:9" in out
    assert current().config.server.url == "http://127.0.0.1:9"
    assert current().config.policy.server is None
    monkeypatch.delenv("LACUNA_TOKEN")
    with pytest.raises(ConfigError, match="LACUNA_TOKEN"):  # said by the magic itself
        lacuna_magic("config --server http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="LACUNA_TOKEN"):
        _ = current().engine  # no token: a clear configuration error, not a silent local mode


def test_an_unreachable_server_is_a_clear_denial_within_the_deadline(monkeypatch, tmp_path
                                                                     ) -> None:
    from .conftest import free_port

    monkeypatch.setenv("LACUNA_TOKEN", "lac_example")
    port = free_port()  # nothing listens there
    gov = Governor(config_from_dict({"server": {"url": f"http://127.0.0.1:{port}",
                                                "deadline_ms": 300, "retries": 1},
                                     "lineage": {"openlineage": {"enabled": False}}}))
    assert isinstance(gov.engine, ServerEngine)
    lacuna.enable(gov.config)
    df = pd.DataFrame({"region": ["north"], "revenue": [1.0]})
    started = time.monotonic()
    with pytest.raises(GovernanceViolation) as caught:
        df.to_csv(tmp_path / "out.csv")
    decision = caught.value.decision
    assert decision.eval_ms < 300 + 250  # the configured deadline, plus slack
    assert time.monotonic() - started < 5.0  # first use: classification, imports
    assert "governance server could not decide" in decision.reasoning
    assert f"127.0.0.1:{port}" in (decision.engine_error or "")
    assert not (tmp_path / "out.csv").exists()
    # The breaker is open now: the next one is denied at once, saying so.
    started = time.monotonic()
    with pytest.raises(GovernanceViolation, match="not asked"):
        df.to_csv(tmp_path / "out.csv")
    assert time.monotonic() - started < 0.5
    gov.close()
