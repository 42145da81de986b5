"""OIDC/JWT bearer tokens: an issuer's access tokens checked against its keys from a JWKS file."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from lacuna.errors import ConfigError
from lacuna.identity.names import canonical_name
from lacuna.identity.principal import ROLES, VIA_OIDC, AuthenticationError, Principal


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """Bearer JWTs from an OIDC issuer, checked against a JWKS file.

    ``roles_claim`` names the claim holding the roles (a list or a space-separated string);
    ``name_claim`` the user's name (``preferred_username``, ``email`` or ``sub``)."""

    issuer: str
    audience: str
    jwks_file: Path
    roles_claim: str = "roles"
    name_claim: str = "sub"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: int = 30


class OidcVerifier:
    """Validates OIDC/JWT bearer tokens (signature from the JWKS file, iss, aud, exp, nbf)."""

    def __init__(self, settings: OidcSettings) -> None:
        import jwt

        self.settings = settings
        try:
            self._keys = jwt.PyJWKSet.from_json(settings.jwks_file.read_text("utf-8"))
        except (OSError, jwt.PyJWTError, ValueError) as exc:
            msg = (f"cannot read the JWKS file {settings.jwks_file}: {exc}. Save the issuer's "
                   "keys (its jwks_uri) to that file.")
            raise ConfigError(msg) from None

    def authenticate(self, token: str) -> Principal:
        """The principal a valid JWT names.

        Raises:
            AuthenticationError: bad signature, issuer, audience, expired, unknown key or roles.
        """
        import jwt

        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            keys = [k for k in self._keys.keys if kid is None or k.key_id == kid]
            if not keys:
                msg = f"no key {kid!r} in the JWKS file"
                raise AuthenticationError(msg)
            claims: Mapping[str, Any] = jwt.decode(
                token, keys[0], algorithms=list(s.algorithms), audience=s.audience,
                issuer=s.issuer, leeway=s.leeway_s,
                options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            msg = f"bearer token rejected: {exc}"
            raise AuthenticationError(msg) from None
        known = tuple(r for r in _listed(claims.get(s.roles_claim)) if r in ROLES)
        name = claims.get(s.name_claim)
        if not _a_name(name) or not known:
            msg = (f"bearer token has no {s.name_claim!r} (a name, as text with a visible "
                   f"character and no control character) or no Lacuna role in "
                   f"{s.roles_claim!r} (one of: {', '.join(ROLES)}, as a list or a "
                   "space-separated text)")
            raise AuthenticationError(msg)
        return Principal(name, known, expires=float(claims["exp"]), via=VIA_OIDC)


def _a_name(name: Any) -> TypeGuard[str]:
    """Whether a name claim names someone: text with a visible character (its canonical form
    is not empty: an empty one is nobody, whom no comparison of names finds) and no control
    character (a line break or an escape sequence would travel to the trail, the logs and a
    reviewer's terminal as the acting user's name)."""
    return (isinstance(name, str) and bool(canonical_name(name))
            and not any(unicodedata.category(c) == "Cc" for c in name))


def _listed(raw: Any) -> list[str]:
    """A roles claim's roles: a space-separated text or a list of texts. Anything else (a
    number, an object, a list of objects) names none: a number was iterated (a 500 instead
    of a 401), an object's keys were read as roles."""
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [r for r in raw if isinstance(r, str)]
    return []
