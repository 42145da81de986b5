"""The exception queue and an exception's history, from the exception store and the audit trail.

The history is a timeline of events: the request, its decision (approval with its window and
conditions, or denial with a comment), any revocation or expiry, the history entries the store
keeps (when it keeps them), and every audited operation that used the exception id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lacuna.exceptions import Status, approvers
from lacuna.exceptions.authority import same_identity
from lacuna.server.paging import CONSOLE_EXCEPTIONS

if TYPE_CHECKING:
    from lacuna.config import StewardsConfig
    from lacuna.exceptions import ExceptionRequest, ExceptionStore
    from lacuna.server.console.audit_view import AuditRow

STATUS_FILTERS = ("pending", "approved", "denied", "revoked", "expired", "all")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueItem:
    """One request in the queue, with what the signed-in person may do with it."""

    request: ExceptionRequest
    state: str  # the status, or "expired" for an approved grant past its window
    can_decide: bool
    why_not: str  # when can_decide is False: the reason, shown beside the request
    entitled: tuple[str, ...]
    can_revoke: bool = False  # an approved, unexpired grant this steward may end


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    when: datetime | None
    what: str
    who: str
    detail: str = ""


def state_of(request: ExceptionRequest, now: datetime) -> str:
    """The status shown: stored status, or ``expired`` once an approval's window has passed."""
    status = getattr(request.status, "value", str(request.status))
    if request.status is Status.APPROVED and request.valid_until and now >= request.valid_until:
        return "expired"
    return str(status)


def decision_right(request: ExceptionRequest, identity: str,
                   stewards: StewardsConfig) -> tuple[bool, str]:
    """Whether ``identity`` may approve ``request`` (the store checks again when it decides)."""
    if same_identity(identity, request.requested_by):
        return False, "you filed this request: another steward must decide it"
    if not any(same_identity(identity, who) for who in approvers(request, stewards)):
        return False, "you are not a steward for this request's policy"
    return True, ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    """One page of the queue, newest first: at most ``limit`` requests."""

    items: tuple[QueueItem, ...]
    more: bool  # older requests in this status exist beyond the page
    limit: int
    before: str = ""  # the page starts after this id ("" : the newest)

    @property
    def next_before(self) -> str:
        """The id the next page starts after (the oldest shown), or "" when there is none."""
        return self.items[-1].request.id if self.more and self.items else ""


# Requests stored in these statuses can be shown in each filter (an approval past its window
# is shown as expired: older stores keep it as approved).
_STORED: dict[str, tuple[Status, ...] | None] = {
    "pending": (Status.PENDING,), "approved": (Status.APPROVED,), "denied": (Status.DENIED,),
    "revoked": (Status.REVOKED,), "expired": (Status.APPROVED, Status.EXPIRED), "all": None,
}


def queue(store: ExceptionStore, *, identity: str, stewards: StewardsConfig, now: datetime,
          status: str = "pending", only_user: str | None = None,
          limit: int = CONSOLE_EXCEPTIONS.default, before: str = "") -> Queue:
    """The newest ``limit`` requests in ``status`` (``all`` for every one) filed before the
    request ``before`` (``""``: the newest), newest first, and whether there are more.

    The store is read newest first, ``limit + 1`` at a time, so a page never reads or renders
    the whole queue; a filter the store cannot apply by itself (an approval past its window
    is "expired", not "approved") reads on until the page is full or the store is done.
    """
    if status not in STATUS_FILTERS:
        status = "pending"
    stored = _STORED[status]
    items: list[QueueItem] = []
    cursor = before or None
    while True:
        # a row Lacuna did not write is left out of the batch (and logged): it still counts
        # for whether older rows exist, and the next batch reads on past it
        unreadable: list[Exception] = []
        batch = store.list(status=stored, user=only_user, limit=limit + 1, before=cursor,
                           unreadable=unreadable)
        skipped = [i for e in unreadable if (i := getattr(e, "exception_id", None))]
        for request in reversed(batch):
            cursor = request.id
            state = state_of(request, now)
            if status not in ("all", state):
                continue
            if len(items) == limit:
                return Queue(items=tuple(items), more=True, limit=limit, before=before)
            right, why = decision_right(request, identity, stewards)
            can = right and state == "pending"
            if state != "pending":
                why = f"already {state}"
            items.append(QueueItem(request=request, state=state, can_decide=can, why_not=why,
                                   entitled=approvers(request, stewards),
                                   can_revoke=right and state == "approved"))
        if len(batch) + len(unreadable) <= limit:
            return Queue(items=tuple(items), more=False, limit=limit, before=before)
        cursor = min([*skipped, *([cursor] if batch else [])], key=_filed, default=cursor)


def _filed(exception_id: str | None) -> tuple[str, int, str]:
    """The order requests were filed in (ExceptionStore.list's: year, then number)."""
    text = exception_id or ""
    return (text.removeprefix("EXC-")[:4], len(text), text)


def history(request: ExceptionRequest, uses: list[AuditRow], now: datetime
            ) -> list[HistoryEvent]:
    """The timeline of one exception, oldest first."""
    kept = getattr(request, "history", None)
    events = [] if kept else [HistoryEvent(when=request.created_at, what="requested",
                                           who=request.requested_by,
                                           detail=f"asked {request.approver}: {request.purpose}")]
    if kept:
        for entry in kept:
            get = entry.get if isinstance(entry, dict) else lambda k, e=entry: getattr(e, k, None)
            when = get("at") or get("when")
            if isinstance(when, str):
                when = datetime.fromisoformat(when)
            events.append(HistoryEvent(when=when, what=str(get("event") or get("status") or ""),
                                       who=str(get("by") or ""),
                                       detail=str(get("comment") or "")))
    elif request.decided_at is not None:
        verb = "approved" if request.valid_from is not None else "denied"
        window = ""
        if request.valid_from and request.valid_until:
            window = (f"valid {request.valid_from:%Y-%m-%d %H:%M} to "
                      f"{request.valid_until:%Y-%m-%d %H:%M} UTC")
        detail = "; ".join(x for x in (window, request.comment or "") if x)
        events.append(HistoryEvent(when=request.decided_at, what=verb,
                                   who=f"{request.decided_by} ({request.decided_role})",
                                   detail=detail))
        if request.status is Status.REVOKED:
            events.append(HistoryEvent(when=request.valid_until, what="revoked", who="",
                                       detail=request.comment or ""))
    if state_of(request, now) == "expired" and not any(e.what == "expired" for e in events):
        events.append(HistoryEvent(when=request.valid_until, what="expired", who=""))
    for row in uses:
        if row.action == "exception":  # the exception's own steps: the history above has them
            continue
        outcome = "allowed" if row.allowed else "denied"
        what = f"used: {row.action} {outcome}" if row.kind == "decision" else (
            f"{row.action} {row.status or 'finished'}")
        # from which client host (a grant names a path, not a machine), and whose word that is
        host = "" if not row.host else (
            f", from host {row.host} ("
            f"{'verified' if row.host_verified else 'unverified: the client’s word'})")
        events.append(HistoryEvent(when=row.when, what=what, who=row.user,
                                   detail=f"{row.destination} (audit #{row.seq}){host}"))
    return sorted(events, key=lambda e: (e.when is None, e.when or now))
