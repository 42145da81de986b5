"""What loosens governance inside the sections other modules own: ``retention`` and the
``governance`` section's per-environment policies (ADR-0012).

These sections are recorded as written, so one setting can be spelled several ways (``internal``
or ``INTERNAL``, ``36m`` or ``3y``), and a key left out means its default (a tier left out of
``retention.tiers`` keeps the seed's window; a ``max`` left out of a window written there means
never due). A changed path alone cannot say which way it goes, so each rule here validates the
whole section before and after (with its owner's validator) and compares what it means:

* a **retention window** (a tier's, or a ``datasets`` entry's): its ``max`` raised or removed
  (never due), or ``on_expiry`` turned from ``delete`` to ``archive``; a ``datasets`` entry
  added whose ``max`` is longer than a tier's (or that has none while a tier has one): files of
  that tier it matches are kept longer; a ``datasets`` entry removed whose ``max`` was shorter
  than a tier's (or a tier has none): the files it matched fall back to their tier;
* the **order** of ``retention.datasets`` changed (the first entry that matches a path wins)
  so that, of two entries whose order turned, the one now first has the longer window (or
  archives): the paths both match are kept longer;
* ``retention.audit.min`` lowered, ``unclassified_tier`` lowered, ``archive_dir`` changed (where
  archived data goes), ``exceptions`` turned off, ``schedule`` removed or made rarer;
* a **policy** under ``governance.policies``, per key and per environment type (an
  environment's own rule wins over its category's): the rule removed, its action lowered
  (``redact`` > ``synthesize`` > ``hash`` > ``mask`` > ``restrict`` > ``allow``), roles added to
  ``requires_role`` or the requirement removed, ``requires_approval`` turned off.

A section that no longer validates (a trail written by another version) cannot be compared:
each of its changes is marked, saying so. Each rule's reason is given once per entry (a tier, a
``datasets`` glob, a policy's environment): on the change of its ``max`` (or ``action``) when
that changed, else on the entry's first changed setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError
from lacuna.model import ENVIRONMENT_CATEGORY, Tier

if TYPE_CHECKING:
    from lacuna.dbt.governance import GovernanceConfig, PolicyRule
    from lacuna.retention.settings import Duration, RetentionSettings, Window

REF = datetime(2001, 1, 1, tzinfo=UTC)  # durations and schedules are compared from here


@dataclass(frozen=True, slots=True)
class InSection:
    """A rule that reads both whole snapshots: ``rule(path, before, after, changed)`` with the
    changed path, the snapshots and every changed path; returns why it loosens, or ``""``."""

    rule: Callable[[str, Mapping[str, Any], Mapping[str, Any], Set[str]], str]


def _owner(path: str, entry: Callable[[str], str | None], primary: str,
           changed: Set[str]) -> bool:
    """Whether ``path`` carries its entry's reason: the entry's ``primary`` setting when it
    changed, else the entry's first changed setting."""
    key = entry(path)
    mine = sorted(p for p in changed if entry(p) == key)
    main = [p for p in mine if p.rsplit(".", 1)[-1] == primary]
    return path == (main or mine)[0]


# -- retention --------------------------------------------------------------------------------

def _retention(snap: Mapping[str, Any]) -> RetentionSettings:
    from lacuna.retention.settings import retention_from

    return retention_from(snap.get("retention") or None)


def _until(d: Duration | None) -> datetime | None:
    return None if d is None else d.after(REF)


def _longer(was: Duration | None, now: Duration | None) -> bool:
    a, b = _until(was), _until(now)
    return a is not None and (b is None or b > a)


def _window(was: Window, now: Window) -> list[str]:
    out = []
    if _longer(was.max, now.max):
        out.append(f"its max removed (was {was.max}): never due" if now.max is None
                   else f"its max raised from {was.max} to {now.max}")
    if was.on_expiry == "delete" and now.on_expiry == "archive":
        out.append("expired data is archived (kept) instead of deleted")
    return out


def _tiers_kept_longer(max_: Duration | None, tiers: Mapping[Tier, Window]) -> list[str]:
    return [f"{t.value} {w.max}" for t, w in tiers.items()
            if w.max is not None and _longer(w.max, max_)]


