"""``lacuna.policy``'s lazy ``RemoteEngine`` and ``lacuna.classify.llm.client``'s lazy
``CircuitBreaker``: listed by ``dir()`` before their first use, and, when the HTTP client they
import (``lacuna.http``, httpx) does not import, refused with a ComponentImportError that says
what to install (was: a bare ImportError). What depends on them (an OPA server named by
``policy.server``, an http decision log, the LLM layer) is refused the same way: no decision
is made without it. In-process: the import is made to fail through ``sys.modules``
(monkeypatch puts every module back)."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

import lacuna
import lacuna.classify.llm.client as llm_client
import lacuna.policy
from lacuna.classify.settings import LlmSettings
from lacuna.errors import ComponentImportError, IntegrationError
from lacuna.policy.factory import engine_from_config
from lacuna.policy.log_sinks import HttpDecisionLog, sink_from_settings

_SERVER = {"url": "http://127.0.0.1:9"}  # never contacted: building an engine sends nothing


def _installed() -> bool:
    try:
        return bool(metadata.requires("lacuna"))
    except metadata.PackageNotFoundError:
        return False


def _without_httpx(patch: pytest.MonkeyPatch) -> None:
    """A process without httpx: Lacuna's HTTP client and its users are imported again, and
    httpx is not there."""
    for name in ("lacuna.http", "lacuna.policy.remote"):
        patch.delitem(sys.modules, name, raising=False)
    for name in [n for n in sys.modules if n.startswith("httpx.")]:
        patch.setitem(sys.modules, name, None)
    patch.setitem(sys.modules, "httpx", None)  # imported or not yet: not there


def _says_install_httpx(error: ComponentImportError) -> None:
    assert isinstance(error, IntegrationError)
    assert isinstance(error, ImportError)  # as the bare error it replaces
    assert isinstance(error.__cause__, ImportError)
    assert (error.name or "").split(".")[0] == "httpx"
    fix = str(error).partition("Fix: ")[2]
    assert "httpx" in fix
    if _installed():
        assert fix.startswith('pip install "httpx')  # the requirement, with its version


def test_dir_lists_the_lazy_names_before_their_first_use(monkeypatch):
    monkeypatch.delitem(vars(lacuna.policy), "RemoteEngine", raising=False)
    assert "RemoteEngine" in dir(lacuna.policy)
    assert "CircuitBreaker" in dir(llm_client)
    assert set(lacuna.policy.__all__) <= set(dir(lacuna.policy))
    assert set(llm_client.__all__) <= set(dir(llm_client))


def test_remote_engine_without_httpx_is_refused_saying_what_to_install(monkeypatch):
    with monkeypatch.context() as patch:
        patch.delitem(vars(lacuna.policy), "RemoteEngine", raising=False)  # bound on first use
        _without_httpx(patch)
        with pytest.raises(ComponentImportError, match=r"^Lacuna's OPA server client "
                           r"\(lacuna\.policy\.remote; httpx\) could not be imported .*"
                           r"lacuna\.policy\.RemoteEngine is not available\. Fix: ") as refused:
            lacuna.policy.RemoteEngine  # noqa: B018
        assert "RemoteEngine" not in vars(lacuna.policy)  # nothing bound by the failure
        _says_install_httpx(refused.value)
    # the allowed path: the class itself, bound
    assert lacuna.policy.RemoteEngine is sys.modules["lacuna.policy.remote"].RemoteEngine


def test_an_opa_server_whose_client_does_not_import_decides_nothing(monkeypatch, sandbox_config):
    config = sandbox_config(policy={"server": _SERVER})
    with monkeypatch.context() as patch:
        _without_httpx(patch)
        with pytest.raises(ComponentImportError, match=r"No operation is decided by the OPA "
                           r"server policy\.server names") as refused:
            engine_from_config(config)
        _says_install_httpx(refused.value)
        # through the governor: a fail-closed denial that keeps the fix in its explanation
        lacuna.configure(config)
        decision = lacuna.check(["customer_id", "email"], "/tmp/out.csv")
        assert decision.denied
        assert 'Fix: pip install "httpx' in (decision.engine_error or "") or not _installed()
        assert "httpx" in (decision.engine_error or "")
    engine = engine_from_config(config)  # the allowed path: the remote engine
    assert isinstance(engine, sys.modules["lacuna.policy.remote"].RemoteEngine)


def test_an_http_decision_log_without_httpx_is_refused(monkeypatch):
    settings = {"type": "http", "url": "http://127.0.0.1:9/logs"}
    with monkeypatch.context() as patch:
        _without_httpx(patch)
        with pytest.raises(ComponentImportError, match=r"The decision log \(policy\."
                           r"decision_log: type http\) was not built") as refused:
            sink_from_settings(settings)
        _says_install_httpx(refused.value)
    sink = sink_from_settings(settings)  # the allowed path
    assert isinstance(sink, HttpDecisionLog)
    sink.close()


def test_the_llm_client_without_httpx_is_refused(monkeypatch):
    settings = LlmSettings(url="http://127.0.0.1:9/v1")
    getattr_ = vars(llm_client)["__getattr__"]  # what `client.CircuitBreaker` runs
    with monkeypatch.context() as patch:
        _without_httpx(patch)
        with pytest.raises(ComponentImportError, match=r"lacuna\.classify\.llm\.client\."
                           r"CircuitBreaker is not available") as refused:
            getattr_("CircuitBreaker")
        _says_install_httpx(refused.value)
        with pytest.raises(ComponentImportError, match="The classification that asked the "
                           "LLM layer was not made"):
            llm_client.ChatClient(settings)
    assert llm_client.CircuitBreaker is sys.modules["lacuna.http"].CircuitBreaker
    client = llm_client.ChatClient(settings)  # the allowed path
    assert client.breaker.state == "closed"


def test_policy_eval_against_a_server_without_httpx_says_what_to_install(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from lacuna.cli.policy import app

    doc = tmp_path / "input.json"
    doc.write_text('{"action": "export"}')
    args = ["eval", "--input", str(doc), "--server", _SERVER["url"]]
    with monkeypatch.context() as patch:
        patch.delitem(vars(lacuna.policy), "RemoteEngine", raising=False)
        _without_httpx(patch)
        result = CliRunner().invoke(app, args)
    # a LacunaError: `lacuna` (cli.main) prints its one line and exits 2, not a traceback
    assert isinstance(result.exception, ComponentImportError), result.output
    _says_install_httpx(result.exception)
    down = CliRunner().invoke(app, args)  # the allowed path: asked, and the server is down
    assert not isinstance(down.exception, ImportError), down.output
    assert down.exit_code == 1


def test_enable_without_the_rego_engine_says_what_to_install(monkeypatch, sandbox_config):
    config = sandbox_config()
    with monkeypatch.context() as patch:  # a process without regorus: lacuna.policy anew
        for name in [n for n in sys.modules if n == "lacuna.policy"
                     or n.startswith("lacuna.policy.")]:
            patch.delitem(sys.modules, name)
        patch.setitem(sys.modules, "regorus", None)
        with pytest.raises(ComponentImportError, match=r"^Lacuna's policy engine \(lacuna\."
                           r"policy; regorus\) could not be imported .*No operation is "
                           r"decided until it imports\. Fix: ") as refused:
            lacuna.enable(config)
        assert not lacuna.enabled()
        fix = str(refused.value).partition("Fix: ")[2]
        assert "regorus" in fix
        if _installed():
            assert fix.startswith('pip install "celine-regorus')  # its distribution's name
    lacuna.enable(config)  # the allowed path
    assert lacuna.enabled()
    lacuna.disable()
