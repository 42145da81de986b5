"""Exception requests and grants, stored beside the audit trail (same database, own table).

The table is the exceptions' own trail: who asked, why, for what; who decided, when, with which
comment; when the grant starts and ends. Rows are updated only by a decision (pending → approved
or denied, approved → revoked), and every decision keeps the earlier fields. Every row's body is
signed (:mod:`lacuna.exceptions.authority`): a decision refuses a row that does not verify, and
:func:`grant_for` honours only verified grants.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lacuna.audit.schema import open_state_database, writing
from lacuna.errors import ConfigError, LacunaError
from lacuna.exceptions import authority
from lacuna.exceptions.model import ExceptionRequest, HistoryEntry, Status
from lacuna.model import as_utc, utcnow
from lacuna.signing import Keyed
from lacuna.state.locks import serialize

if TYPE_CHECKING:
    from lacuna.config import StewardsConfig
    from lacuna.model import Operation
    from lacuna.signing import Keyring

log = logging.getLogger("lacuna.exceptions")
metadata = MetaData()
table = Table(
    "lacuna_exceptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("year", String(4), nullable=False, index=True),
    Column("requested_by", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("duration_hours", Float, nullable=False),
    Column("body", Text, nullable=False),
)
# Files written under an exception: deleted by the sweep when the exception ends.
files_table = Table(
    "lacuna_exception_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("exception_id", String(32), nullable=False, index=True),
    Column("path", Text, nullable=False),
    Column("written_by", String(255), nullable=False),
    Column("written_at", String(40), nullable=False),
    Column("encrypted", Boolean, nullable=False, default=False),
    Column("deleted_at", String(40), nullable=True),
    # a directory written under the exception (Spark): only then may a sweep remove a tree
    Column("directory", Boolean, nullable=False, server_default=false()),
    # signed over every other column (FILE_PAYLOAD_KIND): a row that does not verify is never
    # acted on; NULL in rows recorded before revision 0007 (reported, never trusted)
    Column("signature", String(128), nullable=True),
    # what was written there (lacuna._files.identity, taken once the write returned; signed):
    # the sweep deletes that file, never another one written at the path later. NULL until the
    # write returned, and in rows recorded before revision 0009
    Column("identity", String(200), nullable=True),
)
FILE_PAYLOAD_KIND = "lacuna.exception-file/v1"
# Ends the sweep has seen on the audit trail (signed): an exception with a mark that verifies
# is not looked up on the trail again by every sweep (revision 0009).
ends_table = Table(
    "lacuna_exception_ends",
    metadata,
    Column("exception_id", String(32), primary_key=True),
    Column("event", String(16), nullable=False),
    Column("seen_at", String(40), nullable=False),
    Column("signature", String(128), nullable=False),
)
END_PAYLOAD_KIND = "lacuna.exception-end-seen/v1"
END_MARK_CHUNK = 500  # ids per query when reading the bodies of unmarked ends
# Steps after which a grant is over for good: when the audit trail holds one for an exception,
# no row of the exceptions table (an older signed body written back, say) makes it a grant again.
TERMINAL_EVENTS = ("revoked", "denied", "expired")
# The audit trail's exception events are found by exception id with one indexed lookup (state
# revision 0007 creates the partial expression index; the expressions must match it exactly).
# A body is read only when it is valid JSON: a record whose body is not (written by hand, or
# damaged; ``lacuna audit verify`` reports it) is NULL here, never an error that would make
# the whole trail unreadable (or, at revision 0007, fail the migration). On PostgreSQL 15,
# which has no ``IS JSON``, ``lacuna_jsonb`` (made by revision 0007) is the body as jsonb, or
# NULL when it is not JSON.
TRAIL_KEY = {
    "sqlite": "(CASE WHEN json_valid(body) THEN json_extract(body, '$.what.exception_id') END)",
    "postgresql": "(lacuna_jsonb(body) #>> '{what,exception_id}')",
}
# Each event's body, read once (``doc``: NULL when it is not JSON), in a subquery the planner
# keeps as it is (``fence``), and its fields read from ``doc``.
TRAIL_DOC = {
    "sqlite": "CASE WHEN json_valid(body) THEN body END",
    "postgresql": "lacuna_jsonb(body)",
}
TRAIL_FENCE = {"sqlite": "LIMIT -1", "postgresql": "OFFSET 0"}
TRAIL_FIELD = {
    "sqlite": "json_extract(doc, '{path}')",
    "postgresql": "(doc #>> '{{{keys}}}')",
}
ID_ATTEMPTS = 20  # concurrent requests on PostgreSQL: retry a taken number


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file written under an exception (``deleted_at`` once the sweep removed it)."""

    exception_id: str
    path: str
    written_by: str
    written_at: datetime
    encrypted: bool
    deleted_at: datetime | None = None
    directory: bool = False  # a directory written under the exception (a Spark write)
    signature: str | None = None
    identity: str | None = None  # what was written (lacuna._files.identity), once written

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exception_id": self.exception_id, "path": self.path,
            "written_by": self.written_by, "written_at": self.written_at.isoformat(),
            "encrypted": self.encrypted,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
            "directory": self.directory}
        if self.identity is not None:  # absent before the write returned (and signed so)
            out["identity"] = self.identity
        return out

    def payload(self) -> dict[str, Any]:
        """What is signed: every field, under a kind no other record uses."""
        return {"kind": FILE_PAYLOAD_KIND, "body": self.to_dict()}

    def not_verified_note(self) -> str:
        """Why this row is not acted on (when it does not verify)."""
        if not self.signature:
            return (f"its record in lacuna_exception_files carries no Lacuna signature "
                    f"(recorded before file records were signed, or written by hand), so "
                    f"nothing is done on its word: a steward must check whether "
                    f"{self.path} was written under exception {self.exception_id}, delete it "
                    "by hand if so, then settle it (lacuna exceptions settle "
                    f"{self.exception_id} {self.path} --reason ...)")
        return (f"its record in lacuna_exception_files does not match its signature (edited "
                f"outside Lacuna: its deletion time, path or kind changed), so nothing is "
                f"done on its word: a steward must check {self.path} and delete it by hand, "
                f"then settle it (lacuna exceptions settle {self.exception_id} {self.path} "
                "--reason ...)")


