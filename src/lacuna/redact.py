"""The one place URLs are made safe to show: every error, log line and CLI message that shows a
database or service URL (the state database ``audit.url``, the token vault, a decision-log sink,
a destination, an OPA or Lacuna server, a webhook, an OpenLineage collector) passes it through
:func:`redact_url` first, so a password in ``postgresql+psycopg://lacuna:s3cret@db/governance``
never reaches a terminal, a log file or an audit record.

It works on the text, not on a parsed URL, so a string no URL parser accepts (an unbalanced
``[``, a bad port, a ``/`` or ``#`` inside a password) is redacted too; when in doubt it
redacts more:

- userinfo: ``user:password@`` becomes ``user:***@``; a lone userinfo that does not look like
  a user name (``https://ghp_0123456789abcdef@host``: a token) becomes ``***@``;
- ``name=value`` pairs (query, fragment, a libpq ``key=value`` DSN) whose name looks secret
  (``password``, ``token``, ``sig``, ``api_key``, ``X-Amz-Credential``, ``code``, ...) keep the name
  and lose the value.

:func:`redact_text` does the same to every URL inside a longer text (an exception's message
that quotes the URL it failed on).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SECRET_KEY = re.compile(r"pass|secret|token|sig|key|credential|auth|session|pwd|jwt"
                         # a key (Azure Functions' ``?code=``) or an OAuth authorization code,
                         # by whole name: ``zipcode=`` and ``country_code=`` are not secret
                         r"|^code$", re.IGNORECASE)
# a name=value pair: after the start, a URL delimiter or white space
_PAIR = re.compile(r"(?P<lead>^|[?&;#\s,])(?P<key>[^=&?#;\s,]+)=(?P<value>[^&;#\s,]*)")
# a user name shown as it is: short, and only the characters user names have
_USER = re.compile(r"^[A-Za-z0-9._%+-]{1,32}$")
_TOKENISH = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$")
# a URL inside free text: a scheme, then everything up to white space or a quote
_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
MASK = "***"


def redact_url(url: object) -> str:
    """``url`` with its password, a token in its userinfo and secret-looking ``name=value``
    pairs replaced by ``***``; what is left is shown as it is (a path, a host, a plain name).

    Example:
        >>> redact_url("https://opa:8181/v1/data?token=abc&x=1")
        'https://opa:8181/v1/data?token=***&x=1'
    """
    return _redact_pairs(_redact_userinfo(str(url)))


def redact_text(text: object) -> str:
    """``text`` with every URL in it redacted (:func:`redact_url`) and secret-looking
    ``name=value`` pairs masked: for messages Lacuna does not write itself (an exception)."""
    out = _IN_TEXT.sub(lambda m: _redact_userinfo(m.group(0)), str(text))
    return _redact_pairs(out)


def _redact_userinfo(text: str) -> str:
    start = text.find("//")
    if start < 0:
        return text
    start += 2
    rest = text[start:]
    # the userinfo ends at the last "@" before the query or fragment (a password may hold "/"
    # or "@"); with none there, at the last "@" at all (a password may hold "?" or "#")
    end = min([i for i in (rest.find("?"), rest.find("#")) if i >= 0] or [len(rest)])
    at = rest.rfind("@", 0, end)
    if at < 0:
        at = rest.rfind("@")
    if at < 0:
        return text
    userinfo = rest[:at]
    head = userinfo.split("/", 1)[0]
    if "/" in userinfo and not _secret_after_colon(head):
        return text  # an "@" in the path or query (``/users/@me``), not a userinfo
    user, colon, _ = head.partition(":")
    if colon:
        shown = f"{user}:{MASK}" if _USER.match(user) else MASK
    elif _USER.match(userinfo) and not _TOKENISH.match(userinfo):
        return text  # a user name alone: nothing secret
    else:
        shown = MASK  # a lone token (``https://<token>@host``), or in doubt
    return f"{text[:start]}{shown}{rest[at:]}"


def _secret_after_colon(head: str) -> bool:
    """``user:pass`` rather than ``host:port`` (in doubt: a secret)."""
    _, colon, after = head.partition(":")
    return bool(colon) and not after.isdigit()


def _redact_pairs(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        lead, key, value = m.group("lead", "key", "value")
        if value and _SECRET_KEY.search(unquote(key)):
            return f"{lead}{key}={MASK}"
        return f"{lead}{key}={_redact_pairs(value)}"  # ``next=https://h/?token=...``

    return _PAIR.sub(mask, text)


__all__ = ["redact_text", "redact_url"]
