"""Who is asking: users, roles, API tokens and (optionally) OIDC/JWT bearer tokens.

Every request to the governance server carries ``Authorization: Bearer <token>``. The token is
either an **API token** made by ``lacuna users add NAME --role ROLE`` (printed once; only its
SHA-256 digest is stored, in the state database beside the audit trail, table ``lacuna_users``)
or, when an issuer is configured, an **OIDC/JWT** access token checked against the issuer's keys
from a JWKS file (signature, ``iss``, ``aud``, ``exp``). Either way the answer is a
:class:`Principal`: a name and roles. That, never the request body, is the identity on the
audit record.

Roles (:data:`ROLES`): ``analyst`` (classify, decide, request exceptions), ``data_steward``
(decide exceptions, read lineage and audit), ``compliance_officer`` (audit search and verify,
reports), ``admin`` (everything, users and policies).

Example:
    >>> users = UserStore("sqlite://")
    >>> token = users.add("ana", roles=("analyst",))
    >>> users.authenticate(token)
    Principal(name='ana', roles=('analyst',))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)

from lacuna.audit.schema import open_state_database
from lacuna.errors import ConfigError, LacunaError

ANALYST = "analyst"
DATA_STEWARD = "data_steward"
COMPLIANCE_OFFICER = "compliance_officer"
ADMIN = "admin"
ROLES: tuple[str, ...] = (ANALYST, DATA_STEWARD, COMPLIANCE_OFFICER, ADMIN)

TOKEN_PREFIX = "lac_"  # API tokens start with this, so a JWT is never mistaken for one
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")

metadata = MetaData()
users_table = Table(
    "lacuna_users",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("roles", Text, nullable=False),  # JSON list
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)
# The console's signed-in sessions: a session cookie names one row (by the SHA-256 of its random
# id), checked on every request, so signing out ends that session server-side: a copy of the
# cookie taken before stops working. Rows past their expiry are dropped as new sessions start.
sessions_table = Table(
    "lacuna_console_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("name", String(128), nullable=False, index=True),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("ended_at", String(40), nullable=True),  # signed out (or ended by an admin)
)


class AuthenticationError(LacunaError):
    """The request's credentials are missing, unknown, expired or malformed (HTTP 401)."""


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


def _stamp(when: datetime | None = None) -> str:
    """A UTC time as the sessions table keeps it: one fixed-width ISO form, so that text order
    is time order on every database."""
    return (when or datetime.now(UTC)).isoformat(timespec="microseconds")


