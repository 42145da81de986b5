"""What ``lacuna audit verify`` checks of the identity rows beside the trail: every user and
console session row that would be refused (its signature does not hold, or the audit trail does
not back it), said as sign-in says it, with the remedy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select

from lacuna.identity._rows import SIGNED, _stamp, sessions_table, unverified_message, users_table
from lacuna.identity.trail import LEGACY

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from lacuna.identity._rows import RowSigner
    from lacuna.identity.sessions import SessionStore
    from lacuna.identity.trail import UserTrail


@dataclass(frozen=True, slots=True)
class IdentityReport:
    """The identity rows of a state database, checked as sign-in checks them.

    ``problems`` says, one line per row, each user or console session row that authenticates
    nobody (and why, and what to do); ``legacy`` names the users accepted on a signature made
    before creations were on the trail (not a failure: ``lacuna users resign`` ties them).
    """

    users: int = 0  # user rows checked
    sessions: int = 0  # console session rows checked
    problems: tuple[str, ...] = ()
    legacy: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every row verifies (legacy rows do)."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON (the server's ``/api/v1/audit/verify``)."""
        return {
            "ok": self.ok,
            "users": self.users,
            "sessions": self.sessions,
            "problems": list(self.problems),
            "legacy": list(self.legacy),
        }


def check_rows(
    engine: Engine, rows: RowSigner, trail: UserTrail, sessions_of: SessionStore
) -> IdentityReport:
    """Every row of the users and console sessions tables in ``engine`` checked as sign-in
    checks it, by a :class:`~lacuna.identity.UserStore`'s collaborators (nothing is written or
    logged as a refusal): tables that do not exist hold nothing."""
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        users = (
            conn.execute(select(users_table).order_by(users_table.c.name)).all()
            if users_table.name in names
            else []
        )
        sessions = (
            conn.execute(
                select(sessions_table).order_by(sessions_table.c.name, sessions_table.c.created_at)
            ).all()
            if sessions_table.name in names
            else []
        )
    problems: list[str] = []
    legacy: list[str] = []
    database = trail.database_problem() if users else None
    if database is not None:
        problems.append(database)
    for row in users:
        state = rows.user_state(row)
        if state != SIGNED:
            problems.append(unverified_message(row.name, state))
            continue
        if row.disabled:  # lets nobody in whatever the trail says; its signature holds
            continue
        why = trail.current_problem(row)
        if why is not None:
            problems.append(why)
        elif trail.state(row) == LEGACY:
            legacy.append(row.name)
    now = _stamp()
    for row in sessions:
        what = f"console session {row.id_sha256[:8]}… of {row.name!r}"
        if not sessions_of.ok(row):
            problems.append(
                f"{what}: its row in lacuna_console_sessions does not match its signature "
                "(made or changed outside Lacuna, or started before sessions were signed), so "
                "it is refused; its holder signs in again"
            )
        elif row.ended_at is None and row.expires_at > now and sessions_of.ended_on_trail(row):
            problems.append(
                f"{what}: the audit trail records its end, but its row in "
                "lacuna_console_sessions is live again (put back outside Lacuna), so it is "
                "refused; its holder signs in again"
            )
    return IdentityReport(
        users=len(users), sessions=len(sessions), problems=tuple(problems), legacy=tuple(legacy)
    )
