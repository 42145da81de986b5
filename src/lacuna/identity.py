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
(``lacuna-user-v1``) are accepted on their signature, as before, and listed as such until
``lacuna users resign`` ties them to the trail (docs/server.md, "User changes on the trail").

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
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from lacuna.errors import AuditError, ConfigError, LacunaError
from lacuna.redact import redact_url
from lacuna.signing import Keyed, Keyring, signature_key_id

log = logging.getLogger(__name__)

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
    # over every other column (:func:`user_payload`); NULL: written before revision 0012
    Column("signature", String(128), nullable=True),
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
    Column("signature", String(128), nullable=True),  # over the others (session_payload)
)

IDENTITY_KIND = IDENTITY_ACTION = "identity"  # the audit trail's events of user changes
SESSION_ACTION = "console_session"  # ... and of console sessions ended
USER_KIND = "lacuna-user-v1"  # what a signature is over, so one row's cannot pass as another's
# ... since creations are on the trail: the row names its state database, and its issue (a
# creation, replacement or re-signing) must be on that database's trail (docs/server.md)
USER_KIND_V2 = "lacuna-user-v2"
SESSION_KIND = "lacuna-console-session-v1"
UNSIGNED, INVALID, SIGNED = "unsigned", "invalid", "signed"
# A signed row's standing on the audit trail (UserRecord.trail): its issue is recorded there,
# it was signed before issues were (accepted on its signature), or it is not (refused).
ON_TRAIL, LEGACY, OFF_TRAIL = "on trail", "legacy", "not on trail"
ISSUED = ("created", "replaced")  # identity events that issue a row (and "resigned")


def user_payload(row: Any, database: str | None = None) -> dict[str, Any]:
    """What a ``lacuna_users`` row's signature covers: every column but the signature, and
    (``database`` given: rows signed since creations are on the trail) the state database's
    id, so a row copied from another database signed with the same key does not verify."""
    payload = {"kind": USER_KIND, "name": row.name, "roles": row.roles,
               "token_sha256": row.token_sha256, "created_at": row.created_at,
               "disabled": bool(row.disabled)}
    if database is None:
        return payload
    return {**payload, "kind": USER_KIND_V2, "database": database}


def session_payload(row: Any) -> dict[str, Any]:
    """What a ``lacuna_console_sessions`` row's signature covers: every column but it."""
    return {"kind": SESSION_KIND, "id_sha256": row.id_sha256, "name": row.name,
            "created_at": row.created_at, "expires_at": row.expires_at,
            "ended_at": row.ended_at}


@dataclass(frozen=True, slots=True)
class _Values:
    """A row's values before it is written (the payload functions read attributes)."""

    name: str
    roles: str = ""
    token_sha256: str = ""
    created_at: str = ""
    disabled: bool = False
    id_sha256: str = ""
    expires_at: str = ""
    ended_at: str | None = None


def unverified_message(name: str, state: str) -> str:
    """What a caller (and the audit trail) is told about a user row that does not verify."""
    why = ("carries no signature (written before user records were signed, or inserted "
           "outside Lacuna)" if state == UNSIGNED else
           "does not match its signature (edited outside Lacuna, or signed with another key)")
    return (f"the record of user {name!r} in lacuna_users {why}, so it authenticates nobody. "
            f"An admin re-issues it: lacuna users add {name} --role ROLE --replace "
            "(records from before the signatures: check them with lacuna users list, then "
            "lacuna users resign)")


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A ``lacuna_users`` row as an admin sees it: who, roles, disabled, and whether its
    signature holds (:data:`SIGNED`, :data:`UNSIGNED` or :data:`INVALID`)."""

    name: str
    roles: tuple[str, ...]
    disabled: bool
    signature: str
    signed_by: str | None = None  # the key id the signature names (None: unsigned)
    # a signed row: ON_TRAIL, LEGACY (signed before issues were on the trail) or OFF_TRAIL
    # (refused: not issued through Lacuna here); "" for an unsigned or invalid row
    trail: str = ""


class AuthenticationError(LacunaError):
    """The request's credentials are missing, unknown, expired or malformed (HTTP 401)."""


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


_Records = list[UserRecord]  # (``UserStore.list`` hides the builtin in its class body)
_Rows = list[Any]