class UserStore:
    """Users, their roles and their API tokens' digests in the state database."""

    CACHE_S = 10.0  # an accepted token is not looked up again for this long, unless ...
    CHECK_S = 1.0  # ... the users table changed: read at most this often (a disabled or
    #                replaced token stops working within it, in every worker)

    def __init__(self, url: str) -> None:
        self._engine = open_state_database(url, metadata)
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._version: tuple[Any, ...] | None = None
        self._check_at = 0.0

    def _users_version(self) -> tuple[Any, ...]:
        """What changes with every add, replace and disable: the rows, the newest stamp (a
        replaced user's row is stamped anew) and how many are disabled."""
        t = users_table.c
        with self._engine.connect() as conn:
            row = conn.execute(select(func.count(), func.max(t.created_at),
                                      func.sum(t.disabled.cast(Integer)))).one()
        return tuple(row)

    def _revalidate(self, now: float) -> None:
        """Drop the cached tokens when the users table changed (another process disabled or
        replaced someone): read at most every ``CHECK_S``. A failed read drops them too."""
        if now < self._check_at:
            return
        self._check_at = now + self.CHECK_S
        try:
            version: tuple[Any, ...] | None = self._users_version()
        except Exception:  # the state database is down: nothing cached is trusted
            version = None
        if version is None or version != self._version:
            self._cache.clear()
        self._version = version

    def add(self, name: str, *, roles: Iterable[str], replace: bool = False) -> str:
        """Create ``name`` with ``roles`` and return a new API token (shown once, stored hashed).

        With ``replace``, an existing user gets the new roles and a new token (the old one
        stops working, and so do the console sessions signed in before).

        Raises:
            ConfigError: a bad name or role, or the user exists and ``replace`` is false.
        """
        if not _NAME.match(name):
            msg = (f"user name {name!r} is not valid: letters, digits and . _ @ + -, "
                   "at most 128 characters")
            raise ConfigError(msg)
        checked = check_roles(roles)
        token = new_token()
        values = {"roles": json.dumps(list(checked)), "token_sha256": token_digest(token),
                  "created_at": datetime.now(UTC).isoformat(), "disabled": False}
        with self._engine.begin() as conn:
            exists = conn.execute(select(users_table.c.name).where(
                users_table.c.name == name)).first()
            if exists and not replace:
                msg = (f"user {name!r} exists; use --replace to give them new roles and a new "
                       "token")
                raise ConfigError(msg)
            self._cache.clear()
            if exists:
                conn.execute(update(users_table).where(users_table.c.name == name)
                             .values(**values))
                # The old token's console sessions end with it: replacing a leaked token
                # must not leave a session signed in with it.
                conn.execute(update(sessions_table).where(
                    sessions_table.c.name == name, sessions_table.c.ended_at.is_(None)).values(
                    ended_at=_stamp()))
            else:
                conn.execute(users_table.insert().values(name=name, **values))
        return token

    def disable(self, name: str) -> None:
        """Stop ``name``'s token from working (the user row stays for the record)."""
        self._cache.clear()
        with self._engine.begin() as conn:
            done = conn.execute(update(users_table).where(users_table.c.name == name)
                                .values(disabled=True)).rowcount
        if not done:
            msg = f"no user {name!r}; list them with: lacuna users list"
            raise ConfigError(msg)
        self.end_sessions(name)  # their console sessions end too, not only their token

    def list(self) -> list[tuple[Principal, bool]]:
        """Every user as ``(principal, disabled)``, by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(users_table.c.name, users_table.c.roles,
                                       users_table.c.disabled).order_by(users_table.c.name))
            return [(Principal(r.name, tuple(json.loads(r.roles))), bool(r.disabled))
                    for r in rows]

    def cached(self, token: str) -> Principal | None:
        """The principal for ``token`` if it was authenticated in the last ``CACHE_S``
        seconds and the users table has not changed since, else ``None`` (a database read at
        most every ``CHECK_S``, to see whether it changed)."""
        now = time.monotonic()
        self._revalidate(now)
        hit = self._cache.get(token_digest(token))
        return hit[0] if hit is not None and hit[1] > now else None

    def authenticate(self, token: str) -> Principal:
        """The principal whose API token this is.

        Raises:
            AuthenticationError: unknown or disabled token.
        """
        digest = token_digest(token)
        now = time.monotonic()
        self._revalidate(now)
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self._engine.connect() as conn:
            row = conn.execute(select(users_table).where(
                users_table.c.token_sha256 == digest)).first()
        if row is None or not hmac.compare_digest(row.token_sha256, digest):
            msg = "unknown API token; ask an admin for one (lacuna users add NAME --role ROLE)"
            raise AuthenticationError(msg)
        if row.disabled:
            msg = f"user {row.name!r} is disabled; ask an admin"
            raise AuthenticationError(msg)
        principal = Principal(row.name, tuple(json.loads(row.roles)))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (principal, now + self.CACHE_S)
        return principal

    # -- console sessions ------------------------------------------------------------------

    def start_session(self, name: str, expires: float) -> str:
        """A new console session of ``name`` until ``expires`` (epoch seconds): its random id,
        which only the signed cookie carries (the table keeps its digest). Ended and expired
        sessions are dropped here, so the table holds only live ones and recent sign-outs."""
        sid = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(delete(sessions_table).where(or_(
                sessions_table.c.expires_at < _stamp(now), sessions_table.c.ended_at.is_not(None))))
            conn.execute(sessions_table.insert().values(
                id_sha256=token_digest(sid), name=name, created_at=_stamp(now),
                expires_at=_stamp(datetime.fromtimestamp(expires, UTC))))
        return sid

    def session_active(self, sid: str, name: str) -> bool:
        """Whether console session ``sid`` of ``name`` was started here and has not ended or
        expired (one indexed read per request: a revoked cookie stops at once, in every
        worker)."""
        if not sid:
            return False
        with self._engine.connect() as conn:
            row = conn.execute(select(sessions_table).where(
                sessions_table.c.id_sha256 == token_digest(sid))).first()
        return (row is not None and row.name == name and row.ended_at is None
                and row.expires_at > _stamp())

    def end_session(self, sid: str) -> bool:
        """End console session ``sid`` (sign-out): every copy of its cookie stops working.
        Returns whether a live session was ended."""
        if not sid:
            return False
        with self._engine.begin() as conn:
            done = conn.execute(update(sessions_table).where(
                sessions_table.c.id_sha256 == token_digest(sid),
                sessions_table.c.ended_at.is_(None)).values(
                ended_at=_stamp())).rowcount
        return bool(done)

    def end_sessions(self, name: str) -> int:
        """End every console session of ``name`` (the user was disabled); how many were live."""
        with self._engine.begin() as conn:
            return int(conn.execute(update(sessions_table).where(
                sessions_table.c.name == name, sessions_table.c.ended_at.is_(None)).values(
                ended_at=_stamp())).rowcount or 0)

    def close(self) -> None:
        self._engine.dispose()


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
        return self.oidc.authenticate(token)


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
