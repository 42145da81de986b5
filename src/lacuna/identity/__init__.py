"""Who is asking: users, roles, API tokens and (optionally) OIDC/JWT bearer tokens.

Every request to the governance server carries ``Authorization: Bearer <token>``. The token is
either an **API token** made by ``lacuna users add NAME --role ROLE`` (printed once; only its
SHA-256 digest is stored, in the state database beside the audit trail, table ``lacuna_users``)
or, when an issuer is configured, an **OIDC/JWT** access token checked against the issuer's keys
from a JWKS file (signature, ``iss``, ``aud``, ``exp``). Either way the answer is a
:class:`Principal`: a name and roles. That, never the request body, is the identity on the
audit record.

**Rows are signed.** Whoever can write the state database (a shared PostgreSQL whose
credentials are spread wider than the server's key file, the owner of a SQLite file) must not be
able to make themselves a user, give themselves a role, swap in their own token's digest, enable
a disabled user or revive an ended console session. So every row of ``lacuna_users`` (name,
roles, token digest, creation stamp, disabled) and of ``lacuna_console_sessions`` (id digest,
user, start, expiry, end) carries a signature made with the installation's signing key
(:mod:`lacuna.signing`, the key the server holds), written only by :class:`UserStore`. A row
whose signature does not verify authenticates nobody: a 401 naming the user and how to
re-issue it (``lacuna users add NAME --role ROLE --replace``), logged as an error. Rows written
before the signatures (schema revision 0012) carry none: ``lacuna users resign`` signs them
after an operator has checked them (docs/server.md, "Signed identities"). A signature proves
Lacuna wrote a row, not that it is the newest: disabling a user and replacing their token are
also recorded on the hash-chained audit trail (kind ``identity``), and a row stamped before the
trail's last such event of its user (an older copy put back) authenticates nobody either; so are
ends of console sessions (action ``console_session``), and a session the trail says ended is
not revived by putting its row back.

**Creations are on the trail too.** Every issue of a row (``created``, ``replaced``,
``resigned``: who did it, the user, their roles and the row's stamp, never the token or its
digest) is an ``identity`` event, and a row signed since then names its state database
(:data:`USER_KIND_V2`, the id of :mod:`lacuna.state.database_id`) and is accepted only while
the trail's latest issue of its user, in a record intact in the chain, is that row. So a row
signed with the same key in another database does not verify, and one copied from a clone of
this database (same id) is refused: its creation is not on this trail. Rows signed before
(``lacuna-user-v1``) are taken on trust once: the server's first start since the upgrade
records on the trail which are present (:data:`GRANDFATHERED`, :meth:`UserStore.grandfather`),
and only those are accepted on their signature, listed as legacy until ``lacuna users resign``
ties them to the trail; one copied in since is refused (:data:`NOT_GRANDFATHERED`)
(docs/server.md, "User changes on the trail").

Roles (:data:`ROLES`): ``analyst`` (classify, decide, request exceptions), ``data_steward``
(decide exceptions, read lineage and audit), ``compliance_officer`` (audit search and verify,
reports), ``admin`` (everything, users and policies).

The package, one concept per module (every public name is re-exported here):
:mod:`~lacuna.identity.principal` (roles, :class:`Principal`, the errors),
:mod:`~lacuna.identity.names` (:func:`canonical_name`: when two names are one person),
:mod:`~lacuna.identity.tokens` (API tokens), :mod:`~lacuna.identity.users` (:class:`UserStore`,
which owns the collaborators below rather than inheriting them),
:mod:`~lacuna.identity.trail` (user changes on the audit trail: ``UserTrail``),
:mod:`~lacuna.identity.sessions` (console sessions: ``SessionStore``, ``UserStore.sessions``),
:mod:`~lacuna.identity.oidc` (OIDC/JWT),
:mod:`~lacuna.identity.authenticator` (:class:`Authenticator` and the process's default),
:mod:`~lacuna.identity.check` (what ``lacuna audit verify`` checks of the rows), and
``_rows`` (the tables, what their signatures cover, and ``RowSigner``, which signs and checks
them).

Example:
    >>> users = UserStore("sqlite://")
    >>> token = users.add("ana", roles=("analyst",))
    >>> users.authenticate(token)
    Principal(name='ana', roles=('analyst',))
"""

from __future__ import annotations

from lacuna.identity._rows import (
    INVALID,
    SESSION_KIND,
    SIGNED,
    UNSIGNED,
    USER_KIND,
    USER_KIND_V2,
    metadata,
    session_payload,
    sessions_table,
    unverified_message,
    user_payload,
    users_table,
)
from lacuna.identity.authenticator import Authenticator, authenticate_token, set_authenticator
from lacuna.identity.check import IdentityReport
from lacuna.identity.names import canonical_name, same_name
from lacuna.identity.oidc import OidcSettings, OidcVerifier
from lacuna.identity.principal import (
    ADMIN,
    ANALYST,
    COMPLIANCE_OFFICER,
    DATA_STEWARD,
    ROLES,
    VIA_OIDC,
    VIA_TOKEN,
    AuthenticationError,
    AuthorizationError,
    Principal,
    UnknownTokenError,
    UnverifiedIdentityError,
    check_roles,
)
from lacuna.identity.sessions import SessionStore
from lacuna.identity.tokens import TOKEN_PREFIX, new_token, redact, token_digest
from lacuna.identity.trail import (
    GRANDFATHERED,
    IDENTITY_ACTION,
    IDENTITY_KIND,
    ISSUED,
    LEGACY,
    NOT_GRANDFATHERED,
    OFF_TRAIL,
    ON_TRAIL,
    SESSION_ACTION,
    not_grandfathered_message,
    off_trail_message,
)
from lacuna.identity.users import UserRecord, UserStore, verify_identities

__all__ = [
    "ADMIN",
    "ANALYST",
    "COMPLIANCE_OFFICER",
    "DATA_STEWARD",
    "GRANDFATHERED",
    "IDENTITY_ACTION",
    "IDENTITY_KIND",
    "INVALID",
    "ISSUED",
    "LEGACY",
    "NOT_GRANDFATHERED",
    "OFF_TRAIL",
    "ON_TRAIL",
    "ROLES",
    "SESSION_ACTION",
    "SESSION_KIND",
    "SIGNED",
    "TOKEN_PREFIX",
    "UNSIGNED",
    "USER_KIND",
    "USER_KIND_V2",
    "VIA_OIDC",
    "VIA_TOKEN",
    "AuthenticationError",
    "Authenticator",
    "AuthorizationError",
    "IdentityReport",
    "OidcSettings",
    "OidcVerifier",
    "Principal",
    "SessionStore",
    "UnknownTokenError",
    "UnverifiedIdentityError",
    "UserRecord",
    "UserStore",
    "authenticate_token",
    "canonical_name",
    "check_roles",
    "metadata",
    "new_token",
    "not_grandfathered_message",
    "off_trail_message",
    "redact",
    "same_name",
    "session_payload",
    "sessions_table",
    "set_authenticator",
    "token_digest",
    "unverified_message",
    "user_payload",
    "users_table",
    "verify_identities",
]
