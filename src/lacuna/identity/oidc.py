"""OIDC/JWT bearer tokens: an issuer's access tokens checked against its keys from a JWKS file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lacuna.errors import ConfigError
from lacuna.identity.principal import ROLES, AuthenticationError, Principal


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
        raw = claims.get(s.roles_claim) or ()
        roles = raw.split() if isinstance(raw, str) else [str(r) for r in raw]
        known = tuple(r for r in roles if r in ROLES)
        name = claims.get(s.name_claim)
        if not name or not known:
            msg = (f"bearer token has no {s.name_claim!r} or no Lacuna role in "
                   f"{s.roles_claim!r} (one of: {', '.join(ROLES)})")
            raise AuthenticationError(msg)
        return Principal(str(name), known, expires=float(claims["exp"]))
