"""Structured logs: one JSON object per line on stderr, never a secret.

Every line has ``ts``, ``level``, ``logger`` and ``msg``; access lines add ``method``, ``path``,
``status``, ``ms``, ``user`` and ``request_id``. Headers are never logged; a token-like string
in a message (``Bearer …``, ``lac_…``, a JWT) is replaced by ``[redacted]`` before it is written,
and so are a URL's password and secret query values and a known credential's format (an AWS
key, a GitHub token, a private key block: :func:`lacuna.redact.redact_text`), in JSON lines and
plain ones alike.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from lacuna.redact import redact_text

_SECRET = re.compile(
    r"(Bearer\s+)[A-Za-z0-9._~+/=-]+|lac_[A-Za-z0-9_-]{8,}|"
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_FIELDS = ("method", "path", "status", "ms", "user", "request_id", "client")


def scrub(text: str) -> str:
    """``text`` with anything that looks like a credential replaced."""
    return redact_text(_SECRET.sub(lambda m: (m.group(1) or "") + "[redacted]", text))


class PlainFormatter(logging.Formatter):
    """``time level logger: message``, scrubbed as the JSON lines are, one line per record."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line itself on one line: a request path is anyone's to write, and its ``%0A``
        (or a CR, an escape sequence) would otherwise start a forged line of this log; they
        are written as escapes (``\\n``). A traceback that follows keeps its lines."""
        from lacuna.exceptions.shown import visible

        return visible(super().formatMessage(record), terminal=True, one_line=True)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key in _FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def configure_logging(*, json_lines: bool, level: int = logging.INFO) -> None:
    """Route Lacuna's and uvicorn's loggers to one stderr handler (JSON or plain)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    for name in ("lacuna", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our access log replaces it
