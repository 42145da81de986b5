"""Exception requests as the metrics count them: from the audit trail first.

A request is counted when the audit trail recorded it (its ``requested`` exception event,
hash-chained and checked by ``lacuna audit verify`` with every other record) or when the
exceptions table holds it (a request whose event could not be written still counts). Counted
from the table alone, a user who owns the state database could lower the exception rate by
deleting or editing their rows, and nothing would say so.

What a filter selects by (the policy, the requester's role, the tier, the Rego packages and
policy domains of the dry run made when it was filed) is read from the event; events written
before they carried the tier, packages and domains take those from the request's row, and a
request whose row is gone or unreadable then has none (a tier or domain filter leaves it out;
without filters it counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.metrics.facts import section

if TYPE_CHECKING:
    from datetime import datetime

    from lacuna.audit.record import AuditRecord
    from lacuna.exceptions.model import ExceptionRequest
    from lacuna.governor import Governor
    from lacuna.metrics.period import Period

REQUESTED = "requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFact:
    """One exception request as the metrics see it."""

    exception_id: str
    when: datetime
    policy_id: str | None
    role: str
    tier: str
    packages: tuple[str, ...]
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Requests:
    """The requests of a period, and the rows of the exceptions table that are not requests
    Lacuna wrote (``unreadable``: said by the metrics, not fatal)."""

    facts: tuple[RequestFact, ...]
    unreadable: int


def _texts(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def _from_event(record: AuditRecord, row: ExceptionRequest | None) -> RequestFact | None:
    """The request a ``requested`` event records (None when it is not one)."""
    body = record.data
    what = section(body, "what")
    if body.get("kind") != "exception" or what.get("event") != REQUESTED:
        return None
    exception_id = what.get("exception_id")
    if not isinstance(exception_id, str) or not exception_id:
        return None
    detail: Mapping[str, Any] = section(body, "exception")
    tier = detail.get("tier")
    packages, domains = _texts(detail.get("packages")), _texts(detail.get("domains"))
    role = section(body, "who").get("role")
    return RequestFact(
        exception_id=exception_id, when=record.timestamp, policy_id=record.policy_id,
        role=role if isinstance(role, str) else (row.requester_role if row else ""),
        tier=tier if isinstance(tier, str) else (row.tier if row else ""),
        packages=packages if packages is not None else (row.packages if row else ()),
        domains=domains if domains is not None else (row.domains if row else ()))


def _from_row(row: ExceptionRequest) -> RequestFact:
    return RequestFact(exception_id=row.id, when=row.created_at, policy_id=row.policy_id,
                       role=row.requester_role, tier=row.tier, packages=row.packages,
                       domains=row.domains)


def requests_in(gov: Governor, period: Period) -> Requests:
    """Every exception request filed in ``period``: each ``requested`` event of the audit
    trail, and each row of the exceptions table the trail does not hold (module docstring)."""
    unreadable: list[Exception] = []
    rows = {r.id: r for r in gov.exceptions.list(unreadable=unreadable)}
    found: dict[str, RequestFact] = {}
    since, until = period.read_bounds()
    for record in gov.audit.list(limit=None, action="exception", since=since, until=until):
        if record.timestamp not in period:
            continue
        exception_id = section(record.data, "what").get("exception_id")
        fact = _from_event(record, rows.get(exception_id) if isinstance(exception_id, str)
                           else None)
        if fact is not None:
            found.setdefault(fact.exception_id, fact)
    for row in rows.values():
        if row.id not in found and row.created_at in period:
            found[row.id] = _from_row(row)
    return Requests(tuple(sorted(found.values(), key=lambda f: (f.when, f.exception_id))),
                    len(unreadable))


__all__ = ["RequestFact", "Requests", "requests_in"]
