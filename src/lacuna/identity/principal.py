"""Roles, the authenticated caller (:class:`Principal`) and the errors of who is asking."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lacuna.errors import ConfigError, LacunaError

ANALYST = "analyst"
DATA_STEWARD = "data_steward"
COMPLIANCE_OFFICER = "compliance_officer"
ADMIN = "admin"
ROLES: tuple[str, ...] = (ANALYST, DATA_STEWARD, COMPLIANCE_OFFICER, ADMIN)

# What a principal's credential was, as the store that accepted it says (never guessed from
# the credential's text: an API token made before tokens had their ``lac_`` prefix is still an
# API token). A console session keeps it, and checks the caller anew by it on every request.
VIA_TOKEN = "token"  # an API token of the users table (lacuna users add)
VIA_OIDC = "oidc"  # a JWT from the configured OIDC issuer


class AuthenticationError(LacunaError):
    """The request's credentials are missing, unknown, expired or malformed (HTTP 401)."""


class UnknownTokenError(AuthenticationError):
    """No users row holds this API token's digest (a credential of another kind may still
    be accepted: :class:`~lacuna.identity.authenticator.Authenticator`)."""


class UnverifiedIdentityError(AuthenticationError):
    """A user or session row whose signature does not verify: it authenticates nobody."""


class AuthorizationError(LacunaError, PermissionError):
    """The caller is known but lacks the role the action needs (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a name (the audit trail's ``user``) and roles."""

    name: str
    roles: tuple[str, ...]
    # When the credential stops being accepted (epoch seconds): an OIDC token's ``exp``. None
    # for an API token, which holds until it is revoked. Not part of the identity.
    expires: float | None = field(default=None, compare=False, repr=False)
    # :data:`VIA_TOKEN` or :data:`VIA_OIDC` when a credential was checked; "" for a principal
    # made from something else (a session, the acting user of a verb). Not part of the
    # identity either.
    via: str = field(default="", compare=False, repr=False)

    def has(self, *roles: str) -> bool:
        """Whether the caller holds any of ``roles`` (``admin`` holds them all)."""
        return ADMIN in self.roles or any(role in self.roles for role in roles)

    @property
    def role(self) -> str:
        """The principal role used in policy input (the first, most specific one)."""
        return self.roles[0] if self.roles else ANALYST


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """``roles`` validated against :data:`ROLES`, duplicates dropped, order kept.

    Raises:
        ConfigError: an unknown role, or none.
    """
    out: list[str] = []
    for role in roles:
        if role not in ROLES:
            msg = f"unknown role {role!r}; use one of: {', '.join(ROLES)}"
            raise ConfigError(msg)
        if role not in out:
            out.append(role)
    if not out:
        msg = f"a user needs at least one role: {', '.join(ROLES)}"
        raise ConfigError(msg)
    return tuple(out)
