"""The retention plan: for every governed item, what happens to it now and why.

For a governed file the window is, first match wins: a ``retention.datasets`` entry whose
pattern matches its path, else its tier's (``retention.tiers``; the seed's table by default).
``retention`` rules in the policy bundle override it (:mod:`.rules`): their ``min``/``max``
replace the configured ones (several answers: the longest of each wins) and a ``hold`` holds.

Then, in this order:

1. under a legal hold (``lacuna retention hold`` or a Rego hold): **held**, kept;
2. the minimum is not over: **keep** (deletion before the minimum is refused, even when a
   maximum shorter than the minimum says otherwise: the minimum wins, and the plan says so);
3. past the maximum: **delete** (or **archive** with ``on_expiry: archive``);
4. otherwise: **keep**.

A file's window counts from its clock (``Item.clock``: the earliest of its write time, the
``first_seen`` its signed sidecar or sealed header carries, and when the audit trail first
saw its data, :mod:`.trail`). A file whose age and tier are not
established from trusted evidence (``Item.unverified``) and that step 3 does not make due is
**review** (kept, never silently): 2 and 4 do not apply to it. :func:`against_record` then
compares a file's decision with what ``apply`` recorded: a changed rule is reported, and a
file a recorded decision made due that the current rule keeps is **review**, as is every file
it would keep while the audit trail does not verify.

Files written under an exception are due when the exception ended (its window is the rule);
a hold still keeps them. The audit trail is reported against ``retention.audit.min`` and
never pruned. A rule that fails makes its item **error**: kept, with the error as its reason.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from lacuna.errors import LacunaError
from lacuna.retention.inventory import Item
from lacuna.retention.settings import Duration, Window

if TYPE_CHECKING:
    from lacuna.retention.holds import Hold
    from lacuna.retention.rules import Override, RetentionRules
    from lacuna.retention.settings import RetentionSettings
    from lacuna.retention.trail import Recorded

Action = Literal["delete", "archive", "keep", "hold", "error", "review"]
DUE: tuple[Action, ...] = ("delete", "archive")


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One item's retention decision."""

    item: Item
    action: Action
    reason: str
    rule: str  # e.g. "retention.tiers.INTERNAL: min 1y, max 3y"
    policy: str  # where the rule comes from: lacuna.yaml, defaults, a Rego package, a hold
    policy_id: str  # what the audit record names as the policy that required the decision
    min_until: datetime | None = None
    due_at: datetime | None = None
    hold_id: str | None = None
    age_days: float = 0.0
    # the decision ``apply`` last recorded for it, when its rule was another; or the recorded
    # decision under which it was already due, when the current rule keeps it (review)
    previous: Recorded | None = None

    @property
    def due(self) -> bool:
        return self.action in DUE

    def to_dict(self) -> dict[str, Any]:
        i = self.item
        return {
            "path": i.path, "kind": i.kind, "action": self.action, "reason": self.reason,
            "rule": self.rule, "policy": self.policy, "policy_id": self.policy_id,
            "tier": i.tier.value, "tags": list(i.tags), "age_days": round(self.age_days, 1),
            "written_at": i.written_at.isoformat(), "written_by": i.written_by,
            "clock": i.clock.isoformat(), "known_from": i.known_from,
            "min_until": self.min_until.isoformat() if self.min_until else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "hold_id": self.hold_id, "exception_id": i.exception_id,
            "previous": self.previous.to_dict() if self.previous else None,
            **({"records": i.records} if i.kind == "audit" else {}),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What retention would do at ``now``."""

    now: datetime
    entries: tuple[Entry, ...]
    rules_revision: str | None = None
    rego_packages: tuple[str, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for e in self.entries if e.action == action)

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(),
                "summary": {a: self.count(a) for a in ("delete", "archive", "keep", "hold",
                                                       "error", "review")},
                "rego_packages": list(self.rego_packages),
                "policy_revision": self.rules_revision,
                "entries": [e.to_dict() for e in self.entries]}


def window_for(item: Item, settings: RetentionSettings, configured: Mapping[str, Any],
               base: str) -> tuple[Window, str, str, str]:
    """The configured window of a file: ``(window, rule, policy source, policy id)``. A pattern
    and the file are compared as written and resolved (``..``, ``~``, symbolic links: a root
    configured through a link, a pattern naming the real folder, or the other way round)."""
    paths = {item.path, os.path.realpath(item.path)}
    for pattern, window in settings.datasets.items():
        given = os.path.normpath(os.path.join(base, os.path.expanduser(pattern)))
        if any(fnmatch.fnmatch(p, full) or p == full or p.startswith(full.rstrip(os.sep) + os.sep)
               for p in paths for full in {given, os.path.realpath(given)}):
            return (window, f"retention.datasets[{pattern!r}]: {_describe(window)}",
                    "lacuna.yaml", f"retention.datasets.{pattern}")
    window = settings.tiers[item.tier]
    tiers = configured.get("tiers")
    mine = isinstance(tiers, Mapping) and any(str(k).upper() == item.tier.value for k in tiers)
    return (window, f"retention.tiers.{item.tier.value}: {_describe(window)}",
            "lacuna.yaml" if mine else "defaults (the seed's tier table)",
            f"retention.tiers.{item.tier.value}")


def _describe(window: Window) -> str:
    parts = [f"min {window.min}" if window.min else "no minimum",
             f"max {window.max}" if window.max else "no maximum"]
    if window.on_expiry == "archive":
        parts.append("archive on expiry")
    return ", ".join(parts)


def decide(item: Item, *, now: datetime, settings: RetentionSettings,
           configured: Mapping[str, Any], base: str, holds: Iterable[Hold],
           rules: RetentionRules | None) -> Entry:
    """The decision for one item (see the module docstring)."""
    age = (now - item.clock).total_seconds() / 86400
    # a hold the audit trail does not bear out holds nothing: :func:`unresolved` makes what it
    # would hold an error (kept, loudly)
    hold = next((h for h in holds if not h.unrecorded and h.blocks(item.path)), None)
    if item.kind == "audit":
        return _audit(item, now=now, settings=settings, age=age)
    if item.kind == "exception-file":
        window = Window()
        rule, policy, policy_id = (f"exception {item.exception_id}: files are deleted when its "
                                   "window ends", "exceptions store",
                                   f"exception.{item.exception_id}")
    else:
        window, rule, policy, policy_id = window_for(item, settings, configured, base)
    overrides: tuple[Override, ...] = ()
    if rules is not None and rules.packages:
        try:
            overrides = rules.evaluate(_input(item, now, age))
        except LacunaError as exc:
            return Entry(item=item, action="error", reason=f"kept: {exc}", rule=rule,
                         policy=policy, policy_id=policy_id, age_days=age)
    base_min, base_max = window.min, window.max
    expiry = window.on_expiry
    if overrides:
        mins = [o.min for o in overrides if o.min is not None]
        maxes = [o.max for o in overrides if o.max is not None]
        if mins:
            base_min = max(mins, key=lambda d: d.after(item.clock))
        if maxes:
            base_max = max(maxes, key=lambda d: d.after(item.clock))
        chosen = next((o.on_expiry for o in overrides if o.on_expiry), None)
        if chosen in ("delete", "archive"):
            expiry = "archive" if chosen == "archive" else "delete"
        said = [o for o in overrides if o.min or o.max or o.on_expiry]
        if said:
            names = ", ".join(sorted({o.package for o in said}))
            rule = (f"rego {names}: min {base_min or 'none'}, max {base_max or 'none'}"
                    f" (overrides {rule})")
            policy, policy_id = f"rego: {names}", said[0].package
        rego_hold = next((o for o in overrides if o.hold), None)
        if rego_hold is not None and hold is None:
            why = rego_hold.reason or "a retention rule holds it"
            return Entry(item=item, action="hold", reason=f"legal hold from policy: {why}",
                         rule=rule, policy=f"rego: {rego_hold.package}",
                         policy_id=rego_hold.package, age_days=age)
    if hold is not None:
        return Entry(item=item, action="hold", reason=f"legal hold {hold.id}: {hold.reason} "
                     f"(placed by {hold.placed_by})", rule=rule, policy=f"hold {hold.id}",
                     policy_id=f"retention.hold.{hold.id}", hold_id=hold.id, age_days=age)
    if item.kind == "exception-file":
        assert item.ended_at is not None
        return Entry(item=item, action="delete", reason=f"the exception {item.exception_id} "
                     f"ended at {item.ended_at:%Y-%m-%d %H:%M} UTC", rule=rule, policy=policy,
                     policy_id=policy_id, due_at=item.ended_at, age_days=age)
    min_until = base_min.after(item.clock) if base_min else None
    due_at = base_max.after(item.clock) if base_max else None
    note = ""
    if due_at is not None and min_until is not None and due_at < min_until:
        note = f" (its maximum {base_max} is shorter than its minimum {base_min}: the minimum wins)"
        due_at = min_until
    kept = Entry(item=item, action="keep", reason="", rule=rule, policy=policy,
                 policy_id=policy_id, min_until=min_until, due_at=due_at, age_days=age)
    if min_until is not None and now < min_until:
        entry = replace(kept, reason=f"inside its minimum retention ({base_min}) until "
                        f"{min_until:%Y-%m-%d}: deletion refused{note}")
    elif due_at is not None and now >= due_at:
        action: Action = "archive" if expiry == "archive" else "delete"
        return replace(kept, action=action, reason=f"past its maximum retention ({base_max}) "
                       f"since {due_at:%Y-%m-%d}{note}")
    elif due_at is None:
        entry = replace(kept, reason="no maximum retention: kept")
    else:
        entry = replace(kept, reason=f"inside its retention window: due on {due_at:%Y-%m-%d}")
    if item.unverified is None:
        return entry
    return replace(entry, action="review", reason=(
        f"to review: {item.unverified}, so its age and tier are not established from trusted "
        f"evidence (by what is known, {item.tier} since {item.clock:%Y-%m-%d}: "
        f"{entry.reason}); not kept silently. Write it through Lacuna (a signed sidecar), "
        "delete it, or place a hold saying why it is kept (lacuna retention hold PATH "
        "--reason ...)"))


def against_record(entry: Entry, last: Recorded | None, earliest: Recorded | None, *,
                   now: datetime, trail_problem: str | None = None) -> Entry:
    """A governed file's decision against what ``apply`` recorded for it before: a changed
    rule is reported with the previous one, and a file that a recorded rule made due by
    ``now`` is not taken out of the plan by a rule that keeps it (windows lengthened, a
    maximum removed, the tier or the Rego rules changed): it is for **review** (kept, ``apply``
    exits 1) until it is deleted, held with a reason, or the rule is put back."""
    if entry.item.kind != "file":
        return entry
    if trail_problem is not None and entry.action == "keep":
        return replace(entry, action="review", reason=(
            f"to review: the audit trail does not verify ({trail_problem}), so when this "
            "file's data was first seen, and what apply recorded for it, cannot be read from "
            f"it ({entry.reason}); not kept silently. Find what `lacuna audit verify` reports "
            "and restore the trail, then plan again"))
    if (earliest is not None and earliest.due_at is not None and earliest.due_at <= now
            and entry.action in ("keep", "review")):
        return replace(entry, action="review", previous=earliest, reason=(
            f"to review: due since {earliest.due_at:%Y-%m-%d} under {earliest.rule} (recorded "
            f"by apply on {earliest.as_of:%Y-%m-%d}), kept now under {entry.rule} "
            f"({entry.reason}): a file already due does not leave the plan because its rule "
            "changed or its clock restarted. Put the rule back, delete the file, or place a "
            "hold saying why it is kept (lacuna retention hold PATH --reason ...)"))
    if last is not None and last.rule != entry.rule:
        return replace(entry, previous=last, reason=f"{entry.reason} (its rule changed since "
                       f"apply on {last.as_of:%Y-%m-%d}: it was {last.rule})")
    return entry


def unresolved(entry: Entry, holds: Iterable[Hold]) -> Entry:
    """A due entry while a hold leaves what may be deleted unknown: nothing is deleted or
    archived (**error**, kept) until someone with the authority to hold or release says so.

    - an active hold names a local path that no longer exists: the held data was moved or
      renamed (or deleted outside retention), so what the hold holds is unknown;
    - an active hold in the holds table that the audit trail does not bear out (a row inserted
      or re-activated by hand, or one whose placing could not be recorded) covers the item: it
      is not obeyed silently, nor ignored;
    - the item's untrusted sidecar claims a higher tier or a later write time than its sealed
      header (``Item.doubt``).
    """
    if not entry.due:
        return entry
    holds = tuple(holds)
    done = "deleted" if entry.action == "delete" else "archived"
    lost = next((h for h in holds if h.lost), None)
    if lost is not None:
        return replace(entry, action="error", hold_id=lost.id, policy=f"hold {lost.id}",
                       policy_id=f"retention.hold.{lost.id}", reason=(
                           f"not {done}: legal hold {lost.id} ({lost.reason}) names "
                           f"{lost.dataset}, which no longer exists (moved, renamed or "
                           "deleted?), so what it holds is unknown. Place the hold on where the "
                           "data is now (lacuna retention hold), then release the old one "
                           f"(lacuna retention release {lost.id})"))
    odd = next((h for h in holds if h.unrecorded and h.blocks(entry.item.path)), None)
    if odd is not None:
        return replace(entry, action="error", hold_id=odd.id, policy=f"hold {odd.id}",
                       policy_id=f"retention.hold.{odd.id}", reason=(
                           f"not {done}: the holds table has an active hold {odd.id} on "
                           f"{odd.dataset} ({odd.reason}) that the audit trail does not bear "
                           f"out ({odd.unrecorded}): it was not placed with `lacuna retention "
                           "hold`. Place the hold again with `lacuna retention hold` if it is "
                           "real, or delete its row, then apply again"))
    if entry.item.doubt is not None:
        return replace(entry, action="error", reason=(
            f"not {done}: {entry.item.doubt}. Its window by the header is over, but what the "
            "sidecar claims is not kept silently nor overruled. Write the data again through "
            "Lacuna (a new signed sidecar), remove the sidecar, or place a hold (lacuna "
            "retention hold), then apply again"))
    return entry


def _audit(item: Item, *, now: datetime, settings: RetentionSettings, age: float) -> Entry:
    minimum: Duration = settings.audit.min
    until = minimum.after(item.written_at)
    if now < until:
        reason = (f"{item.records} record(s); the oldest is inside the audit retention "
                  f"({minimum}) until {until:%Y-%m-%d}")
    else:
        reason = (f"{item.records} record(s); records older than {minimum} may be archived by "
                  "an operator, but Lacuna never prunes the trail (pruning would break `lacuna "
                  "audit verify`)")
    return Entry(item=item, action="keep", reason=reason,
                 rule=f"retention.audit: min {minimum}, never pruned", policy="lacuna.yaml "
                 "or defaults (regulated data)", policy_id="retention.audit", min_until=until,
                 age_days=age)


def _input(item: Item, now: datetime, age: float) -> dict[str, Any]:
    return {"dataset": {"path": item.path, "kind": item.kind, "tier": item.tier.value,
                        "tags": list(item.tags), "written_at": item.written_at.isoformat(),
                        "clock": item.clock.isoformat(),
                        "written_by": item.written_by, "age_days": round(age, 3),
                        "exception_id": item.exception_id},
            "now": now.isoformat()}


__all__ = ["DUE", "Action", "Entry", "Plan", "against_record", "decide", "unresolved",
           "window_for"]
