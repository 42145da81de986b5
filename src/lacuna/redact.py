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
that quotes the URL it failed on), and masks what has the shape of a known credential
wherever it stands (:func:`credentials`: an AWS access key, a GitHub, GitLab, Slack, Stripe,
npm, PyPI or OpenAI token, a private key block, ..., found by detect-secrets' format plugins).
"""

from __future__ import annotations

import logging
import re
import warnings
from functools import cache, lru_cache
from typing import Any
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
# an HTTP Authorization scheme's credential in free text (``Authorization: Bearer <token>``):
# one word of 8 or more token characters, not all lower-case letters ("basic authentication")
_AUTH_SCHEME = re.compile(r"(?P<scheme>\b(?i:bearer|basic))(?P<space>\s+)"
                          r"(?=\S*[\dA-Z+/=._~-])[\w+/=.~-]{8,}")
MASK = "***"

# detect-secrets' plugins that find a secret by what it is next to, or by how random it looks
# (a hash, a revision, a public IP, ``user:pass@`` that :func:`redact_url` masks), not by a
# credential's own format: they would mask what is not secret
_NOT_FORMATS = frozenset({"KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString",
                          "IPPublicDetector", "BasicAuthDetector"})
# what may hold one: a run of 16 or more token characters, or a key block's header (a cheap
# look first: most settings and messages hold neither, and the plugins are not imported)
_CANDIDATE = re.compile(r"[\w+/=.:-]{16,}|PRIVATE KEY|PuTTY-User-Key")
# a whole key block, from its header to its footer (or the end of the text)
_KEY_BLOCK = re.compile(r"-*\s*BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-*.*?(?:-*END[A-Z0-9 ]*"
                        r"PRIVATE KEY(?: BLOCK)?-*|$)|PuTTY-User-Key-File-\d.*", re.DOTALL)


def redact_url(url: object) -> str:
    """``url`` with its password, a token in its userinfo and secret-looking ``name=value``
    pairs replaced by ``***``; what is left is shown as it is (a path, a host, a plain name).

    Example:
        >>> redact_url("https://opa:8181/v1/data?token=abc&x=1")
        'https://opa:8181/v1/data?token=***&x=1'
    """
    return _redact_pairs(_redact_userinfo(str(url)))


def redact_name(name: str) -> str:
    """A dataset's or file's name (a source, a destination) as the audit trail keeps it:
    :func:`redact_url`, for a name that holds ``@`` or ``=`` (one without holds neither a
    userinfo nor a ``name=value`` pair, and is kept as it is)."""
    if "@" not in name and "=" not in name:
        return name
    return redact_url(name)


def redact_text(text: object) -> str:
    """``text`` with every URL in it redacted (:func:`redact_url`), secret-looking
    ``name=value`` pairs and an ``Authorization`` scheme's credential (``Bearer ***``)
    masked: for text Lacuna does not write itself (an exception's message, a purpose or code
    location a client sends, a comment)."""
    return _redacted_text(str(text))


@lru_cache(maxsize=4096)  # a process repeats its texts (code locations, purposes, messages)
def _redacted_text(text: str) -> str:
    out = _IN_TEXT.sub(lambda m: _redact_userinfo(m.group(0)), text)
    out = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']}{m['space']}{MASK}", out)
    return _mask_credentials(_redact_pairs(out))


def credentials(text: str) -> tuple[str, ...]:
    """The kinds of known credential found in ``text`` (``("AWS Access Key",)``; empty when
    none), by the format plugins of `detect-secrets <https://github.com/Yelp/detect-secrets>`_:
    a value that is a secret whatever the setting or message it stands in."""
    return tuple(dict.fromkeys(kind for kind, _ in _found(text)))


def _found(text: str) -> list[tuple[str, str]]:
    if not _CANDIDATE.search(text):
        return []
    return [(plugin.secret_type, value) for plugin in _plugins()
            for value in plugin.analyze_string(text) if value]


@cache
def _plugins() -> tuple[Any, ...]:
    """One instance of each format plugin (imported on first need: ~0.1 s).

    Importing detect-secrets calls ``logging.captureWarnings(True)``: every warning after it,
    warn mode's ``GovernanceWarning`` included, went to a logger that shows nothing. The
    process's own warning display is put back.
    """
    shown = warnings.showwarning
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    finally:
        if warnings.showwarning is not shown:
            logging.captureWarnings(False)
            warnings.showwarning = shown

    plugins: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    return tuple(plugin() for plugin in plugins if plugin.__name__ not in _NOT_FORMATS)


def _mask_credentials(text: str) -> str:
    found = _found(text)
    if not found:
        return text
    if any(kind == "Private Key" for kind, _ in found):  # the plugin finds the header only
        text = _KEY_BLOCK.sub(MASK, text)
    for value in sorted({v for _, v in found}, key=len, reverse=True):
        # the whole token around what the plugin names (some name a part: ``ghp`` of a
        # GitHub token)
        text = re.sub(rf"(?<![\w+/=.-])[\w+/=.-]*{re.escape(value)}[\w+/=.-]*", MASK, text)
    return text


def _redact_userinfo(text: str) -> str:
    start = text.find("//")
    if start < 0:
        return text
    start += 2
    rest = text[start:]
    # the userinfo ends at the last "@" of the authority (RFC 3986: up to the first "/", "?"
    # or "#"), so an "@" in the path leaves the host shown as it is; with none there, a
    # password that holds "/" or "@" ends at the last "@" before the query or fragment, and
    # one that holds "?" or "#" at the last "@" at all (in doubt, more is masked)
    at = rest.rfind("@", 0, _first(rest, "/?#"))
    if at < 0:
        at = rest.rfind("@", 0, _first(rest, "?#"))
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


def _first(text: str, stops: str) -> int:
    """Where the first of ``stops`` is in ``text`` (its length when none is)."""
    return min([i for i in map(text.find, stops) if i >= 0] or [len(text)])


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


__all__ = ["credentials", "redact_name", "redact_text", "redact_url"]