class TrailUnreadable(LacunaError):
    """The audit trail could not be read to check an exception (no grant is honoured then)."""


class ExceptionNotFound(LacunaError, LookupError):
    """No exception with that id; ``meant`` is the stored id it differs from only by case or
    surrounding space, if any."""

    def __init__(self, message: str, meant: str | None = None) -> None:
        super().__init__(message)
        self.meant = meant


class ExceptionStore(Keyed):
    """Requests and grants in the state database (``audit.url``), signed with ``keyring``
    (default: :func:`lacuna.signing.default_keyring`, loaded on first use)."""

    def __init__(self, url: str, keyring: Keyring | None = None) -> None:
        self._engine = open_state_database(url, metadata)
        self._keyring = keyring

    def add(self, request: ExceptionRequest) -> ExceptionRequest:
        """Store a new request, numbering it ``EXC-<year>-<n>`` (the next free number of its
        year, allocated atomically: concurrent requests from several processes get distinct,
        consecutive ids), signed, with its first history entry."""
        year = f"{request.created_at:%Y}"
        keyring = self.keyring
        first = HistoryEntry(at=request.created_at, by=request.requested_by, event="requested",
                             comment=request.purpose)
        request = replace(request, history=(*request.history, first))
        for _attempt in range(ID_ATTEMPTS):
            try:
                with (
                    self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
                    conn.begin(),
                ):
                    serialize(conn, f"exception-ids-{year}")  # PostgreSQL: take turns
                    taken = conn.execute(select(table.c.id).where(table.c.year == year))
                    number = max((_number(row.id) for row in taken), default=0) + 1
                    stored = authority.sign(replace(request, id=f"EXC-{year}-{number:03d}"),
                                            keyring)
                    conn.execute(
                        table.insert().values(
                            id=stored.id,
                            year=year,
                            requested_by=stored.requested_by,
                            status=stored.status.value,
                            duration_hours=stored.duration_hours,
                            body=json.dumps(stored.to_dict()),
                        )
                    )
                return stored
            except IntegrityError:  # another process took this number first: count again
                continue
        msg = (f"could not allocate an exception id for {year} after {ID_ATTEMPTS} attempts "
               "(too many concurrent requests); try again.")
        raise LacunaError(msg)

    def get(self, exception_id: str) -> ExceptionRequest:
        """The stored request as written (verify it with :meth:`verified` before trusting it)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(table.c.body).where(table.c.id == exception_id)).first()
        if row is None:
            raise self._not_found(exception_id)
        return _from_body(row.body, exception_id)

    def _not_found(self, exception_id: str) -> ExceptionNotFound:
        """The error for an id nothing is stored under, naming the id it was likely meant to
        be (ids are case-sensitive: ``exc-2026-001`` is not ``EXC-2026-001``, and space around
        one counts)."""
        shown = exception_id if len(exception_id) <= 80 else f"{exception_id[:60]}…"
        msg = f"no exception {shown!r}."  # an id is short: a 10,000-character one not echoed
        wanted = exception_id.strip().upper() if isinstance(exception_id, str) else None
        if wanted and wanted != exception_id:
            with self._engine.connect() as conn:
                near = conn.execute(select(table.c.id).where(table.c.id == wanted)).first()
            if near is not None:
                return ExceptionNotFound(f"{msg} Did you mean {near.id!r}? Exception ids are "
                                         "case-sensitive.", meant=near.id)
        return ExceptionNotFound(f"{msg} List them with: lacuna exceptions list")

    def verified(self, request: ExceptionRequest) -> bool:
        """Whether ``request`` carries this installation's signature over all of its fields."""
        return authority.verified(request, self.keyring)

    def list(
        self, *, status: Status | Iterable[Status] | None = None, user: str | None = None,
        limit: int | None = None, before: str | None = None,
        unreadable: builtins.list[Exception] | None = None,
    ) -> list[ExceptionRequest]:
        """The requests (of ``status``, or of any of several, filed by ``user``) in the order
        they were filed; ``limit``: only the newest ``limit`` of them (still oldest first);
        ``before``: only those filed before the request with this id (the next page of a list
        read newest first: pass the oldest id shown).

        A row that is not a request Lacuna wrote (garbage, a naive time, another request's
        body) is left out, not fatal: one such row must not stop every list, report and metric
        of the others. Each is logged as a warning and, when ``unreadable`` is given, appended
        to it (reports say how many and which)."""
        # EXC-<year>-<n>: by year, then number (EXC-2026-1000 after EXC-2026-999)
        filed = (table.c.year, func.length(table.c.id), table.c.id)
        # ``user``: one person whatever the spelling (authority.same_identity), so the names
        # are compared here and only the matching requests' bodies are read
        query = select(table.c.id, table.c.requested_by if user is not None else table.c.body)
        if isinstance(status, Status):
            query = query.where(table.c.status == status.value)
        elif status is not None:
            query = query.where(table.c.status.in_([s.value for s in status]))
        if before is not None:
            year, length = before.removeprefix("EXC-")[:4], len(before)
            query = query.where(or_(
                table.c.year < year,
                (table.c.year == year) & (func.length(table.c.id) < length),
                (table.c.year == year) & (func.length(table.c.id) == length)
                & (table.c.id < before)))
        if limit is None:
            query = query.order_by(*filed)
        else:
            query = query.order_by(*(c.desc() for c in filed))
            query = query if user is not None else query.limit(limit)
        with self._engine.connect() as conn:
            rows = builtins.list(conn.execute(query) if user is None
                                 else _of_user(conn, conn.execute(query).all(), user, limit))
        if limit is not None:
            rows.reverse()
        out: builtins.list[ExceptionRequest] = []
        for row in rows:
            try:
                out.append(_from_body(row.body, row.id))
            except MalformedException as exc:
                log.warning("%s", exc)
                exc.exception_id = str(row.id)  # which row (pages read on past it)
                if unreadable is not None:
                    unreadable.append(exc)
        return out

    def counts(self) -> dict[str, int]:
        """How many requests there are in each status, counted by the database (no request is
        read into memory); statuses with none are left out."""
        stmt = select(table.c.status, func.count()).group_by(table.c.status)
        with self._engine.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(stmt)}

    def decide(
        self,
        exception_id: str,
        *,
        approve: bool,
        by: str,
        stewards: StewardsConfig,
        comment: str | None = None,
        start: datetime | None = None,
        revoke: bool = False,
        conditions: Sequence[str] = (),
    ) -> ExceptionRequest:
        """Approve or deny a pending request (or revoke an approved one with approve=False;
        ``revoke=True`` refuses anything but an approved one).

        ``by`` is the deciding identity; it must be entitled (see
        :func:`lacuna.exceptions.authority.authorize`) and the stored request must verify.
        ``conditions`` (approval only) are what the approver requires of every use; they are
        signed with the grant, kept in its history and shown in every decision it covers.

        Raises:
            ExceptionNotFound: no such exception.
            ExceptionNotAuthorized: ``by`` may not decide it, or the row was changed outside
                Lacuna.
            LacunaError: the request is not in a state that this decision applies to.
        """
        conditions = authority.check_conditions(conditions)
        if conditions and not approve:
            msg = "conditions are set when approving; a denial or revocation takes a comment."
            raise ConfigError(msg)
        current = self.get(exception_id)
        if not self.verified(current):
            msg = authority.not_verified_note(current) + (
                "; it cannot be decided. File a new request with lacuna.request_exception."
            )
            raise authority.ExceptionNotAuthorized(msg)
        if current.status in (Status.PENDING, Status.APPROVED):
            ended = self.ended_on_trail(exception_id)  # TrailUnreadable: nothing decided
            if ended is not None:
                msg = rolled_back_note(current, ended) + (
                    "; it cannot be decided. File a new request with lacuna.request_exception.")
                raise authority.ExceptionNotAuthorized(msg)
        role = authority.authorize(current, by, stewards, approve=approve)
        now = utcnow()
        if revoke and current.status is not Status.APPROVED:
            msg = (f"exception {exception_id} is {current.status.value}; only an approved "
                   "exception can be revoked.")
            raise LacunaError(msg)
        if current.status is Status.PENDING:
            if approve:
                # a start without a time zone is UTC (as the CLI's --start): a naive window
                # compared with no clock Lacuna reads, and stopped every sweep
                begin = now if start is None else as_utc(start)
                until = _window_end(exception_id, begin, current.duration_hours, now)
                updated = replace(
                    current,
                    status=Status.APPROVED,
                    decided_by=by,
                    decided_role=role,
                    decided_at=now,
                    comment=comment,
                    approval_conditions=conditions,
                    valid_from=begin,
                    valid_until=until,
                )
            else:
                updated = replace(
                    current,
                    status=Status.DENIED,
                    decided_by=by,
                    decided_role=role,
                    decided_at=now,
                    comment=comment,
                )
        elif current.status is Status.APPROVED and not approve:
            updated = replace(
                current,
                status=Status.REVOKED,
                comment=comment or current.comment,
                valid_until=min(current.valid_until or now, now),
            )
        else:
            msg = (
                f"exception {exception_id} is {current.status.value}; only a pending request "
                "can be approved or denied, and only an approved one revoked."
            )
            raise LacunaError(msg)
        event = updated.status.value
        note = comment
        if conditions:
            listed = "conditions: " + "; ".join(conditions)
            note = f"{comment.rstrip('.')}. {listed}" if comment else listed
        updated = replace(updated, history=(
            *current.history, HistoryEntry(at=now, by=by, event=event, comment=note)))
        return self._replace(current, updated)

    def _replace(self, current: ExceptionRequest, updated: ExceptionRequest) -> ExceptionRequest:
        """Sign ``updated`` and store it if the row is still in ``current``'s state."""
        exception_id = current.id
        updated = authority.sign(updated, self.keyring)
        with writing(self._engine) as conn:
            changed = conn.execute(
                table.update()
                .where(table.c.id == exception_id, table.c.status == current.status.value)
                .values(status=updated.status.value, body=json.dumps(updated.to_dict()))
            ).rowcount
        if changed != 1:
            msg = (f"exception {exception_id} changed meanwhile (decided by someone else, or its "
                   f"row was edited outside Lacuna: its status column no longer says "
                   f"{current.status.value!r}); show it again.")
            raise LacunaError(msg)
        return updated

    def expire(self, exception_id: str, *, now: datetime | None = None,
               by: str = "lacuna-sweep") -> ExceptionRequest:
        """Mark an approved exception whose window has ended as expired (the sweep's step)."""
        current = self.get(exception_id)
        at = now or utcnow()
        if current.status is not Status.APPROVED or (
            current.valid_until is not None and current.valid_until > at
        ):
            msg = f"exception {exception_id} is {current.status.value} and not past its window."
            raise LacunaError(msg)
        if not self.verified(current):
            raise authority.ExceptionNotAuthorized(authority.not_verified_note(current))
        end = f"{current.valid_until:%Y-%m-%d %H:%M} UTC" if current.valid_until else "its end"
        updated = replace(current, status=Status.EXPIRED, history=(
            *current.history,
            HistoryEntry(at=at, by=by, event="expired", comment=f"window ended at {end}")))
        return self._replace(current, updated)

    def note(self, exception_id: str, event: str, *, by: str, comment: str | None = None,
             now: datetime | None = None) -> ExceptionRequest:
        """Add a history entry (e.g. ``file-deleted``) without changing the state."""
        current = self.get(exception_id)
        if not self.verified(current):
            raise authority.ExceptionNotAuthorized(authority.not_verified_note(current))
        entry = HistoryEntry(at=now or utcnow(), by=by, event=event, comment=comment)
        return self._replace(current, replace(current, history=(*current.history, entry)))

    def ended(self, now: datetime) -> builtins.list[ExceptionRequest]:
        """Approved exceptions whose window ended before ``now`` (the sweep's work)."""
        return [r for r in self._readable((Status.APPROVED,))
                if r.valid_until is not None and r.valid_until <= now]

    def unseen_ends(self) -> builtins.list[ExceptionRequest]:
        """Requests their own signed record says were revoked, denied or expired, less those
        whose end the sweep has seen on the audit trail (a mark of ``lacuna_exception_ends``
        that verifies): only these are looked up on the trail. A mark that is missing or does
        not verify (inserted, edited or copied from another database by hand) hides nothing:
        that exception is checked again.

        Raises:
            TrailUnreadable: the trail could not be read (the marks are bound to it).
        """
        terminal = (Status.REVOKED, Status.DENIED, Status.EXPIRED)
        trail = self._trail_origin()
        query = (select(table.c.id, ends_table.c.event, ends_table.c.seen_at,
                        ends_table.c.signature)
                 .select_from(table.outerjoin(ends_table, ends_table.c.exception_id == table.c.id))
                 .where(table.c.status.in_([s.value for s in terminal])).order_by(table.c.id))
        with self._engine.connect() as conn:
            marks = list(conn.execute(query))
        unseen = [m.id for m in marks if m.signature is None or not self.keyring.verify(
            _end_payload(m.id, m.event, m.seen_at, trail), m.signature)]
        out: builtins.list[ExceptionRequest] = []
        for start in range(0, len(unseen), END_MARK_CHUNK):
            ids = unseen[start:start + END_MARK_CHUNK]
            with self._engine.connect() as conn:
                rows = list(conn.execute(select(table.c.id, table.c.body)
                                         .where(table.c.id.in_(ids)).order_by(table.c.id)))
            for row in rows:
                try:
                    request = _from_body(row.body, row.id)
                except MalformedException:
                    continue
                if request.status in terminal and self.verified(request):
                    out.append(request)
        return out

    def mark_end_seen(self, exception_id: str, event: str, *,
                      now: datetime | None = None) -> None:
        """Record (signed, bound to this audit trail) that the trail records ``event``, an end
        of ``exception_id``: later sweeps do not look it up again. Call it only after
        :meth:`ended_on_trail` returned that event.

        Raises:
            TrailUnreadable: the trail could not be read.
        """
        seen_at = (now or utcnow()).isoformat()
        signature = self.keyring.sign(_end_payload(exception_id, event, seen_at,
                                                   self._trail_origin()))
        with writing(self._engine) as conn:  # replaces a mark that did not verify
            conn.execute(ends_table.delete().where(ends_table.c.exception_id == exception_id))
            conn.execute(ends_table.insert().values(exception_id=exception_id, event=event,
                                                    seen_at=seen_at, signature=signature))

    def _trail_origin(self) -> str:
        """The hash of this audit trail's first record: what binds an end mark to this trail
        (a mark copied from another database signed with the same key does not verify here)."""
        try:
            with self._engine.connect() as conn:
                first = conn.execute(text(
                    "SELECT hash FROM lacuna_audit ORDER BY seq LIMIT 1")).scalar()
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            msg = (f"the audit trail (lacuna_audit, beside the exceptions table) could not be "
                   f"read ({detail}); check it with: lacuna audit verify")
            raise TrailUnreadable(msg) from None
        return str(first or "")

    def _readable(self, statuses: tuple[Status, ...]) -> builtins.list[ExceptionRequest]:
        """The requests whose status column is one of ``statuses``, in id order. A row that is
        not a request Lacuna wrote is left out, not fatal: one broken row must not stop the
        sweep for every other exception (the sweep reports the files under it)."""
        query = select(table.c.id, table.c.body).where(
            table.c.status.in_([s.value for s in statuses])).order_by(table.c.id)
        with self._engine.connect() as conn:
            rows = list(conn.execute(query))
        out: builtins.list[ExceptionRequest] = []
        for row in rows:
            try:
                out.append(_from_body(row.body, row.id))
            except MalformedException:
                continue
        return out

    # -- files written under an exception ---------------------------------------------------

    def record_file(self, exception_id: str, path: str, *, written_by: str,
                    encrypted: bool, now: datetime | None = None,
                    directory: bool = False) -> WrittenFile:
        """Remember that ``path`` (a directory when ``directory``) was written under
        ``exception_id``, signed: the sweep deletes it when the exception ends."""
        written = WrittenFile(exception_id=exception_id, path=path, written_by=written_by,
                              written_at=now or utcnow(), encrypted=encrypted,
                              directory=directory)
        written = replace(written, signature=self.keyring.sign(written.payload()))
        with writing(self._engine) as conn:
            conn.execute(files_table.insert().values(
                exception_id=exception_id, path=path, written_by=written_by,
                written_at=written.written_at.isoformat(), encrypted=encrypted,
                directory=directory, signature=written.signature))
        return written

    def record_identity(self, written: WrittenFile, identity: str) -> WrittenFile:
        """Add to ``written``'s record what was written at its path (``identity``, taken once
        the write returned), signed again: the sweep then deletes that file and no other.
        A record that does not verify, or already has an identity, is left as it is."""
        if not self.file_verified(written) or written.identity is not None:
            return written
        done = replace(written, identity=identity)
        done = replace(done, signature=self.keyring.sign(done.payload()))
        with writing(self._engine) as conn:
            conn.execute(files_table.update().where(
                files_table.c.exception_id == written.exception_id,
                files_table.c.path == written.path,
                files_table.c.written_at == written.written_at.isoformat(),
                files_table.c.signature == written.signature,
                files_table.c.identity.is_(None),
                files_table.c.deleted_at.is_(None)).values(
                identity=identity, signature=done.signature))
        return done

    def move_identity(self, written: WrittenFile, identity: str) -> WrittenFile:
        """Move ``written``'s record to ``identity``, what is at its path after Lacuna re-wrote
        the file in place without changing its content (a key re-wrap), signed again: the
        sweep then deletes the re-written file. Only a verified record not yet deleted, whose
        row still holds what ``written`` says, is moved; any other is left as it is.

        Raises:
            LacunaError: the row changed meanwhile, so the record was not moved.
        """
        if not self.file_verified(written) or written.deleted_at is not None:
            return written
        done = replace(written, identity=identity)
        done = replace(done, signature=self.keyring.sign(done.payload()))
        with writing(self._engine) as conn:
            moved = conn.execute(files_table.update().where(
                files_table.c.exception_id == written.exception_id,
                files_table.c.path == written.path,
                files_table.c.written_at == written.written_at.isoformat(),
                files_table.c.signature == written.signature,
                files_table.c.deleted_at.is_(None)).values(
                identity=identity, signature=done.signature)).rowcount
        if not moved:
            msg = (f"the record of {written.path} under exception {written.exception_id} "
                   "changed while it was being moved to the re-written file; not moved")
            raise LacunaError(msg)
        return done

    def files(self, exception_id: str | None = None, *,
              pending_only: bool = False) -> builtins.list[WrittenFile]:
        """Files written under ``exception_id`` (or any), oldest first, as stored: check each
        with :meth:`file_verified` before acting on it (``pending_only`` trusts the
        ``deleted_at`` column, which anyone editing the database can set)."""
        query = select(files_table).order_by(files_table.c.id)
        if exception_id is not None:
            query = query.where(files_table.c.exception_id == exception_id)
        if pending_only:
            query = query.where(files_table.c.deleted_at.is_(None))
        with self._engine.connect() as conn:
            rows = list(conn.execute(query))
        return [_written(r) for r in rows]

    def pending_named(self, *names: str) -> builtins.list[WrittenFile]:
        """The records not marked deleted whose path ends in one of ``names`` (a file's own
        name), oldest first: a superset (SQLite's ``LIKE`` ignores ASCII case) of those of one
        file, found by the database rather than read whole. Check each with
        :meth:`file_verified` and compare its path before acting on it."""
        def ends_in(name: str) -> Any:
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return files_table.c.path.like(f"%{escaped}", escape="\\")

        query = (select(files_table)
                 .where(files_table.c.deleted_at.is_(None), or_(*map(ends_in, names)))
                 .order_by(files_table.c.id))
        with self._engine.connect() as conn:
            rows = list(conn.execute(query))
        return [_written(r) for r in rows]

    def file_verified(self, written: WrittenFile) -> bool:
        """Whether ``written`` carries this installation's signature over all of its fields."""
        return self.keyring.verify(written.payload(), written.signature)

    def mark_deleted(self, exception_id: str, path: str, now: datetime) -> None:
        """Mark the verified, not yet deleted records of ``path`` deleted (signed again: the
        deletion time is part of what is signed). A record that does not verify is left as it
        is: the sweep keeps reporting it."""
        at = now.isoformat()
        with writing(self._engine) as conn:
            rows = list(conn.execute(select(files_table).where(
                files_table.c.exception_id == exception_id, files_table.c.path == path,
                files_table.c.deleted_at.is_(None))))
            for row in rows:
                written = _written(row)
                if not self.file_verified(written):
                    continue
                done = replace(written, deleted_at=datetime.fromisoformat(at))
                conn.execute(files_table.update().where(
                    files_table.c.id == row.id, files_table.c.deleted_at.is_(None)).values(
                    deleted_at=at, signature=self.keyring.sign(done.payload())))

    def close_records(self, records: Iterable[WrittenFile], now: datetime) -> int:
        """Mark exactly ``records`` deleted (signed again), each only while its row still holds
        what it says and is not deleted yet: a record made after they were read (another write
        under the exception, meanwhile) is left open. Returns how many were closed."""
        at = now.isoformat()
        closed = 0
        with writing(self._engine) as conn:
            for written in records:
                if not self.file_verified(written) or written.deleted_at is not None:
                    continue
                done = replace(written, deleted_at=datetime.fromisoformat(at))
                closed += conn.execute(files_table.update().where(
                    files_table.c.exception_id == written.exception_id,
                    files_table.c.path == written.path,
                    files_table.c.written_at == written.written_at.isoformat(),
                    files_table.c.signature == written.signature,
                    files_table.c.deleted_at.is_(None)).values(
                    deleted_at=at, signature=self.keyring.sign(done.payload()))).rowcount
        return closed

    def settle_file(self, exception_id: str, path: str, *, written_by: str, now: datetime
                    ) -> builtins.list[tuple[WrittenFile, bool]]:
        """Settle ``path`` under ``exception_id`` for the sweep, once a steward has checked it
        (:func:`lacuna.exceptions.settle_file` checks who may): every record of the path that
        does not verify or is not marked deleted is marked deleted now and signed again; with
        no record at all (the audit trail says it was written; the row was removed), one is
        recorded, deleted. The sweep then neither deletes nor reports it. Returns the records
        as they were, each with whether it verified (for the audit trail)."""
        at = now.isoformat()
        with writing(self._engine) as conn:
            rows = list(conn.execute(select(files_table).where(
                files_table.c.exception_id == exception_id, files_table.c.path == path)))
            before = [(_written(row), self.file_verified(_written(row))) for row in rows]
            for row, (written, ok) in zip(rows, before, strict=True):
                if ok and written.deleted_at is not None:
                    continue
                done = replace(written, deleted_at=datetime.fromisoformat(at))
                conn.execute(files_table.update().where(files_table.c.id == row.id).values(
                    deleted_at=at, signature=self.keyring.sign(done.payload())))
            if not rows:
                done = WrittenFile(exception_id=exception_id, path=path, written_by=written_by,
                                   written_at=now, encrypted=False,
                                   deleted_at=datetime.fromisoformat(at))
                conn.execute(files_table.insert().values(
                    exception_id=exception_id, path=path, written_by=written_by,
                    written_at=at, encrypted=False, directory=False, deleted_at=at,
                    signature=self.keyring.sign(done.payload())))
        return before

    # -- the audit trail's word on an exception ---------------------------------------------

    def _trail(self, what: str, exception_id: str | None, where: str, **params: Any
               ) -> builtins.list[Any]:
        """Rows of the audit trail's exception events (``what`` selected, ``where`` added, both
        over :meth:`_field`), for one exception by the indexed key; :class:`TrailUnreadable`
        when it cannot be read."""
        dialect = self._engine.dialect.name
        if dialect not in TRAIL_KEY:  # pragma: no cover - the state database is one of these
            msg = f"cannot read the audit trail's exception events on {dialect}"
            raise TrailUnreadable(msg)
        clause = "action = 'exception'"
        if exception_id is not None:
            clause += f" AND {TRAIL_KEY[dialect]} = :exception_id"
            params["exception_id"] = exception_id
        sql = (f"SELECT {what} FROM (SELECT {TRAIL_DOC[dialect]} AS doc FROM lacuna_audit "
               f"WHERE {clause} {TRAIL_FENCE[dialect]}) AS events WHERE {where}")
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            msg = (f"the audit trail (lacuna_audit, beside the exceptions table) could not be "
                   f"read ({detail}); check it with: lacuna audit verify")
            raise TrailUnreadable(msg) from None

    def _field(self, path: str) -> str:
        """A field of an event's body (``doc`` in :meth:`_trail`), NULL when it is not JSON."""
        dialect = self._engine.dialect.name
        keys = ",".join(path.removeprefix("$.").split("."))
        return TRAIL_FIELD.get(dialect, TRAIL_FIELD["sqlite"]).format(path=path, keys=keys)

    def ended_on_trail(self, exception_id: str) -> str | None:
        """The terminal step (``revoked``, ``denied``, ``expired``) the audit trail records for
        ``exception_id``, or None: one indexed lookup. Once the trail says a grant ended, no
        row of the table (an older signed body written back) makes it a grant again.

        Raises:
            TrailUnreadable: the trail could not be read (the caller honours no grant then).
        """
        event = self._field("$.what.event")
        names = ", ".join(f"'{e}'" for e in TERMINAL_EVENTS)
        rows = self._trail(f"{event} AS event", exception_id,
                           f"{event} IN ({names}) LIMIT 1")
        return str(rows[0].event) if rows else None

    def files_on_trail(self) -> set[tuple[str, str]]:
        """Every (exception id, path) the audit trail records as written under an exception
        (``file-written``), to find files whose record left the table.

        Raises:
            TrailUnreadable: the trail could not be read.
        """
        event, key = self._field("$.what.event"), self._field("$.what.exception_id")
        path = self._field("$.exception.path")
        rows = self._trail(f"{key} AS exception_id, {path} AS path", None,
                           f"{event} = 'file-written'")
        return {(str(r.exception_id), str(r.path)) for r in rows if r.exception_id and r.path}

    def writers_on_trail(self, exception_id: str, path: str) -> tuple[str, ...]:
        """Who the audit trail records as having written ``path`` under ``exception_id``
        (``file-written``).

        Raises:
            TrailUnreadable: the trail could not be read.
        """
        event, who = self._field("$.what.event"), self._field("$.who.user_id")
        found = self._field("$.exception.path")
        rows = self._trail(f"{who} AS user_id", exception_id,
                           f"{event} = 'file-written' AND {found} = :path", path=path)
        return tuple(dict.fromkeys(str(r.user_id) for r in rows if r.user_id))

    def close(self) -> None:
        self._engine.dispose()


