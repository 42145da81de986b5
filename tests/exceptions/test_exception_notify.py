"""The approver hears about a request (and the requester about the decision): a log line, a
webhook POST received by a local HTTP server, an e-mail received by a local aiosmtpd sink.
A channel that fails is logged and audited and never fails the request."""

from __future__ import annotations

import json
import logging
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import lacuna
from lacuna.errors import ConfigError
from lacuna.exceptions import Status
from lacuna.governor import current

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append({"path": self.path, "type": self.headers["Content-Type"],
                             "auth": self.headers.get("Authorization"),
                             "body": json.loads(self.rfile.read(length))})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/lacuna", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    mails: list[dict] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            mails.append({"to": envelope.rcpt_tos, "from": envelope.mail_from,
                          "message": message_from_bytes(envelope.content)})
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port, mails
    controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def enable(sandbox_config, user: str, notify: dict) -> None:
    lacuna.enable(sandbox_config(user={"id": user, "role": "data_analyst"},
                                 stewards={"default": [STEWARD]},
                                 exceptions={"notify": notify}))


def test_webhook_and_email_reach_the_approver_then_the_requester(
        sandbox, sandbox_config, webhook, smtp_sink, caplog):
    url, posts = webhook
    port, mails = smtp_sink
    notify = {"webhook": url, "webhook_headers": {"Authorization": "Bearer hook-token"},
              "email": {"host": "127.0.0.1", "port": port, "sender": "lacuna@example.com"}}
    enable(sandbox_config, "alice@example.com", notify)
    with caplog.at_level(logging.INFO, logger="lacuna.exceptions"):
        exc = lacuna.request_exception(
            operation={"action": "export", "source": "customers.csv",
                       "destination": "Downloads/board.csv"},
            purpose=PURPOSE, business_justification="The board asked for examples.",
            approver=STEWARD, duration_hours=2, conditions=["File will be encrypted"])
    assert f"exception {exc.id} requested; notifying {STEWARD}" in caplog.text

    (post,) = posts
    assert post["path"] == "/hooks/lacuna"
    assert post["type"] == "application/json"
    assert post["auth"] == "Bearer hook-token"
    assert post["body"]["event"] == "requested"
    assert post["body"]["recipients"] == [STEWARD]
    assert post["body"]["exception"]["id"] == exc.id
    assert post["body"]["exception"]["conditions"] == ["File will be encrypted"]
    assert "signature" not in post["body"]["exception"]

    (mail,) = mails
    assert mail["to"] == [STEWARD]
    assert mail["from"] == "lacuna@example.com"
    assert mail["message"]["Subject"] == f"[Lacuna] Exception {exc.id} awaits your decision"
    body = mail["message"].get_payload(decode=True).decode()
    assert PURPOSE in body
    assert "The board asked for examples." in body
    assert f"lacuna exceptions approve {exc.id}" in body

    enable(sandbox_config, STEWARD, notify)
    lacuna.approve_exception(exc.id, comment="fine, encrypted")
    assert [p["body"]["event"] for p in posts] == ["requested", "approved"]
    assert posts[1]["body"]["recipients"] == ["alice@example.com"]
    assert mails[1]["to"] == ["alice@example.com"]
    assert "✓ Exception Approved" in mails[1]["message"].get_payload(decode=True).decode()


def test_failed_notifications_are_logged_and_audited_not_fatal(sandbox, sandbox_config, caplog):
    dead = _free_port()  # nothing listens there
    notify = {"webhook": f"http://127.0.0.1:{dead}/hook", "webhook_timeout": 2,
              "email": {"host": "127.0.0.1", "port": dead, "timeout": 2}}
    enable(sandbox_config, "alice@example.com", notify)
    with caplog.at_level(logging.ERROR, logger="lacuna.exceptions"):
        exc = lacuna.request_exception(destination="Downloads/x.csv", purpose=PURPOSE,
                                       approver=STEWARD)
    assert exc.status is Status.PENDING  # the request stands
    assert current().exceptions.get(exc.id).id == exc.id
    assert "could not notify jane.smith@example.com" in caplog.text
    failed = [r.data for r in current().audit.list(limit=None)
              if r.data.get("kind") == "exception" and r.data["what"]["event"] == "notify-failed"]
    assert {f["exception"]["channel"] for f in failed} == {"webhook", "email"}
    assert all(not f["decision"]["allowed"] for f in failed)
    assert any("refused" in f["exception"]["error"] for f in failed)


