"""An exception: an approved, time-bound, conditional permission for one operation.

A user files an :class:`ExceptionRequest` with a purpose and a business justification; a steward
approves or denies it; an approved one is valid from its start for ``duration_hours`` and covers
only the requester, the action and the destination it names. The class names avoid shadowing
Python's builtin ``Exception``.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lacuna.identity.names import same_name
from lacuna.lineage.records import canonical_uri
from lacuna.model import Operation, Tier


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of an exception's life: who did what, when, with which comment."""

    at: datetime
    by: str
    event: str  # requested | approved | denied | revoked | expired | file-deleted | ...
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "by": self.by, "event": self.event,
                "comment": self.comment}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        return cls(at=datetime.fromisoformat(str(data["at"])), by=str(data["by"]),
                   event=str(data["event"]),
                   comment=None if data.get("comment") is None else str(data["comment"]))

    def line(self) -> str:
        note = f": {self.comment}" if self.comment else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} UTC  {self.event:<12} {self.by}{note}"


def same_source(a: str, b: str) -> bool:
    """Whether two source names (as lineage records them) name the same dataset."""
    if a == b:
        return True
    if "://" in a or "://" in b:  # one store, one name: s3a://b/x is s3://b/x
        return canonical_uri(a).rstrip("/") == canonical_uri(b).rstrip("/")
    return os.path.abspath(os.path.expanduser(a)) == os.path.abspath(os.path.expanduser(b))


