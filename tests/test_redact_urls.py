"""A secret in a configured URL (a password or token in the userinfo, ``?token=``, ``sslpassword``)
never reaches an error, a log line, a status line or an audit record: every place that shows a
URL goes through lacuna.redact (which works on the text, so malformed URLs are redacted too)."""

from __future__ import annotations

import logging
import socket

import pytest

from lacuna.redact import redact_text, redact_url

SECRET = "Zq7-s3cret-VALUE"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("url", "shown"), [
    # what urlsplit refuses: an unclosed IPv6 bracket, a port out of range
    (f"http://[::1:8181/v1?token={SECRET}", "http://[::1:8181/v1?token=***"),
    (f"http://opa:{SECRET}@[::1/x", "http://opa:***@[::1/x"),
    (f"http://u:{SECRET}@opa:99999999/v1", "http://u:***@opa:99999999/v1"),
    # a password holding "/", "?", "#" or "@" (not percent-encoded)
    (f"postgresql://u:{SECRET}/x@db/governance", "postgresql://u:***@db/governance"),
    (f"postgresql://u:{SECRET}?x@db/governance", "postgresql://u:***@db/governance"),
    (f"postgresql://u:{SECRET}#x@db/governance", "postgresql://u:***@db/governance"),
    (f"postgresql://u:{SECRET}@x@db/governance", "postgresql://u:***@db/governance"),
    # a token as the whole userinfo (GitHub style), and token-like query or fragment pairs
    ("https://ghp_0123456789abcdefABCDEF0123@github.com/o/r", "https://***@github.com/o/r"),
    (f"http://opa:8181/v1/data?access_token={SECRET}&x=1", "http://opa:8181/v1/data?access_token=***&x=1"),
    (f"https://h/cb#id_token={SECRET}&state=1", "https://h/cb#id_token=***&state=1"),
    (f"http://h/x?api%5Fkey={SECRET}", "http://h/x?api%5Fkey=***"),
    # an Azure Functions key and an OAuth authorization code, by their whole name only
    (f"https://fn.azurewebsites.net/api/hook?code={SECRET}&x=1",
     "https://fn.azurewebsites.net/api/hook?code=***&x=1"),
    (f"https://app/cb?state=1&CODE={SECRET}", "https://app/cb?state=1&CODE=***"),
    ("http://h/x?zipcode=94110&country_code=US", "http://h/x?zipcode=94110&country_code=US"),
    (f"http://h/login?next=https://x/?token={SECRET}", "http://h/login?next=https://x/?token=***"),
    # a libpq key=value DSN: no "://" at all
    (f"host=db user=lacuna password={SECRET} dbname=x",
     "host=db user=lacuna password=*** dbname=x"),
    # what stays as it is: a user name alone, a port, an "@" in the path, plain text
    ("postgresql://lacuna@db/x", "postgresql://lacuna@db/x"),
    ("https://host:8080/users/@me", "https://host:8080/users/@me"),
    # an "@" in the path after a real userinfo: the host shown is the one connected to
    (f"http://u:{SECRET}@host/x@localhost", "http://u:***@host/x@localhost"),
    (f"https://u:{SECRET}@api.example/a/b@c/d?x=1", "https://u:***@api.example/a/b@c/d?x=1"),
    (f"https://{'ghp_0123456789abcdefABCDEF0123'}@github.com/u/@me", "https://***@github.com/u/@me"),
    ("http://h/x?email=a@b.example&page=2", "http://h/x?email=a@b.example&page=2"),
    ("sqlite:////var/lib/lacuna/audit.db", "sqlite:////var/lib/lacuna/audit.db"),
    ("not a url", "not a url"),
])
def test_redact_url_without_parsing(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_redacts_every_url_in_a_message() -> None:
    text = (f"ConnectError: [Errno 111] for http://svc:{SECRET}@127.0.0.1:1/x?token={SECRET}; "
            f"retry url='http://h/?sig={SECRET}'")
    out = redact_text(text)
    assert SECRET not in out
    assert "http://svc:***@127.0.0.1:1/x?token=***" in out
    assert out.startswith("ConnectError: [Errno 111] for ")


def test_http_failures_never_quote_a_secret() -> None:
    from lacuna.http import HttpFailure

    failure = HttpFailure(f"cannot reach https://u:{SECRET}@h/x?token={SECRET}",
                          kind="unreachable")
    assert SECRET not in str(failure)
    assert SECRET not in failure.reason


@pytest.mark.parametrize("template", [
    "http://opa:{secret}@127.0.0.1:{port}",
    "http://{token}@127.0.0.1:{port}",
])
def test_remote_opa_url_is_redacted_in_decisions_logs_and_repr(caplog, template: str) -> None:
    from lacuna.policy.remote import RemoteEngine

    token = "opa_" + SECRET.replace("-", "") + "0123456789"
    url = template.format(secret=SECRET, token=token, port=free_port())
    remote = RemoteEngine(url, retries=0, backoff_ms=1)
    try:
        with caplog.at_level(logging.WARNING, logger="lacuna.policy.remote"):
            first = remote.evaluate({"action": "read"}, operation_id="op-1")
            second = remote.evaluate({"action": "read"}, operation_id="op-2")  # breaker open
        assert not first.allowed
        assert not second.allowed
        assert "unreachable" in (first.engine_error or "")
        assert "circuit breaker open" in (second.engine_error or "")
        shown = [first.engine_error, first.reasoning, second.engine_error, second.reasoning,
                 caplog.text, repr(remote)]
        for text in shown:
            assert SECRET not in str(text)
            assert token not in str(text)
        assert "127.0.0.1" in str(first.engine_error)  # still says where
    finally:
        remote.close()


def test_remote_opa_bad_url_error_is_redacted() -> None:
    from lacuna.errors import ConfigError
    from lacuna.policy.remote import RemoteEngine

    with pytest.raises(ConfigError) as caught:
        RemoteEngine(f"ftp://opa:{SECRET}@opa.internal/?token={SECRET}")
    assert SECRET not in str(caught.value)
    assert "ftp://opa:***@opa.internal" in str(caught.value)


def test_lacuna_server_url_is_redacted_in_decisions_errors_and_status(monkeypatch, caplog
                                                                      ) -> None:
    from lacuna.config import config_from_dict
    from lacuna.errors import ConfigError
    from lacuna.model import Action, Classification
    from lacuna.remote.client import ServerClient, ServerEngine

    port = free_port()
    settings = config_from_dict({"server": {
        "url": f"http://svc:{SECRET}@127.0.0.1:{port}/?token={SECRET}", "token": "lac_x",
        "deadline_ms": 300, "retries": 0}}).server
    engine = ServerEngine(ServerClient(settings), session="s")
    from lacuna.governor import Governor

    gov = Governor(config_from_dict({"lineage": {"openlineage": {"enabled": False}}}))
    op = gov.operation(Action.READ, Classification())
    with caplog.at_level(logging.ERROR, logger="lacuna.remote"):
        decision = engine.decide(op)
    assert not decision.allowed
    for text in (decision.engine_error, decision.reasoning, caplog.text):
        assert SECRET not in str(text)
    assert f"127.0.0.1:{port}" in str(decision.engine_error)
    gov.close()
    engine.close()

    monkeypatch.delenv("LACUNA_TOKEN", raising=False)
    bad = config_from_dict({"server": {"url": f"http://svc:{SECRET}@127.0.0.1:1"}}).server
    with pytest.raises(ConfigError) as caught:  # no token
        ServerClient(bad)
    assert SECRET not in str(caught.value)
    assert "svc:***@" in str(caught.value)
    bad = config_from_dict({"server": {"url": f"ftp://svc:{SECRET}@h", "token": "x"}}).server
    with pytest.raises(ConfigError) as caught:  # not http(s)
        ServerClient(bad)
    assert SECRET not in str(caught.value)


def test_the_jupyter_status_line_redacts_the_policy_server(monkeypatch) -> None:
    from lacuna.integrations.jupyter import lacuna_magic

    monkeypatch.setenv("LACUNA_TOKEN", "lac_example")
    out = lacuna_magic(f"config --policy-server http://svc:{SECRET}@127.0.0.1:9")
    assert "Lacuna server http://svc:***@127.0.0.1:9" in out
    assert SECRET not in out


def test_llm_layer_status_redacts_its_endpoint() -> None:
    from lacuna.classify.llm.layer import LlmLayer
    from lacuna.classify.settings import LlmSettings

    status = LlmLayer(LlmSettings(url=f"http://127.0.0.1:9/v1?api_key={SECRET}")).status()
    assert SECRET not in str(status)
    assert "http://127.0.0.1:9/v1?api_key=***" in str(status)


def test_notification_failures_are_redacted_before_log_and_audit() -> None:
    from lacuna.exceptions.notify import _guard

    def send() -> str:
        raise OSError(f"cannot POST http://127.0.0.1:1/hook?token={SECRET}")

    delivery = _guard("webhook", send)
    assert not delivery.ok
    assert SECRET not in delivery.detail
    assert "token=***" in delivery.detail


def test_openlineage_send_failures_are_redacted(caplog) -> None:
    from types import SimpleNamespace

    from lacuna.config import OpenLineageConfig
    from lacuna.lineage.ol_emit import Emitter

    class Failing:
        def emit(self, event: object) -> None:
            raise ConnectionError(f"Max retries with url: http://ol:{SECRET}@m:5000/api?key={SECRET}")

    emitter = Emitter(OpenLineageConfig(transport={"type": "console"}))
    emitter.transport = Failing()
    event = SimpleNamespace(eventType=SimpleNamespace(value="START"),
                            run=SimpleNamespace(runId="r1"))
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.openlineage"):
        emitter._send(event)
    assert emitter.failed == 1
    assert "could not emit" in caplog.text
    assert SECRET not in caplog.text


def test_proxy_destinations_drop_userinfo_secrets() -> None:
    from lacuna.proxy.gate import _destination

    shown = _destination(f"https://bot:{SECRET}@api.example.com/v1/upload?token={SECRET}")
    assert shown == "https://api.example.com/v1/upload"  # (the proxy never sends a userinfo)


def test_sqlalchemy_urls_shown_by_lacuna_lose_secret_query_values() -> None:
    import sqlalchemy as sa

    from lacuna.sql.restrict import _where

    url = f"postgresql+psycopg://u:{SECRET}@db/x?sslpassword={SECRET}&application_name=a"
    engine = sa.create_engine(url)
    try:
        shown, _dialect = _where(engine)  # the URL SQL governance names in decisions
    finally:
        engine.dispose()
    assert SECRET not in shown
    assert "sslpassword=***" in shown
    assert shown.startswith("postgresql+psycopg://u:***@db/x?")
    assert _where(url)[0] == shown


def test_db_current_does_not_print_secret_query_values(tmp_path) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    url = (f"postgresql+psycopg://lacuna:{SECRET}@127.0.0.1:{free_port()}/x"
           f"?sslpassword={SECRET}&connect_timeout=1")
    result = CliRunner().invoke(app, ["db", "current", "--url", url])
    assert result.exit_code != 0
    assert SECRET not in result.output
    assert "127.0.0.1" in result.output


@pytest.mark.parametrize(("text", "kind", "shown"), [
    ("upload refused for AKIAIOSFODNN7EXAMPLE: 403", "AWS Access Key",
     "upload refused for ***: 403"),
    ("token ghp_0123456789abcdefABCDEF0123456789abcd expired", "GitHub Token",
     "token *** expired"),
    ("glpat-abcdefghij0123456789 was revoked", "GitLab Token", "*** was revoked"),
    ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 is down", "Telegram Bot Token",
     "bot *** is down"),
    ("key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1a\n"
     "-----END EC PRIVATE KEY-----\nthen", "Private Key", "key:\n***\nthen"),
])
def test_a_known_credential_is_masked_wherever_it_stands(text: str, kind: str,
                                                         shown: str) -> None:
    from lacuna.redact import credentials

    assert kind in credentials(text)
    assert redact_text(text) == shown