def _tiers_longer_than(max_: Duration, tiers: Mapping[Tier, Window]) -> list[str]:
    return [f"{t.value} {w.max or 'never due'}" for t, w in tiers.items()
            if _longer(max_, w.max)]


_WINDOW_KEYS = frozenset({"min", "max", "on_expiry"})


def _entry_key(section: str) -> Callable[[str], str | None]:
    prefix = f"retention.{section}."

    def key(path: str) -> str | None:
        rest = path[len(prefix):] if path.startswith(prefix) else None
        if rest is None:
            return None
        # a window's setting (``*.csv.max``), or the entry itself written as ``{}`` (``*.csv``)
        entry, _, setting = rest.rpartition(".")
        return entry if entry and setting in _WINDOW_KEYS else rest

    return key


def _period(text: str) -> timedelta:
    from lacuna.scheduler import Every, parse_schedule

    sched = parse_schedule(text)
    if isinstance(sched, Every):
        return timedelta(seconds=sched.seconds)
    runs = [sched.next_after(REF)]
    for _ in range(8):
        runs.append(sched.next_after(runs[-1]))
    return (runs[-1] - runs[0]) / 8


def _about(period: timedelta) -> str:
    seconds = period.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"


def retention(path: str, before: Mapping[str, Any], after: Mapping[str, Any],
              changed: Set[str]) -> str:
    """Why a change under ``retention`` loosens it (see the module docstring), or ``""``."""
    try:
        old, new = _retention(before), _retention(after)
    except ConfigError:
        return ("the retention settings before or after do not validate, so whether this "
                "keeps data longer is not known: compare them by hand")
    rest = path.removeprefix("retention.")
    section = rest.split(".", 1)[0]
    if section in ("tiers", "datasets"):
        key = _entry_key(section)
        name = key(path)
        if name is None or not _owner(path, key, "max", changed):
            return ""
        reasons = (_tier_reasons if section == "tiers" else _dataset_reasons)(name, old, new)
        return "; ".join(reasons)
    if section == "audit" and _longer(new.audit.min, old.audit.min):
        return (f"the audit trail's minimum retention lowered from {old.audit.min} to "
                f"{new.audit.min}")
    if section == "unclassified_tier" and new.unclassified_tier < old.unclassified_tier:
        return (f"files with no trusted classification are taken as {new.unclassified_tier}, "
                f"not {old.unclassified_tier} (that tier's window applies)")
    if section == "archive_dir" and old.archive_dir != new.archive_dir:
        return (f"archived data goes to {new.archive_dir or '(unset: archiving fails)'} "
                f"instead of {old.archive_dir or '(unset)'}")
    if section == "exceptions" and old.exceptions and not new.exceptions:
        return "files written under exceptions that ended are no longer due"
    if section == "schedule" and old.schedule is not None:
        if new.schedule is None:
            return f"retention is no longer applied by lacuna serve (was {old.schedule})"
        was, now = _period(old.schedule), _period(new.schedule)
        if now > was:
            return (f"retention is applied less often: about every {_about(now)} instead of "
                    f"every {_about(was)}")
    return ""


def _tier_reasons(name: str, old: RetentionSettings, new: RetentionSettings) -> list[str]:
    try:
        tier = Tier.parse(name)
    except (ValueError, ConfigError):
        return []
    return [f"tier {tier.value}: {r}" for r in _window(old.tiers[tier], new.tiers[tier])]


def _dataset_reasons(name: str, old: RetentionSettings, new: RetentionSettings) -> list[str]:
    was, now = old.datasets.get(name), new.datasets.get(name)
    label = f"datasets entry {name!r}"
    if was is not None and now is not None:
        return [f"{label}: {r}" for r in _window(was, now)]
    if was is None and now is not None:  # its files went by their tiers' windows until now
        longer = _tiers_kept_longer(now.max, old.tiers)
        out = []
        if longer:
            keeps = "never due" if now.max is None else f"due after {now.max}"
            out.append(f"{label} added, {keeps}: longer than the max of tier "
                       f"{', '.join(longer)} (the files of that tier it matches are kept "
                       "longer)")
        if now.on_expiry == "archive":
            out.append(f"{label} added: the expired files it matches are archived (kept), "
                       "not deleted")
        return out
    if was is not None and was.max is not None:  # removed: its files fall back to their tiers
        longer = _tiers_longer_than(was.max, new.tiers)
        if longer:
            return [f"{label} removed (due after {was.max}): the files it matched fall back "
                    f"to their tier's window ({', '.join(longer)})"]
    return []


