"""Tell people about exceptions: the approver about a new request, the requester about the
decision (``exceptions.notify`` in lacuna.yaml).

Channels, each optional and independent:

- ``log`` (default on): one INFO line on the ``lacuna.exceptions`` logger;
- ``webhook``: ``POST`` a JSON body (``event``, ``exception``, ``recipients``) to a URL, through
  Lacuna's HTTP client (bounded by ``webhook_timeout``); any answer other than 2xx is a failure;
- ``email``: a plain-text message over SMTP (smtplib; STARTTLS or SMTPS and a login when
  configured) to the recipients that look like e-mail addresses.

A channel that fails never fails the request or the decision: the failure is logged at ERROR
and returned, and the caller records it on the audit trail (``notify-failed``).
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from lacuna.exceptions.model import ExceptionRequest, Status
from lacuna.redact import redact_text

if TYPE_CHECKING:
    from lacuna.config import EmailNotifyConfig, NotifyConfig, StewardsConfig
    from lacuna.exceptions.context import Context

log = logging.getLogger("lacuna.exceptions")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result of one channel: ``ok`` or the reason it failed."""

    channel: str  # log | webhook | email
    ok: bool
    detail: str = ""


def recipients(request: ExceptionRequest, event: str,
               stewards: StewardsConfig | None = None) -> tuple[str, ...]:
    """Who hears about ``event``: the approver for a new request, the requester afterwards.

    With ``stewards``, a new request goes to the approver it names only when they may decide
    it (:func:`lacuna.exceptions.authority.approvers`), else to those who may: the approver
    is the requester's free text, and the installation's mail server and webhook would carry
    the requester's words, under Lacuna's name, to any address they typed."""
    from lacuna.exceptions.authority import approvers, same_identity

    if event != "requested":
        return (request.requested_by,)
    if stewards is None:
        return (request.approver,)
    entitled = approvers(request, stewards)
    if any(same_identity(request.approver, who) for who in entitled):
        return (request.approver,)
    return entitled


def subject(request: ExceptionRequest, event: str) -> str:
    if event == "requested":
        return f"[Lacuna] Exception {request.id} awaits your decision"
    return f"[Lacuna] Exception {request.id} {event}"


def text(request: ExceptionRequest, event: str) -> str:
    """The message body; each field on its own line, its control characters as escapes (a
    request stored before they were refused, a destination: lacuna.exceptions.shown)."""
    from lacuna.exceptions.shown import visible_fields

    request = visible_fields(request)
    head = (
        f"{request.requested_by} asks for an exception to {request.action} data "
        f"({request.tier}) to {request.destination}.\n"
        f"Purpose: {request.purpose}\n"
        f"Justification: {request.business_justification or '(none given)'}\n"
        f"Duration: {request.duration_hours:g} hour(s)\n"
    )
    if request.conditions:
        head += "Conditions:\n" + "".join(f"  - {c}\n" for c in request.conditions)
    if event == "requested":
        return head + (f"\nDecide with: lacuna exceptions approve {request.id} "
                       f"(or deny {request.id} --comment ...)\n")
    return f"{request}\n"


def notify(config: NotifyConfig, request: ExceptionRequest, event: str,
           stewards: StewardsConfig | None = None) -> list[Delivery]:
    """Send ``event`` about ``request`` on every configured channel (to
    :func:`recipients`); never raises."""
    who = recipients(request, event, stewards)
    out: list[Delivery] = []
    if config.log:
        log.info("exception %s %s; notifying %s", request.id, event,
                 ", ".join(who) or "nobody (no steward may decide it)")
        out.append(Delivery("log", True))
    if config.webhook:
        out.append(_guard("webhook", lambda: _webhook(config, request, event, who)))
    if config.email is not None:
        mail = config.email
        out.append(_guard("email", lambda: _email(mail, request, event, who)))
    for failed in (d for d in out if not d.ok):
        log.error("could not notify %s of exception %s (%s) by %s: %s", ", ".join(who),
                  request.id, event, failed.channel, failed.detail)
    return out


def announce(gov: Context, request: ExceptionRequest, event: str) -> list[Delivery]:
    """Audit ``event``'s notifications: every channel that failed is a ``notify-failed``
    record (the request or decision itself stands)."""
    from lacuna.exceptions import events

    deliveries = notify(gov.config.exceptions.notify, request, event, gov.config.stewards)
    for failed in (d for d in deliveries if not d.ok):
        events.audit(gov, "notify-failed", request, allowed=False,
                     detail={"channel": failed.channel, "error": failed.detail,
                             "about": event})
    return deliveries


def _guard(channel: str, send: Callable[[], str]) -> Delivery:
    try:
        detail = send()
    except Exception as exc:  # never fails the request: reported and audited instead
        return Delivery(channel, False, redact_text(f"{type(exc).__name__}: {exc}"))
    return Delivery(channel, True, str(detail or ""))


def payload(request: ExceptionRequest, event: str, who: tuple[str, ...]) -> dict[str, object]:
    body = request.to_dict()
    body.pop("signature", None)
    return {"event": event, "recipients": list(who), "exception": body,
            "approve": f"lacuna exceptions approve {request.id}"
            if request.status is Status.PENDING else None}


def _webhook(config: NotifyConfig, request: ExceptionRequest, event: str,
             who: tuple[str, ...]) -> str:
    from lacuna.http import HttpClient, HttpSettings

    assert config.webhook is not None
    settings = HttpSettings(timeout_s=config.webhook_timeout, deadline_s=config.webhook_timeout,
                            retries=1, max_body_bytes=64 * 1024)
    headers = {"Content-Type": "application/json", **config.webhook_headers}
    body = json.dumps(payload(request, event, who)).encode()
    with HttpClient(settings, https=config.webhook.startswith("https://")) as client:
        answer = client.request("POST", config.webhook, content=body, headers=headers)
    if not 200 <= answer.status < 300:
        msg = f"the webhook answered HTTP {answer.status}"
        raise RuntimeError(msg)
    return f"HTTP {answer.status}"


def _email(config: EmailNotifyConfig, request: ExceptionRequest, event: str,
           who: tuple[str, ...]) -> str:
    # each recipient one address: a request stored before approvers were checked may name a
    # list ("a@x, b@y"), which the To header would send to all
    to = [w for w in who if _one_address(w)] + [c for c in config.cc if "@" in c]
    if not to:
        msg = (f"no e-mail address among {', '.join(who)}" if who else
               "nobody to tell: no steward may decide this request (stewards: in lacuna.yaml)")
        raise ValueError(msg)
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject(request, event)
    message.set_content(text(request, event))
    smtp_class = smtplib.SMTP_SSL if config.ssl else smtplib.SMTP
    with smtp_class(config.host, config.port, timeout=config.timeout) as smtp:
        if config.starttls and not config.ssl:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            password = os.environ.get(config.password_env or "", "")
            if not password:
                msg = (f"exceptions.notify.email.username is set but ${config.password_env} "
                       "holds no password")
                raise ValueError(msg)
            smtp.login(config.username, password)
        smtp.send_message(message)
    return f"sent to {', '.join(to)}"


def _one_address(who: str) -> bool:
    """Whether ``who`` is exactly one e-mail address (no list, no display name)."""
    from email.utils import getaddresses

    found = getaddresses([who])
    return (len(found) == 1 and "@" in found[0][1] and found[0][1] == who.strip()
            and not any(c in who for c in ",;<>"))


__all__ = ["Delivery", "announce", "notify", "payload", "recipients"]