def _written(row: Any) -> WrittenFile:
    return WrittenFile(exception_id=row.exception_id, path=row.path, written_by=row.written_by,
                       written_at=datetime.fromisoformat(row.written_at),
                       encrypted=bool(row.encrypted),
                       deleted_at=datetime.fromisoformat(row.deleted_at)
                       if row.deleted_at else None,
                       directory=bool(row.directory), signature=row.signature,
                       identity=row.identity)


def _end_payload(exception_id: str, event: str | None, seen_at: str | None,
                 trail: str) -> dict[str, Any]:
    """What an end mark signs: the exception, its end, when it was seen, and which trail."""
    return {"kind": END_PAYLOAD_KIND, "body": {"exception_id": exception_id, "event": event,
                                               "seen_at": seen_at, "trail": trail}}


def _number(exception_id: str) -> int:
    tail = exception_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _of_user(conn: Any, found: Iterable[Any], user: str, limit: int | None) -> list[Any]:
    """The ``(id, body)`` rows of the requests among ``found`` (``(id, requested_by)`` rows,
    in order) filed by ``user`` (:func:`authority.same_identity`), at most ``limit``, in the
    same order."""
    ids: list[str] = []
    for row in found:
        if authority.same_identity(row.requested_by, user):
            ids.append(row.id)
            if limit is not None and len(ids) >= limit:
                break
    bodies: dict[str, Any] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[start:start + 500]
        bodies.update((r.id, r) for r in conn.execute(
            select(table.c.id, table.c.body).where(table.c.id.in_(chunk))))
    return [bodies[i] for i in ids if i in bodies]


