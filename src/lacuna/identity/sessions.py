"""The console's signed-in sessions: started, checked on every request, and ended (signed out,
or with their user), each row signed and each end recorded on the audit trail."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update

from lacuna.audit.schema import writing
from lacuna.identity._rows import _Rows, _stamp, _Values, sessions_table
from lacuna.identity.tokens import token_digest
from lacuna.identity.trail import IDENTITY_KIND, SESSION_ACTION, _operator

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from lacuna.identity._rows import RowSigner
    from lacuna.identity.trail import UserTrail

# One logger for the whole package, named as before the split: log settings and filters
# that name "lacuna.identity" keep applying to every message.
log = logging.getLogger("lacuna.identity")


class SessionStore:
    """Console sessions in ``lacuna_console_sessions`` (:class:`~lacuna.identity.UserStore`
    owns one, beside its users): ``rows`` signs and checks them, ``trail`` records their
    ends."""

    def __init__(self, engine: Engine, rows: RowSigner, trail: UserTrail) -> None:
        self._engine = engine
        self._rows = rows
        self._trail = trail
        # live console session digest -> the trail's newest session-end seq already read for
        # it: a request reads only the ends recorded since (a flood of sign-outs is read once
        # per session, not on every request of every session)
        self._session_seen: dict[str, int] = {}
        self._session_lock = threading.Lock()

    def ok(self, row: Any) -> bool:
        """Whether a session row's signature holds."""
        return self._rows.session_ok(row)

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
                expires_at=row.expires_at, signature=self._rows.sign_session(row)))
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
        if not self.ok(row):
            log.error("refused console session %s… of %r: its row in lacuna_console_sessions "
                      "does not match its signature (made or changed outside Lacuna, or "
                      "started before sessions were signed); its holder signs in again",
                      row.id_sha256[:8], row.name)
            return "unverified"
        live = row.name == name and row.ended_at is None and row.expires_at > _stamp()
        if live and self.ended_on_trail(row):
            log.error("refused console session %s… of %r: the audit trail records its end, so "
                      "its row in lacuna_console_sessions was put back outside Lacuna; its "
                      "holder signs in again", row.id_sha256[:8], row.name)
            return "unverified"
        return "live" if live else "none"

    def session_active(self, sid: str, name: str) -> bool:
        """Whether console session ``sid`` of ``name`` is live (:meth:`session_state`)."""
        return self.session_state(sid, name) == "live"

    def end_in(self, conn: Any, where: Any) -> _Rows:
        """End the live sessions ``where`` selects in ``conn``'s transaction, each row signed
        again as ended (a row that did not verify is ended too, and not vouched for); the rows
        ended, for :meth:`record_ends` once the transaction is committed."""
        at = _stamp()
        rows = conn.execute(select(sessions_table).where(
            where, sessions_table.c.ended_at.is_(None))).all()
        done = []
        for r in rows:
            ended = _Values(name=r.name, id_sha256=r.id_sha256, created_at=r.created_at,
                            expires_at=r.expires_at, ended_at=at)
            signature = (self._rows.sign_session(ended) if self.ok(r)
                         else r.signature)
            if conn.execute(update(sessions_table).where(
                    sessions_table.c.id_sha256 == r.id_sha256,
                    sessions_table.c.ended_at.is_(None)).values(
                    ended_at=at, signature=signature)).rowcount:
                done.append(r)
        return done

    def record_ends(self, ended: _Rows, why: str, by: Any = None) -> None:
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
            self._trail.append(body, f"console session(s) of {name!r} ended ({why})",
                               "a copy of the session's row put back in the database would "
                               "be accepted again until it expires")

    def ended_on_trail(self, row: Any) -> bool:
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
        with writing(self._engine) as conn:  # end_in reads, then writes
            ended = self.end_in(conn, sessions_table.c.id_sha256 == token_digest(sid))
        if ended:
            self.record_ends(ended, why)
        return bool(ended)

    def end_sessions(self, name: str, *, by: Any = None) -> int:
        """End every console session of ``name`` (the user was disabled); how many were live."""
        with writing(self._engine) as conn:
            ended = self.end_in(conn, sessions_table.c.name == name)
        if ended:
            self.record_ends(ended, "user disabled", by if by is not None
                                      else _operator())
        return len(ended)