class UserStore(Keyed):
    """Users, their roles and their API tokens' digests in the state database, each row signed
    with ``keyring`` (default: :func:`lacuna.signing.default_keyring`, the server's key)."""

    CACHE_S = 10.0  # an accepted token is not looked up again for this long, unless ...
    CHECK_S = 1.0  # ... the users table changed: read at most this often (a disabled or
    #                replaced token stops working within it, in every worker)

    def __init__(self, url: str, keyring: Keyring | None = None, *, audit: Any = None,
                 checkpoint_log: Path | None = None) -> None:
        self._engine = open_state_database(url, metadata)
        self._url = url
        self._keyring = keyring
        # the audit trail (an AuditStore) that ends of users are recorded on: given (the
        # server's), else opened on the first end (checkpoint_log: the config's)
        self._audit = audit
        self._own_audit = False
        self._checkpoint_log = checkpoint_log
        self._ends: dict[str, str] = {}  # user -> the trail's latest not_before (see below)
        # user -> (created_at, roles) of the trail's latest issue of their row (intact records)
        self._issued: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._database: str | None = None  # the state database's id (lacuna.state.database_id)
        self._ends_shape: tuple[Any, ...] | None = None  # (count, max seq) it was read at
        # live console session digest -> the trail's newest session-end seq already read for
        # it: a request reads only the ends recorded since (a flood of sign-outs is read once
        # per session, not on every request of every session)
        self._session_seen: dict[str, int] = {}
        self._session_lock = threading.Lock()
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._version: tuple[Any, ...] | None = None
        self._check_at = 0.0

    # -- signatures -------------------------------------------------------------------------

    def _database_id(self) -> str | None:
        """The users table's state database id (read once; None: its row was deleted)."""
        if self._database is None:
            from lacuna.state import database_id

            with self._engine.connect() as conn:
                self._database = database_id.read(conn)
        return self._database

    def _signed(self, values: _Values, *, version: int = 2) -> str:
        """``values`` signed: as a row tied to this database and its trail (``version`` 2), or
        as before (1: only to sign again a row that was signed so, when it is disabled)."""
        if version == 1:
            return self.keyring.sign(user_payload(values))
        database = self._database_id()
        if database is None:
            msg = (f"cannot sign a user record in {redact_url(self._url)}: its state "
                   "database has no id (the row of lacuna_database_id was deleted), so it was "
                   "tampered with. Nothing was changed; run lacuna audit verify.")
            raise ConfigError(msg)
        return self.keyring.sign(user_payload(values, database))

    def _sig_version(self, row: Any) -> int:
        """2: ``row`` is signed for this database; 1: signed before rows named it (legacy);
        0: unsigned, or its signature does not hold."""
        if not row.signature:
            return 0
        database = self._database_id()
        if database is not None and self.keyring.verify(user_payload(row, database),
                                                        row.signature):
            return 2
        return 1 if self.keyring.verify(user_payload(row), row.signature) else 0

    def _user_state(self, row: Any) -> str:
        """:data:`SIGNED`, :data:`UNSIGNED` or :data:`INVALID` for a ``lacuna_users`` row."""
        if not row.signature:
            return UNSIGNED
        return SIGNED if self._sig_version(row) else INVALID

    def _session_ok(self, row: Any) -> bool:
        return bool(row.signature) and self.keyring.verify(session_payload(row), row.signature)

    def _refuse_row(self, row: Any, state: str) -> UnverifiedIdentityError:
        message = unverified_message(row.name, state)
        log.error("refused a credential: %s", message)
        return UnverifiedIdentityError(message)

    # -- ends on the audit trail (a replayed older row is refused) ----------------------------

    def _trail(self) -> Any:
        if self._audit is None:
            from lacuna.audit import AuditStore

            self._audit = AuditStore(self._url, keyring=self._keyring,
                                     checkpoint_log=self._checkpoint_log)
            self._own_audit = True
        return self._audit

    def _record_end(self, name: str, event: str, not_before: str, by: Any,
                    roles: list[str] | None = None) -> None:
        """Append to the hash-chained audit trail that rows of ``name`` stamped before
        ``not_before`` no longer count (``event``: ``disabled`` or ``replaced``). A row put back
        from before (its old signature holds) is refused by this record, which the writer
        cannot remove without breaking the trail's chain (``lacuna audit verify``)."""
        from lacuna.audit.record import event_body

        actor = by if by is not None else _operator()
        body = event_body(IDENTITY_KIND, user=actor, session="lacuna-users",
                          what={"action": IDENTITY_ACTION, "event": event, "user": name},
                          reasoning=f"user {name}: {event}",
                          detail={"user": name, "not_before": not_before,
                                  **({"roles": roles} if roles is not None else {})})
        self._append(body, f"user {name!r} was {event}", "until it does, an older copy of "
                     "the user's row put back in the database would be accepted again")

    def _append(self, body: dict[str, Any], done: str, unguarded: str) -> None:
        """``body`` on the audit trail. The change it records (``done``) stands when the trail
        cannot be written; what the record would have guarded (``unguarded``) is said loudly."""
        try:
            self._trail().record_event(body)
        except Exception as exc:
            log.error("%s, but the audit trail could not record it (%s): %s", done, exc,
                      unguarded)

    def _trail_engine(self) -> Any:
        """Where the trail is read: the audit store's database (an in-memory ``sqlite://``
        store's trail is its own), else this store's (the same database)."""
        engine = getattr(self._audit, "engine", None)
        return engine if engine is not None else self._engine

    def _read_trail(self) -> None:
        """Read the trail's identity events into ``_ends`` and ``_issued``, by their indexed
        action, again only when their count or newest ``seq`` changed (users change rarely).
        An end counts as read (inserting one refuses more, never less); an issue only from a
        record that is intact and linked into the chain (:func:`~lacuna.audit.verify.
        intact_records`): inserting one would let a row in."""
        from lacuna.audit.schema import records
        from lacuna.audit.store import READ_COLUMNS
        from lacuna.audit.verify import intact_records

        with self._trail_engine().connect() as conn:
            shape = tuple(conn.execute(select(func.count(), func.max(records.c.seq)).where(
                records.c.action == IDENTITY_ACTION)).one())
            if shape == self._ends_shape:
                return
            rows = conn.execute(select(*READ_COLUMNS).where(
                records.c.action == IDENTITY_ACTION).order_by(records.c.seq)).all()
            issues = [r for r in rows if _issue_event(r.body)]
            keyring = getattr(self._audit, "keyring", None) or self.keyring
            good = {int(r.seq) for r in intact_records(conn, issues, keyring)}
        for r in issues:
            if int(r.seq) not in good:
                log.error("audit record #%s (an issue of a user) is not intact in the chain "
                          "(forged, edited or copied from another trail): not relied on; run "
                          "lacuna audit verify", r.seq)
        self._ends = _latest_ends(r.body for r in rows)
        self._issued = _latest_issues(r.body for r in issues if int(r.seq) in good)
        self._ends_shape = shape

    def _ended_before(self, name: str) -> str | None:
        """The latest ``not_before`` the audit trail records for ``name`` (None: none)."""
        self._read_trail()
        return self._ends.get(name)

    def _issue_of(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """``(created_at, roles)`` of the trail's latest issue of ``name``'s row (None: none
        recorded, in an intact record)."""
        self._read_trail()
        return self._issued.get(name)

    def _new_stamp(self, name: str) -> str:
        """A new row's ``created_at``: now, but always after the trail's last end of ``name``
        (a clock behind the one that disabled them must not make the new row look older)."""
        now = datetime.now(UTC)
        try:
            ended = self._ended_before(name)
        except Exception:  # no trail to read yet: nothing ended
            ended = None
        if ended is not None:
            try:
                after = datetime.fromisoformat(ended) + timedelta(microseconds=1)
            except ValueError:
                after = now
            now = max(now, after)
        return now.isoformat(timespec="microseconds")

    def _check_current(self, row: Any) -> None:
        """Refuse a row that verifies but was stamped before the trail's last end of its user
        (an older row put back: a replay of the row before ``disable`` or ``--replace``), and a
        row signed for this database whose issue the trail does not record as it is (made
        outside ``lacuna users`` here: copied from a copy of this database, or put back after
        a newer issue)."""
        ended = self._ended_before(row.name)
        if ended is not None and row.created_at < ended:
            message = (f"the record of user {row.name!r} in lacuna_users is older than the "
                       f"audit trail's last change of that user ({ended}): an earlier copy put "
                       "back outside Lacuna, so it authenticates nobody. An admin re-issues "
                       f"it: lacuna users add {row.name} --role ROLE --replace")
            log.error("refused a credential: %s", message)
            raise UnverifiedIdentityError(message)
        # a row signed for this database must be the trail's latest issue of its user; so must
        # a legacy row (signed before) once the trail has issued that user at all: a legacy
        # row from elsewhere put in place of a user the trail knows is no legacy of theirs
        if ((self._sig_version(row) == 2 or self._issue_of(row.name) is not None)
                and not self._on_trail(row)):
            message = off_trail_message(row.name)
            log.error("refused a credential: %s", message)
            raise UnverifiedIdentityError(message)

    def _on_trail(self, row: Any) -> bool:
        """Whether the trail's latest issue of ``row``'s user is this row (stamp and roles)."""
        issued = self._issue_of(row.name)
        try:
            roles = tuple(str(r) for r in json.loads(row.roles))
        except (ValueError, TypeError):
            return False
        return issued is not None and issued == (row.created_at, roles)

    def _trail_state(self, row: Any) -> str:
        """:data:`ON_TRAIL`, :data:`LEGACY` or :data:`OFF_TRAIL` for a signed row ("" else)."""
        version = self._sig_version(row)
        if version == 1 and self._issue_of(row.name) is None:
            return LEGACY
        if version:
            return (ON_TRAIL if version == 2 else LEGACY) if self._on_trail(row) else OFF_TRAIL
        return ""

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

    def add(self, name: str, *, roles: Iterable[str], replace: bool = False,
            by: Any = None) -> str:
        """Create ``name`` with ``roles`` and return a new API token (shown once, stored hashed).

        With ``replace``, an existing user gets the new roles and a new token (the old one
        stops working, and so do the console sessions signed in before), and the audit trail
        records it, so the old row put back would be refused. The row is signed; ``by`` (who
        does it, with ``id`` and ``role``) is the trail's actor (default: the OS user).

        Raises:
            ConfigError: a bad name or role, or the user exists and ``replace`` is false.
        """
        if not _NAME.match(name):
            msg = (f"user name {name!r} is not valid: letters, digits and . _ @ + -, "
                   "at most 128 characters")
            raise ConfigError(msg)
        checked = check_roles(roles)
        token = new_token()
        made = _Values(name=name, roles=json.dumps(list(checked)),
                       token_sha256=token_digest(token), created_at=self._new_stamp(name),
                       disabled=False)
        values = {"roles": made.roles, "token_sha256": made.token_sha256,
                  "created_at": made.created_at, "disabled": False,
                  "signature": self._signed(made)}
        with self._engine.begin() as conn:
            exists = conn.execute(select(users_table.c.name).where(
                users_table.c.name == name)).first()
            if exists and not replace:
                msg = (f"user {name!r} exists; use --replace to give them new roles and a new "
                       "token")
                raise ConfigError(msg)
            self._cache.clear()
            ended: _Rows = []
            if exists:
                conn.execute(update(users_table).where(users_table.c.name == name)
                             .values(**values))
                # The old token's console sessions end with it: replacing a leaked token
                # must not leave a session signed in with it.
                ended = self._end_sessions_in(conn, sessions_table.c.name == name)
            else:
                conn.execute(users_table.insert().values(name=name, **values))
        # On the trail: the issue of this row, which authentication looks for (a row signed
        # for this database but not issued here is refused), and for a replacement the end of
        # the rows before it (the old token, the old roles). Never the token or its digest.
        event = "replaced" if exists else "created"
        try:
            self._record_issue(name, event, made.created_at, list(checked), by)
        except Exception as exc:
            if not exists:  # nothing issued: the row goes, and the caller is told
                with self._engine.begin() as conn:
                    conn.execute(delete(users_table).where(
                        users_table.c.name == name,
                        users_table.c.created_at == made.created_at))
                msg = (f"user {name!r} was not created: the audit trail could not record it "
                       f"({exc}). Nothing changed; check the trail (lacuna audit verify) and "
                       "run the command again.")
            else:
                msg = (f"user {name!r} got a new token, but the audit trail could not record "
                       f"it ({exc}): the old token no longer works and the new one is refused "
                       "until the trail records an issue of it. Check the trail (lacuna audit "
                       f"verify), then run lacuna users add {name} --role ROLE --replace again.")
            log.error("%s", msg)
            raise AuditError(msg) from exc
        finally:
            self._cache.clear()
        if ended:
            self._record_session_ends(ended, "token replaced", by if by is not None
                                      else _operator())
        return token

    def _record_issue(self, name: str, event: str, created_at: str, roles: list[str],
                      by: Any) -> None:
        """Append the issue of ``name``'s row (``event``: ``created`` or ``replaced``) to the
        trail: who did it, the user, their roles and the row's stamp, which no older row may
        predate (``not_before``). Raises what the trail raises."""
        from lacuna.audit.record import event_body

        actor = by if by is not None else _operator()
        body = event_body(IDENTITY_KIND, user=actor, session="lacuna-users",
                          what={"action": IDENTITY_ACTION, "event": event, "user": name},
                          reasoning=f"user {name}: {event} ({', '.join(roles)})",
                          detail={"user": name, "roles": roles, "created_at": created_at,
                                  "not_before": created_at})
        self._trail().record_event(body)

    def disable(self, name: str, *, by: Any = None) -> None:
        """Stop ``name``'s token from working (the user row stays for the record, signed as
        disabled: whatever else it holds, a disabled row lets nobody in)."""
        self._cache.clear()
        with self._engine.begin() as conn:
            row = conn.execute(select(users_table).where(users_table.c.name == name)).first()
            if row is None:
                msg = f"no user {name!r}; list them with: lacuna users list"
                raise ConfigError(msg)
            done = _Values(name=row.name, roles=row.roles, token_sha256=row.token_sha256,
                           created_at=row.created_at, disabled=True)
            # Signed again only when it verified: a row changed outside Lacuna is disabled
            # but not vouched for (it stays unverified: it lets nobody in either way)
            version = self._sig_version(row)
            signature = self._signed(done, version=version) if version else row.signature
            conn.execute(update(users_table).where(users_table.c.name == name).values(
                disabled=True, signature=signature))
        # on the trail: the row from before (enabled, its signature good) counts no more
        self._record_end(name, "disabled", datetime.now(UTC).isoformat(timespec="microseconds"),
                         by, _roles_of(row.roles))
        self.end_sessions(name, by=by)  # their console sessions end too, not only their token

    def list(self) -> list[tuple[Principal, bool]]:
        """Every user as ``(principal, disabled)``, by name (signed or not: see
        :meth:`records`)."""
        return [(Principal(r.name, r.roles), r.disabled) for r in self.records()]

    def records(self) -> _Records:
        """Every user row, by name, with whether its signature holds."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(users_table).order_by(users_table.c.name)).all()
        out = []
        for r in rows:
            try:
                roles = tuple(str(x) for x in json.loads(r.roles))
            except (ValueError, TypeError):
                roles = ()
            out.append(UserRecord(r.name, roles, bool(r.disabled), self._user_state(r),
                                  signature_key_id(r.signature), self._trail_state(r)))
        return out

    def resign(self, names: Iterable[str] | None = None, *, by: Any = None) -> _Records:
        """Sign, as they are now, the rows that carry no signature (written before revision
        0012) and the rows signed before creations were on the audit trail (:data:`LEGACY`):
        of ``names``, or all; the trail records the issue of each (``resigned``), so they are
        tied to this database and its trail like a row made today. Rows whose signature does
        not match are left alone (they were changed after signing: re-issue them with
        ``add(..., replace=True)``). Returns the rows signed.

        Whoever runs this vouches for those rows: check them first (:meth:`records`).

        Raises:
            AuditError: the trail could not record it (nothing was signed).
        """
        wanted = None if names is None else set(names)
        pending: list[tuple[Any, tuple[str, ...]]] = []
        with self._engine.connect() as conn:
            rows = conn.execute(select(users_table).order_by(users_table.c.name)).all()
        for r in rows:
            if (wanted is not None and r.name not in wanted) or (
                    r.signature and self._sig_version(r) != 1):
                continue
            try:
                pending.append((r, check_roles(json.loads(r.roles))))
            except (ValueError, TypeError, ConfigError) as exc:
                log.error("not signing user %r: its roles %r are not valid (%s); re-issue it "
                          "with lacuna users add --replace", r.name, r.roles, exc)
        if not pending:
            return []
        from lacuna.audit.record import event_body

        # first on the trail (an issue recorded for a row left unsigned lets nobody in), then
        # signed: a row signed for this database without its issue on the trail would be
        # refused
        actor = by if by is not None else _operator()
        try:
            self._trail().record_event(event_body(
                IDENTITY_KIND, user=actor, session="lacuna-users",
                what={"action": IDENTITY_ACTION, "event": "resigned"},
                reasoning=f"signed {len(pending)} user record(s) written before signatures or "
                          "before their creation was on the audit trail",
                detail={"resigned": [{"user": r.name, "roles": _roles_of(r.roles) or [],
                                      "disabled": bool(r.disabled), "created_at": r.created_at}
                                     for r, roles in pending]}))
        except Exception as exc:
            msg = (f"no user record was signed: the audit trail could not record it ({exc}). "
                   "Check the trail (lacuna audit verify) and run the command again.")
            log.error("%s", msg)
            raise AuditError(msg) from exc
        signed: _Records = []
        with self._engine.begin() as conn:
            for r, roles in pending:
                same = (users_table.c.signature.is_(None) if r.signature is None
                        else users_table.c.signature == r.signature)
                t = users_table.c
                if conn.execute(update(users_table).where(
                        t.name == r.name, same, t.roles == r.roles,
                        t.token_sha256 == r.token_sha256, t.created_at == r.created_at,
                        t.disabled == r.disabled).values(signature=self._signed(
                        _Values(name=r.name, roles=r.roles, token_sha256=r.token_sha256,
                                created_at=r.created_at, disabled=bool(r.disabled))))).rowcount:
                    signed.append(UserRecord(r.name, roles, bool(r.disabled), SIGNED,
                                             self.keyring.current.key_id, ON_TRAIL))
        self._cache.clear()
        return signed

    def cached(self, token: str) -> Principal | None:
        """The principal for ``token`` if it was authenticated in the last ``CACHE_S``
        seconds and the users table has not changed since, else ``None`` (a database read at
        most every ``CHECK_S``, to see whether it changed)."""
        now = time.monotonic()
        self._revalidate(now)
        hit = self._cache.get(token_digest(token))
        return hit[0] if hit is not None and hit[1] > now else None

    def authenticate(self, token: str) -> Principal:
        """The principal whose API token this is (from a row whose signature holds).

        Raises:
            AuthenticationError: unknown or disabled token.
            UnverifiedIdentityError: the token's row does not verify (edited outside Lacuna,
                or written before the rows were signed).
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
        state = self._user_state(row)
        if state != SIGNED:
            raise self._refuse_row(row, state)
        if row.disabled:
            msg = f"user {row.name!r} is disabled; ask an admin"
            raise AuthenticationError(msg)
        self._check_current(row)
        principal = Principal(row.name, tuple(json.loads(row.roles)))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (principal, now + self.CACHE_S)
        return principal

    def has_user(self, name: str) -> bool:
        """Whether the users table holds a row named ``name`` (enabled or not, verified or
        not): the name is taken by a local user."""
        with self._engine.connect() as conn:
            found = conn.execute(select(users_table.c.name).where(
                users_table.c.name == name)).first()
        return found is not None

    def principal_of(self, name: str) -> Principal | None:
        """The enabled user ``name`` with today's roles, from a row whose signature holds;
        ``None`` when there is no such user or they are disabled.

        Raises:
            UnverifiedIdentityError: ``name``'s row does not verify.
        """
        with self._engine.connect() as conn:
            row = conn.execute(select(users_table).where(users_table.c.name == name)).first()
        if row is None:
            return None
        state = self._user_state(row)
        if state != SIGNED:
            raise self._refuse_row(row, state)
        if row.disabled:
            return None
        self._check_current(row)
        return Principal(row.name, tuple(json.loads(row.roles)))

    # -- console sessions ------------------------------------------------------------------

    def start_session(self, name: str, expires: float) -> str:
        """A new console session of ``name`` until ``expires`` (epoch seconds): its random id,
        which only the signed cookie carries (the table keeps its digest and a signature).
        Ended and expired sessions are dropped here, so the table holds only live ones and
        recent sign-outs."""
        sid = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        row = _Values(name=name, id_sha256=token_digest(sid), created_at=_stamp(now),
                      expires_at=_stamp(datetime.fromtimestamp(expires, UTC)))
        with self._engine.begin() as conn:
            conn.execute(delete(sessions_table).where(or_(
                sessions_table.c.expires_at < _stamp(now), sessions_table.c.ended_at.is_not(None))))
            conn.execute(sessions_table.insert().values(
                id_sha256=row.id_sha256, name=name, created_at=row.created_at,
                expires_at=row.expires_at, signature=self.keyring.sign(session_payload(row))))
        return sid

    def session_state(self, sid: str, name: str) -> str:
        """``"live"``: console session ``sid`` of ``name`` was started here, its row's
        signature holds, and it has not ended or expired; ``"unverified"``: its row does not
        verify (made, revived, moved or extended outside Lacuna; logged); else ``"none"``.
        One indexed read per request: a revoked cookie stops at once, in every worker."""
        if not sid:
            return "none"
        with self._engine.connect() as conn:
            row = conn.execute(select(sessions_table).where(
                sessions_table.c.id_sha256 == token_digest(sid))).first()
        if row is None:
            return "none"
        if not self._session_ok(row):
            log.error("refused console session %s… of %r: its row in lacuna_console_sessions "
                      "does not match its signature (made or changed outside Lacuna, or "
                      "started before sessions were signed); its holder signs in again",
                      row.id_sha256[:8], row.name)
            return "unverified"
        live = row.name == name and row.ended_at is None and row.expires_at > _stamp()
        if live and self._session_ended_on_trail(row):
            log.error("refused console session %s… of %r: the audit trail records its end, so "
                      "its row in lacuna_console_sessions was put back outside Lacuna; its "
                      "holder signs in again", row.id_sha256[:8], row.name)
            return "unverified"
        return "live" if live else "none"

    def session_active(self, sid: str, name: str) -> bool:
        """Whether console session ``sid`` of ``name`` is live (:meth:`session_state`)."""
        return self.session_state(sid, name) == "live"

    def _end_sessions_in(self, conn: Any, where: Any) -> _Rows:
        """End the live sessions ``where`` selects in ``conn``'s transaction, each row signed
        again as ended (a row that did not verify is ended too, and not vouched for); the rows
        ended, for :meth:`_record_session_ends` once the transaction is committed."""
        at = _stamp()
        rows = conn.execute(select(sessions_table).where(
            where, sessions_table.c.ended_at.is_(None))).all()
        done = []
        for r in rows:
            ended = _Values(name=r.name, id_sha256=r.id_sha256, created_at=r.created_at,
                            expires_at=r.expires_at, ended_at=at)
            signature = (self.keyring.sign(session_payload(ended)) if self._session_ok(r)
                         else r.signature)
            if conn.execute(update(sessions_table).where(
                    sessions_table.c.id_sha256 == r.id_sha256,
                    sessions_table.c.ended_at.is_(None)).values(
                    ended_at=at, signature=signature)).rowcount:
                done.append(r)
        return done

    def _record_session_ends(self, ended: _Rows, why: str, by: Any = None) -> None:
        """Append to the audit trail that these sessions ended, so that a row from before,
        put back with its signature, is refused (:meth:`session_state`). ``by``: who ended
        them (default: the sessions' user, signing out)."""
        from lacuna.audit.record import event_body

        for name in sorted({r.name for r in ended}):
            ids = [r.id_sha256 for r in ended if r.name == name]
            actor = by if by is not None else (name, "")
            body = event_body(IDENTITY_KIND, user=actor, session="lacuna-console",
                              what={"action": SESSION_ACTION, "event": why, "user": name},
                              reasoning=f"console session(s) of {name} ended: {why}",
                              detail={"user": name, "sessions_ended": ids})
            self._append(body, f"console session(s) of {name!r} ended ({why})",
                         "a copy of the session's row put back in the database would be "
                         "accepted again until it expires")

    def _session_ended_on_trail(self, row: Any) -> bool:
        """Whether the trail records the end of session ``row``: its events since the session
        began, read by the indexed action and time, and of those only the ones recorded since
        this process last looked for this session (by ``seq``; the trail only grows)."""
        from lacuna.audit.schema import records

        with self._session_lock:
            seen = self._session_seen.get(row.id_sha256, 0)
        stmt = select(records.c.seq, records.c.body).where(
            records.c.action == SESSION_ACTION, records.c.timestamp >= row.created_at)
        if seen:
            stmt = stmt.where(records.c.seq > seen)
        with self._engine.connect() as conn:
            found = conn.execute(stmt).all()
        ended = False
        for seq, body in found:
            seen = max(seen, int(seq))
            try:
                detail = json.loads(body).get(IDENTITY_KIND) or {}
                if row.id_sha256 in (detail.get("sessions_ended") or ()):
                    ended = True
            except (ValueError, AttributeError, TypeError):
                continue
        with self._session_lock:
            if ended:  # refused from now on: found again (nothing newer needed) if asked
                self._session_seen.pop(row.id_sha256, None)
            else:
                if len(self._session_seen) >= 10_000:  # forgotten: read again in full
                    self._session_seen.clear()
                self._session_seen[row.id_sha256] = seen
        return ended

    def end_session(self, sid: str, *, why: str = "signed out") -> bool:
        """End console session ``sid`` (sign-out): every copy of its cookie stops working,
        and the trail records it. Returns whether a live session was ended."""
        if not sid:
            return False
        with self._engine.begin() as conn:
            ended = self._end_sessions_in(conn, sessions_table.c.id_sha256 == token_digest(sid))
        if ended:
            self._record_session_ends(ended, why)
        return bool(ended)

    def end_sessions(self, name: str, *, by: Any = None) -> int:
        """End every console session of ``name`` (the user was disabled); how many were live."""
        with self._engine.begin() as conn:
            ended = self._end_sessions_in(conn, sessions_table.c.name == name)
        if ended:
            self._record_session_ends(ended, "user disabled", by if by is not None
                                      else _operator())
        return len(ended)

    def close(self) -> None:
        if self._own_audit and self._audit is not None:
            self._audit.close()
            self._audit, self._own_audit = None, False
        self._engine.dispose()