def grant_for(
    store: ExceptionStore, operation: Operation, now: datetime, stewards: StewardsConfig
) -> tuple[str | None, str | None]:
    """The approver role of a verified grant covering ``operation``, or a note on why not;
    a covering grant with approval conditions comes with a note that states them.

    Honoured only when the row carries a valid signature, was approved by someone other than
    the requester who is still entitled to approve it, covers this user, action, destination
    and time, and the audit trail records no end of it (revoked, denied, expired: an older
    signed body written back is not a grant again; a trail that cannot be read honours
    nothing). Never raises for a bad row: the note says what is wrong.
    """
    exception_id = operation.exception_id
    if not exception_id:
        return None, None
    try:
        request = store.get(exception_id)
    except ExceptionNotFound as exc:
        return None, f"exception {exception_id} does not exist" + (
            f"; did you mean {exc.meant!r}? Exception ids are case-sensitive."
            if exc.meant else "")
    except MalformedException as exc:
        return None, str(exc)
    if not store.verified(request):
        return None, authority.not_verified_note(request)
    covered, why = request.covers(operation, now)
    if not covered:
        return None, why
    approver = request.decided_by or ""
    if authority.same_identity(approver, request.requested_by):
        return None, f"exception {exception_id} was approved by its own requester; not honoured"
    entitled = authority.approvers(request, stewards)
    if not any(authority.same_identity(approver, who) for who in entitled):
        return None, (
            f"exception {exception_id} was approved by {approver}, who is not (or no longer) a "
            "steward for it in this configuration; not honoured"
        )
    try:  # an older signed body written back over a revocation: the trail has the last word
        ended = store.ended_on_trail(exception_id)
    except TrailUnreadable as exc:
        return None, (f"exception {exception_id} could not be checked against the audit trail "
                      f"({exc}), so it is not honoured")
    if ended is not None:
        return None, rolled_back_note(request, ended) + "; not honoured"
    if request.approval_conditions:  # said with every decision the grant covers
        return request.decided_role, (
            f"exception {exception_id} applies under {approver}'s conditions: "
            + "; ".join(request.approval_conditions))
    return request.decided_role, None


