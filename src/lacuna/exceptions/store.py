"""Exception requests and grants, stored beside the audit trail (same database, own table).

The table is the exceptions' own trail: who asked, why, for what; who decided, when, with which
comment; when the grant starts and ends. Rows are updated only by a decision (pending → approved
or denied, approved → revoked), and every decision keeps the earlier fields.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, func, select

from lacuna.audit.schema import open_state_database
from lacuna.errors import LacunaError
from lacuna.exceptions.model import ExceptionRequest, Status
from lacuna.model import utcnow

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
    """Requests and grants in the state database (``audit.url``)."""

    def __init__(self, url: str) -> None:
        self._engine = open_state_database(url, metadata)

    def add(self, request: ExceptionRequest) -> ExceptionRequest:
        """Store a new request, numbering it ``EXC-<year>-<n>``."""
        year = f"{request.created_at:%Y}"
        with (
            self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.year == year)
            ).scalar_one()
            stored = replace(request, id=f"EXC-{year}-{count + 1:03d}")
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
        with self._engine.connect() as conn:
            row = conn.execute(select(table.c.body).where(table.c.id == exception_id)).first()
        if row is None:
            msg = f"no exception {exception_id!r}. List them with: lacuna exceptions list"
            raise ExceptionNotFound(msg)
        return _from_body(row.body)

    def list(
        self, *, status: Status | None = None, user: str | None = None
    ) -> list[ExceptionRequest]:
        query = select(table.c.body).order_by(table.c.id)
        if status is not None:
            query = query.where(table.c.status == status.value)
        if user is not None:
            query = query.where(table.c.requested_by == user)
        with self._engine.connect() as conn:
            return [_from_body(row.body) for row in conn.execute(query)]

    def decide(
        self,
        exception_id: str,
        *,
        approve: bool,
        by: str,
        role: str,
        comment: str | None = None,
        start: datetime | None = None,
    ) -> ExceptionRequest:
        """Approve or deny a pending request (or revoke an approved one with approve=False)."""
        current = self.get(exception_id)
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
        with self._engine.begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.id == exception_id)
                .values(status=updated.status.value, body=json.dumps(updated.to_dict()))
            )
        return updated

    def close(self) -> None:
        self._engine.dispose()


def _from_body(body: str) -> ExceptionRequest:
    data: dict[str, Any] = json.loads(body)
    for key in ("created_at", "decided_at", "valid_from", "valid_until"):
        if data.get(key):
            data[key] = datetime.fromisoformat(data[key])
    for key in ("sources", "tags", "conditions"):
        data[key] = tuple(data.get(key) or ())
    data["status"] = Status(data["status"])
    return ExceptionRequest(**data)
