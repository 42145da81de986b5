"""API tokens: their form, the digest the state database keeps of them, and how they are logged."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "lac_"  # API tokens start with this, so a JWT is never mistaken for one


def token_digest(token: str) -> str:
    """The stored form of an API token (SHA-256 hex; tokens carry 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def redact(token: str | None) -> str:
    """A token as it may appear in logs: its prefix and length only."""
    if not token:
        return "<none>"
    return f"{token[:4]}…({len(token)} chars)"
