"""Exception requests and grants, stored beside the audit trail (same database, own table).

The table is the exceptions' own trail: who asked, why, for what; who decided, when, with which
comment; when the grant starts and ends. Rows are updated only by a decision (pending → approved
or denied, approved → revoked), and every decision keeps the earlier fields. Every row's body is
signed (:mod:`lacuna.exceptions.authority`): a decision refuses a row that does not verify, and
:func:`grant_for` honours only verified grants.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, func, select

from lacuna.audit.schema import open_state_database
from lacuna.errors import LacunaError
from lacuna.exceptions import authority
from lacuna.exceptions.model import ExceptionRequest, Status
from lacuna.model import utcnow

if TYPE_CHECKING:
    from lacuna.config import StewardsConfig
    from lacuna.model import Operation
    from lacuna.signing import Keyring

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


class ExceptionNotFound(LacunaError, LookupError):
    """No exception with that id."""


class ExceptionStore:
    """Requests and grants in the state database (``audit.url``), signed with ``keyring``
    (default: :func:`lacuna.signing.default_keyring`, loaded on first use)."""

    def __init__(self, url: str, keyring: Keyring | None = None) -> None:
        self._engine = open_state_database(url, metadata)
        self._keyring = keyring

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            from lacuna.signing import default_keyring

            self._keyring = default_keyring()
        return self._keyring

    def add(self, request: ExceptionRequest) -> ExceptionRequest:
        """Store a new request, numbering it ``EXC-<year>-<n>``, signed."""
        year = f"{request.created_at:%Y}"
        keyring = self.keyring
        with (
            self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.year == year)
            ).scalar_one()
            stored = authority.sign(replace(request, id=f"EXC-{year}-{count + 1:03d}"), keyring)
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

    def get(self, exception_id: str) -> ExceptionRequest:
        """The stored request as written (verify it with :meth:`verified` before trusting it)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(table.c.body).where(table.c.id == exception_id)).first()
        if row is None:
            msg = f"no exception {exception_id!r}. List them with: lacuna exceptions list"
            raise ExceptionNotFound(msg)
        return _from_body(row.body, exception_id)

    def verified(self, request: ExceptionRequest) -> bool:
        """Whether ``request`` carries this installation's signature over all of its fields."""
        return authority.verified(request, self.keyring)

    def list(
        self, *, status: Status | None = None, user: str | None = None
    ) -> list[ExceptionRequest]:
        query = select(table.c.id, table.c.body).order_by(table.c.id)
        if status is not None:
            query = query.where(table.c.status == status.value)
        if user is not None:
            query = query.where(table.c.requested_by == user)
        with self._engine.connect() as conn:
            return [_from_body(row.body, row.id) for row in conn.execute(query)]

    def decide(
        self,
        exception_id: str,
        *,
        approve: bool,
        by: str,
        stewards: StewardsConfig,
        comment: str | None = None,
        start: datetime | None = None,
    ) -> ExceptionRequest:
        """Approve or deny a pending request (or revoke an approved one with approve=False).

        ``by`` is the deciding identity; it must be entitled (see
        :func:`lacuna.exceptions.authority.authorize`) and the stored request must verify.

        Raises:
            ExceptionNotFound: no such exception.
            ExceptionNotAuthorized: ``by`` may not decide it, or the row was changed outside
                Lacuna.
            LacunaError: the request is not in a state that this decision applies to.
        """
        current = self.get(exception_id)
        if not self.verified(current):
            msg = authority.not_verified_note(current) + (
                "; it cannot be decided. File a new request with lacuna.request_exception."
            )
            raise authority.ExceptionNotAuthorized(msg)
        role = authority.authorize(current, by, stewards, approve=approve)
        now = utcnow()
        if current.status is Status.PENDING:
            if approve:
                begin = start or now
                updated = replace(
                    current,
                    status=Status.APPROVED,
                    decided_by=by,
                    decided_role=role,
                    decided_at=now,
                    comment=comment,
                    valid_from=begin,
                    valid_until=begin + timedelta(hours=current.duration_hours),
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
        updated = authority.sign(updated, self.keyring)
        with self._engine.begin() as conn:
            changed = conn.execute(
                table.update()
                .where(table.c.id == exception_id, table.c.status == current.status.value)
                .values(status=updated.status.value, body=json.dumps(updated.to_dict()))
            ).rowcount
        if changed != 1:
            msg = f"exception {exception_id} was decided by someone else meanwhile; show it again."
            raise LacunaError(msg)
        return updated

    def close(self) -> None:
        self._engine.dispose()


def grant_for(
    store: ExceptionStore, operation: Operation, now: datetime, stewards: StewardsConfig
) -> tuple[str | None, str | None]:
    """The approver role of a verified grant covering ``operation``, or a note on why not.

    Honoured only when the row carries a valid signature, was approved by someone other than
    the requester who is still entitled to approve it, and covers this user, action,
    destination and time. Never raises for a bad row: the note says what is wrong.
    """
    exception_id = operation.exception_id
    if not exception_id:
        return None, None
    try:
        request = store.get(exception_id)
    except ExceptionNotFound:
        return None, f"exception {exception_id} does not exist"
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
    return request.decided_role, None


class MalformedException(LacunaError):
    """A row of the exceptions table that is not a request Lacuna wrote."""


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
        for key in ("sources", "tags", "conditions", "domains"):
            data[key] = tuple(data.get(key) or ())
        data["status"] = Status(data["status"])
        return ExceptionRequest(**data)
    except (ValueError, TypeError, KeyError) as exc:
        msg = (
            f"exception {exception_id} in the exceptions table is not a request Lacuna wrote "
            f"({type(exc).__name__}); it is ignored. Remove the row or file a new request."
        )
        raise MalformedException(msg) from None
