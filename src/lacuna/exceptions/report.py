"""The exceptions section of a compliance report: every exception filed since a date, who asked
and why, who decided and when, how often it was used, which files were written under it and
whether they were deleted (``lacuna exceptions report [--since] [--json]``)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lacuna.exceptions.model import ExceptionRequest, Status, normalize_target
from lacuna.identity.names import same_name

if TYPE_CHECKING:
    from lacuna.exceptions.context import Context


@dataclass(frozen=True, slots=True)
class ExceptionsReport:
    since: datetime | None
    generated_at: datetime
    items: tuple[dict[str, Any], ...]
    # rows of the exceptions table that are not requests Lacuna wrote (each one's message)
    unreadable: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(str(i["status"]) for i in self.items)
        return {s.value: found.get(s.value, 0) for s in Status}

    def to_dict(self) -> dict[str, Any]:
        decided = [i["hours_to_decision"] for i in self.items
                   if i["hours_to_decision"] is not None]
        return {
            "section": "exceptions",
            "since": self.since.isoformat() if self.since else None,
            "generated_at": self.generated_at.isoformat(),
            "total": len(self.items),
            "by_status": self.counts,
            "median_hours_to_decision": _median(decided),
            "uses": sum(int(i["uses"]) for i in self.items),
            "files_written": sum(len(i["files"]) for i in self.items),
            "files_not_deleted": sum(1 for i in self.items for f in i["files"]
                                     if f["deleted_at"] is None),
            "exceptions": list(self.items),
            "unreadable": list(self.unreadable),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def text(self) -> str:
        from lacuna.exceptions.shown import visible

        d = self.to_dict()
        since = f" since {self.since:%Y-%m-%d}" if self.since else ""
        lines = [f"Exceptions{since}: {d['total']} filed "
                 + "(" + ", ".join(f"{k} {v}" for k, v in d["by_status"].items() if v) + ")",
                 f"Used {d['uses']} time(s); {d['files_written']} file(s) written under an "
                 f"exception, {d['files_not_deleted']} not deleted yet."]
        lines += [f"UNREADABLE: {why}" for why in self.unreadable]
        if d["median_hours_to_decision"] is not None:
            lines.append(f"Median time to decision: {d['median_hours_to_decision']:.2f} h")
        for i in self.items:
            lines.append("")
            lines.append(f"{i['id']}  {i['status'].upper()}  {i['requested_by']} → "
                         f"{i['action']} {i['destination']}")
            lines.append(f"  purpose: {i['purpose']}")
            if i["business_justification"]:
                lines.append(f"  justification: {i['business_justification']}")
            if i["conditions"]:
                lines.append(f"  conditions: {'; '.join(i['conditions'])}")
            if i["decided_by"]:
                lines.append(f"  decided by {i['decided_by']} ({i['decided_role']}) at "
                             f"{i['decided_at']}" + (f": {i['comment']}" if i["comment"] else ""))
            if i["valid_from"]:
                lines.append(f"  valid {i['valid_from']} – {i['valid_until']}")
            lines.append(f"  used {i['uses']} time(s); policy {i['policy_id'] or '-'}; "
                         f"signature {'verified' if i['verified'] else 'NOT VERIFIED'}")
            for f in i["files"]:
                state = f"deleted {f['deleted_at']}" if f["deleted_at"] else "NOT DELETED"
                if f["deleted_at"] and f.get("superseded_at"):
                    state = (f"replaced in full {f['superseded_at']} by a later write "
                             "(superseded: its content is gone)")
                if f["deleted_at"] and f.get("discarded_at"):
                    state = (f"never written: the write saved nothing ({f['discarded_at']}, "
                             "discarded)")
                if not f["deleted_at"] and f.get("missing_since"):
                    state += (f" (missing at its recorded path since {f['missing_since']}: "
                              "may have been moved)")
                lines.append(f"  file {f['path']} ({'encrypted' if f['encrypted'] else 'plain'})"
                             f": {state}")
        # one line each: a control character or line break a request stored before they were
        # refused holds is shown as its escape (lacuna.exceptions.shown)
        return "\n".join(visible(line, one_line=True) for line in lines)


def build(gov: Context, since: datetime | None = None) -> ExceptionsReport:
    """The report (``lacuna exceptions report``).

    Raises:
        NotOnThisHost: ``server:`` is configured: the uses, signatures and file records it
            reads are the server's (run it on the server's host).
    """
    from lacuna.model import utcnow
    from lacuna.remote.client import refuse_local_state

    refuse_local_state(gov.config, "lacuna exceptions report", (
        "Run it on the server's host (a lacuna.yaml without server:, on the server's state "
        "database); GET /api/v1/exceptions and GET /api/v1/exceptions/{id}/files answer "
        "from a client."))

    store = gov.exceptions
    uses = _uses(gov, since)
    items = []
    unreadable: list[Exception] = []
    for request in store.list(unreadable=unreadable):
        if since is not None and request.created_at < since:
            continue
        items.append(_item(request, store.verified(request), _used(request, uses),
                           [_file({**f.to_dict(), "verified": store.file_verified(f)}, request)
                            for f in store.files(request.id)]))
    return ExceptionsReport(since=since, generated_at=utcnow(), items=tuple(items),
                            unreadable=tuple(str(e) for e in unreadable))


def _file(f: dict[str, Any], r: ExceptionRequest) -> dict[str, Any]:
    """A written file, with when the sweep first found it missing at its path (or None), when
    a write replaced it in full (``file-superseded``, or None), and when its record was closed
    because the write saved nothing (``file-discarded``, or None)."""
    since = next((h.at.isoformat() for h in r.history if h.event == "file-missing"
                  and (h.comment or "").split(": ", 1)[0] == f["path"]), None)
    replaced = next((h.at.isoformat() for h in r.history if h.event == "file-superseded"
                     and (h.comment or "").split(": ", 1)[0] == f["path"]), None)
    discarded = next((h.at.isoformat() for h in r.history if h.event == "file-discarded"
                      and (h.comment or "").split(": ", 1)[0] == f["path"]), None)
    return {**f, "missing_since": since if f["deleted_at"] is None else None,
            "superseded_at": replaced if f["deleted_at"] is not None else None,
            "discarded_at": discarded if f["deleted_at"] is not None else None}


def _item(r: ExceptionRequest, verified: bool, uses: int,
          files: list[dict[str, Any]]) -> dict[str, Any]:
    body = r.to_dict()
    body.pop("signature", None)
    hours = ((r.decided_at - r.created_at).total_seconds() / 3600
             if r.decided_at is not None else None)
    return {**body, "verified": verified, "uses": uses, "files": files,
            "hours_to_decision": None if hours is None else round(hours, 4)}


@dataclass(frozen=True, slots=True)
class _Use:
    user: str
    action: str
    destination: str
    when: datetime


def _uses(gov: Context, since: datetime | None) -> dict[str, list[_Use]]:
    """The allowed operations that named each exception (decision records on the trail)."""
    found: dict[str, list[_Use]] = {}
    for record in gov.audit.list(limit=None, since=since):
        data = record.data
        if data.get("kind") is not None or not record.allowed:
            continue  # an outcome or an exception event, or a denied attempt
        why, what = data.get("why"), data.get("what")
        exc_id = why.get("exception_id") if isinstance(why, dict) else None
        if exc_id:
            what = what if isinstance(what, dict) else {}
            found.setdefault(str(exc_id), []).append(_Use(
                record.user_id, str(what.get("action") or ""),
                str(what.get("destination") or ""), record.timestamp))
    return found


def _used(r: ExceptionRequest, uses: dict[str, list[_Use]]) -> int:
    """How many of the allowed operations naming ``r`` it covered: its requester's, of its
    action, to its destination, inside its window. Naming an id is not using it: another
    user's operation allowed on its own merits (a governed destination) that named it, or
    one outside the window, is no use of the grant."""
    if r.valid_from is None or r.valid_until is None:
        return 0  # never approved: nothing used it
    return sum(1 for u in uses.get(r.id, ()) if same_name(u.user, r.requested_by)
               and u.action == r.action and u.destination
               and normalize_target(u.destination) == r.destination
               and r.valid_from <= u.when < r.valid_until)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


__all__ = ["ExceptionsReport", "build"]
