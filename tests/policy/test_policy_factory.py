"""engine_from_config: embedded or remote, with the configured decision log and watcher."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lacuna.config import Config
from lacuna.errors import ConfigError
from lacuna.policy import PolicyEngine
from lacuna.policy.factory import engine_from_config, watcher_from_config
from lacuna.policy.log_sinks import SqlDecisionLog
from lacuna.policy.remote import RemoteEngine


def config_with(tmp_path: Path, **policy) -> SimpleNamespace:
    """A Config stand-in with the proposed policy keys (PolicyConfig does not have them yet)."""
    base = Config()
    fields = {"dir": None, "rego_version": "auto", **policy}
    return SimpleNamespace(policy=SimpleNamespace(**fields), destinations=base.destinations,
                           docs_url=base.docs_url, audit_url=f"sqlite:///{tmp_path / 'a.db'}")


def test_factory_embedded_by_default(tmp_path: Path) -> None:
    engine = engine_from_config(Config())  # decision logs go to the state database by default
    assert isinstance(engine, PolicyEngine)
    assert isinstance(engine.decision_log, SqlDecisionLog)
    engine.decision_log.close()
    without = engine_from_config(config_with(tmp_path, decision_log={"type": "none"}))
    assert isinstance(without, PolicyEngine)
    assert without.decision_log is None


def test_factory_remote_when_a_server_is_named(tmp_path: Path) -> None:
    engine = engine_from_config(config_with(tmp_path, server={"url": "http://opa:8181"}))
    assert isinstance(engine, RemoteEngine)
    assert engine.url == "http://opa:8181"
    with pytest.raises(ConfigError, match="needs url"):
        engine_from_config(config_with(tmp_path, server={"timeout_ms": 5}))


def test_factory_watcher_only_for_folders_when_asked(tmp_path: Path, write_bundle) -> None:
    root = write_bundle({"p.rego": "package p\n\nimport rego.v1\n\nallow := true\n"})
    config = config_with(tmp_path, dir=root, watch=True, watch_interval_ms=50)
    engine = engine_from_config(config)
    watcher = watcher_from_config(engine, config)
    assert watcher is not None
    watcher.stop()
    assert watcher_from_config(engine_from_config(Config()), config) is None  # built-in bundle
    assert watcher_from_config(engine, config_with(tmp_path, dir=root)) is None  # not asked