def normalize_target(target: str) -> str:
    """One spelling per destination: ``~`` expanded and local paths made absolute, a URL's
    scheme as the lineage store names its store (``s3a://b/x`` is ``s3://b/x``:
    :func:`lacuna.lineage.records.canonical_uri`)."""
    if "://" in target:
        return canonical_uri(target).rstrip("/")
    return os.path.abspath(os.path.expanduser(target))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExceptionRequest:
    """A request for an exception and, once decided, the grant or refusal."""

    id: str
    requested_by: str
    requester_role: str
    action: str
    destination: str  # normalized (see normalize_target)
    sources: tuple[str, ...]
    tier: str
    tags: tuple[str, ...]
    purpose: str
    business_justification: str
    approver: str  # who was asked
    duration_hours: float
    conditions: tuple[str, ...]
    created_at: datetime
    status: Status = Status.PENDING
    decided_by: str | None = None
    decided_role: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    # What the approver requires of every use (e.g. "aggregate only", "expires with project
    # X"): shown with the grant, in its history, and in every decision the grant covers.
    approval_conditions: tuple[str, ...] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    # Who may decide, recorded when the request is filed (from a dry-run decision): the policy
    # that denies the operation, its steward (policy metadata) and the policy domains involved.
    policy_id: str | None = None
    policy_steward: str | None = None
    domains: tuple[str, ...] = ()
    # The Rego packages that evaluated that dry run (as a decision records them): what the
    # metrics' domain filter matches requests by, as it matches decisions.
    packages: tuple[str, ...] = ()
    # The client host the request came from, when the server vouched for it (the requester
    # is bound to it by the server's client_hosts): the grant covers operations from that
    # host only. None: requested in-process, or from a host the server took on the client's
    # word (an unbound user), and usable from any host (docs/exceptions.md, "Whose host").
    host: str | None = None
    # Every step so far (requested, approved/denied, revoked/expired, files deleted).
    history: tuple[HistoryEntry, ...] = ()
    # Lacuna's signature over every other field (see lacuna.exceptions.authority).
    signature: str | None = None

    def covers(self, operation: Operation, now: datetime) -> tuple[bool, str]:
        """Whether this grant covers ``operation`` at ``now``, and why not when it does not."""
        if self.status is Status.EXPIRED and self.valid_until is not None:
            return False, f"exception {self.id} expired at {self.valid_until:%Y-%m-%d %H:%M} UTC"
        if self.status is not Status.APPROVED:
            return False, f"exception {self.id} is {self.status.value}, not approved"
        if self.valid_from and now < self.valid_from:
            return (
                False,
                f"exception {self.id} is valid only from {self.valid_from:%Y-%m-%d %H:%M} UTC",
            )
        if self.valid_until and now >= self.valid_until:
            return False, f"exception {self.id} expired at {self.valid_until:%Y-%m-%d %H:%M} UTC"
        if not same_name(operation.user.id, self.requested_by):  # one rule for who is who
            return (
                False,
                f"exception {self.id} was granted to {self.requested_by}, not {operation.user.id}",
            )
        elsewhere = self.elsewhere(operation.client_host, operation.host_verified)
        if elsewhere:
            return False, elsewhere
        if operation.action.value != self.action:
            return (
                False,
                f"exception {self.id} covers action {self.action!r}, "
                f"not {operation.action.value!r}",
            )
        target = operation.destination.uri if operation.destination else ""
        # (a grant stored before names were canonical keeps its spelling: compared as one)
        if normalize_target(target) != normalize_target(self.destination):
            return (
                False,
                f"exception {self.id} covers the destination {self.destination}, "
                f"not {normalize_target(target) if target else 'this one'}",
            )
        if self.sources and not operation.sources:  # unknown data is not the granted data
            return (
                False,
                f"exception {self.id} covers data from {', '.join(self.sources)}; this "
                "operation names no source, so its data's origin is unknown",
            )
        if self.sources:
            other = [s.name for s in operation.sources
                     if not any(same_source(s.name, mine) for mine in self.sources)]
            if other:
                return (
                    False,
                    f"exception {self.id} covers data from {', '.join(self.sources)}, "
                    f"not from {', '.join(other)}",
                )
        wider = self._wider_than_requested(operation)
        if wider:
            return False, wider
        return True, f"exception {self.id} approved by {self.decided_by} ({self.decided_role})"

    def elsewhere(self, named: str | None, verified: bool) -> str | None:
        """Why a use of this grant from the client host ``named`` (None: none named;
        ``verified``: the server vouches for it) is not from the host the grant was requested
        from, else None (a grant with no host: any). Only a host the server vouches for
        counts: an unbound caller's word, or an in-process operation with no client host, is
        not that host (fail closed). An in-process operation is not given this machine's name
        instead: a process's host name is whatever its user sets, so a grant bound to a host
        would then cover any process that claims the name."""
        if self.host is None:
            return None
        if named is None:  # in-process: a notebook, a script, the dbt runtime
            return (f"exception {self.id} was requested through the Lacuna server from host "
                    f"{self.host} and covers operations from that host only; this operation "
                    "names no client host: it runs in this process (a script, a notebook, "
                    "the dbt runtime), where no server vouches for the machine (its own host "
                    "name is only its word), so a host-bound grant never covers it. Run it "
                    f"from {self.host} with lacuna.yaml's server: set (the server checks the "
                    "grant and vouches for the host), or request an exception that is bound "
                    "to no host: in-process (lacuna.request_exception / lacuna exceptions "
                    "request without server:)")
        if not verified:
            return (f"exception {self.id} was requested from host {self.host} and covers "
                    f"operations from that host only; this operation names host "
                    f"{named[:80]!r}, which the server does not vouch for (use it from "
                    f"{self.host}, through the Lacuna server that binds you to it)")
        if named.lower() != self.host.lower():
            return (f"exception {self.id} was requested from host {self.host} and covers "
                    f"operations from that host only, not from {named[:80]} (request an "
                    "exception from this host)")
        return None

    def _wider_than_requested(self, operation: Operation) -> str | None:
        """Why ``operation``'s data is more restricted than the data the steward approved
        (its tier above the tier recorded with the request, or a tag the request did not
        record), else None. The same sources can
        hold data of another tier (the request was for an aggregate, the write is of the raw
        rows): a grant never lets data leave at a tier nobody approved. A request filed
        without a known classification (``UNKNOWN``: the server knew nothing of its source)
        was approved as such and is not held to a tier."""
        try:
            granted = Tier(self.tier)
        except ValueError:
            return None
        actual = operation.classification.tier
        if actual > granted:
            return (f"exception {self.id} was requested for {granted.value} data; this data "
                    f"is {actual.value}: request an exception for this data (or write the data "
                    "the steward approved)")
        # the same tier can hold other kinds of data: a grant for customers' PII (PII, GDPR)
        # let a health column added to the same rows (PHI, HIPAA) leave under it. A tag the
        # request did not record is data nobody approved; DERIVED_FROM_X of a granted X is
        # what is left of X after an aggregation, less than was approved.
        granted_tags = set(self.tags)
        extra = [t for t in operation.classification.tags if t not in granted_tags and not (
            t.startswith("DERIVED_FROM_") and t.removeprefix("DERIVED_FROM_") in granted_tags)]
        if not extra:
            return None
        held = ", ".join(self.tags) if self.tags else "no tags"
        return (f"exception {self.id} was requested for data tagged {held}; this data is also "
                f"{', '.join(extra)}: request an exception for this data (or write the data "
                "the steward approved)")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "host" and value is None:
                # not written when unset: rows signed before grants kept a host still verify,
                # and a client older than the field reads every grant but a host-bound one
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [v.to_dict() if isinstance(v, HistoryEntry) else v for v in value]
            elif isinstance(value, enum.Enum):
                value = value.value
            out[name] = value
        return out

    def __str__(self) -> str:
        return render(self)


