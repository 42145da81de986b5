"""Questions asked of the audit trail: "who read this file in the last 90 days".

    records = store.list(limit=None, since=parse_since("90d"))
    readers = {r.user_id for r in touching(records, "/governed/workspace/q4.csv")
               if r.action == "read"}
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from lacuna.audit.record import AuditRecord
from lacuna.model import Action

# The actions of the trail's events that are no operation (each module's constant; a test
# checks them): with the operations' actions (lacuna.model.Action), what ``--action`` takes.
EVENT_ACTIONS = frozenset({
    "configure",  # lacuna.audit.configuration
    "identity", "console_session",  # lacuna.identity.trail
    "exception",  # lacuna.exceptions.events
    "retention",  # lacuna.retention.api
    "feedback", "survey",  # lacuna.metrics.facts
    "feedback_review", "feedback_review_refused",  # lacuna.metrics.review
    "lineage_claim",  # lacuna.lineage.dismiss
    "key_management",  # lacuna.storage.rotation
})

_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhdw])\s*$", re.ASCII)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``90d`` / ``12h`` / ``30m`` / ``2w`` back from now, or an ISO date or time (UTC)."""
    match = _DURATION.match(text)
    if match:
        digits = match.group(1).lstrip("0") or "0"
        try:  # longer ago than a datetime reaches (year 1): every record
            if len(digits) > 12:
                raise OverflowError(digits)
            return (now or datetime.now(UTC)) - timedelta(
                **{_UNITS[match.group(2)]: int(digits)})
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        msg = (f"--since {text!r} is neither a duration (90d, 12h, 30m, 2w) nor an ISO date "
               "or time (2026-01-31, 2026-01-31T14:00).")
        raise ValueError(msg) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def check_action(value: str, on_trail: Callable[[], Sequence[str]] | None = None) -> str:
    """``value`` as the trail's ``action`` column spells it (``Export``: ``export``), when it
    is an action Lacuna records (an operation's, an event's) or, asked only then, one a record
    of the trail holds (``on_trail``, e.g. :meth:`AuditStore.actions
    <lacuna.audit.store.AuditStore.actions>`: written by a newer Lacuna). Else a
    ``ValueError`` naming the valid ones: a misspelt filter (``exprt``) matched nothing and
    read as "no such records".

    Example:
        >>> check_action("Export")
        'export'
    """
    wanted = value.strip().lower()
    known = {a.value for a in Action} | EVENT_ACTIONS
    for attempt in range(2):
        for candidate in (value, wanted):
            if candidate in known:
                return candidate
        if attempt or on_trail is None:
            break
        known |= set(on_trail())
    from difflib import get_close_matches

    near = get_close_matches(wanted, sorted(known), n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    msg = (f"action {value!a} is not an action of the audit trail{hint}; use one of: "
           f"{', '.join(sorted(known))}.")
    raise ValueError(msg)


def names_of(path: str) -> frozenset[str]:
    """How the trail may name ``path``: as given, absolute, and resolved (symlinks, ``..``),
    and with its credentials masked as the trail keeps names (:func:`lacuna.redact.
    redact_name`: ``postgresql://ann:***@db/crm`` for ``postgresql://ann:hunter2@db/crm``, which
    found nothing)."""
    from lacuna.redact import redact_name

    expanded = os.path.expanduser(path)
    return frozenset({path, redact_name(path), expanded, os.path.abspath(expanded),
                      os.path.realpath(expanded)})


def touching(records: Sequence[AuditRecord], path: str) -> list[AuditRecord]:
    """The records whose operation read ``path`` (a source) or wrote it (the destination), and
    the outcome records of those operations; in the given order."""
    names = names_of(path)

    def named(name: object) -> bool:
        if not isinstance(name, str):
            return False
        base = name.split("#", 1)[0]  # read_excel(sheet_name=None): "<file>#<sheet>"
        return base in names or (os.path.isabs(base) and os.path.realpath(base) in names)

    hits: set[str] = set()
    for rec in records:
        what = rec.data.get("what")
        if not isinstance(what, dict):
            continue
        sources = what.get("sources")
        listed = sources if isinstance(sources, list) else []
        if any(named(s) for s in listed) or named(what.get("destination")):
            hits.add(rec.id)
    return [r for r in records if r.id in hits or (r.outcome_of or "") in hits]


__all__ = ["EVENT_ACTIONS", "check_action", "names_of", "parse_since", "touching"]
