"""The server's authenticator (API tokens, then OIDC/JWT) and the process-wide one."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lacuna.identity.principal import AuthenticationError, Principal
from lacuna.identity.tokens import TOKEN_PREFIX

if TYPE_CHECKING:
    from lacuna.identity.oidc import OidcVerifier
    from lacuna.identity.users import UserStore

# One logger for the whole package, named as before the split: log settings and filters
# that name "lacuna.identity" keep applying to every message.
log = logging.getLogger("lacuna.identity")


class Authenticator:
    """API tokens first, then OIDC/JWT when configured. One per server."""

    def __init__(self, users: UserStore, oidc: OidcVerifier | None = None) -> None:
        self.users = users
        self.oidc = oidc

    def cached(self, token: str) -> Principal | None:
        """A recently accepted API token's principal, without I/O (``None``: authenticate)."""
        return self.users.cached(token) if token.startswith(TOKEN_PREFIX) else None

    def authenticate(self, token: str) -> Principal:
        """Raises :class:`AuthenticationError` when the token is not accepted."""
        if not token:
            msg = "no credentials: send Authorization: Bearer <token>"
            raise AuthenticationError(msg)
        if token.startswith(TOKEN_PREFIX) or self.oidc is None:
            return self.users.authenticate(token)
        principal = self.oidc.authenticate(token)
        if self.users.has_user(principal.name):
            claim = self.oidc.settings.name_claim
            msg = (f"bearer token refused: its {claim!r} claim names {principal.name!r}, which "
                   "is also a local Lacuna user (lacuna users list), so two people would be "
                   "one identity on the audit trail and in exception approvals. Rename or "
                   "disable the local user, or set oidc.name_claim to a claim no local user "
                   "name can equal")
            log.error("%s", msg)
            raise AuthenticationError(msg)
        return principal


_default: Authenticator | None = None


def set_authenticator(authenticator: Authenticator | None) -> None:
    """Install the process's authenticator (the server does this at start-up)."""
    global _default
    _default = authenticator


def authenticate_token(token: str) -> Principal:
    """The principal for ``token`` with the process's authenticator (see
    :func:`set_authenticator`).

    Raises:
        AuthenticationError: no authenticator installed, or the token is not accepted.
    """
    if _default is None:
        msg = "no authenticator configured (start the server with lacuna serve)"
        raise AuthenticationError(msg)
    return _default.authenticate(token)