def datasets_order(path: str, before: Mapping[str, Any], after: Mapping[str, Any],  # noqa: ARG001
                   changed: Set[str]) -> str:  # noqa: ARG001
    """Why a new order of ``retention.datasets`` loosens it, or ``""``: the first entry that
    matches a path wins, so of two entries whose order turned, the one now first decides for
    the paths both match; that loosens when its window is longer (or archives)."""
    try:
        old, new = _retention(before), _retention(after)
    except ConfigError:
        return ("the retention settings before or after do not validate, so whether the new "
                "order of retention.datasets keeps data longer is not known: compare by hand")

    def order(snap: Mapping[str, Any], settings: RetentionSettings) -> list[str]:
        # the snapshot's own list: its mapping comes back from the trail with sorted keys
        listed = (snap.get("order") or {}).get("retention.datasets") or list(settings.datasets)
        return [k for k in listed if k in old.datasets and k in new.datasets]

    was, now = order(before, old), order(after, new)
    out = []
    for i, first in enumerate(now):  # first now comes before second, and came after it
        for second in now[i + 1:]:
            if was.index(first) < was.index(second):
                continue
            winner, loser = new.datasets[first], new.datasets[second]
            why = _window(loser, winner)
            if why:
                out.append(f"{first!r} now comes before {second!r} (first match wins: for the "
                           f"paths both match, {'; '.join(why)})")
    return "; ".join(out)


# -- governance: per-environment policies -----------------------------------------------------

def _governance(snap: Mapping[str, Any]) -> GovernanceConfig:
    from lacuna.dbt.governance import governance_from

    return governance_from(snap.get("governance") or None)


def _policy_entry(path: str) -> str | None:
    parts = path.split(".")
    if len(parts) < 4 or parts[:2] != ["governance", "policies"]:
        return None
    return f"{parts[2].strip().lower()}.{parts[3]}"


def _rule_loosens(was: PolicyRule | None, now: PolicyRule | None) -> list[str]:
    from lacuna.dbt.governance import Action

    order = list(Action)
    if was is None:
        return []
    if now is None:
        strict = (was.action is not Action.ALLOW or was.requires_role
                  or was.requires_approval)
        return [f"the rule is gone (was {was.action.value})"] if strict else []
    out = []
    if order.index(now.action) < order.index(was.action):
        out.append(f"action lowered from {was.action.value} to {now.action.value}")
    added = [r for r in now.requires_role if r not in was.requires_role]
    if was.requires_role and not now.requires_role:
        out.append(f"requires_role removed (was {', '.join(was.requires_role)})")
    elif was.requires_role and added:
        out.append(f"roles added to requires_role: {', '.join(added)}")
    if was.requires_approval and not now.requires_approval:
        out.append("requires_approval turned off")
    return out


def governance_policies(path: str, before: Mapping[str, Any], after: Mapping[str, Any],
                        changed: Set[str]) -> str:
    """Why a change under ``governance.policies`` loosens a policy (see the module
    docstring), or ``""``."""
    entry = _policy_entry(path)
    if entry is None or not _owner(path, _policy_entry, "action", changed):
        return ""
    try:
        old, new = _governance(before), _governance(after)
    except ConfigError:
        return ("the governance section before or after does not validate, so whether this "
                "loosens a policy is not known: compare them by hand")
    key, slot = entry.split(".", 1)
    envs = [e for e, category in ENVIRONMENT_CATEGORY.items() if slot in (e, category)]
    was, now = old.policies.get(key), new.policies.get(key)
    by_reasons: dict[tuple[str, ...], list[str]] = {}  # environments loosened alike, together
    for env in envs:
        reasons = tuple(_rule_loosens(was.for_environment(env) if was else None,
                                      now.for_environment(env) if now else None))
        if reasons:
            by_reasons.setdefault(reasons, []).append(env)
    return "; ".join(f"policy {key} in {', '.join(where)}: {', '.join(reasons)}"
                     for reasons, where in by_reasons.items())


__all__ = ["InSection", "datasets_order", "governance_policies", "retention"]
