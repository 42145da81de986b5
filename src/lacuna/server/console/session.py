"""The console's session cookie and CSRF tokens.

The session is a signed cookie (HMAC-SHA256 with a key derived from the server's signing key,
so every worker of one server accepts it and no other use of that key can be replayed as a
session): ``base64(json) "." signature``. It holds the principal's name and roles, how they
signed in, when it expires, a random CSRF secret and the session's random id. The id names a
row of the server's sessions table (``lacuna_console_sessions``, through
:class:`lacuna.identity.UserStore`), checked on every request: signing out ends the row, so a
copy of the cookie taken before stops working, in every worker. A signature alone never keeps
a session alive. The cookie is ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` when the console
is served over HTTPS.

Every form carries a CSRF token: an HMAC of the session's CSRF secret and the form's purpose.
A POST without the matching token is refused (403) before anything else happens; a token from
another session, or after sign-out, does not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from lacuna.identity.principal import VIA_OIDC, VIA_TOKEN

COOKIE = "lacuna_console"
LIFETIME_S = 8 * 3600
_CONTEXT = b"lacuna-console-session-v1"
# How a session signed in: the principal's credential kind as the store that accepted it says
# (:data:`lacuna.identity.VIA_TOKEN`, :data:`lacuna.identity.VIA_OIDC`); a cookie carries only
# these. ``BEARER`` is a request's own ``Authorization`` header, never a cookie: a cookie that
# says it (or anything else) signs in nobody.
TOKEN, OIDC, BEARER = VIA_TOKEN, VIA_OIDC, "bearer"
COOKIE_VIAS = frozenset({TOKEN, OIDC})


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person, as the cookie carries them."""

    name: str
    roles: tuple[str, ...]
    via: str  # TOKEN (an API token), OIDC (a JWT from the configured issuer) or BEARER
    expires: float
    csrf: str  # the per-session CSRF secret (random hex)
    sid: str = ""  # the server-side session's id (lacuna_console_sessions); "" for a bearer

    def has(self, *roles: str) -> bool:
        """Whether the session holds any of ``roles`` (``admin`` holds them all)."""
        return "admin" in self.roles or any(r in self.roles for r in roles)


class SessionCodec:
    """Makes and reads session cookies and CSRF tokens with one key."""

    def __init__(self, signing_key: bytes) -> None:
        self._key = hmac.new(signing_key, _CONTEXT, hashlib.sha256).digest()

    def _mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def new(self, name: str, roles: tuple[str, ...], via: str, *,
            lifetime_s: float = LIFETIME_S, sid: str = "",
            expires: float | None = None) -> Session:
        return Session(name=name, roles=roles, via=via,
                       expires=expires if expires is not None else time.time() + lifetime_s,
                       csrf=secrets.token_hex(16), sid=sid)

    def dump(self, session: Session) -> str:
        body = json.dumps({"n": session.name, "r": list(session.roles), "v": session.via,
                           "e": session.expires, "c": session.csrf, "s": session.sid},
                          separators=(",", ":"), sort_keys=True).encode("utf-8")
        data = base64.urlsafe_b64encode(body).rstrip(b"=")
        return f"{data.decode('ascii')}.{self._mac(data)}"

    def load(self, cookie: str | None) -> Session | None:
        """The session a cookie holds; None when absent, forged, malformed or expired."""
        if not cookie or "." not in cookie or len(cookie) > 4096:
            return None
        data, _, mac = cookie.rpartition(".")
        raw = data.encode("ascii", "replace")
        if not same(mac, self._mac(raw)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4)))
            session = Session(name=str(body["n"]), roles=tuple(str(r) for r in body["r"]),
                              via=str(body["v"]), expires=float(body["e"]), csrf=str(body["c"]),
                              sid=str(body.get("s") or ""))
        except (ValueError, KeyError, TypeError):
            return None
        if session.via not in COOKIE_VIAS:
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, session: Session, purpose: str = "form") -> str:
        """The token a form of this session carries."""
        return self._mac(f"csrf:{session.csrf}:{purpose}".encode())

    def csrf_ok(self, session: Session, token: str | None, purpose: str = "form") -> bool:
        return bool(token) and same(str(token), self.csrf_token(session, purpose))


def same(given: str, expected: str) -> bool:
    """A constant-time comparison of what a client sent with a MAC (hex), for any text:
    ``hmac.compare_digest`` raises on a non-ASCII ``str``, which a cookie or a form field may
    hold (that was a 500)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))


def login_csrf(codec: SessionCodec, nonce: str) -> str:
    """The login form's token, bound to a pre-session nonce cookie (no session exists yet)."""
    return codec._mac(f"login:{nonce}".encode())