@pytest.mark.parametrize("text", [
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "/governed/workspace/reports/2026/q4/customers_anonymized.parquet",
    "bundle revision 0123456789abcdef0123456789abcdef at 10.0.0.12",
    "550e8400-e29b-41d4-a716-446655440000",
])
def test_what_only_looks_random_is_not_taken_for_a_credential(text: str) -> None:
    from lacuna.redact import credentials

    assert credentials(text) == ()
    assert redact_text(text) == text


def test_a_credential_beside_a_long_token_run_is_masked_and_the_run_kept() -> None:
    blob = "QUJD" * 5000  # a base64 payload of 20,000 characters
    text = f"upload of {blob} refused for AKIAIOSFODNN7EXAMPLE"
    assert redact_text(text) == f"upload of {blob} refused for ***"


def test_loading_the_credential_plugins_keeps_the_process_warnings_shown(monkeypatch) -> None:
    """detect-secrets calls logging.captureWarnings(True) on import: every later warning (warn
    mode's GovernanceWarning too) went to a logger that shows nothing."""
    import sys
    import warnings

    import lacuna.redact as redact

    for name in [m for m in sys.modules if m.split(".")[0] == "detect_secrets"]:
        monkeypatch.delitem(sys.modules, name)  # restored afterwards: the import runs again here

    def shown(*args: object, **kwargs: object) -> None: ...

    logging.captureWarnings(False)  # a clean start whatever this test process imported before
    monkeypatch.setattr(warnings, "showwarning", shown)
    redact._plugins.cache_clear()
    try:
        assert redact._plugins()
        assert warnings.showwarning is shown
        logging.captureWarnings(True)  # the user's own choice still works and is undone
        assert warnings.showwarning is not shown
        logging.captureWarnings(False)
        assert warnings.showwarning is shown
    finally:
        redact._plugins.cache_clear()


@pytest.mark.parametrize(("text", "shown"), [
    ("called with Authorization: Bearer abcdef1234567890xyz", "called with Authorization: "
     "Bearer ***"),
    ("header 'authorization: basic dXNlcjpodW50ZXIy'", "header 'authorization: basic ***'"),
    # what only names the scheme stays as written
    ("basic authentication failed; use a Bearer Token", None),
    ("bearer tokens expire after an hour", None),
])
def test_an_authorization_schemes_credential_in_free_text_is_masked(
        text: str, shown: str | None) -> None:
    """A purpose or comment quoting a request's header kept the bearer token on the trail
    (``redact_text`` masked URLs, ``name=value`` pairs and known formats only)."""
    assert redact_text(text) == (text if shown is None else shown)