def test_notify_config_is_validated(sandbox_config):
    with pytest.raises(ConfigError, match="webhook"):
        sandbox_config(exceptions={"notify": {"webhook": "ftp://example.com/x"}})
    with pytest.raises(ConfigError, match="port"):
        sandbox_config(exceptions={"notify": {"email": {"host": "h", "port": 0}}})
    with pytest.raises(ConfigError, match=r"unknown setting|Extra inputs|extra"):
        sandbox_config(exceptions={"notify": {"slack": "x"}})


def test_a_request_names_one_approver_not_an_address_list(sandbox, sandbox_config, smtp_sink):
    """The approver is who the request is e-mailed to: a list in that field would have the
    installation's mail server send the request to every address in it."""
    from dataclasses import replace

    from lacuna.exceptions import notify as notify_module

    port, mails = smtp_sink
    notify = {"email": {"host": "127.0.0.1", "port": port, "sender": "lacuna@example.com"}}
    enable(sandbox_config, "alice@example.com", notify)
    op = {"action": "export", "source": "customers.csv", "destination": "Downloads/b.csv"}
    for listed in (f"{STEWARD}, someone@elsewhere.example", f"{STEWARD};x@elsewhere.example",
                   f"Jane <{STEWARD}>", f"{STEWARD}\nBcc: x@elsewhere.example"):
        with pytest.raises(ConfigError, match="names more than one identity"):
            lacuna.request_exception(operation=op, purpose=PURPOSE, approver=listed)
    assert current().exceptions.list() == []
    assert mails == []
    exc = lacuna.request_exception(operation=op, purpose=PURPOSE, approver=STEWARD)
    assert [m["to"] for m in mails] == [[STEWARD]]
    assert current().exceptions.get(exc.id).approver == STEWARD
    # a request stored before the check: its list is no recipient
    stored = replace(exc, approver=f"{STEWARD}, someone@elsewhere.example")
    sent = notify_module.notify(current().config.exceptions.notify, stored, "requested")
    assert [(d.channel, d.ok) for d in sent] == [("log", True), ("email", False)]
    assert len(mails) == 1


def test_a_request_is_sent_to_an_approver_only_when_they_may_decide_it(
        sandbox, sandbox_config, smtp_sink, webhook):
    """The approver is the requester's free text: a request naming an outside address had the
    installation's mail server (and webhook) carry the requester's words, as "[Lacuna]
    Exception ... awaits your decision", to any address. It goes to the stewards who may
    decide it instead; one naming such a steward still goes to them alone."""
    port, mails = smtp_sink
    url, posts = webhook
    notify = {"webhook": url,
              "email": {"host": "127.0.0.1", "port": port, "sender": "lacuna@example.com"}}
    lacuna.enable(sandbox_config(user={"id": "alice@example.com", "role": "data_analyst"},
                                 stewards={"default": [STEWARD, "bob.steward@example.com"]},
                                 exceptions={"notify": notify}))
    op = {"action": "export", "source": "customers.csv", "destination": "Downloads/b.csv"}
    outside = lacuna.request_exception(operation=op, purpose=PURPOSE,
                                       approver="victim@elsewhere.example")
    entitled = [STEWARD, "bob.steward@example.com", "data-governance@example.com"]  # + policy's
    assert [m["to"] for m in mails] == [entitled]
    assert posts[0]["body"]["recipients"] == entitled
    assert current().exceptions.get(outside.id).approver == "victim@elsewhere.example"  # as asked
    lacuna.request_exception(operation=op, purpose=PURPOSE, approver="Bob.Steward@example.com")
    assert mails[1]["to"] == ["Bob.Steward@example.com"]
    # nobody may decide it: nobody outside is told, and the failure is said and audited
    lacuna.enable(sandbox_config(user={"id": "alice@example.com", "role": "data_analyst"},
                                 stewards={"default": []}, exceptions={"notify": notify}))
    lone = lacuna.request_exception(  # no source: no policy (and its steward) is looked up
        operation={"action": "export", "destination": "Downloads/c.csv"}, purpose=PURPOSE,
        approver="victim@elsewhere.example")
    assert len(mails) == 2
    assert posts[-1]["body"]["recipients"] == []
    failed = [r.data["exception"] for r in current().audit.list(limit=None)
              if r.data.get("kind") == "exception" and r.data["what"]["event"] == "notify-failed"
              and r.data["what"]["exception_id"] == lone.id]
    assert [f["channel"] for f in failed] == ["email"]
    assert "no steward may decide" in failed[0]["error"]
