"""The audit page's data: a filtered search over the trail and the chain's verification status.

Filters map to the trail's indexed columns where they exist (user, decision, policy, time) and to
the record body for the dataset (a source or the destination containing the text). Results are
newest first and bounded: the page shows at most ``limit`` records and says when there are more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select

from lacuna.audit.record import iso
from lacuna.audit.schema import records
from lacuna.errors import ConfigError
from lacuna.server.paging import CONSOLE_AUDIT

if TYPE_CHECKING:
    from lacuna.audit import AuditRecord, AuditStore, VerifyReport
    from lacuna.identity.check import IdentityReport
    from lacuna.server.verifier import Verified

DECISIONS = ("", "allowed", "denied")
SCAN_BATCH = 2000  # rows read per batch while filtering by dataset in the body


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilters:
    """What the audit search form asks for; empty strings mean "any"."""

    user: str = ""
    dataset: str = ""
    decision: str = ""  # "", "allowed" or "denied"
    policy: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = CONSOLE_AUDIT.default
    exception: str = ""  # only records of operations that used this exception id

    @classmethod
    def parse(cls, params: dict[str, str]) -> AuditFilters:
        """Validate the query string of the audit page.

        Raises:
            ConfigError: a decision other than allowed/denied, or a time that is not ISO-8601.
        """
        decision = params.get("decision", "").strip().lower()
        if decision not in DECISIONS:
            msg = f"decision must be 'allowed' or 'denied', not {decision!r}"
            raise ConfigError(msg)
        limit = CONSOLE_AUDIT.parse(params.get("limit"))
        return cls(
            user=params.get("user", "").strip(),
            dataset=params.get("dataset", "").strip(),
            decision=decision,
            policy=params.get("policy", "").strip(),
            since=_time(params.get("since", ""), "since"),
            until=_time(params.get("until", ""), "until"),
            limit=limit,
        )


def _time(text: str, name: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{name} must be a date or time such as 2026-01-20 or 2026-01-20T14:00, not {text!r}"
        raise ConfigError(msg) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRow:
    """One record as the page shows it."""

    seq: int
    id: str
    when: datetime
    user: str
    role: str
    action: str
    allowed: bool
    kind: str  # "decision", "outcome" or an event's kind ("config", "exception", ...)
    policy_id: str
    tier: str
    sources: tuple[str, ...]
    destination: str
    exception_id: str
    purpose: str
    reasoning: str
    status: str  # an outcome's succeeded/failed
    event: str  # an exception step's name (requested, approved, ...) for action "exception"
    hash: str
    # the client host a server's client named (``who.host``; empty: none, or in-process), and
    # whether the server vouched for it (``who.host_verified``: the caller is bound to it by
    # ``client_hosts``) or took it on the client's word: a reader of the trail tells the two
    # apart (docs/server.md, "Whose host")
    host: str = ""
    host_verified: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    rows: tuple[AuditRow, ...]
    more: bool  # more records match than are shown
    verification: VerifyReport
    verified: Verified | None = None  # when and up to which record it was verified
    filters: AuditFilters
    identities: IdentityReport | None = None  # the user and session rows beside the trail
    users: tuple[str, ...] = field(default=())
    policies: tuple[str, ...] = field(default=())


def to_row(record: AuditRecord) -> AuditRow:
    data = record.data
    what: dict[str, Any] = data.get("what") or {}
    why: dict[str, Any] = data.get("why") or {}
    who: dict[str, Any] = data.get("who") or {}
    return AuditRow(
        seq=record.seq,
        id=record.id,
        when=record.timestamp,
        user=record.user_id,
        role=str(who.get("role") or ""),
        action=record.action,
        allowed=record.allowed,
        kind=record.kind,
        policy_id=record.policy_id or "",
        tier=str(what.get("tier") or ""),
        sources=tuple(str(s) for s in what.get("sources") or ()),
        destination=str(what.get("destination") or ""),
        exception_id=str(why.get("exception_id") or what.get("exception_id") or ""),
        purpose=str(why.get("purpose") or ""),
        reasoning=record.reasoning,
        status=record.status or "",
        event=str(what.get("event") or ""),
        hash=record.hash,
        host=str(who.get("host") or ""),
        host_verified=who.get("host_verified") is True,
    )


def _rows(store: AuditStore, stmt: Any) -> list[Any]:
    with store.snapshot() as conn:
        if not inspect(conn).has_table(records.name):
            return []
    return store.rows(stmt)  # a value that is not UTF-8 read to be shown escaped


def _record(row: Any) -> AuditRecord:
    """The store's record of a row: a ``timestamp`` column that is not a time is an
    ``AuditError`` naming the record and ``lacuna audit verify`` (it was shown as year 1)."""
    from lacuna.audit.store import _to_record

    return _to_record(row)


def _matches_dataset(row: AuditRow, text: str) -> bool:
    needle = text.casefold()
    return any(needle in s.casefold() for s in (*row.sources, row.destination))


def search(store: AuditStore, filters: AuditFilters) -> tuple[list[AuditRow], bool]:
    """Records matching ``filters``, newest first, at most ``filters.limit``; and whether more
    match."""
    stmt = select(records).order_by(records.c.seq.desc())
    if filters.user:  # a person: every spelling of their name on the trail (Jane, jane)
        stmt = stmt.where(records.c.user_id.in_(store.spellings(filters.user)))
    if filters.decision:
        stmt = stmt.where(records.c.allowed.is_(filters.decision == "allowed"))
    if filters.policy:
        stmt = stmt.where(records.c.policy_id == filters.policy)
    if filters.since is not None or filters.until is not None:
        store.check_times()  # a column that is not a time falls outside every window
    if filters.since is not None:
        stmt = stmt.where(records.c.timestamp >= iso(filters.since))
    if filters.until is not None:
        stmt = stmt.where(records.c.timestamp <= iso(filters.until))
    if filters.dataset:
        stmt = stmt.where(records.c.body.contains(filters.dataset.replace('"', ""),
                                                  autoescape=True))
    if filters.exception:
        stmt = stmt.where(records.c.body.contains(f'"{filters.exception}"', autoescape=True))
    found: list[AuditRow] = []
    offset = 0
    while True:
        batch = _rows(store, stmt.limit(SCAN_BATCH).offset(offset))
        for raw in batch:
            row = to_row(_record(raw))
            if filters.dataset and not _matches_dataset(row, filters.dataset):
                continue
            if filters.exception and row.exception_id != filters.exception:
                continue
            if len(found) == filters.limit:
                return found, True
            found.append(row)
        if len(batch) < SCAN_BATCH:
            return found, False
        offset += SCAN_BATCH


def choices(store: AuditStore) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The users and policy ids present in the trail, for the filters' suggestions."""
    users = [r[0] for r in _rows(store, select(records.c.user_id).distinct().limit(200))]
    named = select(records.c.policy_id).where(records.c.policy_id.is_not(None))
    policies = [r[0] for r in _rows(store, named.distinct().limit(200))]
    return tuple(sorted(users)), tuple(sorted(policies))


def audit_page(store: AuditStore, filters: AuditFilters, verified: Verified,
               identities: IdentityReport | None = None) -> AuditPage:
    """Everything the audit page shows: the matching records, the chain's status (``verified``:
    the server's last walk of the trail, :mod:`lacuna.server.verifier`) and, when given, the
    identity rows' (:meth:`lacuna.identity.UserStore.verify`: what ``lacuna audit verify``
    reports beside the chain)."""
    rows, more = search(store, filters)
    users, policies = choices(store)
    return AuditPage(rows=tuple(rows), more=more, verification=verified.report,
                     verified=verified, filters=filters, identities=identities, users=users,
                     policies=policies)
