"""The one place URLs are made safe to show: every error, log line and CLI message that shows a
database or service URL (the state database ``audit.url``, the token vault, a decision-log sink,
a destination) passes it through :func:`redact_url` first, so a password in
``postgresql+psycopg://lacuna:s3cret@db/governance`` never reaches a terminal, a log file or an
audit record."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SECRET_KEY = re.compile(r"pass|secret|token|sig|key|credential|auth", re.IGNORECASE)


def redact_url(url: object) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``
    (anything that is not a URL is returned as text, unchanged)."""
    text = str(url)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    out = text
    if password is not None:
        user, _, host = parts.netloc.rpartition("@")
        out = out.replace(parts.netloc, f"{user.split(':', 1)[0]}:***@{host}", 1)
    query = "&".join(
        f"{k}=***" if v and _SECRET_KEY.search(k) else f"{k}{sep}{v}"
        for k, sep, v in (item.partition("=") for item in parts.query.split("&"))
    )
    if query != parts.query:
        out = out.replace(f"?{parts.query}", f"?{query}", 1)
    return out


__all__ = ["redact_url"]