def _window_end(exception_id: str, begin: datetime, hours: float, now: datetime) -> datetime:
    """The end of a grant starting at ``begin``; a :class:`ConfigError` for a start more than
    a year (the longest window, ``MAX_DURATION_HOURS``) from now, or past the calendar. An
    exception is a time-bound answer to a request made now: a start typed as 2062 for 2026
    was a grant waiting decades for its use (and 9999-12-31 an OverflowError traceback)."""
    latest = now + timedelta(hours=authority.MAX_DURATION_HOURS)
    try:
        until = begin + timedelta(hours=hours)
    except OverflowError:
        until = None
    if until is None or begin > latest:
        msg = (f"exception {exception_id}: a start of {begin:%Y-%m-%d %H:%M} UTC is more than a "
               f"year away (latest {latest:%Y-%m-%d %H:%M} UTC): approve it to start now (no "
               "--start) or at a time within the year; a later need is a new request then.")
        raise ConfigError(msg)
    return until


def rolled_back_note(request: ExceptionRequest, ended: str) -> str:
    """Why a row the audit trail says has ended is not honoured."""
    return (f"exception {request.id} was {ended} (the audit trail records it), but its row in "
            f"the exceptions table says {request.status.value}: an earlier state was written "
            "back outside Lacuna")


class MalformedException(LacunaError):
    """A row of the exceptions table that is not a request Lacuna wrote."""

    exception_id: str | None = None  # the row's id, when it is known


