"""The server's authenticator (API tokens, then OIDC/JWT) and the process-wide one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lacuna.identity.names import same_name
from lacuna.identity.principal import AuthenticationError, Principal, UnknownTokenError
from lacuna.identity.tokens import TOKEN_PREFIX

if TYPE_CHECKING:
    from lacuna.identity.oidc import OidcVerifier
    from lacuna.identity.users import UserStore

# One logger for the whole package, named as before the split: log settings and filters
# that name "lacuna.identity" keep applying to every message.
log = logging.getLogger("lacuna.identity")


class Authenticator:
    """API tokens first, then OIDC/JWT when configured. One per server.

    The rule, the same with OIDC configured and without: a credential whose digest a users
    row holds is that user's API token (a ``lac_…`` token, or one made before tokens had the
    prefix, which the users table holds as any other); a ``lac_…`` token is never anything
    else; any other credential no row holds is an OIDC token when an issuer is configured,
    and refused (401) when none is. Before, with OIDC on, a prefix-less API token went to the
    JWT check alone and was refused, though it signed in without OIDC.

    ``stewards`` gives the steward names the server's configuration and policies list: a
    bearer token whose name is canonically one of them but spelt otherwise (``JOE`` for the
    steward ``joe``) is refused, as is one whose name is canonically a local user's
    (:func:`~lacuna.identity.names.canonical_name`)."""

    def __init__(self, users: UserStore, oidc: OidcVerifier | None = None, *,
                 stewards: Callable[[], Iterable[str]] | None = None) -> None:
        self.users = users
        self.oidc = oidc
        self.stewards = stewards

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
        try:  # an API token made before the prefix: the users table is its authority
            return self.users.authenticate(token)
        except UnknownTokenError:  # no row holds it (a row that does and refuses stands)
            pass
        principal = self.oidc.authenticate(token)
        claim = self.oidc.settings.name_claim
        local = self.users.namesakes(principal.name)
        if local:
            same = ("" if local == [principal.name] else
                    f" (as {local[0]!r}: names are compared without case, spacing or Unicode "
                    "compatibility forms)")
            msg = (f"bearer token refused: its {claim!r} claim names {principal.name!r}, which "
                   f"is also a local Lacuna user{same} (lacuna users list), so two people "
                   "would be one identity on the audit trail and in exception approvals. "
                   "Rename or disable the local user, or set oidc.name_claim to a claim no "
                   "local user name can equal")
            log.error("%s", msg)
            raise AuthenticationError(msg)
        steward = self._steward_spelt_otherwise(principal.name)
        if steward is not None:
            msg = (f"bearer token refused: its {claim!r} claim names {principal.name!r}, which "
                   f"is the configured steward {steward!r} spelt otherwise (names are compared "
                   "without case, spacing or Unicode compatibility forms), so it would decide "
                   "exceptions as that steward. The steward signs in with the name exactly as "
                   "lacuna.yaml's stewards: (or the policy's metadata) spells it; fix the "
                   "spelling there or at the identity provider")
            log.error("%s", msg)
            raise AuthenticationError(msg)
        return principal

    def _steward_spelt_otherwise(self, name: str) -> str | None:
        """A configured steward's name canonically equal to ``name`` but not ``name``."""
        if self.stewards is None:
            return None
        names = list(self.stewards())
        if name in names:  # that steward, as configured
            return None
        return next((steward for steward in names if same_name(steward, name)), None)


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
