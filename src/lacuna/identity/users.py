"""The users table: users, their roles and their API tokens' digests (:class:`UserStore`),
each row signed, its changes on the audit trail, and the tokens it accepts."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, delete, func, select, update

from lacuna.audit.schema import open_state_database, writing
from lacuna.errors import AuditError, ConfigError
from lacuna.identity._rows import (
    SIGNED,
    RowSigner,
    _Rows,
    _Values,
    metadata,
    sessions_table,
    users_table,
)
from lacuna.identity.check import IdentityReport, check_rows
from lacuna.identity.names import canonical_name
from lacuna.identity.principal import (
    VIA_TOKEN,
    AuthenticationError,
    Principal,
    UnknownTokenError,
    check_roles,
)
from lacuna.identity.sessions import SessionStore
from lacuna.identity.tokens import new_token, token_digest
from lacuna.identity.trail import NOT_GRANDFATHERED, ON_TRAIL, UserTrail, _operator
from lacuna.signing import Keyed, Keyring, signature_key_id

# One logger for the whole package, named as before the split: log settings and filters
# that name "lacuna.identity" keep applying to every message.
log = logging.getLogger("lacuna.identity")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


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


_Records = list[UserRecord]  # (``UserStore.list`` hides the builtin in its class body)
_Names = list[str]


class UserStore(Keyed):
    """Users, their roles and their API tokens' digests in the state database, each row signed
    with ``keyring`` (default: :func:`lacuna.signing.default_keyring`, the server's key).

    It owns its collaborators, one concept per module: the rows' signatures
    (:class:`~lacuna.identity._rows.RowSigner`), the audit trail it records user changes on
    and checks rows against (:class:`~lacuna.identity.trail.UserTrail`) and the console
    sessions (:attr:`sessions`, a :class:`~lacuna.identity.sessions.SessionStore`, whose
    methods it also answers as before)."""

    CACHE_S = 10.0  # an accepted token is not looked up again for this long, unless ...
    CHECK_S = 1.0  # ... the users table changed: read at most this often (a disabled or
    #                replaced token stops working within it, in every worker)

    def __init__(self, url: str, keyring: Keyring | None = None, *, audit: Any = None,
                 checkpoint_log: Path | None = None) -> None:
        self._setup(open_state_database(url, metadata), url, keyring, audit, checkpoint_log)

    @classmethod
    def _reading(cls, audit: Any) -> UserStore:
        """A store that only reads the identity tables beside ``audit``'s trail (an
        :class:`~lacuna.audit.AuditStore`, read-only for ``lacuna audit verify``): its engine
        and keys, nothing created or migrated, the engine left open on :meth:`close`."""
        store = cls.__new__(cls)
        store._setup(audit.engine, str(audit.where), audit.keyring, audit, None)
        store._own_engine = False
        return store

    def _setup(self, engine: Any, url: str, keyring: Keyring | None, audit: Any,
               checkpoint_log: Path | None) -> None:
        self._engine = engine
        self._own_engine = True
        self._url = url
        self._keyring = keyring
        self._rows = RowSigner(engine, url, self)
        # the audit trail (an AuditStore) that user changes are recorded on: given (the
        # server's), else opened on the first record (checkpoint_log: the config's)
        self._trail = UserTrail(engine, url, self._rows, audit=audit,
                                checkpoint_log=checkpoint_log)
        self.sessions = SessionStore(engine, self._rows, self._trail)
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._version: tuple[Any, ...] | None = None
        self._check_at = 0.0

    # -- console sessions: the SessionStore's, answered here as before -----------------------

    def start_session(self, name: str, expires: float) -> str:
        """A new console session of ``name`` (:meth:`SessionStore.start_session`)."""
        return self.sessions.start_session(name, expires)

    def session_state(self, sid: str, name: str) -> str:
        """``"live"``, ``"unverified"`` or ``"none"`` (:meth:`SessionStore.session_state`)."""
        return self.sessions.session_state(sid, name)

    def session_active(self, sid: str, name: str) -> bool:
        """Whether console session ``sid`` of ``name`` is live."""
        return self.sessions.session_active(sid, name)

    def end_session(self, sid: str, *, why: str = "signed out") -> bool:
        """End console session ``sid`` (:meth:`SessionStore.end_session`)."""
        return self.sessions.end_session(sid, why=why)

    def end_sessions(self, name: str, *, by: Any = None) -> int:
        """End every console session of ``name`` (:meth:`SessionStore.end_sessions`)."""
        return self.sessions.end_sessions(name, by=by)

    def grandfather(self, *, by: Any = None) -> list[str] | None:
        """Record once which legacy rows the trail takes on trust
        (:meth:`UserTrail.grandfather`): the server's first start since the upgrade."""
        return self._trail.grandfather(by=by)

    def _signed(self, values: _Values, *, version: int = 2) -> str:
        """``values`` signed for this database (``version`` 2), refused while the trail names
        another id; or as before (1)."""
        return self._rows.sign_user(values, version=version,
                                    problem=self._trail.database_problem)

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
            ConfigError: a bad name or role, the user exists and ``replace`` is false, or
                another user's name differs from ``name`` only by case (canonically equal:
                :func:`~lacuna.identity.names.canonical_name`).
        """
        if not _NAME.match(name):
            msg = (f"user name {name!r} is not valid: letters, digits and . _ @ + -, "
                   "at most 128 characters")
            raise ConfigError(msg)
        checked = check_roles(roles)
        token = new_token()
        made = _Values(name=name, roles=json.dumps(list(checked)),
                       token_sha256=token_digest(token), created_at=self._trail.new_stamp(name),
                       disabled=False)
        values = {"roles": made.roles, "token_sha256": made.token_sha256,
                  "created_at": made.created_at, "disabled": False,
                  "signature": self._signed(made)}
        with writing(self._engine) as conn:
            others = [n for n in _namesakes(conn, name) if n != name]
            if others:
                msg = (f"user name {name!r} is the same person as the existing user "
                       f"{others[0]!r}: Lacuna compares names without case, spacing or Unicode "
                       "compatibility forms (docs/server.md, \"One name, one person\"), so two "
                       f"accounts would be one identity in exception approvals. Use {others[0]!r} "
                       "(with --replace for new roles or a new token) or choose another name")
                raise ConfigError(msg)
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
                ended = self.sessions.end_in(conn, sessions_table.c.name == name)
            else:
                conn.execute(users_table.insert().values(name=name, **values))
        # On the trail: the issue of this row, which authentication looks for (a row signed
        # for this database but not issued here is refused), and for a replacement the end of
        # the rows before it (the old token, the old roles). Never the token or its digest.
        event = "replaced" if exists else "created"
        try:
            self._trail.record_issue(name, event, made.created_at, list(checked), by)
        except Exception as exc:
            if not exists:  # nothing issued: the row goes, and the caller is told
                with writing(self._engine) as conn:
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
            self.sessions.record_ends(ended, "token replaced", by if by is not None
                                      else _operator())
        return token

    def disable(self, name: str, *, by: Any = None) -> None:
        """Stop ``name``'s token from working (the user row stays for the record, signed as
        disabled: whatever else it holds, a disabled row lets nobody in)."""
        self._cache.clear()
        with writing(self._engine) as conn:
            row = conn.execute(select(users_table).where(users_table.c.name == name)).first()
            if row is None:
                msg = f"no user {name!r}; list them with: lacuna users list"
                raise ConfigError(msg)
            done = _Values(name=row.name, roles=row.roles, token_sha256=row.token_sha256,
                           created_at=row.created_at, disabled=True)
            # Signed again only when it verified: a row changed outside Lacuna is disabled
            # but not vouched for (it stays unverified: it lets nobody in either way)
            version = self._rows.version(row)
            signature = self._signed(done, version=version) if version else row.signature
            conn.execute(update(users_table).where(users_table.c.name == name).values(
                disabled=True, signature=signature))
        # on the trail: the row from before (enabled, its signature good) counts no more
        self._trail.record_end(name, "disabled",
                               datetime.now(UTC).isoformat(timespec="microseconds"), by,
                               _roles_of(row.roles))
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
            out.append(UserRecord(r.name, roles, bool(r.disabled), self._rows.user_state(r),
                                  signature_key_id(r.signature), self._trail.state(r)))
        return out

    def resign(self, names: Iterable[str] | None = None, *, by: Any = None) -> _Records:
        """Sign, as they are now, the rows that carry no signature (written before revision
        0012) and the rows signed before creations were on the audit trail (:data:`LEGACY`,
        and :data:`NOT_GRANDFATHERED` only when named): of ``names``, or all; the trail
        records the issue of each (``resigned``), so they are tied to this database and its
        trail like a row made today. Rows whose signature does not match are left alone (they
        were changed after signing: re-issue them with ``add(..., replace=True)``). Returns the
        rows signed.

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
                    r.signature and self._rows.version(r) != 1):
                continue
            # a legacy row the trail did not take on trust at the upgrade (copied in since) is
            # signed only when named: "all" means the rows the upgrade found
            if (wanted is None and r.signature
                    and self._trail.state(r) == NOT_GRANDFATHERED):
                continue
            try:
                pending.append((r, check_roles(json.loads(r.roles))))
            except (ValueError, TypeError, ConfigError) as exc:
                log.error("not signing user %r: its roles %r are not valid (%s); re-issue it "
                          "with lacuna users add --replace", r.name, r.roles, exc)
        if not pending:
            return []
        # first on the trail (an issue recorded for a row left unsigned lets nobody in), then
        # signed: a row signed for this database without its issue on the trail would be
        # refused
        try:
            self._trail.record_resigned([r for r, _ in pending], by)
        except Exception as exc:
            msg = (f"no user record was signed: the audit trail could not record it ({exc}). "
                   "Check the trail (lacuna audit verify) and run the command again.")
            log.error("%s", msg)
            raise AuditError(msg) from exc
        signed: _Records = []
        with writing(self._engine) as conn:
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
            raise UnknownTokenError(msg)
        state = self._rows.user_state(row)
        if state != SIGNED:
            raise self._rows.refuse(row, state)
        if row.disabled:
            msg = f"user {row.name!r} is disabled; ask an admin"
            raise AuthenticationError(msg)
        self._trail.check_current(row)
        principal = Principal(row.name, tuple(json.loads(row.roles)), via=VIA_TOKEN)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (principal, now + self.CACHE_S)
        return principal

    def has_user(self, name: str) -> bool:
        """Whether the users table holds a row whose name is ``name`` or canonically equal to
        it (:func:`~lacuna.identity.names.canonical_name`: ``JANE`` and ``jane`` are one
        person), enabled or not, verified or not: the name is taken by a local user."""
        return bool(self.namesakes(name))

    def namesakes(self, name: str) -> _Names:
        """The local users' names canonically equal to ``name`` (``name`` itself included
        when it is one), by name."""
        with self._engine.connect() as conn:
            return _namesakes(conn, name)

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
        state = self._rows.user_state(row)
        if state != SIGNED:
            raise self._rows.refuse(row, state)
        if row.disabled:
            return None
        self._trail.check_current(row)
        return Principal(row.name, tuple(json.loads(row.roles)))

    def verify(self) -> IdentityReport:
        """Every user and console session row checked as sign-in checks it: which would be
        refused, and why (``lacuna audit verify`` reports them)."""
        return check_rows(self._engine, self._rows, self._trail, self.sessions)

    def close(self) -> None:
        self._trail.close()
        if self._own_engine:
            self._engine.dispose()


def verify_identities(audit: Any) -> IdentityReport:
    """The identity rows beside ``audit``'s trail (an :class:`~lacuna.audit.AuditStore`, which
    may be read-only) checked with its keys: :meth:`UserStore.verify`, writing nothing."""
    store = UserStore._reading(audit)
    try:
        return store.verify()
    finally:
        store.close()


def _namesakes(conn: Any, name: str) -> list[str]:
    """The names in the users table canonically equal to ``name``. Names made by
    :meth:`UserStore.add` are ASCII, whose canonical form is their lower case: the database
    finds the candidates by ``lower(name)``, each then checked with :func:`canonical_name`."""
    wanted = canonical_name(name)
    if not wanted:
        return []
    rows = conn.execute(select(users_table.c.name).where(
        func.lower(users_table.c.name) == wanted).order_by(users_table.c.name)).all()
    return [str(r.name) for r in rows if canonical_name(str(r.name)) == wanted]


def _roles_of(text: str) -> list[str] | None:
    try:
        roles = json.loads(text)
    except (ValueError, TypeError):
        return None
    return [str(r) for r in roles] if isinstance(roles, list) else None