def _naive(exception_id: str, key: str) -> MalformedException:
    return MalformedException(
        f"exception {exception_id}'s {key.replace('_', ' ')} has no time zone (approved from "
        "Python with a naive start before Lacuna took one as UTC): it is not honoured, and the "
        "sweep reports its files until a steward settles them. File a new request.")


_FIELDS = {f.name for f in fields(ExceptionRequest)}


def _from_body(body: str, exception_id: str = "?") -> ExceptionRequest:
    try:
        data: dict[str, Any] = json.loads(body)
        if not isinstance(data, dict) or not set(data) <= _FIELDS:
            msg = "not a request object"
            raise TypeError(msg)
        for key in ("created_at", "decided_at", "valid_from", "valid_until"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
                if data[key].tzinfo is None:  # Lacuna writes UTC times, with their zone
                    raise _naive(exception_id, key)
        for key in ("sources", "tags", "conditions", "domains", "packages",
                    "approval_conditions"):
            data[key] = tuple(data.get(key) or ())
        data["history"] = tuple(HistoryEntry.from_dict(h) for h in data.get("history") or ())
        data["status"] = Status(data["status"])
        request = ExceptionRequest(**data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        msg = (
            f"exception {exception_id} in the exceptions table is not a request Lacuna wrote "
            f"({type(exc).__name__}); it is ignored. Remove the row or file a new request."
        )
        raise MalformedException(msg) from None
    if exception_id != "?" and request.id != exception_id:
        # a signed body copied under another id: its revocation on the trail is of its own id
        # (ended_on_trail), so the copy would be a revoked grant honoured again
        msg = (f"exception {exception_id} in the exceptions table is not a request Lacuna "
               f"wrote (it holds the signed record of {request.id}, copied there outside "
               "Lacuna); it is ignored. Remove the row or file a new request.")
        raise MalformedException(msg)
    return request