def _latest_ends(bodies: Iterable[str]) -> dict[str, str]:
    """Per user, the latest ``not_before`` of the trail's identity events ``bodies``."""
    latest: dict[str, str] = {}
    for body in bodies:
        try:
            detail = json.loads(body).get(IDENTITY_KIND) or {}
            user, stamp = detail.get("user"), detail.get("not_before")
        except (ValueError, AttributeError):
            continue
        if isinstance(user, str) and isinstance(stamp, str) and stamp > latest.get(user, ""):
            latest[user] = stamp
    return latest


def _roles_of(text: str) -> list[str] | None:
    try:
        roles = json.loads(text)
    except (ValueError, TypeError):
        return None
    return [str(r) for r in roles] if isinstance(roles, list) else None


def _issue_event(body: str) -> bool:
    """Whether an identity event's body issues a user row (a creation, a replacement, a
    re-signing), cheaply: only those are checked for being intact in the chain."""
    return any(f'"event":"{e}"' in body for e in (*ISSUED, "resigned"))


def _latest_issues(bodies: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per user, ``(created_at, roles)`` of the latest (in trail order) of the issue events
    ``bodies``: ``created`` and ``replaced`` name one user, ``resigned`` a list."""
    latest: dict[str, tuple[str, tuple[str, ...]]] = {}
    for body in bodies:
        try:
            data = json.loads(body)
            detail = data.get(IDENTITY_KIND) or {}
            items = (detail.get("resigned") or () if data["what"]["event"] == "resigned"
                     else (detail,))
            for item in items:
                user, stamp, roles = item.get("user"), item.get("created_at"), item.get("roles")
                if isinstance(user, str) and isinstance(stamp, str) and isinstance(roles, list):
                    latest[user] = (stamp, tuple(str(r) for r in roles))
        except (ValueError, AttributeError, KeyError, TypeError):
            continue
    return latest


def off_trail_message(name: str) -> str:
    """What a caller (and the log) is told about a signed row whose issue is not on the trail."""
    return (f"the record of user {name!r} in lacuna_users is signed, but the audit trail of "
            "this database does not record its creation as it is (no `lacuna users add` made "
            "it here: it was inserted or copied in outside Lacuna, e.g. from a copy of this "
            "database), so it authenticates nobody. An admin re-issues it: lacuna users add "
            f"{name} --role ROLE --replace")


def _operator() -> Any:
    """Who runs ``lacuna users`` when no actor is given: the OS user, as an admin."""
    from lacuna.config import UserConfig

    return UserConfig(role=ADMIN)


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
