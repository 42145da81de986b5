"""User changes on the audit trail: each issue of a user row (created, replaced, resigned),
each disable and each end of console sessions is an ``identity`` event on the hash-chained
trail, and a signed row the trail does not back (an older copy put back, a row not issued here)
authenticates nobody."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, inspect, select

from lacuna.identity._rows import users_table
from lacuna.identity.principal import ADMIN, UnverifiedIdentityError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from lacuna.identity._rows import RowSigner

# One logger for the whole package, named as before the split: log settings and filters
# that name "lacuna.identity" keep applying to every message.
log = logging.getLogger("lacuna.identity")

IDENTITY_KIND = IDENTITY_ACTION = "identity"  # the audit trail's events of user changes
SESSION_ACTION = "console_session"  # ... and of console sessions ended
# A signed row's standing on the audit trail (UserRecord.trail): its issue is recorded there,
# it was signed before issues were (accepted on its signature), or it is not (refused).
ON_TRAIL, LEGACY, OFF_TRAIL = "on trail", "legacy", "not on trail"
# ... or it was signed before issues were, but it is not among the rows the trail took on trust
# when this database was upgraded (:data:`GRANDFATHERED`): refused until resigned by name
NOT_GRANDFATHERED = "legacy, not grandfathered"
# the identity event, written once (the server's first start after the upgrade), that lists the
# legacy rows then present: the only ones accepted on their signature from then on
GRANDFATHERED = "grandfathered"
ISSUED = ("created", "replaced")  # identity events that issue a row (and "resigned")


class UserTrail:
    """The audit trail a store of identity rows records its changes on and checks rows against
    (:class:`~lacuna.identity.UserStore` owns one): ``audit`` (an
    :class:`~lacuna.audit.AuditStore`) given (the server's), else opened on ``url`` on the
    first record (``checkpoint_log``: the config's); ``rows`` checks the rows' signatures."""

    def __init__(self, engine: Engine, url: str, rows: RowSigner, *, audit: Any,
                 checkpoint_log: Path | None) -> None:
        self._engine = engine  # the state database (the users table's)
        self._url = url
        self._rows = rows
        self._audit = audit
        self._own_audit = False
        self._checkpoint_log = checkpoint_log
        self._ends: dict[str, str] = {}  # user -> the trail's latest not_before
        # user -> (created_at, roles) of the trail's latest issue of their row (intact records)
        self._issued: dict[str, tuple[str, tuple[str, ...]]] = {}
        # user -> (created_at, roles) of the legacy rows the trail took on trust at the upgrade
        # (its first intact "grandfathered" record; None: it holds none yet)
        self._grandfathered: dict[str, tuple[str, tuple[str, ...]]] | None = None
        # database id -> (seq, event) of the first intact issue (or grandfathered) naming it
        self._named: dict[str, tuple[int, str]] = {}
        self._shape: tuple[Any, ...] | None = None  # (count, max seq) it was read at

    @property
    def audit(self) -> Any:
        """The audit store given, or opened by :meth:`store` (None: not yet)."""
        return self._audit

    def store(self) -> Any:
        """The audit store records go to (opened on first use when none was given)."""
        if self._audit is None:
            from lacuna.audit import AuditStore

            self._audit = AuditStore(self._url, keyring=self._rows.keyring,
                                     checkpoint_log=self._checkpoint_log)
            self._own_audit = True
        return self._audit

    def close(self) -> None:
        """Close the audit store this trail opened (never one it was given)."""
        if self._own_audit and self._audit is not None:
            self._audit.close()
            self._audit, self._own_audit = None, False

    # -- ends on the audit trail (a replayed older row is refused) ----------------------------

    def record_end(self, name: str, event: str, not_before: str, by: Any,
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
        self.append(body, f"user {name!r} was {event}", "until it does, an older copy of "
                     "the user's row put back in the database would be accepted again")

    def append(self, body: dict[str, Any], done: str, unguarded: str) -> None:
        """``body`` on the audit trail. The change it records (``done``) stands when the trail
        cannot be written; what the record would have guarded (``unguarded``) is said loudly."""
        try:
            self.store().record_event(body)
        except Exception as exc:
            log.error("%s, but the audit trail could not record it (%s): %s", done, exc,
                      unguarded)

    def _trail_engine(self) -> Any:
        """Where the trail is read: the audit store's database (an in-memory ``sqlite://``
        store's trail is its own), else this store's (the same database)."""
        engine = getattr(self._audit, "engine", None)
        return engine if engine is not None else self._engine

    def _trail_exists(self) -> bool:
        """Whether the trail's table is there (True when that cannot be read either)."""
        from lacuna.audit.schema import records

        try:
            with self._trail_engine().connect() as conn:
                return bool(inspect(conn).has_table(records.name))
        except Exception:
            return True

    def read(self) -> None:
        """Read the trail's identity events into ``_ends`` and ``_issued``, by their indexed
        action, again only when their count or newest ``seq`` changed (users change rarely).
        An end counts as read (inserting one refuses more, never less); an issue only from a
        record that is intact and linked into the chain (:func:`~lacuna.audit.verify.
        intact_records`): inserting one would let a row in."""
        with self._trail_engine().connect() as conn:
            self._read_in(conn)

    def _read_in(self, conn: Any) -> None:
        """:meth:`read` on ``conn`` (an SQLAlchemy connection to the trail's database, in
        whatever transaction it is in)."""
        from lacuna.audit.schema import records
        from lacuna.audit.store import READ_COLUMNS
        from lacuna.audit.verify import intact_records

        shape = tuple(conn.execute(select(func.count(), func.max(records.c.seq)).where(
            records.c.action == IDENTITY_ACTION)).one())
        if shape == self._shape:
            return
        rows = conn.execute(select(*READ_COLUMNS).where(
            records.c.action == IDENTITY_ACTION).order_by(records.c.seq)).all()
        issues = [r for r in rows if _issue_event(r.body)]
        keyring = getattr(self._audit, "keyring", None) or self._rows.keyring
        good = {int(r.seq) for r in intact_records(conn, issues, keyring)}
        for r in issues:
            if int(r.seq) not in good:
                what = ("the legacy users taken on trust at the upgrade"
                        if _says(r.body, GRANDFATHERED) else "an issue of a user")
                log.error("audit record #%s (%s) is not intact in the chain (forged, edited "
                          "or copied from another trail): not relied on; run lacuna audit "
                          "verify", r.seq, what)
        self._ends = _latest_ends(r.body for r in rows)
        self._issued = _latest_issues(r.body for r in issues if int(r.seq) in good)
        self._grandfathered = _first_grandfathered(r.body for r in issues if int(r.seq) in good)
        if self._grandfathered is None and any(_says(r.body, GRANDFATHERED) for r in issues):
            # one is there but none is intact (edited, or forged without the key): the upgrade's
            # record cannot be read, so no legacy row is taken on trust (and none is recorded
            # again: a new record would take on trust the rows present now)
            self._grandfathered = {}
        self._named = _databases_named([r for r in issues if int(r.seq) in good])
        self._shape = shape

    def database_problem(self) -> str | None:
        """Why this state database's id row cannot be trusted, or None: the trail's intact
        issues of users (which name the id since it was bound to them) or its
        :data:`GRANDFATHERED` record (written at the server's first start, so a database whose
        users are all legacy has one too) name another id, so the row was changed outside
        Lacuna (a plain row: whoever writes the database can)."""
        try:
            self.read()
        except Exception as exc:
            if not self._trail_exists():
                return None  # no trail yet: it names nothing
            return (f"the audit trail cannot be read to check the state database's id in "
                    f"lacuna_database_id ({exc}), so nothing is signed for it; make the "
                    "database readable and run lacuna audit verify")
        mine = self._rows.database_id()
        others = {d: seq for d, seq in self._named.items() if d != mine}
        if not others:
            return None
        named, (seq, event) = min(others.items(), key=lambda item: item[1])
        what = ("the legacy users taken on trust at the upgrade" if event == GRANDFATHERED
                else "an issue of a user")
        return (f"the state database's id in lacuna_database_id is {mine!r}, but audit record "
                f"#{seq} ({what}, intact in the chain) names {named!r}: the id row "
                "was changed outside Lacuna (or the trail was copied in from another "
                "database), so nothing is signed for it. Keep the database as evidence, run "
                "lacuna audit verify, and put the id the trail names back (lacuna audit list "
                "--action identity --json shows it)")

    def ended_before(self, name: str) -> str | None:
        """The latest ``not_before`` the audit trail records for ``name`` (None: none)."""
        self.read()
        return self._ends.get(name)

    def issue_of(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """``(created_at, roles)`` of the trail's latest issue of ``name``'s row (None: none
        recorded, in an intact record)."""
        self.read()
        return self._issued.get(name)

    def new_stamp(self, name: str) -> str:
        """A new row's ``created_at``: now, but always after the trail's last end of ``name``
        (a clock behind the one that disabled them must not make the new row look older)."""
        now = datetime.now(UTC)
        try:
            ended = self.ended_before(name)
        except Exception:  # no trail to read yet: nothing ended
            ended = None
        if ended is not None:
            try:
                after = datetime.fromisoformat(ended) + timedelta(microseconds=1)
            except ValueError:
                after = now
            now = max(now, after)
        return now.isoformat(timespec="microseconds")

    def check_current(self, row: Any) -> None:
        """Refuse (logged) a row that verifies but the trail does not back
        (:meth:`current_problem`)."""
        message = self.current_problem(row)
        if message is not None:
            log.error("refused a credential: %s", message)
            raise UnverifiedIdentityError(message)

    def current_problem(self, row: Any) -> str | None:
        """Why a row that verifies authenticates nobody, or None: it was stamped before the
        trail's last end of its user (an older row put back: a replay of the row before
        ``disable`` or ``--replace``), or it is signed for this database and its issue is not
        the trail's latest of its user as it is (made outside ``lacuna users`` here: copied
        from a copy of this database, or put back after a newer issue)."""
        ended = self.ended_before(row.name)
        if ended is not None and row.created_at < ended:
            return (f"the record of user {row.name!r} in lacuna_users is older than the audit "
                    f"trail's last change of that user ({ended}): an earlier copy put back "
                    "outside Lacuna, so it authenticates nobody. An admin re-issues it: "
                    f"lacuna users add {row.name} --role ROLE --replace")
        # a row signed for this database must be the trail's latest issue of its user; so must
        # a legacy row (signed before) once the trail has issued that user at all: a legacy
        # row from elsewhere put in place of a user the trail knows is no legacy of theirs
        version = self._rows.version(row)
        issued = self.issue_of(row.name) is not None
        if (version == 2 or issued) and not self.on_trail(row):
            return off_trail_message(row.name)
        # a legacy row of a user the trail never issued: only one the trail took on trust at
        # the upgrade (one copied in since, from a database sharing the key, is nobody)
        if version == 1 and not issued and not self.grandfathered_row(row):
            return not_grandfathered_message(row.name)
        return None

    def grandfathered_row(self, row: Any) -> bool:
        """Whether legacy ``row`` is accepted on its signature: the trail lists it (stamp and
        roles) in its first intact :data:`GRANDFATHERED` record, or has none yet (the
        database was not started since the upgrade: the server writes it before serving).
        A trail whose only such records are not intact accepts none."""
        self.read()
        if self._grandfathered is None:
            return True
        return self._grandfathered.get(row.name) == (row.created_at, _roles(row.roles))

    def grandfather(self, *, by: Any = None) -> list[str] | None:
        """Record on the trail, once, the legacy rows (signed before creations were on the
        trail) present now, of users it never issued: from then on only those are accepted on
        their signature. The server does it at start-up, before it serves anyone. Returns the
        names recorded, or None when the trail already holds such a record (nothing done).

        Once per database even when several processes start at once (the server's workers):
        whether the trail holds one is asked again inside the append's write transaction
        (:meth:`~lacuna.audit.AuditStore.record_event_once`), so one of them appends it and
        the others find it. The record names the state database's id, as issues do
        (:meth:`database_problem` has it from the first start).

        Raises:
            Exception: what the trail raises when it cannot record it.
        """
        from lacuna.audit.record import event_body

        self.read()
        if self._grandfathered is not None:
            return None
        with self._engine.connect() as conn:
            rows = conn.execute(select(users_table).order_by(users_table.c.name)).all()
        kept = [r for r in rows if r.signature and self._rows.version(r) == 1
                and self.issue_of(r.name) is None]
        actor = by if by is not None else _operator()
        done = self.store().record_event_once(event_body(
            IDENTITY_KIND, user=actor, session="lacuna-users",
            what={"action": IDENTITY_ACTION, "event": GRANDFATHERED},
            reasoning=f"{len(kept)} user record(s) signed before creations were on the audit "
                      "trail, accepted on their signature from now on (no other such record is)",
            detail={GRANDFATHERED: [{"user": r.name, "roles": list(_roles(r.roles) or ()),
                                     "disabled": bool(r.disabled),
                                     "created_at": r.created_at} for r in kept],
                    **self.naming()}), self._grandfathered_in)
        return None if done is None else [r.name for r in kept]

    def _grandfathered_in(self, conn: Any) -> bool:
        """Whether the trail holds an intact :data:`GRANDFATHERED` record, read on ``conn``
        (in the append's write transaction: another process's, committed while this one
        waited for the lock, is seen). Either way this trail's view is read anew."""
        self._read_in(conn)
        return self._grandfathered is not None

    def on_trail(self, row: Any) -> bool:
        """Whether the trail's latest issue of ``row``'s user is this row (stamp and roles)."""
        issued = self.issue_of(row.name)
        try:
            roles = tuple(str(r) for r in json.loads(row.roles))
        except (ValueError, TypeError):
            return False
        return issued is not None and issued == (row.created_at, roles)

    def state(self, row: Any) -> str:
        """:data:`ON_TRAIL`, :data:`LEGACY`, :data:`NOT_GRANDFATHERED` or :data:`OFF_TRAIL`
        for a signed row ("" else)."""
        version = self._rows.version(row)
        if version == 1 and self.issue_of(row.name) is None:
            return LEGACY if self.grandfathered_row(row) else NOT_GRANDFATHERED
        if version:
            return (ON_TRAIL if version == 2 else LEGACY) if self.on_trail(row) else OFF_TRAIL
        return ""

    def record_resigned(self, rows: list[Any], by: Any) -> None:
        """Append that ``rows`` (user rows, as they are now) are vouched for and re-signed for
        this database (``resigned``): each user, roles, disabled and stamp, never the token or
        its digest. Raises what the trail raises."""
        from lacuna.audit.record import event_body

        actor = by if by is not None else _operator()
        self.store().record_event(event_body(
            IDENTITY_KIND, user=actor, session="lacuna-users",
            what={"action": IDENTITY_ACTION, "event": "resigned"},
            reasoning=f"signed {len(rows)} user record(s) written before signatures or "
                      "before their creation was on the audit trail",
            detail={"resigned": [{"user": r.name, "roles": list(_roles(r.roles) or ()),
                                  "disabled": bool(r.disabled), "created_at": r.created_at}
                                 for r in rows], **self.naming()}))

    def naming(self) -> dict[str, str]:
        """What an issue record says of its database: its id, so the id row cannot be changed
        without the trail saying otherwise (:meth:`database_problem`)."""
        database = self._rows.database_id()
        return {} if database is None else {"database": database}

    def record_issue(self, name: str, event: str, created_at: str, roles: list[str],
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
                                  "not_before": created_at, **self.naming()})
        self.store().record_event(body)


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


def _issue_event(body: str) -> bool:
    """Whether an identity event's body issues a user row (a creation, a replacement, a
    re-signing) or grandfathers legacy rows, cheaply: only those are checked for being intact
    in the chain."""
    return any(_says(body, e) for e in (*ISSUED, "resigned", GRANDFATHERED))


def _says(body: str, event: str) -> bool:
    """Whether an identity event's stored body (canonical JSON) names ``event``."""
    return f'"event":"{event}"' in body


def _first_grandfathered(bodies: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]] | None:
    """Per user, ``(created_at, roles)`` of the legacy rows the first :data:`GRANDFATHERED`
    record of ``bodies`` (intact records, in trail order) lists; None when there is none."""
    for body in bodies:
        try:
            data = json.loads(body)
            if data["what"]["event"] != GRANDFATHERED:
                continue
            items = (data.get(IDENTITY_KIND) or {}).get(GRANDFATHERED) or ()
        except (ValueError, AttributeError, KeyError, TypeError):
            continue
        kept: dict[str, tuple[str, tuple[str, ...]]] = {}
        for item in items:
            user, stamp, roles = item.get("user"), item.get("created_at"), item.get("roles")
            if isinstance(user, str) and isinstance(stamp, str) and isinstance(roles, list):
                kept[user] = (stamp, tuple(str(r) for r in roles))
        return kept
    return None


def _databases_named(rows: Iterable[Any]) -> dict[str, tuple[int, str]]:
    """Per state database id named by the issue records ``rows`` (intact, in trail order),
    the ``seq`` and event of the first that names it."""
    named: dict[str, tuple[int, str]] = {}
    for row in rows:
        try:
            data = json.loads(row.body)
            database = (data.get(IDENTITY_KIND) or {}).get("database")
            event = str((data.get("what") or {}).get("event"))
        except (ValueError, AttributeError):
            continue
        if isinstance(database, str):
            named.setdefault(database, (int(row.seq), event))
    return named


def _roles(text: str) -> tuple[str, ...] | None:
    """A row's roles column as a tuple (None: not a JSON list)."""
    try:
        roles = json.loads(text)
    except (ValueError, TypeError):
        return None
    return tuple(str(r) for r in roles) if isinstance(roles, list) else None


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


def not_grandfathered_message(name: str) -> str:
    """What a caller (and the log) is told about a legacy row the trail did not take on trust
    at the upgrade."""
    return (f"the record of user {name!r} in lacuna_users is signed as rows were before "
            "creations were on the audit trail (lacuna-user-v1), but it is not among the users "
            "this database's trail took on trust when it was upgraded, and no `lacuna users "
            "add` or `resign` here made it (inserted or copied in outside Lacuna, e.g. from "
            "another database sharing the signing key, or made by an older Lacuna since), so "
            "it authenticates nobody. An admin checks it (lacuna users list) and ties it to "
            f"this trail (lacuna users resign {name}), or re-issues it: lacuna users add "
            f"{name} --role ROLE --replace")


def _operator() -> Any:
    """Who runs ``lacuna users`` when no actor is given: the OS user, as an admin."""
    from lacuna.config import UserConfig

    return UserConfig(role=ADMIN)
