"""The identity tables (``lacuna_users``, ``lacuna_console_sessions``) and their signatures:
what each row's signature covers, and the checks of it that users and sessions share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Column, MetaData, String, Table, Text

from lacuna.errors import ConfigError
from lacuna.identity.principal import UnverifiedIdentityError
from lacuna.redact import redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from lacuna.signing import Keyed, Keyring

# One logger for the whole package, named as before the split: log settings and filters
# that name "lacuna.identity" keep applying to every message.
log = logging.getLogger("lacuna.identity")

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

USER_KIND = "lacuna-user-v1"  # what a signature is over, so one row's cannot pass as another's
# ... since creations are on the trail: the row names its state database, and its issue (a
# creation, replacement or re-signing) must be on that database's trail (docs/server.md)
USER_KIND_V2 = "lacuna-user-v2"
SESSION_KIND = "lacuna-console-session-v1"
UNSIGNED, INVALID, SIGNED = "unsigned", "invalid", "signed"


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


def _stamp(when: datetime | None = None) -> str:
    """A UTC time as the sessions table keeps it: one fixed-width ISO form, so that text order
    is time order on every database."""
    return (when or datetime.now(UTC)).isoformat(timespec="microseconds")


_Rows = list[Any]


class RowSigner:
    """Signs identity rows and checks their signatures with a store's keys (``keys``: the
    :class:`~lacuna.identity.UserStore`, whose ``keyring`` is the one it was given, else the
    installation's), and reads the state database's id that newer user rows name."""

    def __init__(self, engine: Engine, url: str, keys: Keyed) -> None:
        self._engine = engine
        self._url = url
        self._keys = keys
        self._database: str | None = None  # the state database's id (lacuna.state.database_id)

    @property
    def keyring(self) -> Keyring:
        return self._keys.keyring

    def database_id(self) -> str | None:
        """The users table's state database id (read once; None: its row was deleted)."""
        if self._database is None:
            from lacuna.state import database_id

            with self._engine.connect() as conn:
                self._database = database_id.read(conn)
        return self._database

    def sign_user(self, values: _Values, *, version: int = 2,
                  problem: Callable[[], str | None] | None = None) -> str:
        """``values`` signed: as a row tied to this database and its trail (``version`` 2), or
        as before (1: only to sign again a row that was signed so, when it is disabled).
        ``problem`` says why the database's id cannot be trusted (the trail names another).

        Raises:
            ConfigError: the database has no id, or ``problem`` names one (nothing signed).
        """
        if version == 1:
            return self.keyring.sign(user_payload(values))
        database = self.database_id()
        if database is None:
            msg = (f"cannot sign a user record in {redact_url(self._url)}: its state "
                   "database has no id (the row of lacuna_database_id was deleted), so it was "
                   "tampered with. Nothing was changed; run lacuna audit verify.")
            raise ConfigError(msg)
        why = problem() if problem is not None else None
        if why is not None:
            msg = f"cannot sign a user record in {redact_url(self._url)}: {why}"
            raise ConfigError(msg)
        return self.keyring.sign(user_payload(values, database))

    def version(self, row: Any) -> int:
        """2: ``row`` is signed for this database; 1: signed before rows named it (legacy);
        0: unsigned, or its signature does not hold."""
        if not row.signature:
            return 0
        database = self.database_id()
        if database is not None and self.keyring.verify(user_payload(row, database),
                                                        row.signature):
            return 2
        return 1 if self.keyring.verify(user_payload(row), row.signature) else 0

    def user_state(self, row: Any) -> str:
        """:data:`SIGNED`, :data:`UNSIGNED` or :data:`INVALID` for a ``lacuna_users`` row."""
        if not row.signature:
            return UNSIGNED
        return SIGNED if self.version(row) else INVALID

    def refuse(self, row: Any, state: str) -> UnverifiedIdentityError:
        """The error (logged) for a user row that does not verify."""
        message = unverified_message(row.name, state)
        log.error("refused a credential: %s", message)
        return UnverifiedIdentityError(message)

    def sign_session(self, values: _Values) -> str:
        """A ``lacuna_console_sessions`` row's signature."""
        return self.keyring.sign(session_payload(values))

    def session_ok(self, row: Any) -> bool:
        """Whether a ``lacuna_console_sessions`` row's signature holds."""
        return bool(row.signature) and self.keyring.verify(session_payload(row), row.signature)