def render(request: ExceptionRequest) -> str:
    """The seed's approval notice (or the pending/denied equivalent); what requesters and
    deciders wrote is shown on its own line, its control characters as escapes
    (:func:`lacuna.exceptions.shown.visible`: a request stored before they were refused)."""
    from lacuna.exceptions.shown import visible_fields

    r = visible_fields(request)
    if r.status is Status.PENDING:
        return "\n".join(
            [
                "⏳ Exception Requested",
                f"Exception ID: {r.id}",
                f"Waiting for: {r.approver}",
                f"Destination: {r.destination}",
                f"Purpose: {r.purpose}",
                f"A steward approves, as themselves (user.id in lacuna.yaml or $LACUNA_USER), "
                f"with: lacuna exceptions approve {r.id}",
                *_history_lines(r),
            ]
        )
    if r.status is not Status.APPROVED:
        lines = [
            f"✗ Exception {r.status.value.capitalize()}",
            f"Exception ID: {r.id}",
            f"Decided by: {r.decided_by} ({r.decided_role})",
        ]
        lines += [f"Comment: {r.comment}"] if r.comment else []
        if r.approval_conditions:
            lines.append("Conditions of approval:")
            lines += [f"• {c}" for c in r.approval_conditions]
        return "\n".join(lines + _history_lines(r))
    start = f"{r.valid_from:%Y-%m-%d %H:%M}" if r.valid_from else "(no start)"
    end = f"{r.valid_until:%Y-%m-%d %H:%M}" if r.valid_until else "(no end)"
    lines = [
        "✓ Exception Approved",
        f"Exception ID: {r.id}",
        f"Approved by: {r.decided_by} ({(r.decided_role or '').replace('_', ' ').title()})",
        f"Valid: {start} - {end} UTC",
    ]
    if r.host:
        lines.append(f"From host: {r.host} (operations from other hosts are not covered)")
    if r.conditions:
        lines.append("Conditions:")
        lines += [f"• {c}" for c in r.conditions]
    if r.approval_conditions:
        lines.append(f"Conditions of approval (set by {r.decided_by}):")
        lines += [f"• {c}" for c in r.approval_conditions]
    lines += [
        "To proceed (pandas):",
        f'    df.to_csv("{r.destination}", exception_id="{r.id}", encrypt=True)',
        f"Reminder: Exception expires at {end} UTC.",
        "Files written under it are deleted when it expires (lacuna exceptions sweep).",
    ]
    return "\n".join(lines + _history_lines(r))


def _history_lines(r: ExceptionRequest) -> list[str]:
    return ["History:", *(f"  {h.line()}" for h in r.history)] if r.history else []
